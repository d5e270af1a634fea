//! Committing a room write: what changed between the partition as read and the record after
//! the rule, as one conditional transaction (and the batch of leftovers that do not fit).

use std::collections::HashMap;

use super::load::Loaded;
use super::*;

impl DynamoStore {
    /// Writes what changed between `loaded` and `record`, conditioned on the version read.
    pub(super) async fn commit(
        &self,
        key: &RoomKey,
        loaded: &Loaded,
        record: &RoomRecord,
        now_ms: u64,
    ) -> Result<(), WriteError> {
        let before = &loaded.record;
        if record.state() == before.state()
            && record.last_seq() == before.last_seq()
            && loaded.stale.is_empty()
        {
            return Ok(());
        }
        let old_epoch = loaded.meta.as_ref().map_or(0, |m| m.epoch);
        let epoch = if before.state().is_none() && record.state().is_some() {
            old_epoch + 1
        } else {
            old_epoch
        };
        let meta = match record.state() {
            Some(state) => MetaItem {
                state: if state.creator().is_some() {
                    MetaState::Active
                } else {
                    MetaState::Inactive
                },
                room_info: state.room_info().to_owned(),
                creator: state.creator().map(str::to_owned),
                created_at_ms: state.created_at_ms(),
                custom: state.custom().clone(),
                last_seq: record.last_seq(),
                version: loaded.meta.as_ref().map_or(0, |m| m.version) + 1,
                epoch,
                record: state.record(),
            },
            None => MetaItem {
                state: MetaState::Closed,
                room_info: String::new(),
                creator: None,
                created_at_ms: loaded.meta.as_ref().map_or(now_ms, |m| m.created_at_ms),
                custom: Default::default(),
                last_seq: record.last_seq(),
                version: loaded.meta.as_ref().map_or(0, |m| m.version) + 1,
                epoch,
                record: false,
            },
        };
        let mut required = Vec::new();
        let mut movable_deletes = Vec::new();
        let meta_put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(meta.encode(key, now_ms)));
        let meta_put = match &loaded.meta {
            Some(m) => meta_put
                .condition_expression("ver = :ver")
                .expression_attribute_values(":ver", n(m.version)),
            None => meta_put.condition_expression("attribute_not_exists(pk)"),
        };
        required.push(
            TransactWriteItem::builder()
                .put(meta_put.build().expect("table and item are set"))
                .build(),
        );
        for event in record.events() {
            required.push(self.put_item(encode_event(key, event)));
        }
        let same_room = epoch == old_epoch && before.state().is_some();
        let (old_members, old_audiences) = match (before.state(), same_room) {
            (Some(s), true) => (s.members(), s.audiences()),
            _ => (&[][..], &[][..]),
        };
        if let Some(state) = record.state() {
            let order = |ords: &HashMap<String, u64>, user: &str| {
                ords.get(user)
                    .copied()
                    .filter(|_| same_room)
                    .unwrap_or(record.last_seq())
            };
            for m in changed(state.members(), old_members) {
                let ord = order(&loaded.member_ord, &m.user_id);
                required.push(self.put_item(encode_member(key, m, epoch, ord)));
            }
            for a in changed(state.audiences(), old_audiences) {
                let ord = order(&loaded.audience_ord, &a.user_id);
                required.push(self.put_item(encode_audience(key, a, epoch, ord)));
            }
        }
        // Entries gone from the room. While the room lives these deletes are part of the
        // change (an eviction must not be evicted twice); once it is closed they are
        // leftovers of a closed epoch that nobody reads, and may follow the transaction.
        let kept = |prefix: &str, user: &str| match record.state() {
            Some(s) if prefix == MEMBER_PREFIX => s.members().iter().any(|m| m.user_id == user),
            Some(s) => s.audiences().iter().any(|a| a.user_id == user),
            None => false,
        };
        let gone = before
            .state()
            .into_iter()
            .flat_map(|s| {
                s.members()
                    .iter()
                    .map(|m| (MEMBER_PREFIX, &m.user_id))
                    .chain(s.audiences().iter().map(|a| (AUDIENCE_PREFIX, &a.user_id)))
            })
            .filter(|(prefix, user)| !kept(prefix, user))
            .map(|(prefix, user)| format!("{prefix}{user}"));
        for sk in gone {
            if record.state().is_some() {
                required.push(self.delete_item(&room_pk(key), &sk));
            } else {
                movable_deletes.push(sk);
            }
        }
        movable_deletes.extend(loaded.stale.iter().cloned());
        if required.len() > MAX_TRANSACTION_ITEMS {
            return Err(WriteError::Failed(StoreError::Corrupt(format!(
                "a change to room {} needs {} items in one transaction",
                key.room_id,
                required.len()
            ))));
        }
        let room = MAX_TRANSACTION_ITEMS - required.len();
        let overflow = movable_deletes.split_off(movable_deletes.len().min(room));
        for sk in &movable_deletes {
            required.push(self.delete_item(&room_pk(key), sk));
        }
        self.counters.transact_write.fetch_add(1, Ordering::Relaxed);
        let sent = self
            .client
            .transact_write_items()
            .set_transact_items(Some(required))
            .send()
            .await;
        if let Err(e) = sent {
            let conflict = match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                    cancelled.cancellation_reasons().iter().any(|r| {
                        matches!(
                            r.code(),
                            Some("ConditionalCheckFailed" | "TransactionConflict")
                        )
                    })
                }
                Some(TransactWriteItemsError::TransactionInProgressException(_)) => true,
                _ => false,
            };
            return Err(if conflict {
                WriteError::Conflict
            } else {
                WriteError::Failed(unavailable(e))
            });
        }
        if !overflow.is_empty() {
            self.delete_leftovers(key, overflow).await;
        }
        Ok(())
    }

    /// Best effort: leftovers of a closed room are invisible to every reader (their epoch is
    /// not the room's), so a failure here only leaves garbage for TTL and the next write.
    pub(super) async fn delete_leftovers(&self, key: &RoomKey, sks: Vec<String>) {
        for chunk in sks.chunks(25) {
            let requests = chunk
                .iter()
                .map(|sk| {
                    let delete = DeleteRequest::builder()
                        .key("pk", s(room_pk(key)))
                        .key("sk", s(sk))
                        .build()
                        .expect("key is set");
                    WriteRequest::builder().delete_request(delete).build()
                })
                .collect();
            self.counters.batch_write.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = self
                .client
                .batch_write_item()
                .request_items(&self.table, requests)
                .send()
                .await
            {
                tracing::warn!(room = %key.room_id, error = %DisplayErrorContext(&e), "leftover entries not deleted");
            }
        }
    }

    pub(super) fn put_item(&self, item: Item) -> TransactWriteItem {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .build()
            .expect("table and item are set");
        TransactWriteItem::builder().put(put).build()
    }

    pub(super) fn delete_item(&self, pk: &str, sk: &str) -> TransactWriteItem {
        let delete = Delete::builder()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .build()
            .expect("table and key are set");
        TransactWriteItem::builder().delete(delete).build()
    }
}
