//! The official test vectors (spec/vectors/usersig-and-urls.json): UserSigs produced by
//! Tencent's Node and Python implementations and txSecrets from Tencent's documentation.

use rtcroom_shared::token::{TokenError, TokenKey};
use rtcroom_shared::urls::{self, UrlSigner};
use rtcroom_shared::usersig::{self, MapKeyRoom, PrivateMapKey, UserSigError, privilege};
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../spec/vectors/usersig-and-urls.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("vectors file"))
        .expect("vectors JSON")
}

fn u(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"))
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("{k} in {v}"))
}

#[test]
fn every_official_usersig_verifies_at_its_time_and_expires_one_second_after() {
    let vectors = vectors();
    let sigs = vectors["usersig"].as_array().unwrap();
    assert!(sigs.len() >= 10);
    for v in sigs {
        let (appid, key, id, time, expire) = (
            u(v, "sdkappid"),
            s(v, "key"),
            s(v, "identifier"),
            u(v, "time"),
            u(v, "expire"),
        );
        let ok = usersig::verify(s(v, "usersig"), appid, id, key, time)
            .unwrap_or_else(|e| panic!("{} ({}): {e}", id, s(v, "producer")));
        assert_eq!((ok.time, ok.expire), (time, expire));
        assert_eq!(ok.userbuf.is_some(), v["doc"].get("TLS.userbuf").is_some());
        assert!(usersig::verify(s(v, "usersig"), appid, id, key, time + expire).is_ok());
        assert_eq!(
            usersig::verify(s(v, "usersig"), appid, id, key, time + expire + 1),
            Err(UserSigError::Expired {
                expired_at: time + expire,
                now: time + expire + 1
            })
        );
        let doc = usersig::decode_document(s(v, "usersig")).unwrap();
        assert_eq!(Value::Object(doc), v["doc"]);
    }
}

#[test]
fn every_rejected_usersig_fails_with_its_reason() {
    let vectors = vectors();
    for v in vectors["usersig_rejected"].as_array().unwrap() {
        let got = usersig::verify(
            s(v, "usersig"),
            u(v, "sdkappid"),
            s(v, "identifier"),
            s(v, "key"),
            u(v, "now"),
        );
        let why = s(v, "why");
        let expected_ok = match why {
            "identifier changed after signing" | "expire raised after signing" | "wrong key" => {
                matches!(got, Err(UserSigError::BadSignature))
            }
            "expired" => matches!(got, Err(UserSigError::Expired { .. })),
            "wrong sdkappid" => matches!(got, Err(UserSigError::SdkAppIdMismatch { .. })),
            "not base64" | "not zlib" => matches!(got, Err(UserSigError::Malformed(_))),
            other => panic!("unknown rejection reason {other:?}"),
        };
        assert!(expected_ok, "{why}: got {got:?}");
    }
}

#[test]
fn verifying_for_another_user_is_an_identifier_mismatch() {
    let vectors = vectors();
    let v = &vectors["usersig"][0];
    assert_eq!(
        usersig::verify(
            s(v, "usersig"),
            u(v, "sdkappid"),
            "someone_else",
            s(v, "key"),
            u(v, "time")
        ),
        Err(UserSigError::IdentifierMismatch)
    );
}

#[test]
fn official_private_map_keys_decode_to_their_rooms_and_privileges() {
    let vectors = vectors();
    for v in vectors["usersig"].as_array().unwrap() {
        let expected_room = match s(v, "kind") {
            "privatemapkey" => MapKeyRoom::Numeric(u(v, "roomid") as u32),
            "privatemapkey_str" => MapKeyRoom::Named(s(v, "roomstr").to_owned()),
            _ => continue,
        };
        let sig = usersig::verify(
            s(v, "usersig"),
            u(v, "sdkappid"),
            s(v, "identifier"),
            s(v, "key"),
            u(v, "time"),
        )
        .unwrap();
        let key = PrivateMapKey::decode(&sig.userbuf.unwrap()).unwrap();
        assert_eq!(key.room, expected_room);
        assert_eq!(key.privileges, u(v, "privilege") as u32);
        assert!(key.allows(privilege::ALL));
        assert_eq!(key.user_id, s(v, "identifier"));
        assert_eq!(u64::from(key.sdkappid), u(v, "sdkappid"));
        assert_eq!(u64::from(key.expires_at), u(v, "time") + u(v, "expire"));
        assert_eq!(key.account_type, 0);
        // Our encoder produces the official bytes.
        let sig2 = usersig::generate(
            u(v, "sdkappid"),
            s(v, "key"),
            s(v, "identifier"),
            u(v, "expire"),
            u(v, "time"),
            Some(&key.encode()),
        );
        assert_eq!(
            usersig::decode_document(&sig2).unwrap()["TLS.userbuf"],
            v["doc"]["TLS.userbuf"]
        );
    }
}

#[test]
fn our_usersigs_match_the_official_signature_and_document() {
    let vectors = vectors();
    for v in vectors["usersig"].as_array().unwrap() {
        let userbuf = v.get("userbuf_b64").map(|b| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(b.as_str().unwrap())
                .unwrap()
        });
        if v["kind"].as_str().unwrap().starts_with("privatemapkey") {
            continue;
        }
        let ours = usersig::generate(
            u(v, "sdkappid"),
            s(v, "key"),
            s(v, "identifier"),
            u(v, "expire"),
            u(v, "time"),
            userbuf.as_deref(),
        );
        let doc = usersig::decode_document(&ours).unwrap();
        assert_eq!(Value::Object(doc), v["doc"], "{}", s(v, "identifier"));
    }
}

#[test]
fn txsecret_vectors_match_and_verify() {
    let vectors = vectors();
    for v in vectors["txsecret"].as_array().unwrap() {
        let (key, stream, time) = (s(v, "key"), s(v, "stream"), s(v, "txTime"));
        assert_eq!(urls::tx_secret(key, stream, time), s(v, "txSecret"));
        let expiry = u64::from_str_radix(time, 16).unwrap();
        assert_eq!(urls::tx_time(expiry), time);
        assert!(urls::verify(key, stream, Some(s(v, "txSecret")), Some(time), expiry).is_ok());
        assert!(urls::verify(key, stream, Some(s(v, "txSecret")), Some(time), expiry + 1).is_err());
        if let Some(push_url) = v.get("push_url").and_then(Value::as_str) {
            let signer = UrlSigner {
                push_key: key.into(),
                play_key: key.into(),
                bizid: "8888".into(),
                push_host: "8888.livepush.myqcloud.com".into(),
                play_host: "8888.liveplay.myqcloud.com".into(),
                flv_base: "https://8888.liveplay.myqcloud.com".into(),
                srt_host: None,
                ttl_secs: 604_800,
            };
            assert_eq!(signer.urls(stream, expiry - 604_800).push_url, push_url);
        }
    }
}

fn our_vectors(name: &str) -> Value {
    let path = format!("{}/../spec/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("vectors file")).expect("JSON")
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// spec/vectors/private-map-keys.json, written by scripts/gen-spec-vectors.py from the spec.
#[test]
fn private_map_key_vectors_decode_as_specified_and_rejects_are_refused() {
    let vectors = our_vectors("private-map-keys.json");
    let key = s(&vectors, "key");
    let appid = u(&vectors, "sdkAppID");
    let valid = vectors["valid"].as_array().unwrap();
    assert!(valid.len() >= 5);
    for v in valid {
        let d = &v["decoded"];
        let buf = unhex(s(v, "userbufHex"));
        let decoded =
            PrivateMapKey::decode(&buf).unwrap_or_else(|e| panic!("{}: {e}", s(v, "why")));
        assert_eq!(decoded.user_id, s(d, "userID"), "{}", s(v, "why"));
        assert_eq!(u64::from(decoded.sdkappid), u(d, "sdkAppID"));
        assert_eq!(u64::from(decoded.expires_at), u(d, "expiry"));
        assert_eq!(u64::from(decoded.privileges), u(d, "privileges"));
        assert_eq!(decoded.room.room_id(), s(d, "room"));
        assert_eq!(
            matches!(decoded.room, MapKeyRoom::Named(_)),
            u(d, "version") == 1
        );
        assert_eq!(decoded.encode(), buf, "encoding is the inverse");
        // Inside a UserSig made by the independent generator.
        let sig = usersig::verify(
            s(v, "usersig"),
            appid,
            s(d, "userID"),
            key,
            u(v, "usersigTime"),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", s(v, "why")));
        assert_eq!(sig.userbuf.as_deref(), Some(&buf[..]));
    }
    let rejected = vectors["rejected"].as_array().unwrap();
    assert!(rejected.len() >= 5);
    for v in rejected {
        assert!(
            PrivateMapKey::decode(&unhex(s(v, "userbufHex"))).is_err(),
            "{} decoded",
            s(v, "why")
        );
    }
}

/// spec/vectors/tokens.json: tokens built from the documented format, and why each is refused.
#[test]
fn token_vectors_verify_or_fail_for_the_stated_reason() {
    let vectors = our_vectors("tokens.json");
    let key = TokenKey::derived_from_usersig_key(s(&vectors, "usersigKey"));
    let appid = u(&vectors, "sdkAppID");
    let tokens = vectors["tokens"].as_array().unwrap();
    assert!(tokens.len() >= 10);
    for v in tokens {
        let result = key.verify(s(v, "token"), s(v, "userID"), appid, u(v, "now"));
        let why = s(v, "why");
        match v["error"].as_str() {
            None => assert!(result.is_ok(), "{why}: {result:?}"),
            Some(expected) => {
                let expected = match expected {
                    "Expired" => TokenError::Expired,
                    "WrongUser" => TokenError::WrongUser,
                    "BadSignature" => TokenError::BadSignature,
                    "Malformed" => TokenError::Malformed,
                    other => panic!("unknown error {other}"),
                };
                assert_eq!(result, Err(expected), "{why}");
            }
        }
    }
}
