//! The `{code, message, ...}` envelope.
//!
//! Fields are serialised straight into the answer's buffer as they are added: no intermediate
//! JSON tree, which halves the allocations of `get_pushers` (the hottest read).

use rtcroom_shared::rooms::RoomError;
use serde::Serialize;

use super::error::ApiError;

pub const OK_MESSAGE: &str = "请求成功";

/// A successful answer's fields besides `code` and `message`, already serialised as
/// `,"name":value` pairs.
#[derive(Debug, Default)]
pub struct Reply {
    fields: Vec<u8>,
}

impl Reply {
    pub fn ok() -> Self {
        Self::default()
    }

    pub fn with(mut self, name: &str, value: impl Serialize) -> Self {
        self.fields.push(b',');
        write_json(&mut self.fields, name);
        self.fields.push(b':');
        write_json(&mut self.fields, &value);
        self
    }

    /// Adds every field of a struct that serialises as a JSON object.
    pub fn with_fields(mut self, object: &impl Serialize) -> Self {
        let json = serde_json::to_vec(object).expect("reply fields serialise");
        match json.as_slice() {
            [b'{', b'}'] => {}
            [b'{', inner @ .., b'}'] => {
                self.fields.push(b',');
                self.fields.extend_from_slice(inner);
            }
            _ => panic!("with_fields takes a struct that serialises as an object"),
        }
        self
    }

    pub fn to_body(&self) -> Vec<u8> {
        envelope(0, OK_MESSAGE, &self.fields)
    }

    /// An error answer; `roomID` accompanies code 11 so clients learn which id was taken.
    pub fn error_body(error: &ApiError) -> Vec<u8> {
        let fields = match error {
            ApiError::Room(RoomError::RoomExists(room_id)) => {
                Reply::ok().with("roomID", room_id).fields
            }
            _ => Vec::new(),
        };
        envelope(error.code(), &error.message(), &fields)
    }
}

fn write_json(out: &mut Vec<u8>, value: &(impl Serialize + ?Sized)) {
    serde_json::to_writer(out, value).expect("writing JSON to a Vec cannot fail");
}

fn envelope(code: i32, message: &str, fields: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(40 + message.len() + fields.len());
    out.extend_from_slice(b"{\"code\":");
    write_json(&mut out, &code);
    out.extend_from_slice(b",\"message\":");
    write_json(&mut out, message);
    out.extend_from_slice(fields);
    out.push(b'}');
    out
}

/// `custom` travels as a JSON *string* of `{fieldName: int}`, which is what G2 clients parse.
pub fn custom_json(custom: &std::collections::BTreeMap<String, i64>) -> String {
    serde_json::to_string(custom).expect("a map of integers serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_puts_code_and_message_first_and_escapes_values() {
        let reply = Reply::ok().with("roomID", "a\"b").with("n", 3);
        assert_eq!(
            String::from_utf8(reply.to_body()).unwrap(),
            r#"{"code":0,"message":"请求成功","roomID":"a\"b","n":3}"#
        );
        #[derive(Serialize)]
        struct Two {
            x: u8,
            y: &'static str,
        }
        let body = Reply::ok().with_fields(&Two { x: 1, y: "z" }).to_body();
        let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!({ "code": 0, "message": OK_MESSAGE, "x": 1, "y": "z" })
        );
    }
}
