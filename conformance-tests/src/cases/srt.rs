//! The SRT addresses, an rtcroom extension a server may offer (url-signing.md, URL-5 to URL-8;
//! room-semantics.md, URL-USE-2). A server whose `get_push_url` answers no `srtPushURL` passes
//! as long as it sends none of the SRT fields anywhere; one that answers it has every SRT field
//! checked. The stream ids are parsed here, independently of any server's code.

use std::collections::BTreeMap;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use super::streams::{SignedUrl, hex_md5, parse};
use crate::case;
use crate::case::{Case, Ctx, Needs, User};
use crate::client::{Answer, Check, Failure, ensure};

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "srt.optional_addresses",
            ["URL-USE-2", "URL-5", "URL-6", "URL-8"],
            addresses
        ),
        case!(
            "srt.passphrases_and_signatures",
            ["URL-7"],
            keys,
            needs: Needs::PushKey
        ),
    ]
}

/// `get_push_url`'s SRT fields (URL-5).
const FIELDS: [&str; 4] = [
    "srtPushURL",
    "srtPushPassphrase",
    "srtPlayURL",
    "srtPlayPassphrase",
];

/// An SRT URL taken apart: `srt://{host}:{port}?streamid=..&passphrase=..&pbkeylen=..`, the
/// stream id in SRS's convention.
#[derive(Debug)]
struct SrtUrl {
    stream: String,
    mode: String,
    tx_secret: String,
    tx_time: String,
    passphrase: String,
    pbkeylen: String,
}

/// Parses an SRT URL as URL-6 and URL-8 shape it; the error says what is wrong.
fn parse_srt(url: &str) -> Result<SrtUrl, String> {
    let rest = url.strip_prefix("srt://").ok_or("not srt://")?;
    let (address, query) = rest.split_once('?').ok_or("no query")?;
    let port = address
        .rsplit_once(':')
        .map(|(host, port)| (host, port.parse::<u16>()));
    if !matches!(port, Some((host, Ok(p))) if !host.is_empty() && p > 0) {
        return Err(format!("{address:?} is not host:port"));
    }
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let one = |name: &str| -> Result<String, String> {
        let mut values = params.iter().filter(|(n, _)| n == name).map(|(_, v)| v);
        match (values.next(), values.next()) {
            (Some(v), None) => Ok(v.clone()),
            (None, _) => Err(format!("no {name}")),
            _ => Err(format!("{name} twice")),
        }
    };
    let stream_id = one("streamid")?;
    let body = stream_id
        .strip_prefix("#!::")
        .ok_or_else(|| format!("stream id {stream_id:?} does not start with #!::"))?;
    let mut keys = BTreeMap::new();
    for pair in body.split(',') {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("stream id {stream_id:?}: {pair:?} is not key=value"))?;
        if keys.insert(k, v).is_some() {
            return Err(format!("stream id {stream_id:?} repeats {k}"));
        }
    }
    let key = |k: &str| {
        keys.get(k)
            .map(|v| v.to_string())
            .ok_or_else(|| format!("stream id {stream_id:?} has no {k}="))
    };
    let resource = key("r")?;
    let stream = resource
        .strip_prefix("live/")
        .filter(|s| !s.is_empty() && !s.contains(['/', '?']))
        .ok_or_else(|| format!("stream id {stream_id:?}: r= is not live/{{stream}}"))?;
    Ok(SrtUrl {
        stream: stream.to_owned(),
        mode: key("m")?,
        tx_secret: key("txSecret")?,
        tx_time: key("txTime")?,
        passphrase: one("passphrase")?,
        pbkeylen: one("pbkeylen")?,
    })
}

/// Checks one SRT address against the RTMP URL whose stream and signature it must carry
/// (`rtmp`), its mode, and the passphrase answered beside it. Returns it parsed.
fn check_address(
    which: &str,
    url: &str,
    passphrase: &str,
    mode: &str,
    rtmp: &SignedUrl,
) -> Check<SrtUrl> {
    let srt = parse_srt(url).map_err(|why| {
        Failure::new(
            "URL-8: srt://{host:port}?streamid={#!::r=live/{stream},m=..,txSecret=..,txTime=..}&passphrase=..&pbkeylen=16",
            format!("{which}: {why}: {url}"),
        )
    })?;
    let show = || format!("{which}: {url} (passphrase {passphrase:?})");
    ensure(
        srt.mode == mode && srt.stream == rtmp.stream,
        &format!("URL-6: m={mode} for the stream {}", rtmp.stream),
        show,
    )?;
    ensure(
        srt.tx_time == rtmp.tx_time && srt.tx_secret.eq_ignore_ascii_case(&rtmp.tx_secret),
        "URL-6: the txSecret and txTime of the RTMP URL of the same side",
        || format!("{} against {}", show(), rtmp.tx_secret),
    )?;
    ensure(
        (10..=79).contains(&passphrase.len()) && srt.passphrase == passphrase,
        "URL-8: the passphrase (10 to 79 characters) in the URL and beside it",
        show,
    )?;
    ensure(srt.pbkeylen == "16", "URL-8: pbkeylen=16", show)?;
    Ok(srt)
}

/// `get_push_url` of `user`: the answer, and whether it offers SRT (all four fields, or
/// none: URL-5).
async fn push_urls(ctx: &Ctx, user: &User) -> Check<(Answer, bool)> {
    let answer = ctx
        .call(
            user,
            "multi_room",
            "get_push_url",
            json!({"userID": user.id}),
        )
        .await?;
    ctx.expect(&answer, 0, "URL-USE-1: get_push_url")?;
    let present = FIELDS
        .iter()
        .filter(|f| answer.body.get(**f).is_some())
        .count();
    ensure(
        present == 0 || present == FIELDS.len(),
        "URL-5: srtPushURL, srtPushPassphrase, srtPlayURL and srtPlayPassphrase together or not at all",
        || answer.describe(),
    )?;
    Ok((answer, present == FIELDS.len()))
}

fn rtmp(answer: &Answer, field: &str) -> Check<SignedUrl> {
    parse(answer.str(field)).ok_or_else(|| {
        Failure::new(
            format!("URL-4: {field} as rtmp://{{host}}/live/{{stream}}?bizid=&txSecret=&txTime="),
            answer.describe(),
        )
    })
}

async fn addresses(ctx: Arc<Ctx>) -> Check {
    let [alice, bob] = <[User; 2]>::try_from(ctx.users("srt", 2).await?).expect("two users");
    let (answer, offered) = push_urls(&ctx, &alice).await?;
    let push = rtmp(&answer, "pushURL")?;
    let accelerate = rtmp(&answer, "accelerateURL")?;
    if offered {
        check_address(
            "srtPushURL",
            answer.str("srtPushURL"),
            answer.str("srtPushPassphrase"),
            "publish",
            &push,
        )?;
        check_address(
            "srtPlayURL",
            answer.str("srtPlayURL"),
            answer.str("srtPlayPassphrase"),
            "request",
            &accelerate,
        )?;
    }

    // Every pusher entry: that member's play address, never a push address (URL-USE-2).
    let room = ctx.unique("srt");
    let joined = ctx
        .add_pusher_with(&alice, "multi_room", &room, answer.str("pushURL"))
        .await?;
    ctx.expect(&joined, 0, "add_pusher with get_push_url's pushURL")?;
    ctx.join(&bob, "multi_room", &room).await?;
    let view = ctx.pushers(&bob, "multi_room", &room).await?;
    ctx.expect(&view, 0, "get_pushers")?;
    let pushers = view.body["pushers"].as_array().cloned().unwrap_or_default();
    ensure(
        pushers.len() == 2 && pushers[0]["userID"] == alice.id.as_str(),
        "get_pushers: both members, alice first",
        || view.describe(),
    )?;
    for (i, p) in pushers.iter().enumerate() {
        let show = || p.to_string();
        ensure(
            p.get("srtPushURL").is_none() && p.get("srtPushPassphrase").is_none(),
            "URL-USE-2: no SRT push address in a pushers entry",
            show,
        )?;
        let has = |f: &str| p.get(f).is_some();
        if !offered {
            ensure(
                !has("srtPlayURL") && !has("srtPlayPassphrase"),
                "URL-5: no SRT fields in pushers from a server whose get_push_url has none",
                show,
            )?;
            continue;
        }
        let accelerate = parse(p["accelerateURL"].as_str().unwrap_or(""))
            .ok_or_else(|| Failure::new("URL-4: a pusher's accelerateURL", show()))?;
        if i == 0 {
            ensure(
                accelerate.stream == push.stream,
                "ROOM-14: alice's entry plays the stream she joined with",
                show,
            )?;
        }
        ensure(
            has("srtPlayURL") && has("srtPlayPassphrase"),
            "URL-5: srtPlayURL and srtPlayPassphrase in every pushers entry",
            show,
        )?;
        check_address(
            "a pusher's srtPlayURL",
            p["srtPlayURL"].as_str().unwrap_or(""),
            p["srtPlayPassphrase"].as_str().unwrap_or(""),
            "request",
            &accelerate,
        )?;
    }
    for user in [&alice, &bob] {
        ctx.leave(user, "multi_room", &room).await?;
    }
    Ok(())
}

/// URL-7's passphrase of `stream` for `key`.
fn passphrase(key: &str, stream: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
    mac.update(format!("rtcroom srt passphrase\n{stream}").as_bytes());
    mac.finalize().into_bytes()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn keys(ctx: Arc<Ctx>) -> Check {
    let target = &ctx.server.target;
    let push_key = target
        .push_key
        .clone()
        .expect("the runner checks --push-key");
    let play_key = target.play_key.clone().unwrap_or_else(|| push_key.clone());
    let user = ctx.user("srtkeys").await?;
    let (answer, offered) = push_urls(&ctx, &user).await?;
    if !offered {
        return Ok(());
    }
    let stream = rtmp(&answer, "pushURL")?.stream;
    let mut play_entry = None;
    let room = ctx.unique("srtkeys");
    let joined = ctx
        .add_pusher_with(&user, "multi_room", &room, answer.str("pushURL"))
        .await?;
    ctx.expect(&joined, 0, "add_pusher with get_push_url's pushURL")?;
    let view = ctx.pushers(&user, "multi_room", &room).await?;
    ctx.expect(&view, 0, "get_pushers")?;
    if let Some(p) = view.body["pushers"].as_array().and_then(|p| p.first()) {
        play_entry = Some((
            p["srtPlayURL"].as_str().unwrap_or("").to_owned(),
            p["srtPlayPassphrase"].as_str().unwrap_or("").to_owned(),
        ));
    }
    ctx.leave(&user, "multi_room", &room).await?;
    let (entry_url, entry_passphrase) = play_entry.unwrap_or_default();
    for (which, url, given, key) in [
        (
            "srtPushURL with the push key",
            answer.str("srtPushURL"),
            answer.str("srtPushPassphrase"),
            &push_key,
        ),
        (
            "srtPlayURL with the play key",
            answer.str("srtPlayURL"),
            answer.str("srtPlayPassphrase"),
            &play_key,
        ),
        (
            "the pushers entry's srtPlayURL with the play key",
            entry_url.as_str(),
            entry_passphrase.as_str(),
            &play_key,
        ),
    ] {
        let expected = passphrase(key, &stream);
        ensure(
            given == expected,
            "URL-7: passphrase = hex(HMAC-SHA256(key, \"rtcroom srt passphrase\\n\" + stream)[..16])",
            || format!("{which}: {given:?} (expected {expected})"),
        )?;
        let srt = parse_srt(url)
            .map_err(|why| Failure::new("URL-8: an SRT URL", format!("{which}: {why}: {url}")))?;
        let secret = hex_md5(&format!("{key}{stream}{}", srt.tx_time));
        ensure(
            srt.stream == stream && srt.tx_secret.eq_ignore_ascii_case(&secret),
            "URL-3: the stream id's txSecret = md5_hex(key + stream + txTime)",
            || format!("{which}: {url} (expected txSecret {secret})"),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srt_urls_are_taken_apart_as_url_6_and_8_say() {
        let url = "srt://127.0.0.1:9000?streamid=%23%21%3A%3Ar%3Dlive%2F8888_a_3f2a%2Cm%3Dpublish\
                   %2CtxSecret%3Dab%2CtxTime%3D655D2B80&passphrase=0123456789&pbkeylen=16";
        let srt = parse_srt(url).unwrap();
        assert_eq!(
            (
                srt.stream.as_str(),
                srt.mode.as_str(),
                srt.tx_secret.as_str()
            ),
            ("8888_a_3f2a", "publish", "ab")
        );
        assert_eq!(
            (srt.tx_time.as_str(), srt.pbkeylen.as_str()),
            ("655D2B80", "16")
        );
        let as_is = "srt://[::1]:9000?streamid=#!::r=live/8888_a_3f2a,m=request,txSecret=ab,\
                     txTime=655D2B80&passphrase=0123456789&pbkeylen=16";
        let srt = parse_srt(as_is).unwrap();
        assert_eq!(
            (
                srt.stream.as_str(),
                srt.mode.as_str(),
                srt.passphrase.as_str()
            ),
            ("8888_a_3f2a", "request", "0123456789")
        );
        for bad in [
            "rtmp://h:1/live/s?streamid=x",
            "srt://h?streamid=%23%21%3A%3Ar%3Dlive%2Fs%2Cm%3Dpublish&passphrase=p&pbkeylen=16",
            "srt://h:1?streamid=r%3Dlive%2Fs&passphrase=p&pbkeylen=16",
            "srt://h:1?streamid=%23%21%3A%3Ar%3Dlive%2Fs%2Cm%3Da%2Cm%3Db&passphrase=p&pbkeylen=16",
            "srt://h:1?streamid=%23%21%3A%3Ar%3Dapp%2Fs%2Cm%3Dpublish&passphrase=p&pbkeylen=16",
        ] {
            assert!(parse_srt(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_passphrase_is_url_7s_example() {
        assert_eq!(
            passphrase("e12c46f2612d5106e2034781ab261ca3", "8888_alice_3f2a"),
            "8393e632b65abbaa2523c5e4eb92f43d"
        );
    }
}
