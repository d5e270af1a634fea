//! Snapshots of the contract: every normative answer shape (from a real gateway at a fixed
//! time, with random parts redacted), the URLs we sign and the UserSig documents we issue at a
//! fixed time and key. A change to any of them shows up in review as a changed `.snap` file.

mod common;

use std::sync::Arc;

use insta::{assert_json_snapshot, assert_snapshot};
use regex::Regex;
use rtcroom_functions::testing;
use rtcroom_shared::store::EmbeddedStore;
use rtcroom_shared::urls::UrlSigner;
use rtcroom_shared::usersig::{self, MapKeyRoom, PrivateMapKey, privilege};
use serde_json::{Value, json};

/// 2023-11-14T22:13:20Z.
const NOW_MS: u64 = 1_700_000_000_000;
const KEY: &str = "snapshot-usersig-key-0123456789";
const SDKAPPID: u64 = 1_400_000_000;

/// Replaces what is random per run (stream suffixes, and the signatures and SRT passphrases
/// derived from them) so the shape, hosts and expiry stay visible.
fn redact(value: &mut Value) {
    let stream = Regex::new(r"_([0-9a-f]{4})(\.flv)?\?").unwrap();
    let secret = Regex::new(r"txSecret=[0-9a-f]{32}").unwrap();
    // SRT URLs: the stream id in the query, as it is or percent-encoded (`,` %2C, `=` %3D).
    let srt_stream = Regex::new(r"_[0-9a-f]{4}(,|%2C)").unwrap();
    let srt_secret = Regex::new(r"txSecret(=|%3D)[0-9a-f]{32}").unwrap();
    let passphrase = Regex::new(r"passphrase=[0-9a-f]{32}").unwrap();
    match value {
        Value::String(s) if s.starts_with("srt://") => {
            let s2 = srt_stream.replace_all(s, "_[hex4]$1");
            let s3 = srt_secret.replace_all(&s2, "txSecret$1[md5]");
            *s = passphrase
                .replace_all(&s3, "passphrase=[hmac]")
                .into_owned();
        }
        Value::String(s) if s.contains("txSecret=") => {
            let s2 = stream.replace_all(s, "_[hex4]$2?");
            *s = secret.replace_all(&s2, "txSecret=[md5]").into_owned();
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                match k.as_str() {
                    "token" | "userSig" => *v = format!("[{k}]").into(),
                    k if k.ends_with("Passphrase") && v.as_str().is_some_and(is_passphrase) => {
                        *v = "[hmac]".into()
                    }
                    _ => redact(v),
                }
            }
        }
        _ => {}
    }
}

/// 32 lower-case hex digits: what `srt_passphrase` derives.
fn is_passphrase(p: &str) -> bool {
    p.len() == 32
        && p.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A gateway at `NOW_MS` on its own store, with the snapshots' keys.
struct Gw(testing::Gateway);

impl std::ops::Deref for Gw {
    type Target = testing::Gateway;

    fn deref(&self) -> &testing::Gateway {
        &self.0
    }
}

impl Gw {
    async fn start(vars: &[(&str, &str)]) -> Gw {
        let sdkappid = SDKAPPID.to_string();
        let mut all = vec![
            ("RTCROOM_USERSIG_KEY", KEY),
            ("RTCROOM_SDKAPPID", sdkappid.as_str()),
            ("RTCROOM_PUSH_KEY", "snapshot-push-key"),
            ("RTCROOM_PLAY_KEY", "snapshot-play-key"),
        ];
        all.extend_from_slice(vars);
        Gw(testing::Gateway::start_at(&all, Arc::new(EmbeddedStore::new()), NOW_MS).await)
    }

    /// The answer to a POST of `body` to `path`, redacted.
    async fn raw(&self, path: &str, query: &[(&str, &str)], body: Value) -> Value {
        let mut v = self.post_to(path, query, &body).await.1;
        redact(&mut v);
        v
    }

    async fn login(&self, user: &str) -> String {
        let sig = usersig::generate(SDKAPPID, KEY, user, 86_400, NOW_MS / 1000, None);
        let appid = SDKAPPID.to_string();
        let query = [
            ("sdkAppID", appid.as_str()),
            ("userSig", &sig),
            ("userID", user),
        ];
        let (_, v) = self
            .post_to("/weapp/live_room/login", &query, &json!({}))
            .await;
        v["token"].as_str().unwrap().to_owned()
    }

    /// A pushURL for `user`, unredacted.
    async fn push_url(&self, user: &str, token: &str) -> String {
        let query = [("userID", user), ("token", token)];
        let body = json!({ "userID": user });
        let (_, v) = self
            .post_to("/weapp/multi_room/get_push_url", &query, &body)
            .await;
        v["pushURL"].as_str().unwrap().to_owned()
    }

    async fn call(&self, user: &str, token: &str, path: &str, body: Value) -> Value {
        self.raw(
            &format!("/weapp/{path}"),
            &[("userID", user), ("token", token)],
            body,
        )
        .await
    }
}

#[tokio::test]
async fn every_normative_answer_shape() {
    let gw = Gw::start(&[]).await;
    let mut answers = serde_json::Map::new();
    let mut record = |name: &str, v: Value| {
        answers.insert(name.into(), v);
    };
    let appid = SDKAPPID.to_string();
    let sig = usersig::generate(SDKAPPID, KEY, "alice", 86_400, NOW_MS / 1000, None);
    record(
        "login",
        gw.raw(
            "/weapp/live_room/login",
            &[("sdkAppID", &appid), ("userSig", &sig), ("userID", "alice")],
            json!({}),
        )
        .await,
    );
    let alice = gw.login("alice").await;
    let bob = gw.login("bob").await;
    let a = |path: &'static str, body: Value| {
        let alice = alice.clone();
        let gw = &gw;
        async move { gw.call("alice", &alice, path, body).await }
    };
    record(
        "get_push_url",
        a("live_room/get_push_url", json!({"userID": "alice"})).await,
    );
    record(
        "create_room",
        a(
            "live_room/create_room",
            json!({"userID": "alice", "roomID": "r1", "roomInfo": "claims desk"}),
        )
        .await,
    );
    let real_push = gw.push_url("alice", &alice).await;
    record(
        "add_pusher",
        a(
            "live_room/add_pusher",
            json!({"roomID": "r1", "userID": "alice", "userName": "Alice",
            "userAvatar": "https://example.com/a.png", "pushURL": real_push}),
        )
        .await,
    );
    record(
        "pusher_heartbeat",
        a(
            "live_room/pusher_heartbeat",
            json!({"roomID": "r1", "userID": "alice"}),
        )
        .await,
    );
    record(
        "add_audience",
        gw.call(
            "bob",
            &bob,
            "live_room/add_audience",
            json!({"roomID": "r1", "userID": "bob", "userInfo": "{\"nick\":\"Bob\"}"}),
        )
        .await,
    );
    record(
        "set_custom_field",
        a(
            "live_room/set_custom_field",
            json!({"roomID": "r1", "fieldName": "likes", "operation": "inc", "value": 3}),
        )
        .await,
    );
    record(
        "get_pushers",
        a("live_room/get_pushers", json!({"roomID": "r1"})).await,
    );
    record(
        "get_room_list",
        a("live_room/get_room_list", json!({"cnt": 20, "index": 0})).await,
    );
    record(
        "get_audiences",
        a("live_room/get_audiences", json!({"roomID": "r1"})).await,
    );
    record(
        "get_custom_info",
        a("live_room/get_custom_info", json!({"roomID": "r1"})).await,
    );
    record(
        "merge_stream (code 101)",
        a(
            "live_room/merge_stream",
            json!({"roomID": "r1", "userID": "alice", "mergeParams": {}}),
        )
        .await,
    );
    record(
        "delete_audience",
        gw.call(
            "bob",
            &bob,
            "live_room/delete_audience",
            json!({"roomID": "r1", "userID": "bob"}),
        )
        .await,
    );
    record(
        "destroy_room",
        a(
            "live_room/destroy_room",
            json!({"roomID": "r1", "userID": "alice"}),
        )
        .await,
    );
    record("logout", a("live_room/logout", json!({})).await);
    let (status, info) = {
        let r = gw
            .http
            .get(format!(
                "{}/weapp/utils/get_login_info?userID=carol",
                gw.base
            ))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let mut v: Value = r.json().await.unwrap();
        redact(&mut v);
        (status, v)
    };
    assert_eq!(status, 200);
    record("get_login_info", info);
    record(
        "get_im_login_info",
        gw.raw(
            "/weapp/multi_room/get_im_login_info",
            &[],
            json!({"userID": "carol"}),
        )
        .await,
    );
    assert_json_snapshot!("answers", answers);
}

#[tokio::test]
async fn every_error_answer_shape() {
    let gw = Gw::start(&[]).await;
    let off = Gw::start(&[("RTCROOM_DEV_MODE", "0")]).await;
    let alice = gw.login("alice").await;
    let bob = gw.login("bob").await;
    let mut errors = serde_json::Map::new();
    let push = gw.push_url("alice", &alice).await;
    let join = json!({"roomID": "d1", "userID": "alice", "userName": "A", "userAvatar": "", "pushURL": push});
    gw.call("alice", &alice, "double_room/add_pusher", join)
        .await;
    let cases = [
        (
            "1 missing parameter",
            gw.call("alice", &alice, "double_room/get_pushers", json!({}))
                .await,
        ),
        (
            "3 no such room",
            gw.call(
                "alice",
                &alice,
                "double_room/get_pushers",
                json!({"roomID": "none"}),
            )
            .await,
        ),
        (
            "5 not a member",
            gw.call(
                "bob",
                &bob,
                "double_room/pusher_heartbeat",
                json!({"roomID": "d1", "userID": "bob"}),
            )
            .await,
        ),
        (
            "7 bad token",
            gw.call(
                "alice",
                "forged",
                "double_room/get_pushers",
                json!({"roomID": "d1"}),
            )
            .await,
        ),
        (
            "10 too long",
            gw.call(
                "alice",
                &alice,
                "double_room/create_room",
                json!({"userID": "alice", "roomInfo": "x".repeat(1025)}),
            )
            .await,
        ),
        (
            "11 room exists",
            gw.call(
                "alice",
                &alice,
                "double_room/create_room",
                json!({"userID": "alice", "roomID": "d1", "roomInfo": "i"}),
            )
            .await,
        ),
        (
            "102 dev mode off",
            off.raw("/weapp/multi_room/get_im_login_info", &[], json!({}))
                .await,
        ),
        (
            "103 unknown API",
            gw.raw("/weapp/double_room/get_audiences", &[], json!({}))
                .await,
        ),
    ];
    for (name, answer) in cases {
        errors.insert(name.into(), answer);
    }
    assert_json_snapshot!("errors", errors);
}

#[test]
fn urls_signed_at_a_fixed_time_and_key() {
    let signer = UrlSigner {
        push_key: "e12c46f2612d5106e2034781ab261ca3".into(),
        play_key: "0f1e2d3c4b5a69788796a5b4c3d2e1f0".into(),
        bizid: "8888".into(),
        push_host: "push.example.com".into(),
        play_host: "play.example.com".into(),
        flv_base: "https://flv.example.com".into(),
        srt_host: Some("srt.example.com:9000".into()),
        ttl_secs: 7 * 86_400,
    };
    let stream = signer.new_stream_name("alice", 0x3f2a);
    let odd = signer.new_stream_name("用户 with spaces", 0x0001);
    let urls = signer.urls(&stream, NOW_MS / 1000);
    let srt = urls.srt.expect("an SRT host is configured");
    assert_snapshot!(
        "urls",
        format!(
            "stream        {}\npushURL       {}\naccelerateURL {}\nplayURL       {}\nunsafe userID {}\n\
             srtPushURL        {}\nsrtPushPassphrase {}\nsrtPlayURL        {}\nsrtPlayPassphrase {}\n",
            urls.stream,
            urls.push_url,
            urls.accelerate_url,
            urls.flv_url,
            odd,
            srt.push.url,
            srt.push.passphrase,
            srt.play.url,
            srt.play.passphrase
        )
    );
}

#[test]
fn usersig_documents_at_a_fixed_time_and_key() {
    let plain = usersig::generate(SDKAPPID, KEY, "alice", 86_400, NOW_MS / 1000, None);
    let map_key = PrivateMapKey {
        user_id: "alice".into(),
        sdkappid: SDKAPPID as u32,
        room: MapKeyRoom::Named("claims-42".into()),
        expires_at: (NOW_MS / 1000 + 3600) as u32,
        privileges: privilege::ENTER_ROOM | privilege::SEND_AUDIO | privilege::SEND_VIDEO,
        account_type: 0,
    };
    let with_key = usersig::generate(
        SDKAPPID,
        KEY,
        "alice",
        3600,
        NOW_MS / 1000,
        Some(&map_key.encode()),
    );
    let docs = json!({
        "usersig": usersig::decode_document(&plain).unwrap(),
        "privateMapKey": usersig::decode_document(&with_key).unwrap(),
        "privateMapKeyUserbufHex": map_key.encode().iter().map(|b| format!("{b:02x}")).collect::<String>(),
    });
    assert_json_snapshot!("usersig_documents", docs);
}
