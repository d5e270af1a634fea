//! The index of recording segments on DynamoDB (see `store::recordings`):
//!
//! ```text
//! pk = RECORDINGS#{type}#{roomID}, sk = SEG#{start ms, 20 digits}#{path}   data (JSON), keep, ttl
//! pk = RECSTREAM#{stream},         sk = META                                type, room, creator, keep, ttl
//! ```
//!
//! Filing a segment is one UpdateItem (the same path replaces itself: the relay retries); a
//! room's list is one Query of its partition (paged), oldest first, of which
//! `get_recordings` answers the newest [`MAX_RECORDINGS_PER_ROOM`]. TTL deletes lapsed items;
//! reads skip those TTL has not reached yet.

use std::sync::atomic::Ordering;

use super::DynamoStore;
use super::items::{META, get_n, get_s, n, s};
use super::unavailable;
use crate::model::{RoomKey, RoomType};
use crate::store::recordings::{MAX_RECORDINGS_PER_ROOM, RecordedStream, Recording};
use crate::store::{StoreError, StoreResult};

fn recordings_pk(key: &RoomKey) -> String {
    format!("RECORDINGS#{}#{}", key.room_type.as_path(), key.room_id)
}

fn stream_pk(stream: &str) -> String {
    format!("RECSTREAM#{stream}")
}

impl DynamoStore {
    pub(super) async fn put_recorded_stream(
        &self,
        stream: &str,
        bound: &RecordedStream,
        keep_until_ms: u64,
    ) -> StoreResult<()> {
        self.counters.update_item.fetch_add(1, Ordering::Relaxed);
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(stream_pk(stream)))
            .key("sk", s(META))
            .update_expression(
                "SET #type = :type, #room = :room, #creator = :creator, #created = :created, \
                 #keep = :keep, #ttl = :ttl",
            )
            .expression_attribute_names("#created", "created")
            .expression_attribute_values(":created", n(bound.room_created_ms))
            .expression_attribute_names("#type", "type")
            .expression_attribute_names("#room", "room")
            .expression_attribute_names("#creator", "creator")
            .expression_attribute_names("#keep", "keep")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":type", s(bound.key.room_type.as_path()))
            .expression_attribute_values(":room", s(bound.key.room_id.clone()))
            .expression_attribute_values(":creator", s(bound.creator.clone()))
            .expression_attribute_values(":keep", n(keep_until_ms))
            .expression_attribute_values(":ttl", n(keep_until_ms / 1000 + 1))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    pub(super) async fn get_recorded_stream(
        &self,
        stream: &str,
        now_ms: u64,
    ) -> StoreResult<Option<RecordedStream>> {
        let Some(item) = self.get_consistent(stream_pk(stream), META).await? else {
            return Ok(None);
        };
        if get_n(&item, "keep")? <= now_ms {
            return Ok(None);
        }
        let room_type = RoomType::from_path(get_s(&item, "type")?)
            .ok_or_else(|| StoreError::Corrupt("recorded stream's room type".into()))?;
        Ok(Some(RecordedStream {
            key: RoomKey::new(room_type, get_s(&item, "room")?),
            creator: get_s(&item, "creator")?.to_owned(),
            room_created_ms: get_n(&item, "created")?,
        }))
    }

    pub(super) async fn put_recording(
        &self,
        key: &RoomKey,
        recording: &Recording,
        keep_until_ms: u64,
    ) -> StoreResult<bool> {
        let data = serde_json::to_string(recording).expect("a recording serialises");
        self.counters.update_item.fetch_add(1, Ordering::Relaxed);
        let updated = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(recordings_pk(key)))
            .key(
                "sk",
                s(format!("SEG#{:020}#{}", recording.start_ms, recording.path)),
            )
            .update_expression("SET #data = :data, #keep = :keep, #ttl = :ttl")
            .expression_attribute_names("#data", "data")
            .expression_attribute_names("#keep", "keep")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":data", s(data))
            .expression_attribute_values(":keep", n(keep_until_ms))
            .expression_attribute_values(":ttl", n(keep_until_ms / 1000 + 1))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable)?;
        // Nothing was there before: a new segment (not the relay's retry).
        Ok(updated.attributes.is_none_or(|old| old.is_empty()))
    }

    pub(super) async fn query_recordings(
        &self,
        key: &RoomKey,
        now_ms: u64,
    ) -> StoreResult<Vec<Recording>> {
        let items = self.query_partition(recordings_pk(key), false).await?;
        let mut list = Vec::with_capacity(items.len());
        for item in &items {
            if get_n(item, "keep")? <= now_ms {
                continue;
            }
            let recording: Recording = serde_json::from_str(get_s(item, "data")?)
                .map_err(|e| StoreError::Corrupt(format!("recording: {e}")))?;
            list.push(recording);
        }
        let excess = list.len().saturating_sub(MAX_RECORDINGS_PER_ROOM);
        list.drain(..excess);
        Ok(list)
    }
}
