//! UserSig (TLSSigAPIv2): the credential a customer's business server issues to a user with
//! the secret key it shares with us, and PrivateMapKey, a UserSig whose `userbuf` carries room
//! privileges.
//!
//! ```text
//! content = "TLS.identifier:{id}\nTLS.sdkappid:{appid}\nTLS.time:{t}\nTLS.expire:{e}\n"
//!           [+ "TLS.userbuf:{base64(userbuf)}\n"]
//! TLS.sig = base64(HMAC-SHA256(key, content))
//! usersig = base64(zlib(json{TLS.ver, TLS.identifier, TLS.sdkappid, TLS.time, TLS.expire,
//!                            [TLS.userbuf], TLS.sig})) with '+'→'*', '/'→'-', '='→'_'
//! ```
//!
//! Producers differ in key order, JSON spacing and zlib level; verification parses the
//! document and recomputes the HMAC from the parsed values, so none of that matters.

use std::io::{Read, Write};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use flate2::Compression;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Inflated documents are a few hundred bytes; anything much larger is not a UserSig.
const MAX_DOCUMENT_BYTES: u64 = 16 * 1024;
/// Longest UserSig we look at (before decoding).
pub const MAX_USERSIG_CHARS: usize = 8 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserSigError {
    #[error("UserSig expired at {expired_at} (now {now})")]
    Expired { expired_at: u64, now: u64 },
    #[error("UserSig was issued for sdkAppID {found}, not {expected}")]
    SdkAppIdMismatch { expected: u64, found: u64 },
    #[error("UserSig was issued for another userID")]
    IdentifierMismatch,
    #[error("UserSig signature does not match")]
    BadSignature,
    #[error("UserSig is malformed: {0}")]
    Malformed(&'static str),
}

/// What a valid UserSig tells us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedUserSig {
    pub identifier: String,
    pub sdkappid: u64,
    /// Issue time, seconds since the epoch.
    pub time: u64,
    /// Lifetime in seconds from `time`.
    pub expire: u64,
    /// The raw userbuf, when the sig carries one (a PrivateMapKey, or an application's own).
    pub userbuf: Option<Vec<u8>>,
}

impl VerifiedUserSig {
    pub fn expires_at(&self) -> u64 {
        self.time.saturating_add(self.expire)
    }
}

/// Generates a UserSig at `time` (seconds since the epoch), valid for `expire` seconds.
pub fn generate(
    sdkappid: u64,
    key: &str,
    identifier: &str,
    expire: u64,
    time: u64,
    userbuf: Option<&[u8]>,
) -> String {
    let userbuf_b64 = userbuf.map(|b| STANDARD.encode(b));
    let sig = STANDARD.encode(hmac_content(
        key,
        identifier,
        sdkappid,
        time,
        expire,
        userbuf_b64.as_deref(),
    ));
    let mut doc = serde_json::Map::new();
    doc.insert("TLS.ver".into(), "2.0".into());
    doc.insert("TLS.identifier".into(), identifier.into());
    doc.insert("TLS.sdkappid".into(), sdkappid.into());
    doc.insert("TLS.expire".into(), expire.into());
    doc.insert("TLS.time".into(), time.into());
    if let Some(b) = userbuf_b64 {
        doc.insert("TLS.userbuf".into(), b.into());
    }
    doc.insert("TLS.sig".into(), sig.into());
    let json = serde_json::to_vec(&Value::Object(doc)).expect("a JSON map always serialises");
    let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
    z.write_all(&json).expect("writing to a Vec cannot fail");
    let compressed = z.finish().expect("writing to a Vec cannot fail");
    to_url_alphabet(&STANDARD.encode(compressed))
}

/// Verifies `usersig` for (`sdkappid`, `identifier`) at `now` (seconds since the epoch).
///
/// Valid while `now <= time + expire`. The HMAC is compared in constant time.
pub fn verify(
    usersig: &str,
    sdkappid: u64,
    identifier: &str,
    key: &str,
    now: u64,
) -> Result<VerifiedUserSig, UserSigError> {
    let doc = decode_document(usersig)?;
    let found_appid = number_field(&doc, "TLS.sdkappid")?;
    if found_appid != sdkappid {
        return Err(UserSigError::SdkAppIdMismatch {
            expected: sdkappid,
            found: found_appid,
        });
    }
    let found_id = doc
        .get("TLS.identifier")
        .and_then(Value::as_str)
        .ok_or(UserSigError::Malformed("TLS.identifier missing"))?;
    if found_id != identifier {
        return Err(UserSigError::IdentifierMismatch);
    }
    let time = number_field(&doc, "TLS.time")?;
    let expire = number_field(&doc, "TLS.expire")?;
    let userbuf_b64 = match doc.get("TLS.userbuf") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err(UserSigError::Malformed("TLS.userbuf is not a string")),
    };
    let sig = doc
        .get("TLS.sig")
        .and_then(Value::as_str)
        .ok_or(UserSigError::Malformed("TLS.sig missing"))?;
    let sig = STANDARD
        .decode(sig)
        .map_err(|_| UserSigError::Malformed("TLS.sig is not base64"))?;

    let mut mac = mac_for(key);
    write_content(&mut mac, found_id, found_appid, time, expire, userbuf_b64);
    mac.verify_slice(&sig)
        .map_err(|_| UserSigError::BadSignature)?;

    let expires_at = time.saturating_add(expire);
    if now > expires_at {
        return Err(UserSigError::Expired {
            expired_at: expires_at,
            now,
        });
    }
    let userbuf = userbuf_b64
        .map(|b| {
            STANDARD
                .decode(b)
                .map_err(|_| UserSigError::Malformed("TLS.userbuf is not base64"))
        })
        .transpose()?;
    Ok(VerifiedUserSig {
        identifier: found_id.to_owned(),
        sdkappid: found_appid,
        time,
        expire,
        userbuf,
    })
}

/// Decodes a UserSig into its JSON document without checking anything else.
pub fn decode_document(usersig: &str) -> Result<serde_json::Map<String, Value>, UserSigError> {
    if usersig.is_empty() || usersig.len() > MAX_USERSIG_CHARS {
        return Err(UserSigError::Malformed("length out of range"));
    }
    // Only the URL-safe alphabet: accepting `+`, `/` or `=` as well would let two spellings of
    // one UserSig both verify.
    let b64: String = usersig
        .chars()
        .map(|c| match c {
            '*' => Ok('+'),
            '-' => Ok('/'),
            '_' => Ok('='),
            '+' | '/' | '=' => Err(UserSigError::Malformed("not the UserSig alphabet")),
            c => Ok(c),
        })
        .collect::<Result<_, _>>()?;
    let compressed = STANDARD
        .decode(b64.as_bytes())
        .map_err(|_| UserSigError::Malformed("not base64"))?;
    let mut json = Vec::new();
    let mut inflater = ZlibDecoder::new(compressed.as_slice());
    (&mut inflater)
        .take(MAX_DOCUMENT_BYTES + 1)
        .read_to_end(&mut json)
        .map_err(|_| UserSigError::Malformed("not a zlib stream"))?;
    if json.len() as u64 > MAX_DOCUMENT_BYTES {
        return Err(UserSigError::Malformed("document too large"));
    }
    // Bytes after the zlib stream, or set padding bits, would make two different UserSigs
    // verify as one.
    if inflater.total_in() != compressed.len() as u64 {
        return Err(UserSigError::Malformed("bytes after the zlib stream"));
    }
    if !final_padding_is_zero(&compressed, &json) {
        return Err(UserSigError::Malformed(
            "non-zero padding bits in the zlib stream",
        ));
    }
    match serde_json::from_slice(&json) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(UserSigError::Malformed("not a JSON object")),
    }
}

/// A deflate stream ends mid-byte, and inflaters ignore the rest of that byte. zlib (and every
/// official producer) pads it with zero bits; a set bit there that changes nothing when cleared
/// is a second spelling of the same UserSig. The last deflate byte precedes the 4-byte Adler-32.
fn final_padding_is_zero(compressed: &[u8], inflated: &[u8]) -> bool {
    let Some(last) = compressed.len().checked_sub(5) else {
        return false;
    };
    (0..8)
        .filter(|bit| compressed[last] & (1 << bit) != 0)
        .all(|bit| {
            let mut probe = compressed.to_vec();
            probe[last] ^= 1 << bit;
            let mut out = Vec::with_capacity(inflated.len());
            let same = ZlibDecoder::new(probe.as_slice())
                .take(MAX_DOCUMENT_BYTES + 1)
                .read_to_end(&mut out)
                .is_ok_and(|_| out == inflated);
            !same
        })
}

/// Numbers are JSON numbers in every official producer; some hand-written ones send strings.
fn number_field(
    doc: &serde_json::Map<String, Value>,
    name: &'static str,
) -> Result<u64, UserSigError> {
    match doc.get(name) {
        Some(Value::Number(n)) => n.as_u64().ok_or(UserSigError::Malformed(name)),
        Some(Value::String(s)) => s.parse().map_err(|_| UserSigError::Malformed(name)),
        _ => Err(UserSigError::Malformed(name)),
    }
}

fn mac_for(key: &str) -> HmacSha256 {
    HmacSha256::new_from_slice(key.as_bytes()).expect("HMAC accepts keys of any length")
}

fn write_content(
    mac: &mut HmacSha256,
    identifier: &str,
    sdkappid: u64,
    time: u64,
    expire: u64,
    userbuf_b64: Option<&str>,
) {
    let mut content = format!(
        "TLS.identifier:{identifier}\nTLS.sdkappid:{sdkappid}\nTLS.time:{time}\nTLS.expire:{expire}\n"
    );
    if let Some(b) = userbuf_b64 {
        content.push_str("TLS.userbuf:");
        content.push_str(b);
        content.push('\n');
    }
    mac.update(content.as_bytes());
}

fn hmac_content(
    key: &str,
    identifier: &str,
    sdkappid: u64,
    time: u64,
    expire: u64,
    userbuf_b64: Option<&str>,
) -> Vec<u8> {
    let mut mac = mac_for(key);
    write_content(&mut mac, identifier, sdkappid, time, expire, userbuf_b64);
    mac.finalize().into_bytes().to_vec()
}

fn to_url_alphabet(b64: &str) -> String {
    b64.chars()
        .map(|c| match c {
            '+' => '*',
            '/' => '-',
            '=' => '_',
            c => c,
        })
        .collect()
}

/// Privilege bits of a PrivateMapKey.
pub mod privilege {
    pub const CREATE_ROOM: u32 = 1;
    pub const ENTER_ROOM: u32 = 2;
    pub const SEND_AUDIO: u32 = 4;
    pub const RECV_AUDIO: u32 = 8;
    pub const SEND_VIDEO: u32 = 16;
    pub const RECV_VIDEO: u32 = 32;
    pub const SEND_SUB_VIDEO: u32 = 64;
    pub const RECV_SUB_VIDEO: u32 = 128;
    pub const ALL: u32 = 255;
}

/// The room a PrivateMapKey is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapKeyRoom {
    /// Version 0: a numeric room id.
    Numeric(u32),
    /// Version 1: a string room id.
    Named(String),
}

impl MapKeyRoom {
    /// Our roomIDs are strings; a numeric key matches the room whose id is that decimal number.
    pub fn matches(&self, room_id: &str) -> bool {
        match self {
            MapKeyRoom::Numeric(n) => room_id == n.to_string(),
            MapKeyRoom::Named(s) => s == room_id,
        }
    }

    pub fn room_id(&self) -> String {
        match self {
            MapKeyRoom::Numeric(n) => n.to_string(),
            MapKeyRoom::Named(s) => s.clone(),
        }
    }
}

/// The decoded userbuf of a PrivateMapKey (all integers big-endian):
///
/// ```text
/// u8 version (0 numeric room, 1 string room) | u16 len, userID | u32 sdkappid | u32 roomid
/// | u32 expiry (epoch secs) | u32 privilege bits | u32 account type
/// | version 1 only: u16 len, room string
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateMapKey {
    pub user_id: String,
    pub sdkappid: u32,
    pub room: MapKeyRoom,
    pub expires_at: u32,
    pub privileges: u32,
    pub account_type: u32,
}

impl PrivateMapKey {
    pub fn allows(&self, bits: u32) -> bool {
        self.privileges & bits == bits
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.user_id.len());
        let (version, numeric, named) = match &self.room {
            MapKeyRoom::Numeric(n) => (0u8, *n, None),
            MapKeyRoom::Named(s) => (1u8, 0, Some(s.as_bytes())),
        };
        out.push(version);
        out.extend_from_slice(&(self.user_id.len() as u16).to_be_bytes());
        out.extend_from_slice(self.user_id.as_bytes());
        for n in [
            self.sdkappid,
            numeric,
            self.expires_at,
            self.privileges,
            self.account_type,
        ] {
            out.extend_from_slice(&n.to_be_bytes());
        }
        if let Some(s) = named {
            out.extend_from_slice(&(s.len() as u16).to_be_bytes());
            out.extend_from_slice(s);
        }
        out
    }

    pub fn decode(buf: &[u8]) -> Result<Self, UserSigError> {
        let mut r = ByteReader(buf);
        let version = r.u8()?;
        if version > 1 {
            return Err(UserSigError::Malformed("unknown PrivateMapKey version"));
        }
        let user_id = r.string()?;
        let sdkappid = r.u32()?;
        let numeric = r.u32()?;
        let expires_at = r.u32()?;
        let privileges = r.u32()?;
        let account_type = r.u32()?;
        let room = if version == 1 {
            MapKeyRoom::Named(r.string()?)
        } else {
            MapKeyRoom::Numeric(numeric)
        };
        if !r.0.is_empty() {
            return Err(UserSigError::Malformed("trailing bytes in PrivateMapKey"));
        }
        Ok(Self {
            user_id,
            sdkappid,
            room,
            expires_at,
            privileges,
            account_type,
        })
    }
}

struct ByteReader<'a>(&'a [u8]);

impl ByteReader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], UserSigError> {
        if self.0.len() < n {
            return Err(UserSigError::Malformed("PrivateMapKey truncated"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, UserSigError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, UserSigError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, UserSigError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn string(&mut self) -> Result<String, UserSigError> {
        let len = self.u16()? as usize;
        String::from_utf8(self.take(len)?.to_vec())
            .map_err(|_| UserSigError::Malformed("PrivateMapKey string is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";

    #[test]
    fn generated_sig_decodes_to_the_documented_json_and_verifies() {
        let sig = generate(1_400_000_000, KEY, "alice", 3600, 1_600_000_000, None);
        let doc = decode_document(&sig).unwrap();
        assert_eq!(doc["TLS.ver"], "2.0");
        assert_eq!(doc["TLS.identifier"], "alice");
        assert_eq!(doc["TLS.sdkappid"], 1_400_000_000u64);
        assert_eq!(doc["TLS.time"], 1_600_000_000u64);
        assert_eq!(doc["TLS.expire"], 3600);
        assert!(doc.get("TLS.userbuf").is_none());
        let v = verify(&sig, 1_400_000_000, "alice", KEY, 1_600_003_600).unwrap();
        assert_eq!(v.expires_at(), 1_600_003_600);
        assert_eq!(
            verify(&sig, 1_400_000_000, "alice", KEY, 1_600_003_601),
            Err(UserSigError::Expired {
                expired_at: 1_600_003_600,
                now: 1_600_003_601
            })
        );
    }

    #[test]
    fn map_key_round_trips_for_numeric_and_string_rooms() {
        for room in [
            MapKeyRoom::Numeric(10_000),
            MapKeyRoom::Named("room_a".into()),
        ] {
            let key = PrivateMapKey {
                user_id: "bob".into(),
                sdkappid: 1_400_000_000,
                room,
                expires_at: 1_700_000_000,
                privileges: privilege::ENTER_ROOM | privilege::SEND_AUDIO,
                account_type: 0,
            };
            assert_eq!(PrivateMapKey::decode(&key.encode()).unwrap(), key);
        }
    }

    #[test]
    fn numeric_map_key_matches_only_its_decimal_room_id() {
        let room = MapKeyRoom::Numeric(42);
        assert!(room.matches("42"));
        assert!(!room.matches("042"));
        assert!(!room.matches("+42"));
        assert!(!room.matches("43"));
    }

    #[test]
    fn truncated_map_key_is_malformed() {
        let key = PrivateMapKey {
            user_id: "bob".into(),
            sdkappid: 1,
            room: MapKeyRoom::Named("r".into()),
            expires_at: 1,
            privileges: 3,
            account_type: 0,
        }
        .encode();
        for len in 0..key.len() {
            assert!(
                PrivateMapKey::decode(&key[..len]).is_err(),
                "prefix of {len} bytes"
            );
        }
    }
}
