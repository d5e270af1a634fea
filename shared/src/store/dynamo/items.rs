//! The single-table layout: how rooms, members, viewers and events are keyed and encoded.
//!
//! ```text
//! item      pk                          sk               notes
//! room      ROOM#{type}#{roomID}        META             state, info, creator, created, custom, seq, ver, epoch
//! member    ROOM#{type}#{roomID}        MEMBER#{userID}  epoch, ord, name, avatar, stream, push, joined, until
//! viewer    ROOM#{type}#{roomID}        AUD#{userID}     epoch, info, joined, until
//! event     EVENTS#{type}#{roomID}      {seq:020}        at, body (the Event as JSON)
//! GSI list  gsi1pk = LIST#{type}        gsi1sk = {created:013}#{roomID}      active rooms only
//! GSI due   gsi2pk = DUE#{shard}        gsi2sk = {deadline:013}              members, viewers, inactive rooms
//! GSI stream gsi3pk = STREAM#{stream}                                        members
//! ```
//!
//! A member's `slive` (optional, 0 when absent) is when the relay's last report that its
//! stream is live runs out.
//!
//! `ttl` (epoch seconds) is garbage collection only: nothing reads it.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;

use crate::model::{Audience, EVENT_RETENTION_MS, Event, Member, RoomKey, RoomType};
use crate::store::StoreError;

pub type Item = HashMap<String, AttributeValue>;

pub const META: &str = "META";
pub const MEMBER_PREFIX: &str = "MEMBER#";
pub const AUDIENCE_PREFIX: &str = "AUD#";
pub const GSI_LIST: &str = "list";
pub const GSI_DUE: &str = "due";
pub const GSI_STREAM: &str = "stream";
/// Partitions of the deadline index: each takes ~1,000 writes/s, so 16 carry the heartbeats of
/// ~80,000 members beating every 5 s. The sweeper reads each once per run.
pub const DUE_SHARDS: u32 = 16;
/// Closed rooms keep their slot (event numbering) this long.
const TOMBSTONE_TTL_SECS: u64 = 7 * 86_400;
/// Expired entries linger this long past their deadline before TTL may delete them.
const GRACE_TTL_SECS: u64 = 86_400;

pub fn room_pk(key: &RoomKey) -> String {
    format!("ROOM#{}#{}", key.room_type.as_path(), key.room_id)
}

pub fn events_pk(key: &RoomKey) -> String {
    format!("EVENTS#{}#{}", key.room_type.as_path(), key.room_id)
}

pub fn key_of_room_pk(pk: &str) -> Option<RoomKey> {
    let rest = pk.strip_prefix("ROOM#")?;
    let (room_type, room_id) = rest.split_once('#')?;
    Some(RoomKey::new(RoomType::from_path(room_type)?, room_id))
}

pub fn stream_pk(stream_id: &str) -> String {
    format!("STREAM#{stream_id}")
}

pub fn seq_sk(seq: u64) -> String {
    format!("{seq:020}")
}

pub fn list_pk(room_type: RoomType) -> String {
    format!("LIST#{}", room_type.as_path())
}

fn due_pk(pk: &str) -> String {
    // FNV-1a: stable across processes and versions, unlike the std hasher.
    let hash = pk.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    format!("DUE#{}", hash % DUE_SHARDS)
}

pub fn due_shard_pks() -> impl Iterator<Item = String> {
    (0..DUE_SHARDS).map(|s| format!("DUE#{s}"))
}

pub fn deadline_sk(deadline_ms: u64) -> String {
    format!("{deadline_ms:013}")
}

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

pub fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v),
        _ => Err(corrupt(&format!("attribute {name} is not a string"))),
    }
}

pub fn get_n(item: &Item, name: &str) -> Result<u64, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v
            .parse()
            .map_err(|_| corrupt(&format!("attribute {name} is not a u64"))),
        _ => Err(corrupt(&format!("attribute {name} is not a number"))),
    }
}

fn opt_s(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    }
}

/// The room item as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaItem {
    pub state: MetaState,
    pub room_info: String,
    pub creator: Option<String>,
    pub created_at_ms: u64,
    pub custom: BTreeMap<String, i64>,
    pub last_seq: u64,
    /// Bumped by every write to the room: the condition that makes a write atomic.
    pub version: u64,
    /// Bumped each time the id starts a new room: entries of other epochs are leftovers.
    pub epoch: u64,
    /// `create_room` asked for the room to be recorded (`rec`, present only when true).
    pub record: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaState {
    Inactive,
    Active,
    Closed,
}

impl MetaState {
    fn as_str(self) -> &'static str {
        match self {
            MetaState::Inactive => "inactive",
            MetaState::Active => "active",
            MetaState::Closed => "closed",
        }
    }
}

impl MetaItem {
    pub fn encode(&self, key: &RoomKey, now_ms: u64) -> Item {
        let pk = room_pk(key);
        let mut item = Item::from([
            ("pk".into(), s(&pk)),
            ("sk".into(), s(META)),
            ("state".into(), s(self.state.as_str())),
            ("info".into(), s(&self.room_info)),
            ("created".into(), n(self.created_at_ms)),
            (
                "custom".into(),
                s(serde_json::to_string(&self.custom).expect("a map of integers serialises")),
            ),
            ("seq".into(), n(self.last_seq)),
            ("ver".into(), n(self.version)),
            ("epoch".into(), n(self.epoch)),
        ]);
        if let Some(creator) = &self.creator {
            item.insert("creator".into(), s(creator));
        }
        if self.record {
            item.insert("rec".into(), AttributeValue::Bool(true));
        }
        match self.state {
            MetaState::Active => {
                item.insert("gsi1pk".into(), s(list_pk(key.room_type)));
                item.insert(
                    "gsi1sk".into(),
                    s(format!("{:013}#{}", self.created_at_ms, key.room_id)),
                );
            }
            MetaState::Inactive => {
                let due = self.created_at_ms + crate::model::INACTIVE_ROOM_RECLAIM_MS;
                item.insert("gsi2pk".into(), s(due_pk(&pk)));
                item.insert("gsi2sk".into(), s(deadline_sk(due)));
                item.insert("ttl".into(), n(due / 1000 + GRACE_TTL_SECS));
            }
            MetaState::Closed => {
                item.insert("ttl".into(), n(now_ms / 1000 + TOMBSTONE_TTL_SECS));
            }
        }
        item
    }

    pub fn decode(item: &Item) -> Result<Self, StoreError> {
        let state = match get_s(item, "state")? {
            "inactive" => MetaState::Inactive,
            "active" => MetaState::Active,
            "closed" => MetaState::Closed,
            other => return Err(corrupt(&format!("room state {other:?}"))),
        };
        Ok(Self {
            state,
            room_info: get_s(item, "info")?.to_owned(),
            creator: opt_s(item, "creator"),
            created_at_ms: get_n(item, "created")?,
            custom: serde_json::from_str(get_s(item, "custom")?)
                .map_err(|_| corrupt("custom is not a JSON map"))?,
            last_seq: get_n(item, "seq")?,
            version: get_n(item, "ver")?,
            epoch: get_n(item, "epoch")?,
            record: matches!(item.get("rec"), Some(AttributeValue::Bool(true))),
        })
    }
}

/// Attributes that put an entry with a presence deadline into the due index.
fn with_deadline(mut item: Item, pk: &str, deadline_ms: u64) -> Item {
    item.insert("gsi2pk".into(), s(due_pk(pk)));
    let (due, ttl) = deadline_attributes(deadline_ms);
    item.insert("gsi2sk".into(), due);
    item.insert("ttl".into(), ttl);
    item
}

/// The due-index sort key and the TTL of an entry present until `deadline_ms` (a heartbeat
/// rewrites both; the shard does not change with the deadline).
pub fn deadline_attributes(deadline_ms: u64) -> (AttributeValue, AttributeValue) {
    (
        s(deadline_sk(deadline_ms)),
        n(deadline_ms / 1000 + GRACE_TTL_SECS),
    )
}

pub fn encode_member(key: &RoomKey, m: &Member, epoch: u64, ord: u64) -> Item {
    let pk = room_pk(key);
    let item = Item::from([
        ("pk".into(), s(&pk)),
        ("sk".into(), s(format!("{MEMBER_PREFIX}{}", m.user_id))),
        ("epoch".into(), n(epoch)),
        ("ord".into(), n(ord)),
        ("uid".into(), s(&m.user_id)),
        ("name".into(), s(&m.user_name)),
        ("avatar".into(), s(&m.user_avatar)),
        ("stream".into(), s(&m.stream_id)),
        ("push".into(), s(&m.push_url)),
        ("joined".into(), n(m.joined_at_ms)),
        ("until".into(), n(m.alive_until_ms)),
        ("slive".into(), n(m.stream_live_until_ms)),
        ("gsi3pk".into(), s(stream_pk(&m.stream_id))),
    ]);
    with_deadline(item, &pk, m.alive_until_ms)
}

pub fn decode_member(item: &Item) -> Result<(Member, u64, u64), StoreError> {
    let member = Member {
        user_id: get_s(item, "uid")?.to_owned(),
        user_name: get_s(item, "name")?.to_owned(),
        user_avatar: get_s(item, "avatar")?.to_owned(),
        stream_id: get_s(item, "stream")?.to_owned(),
        push_url: get_s(item, "push")?.to_owned(),
        joined_at_ms: get_n(item, "joined")?,
        alive_until_ms: get_n(item, "until")?,
        stream_live_until_ms: match item.get("slive") {
            None => 0,
            Some(_) => get_n(item, "slive")?,
        },
    };
    Ok((member, get_n(item, "epoch")?, get_n(item, "ord")?))
}

pub fn encode_audience(key: &RoomKey, a: &Audience, epoch: u64, ord: u64) -> Item {
    let pk = room_pk(key);
    let item = Item::from([
        ("pk".into(), s(&pk)),
        ("sk".into(), s(format!("{AUDIENCE_PREFIX}{}", a.user_id))),
        ("epoch".into(), n(epoch)),
        ("ord".into(), n(ord)),
        ("uid".into(), s(&a.user_id)),
        ("info".into(), s(&a.user_info)),
        ("joined".into(), n(a.joined_at_ms)),
        ("until".into(), n(a.alive_until_ms)),
    ]);
    with_deadline(item, &pk, a.alive_until_ms)
}

pub fn decode_audience(item: &Item) -> Result<(Audience, u64, u64), StoreError> {
    let audience = Audience {
        user_id: get_s(item, "uid")?.to_owned(),
        user_info: get_s(item, "info")?.to_owned(),
        joined_at_ms: get_n(item, "joined")?,
        alive_until_ms: get_n(item, "until")?,
    };
    Ok((audience, get_n(item, "epoch")?, get_n(item, "ord")?))
}

pub fn encode_event(key: &RoomKey, event: &Event) -> Item {
    Item::from([
        ("pk".into(), s(events_pk(key))),
        ("sk".into(), s(seq_sk(event.seq))),
        ("at".into(), n(event.at_ms)),
        (
            "body".into(),
            s(serde_json::to_string(event).expect("events serialise")),
        ),
        (
            "ttl".into(),
            n((event.at_ms + EVENT_RETENTION_MS) / 1000 + GRACE_TTL_SECS),
        ),
    ])
}

pub fn decode_event(item: &Item) -> Result<Event, StoreError> {
    serde_json::from_str(get_s(item, "body")?).map_err(|_| corrupt("event body is not an event"))
}
