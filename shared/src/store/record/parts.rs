//! What a store sees of a record: it builds one from what it loaded, runs the rules on it
//! ([`RoomRecord::write`]), and reads back what to keep or write. Nothing here changes a room.

use std::collections::{BTreeMap, VecDeque};

use super::{RoomRecord, RoomState};
use crate::model::{Audience, Event, Member};

impl RoomRecord {
    /// A record as a store read it: the room (if any) and its event numbering. Events are not
    /// loaded; the rules append the ones a write records.
    pub fn loaded(state: Option<RoomState>, last_seq: u64) -> Self {
        Self {
            state,
            last_seq,
            ..Self::default()
        }
    }

    pub fn state(&self) -> Option<&RoomState> {
        self.state.as_ref()
    }

    /// The sequence number of the last event recorded (numbering outlives the room).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The events held, oldest first.
    pub fn events(&self) -> &VecDeque<Event> {
        &self.events
    }

    /// Gives back what the event log no longer needs: after an ended room's trim.
    pub fn compact(&mut self) {
        self.events.shrink_to_fit();
    }
}

impl RoomState {
    /// A room as a store read it. `members` and `audiences` in join order.
    pub fn loaded(
        room_info: String,
        creator: Option<String>,
        created_at_ms: u64,
        custom: BTreeMap<String, i64>,
        members: Vec<Member>,
        audiences: Vec<Audience>,
    ) -> Self {
        Self {
            room_info,
            creator,
            created_at_ms,
            custom,
            members,
            audiences,
            record: false,
        }
    }

    /// The room as loaded, with whether `create_room` asked for it to be recorded.
    pub fn with_record(mut self, record: bool) -> Self {
        self.record = record;
        self
    }

    /// Whether `create_room` asked for it to be recorded.
    pub fn record(&self) -> bool {
        self.record
    }

    pub fn room_info(&self) -> &str {
        &self.room_info
    }

    /// The creator, once someone joined (`None`: created and still inactive).
    pub fn creator(&self) -> Option<&str> {
        self.creator.as_deref()
    }

    pub fn created_at_ms(&self) -> u64 {
        self.created_at_ms
    }

    pub fn custom(&self) -> &BTreeMap<String, i64> {
        &self.custom
    }

    /// Entries in join order, expired ones not yet evicted included.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    pub fn audiences(&self) -> &[Audience] {
        &self.audiences
    }
}
