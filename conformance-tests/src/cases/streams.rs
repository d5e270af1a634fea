//! get_push_url: the shapes and signatures of push and play URLs (url-signing.md).

use std::sync::Arc;

use md5::{Digest, Md5};
use serde_json::json;

use crate::case;
use crate::case::{Case, Ctx, Needs};
use crate::client::{Check, Failure, ensure, now_secs};

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "get_push_url.url_shapes",
            ["URL-USE-1", "URL-1", "URL-2", "URL-4"],
            shapes
        ),
        case!(
            "get_push_url.signatures",
            ["URL-3"],
            signatures,
            needs: Needs::PushKey
        ),
    ]
}

/// A URL taken apart: scheme, host, the path after `/live/`, and the query.
#[derive(Debug)]
pub struct SignedUrl {
    pub scheme: String,
    pub stream: String,
    pub flv: bool,
    pub bizid: String,
    pub tx_secret: String,
    pub tx_time: String,
}

pub fn parse(url: &str) -> Option<SignedUrl> {
    let (scheme, rest) = url.split_once("://")?;
    let (path, query) = rest.split_once('?')?;
    let (_host, path) = path.split_once('/')?;
    let name = path.strip_prefix("live/")?;
    let (stream, flv) = match name.strip_suffix(".flv") {
        Some(s) => (s, true),
        None => (name, false),
    };
    let param = |k: &str| {
        query
            .split('&')
            .find_map(|p| p.strip_prefix(&format!("{k}=")))
            .map(str::to_owned)
    };
    Some(SignedUrl {
        scheme: scheme.into(),
        stream: stream.into(),
        flv,
        bizid: param("bizid")?,
        tx_secret: param("txSecret")?,
        tx_time: param("txTime")?,
    })
}

async fn three_urls(ctx: &Ctx, tag: &str) -> Check<(String, [SignedUrl; 3], [String; 3])> {
    let user = ctx.user(tag).await?;
    let answer = ctx
        .call(
            &user,
            "multi_room",
            "get_push_url",
            json!({"userID": user.id}),
        )
        .await?;
    ctx.expect(&answer, 0, "URL-USE-1: get_push_url")?;
    let raw = ["pushURL", "accelerateURL", "playURL"].map(|f| answer.str(f).to_owned());
    let parsed = raw.clone().map(|u| parse(&u));
    match parsed {
        [Some(a), Some(b), Some(c)] => Ok((user.id, [a, b, c], raw)),
        _ => Err(Failure::new(
            "URL-4: pushURL, accelerateURL and playURL as {scheme}://{host}/live/{stream}[.flv]?bizid=&txSecret=&txTime=",
            answer.describe(),
        )),
    }
}

async fn shapes(ctx: Arc<Ctx>) -> Check {
    let (user, [push, play, flv], raw) = three_urls(&ctx, "urls").await?;
    let show = || raw.join(" ");
    ensure(
        push.scheme == "rtmp" && play.scheme == "rtmp" && !push.flv && !play.flv,
        "URL-4: rtmp:// push and accelerate URLs",
        show,
    )?;
    ensure(
        (flv.scheme == "http" || flv.scheme == "https") && flv.flv,
        "URL-4: an http(s) playURL ending in .flv",
        show,
    )?;
    ensure(
        push.stream == play.stream && play.stream == flv.stream,
        "URL-USE-1: one stream in all three URLs",
        show,
    )?;
    let suffix = push
        .stream
        .strip_prefix(&format!("{}_{user}_", push.bizid))
        .unwrap_or("");
    ensure(
        !push.bizid.is_empty()
            && suffix.len() == 4
            && suffix.bytes().all(|b| b.is_ascii_hexdigit()),
        "URL-2: stream name {bizid}_{userID}_{4 hex}",
        show,
    )?;
    let tx_time = u64::from_str_radix(&push.tx_time, 16).ok();
    ensure(
        push.tx_time
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
            && tx_time.is_some_and(|t| t > now_secs() + 60),
        "URL-1: txTime, an UPPER-case hex expiry in the future",
        show,
    )?;
    ensure(
        push.tx_secret.len() == 32
            && push
                .tx_secret
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "URL-3: txSecret, 32 lower-case hex digits",
        show,
    )?;
    let (_, [again, ..], _) = three_urls(&ctx, "urls").await?;
    ensure(
        again.stream != push.stream,
        "URL-USE-1: a new stream per call",
        || format!("{} twice", push.stream),
    )
}

async fn signatures(ctx: Arc<Ctx>) -> Check {
    let target = &ctx.server.target;
    let push_key = target
        .push_key
        .clone()
        .expect("the runner checks --push-key");
    let play_key = target.play_key.clone().unwrap_or_else(|| push_key.clone());
    let (_, [push, accelerate, flv], raw) = three_urls(&ctx, "signed").await?;
    // A recorded stream's pushURL is signed as URL-9 says (recording.rs checks it).
    let recorded = raw[0].contains("&record=");
    for (url, key, which) in [
        (&push, &push_key, "pushURL with the push key"),
        (&accelerate, &play_key, "accelerateURL with the play key"),
        (&flv, &play_key, "playURL with the play key"),
    ] {
        if recorded && std::ptr::eq(url, &push) {
            continue;
        }
        let expected = hex_md5(&format!("{key}{}{}", url.stream, url.tx_time));
        ensure(
            url.tx_secret.eq_ignore_ascii_case(&expected),
            "URL-3: txSecret = md5_hex(key + stream + txTime)",
            || format!("{which}: {} (expected txSecret {expected})", raw.join(" ")),
        )?;
    }
    Ok(())
}

pub(super) fn hex_md5(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
