//! AMF0, the encoding of RTMP commands (`connect`, `publish`, `onStatus`, ...) and metadata.
//!
//! ```text
//! 0x00 number  f64 BE          0x01 boolean u8      0x02 string  u16 len, UTF-8
//! 0x03 object  (u16 len key, value)* 00 00 09        0x05 null    0x06 undefined
//! 0x08 ECMA array  u32 count, then like an object    0x0A strict array  u32 count, values
//! 0x0B date  f64 ms, i16 timezone                   0x0C long string  u32 len, UTF-8
//! ```
//!
//! Decoding never panics and refuses what it does not know; nesting is bounded.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Amf {
    Number(f64),
    Boolean(bool),
    String(String),
    Object(Vec<(String, Amf)>),
    Null,
    Undefined,
    EcmaArray(Vec<(String, Amf)>),
    StrictArray(Vec<Amf>),
    Date(f64),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmfError {
    #[error("AMF0 value truncated")]
    Truncated,
    #[error("AMF0 marker {0:#04x} not supported")]
    UnknownMarker(u8),
    #[error("AMF0 string is not UTF-8")]
    NotUtf8,
    #[error("AMF0 nesting too deep")]
    TooDeep,
}

const MAX_DEPTH: usize = 32;

impl Amf {
    pub fn str(&self) -> Option<&str> {
        match self {
            Amf::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn number(&self) -> Option<f64> {
        match self {
            Amf::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// A property of an object or ECMA array.
    pub fn get(&self, key: &str) -> Option<&Amf> {
        match self {
            Amf::Object(props) | Amf::EcmaArray(props) => {
                props.iter().find(|(k, _)| k == key).map(|(_, v)| v)
            }
            _ => None,
        }
    }

    pub fn object(props: &[(&str, Amf)]) -> Amf {
        Amf::Object(
            props
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        )
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Amf::Number(n) => {
                out.push(0x00);
                out.extend_from_slice(&n.to_be_bytes());
            }
            Amf::Boolean(b) => out.extend_from_slice(&[0x01, u8::from(*b)]),
            Amf::String(s) if s.len() <= u16::MAX as usize => {
                out.push(0x02);
                put_short_string(out, s);
            }
            Amf::String(s) => {
                out.push(0x0C);
                out.extend_from_slice(&(s.len() as u32).to_be_bytes());
                out.extend_from_slice(s.as_bytes());
            }
            Amf::Object(props) => {
                out.push(0x03);
                put_properties(out, props);
            }
            Amf::Null => out.push(0x05),
            Amf::Undefined => out.push(0x06),
            Amf::EcmaArray(props) => {
                out.push(0x08);
                out.extend_from_slice(&(props.len() as u32).to_be_bytes());
                put_properties(out, props);
            }
            Amf::StrictArray(items) => {
                out.push(0x0A);
                out.extend_from_slice(&(items.len() as u32).to_be_bytes());
                items.iter().for_each(|v| v.encode(out));
            }
            Amf::Date(ms) => {
                out.push(0x0B);
                out.extend_from_slice(&ms.to_be_bytes());
                out.extend_from_slice(&0i16.to_be_bytes());
            }
        }
    }
}

impl fmt::Display for Amf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Amf::String(s) => write!(f, "{s:?}"),
            Amf::Number(n) => write!(f, "{n}"),
            other => write!(f, "{other:?}"),
        }
    }
}

fn put_short_string(out: &mut Vec<u8>, s: &str) {
    let bytes = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
    out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    out.extend_from_slice(bytes);
}

fn put_properties(out: &mut Vec<u8>, props: &[(String, Amf)]) {
    for (k, v) in props {
        put_short_string(out, k);
        v.encode(out);
    }
    out.extend_from_slice(&[0, 0, 0x09]);
}

/// Encodes a sequence of values (a command: name, transaction id, object, arguments...).
pub fn encode_all(values: &[Amf]) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    values.iter().for_each(|v| v.encode(&mut out));
    out
}

/// Decodes values until the input ends.
pub fn decode_all(mut input: &[u8]) -> Result<Vec<Amf>, AmfError> {
    let mut values = Vec::new();
    while !input.is_empty() {
        values.push(decode(&mut input, 0)?);
    }
    Ok(values)
}

fn take<'a>(input: &mut &'a [u8], n: usize) -> Result<&'a [u8], AmfError> {
    if input.len() < n {
        return Err(AmfError::Truncated);
    }
    let (head, rest) = input.split_at(n);
    *input = rest;
    Ok(head)
}

fn u16_be(input: &mut &[u8]) -> Result<usize, AmfError> {
    let b = take(input, 2)?;
    Ok(u16::from_be_bytes([b[0], b[1]]) as usize)
}

fn u32_be(input: &mut &[u8]) -> Result<usize, AmfError> {
    let b = take(input, 4)?;
    Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
}

fn f64_be(input: &mut &[u8]) -> Result<f64, AmfError> {
    let b = take(input, 8)?;
    Ok(f64::from_be_bytes(b.try_into().expect("8 bytes")))
}

fn utf8(bytes: &[u8]) -> Result<String, AmfError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| AmfError::NotUtf8)
}

fn properties(input: &mut &[u8], depth: usize) -> Result<Vec<(String, Amf)>, AmfError> {
    let mut props = Vec::new();
    loop {
        let len = u16_be(input)?;
        if len == 0 && input.first() == Some(&0x09) {
            *input = &input[1..];
            return Ok(props);
        }
        let key = utf8(take(input, len)?)?;
        props.push((key, decode(input, depth + 1)?));
    }
}

fn decode(input: &mut &[u8], depth: usize) -> Result<Amf, AmfError> {
    if depth > MAX_DEPTH {
        return Err(AmfError::TooDeep);
    }
    let marker = take(input, 1)?[0];
    Ok(match marker {
        0x00 => Amf::Number(f64_be(input)?),
        0x01 => Amf::Boolean(take(input, 1)?[0] != 0),
        0x02 => {
            let len = u16_be(input)?;
            Amf::String(utf8(take(input, len)?)?)
        }
        0x03 => Amf::Object(properties(input, depth)?),
        0x05 => Amf::Null,
        0x06 => Amf::Undefined,
        0x08 => {
            // The count is a hint some encoders get wrong; the end marker decides.
            let _count = u32_be(input)?;
            Amf::EcmaArray(properties(input, depth)?)
        }
        0x0A => {
            let count = u32_be(input)?;
            // Every value takes at least one byte: a count beyond the input is a lie.
            if count > input.len() {
                return Err(AmfError::Truncated);
            }
            let mut items = Vec::with_capacity(count);
            for _ in 0..count {
                items.push(decode(input, depth + 1)?);
            }
            Amf::StrictArray(items)
        }
        0x0B => {
            let ms = f64_be(input)?;
            take(input, 2)?;
            Amf::Date(ms)
        }
        0x0C => {
            let len = u32_be(input)?;
            Amf::String(utf8(take(input, len)?)?)
        }
        other => return Err(AmfError::UnknownMarker(other)),
    })
}

/// An `onStatus` info object.
pub(crate) fn status(level: &str, code: &str, description: &str) -> Amf {
    Amf::object(&[
        ("level", Amf::String(level.into())),
        ("code", Amf::String(code.into())),
        ("description", Amf::String(description.into())),
    ])
}

/// `@setDataFrame("onMetaData", {...})` → `onMetaData({...})`, as players expect it.
pub(crate) fn metadata(m: &crate::rtmp::chunk::Message) -> Option<bytes::Bytes> {
    let values = decode_all(&m.payload).ok()?;
    let values = match values.first().and_then(Amf::str) {
        Some("@setDataFrame") => &values[1..],
        _ => &values[..],
    };
    if values.first().and_then(Amf::str) != Some("onMetaData") {
        return None;
    }
    Some(bytes::Bytes::from(encode_all(values)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connect_command_round_trips() {
        let values = vec![
            Amf::String("connect".into()),
            Amf::Number(1.0),
            Amf::object(&[
                ("app", Amf::String("live".into())),
                ("tcUrl", Amf::String("rtmp://127.0.0.1/live".into())),
                ("fpad", Amf::Boolean(false)),
                ("audioCodecs", Amf::Number(3191.0)),
            ]),
            Amf::Null,
            Amf::EcmaArray(vec![("duration".into(), Amf::Number(0.0))]),
            Amf::StrictArray(vec![Amf::Undefined, Amf::Date(1.0)]),
        ];
        let bytes = encode_all(&values);
        assert_eq!(decode_all(&bytes).unwrap(), values);
        assert_eq!(values[2].get("app").and_then(Amf::str), Some("live"));
    }

    #[test]
    fn truncated_and_unknown_input_is_refused() {
        let bytes = encode_all(&[Amf::String("publish".into())]);
        for cut in 0..bytes.len() - 1 {
            assert!(decode_all(&bytes[..=cut]).is_err(), "cut at {cut}");
        }
        assert_eq!(decode_all(&[0x11]), Err(AmfError::UnknownMarker(0x11)));
        assert_eq!(
            decode_all(&[0x0A, 0xff, 0xff, 0xff, 0xff]),
            Err(AmfError::Truncated)
        );
        let deep: Vec<u8> = std::iter::repeat_n([0x0A, 0, 0, 0, 1], 100)
            .flatten()
            .collect();
        assert_eq!(decode_all(&deep), Err(AmfError::TooDeep));
    }
}
