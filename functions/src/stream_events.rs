//! `POST /relay/event`: stream events from the media relay (`spec/relay-callbacks.md`).
//!
//! ```text
//! POST /relay/event    X-Rtcroom-Signature: t=..,v1=..
//!      {"event":"publish","stream":"8888_alice_3f2a","relay":"relay-1","seq":42,"at":..}
//! → 200 {"code":0,"message":"ok","members":1}   members: live members publishing the stream(s)
//!   400 malformed event · 401 bad or stale signature · 404 not enabled (no secret configured)
//!   503 the store is unavailable (the relay retries)
//! ```
//!
//! `publish` and the periodic `live` list keep the members publishing those streams present
//! for a heartbeat timeout, as a heartbeat would, and mark their streams live in
//! `get_pushers`; `unpublish` marks them not live (presence then runs out at the last deadline
//! unless the member beats). `play` and `stop` are acknowledged and otherwise ignored.
//!
//! Unlike the `/weapp/` APIs, answers use HTTP statuses: the relay retries on anything but 2xx.

use futures_util::{StreamExt, TryStreamExt};
use lambda_http::{Body, Request, Response};
use rtcroom_shared::rooms::RoomError;
use rtcroom_shared::stream_events::{self, StreamEvent, StreamEventKind};

use crate::api::{ApiResponse, BodyTooLarge};
use crate::app::App;
use crate::lambda::adapter::{body_within, to_response};

/// The path the relay posts to.
pub const PATH: &str = "/relay/event";
/// Streams of one `live` event applied at once.
const CONCURRENCY: usize = 16;

/// Whether a request path is this endpoint's (after any API Gateway stage prefix).
pub fn is_relay_event(path: &str) -> bool {
    path.ends_with(PATH)
}

/// Verifies and applies one event.
pub async fn handle(
    app: &App,
    signature: Option<&str>,
    body: Result<&[u8], BodyTooLarge>,
) -> ApiResponse {
    let answer = |status: u16, message: &str, members: Option<u32>| {
        let mut json = serde_json::json!({
            "code": if status == 200 { 0 } else { i64::from(status) },
            "message": message,
        });
        if let Some(members) = members {
            json["members"] = members.into();
        }
        ApiResponse {
            status,
            body: serde_json::to_vec(&json).expect("JSON values serialise"),
        }
    };
    let Some(secret) = &app.config.relay_events_secret else {
        return answer(
            404,
            "relay events are not enabled here (set RTCROOM_RELAY_EVENTS_SECRET)",
            None,
        );
    };
    let body = match body {
        Ok(body) => body,
        Err(BodyTooLarge(limit)) => {
            return answer(400, &format!("body is larger than {limit} bytes"), None);
        }
    };
    if let Err(e) = stream_events::verify(secret, signature.unwrap_or(""), body, app.now_secs()) {
        tracing::warn!(target: "rtcroom::relay_event", error = %e, "relay event refused");
        return answer(401, &e.to_string(), None);
    }
    let event: StreamEvent = match serde_json::from_slice(body) {
        Ok(event) => event,
        Err(e) => return answer(400, &format!("not a stream event: {e}"), None),
    };
    let streams = match event.streams() {
        Ok(streams) => streams,
        Err(e) => return answer(400, &e, None),
    };
    let live = match event.event {
        StreamEventKind::Publish | StreamEventKind::Live => true,
        StreamEventKind::Unpublish => false,
        StreamEventKind::Play | StreamEventKind::Stop => {
            return answer(200, "ok", Some(0));
        }
        StreamEventKind::Recorded => {
            let Some(segment) = &event.segment else {
                return answer(400, "a recorded event carries its segment", None);
            };
            return match app.rooms.recorded(&event.stream, segment).await {
                Ok(filed) => {
                    if !filed {
                        tracing::warn!(
                            target: "rtcroom::relay_event", stream = %event.stream,
                            path = %segment.path, "a recording segment of no known room"
                        );
                    }
                    tracing::info!(
                        target: "rtcroom::relay_event",
                        relay = %event.relay, seq = event.seq, stream = %event.stream,
                        path = %segment.path, room = %segment.room_id, duration = segment.duration,
                        bytes = segment.bytes, filed, "recording segment closed"
                    );
                    answer(200, "ok", Some(0))
                }
                // The relay retries.
                Err(e) => answer(503, &e.to_string(), None),
            };
        }
    };
    let streams: Vec<String> = streams.into_iter().map(str::to_owned).collect();
    let applied: Result<Vec<u32>, RoomError> = futures_util::stream::iter(streams)
        .map(|stream| async move { app.rooms.stream_report(&stream, live).await })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await;
    match applied {
        Ok(counts) => {
            let members = counts.iter().sum();
            tracing::info!(
                target: "rtcroom::relay_event",
                event = ?event.event, relay = %event.relay, seq = event.seq, members,
                "relay event"
            );
            answer(200, "ok", Some(members))
        }
        Err(e) => {
            tracing::error!(target: "rtcroom::relay_event", cause = %e, seq = event.seq, "relay event failed");
            answer(503, "room store unavailable; retry", None)
        }
    }
}

/// Answers one API Gateway request to the relay_event function.
pub async fn respond(app: &App, request: Request) -> Response<Body> {
    let signature = request
        .headers()
        .get(stream_events::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = body_within(&request, app.config.max_body_bytes);
    let answer = if is_relay_event(request.uri().path()) {
        handle(app, signature.as_deref(), body).await
    } else {
        ApiResponse {
            status: 404,
            body: br#"{"code":404,"message":"not found"}"#.to_vec(),
        }
    };
    to_response(answer)
}
