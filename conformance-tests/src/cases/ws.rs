//! A WebSocket client for the event cases: room connections (EV-4) and session connections
//! (EV-11), frames as JSON, and the close handshake.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

use crate::case::{Ctx, User};
use crate::client::{Check, Failure};

pub const WAIT: Duration = Duration::from_secs(5);

pub struct Ws(pub WebSocketStream<MaybeTlsStream<TcpStream>>);

/// `{base}/ws?userID=&token=`, with `&roomType=&roomID=` for a room connection.
pub fn ws_url(ctx: &Ctx, user: &User, room: Option<(&str, &str)>, since: Option<u64>) -> String {
    let base = ctx.server.target.base_url.trim_end_matches('/');
    let base = base
        .strip_prefix("https://")
        .map(|b| format!("wss://{b}"))
        .unwrap_or_else(|| base.replacen("http://", "ws://", 1));
    let mut url = format!("{base}/ws?userID={}&token={}", user.id, user.token);
    if let Some((room_type, room_id)) = room {
        url.push_str(&format!("&roomType={room_type}&roomID={room_id}"));
    }
    if let Some(since) = since {
        url.push_str(&format!("&since={since}"));
    }
    url
}

impl Ws {
    /// A room connection of a present member or viewer (EV-4).
    pub async fn open(
        ctx: &Ctx,
        user: &User,
        room_type: &str,
        room: &str,
        since: Option<u64>,
    ) -> Check<Ws> {
        Self::connect(
            ws_url(ctx, user, Some((room_type, room)), since),
            "EV-4: a present member's WebSocket opens",
        )
        .await
    }

    /// A session connection (EV-11).
    pub async fn session(ctx: &Ctx, user: &User) -> Check<Ws> {
        Self::connect(
            ws_url(ctx, user, None, None),
            "EV-11: a session connection with a valid token opens",
        )
        .await
    }

    async fn connect(url: String, what: &str) -> Check<Ws> {
        match connect_async(url).await {
            Ok((ws, _)) => Ok(Ws(ws)),
            Err(e) => Err(Failure::new(what, e.to_string())),
        }
    }

    /// The next text frame as JSON within `wait`; `None` when nothing came.
    pub async fn next_within(&mut self, wait: Duration) -> Check<Option<Value>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.0.next()).await {
                Err(_) => return Ok(None),
                Ok(Some(Ok(Message::Text(text)))) => {
                    return serde_json::from_str(&text)
                        .map(Some)
                        .map_err(|_| Failure::new("EV-1: events are JSON", text.to_string()));
                }
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
                Ok(other) => {
                    return Err(Failure::new(
                        "a text frame",
                        format!("{other:?}").chars().take(200).collect::<String>(),
                    ));
                }
            }
        }
    }

    pub async fn next(&mut self, what: &str) -> Check<Value> {
        self.next_within(WAIT)
            .await?
            .ok_or_else(|| Failure::new(what, "nothing within 5 s"))
    }

    /// The next frame of `kind` (`type`), skipping others (a sender also receives its own
    /// messages as events, in either order with the ack).
    pub async fn next_of(&mut self, kind: &str, what: &str) -> Check<Value> {
        for _ in 0..20 {
            let frame = self.next(what).await?;
            if frame["type"] == kind {
                return Ok(frame);
            }
        }
        Err(Failure::new(what, format!("no {kind} among 20 frames")))
    }

    pub async fn say(&mut self, message: Value) -> Check {
        self.0
            .send(Message::text(message.to_string()))
            .await
            .map_err(|e| Failure::new("the server takes a client frame", e.to_string()))
    }

    /// Sends a close frame with `code` and waits for the server's; the code it answered
    /// (`None`: the connection ended without a close frame).
    pub async fn close_with(&mut self, code: u16) -> Check<Option<u16>> {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: "bye".into(),
        };
        self.0
            .send(Message::Close(Some(frame)))
            .await
            .map_err(|e| Failure::new("the server takes a close frame", e.to_string()))?;
        loop {
            match tokio::time::timeout(WAIT, self.0.next()).await {
                Ok(Some(Ok(Message::Close(frame)))) => {
                    return Ok(Some(frame.map_or(1005, |f| u16::from(f.code))));
                }
                Ok(Some(Ok(_))) => {}
                Ok(None | Some(Err(_))) => return Ok(None),
                Err(_) => {
                    return Err(Failure::new(
                        "EV-8: the close handshake answered",
                        "no close frame within 5 s",
                    ));
                }
            }
        }
    }

    /// Whether the server closes the connection within 5 s (other frames are skipped).
    pub async fn closed_within_wait(&mut self) -> bool {
        loop {
            match tokio::time::timeout(WAIT, self.0.next()).await {
                Ok(Some(Ok(Message::Close(_))) | None | Some(Err(_))) => return true,
                Ok(Some(Ok(_))) => {}
                Err(_) => return false,
            }
        }
    }

    /// Whether the connection is still open: a `ping` answered with a `pong` (skipping events
    /// that arrive first).
    pub async fn alive(&mut self) -> Check<bool> {
        if self.say(serde_json::json!({"type": "ping"})).await.is_err() {
            return Ok(false);
        }
        for _ in 0..20 {
            match tokio::time::timeout(WAIT, self.0.next()).await {
                Ok(Some(Ok(Message::Text(text)))) if text.contains(r#""type":"pong""#) => {
                    return Ok(true);
                }
                Ok(Some(Ok(Message::Text(_) | Message::Ping(_) | Message::Pong(_)))) => {}
                _ => return Ok(false),
            }
        }
        Ok(false)
    }
}
