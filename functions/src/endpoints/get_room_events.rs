//! The room's events after a sequence number, for clients without a WebSocket
//! (`spec/events.md`, EV-10).
//!
//! ```text
//! POST /weapp/{type}/get_room_events?userID=&token=    body: {"roomID":"r1","since":40}
//! → {"code":0,"message":"请求成功","lastSeq":42,
//!    "events":[{"seq":41,"roomID":"r1","type":"memberJoined","at":..,"data":{..}}, ..]}
//! errors: 1 missing roomID, since not a number · 3 no such room
//!         5 the caller is not a present member or viewer
//! ```
//!
//! At most 500 events per call: call again with the last `seq`. Without `since`, no events,
//! only `lastSeq` (where to start). A `since` older than the events kept starts the list with
//! a `resync` event. Link-mic messages to other users are left out.

use rtcroom_shared::room_events;
use rtcroom_shared::rooms::MAX_EVENTS_PAGE;

use super::room_key;
use super::Call;
use crate::api::{ApiError, Params, Reply};

pub struct GetRoomEvents {
    room_id: String,
    since: Option<u64>,
}

impl GetRoomEvents {
    pub fn parse(body: &Params) -> Result<Self, ApiError> {
        Ok(Self {
            room_id: body.id("roomID")?,
            since: body.opt_u64("since")?,
        })
    }

    pub async fn apply(self, call: &Call<'_>) -> Result<Reply, ApiError> {
        let key = room_key(call, self.room_id);
        let page = call
            .app
            .rooms
            .events(&call.session, &key, self.since, MAX_EVENTS_PAGE)
            .await?;
        let now = call.app.rooms.clock().now_ms();
        let resync = page
            .resync
            .then(|| room_events::resync(&key.room_id, page.last_seq, now));
        let list: Vec<_> = resync
            .into_iter()
            .chain(page.events.iter().map(|e| room_events::wire(&key.room_id, e)))
            .collect();
        Ok(Reply::ok()
            .with("lastSeq", page.last_seq)
            .with("events", list))
    }
}
