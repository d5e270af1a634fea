//! Talking to the server under test the way the 2018 clients do, and checking every answer
//! against `spec/openapi.yaml` on the way (WIRE-1, WIRE-7).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use rtcroom_shared::usersig;
use serde_json::{Value, json};

use crate::spec::Spec;

/// Why a case failed: what the clause demands, and what the server did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub expected: String,
    pub received: String,
}

impl Failure {
    pub fn new(expected: impl Into<String>, received: impl Into<String>) -> Self {
        Self {
            expected: expected.into(),
            received: received.into(),
        }
    }
}

pub type Check<T = ()> = Result<T, Failure>;

/// Fails with `expected` unless `condition` holds; `received` says what was seen instead.
pub fn ensure(condition: bool, expected: &str, received: impl FnOnce() -> String) -> Check {
    if condition {
        Ok(())
    } else {
        Err(Failure::new(expected, received()))
    }
}

/// What the runner knows about the server under test.
#[derive(Debug, Clone)]
pub struct Target {
    pub base_url: String,
    pub sdkappid: u64,
    pub key: String,
    /// The push key, to check txSecret signatures; without it only URL shapes are checked.
    pub push_key: Option<String>,
    /// The play key the play URLs are signed with, when it is not the push key.
    pub play_key: Option<String>,
}

/// One parsed answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// `{scope}/{api}`, for messages.
    pub call: String,
    pub status: u16,
    pub body: Value,
}

impl Answer {
    pub fn code(&self) -> i64 {
        self.body["code"].as_i64().unwrap_or(i64::MIN)
    }

    pub fn str(&self, field: &str) -> &str {
        self.body[field].as_str().unwrap_or("")
    }

    /// A short description of the answer for failure messages.
    pub fn describe(&self) -> String {
        let mut text = self.body.to_string();
        if text.len() > 300 {
            let mut end = 300;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push('…');
        }
        format!("HTTP {} {text}", self.status)
    }
}

/// A server connection shared by the cases of one run, recording the codes they assert.
pub struct Server {
    pub target: Target,
    http: reqwest::Client,
    asserted_codes: Mutex<BTreeSet<i64>>,
}

impl Server {
    pub fn new(target: Target) -> Arc<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(64)
            .build()
            .expect("an HTTP client builds");
        Arc::new(Self {
            target,
            http,
            asserted_codes: Mutex::new(BTreeSet::new()),
        })
    }

    /// Codes some case expected and saw.
    pub fn asserted_codes(&self) -> BTreeSet<i64> {
        self.asserted_codes.lock().clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.target.base_url.trim_end_matches('/'))
    }

    /// The raw HTTP client, for the few cases that need a request the helpers cannot make.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Sends one request to `/weapp/{scope}/{api}` and validates the answer against the spec.
    pub async fn send(
        &self,
        scope: &str,
        api: &str,
        query: &[(&str, &str)],
        body: Body,
    ) -> Check<Answer> {
        let call = format!("{scope}/{api}");
        // Room APIs are POST; `utils/*` are GET (protocol.md), but for the type-less login.
        let method = if scope == "utils" && api != "login" {
            reqwest::Method::GET
        } else {
            reqwest::Method::POST
        };
        let mut request = self
            .http
            .request(method, self.url(&format!("/weapp/{call}")))
            .query(query);
        request = match body {
            Body::None => request,
            Body::Json(v) => request
                .header("content-type", "application/json")
                .body(v.to_string()),
            Body::Form(pairs) => request
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form_urlencoded_pairs(&pairs)),
            Body::Raw(content_type, bytes) => {
                request.header("content-type", content_type).body(bytes)
            }
        };
        let response = request
            .send()
            .await
            .map_err(|e| Failure::new(format!("an answer to {call}"), format!("{e}")))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| Failure::new(format!("an answer body from {call}"), format!("{e}")))?;
        let body: Value = serde_json::from_str(&text).map_err(|_| {
            Failure::new(
                format!("WIRE-1: a JSON body from {call}"),
                format!("HTTP {status} {text:.200}"),
            )
        })?;
        let answer = Answer { call, status, body };
        if status != 200 && !(status == 404 && answer.code() == 103) {
            return Err(Failure::new(
                format!("WIRE-1: HTTP 200 from {}", answer.call),
                answer.describe(),
            ));
        }
        if status == 200 {
            Spec::get().validate(api, &answer.body).map_err(|e| {
                Failure::new(
                    format!("WIRE-7: {} answer matching openapi.yaml", answer.call),
                    format!("{e} in {}", answer.describe()),
                )
            })?;
        }
        Ok(answer)
    }

    /// Fails unless `answer` has `code`; records the code as asserted.
    pub fn expect(&self, answer: &Answer, code: i64, what: &str) -> Check {
        if answer.code() == code {
            self.asserted_codes.lock().insert(code);
            Ok(())
        } else {
            Err(Failure::new(
                format!("{what}: code {code} from {}", answer.call),
                answer.describe(),
            ))
        }
    }

    /// Records a code a case checked without an [`Answer`] (e.g. on a 404).
    pub fn note_asserted(&self, code: i64) {
        self.asserted_codes.lock().insert(code);
    }

    /// A UserSig for `user` minted with the server's key, issued `age` seconds ago and valid
    /// for `expire` seconds from issue.
    pub fn usersig(&self, user: &str, age: u64, expire: u64, userbuf: Option<&[u8]>) -> String {
        usersig::generate(
            self.target.sdkappid,
            &self.target.key,
            user,
            expire,
            now_secs().saturating_sub(age),
            userbuf,
        )
    }

    /// `login` with a UserSig, as the clients send it.
    pub async fn login(&self, room_type: &str, user: &str, usersig: &str) -> Check<Answer> {
        let appid = self.target.sdkappid.to_string();
        self.send(
            room_type,
            "login",
            &[
                ("accountType", "0"),
                ("sdkAppID", &appid),
                ("userSig", usersig),
                ("userID", user),
            ],
            Body::Json(json!({})),
        )
        .await
    }
}

/// A request body.
#[derive(Debug, Clone)]
pub enum Body {
    None,
    Json(Value),
    Form(Vec<(String, String)>),
    Raw(&'static str, Vec<u8>),
}

fn form_urlencoded_pairs(pairs: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}
