//! One WebSocket connection on the local gateway: what it follows (nothing, a pending join, or
//! a room), the events it sends, the client frames it answers.
//!
//! A followed room's events go out exactly once and in order: the connection subscribes to the
//! room's broadcast first, reads what it missed from the store (`since`), then takes the
//! broadcast, skipping what it has sent; one that falls a whole broadcast buffer behind reads
//! the gap from the store.
//!
//! A pending join (EV-12) listens to the roomID under every room type and waits for the event
//! that makes its user present there (`memberJoined` / `audienceJoined`); it is admitted into
//! that room with the events after it, so it never hears of the room before the membership.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::select_all;
use futures_util::{SinkExt, StreamExt};
use hyper_tungstenite::HyperWebsocketStream;
use hyper_tungstenite::tungstenite::protocol::frame::CloseFrame;
use hyper_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use hyper_tungstenite::tungstenite::{Error as WsError, Message};
use rtcroom_shared::model::{EventKind, RoomKey, RoomType};
use rtcroom_shared::room_events;
use rtcroom_shared::rooms::{MAX_EVENTS_PAGE, RoomError, validate_room_id};
use rtcroom_shared::token::Session;
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;

use super::PING_EVERY;
use super::hub::{EventHub, Outgoing, Subscription};
use super::protocol::MAX_MESSAGES_PER_SEC;
use super::protocol::{self, Frame, Request, Unfollow};
use crate::metrics::Refusal;

/// Close code of our own (4000-4999 are the application's): too many messages (EV-8).
const CLOSE_FLOODING: u16 = 4008;
/// How long a closing connection waits for the client's close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// A followed room: its broadcast and the last event sent.
pub(super) struct Following {
    sub: Subscription,
    sent: u64,
    /// A `resync` is sent at most once, for the first catch-up.
    resynced: bool,
}

impl Following {
    pub(super) fn new(sub: Subscription, sent: u64) -> Self {
        Self {
            sub,
            sent,
            resynced: false,
        }
    }
}

/// A session connection's join waiting for the membership: one listener per room type, each
/// with the last event it has looked at.
struct Pending {
    room_id: String,
    deadline: tokio::time::Instant,
    watches: Vec<(Subscription, u64)>,
}

enum Follow {
    Nothing,
    Pending(Pending),
    Room(Following),
}

/// What the followed room (or the pending join) produced next.
enum Feed {
    Event(Result<Arc<Outgoing>, RecvError>),
    Watch(usize, Result<Arc<Outgoing>, RecvError>),
    Expired,
}

/// Why a connection ended.
#[derive(Debug, thiserror::Error)]
enum End {
    #[error(transparent)]
    Socket(#[from] WsError),
    #[error(transparent)]
    Store(#[from] RoomError),
    /// The client left a frame unread for the send deadline (its socket buffers are full):
    /// the connection is dropped, without a close frame that could not be sent either.
    #[error("the client read nothing for {0:?}")]
    SendTimeout(Duration),
}

struct Connection {
    hub: Arc<EventHub>,
    ws: HyperWebsocketStream,
    session: Session,
    /// A room connection: ends with its room. A session connection outlives its rooms.
    room_bound: bool,
    follow: Follow,
}

/// Serves one upgraded connection until it ends: a room connection starts `following` its
/// room; a session connection starts with nothing.
pub(super) async fn serve(
    hub: Arc<EventHub>,
    ws: HyperWebsocketStream,
    session: Session,
    following: Option<Following>,
) {
    let mut connection = Connection {
        hub,
        ws,
        session,
        room_bound: following.is_some(),
        follow: following.map_or(Follow::Nothing, Follow::Room),
    };
    match connection.run().await {
        Ok(()) => {}
        Err(e @ End::SendTimeout(_)) => {
            connection.hub.app.metrics.refused(Refusal::WsSendTimeout);
            tracing::info!(user = %connection.session.user_id, error = %e, "websocket dropped");
        }
        Err(e) => tracing::debug!(error = %e, "websocket ended"),
    }
}

impl Connection {
    async fn run(&mut self) -> Result<(), End> {
        if let Some(why) = self.catch_up().await? {
            if self.unfollow(why).await? {
                return Ok(());
            }
        }
        let mut pings = tokio::time::interval(PING_EVERY);
        pings.tick().await;
        let mut last_heard = Instant::now();
        let mut window = (Instant::now(), 0u32);
        loop {
            tokio::select! {
                feed = next_feed(&mut self.follow) => {
                    if let Some(why) = self.on_feed(feed).await? {
                        if self.unfollow(why).await? {
                            return Ok(());
                        }
                    }
                }
                frame = self.ws.next() => {
                    last_heard = Instant::now();
                    let message = match frame {
                        None => return Ok(()),
                        Some(Err(WsError::Capacity(_))) => {
                            return self.close(CloseCode::Size, "frame over 8 KiB").await;
                        }
                        // RFC 6455 §7.4.1: a broken frame is answered 1002, text that is not
                        // UTF-8 1007, before the connection goes.
                        Some(Err(WsError::Protocol(e))) => {
                            self.hub.app.metrics.refused(Refusal::WsProtocol);
                            return self.close(CloseCode::Protocol, &e.to_string()).await;
                        }
                        Some(Err(WsError::Utf8(_))) => {
                            self.hub.app.metrics.refused(Refusal::WsProtocol);
                            return self.close(CloseCode::Invalid, "text frame is not UTF-8").await;
                        }
                        Some(Err(e)) => return Err(e.into()),
                        Some(Ok(message)) => message,
                    };
                    if window.0.elapsed() >= Duration::from_secs(1) {
                        window = (Instant::now(), 0);
                    }
                    window.1 += 1;
                    if window.1 > MAX_MESSAGES_PER_SEC {
                        self.hub.app.metrics.refused(Refusal::WsProtocol);
                        return self
                            .close(CloseCode::from(CLOSE_FLOODING), "too many messages")
                            .await;
                    }
                    match message {
                        Message::Text(text) => {
                            if let Some(why) = self.on_text(text.as_str()).await? {
                                if self.unfollow(why).await? {
                                    return Ok(());
                                }
                            }
                        }
                        Message::Binary(_) => {
                            self.send(&protocol::error("frames are JSON text")).await?;
                        }
                        Message::Close(_) => {
                            // tungstenite queued the echo of the client's close frame (RFC 6455
                            // §5.5.1); it goes out with this flush.
                            let deadline = self.hub.app.config.server_limits.ws_send_timeout;
                            let _ = tokio::time::timeout(deadline, self.ws.flush()).await;
                            return Ok(());
                        }
                        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                    }
                }
                _ = pings.tick() => {
                    if last_heard.elapsed() > 2 * PING_EVERY {
                        return self.close(CloseCode::Away, "no answer to pings").await;
                    }
                    self.write(Message::Ping(Bytes::new())).await?;
                }
            }
        }
    }

    /// Handles what the followed room or the pending join produced; whether following ends.
    async fn on_feed(&mut self, feed: Feed) -> Result<Option<Unfollow>, End> {
        match feed {
            Feed::Event(Ok(out)) => {
                let Follow::Room(following) = &mut self.follow else {
                    return Ok(None);
                };
                if out.event.seq <= following.sent {
                    return Ok(None);
                }
                following.sent = out.event.seq;
                let key = following.sub.key.clone();
                if room_events::visible_to(&out.event, &self.session.user_id) {
                    self.write(Message::Text(out.text.clone())).await?;
                }
                self.ends(&key, &out.event.kind).await
            }
            Feed::Event(Err(RecvError::Lagged(_))) => self.catch_up().await,
            Feed::Event(Err(RecvError::Closed)) => Ok(Some(Unfollow::RoomClosed)),
            Feed::Watch(i, Ok(out)) => {
                let Follow::Pending(pending) = &mut self.follow else {
                    return Ok(None);
                };
                let (_, seen) = &mut pending.watches[i];
                if out.event.seq <= *seen {
                    return Ok(None);
                }
                *seen = out.event.seq;
                if joins(&out.event.kind, &self.session.user_id) {
                    self.admit(i, out.event.seq).await?;
                }
                Ok(None)
            }
            Feed::Watch(_, Err(RecvError::Closed)) => {
                // The room's broadcast went away under a listener (not expected): give up.
                if let Follow::Pending(pending) =
                    std::mem::replace(&mut self.follow, Follow::Nothing)
                {
                    self.send(&protocol::join_failed(&pending.room_id, "unavailable"))
                        .await?;
                }
                Ok(None)
            }
            Feed::Watch(i, Err(RecvError::Lagged(_))) => {
                // Too much happened in that room to look at each event: ask the store.
                let Follow::Pending(pending) = &self.follow else {
                    return Ok(None);
                };
                let key = pending.watches[i].0.key.clone();
                if self
                    .hub
                    .app
                    .rooms
                    .is_present(&key, &self.session.user_id)
                    .await
                    == Ok(true)
                {
                    let last = self
                        .hub
                        .app
                        .rooms
                        .store()
                        .last_seq(&key)
                        .await
                        .map_err(RoomError::from)?;
                    self.admit(i, last).await?;
                }
                Ok(None)
            }
            Feed::Expired => {
                if let Follow::Pending(pending) =
                    std::mem::replace(&mut self.follow, Follow::Nothing)
                {
                    self.send(&protocol::join_failed(&pending.room_id, "timeout"))
                        .await?;
                }
                Ok(None)
            }
        }
    }

    /// A pending join becomes a follower of the `i`th room it listened to, from `after`.
    async fn admit(&mut self, i: usize, after: u64) -> Result<(), End> {
        let Follow::Pending(mut pending) = std::mem::replace(&mut self.follow, Follow::Nothing)
        else {
            return Ok(());
        };
        let (sub, _) = pending.watches.swap_remove(i);
        let key = sub.key.clone();
        // The other listeners go with `pending`.
        drop(pending);
        self.follow = Follow::Room(Following::new(sub, after));
        self.send(&protocol::admitted(&key, after)).await
    }

    /// Answers one client frame; whether following ends (a session's `leave`).
    async fn on_text(&mut self, text: &str) -> Result<Option<Unfollow>, End> {
        let request = Request::parse(text);
        let mut catch_up = false;
        let mut unfollow = None;
        let answer = match &request.frame {
            Err(e) => protocol::error(e),
            Ok(Frame::Ping) => protocol::pong(),
            Ok(Frame::Join { .. } | Frame::Leave) if self.room_bound => {
                protocol::error("join and leave are for session connections (EV-11)")
            }
            Ok(Frame::Join { room_id, since }) => {
                let (answer, admitted) = self.join(room_id, *since).await?;
                catch_up = admitted;
                answer
            }
            Ok(Frame::Leave) => {
                let room = self.followed_room_id();
                self.follow = Follow::Nothing;
                protocol::left(room.as_deref(), Unfollow::Left)
            }
            Ok(Frame::Room(input)) => match &self.follow {
                Follow::Room(following) => {
                    let key = following.sub.key.clone();
                    protocol::room_message(&self.hub.app, &self.session, &key, input.clone()).await
                }
                Follow::Pending(_) | Follow::Nothing => {
                    protocol::error("not in a room yet: join one first (EV-12)")
                }
            },
        };
        self.send(&request.answer(answer)).await?;
        if catch_up {
            unfollow = self.catch_up().await?;
        }
        Ok(unfollow)
    }

    /// A session's `join` (EV-12): the answer, and whether it was admitted at once.
    async fn join(&mut self, room_id: &str, since: Option<u64>) -> Result<(Value, bool), End> {
        self.follow = Follow::Nothing;
        if let Err(e) = validate_room_id(room_id) {
            return Ok((protocol::error(&e.to_string()), false));
        }
        // Listen first, then look: a membership that begins in between is still heard.
        let mut watches = Vec::with_capacity(RoomType::ALL.len());
        for room_type in RoomType::ALL {
            let key = RoomKey::new(room_type, room_id);
            match self.hub.listen(&key).await {
                Ok(sub) => watches.push(sub),
                Err(e) => return Ok((protocol::error(&e.to_string()), false)),
            }
        }
        let present = match self
            .hub
            .app
            .rooms
            .room_of(room_id, &self.session.user_id)
            .await
        {
            Ok(present) => present,
            Err(e) => return Ok((protocol::error(&e.to_string()), false)),
        };
        match present {
            Some(key) => {
                let sub = watches
                    .into_iter()
                    .find(|w| w.key == key)
                    .expect("a listener per room type");
                let sent = since.unwrap_or(sub.last_seq);
                self.follow = Follow::Room(Following::new(sub, sent));
                Ok((protocol::admitted(&key, sent), true))
            }
            None => {
                let wait = self.hub.app.config.join_wait;
                self.follow = Follow::Pending(Pending {
                    room_id: room_id.to_owned(),
                    deadline: tokio::time::Instant::now() + wait,
                    watches: watches
                        .into_iter()
                        .map(|w| {
                            let seen = w.last_seq;
                            (w, seen)
                        })
                        .collect(),
                });
                Ok((protocol::pending(room_id), false))
            }
        }
    }

    fn followed_room_id(&self) -> Option<String> {
        match &self.follow {
            Follow::Nothing => None,
            Follow::Pending(p) => Some(p.room_id.clone()),
            Follow::Room(f) => Some(f.sub.key.room_id.clone()),
        }
    }

    /// Following ended: a room connection closes (`true`); a session connection is told and
    /// carries on.
    async fn unfollow(&mut self, why: Unfollow) -> Result<bool, End> {
        if self.room_bound {
            let reason = match why {
                Unfollow::RoomClosed => "the room closed",
                Unfollow::NotPresent | Unfollow::Left => "left the room",
            };
            self.close(CloseCode::Normal, reason).await?;
            return Ok(true);
        }
        let room = self.followed_room_id();
        self.follow = Follow::Nothing;
        self.send(&protocol::left(room.as_deref(), why)).await?;
        Ok(false)
    }

    /// Sends the stored events of the followed room after the last one sent (with a `resync`
    /// first when some are gone); whether following ends.
    async fn catch_up(&mut self) -> Result<Option<Unfollow>, End> {
        loop {
            let Follow::Room(following) = &mut self.follow else {
                return Ok(None);
            };
            let key = following.sub.key.clone();
            let page = self
                .hub
                .app
                .rooms
                .events_after(
                    &key,
                    &self.session.user_id,
                    Some(following.sent),
                    MAX_EVENTS_PAGE,
                )
                .await?;
            let resync = page.resync && !std::mem::replace(&mut following.resynced, true);
            let Some(last) = page.events.last().map(|e| e.seq) else {
                // Only events for others (or nothing) after `sent`: move past them.
                following.sent = following.sent.max(page.last_seq);
                if resync {
                    self.send_resync(&key, page.last_seq).await?;
                }
                return Ok(None);
            };
            following.sent = last;
            let done = last >= page.last_seq;
            if resync {
                self.send_resync(&key, page.last_seq).await?;
            }
            for event in &page.events {
                self.send(&room_events::wire(&key.room_id, event)).await?;
                if let Some(why) = self.ends(&key, &event.kind).await? {
                    return Ok(Some(why));
                }
            }
            if done {
                return Ok(None);
            }
        }
    }

    async fn send_resync(&mut self, key: &RoomKey, last_seq: u64) -> Result<(), End> {
        let now = self.hub.app.rooms.clock().now_ms();
        self.send(&room_events::resync(&key.room_id, last_seq, now))
            .await
    }

    /// Whether following `key` ends after this event: the room closed, or the reader left it
    /// and is no longer a member or viewer (a link-mic guest who stops pushing still watches).
    async fn ends(&mut self, key: &RoomKey, kind: &EventKind) -> Result<Option<Unfollow>, End> {
        match kind {
            EventKind::RoomDissolved { .. } => Ok(Some(Unfollow::RoomClosed)),
            EventKind::MemberLeft { user_id, .. } | EventKind::AudienceLeft { user_id, .. }
                if *user_id == self.session.user_id =>
            {
                match self.hub.app.rooms.is_present(key, user_id).await {
                    Ok(true) => Ok(None),
                    Ok(false) | Err(RoomError::NoSuchRoom) => Ok(Some(Unfollow::NotPresent)),
                    // Unknown for now; the room's next events settle it.
                    Err(e) => {
                        tracing::warn!(error = %e, "presence not read after a leave");
                        Ok(None)
                    }
                }
            }
            _ => Ok(None),
        }
    }

    async fn send(&mut self, value: &Value) -> Result<(), End> {
        self.write(Message::text(value.to_string())).await
    }

    /// Every frame goes out through here, within the send deadline: a client that stops
    /// reading holds up nothing but itself, and not for long (its room's broadcast never
    /// waits for it; see the hub).
    async fn write(&mut self, message: Message) -> Result<(), End> {
        let deadline = self.hub.app.config.server_limits.ws_send_timeout;
        match tokio::time::timeout(deadline, self.ws.send(message)).await {
            Ok(sent) => Ok(sent?),
            Err(_) => Err(End::SendTimeout(deadline)),
        }
    }

    /// Closes with `code`, then waits briefly for the client's close frame.
    async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), End> {
        let frame = CloseFrame {
            code,
            reason: reason.to_owned().into(),
        };
        self.write(Message::Close(Some(frame))).await?;
        let _ = tokio::time::timeout(CLOSE_WAIT, async {
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
        Ok(())
    }
}

/// The event that makes `user` present in a room.
fn joins(kind: &EventKind, user: &str) -> bool {
    matches!(kind, EventKind::MemberJoined { user_id, .. } | EventKind::AudienceJoined { user_id }
        if user_id == user)
}

/// The next thing the followed room or the pending join produced (cancel-safe); never, when
/// the connection follows nothing.
async fn next_feed(follow: &mut Follow) -> Feed {
    match follow {
        Follow::Nothing => std::future::pending().await,
        Follow::Room(following) => Feed::Event(following.sub.recv().await),
        Follow::Pending(pending) => {
            let deadline = pending.deadline;
            let watches = select_all(
                pending
                    .watches
                    .iter_mut()
                    .map(|(sub, _)| Box::pin(sub.recv())),
            );
            tokio::select! {
                (result, i, _) = watches => Feed::Watch(i, result),
                _ = tokio::time::sleep_until(deadline) => Feed::Expired,
            }
        }
    }
}
