//! The HTTP contract's vocabulary, independent of any server and of the APIs: a request as a
//! front end hands it over, parameters, the `{code, message, ...}` envelope, and the protocol's
//! error codes. [`crate::service::handle`] serves an [`ApiRequest`] with them.

pub mod error;
pub mod params;
pub mod reply;

use rtcroom_shared::model::RoomType;

pub use error::ApiError;
pub use params::Params;
pub use reply::Reply;

/// The second path segment: a room type, or `utils`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Room(RoomType),
    Utils,
}

impl Scope {
    pub fn name(self) -> &'static str {
        match self {
            Scope::Room(t) => t.as_path(),
            Scope::Utils => "utils",
        }
    }
}

/// One HTTP request, as any front end hands it over.
#[derive(Debug, Clone, Copy)]
pub struct ApiRequest<'a> {
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub content_type: Option<&'a str>,
    /// The body, or the limit it exceeded (the front end stops reading there).
    pub body: Result<&'a [u8], BodyTooLarge>,
}

/// A body longer than the configured limit (bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyTooLarge(pub usize);

/// What goes back: a status (200 for every `/weapp/` answer, as clients expect) and JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

impl ApiResponse {
    /// A response head with this answer's status and the headers every answer carries: JSON,
    /// and CORS open to any origin (browsers call from wherever the app is served).
    pub fn head(&self) -> http::response::Builder {
        http::Response::builder()
            .status(self.status)
            .header(
                http::header::CONTENT_TYPE,
                "application/json; charset=utf-8",
            )
            .header(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
    }
}
