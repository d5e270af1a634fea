//! Single-item writes that need no room read: heartbeats and relay reports on a member's own
//! item, and the due index the sweeper reads.

use super::*;
use crate::store::record::heartbeat_deadline;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;

/// What a conditional update on one member item did.
pub(super) enum MemberUpdate {
    /// Applied; the updated attributes' old values when they were asked for.
    Applied(Item),
    /// The condition failed; the item as it is, if it exists.
    Refused(Option<Item>),
}

impl MemberUpdate {
    /// The old values, when the update applied.
    fn applied(self) -> Option<Item> {
        match self {
            MemberUpdate::Applied(old) => Some(old),
            MemberUpdate::Refused(_) => None,
        }
    }
}

impl DynamoStore {
    /// One conditional UpdateItem on a member's own item. `old` asks for the updated
    /// attributes' old values (the heartbeat, the hottest write, does not); a refusal always
    /// brings the item back, so that the rule can be asked of it. `#until`, `#ttl` and
    /// `#stream` name those attributes.
    pub(super) async fn update_member<const N: usize>(
        &self,
        pk: &str,
        sk: &str,
        update: &str,
        condition: &str,
        values: [(&str, AttributeValue); N],
        old: bool,
    ) -> StoreResult<MemberUpdate> {
        self.counters.update_item.fetch_add(1, Ordering::Relaxed);
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .update_expression(update)
            .condition_expression(condition)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if old {
            request = request.return_values(ReturnValue::UpdatedOld);
        }
        for name in ["until", "ttl", "stream"] {
            if update.contains(&format!("#{name}")) || condition.contains(&format!("#{name}")) {
                request = request.expression_attribute_names(format!("#{name}"), name);
            }
        }
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        match request.send().await {
            Ok(output) => Ok(MemberUpdate::Applied(output.attributes.unwrap_or_default())),
            Err(e) => match e.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(refused) => {
                    Ok(MemberUpdate::Refused(refused.item))
                }
                e => Err(StoreError::Unavailable(DisplayErrorContext(&e).to_string())),
            },
        }
    }

    /// The heartbeat rule ([`heartbeat_deadline`]) as one conditional write: the deadline
    /// moves only forward and only while the member is alive. When the condition fails, the
    /// rule is asked of the item as it is: a member whose deadline is already later (a relay
    /// report extended it) is still here, and keeps that deadline. (That rare case needs the
    /// item back with the refusal, `ReturnValuesOnConditionCheckFailure`: DynamoDB has it, and
    /// so do moto and DynamoDB Local of 2023 on.)
    pub(super) async fn heartbeat_member(
        &self,
        key: &RoomKey,
        user_id: &str,
        alive_until_ms: u64,
        now_ms: u64,
    ) -> StoreResult<bool> {
        let (due, ttl) = deadline_attributes(alive_until_ms);
        let update = self
            .update_member(
                &room_pk(key),
                &format!("{MEMBER_PREFIX}{user_id}"),
                "SET #until = :until, gsi2sk = :due, #ttl = :ttl",
                "attribute_exists(pk) AND #until > :now AND #until <= :until",
                [
                    (":until", n(alive_until_ms)),
                    (":due", due),
                    (":ttl", ttl),
                    (":now", n(now_ms)),
                ],
                false,
            )
            .await?;
        Ok(match update {
            MemberUpdate::Applied(_) => true,
            MemberUpdate::Refused(Some(item)) => {
                heartbeat_deadline(get_n(&item, "until")?, alive_until_ms, now_ms).is_some()
            }
            MemberUpdate::Refused(None) => false,
        })
    }

    /// Applies a relay report to one member item found through the stream index: `None` when
    /// it applied to no live member, else whether the stream's live state changed.
    pub(super) async fn report_member(
        &self,
        key: &RoomKey,
        pk: &str,
        sk: &str,
        stream_id: &str,
        report: StreamReport,
        now_ms: u64,
    ) -> StoreResult<Option<bool>> {
        let was_live = |old: &Item| get_n(old, "slive").is_ok_and(|until| now_ms < until);
        let live = "attribute_exists(pk) AND #until > :now AND #stream = :stream";
        let StreamReport::Live { keep_alive_ms } = report else {
            let update = self
                .update_member(
                    pk,
                    sk,
                    "SET slive = :zero",
                    live,
                    [
                        (":zero", n(0)),
                        (":now", n(now_ms)),
                        (":stream", s(stream_id)),
                    ],
                    true,
                )
                .await?;
            return Ok(update.applied().map(|old| was_live(&old)));
        };
        let until = now_ms + keep_alive_ms[key.room_type.index()];
        let (due, ttl) = deadline_attributes(until);
        // Keeps the member alive like a heartbeat (the same rule); when its deadline is
        // already later, only the stream's state changes.
        let extended = self
            .update_member(
                pk,
                sk,
                "SET #until = :until, slive = :until, gsi2sk = :due, #ttl = :ttl",
                &format!("{live} AND #until <= :until"),
                [
                    (":until", n(until)),
                    (":due", due),
                    (":ttl", ttl),
                    (":now", n(now_ms)),
                    (":stream", s(stream_id)),
                ],
                true,
            )
            .await?;
        match extended {
            MemberUpdate::Applied(old) => return Ok(Some(!was_live(&old))),
            MemberUpdate::Refused(Some(item))
                if get_s(&item, "stream").is_ok_and(|s| s == stream_id)
                    && heartbeat_deadline(get_n(&item, "until")?, until, now_ms).is_some() => {}
            MemberUpdate::Refused(_) => return Ok(None),
        }
        let update = self
            .update_member(
                pk,
                sk,
                "SET slive = :until",
                live,
                [
                    (":until", n(until)),
                    (":now", n(now_ms)),
                    (":stream", s(stream_id)),
                ],
                true,
            )
            .await?;
        Ok(update.applied().map(|old| !was_live(&old)))
    }

    /// Room keys with an entry whose deadline has passed, from every shard of the due index.
    pub(super) async fn due_rooms(&self, now_ms: u64) -> StoreResult<BTreeSet<String>> {
        let mut rooms = BTreeSet::new();
        for shard in due_shard_pks() {
            let due = self
                .query_all(
                    self.client
                        .query()
                        .table_name(&self.table)
                        .index_name(GSI_DUE)
                        .key_condition_expression("gsi2pk = :shard AND gsi2sk <= :now")
                        .expression_attribute_values(":shard", s(&shard))
                        .expression_attribute_values(":now", s(deadline_sk(now_ms))),
                )
                .await?;
            for item in due {
                rooms.insert(get_s(&item, "pk")?.to_owned());
            }
        }
        Ok(rooms)
    }
}
