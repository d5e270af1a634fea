//! Property tests of the signing schemes the spec pins (usersig.md, url-signing.md, tokens):
//! round trips for arbitrary inputs, every single-character change refused, and decoders that
//! never panic.

use proptest::prelude::*;
use rtcroom_shared::token::{Grant, Session, TokenError, TokenKey};
use rtcroom_shared::urls::{self, UrlAuthError};
use rtcroom_shared::usersig::{self, MapKeyRoom, PrivateMapKey, UserSigError};

const KEY: &str = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";

fn identifier() -> impl Strategy<Value = String> {
    // Any non-empty text: userIDs are not restricted to ASCII.
    "\\PC{1,64}"
}

/// A copy of `s` with the character at `at` (mod its length) replaced by another printable
/// ASCII character.
fn change_one(s: &str, at: usize, with: u8) -> String {
    let mut bytes = s.as_bytes().to_vec();
    let i = at % bytes.len();
    let mut replacement = b' ' + with % 95;
    if replacement == bytes[i] {
        replacement = if bytes[i] == b'A' { b'B' } else { b'A' };
    }
    bytes[i] = replacement;
    String::from_utf8(bytes).expect("ASCII in, ASCII out")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn a_usersig_verifies_for_exactly_its_user_app_and_lifetime(
        id in identifier(),
        sdkappid in 1u64..=u32::MAX as u64,
        time in 0u64..4_000_000_000,
        expire in 0u64..400_000_000,
        userbuf in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200)),
    ) {
        let sig = usersig::generate(sdkappid, KEY, &id, expire, time, userbuf.as_deref());
        let ok = usersig::verify(&sig, sdkappid, &id, KEY, time + expire).unwrap();
        prop_assert_eq!(&ok.identifier, &id);
        prop_assert_eq!((ok.sdkappid, ok.time, ok.expire), (sdkappid, time, expire));
        prop_assert_eq!(ok.userbuf, userbuf);
        prop_assert!(
            matches!(
                usersig::verify(&sig, sdkappid, &id, KEY, time + expire + 1),
                Err(UserSigError::Expired { .. })
            ),
            "valid one second past time + expire"
        );
        prop_assert!(usersig::verify(&sig, sdkappid + 1, &id, KEY, time).is_err());
        let other_id = format!("{id}x");
        prop_assert!(usersig::verify(&sig, sdkappid, &other_id, KEY, time).is_err());
        prop_assert!(
            matches!(
                usersig::verify(&sig, sdkappid, &id, "another key", time),
                Err(UserSigError::BadSignature)
            ),
            "verified with another key"
        );
    }

    #[test]
    fn any_single_character_change_of_a_usersig_is_refused(
        id in "[a-z0-9_]{1,20}",
        at in any::<usize>(),
        with in any::<u8>(),
        with_userbuf in any::<bool>(),
    ) {
        let userbuf = with_userbuf.then_some(&b"\x01\x00\x02ab"[..]);
        let sig = usersig::generate(1_400_000_000, KEY, &id, 86_400, 1_700_000_000, userbuf);
        let changed = change_one(&sig, at, with);
        prop_assert!(
            usersig::verify(&changed, 1_400_000_000, &id, KEY, 1_700_000_000).is_err(),
            "{} accepted", changed
        );
    }

    #[test]
    fn the_usersig_decoder_never_panics(input in "\\PC{0,400}", raw in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = usersig::decode_document(&input);
        let _ = usersig::verify(&input, 1, "u", KEY, 0);
        let _ = PrivateMapKey::decode(&raw);
        // Base64 of arbitrary bytes in the UserSig alphabet reaches the inflater and parser.
        let b64 = base64_url(&raw);
        let _ = usersig::verify(&b64, 1, "u", KEY, 0);
    }

    #[test]
    fn a_private_map_key_decodes_to_what_was_encoded(
        user in "\\PC{0,40}",
        sdkappid in any::<u32>(),
        numeric in any::<u32>(),
        named in proptest::option::of("\\PC{0,40}"),
        expires_at in any::<u32>(),
        privileges in any::<u32>(),
        cut in any::<usize>(),
    ) {
        let key = PrivateMapKey {
            user_id: user,
            sdkappid,
            room: named.map_or(MapKeyRoom::Numeric(numeric), MapKeyRoom::Named),
            expires_at,
            privileges,
            account_type: 0,
        };
        let bytes = key.encode();
        prop_assert_eq!(PrivateMapKey::decode(&bytes).unwrap(), key);
        let truncated = &bytes[..cut % bytes.len()];
        prop_assert!(PrivateMapKey::decode(truncated).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        prop_assert!(PrivateMapKey::decode(&longer).is_err());
    }

    #[test]
    fn tx_secret_verification_accepts_exactly_what_signing_produces(
        key in "[0-9a-f]{32}",
        stream in "[A-Za-z0-9_-]{1,64}",
        expires_at in 0u64..u32::MAX as u64,
        age in 0u64..1_000_000,
        at in any::<usize>(),
        with in any::<u8>(),
    ) {
        let time = urls::tx_time(expires_at);
        let secret = urls::tx_secret(&key, &stream, &time);
        let now = expires_at.saturating_sub(age);
        prop_assert_eq!(urls::verify(&key, &stream, Some(&secret), Some(&time), now), Ok(()));
        prop_assert_eq!(
            urls::verify(&key, &stream, Some(&secret.to_uppercase()), Some(&time), now),
            Ok(()),
            "txSecret compares case-insensitively"
        );
        let forged = change_one(&secret, at, with);
        prop_assert!(forged.eq_ignore_ascii_case(&secret) || urls::verify(&key, &stream, Some(&forged), Some(&time), now).is_err());
        let other_stream = format!("{stream}x");
        let other_key = format!("{key}x");
        prop_assert!(urls::verify(&key, &other_stream, Some(&secret), Some(&time), now).is_err());
        prop_assert!(urls::verify(&other_key, &stream, Some(&secret), Some(&time), now).is_err());
        let later = urls::tx_time(expires_at + 1);
        prop_assert!(urls::verify(&key, &stream, Some(&secret), Some(&later), now).is_err(), "txTime is signed");
        prop_assert!(
            matches!(
                urls::verify(&key, &stream, Some(&secret), Some(&time), expires_at + 1),
                Err(UrlAuthError::Expired { .. })
            ),
            "valid after txTime"
        );
    }

    #[test]
    fn a_token_verifies_for_its_user_until_it_expires_and_any_change_is_refused(
        user in identifier(),
        sdkappid in any::<u64>(),
        expires_at in 1u64..u64::MAX / 2,
        grant in proptest::option::of(("\\PC{1,40}", any::<u32>(), any::<u64>())),
        at in any::<usize>(),
        with in any::<u8>(),
    ) {
        let key = TokenKey::derived_from_usersig_key(KEY);
        let session = Session {
            user_id: user.clone(),
            sdkappid,
            expires_at,
            issued_ms: 0,
            grant: grant.map(|(room_id, privileges, expires_at)| Grant { room_id, privileges, expires_at }),
        };
        let token = key.issue(&session);
        prop_assert_eq!(key.verify(&token, &user, sdkappid, expires_at - 1), Ok(session));
        prop_assert_eq!(key.verify(&token, &user, sdkappid, expires_at), Err(TokenError::Expired));
        let other_user = format!("{user}x");
        prop_assert_eq!(key.verify(&token, &other_user, sdkappid, 0), Err(TokenError::WrongUser));
        prop_assert_eq!(
            TokenKey::derived_from_usersig_key("another key").verify(&token, &user, sdkappid, 0),
            Err(TokenError::BadSignature)
        );
        let changed = change_one(&token, at, with);
        prop_assert!(key.verify(&changed, &user, sdkappid, 0).is_err(), "{} accepted", changed);
    }

    #[test]
    fn the_token_decoder_never_panics(input in "\\PC{0,300}") {
        let key = TokenKey::derived_from_usersig_key(KEY);
        let _ = key.verify(&input, "u", 1, 0);
    }
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .encode(bytes)
        .replace('+', "*")
        .replace('/', "-")
        .replace('=', "_")
}

/// The exhaustive companion of the property above: every position of one UserSig (with and
/// without userbuf) and of one token, changed to each character of their alphabets.
#[test]
fn every_position_of_a_usersig_and_a_token_changed_is_refused() {
    let alphabet: Vec<char> = ('A'..='Z')
        .chain('a'..='z')
        .chain('0'..='9')
        .chain("*-_+/=.".chars())
        .collect();
    for userbuf in [None, Some(&b"\x01\x00\x02ab"[..])] {
        let sig = usersig::generate(1_400_000_000, KEY, "alice", 86_400, 1_700_000_000, userbuf);
        for (i, original) in sig.char_indices() {
            for &c in alphabet.iter().filter(|&&c| c != original) {
                let mut changed = sig.clone();
                changed.replace_range(i..i + 1, &c.to_string());
                assert!(
                    usersig::verify(&changed, 1_400_000_000, "alice", KEY, 1_700_000_000).is_err(),
                    "{changed} (position {i} → {c}) accepted"
                );
            }
        }
    }
    let key = TokenKey::derived_from_usersig_key(KEY);
    let token = key.issue(&Session {
        user_id: "alice".into(),
        sdkappid: 1_400_000_000,
        expires_at: 1_700_086_400,
        issued_ms: 1_700_000_000_000,
        grant: None,
    });
    for (i, original) in token.char_indices() {
        for &c in alphabet.iter().filter(|&&c| c != original) {
            let mut changed = token.clone();
            changed.replace_range(i..i + 1, &c.to_string());
            assert!(
                key.verify(&changed, "alice", 1_400_000_000, 1_700_000_000)
                    .is_err(),
                "{changed} (position {i} → {c}) accepted"
            );
        }
    }
}
