//! Room events from the store to the WebSocket connections of this process.
//!
//! The store tells the [`EventHub`] of every write that recorded events (an in-process change
//! channel); the hub's one dispatcher task reads the new events of rooms that have listeners,
//! once per change, and broadcasts them to those rooms' connections. Writes made by other
//! processes (another gateway on the same DynamoDB table) are not seen here; the cloud
//! delivers through the table's stream instead.

use std::collections::HashMap;
use std::sync::Arc;

use hyper_tungstenite::tungstenite::Utf8Bytes;
use parking_lot::Mutex;
use rtcroom_shared::model::{Event, RoomKey};
use rtcroom_shared::room_events;
use rtcroom_shared::rooms::{MAX_EVENTS_PAGE, RoomError};
use tokio::sync::{Semaphore, broadcast, mpsc};

use crate::app::App;

/// Events a room's broadcast holds for slow connections before they must read the store.
const BUFFER: usize = 1024;

/// An event as it goes out: serialised once, shared by every connection of the room.
pub struct Outgoing {
    pub event: Event,
    pub text: Utf8Bytes,
}

struct Feed {
    tx: broadcast::Sender<Arc<Outgoing>>,
    /// The last event broadcast.
    cursor: u64,
}

pub struct EventHub {
    pub(super) app: Arc<App>,
    feeds: Mutex<HashMap<RoomKey, Feed>>,
    pub(super) connections: Arc<Semaphore>,
    /// Open connections per user, against `RTCROOM_WS_MAX_PER_USER`.
    per_user: Arc<Mutex<HashMap<String, usize>>>,
}

/// One user's place among its connections; given back when the connection ends.
pub struct UserSlot {
    per_user: Arc<Mutex<HashMap<String, usize>>>,
    user_id: String,
}

impl Drop for UserSlot {
    fn drop(&mut self) {
        let mut per_user = self.per_user.lock();
        if let Some(n) = per_user.get_mut(&self.user_id) {
            *n -= 1;
            if *n == 0 {
                per_user.remove(&self.user_id);
            }
        }
    }
}

impl EventHub {
    /// Listens to the app's store and starts the dispatcher (call inside a tokio runtime).
    pub fn start(app: Arc<App>) -> Arc<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        app.rooms.store().on_change(Arc::new(move |key, seq| {
            let _ = tx.send((key.clone(), seq));
        }));
        let hub = Arc::new(Self {
            connections: Arc::new(Semaphore::new(app.config.max_connections)),
            app,
            feeds: Mutex::new(HashMap::new()),
            per_user: Arc::default(),
        });
        tokio::spawn(dispatch(hub.clone(), rx));
        hub
    }

    /// Listens to a room: reads its last event and subscribes to its broadcast (creating the
    /// broadcast at that event if nobody listened yet). Every event after `last_seq` reaches
    /// the subscription, through the broadcast or, if it lags, through the store.
    pub async fn listen(self: &Arc<Self>, key: &RoomKey) -> Result<Subscription, RoomError> {
        let last_seq = self.app.rooms.store().last_seq(key).await?;
        let rx = {
            let mut feeds = self.feeds.lock();
            let feed = feeds.entry(key.clone()).or_insert_with(|| Feed {
                tx: broadcast::channel(BUFFER).0,
                cursor: last_seq,
            });
            feed.tx.subscribe()
        };
        Ok(Subscription {
            hub: self.clone(),
            key: key.clone(),
            last_seq,
            rx: Some(rx),
        })
    }

    /// A place for one more connection of `user_id`, unless it holds its most already.
    pub fn user_slot(&self, user_id: &str) -> Option<UserSlot> {
        let mut per_user = self.per_user.lock();
        let n = per_user.entry(user_id.to_owned()).or_insert(0);
        if *n >= self.app.config.server_limits.ws_max_per_user {
            return None;
        }
        *n += 1;
        Some(UserSlot {
            per_user: self.per_user.clone(),
            user_id: user_id.to_owned(),
        })
    }

    /// Forgets a room's broadcast once nobody listens.
    fn release(&self, key: &RoomKey) {
        let mut feeds = self.feeds.lock();
        if feeds.get(key).is_some_and(|f| f.tx.receiver_count() == 0) {
            feeds.remove(key);
        }
    }
}

/// One listener of one room's broadcast; the broadcast is forgotten when its last listener
/// goes.
pub struct Subscription {
    hub: Arc<EventHub>,
    pub key: RoomKey,
    /// The room's last event when the subscription started.
    pub last_seq: u64,
    rx: Option<broadcast::Receiver<Arc<Outgoing>>>,
}

impl Subscription {
    /// The next broadcast event (cancel-safe).
    pub async fn recv(&mut self) -> Result<Arc<Outgoing>, broadcast::error::RecvError> {
        self.rx.as_mut().expect("taken only on drop").recv().await
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        drop(self.rx.take());
        self.hub.release(&self.key);
    }
}

/// Reads each changed room's new events once and broadcasts them.
async fn dispatch(hub: Arc<EventHub>, mut changes: mpsc::UnboundedReceiver<(RoomKey, u64)>) {
    while let Some((key, last_seq)) = changes.recv().await {
        let Some(mut cursor) = hub.feeds.lock().get(&key).map(|f| f.cursor) else {
            continue;
        };
        while cursor < last_seq {
            let events = match hub
                .app
                .rooms
                .store()
                .events_since(&key, cursor, MAX_EVENTS_PAGE)
                .await
            {
                Ok(events) if !events.is_empty() => events,
                Ok(_) => break,
                Err(e) => {
                    // The connections read the gap themselves when they next hear of the room.
                    tracing::warn!(error = %e, room = %key.room_id, "events not read for /ws");
                    break;
                }
            };
            let mut feeds = hub.feeds.lock();
            let Some(feed) = feeds.get_mut(&key) else {
                break;
            };
            for event in events {
                cursor = event.seq;
                feed.cursor = feed.cursor.max(event.seq);
                let text = room_events::wire(&key.room_id, &event).to_string().into();
                let _ = feed.tx.send(Arc::new(Outgoing { event, text }));
            }
        }
    }
}
