//! The embedded store's index of recording segments and recorded streams (see
//! `store::recordings`). Entries lapse at their keep time; each write drops what has lapsed
//! in what it touches, and a full pass runs when the index has doubled since the last one, so
//! lapsed entries never outnumber live ones for long.

use std::collections::HashMap;

use crate::model::RoomKey;
use crate::store::recordings::{MAX_RECORDINGS_PER_ROOM, RecordedStream, Recording};

#[derive(Debug, Default)]
pub(super) struct RecordingIndex {
    rooms: HashMap<RoomKey, Vec<(Recording, u64)>>,
    streams: HashMap<String, (RecordedStream, u64)>,
    /// Entries after the last full pass.
    size_after_pass: usize,
}

impl RecordingIndex {
    fn size(&self) -> usize {
        self.rooms.values().map(Vec::len).sum::<usize>() + self.streams.len()
    }

    fn maybe_pass(&mut self, now_ms: u64) {
        if self.size() < 2 * self.size_after_pass.max(1_024) {
            return;
        }
        self.streams.retain(|_, (_, until)| *until > now_ms);
        self.rooms.retain(|_, list| {
            list.retain(|(_, until)| *until > now_ms);
            !list.is_empty()
        });
        self.size_after_pass = self.size();
    }

    pub(super) fn bind(&mut self, stream: &str, bound: &RecordedStream, until: u64, now_ms: u64) {
        self.streams
            .insert(stream.to_owned(), (bound.clone(), until));
        self.maybe_pass(now_ms);
    }

    pub(super) fn stream(&self, stream: &str, now_ms: u64) -> Option<RecordedStream> {
        self.streams
            .get(stream)
            .filter(|(_, until)| *until > now_ms)
            .map(|(bound, _)| bound.clone())
    }

    /// Whether the segment was new.
    pub(super) fn add(
        &mut self,
        key: &RoomKey,
        recording: &Recording,
        until: u64,
        now_ms: u64,
    ) -> bool {
        let list = self.rooms.entry(key.clone()).or_default();
        let new = !list.iter().any(|(r, _)| r.path == recording.path);
        list.retain(|(r, until)| *until > now_ms && r.path != recording.path);
        list.push((recording.clone(), until));
        list.sort_by(|a, b| (a.0.start_ms, &a.0.path).cmp(&(b.0.start_ms, &b.0.path)));
        if list.len() > MAX_RECORDINGS_PER_ROOM {
            let excess = list.len() - MAX_RECORDINGS_PER_ROOM;
            list.drain(..excess);
        }
        self.maybe_pass(now_ms);
        new
    }

    pub(super) fn list(&self, key: &RoomKey, now_ms: u64) -> Vec<Recording> {
        self.rooms.get(key).map_or_else(Vec::new, |list| {
            list.iter()
                .filter(|(_, until)| *until > now_ms)
                .map(|(r, _)| r.clone())
                .collect()
        })
    }
}
