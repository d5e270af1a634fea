//! Request parameters: the JSON object or form-encoded body, and the query string.
//!
//! Clients differ in how they send values (numbers as strings, `roomID` as a number, `userInfo`
//! as an object or as JSON text), so the getters accept every reasonable spelling, and no
//! unreasonable one: a roomID is a string or an integer, and form and query values must be
//! UTF-8 once percent-decoded (two different byte strings must never name one room).

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::error::ApiError;

/// The body of a call as named values.
#[derive(Debug, Default)]
pub struct Params(Map<String, Value>);

impl Params {
    /// Parses a JSON object or `application/x-www-form-urlencoded` body; an empty body is `{}`.
    pub fn from_body(content_type: Option<&str>, body: &[u8]) -> Result<Self, ApiError> {
        let trimmed = body.trim_ascii();
        if trimmed.is_empty() {
            return Ok(Self::default());
        }
        // A body that opens like JSON is JSON whatever its label: curl and several HTTP
        // libraries label every body they send as a form.
        let looks_like_json = trimmed.starts_with(b"{") || trimmed.starts_with(b"[");
        let labelled_form = content_type.is_some_and(|c| {
            c.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
        if !looks_like_json && (labelled_form || trimmed.contains(&b'=')) {
            return Self::from_query(trimmed);
        }
        match serde_json::from_slice(trimmed) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            Ok(_) => Err(ApiError::Malformed(
                "request body must be a JSON object".into(),
            )),
            Err(_) => Err(ApiError::Malformed("request body is not valid JSON".into())),
        }
    }

    /// Parses `a=1&b=2` (`+` is a space, then percent-decoded); a repeated name keeps its
    /// first value. A name or value that is not UTF-8 once decoded is refused, not repaired.
    pub fn from_query(query: &[u8]) -> Result<Self, ApiError> {
        let mut map = Map::new();
        for pair in query.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &b""[..]),
            };
            map.entry(form_decode(name)?)
                .or_insert(Value::String(form_decode(value)?));
        }
        Ok(Self(map))
    }

    /// A roomID (or another identifier): a string, or an integer given as a JSON number.
    /// `None` when absent or null.
    pub fn opt_id(&self, name: &'static str) -> Result<Option<String>, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => rtcroom_shared::rooms::room_id_from_json(v)
                .map(Some)
                .ok_or_else(|| ApiError::Invalid(format!("{name} must be a string or an integer"))),
        }
    }

    /// A required, non-empty identifier.
    pub fn id(&self, name: &'static str) -> Result<String, ApiError> {
        match self.opt_id(name)? {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(ApiError::Missing(name)),
        }
    }

    /// A value as text: strings as they are, numbers and booleans printed, objects and arrays
    /// as JSON text. `None` when absent or null.
    pub fn opt_text(&self, name: &str) -> Option<Cow<'_, str>> {
        match self.0.get(name)? {
            Value::Null => None,
            Value::String(s) => Some(Cow::Borrowed(s)),
            Value::Number(n) => Some(Cow::Owned(n.to_string())),
            Value::Bool(b) => Some(Cow::Owned(b.to_string())),
            v @ (Value::Object(_) | Value::Array(_)) => Some(Cow::Owned(v.to_string())),
        }
    }

    pub fn text(&self, name: &'static str) -> Result<Cow<'_, str>, ApiError> {
        self.opt_text(name).ok_or(ApiError::Missing(name))
    }

    /// A required, non-empty text value.
    pub fn non_empty(&self, name: &'static str) -> Result<Cow<'_, str>, ApiError> {
        let v = self.text(name)?;
        if v.is_empty() {
            Err(ApiError::Missing(name))
        } else {
            Ok(v)
        }
    }

    /// The first of several accepted names (e.g. `roomInfo`, or G1's `roomName`).
    pub fn opt_text_any(&self, names: &[&'static str]) -> Option<Cow<'_, str>> {
        names.iter().find_map(|n| self.opt_text(n))
    }

    pub fn opt_u32(&self, name: &'static str) -> Result<Option<u32>, ApiError> {
        self.opt_unsigned(name)
    }

    pub fn opt_u64(&self, name: &'static str) -> Result<Option<u64>, ApiError> {
        self.opt_unsigned(name)
    }

    fn opt_unsigned<T: TryFrom<u64> + std::str::FromStr>(
        &self,
        name: &'static str,
    ) -> Result<Option<T>, ApiError> {
        let invalid = || ApiError::Invalid(format!("{name} must be a non-negative integer"));
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_u64()
                .and_then(|n| T::try_from(n).ok())
                .map(Some)
                .ok_or_else(invalid),
            Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| invalid()),
            Some(_) => Err(invalid()),
        }
    }

    pub fn u32(&self, name: &'static str) -> Result<u32, ApiError> {
        self.opt_u32(name)?.ok_or(ApiError::Missing(name))
    }

    /// A flag: JSON `true`/`false`, or (form-encoded) `true`, `false`, `1`, `0`.
    pub fn opt_bool(&self, name: &'static str) -> Result<Option<bool>, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if matches!(s.trim(), "true" | "1") => Ok(Some(true)),
            Some(Value::String(s)) if matches!(s.trim(), "false" | "0") => Ok(Some(false)),
            Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n <= 1) => {
                Ok(Some(n.as_u64() == Some(1)))
            }
            Some(_) => Err(ApiError::Invalid(format!("{name} must be true or false"))),
        }
    }

    /// A signed integer value (custom counters).
    pub fn opt_i64(&self, name: &'static str) -> Result<Option<i64>, ApiError> {
        let invalid = || ApiError::Invalid(format!("{name} must be an integer"));
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(invalid),
            Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| invalid()),
            Some(_) => Err(invalid()),
        }
    }

    /// The raw value, for parameters that may be a JSON object or JSON text (`mergeParams`).
    pub fn raw(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }
}

/// One form-encoded name or value: `+` is a space, `%xx` a byte, and the result UTF-8.
fn form_decode(part: &[u8]) -> Result<String, ApiError> {
    let spaced: Vec<u8> = part
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_encoding::percent_decode(&spaced)
        .decode_utf8()
        .map(|text| text.into_owned())
        .map_err(|_| {
            ApiError::Malformed("a form or query value is not UTF-8 once percent-decoded".into())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_form_bodies_read_the_same() {
        let json = Params::from_body(
            Some("application/json"),
            br#"{"roomID":12,"cnt":"5","name":"a b"}"#,
        )
        .unwrap();
        let form = Params::from_body(
            Some("application/x-www-form-urlencoded"),
            b"roomID=12&cnt=5&name=a+b",
        )
        .unwrap();
        for p in [json, form] {
            assert_eq!(p.text("roomID").unwrap(), "12");
            assert_eq!(p.u32("cnt").unwrap(), 5);
            assert_eq!(p.text("name").unwrap(), "a b");
            assert!(matches!(p.text("absent"), Err(ApiError::Missing("absent"))));
        }
    }

    #[test]
    fn empty_body_is_an_empty_object_and_garbage_is_malformed() {
        assert!(
            Params::from_body(None, b"  ")
                .unwrap()
                .opt_text("x")
                .is_none()
        );
        assert!(matches!(
            Params::from_body(None, b"{nope"),
            Err(ApiError::Malformed(_))
        ));
        assert!(matches!(
            Params::from_body(None, b"[1]"),
            Err(ApiError::Malformed(_))
        ));
        let untyped_form = Params::from_body(None, b"a=1").unwrap();
        assert_eq!(untyped_form.text("a").unwrap(), "1");
        let mislabelled =
            Params::from_body(Some("application/x-www-form-urlencoded"), br#"{"a":1}"#).unwrap();
        assert_eq!(mislabelled.text("a").unwrap(), "1");
    }

    #[test]
    fn objects_are_read_as_json_text_and_bad_numbers_are_invalid() {
        let p =
            Params::from_body(None, br#"{"userInfo":{"nick":"x"},"cnt":-1,"index":"a"}"#).unwrap();
        assert_eq!(p.text("userInfo").unwrap(), r#"{"nick":"x"}"#);
        assert!(matches!(p.u32("cnt"), Err(ApiError::Invalid(_))));
        assert!(matches!(p.u32("index"), Err(ApiError::Invalid(_))));
    }

    #[test]
    fn room_ids_are_strings_or_integers_and_forms_are_utf8() {
        let p = Params::from_body(
            None,
            br#"{"a":"r1","b":42,"c":1e2,"d":true,"e":[1],"f":{},"g":1.5,"h":-3}"#,
        )
        .unwrap();
        assert_eq!(p.id("a").unwrap(), "r1");
        assert_eq!(p.id("b").unwrap(), "42");
        assert_eq!(p.id("h").unwrap(), "-3");
        for bad in ["c", "d", "e", "f", "g"] {
            assert!(matches!(p.opt_id(bad), Err(ApiError::Invalid(_))), "{bad}");
        }
        assert!(matches!(p.id("absent"), Err(ApiError::Missing(_))));
        let form = Params::from_body(None, b"roomID=caf%C3%A9&n=a+b%2Bc").unwrap();
        assert_eq!(form.id("roomID").unwrap(), "café");
        assert_eq!(form.text("n").unwrap(), "a b+c");
        for bad in [&b"roomID=caf%E9"[..], b"roomID=caf\xe9", b"r%FF=1"] {
            assert!(
                matches!(Params::from_body(None, bad), Err(ApiError::Malformed(_))),
                "{bad:?}"
            );
        }
    }
}
