//! Reading one room's partition (room item, members, viewers) for a write or a read: what
//! the room rules run on, and what a commit compares against.

use std::collections::HashMap;

use super::DynamoStore;
use super::items::*;
use crate::model::RoomKey;
use crate::store::StoreResult;
use crate::store::record::{RoomRecord, RoomState};

/// A room partition as read.
pub(super) struct Loaded {
    pub(super) record: RoomRecord,
    pub(super) meta: Option<MetaItem>,
    /// Join order of the entries read, by user.
    pub(super) member_ord: HashMap<String, u64>,
    pub(super) audience_ord: HashMap<String, u64>,
    /// Entries of another epoch (leftovers of an earlier room with the same id).
    pub(super) stale: Vec<String>,
}

impl DynamoStore {
    /// Reads a room's partition (room item, members, viewers) in one consistent Query.
    pub(super) async fn load(&self, key: &RoomKey) -> StoreResult<Loaded> {
        let pk = room_pk(key);
        let items = self.query_partition(pk.clone(), true).await?;
        let meta = items
            .iter()
            .find(|i| matches!(i.get("sk"), Some(v) if v.as_s().is_ok_and(|s| s == META)))
            .map(MetaItem::decode)
            .transpose()?;
        let epoch = meta.as_ref().map_or(0, |m| m.epoch);
        let present = meta.as_ref().is_some_and(|m| m.state != MetaState::Closed);
        let mut members = Vec::new();
        let mut audiences = Vec::new();
        let mut stale = Vec::new();
        for item in &items {
            let sk = get_s(item, "sk")?;
            if sk.starts_with(MEMBER_PREFIX) {
                let (member, item_epoch, ord) = decode_member(item)?;
                if present && item_epoch == epoch {
                    members.push((ord, member));
                } else {
                    stale.push(sk.to_owned());
                }
            } else if sk.starts_with(AUDIENCE_PREFIX) {
                let (audience, item_epoch, ord) = decode_audience(item)?;
                if present && item_epoch == epoch {
                    audiences.push((ord, audience));
                } else {
                    stale.push(sk.to_owned());
                }
            }
        }
        members.sort_by(|a, b| (a.0, &a.1.user_id).cmp(&(b.0, &b.1.user_id)));
        audiences.sort_by(|a, b| (a.0, &a.1.user_id).cmp(&(b.0, &b.1.user_id)));
        let member_ord = members
            .iter()
            .map(|(o, m)| (m.user_id.clone(), *o))
            .collect();
        let audience_ord = audiences
            .iter()
            .map(|(o, a)| (a.user_id.clone(), *o))
            .collect();
        let state = meta.as_ref().filter(|_| present).map(|m| {
            RoomState::loaded(
                m.room_info.clone(),
                m.creator.clone().filter(|_| m.state == MetaState::Active),
                m.created_at_ms,
                m.custom.clone(),
                members.into_iter().map(|(_, m)| m).collect(),
                audiences.into_iter().map(|(_, a)| a).collect(),
            )
            .with_record(m.record)
        });
        Ok(Loaded {
            record: RoomRecord::loaded(state, meta.as_ref().map_or(0, |m| m.last_seq)),
            meta,
            member_ord,
            audience_ord,
            stale,
        })
    }
}
