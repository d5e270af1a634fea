//! Single-item writes that need no room read: heartbeats and relay reports on a member's own
//! item, and the due index the sweeper reads.

use super::*;

impl DynamoStore {
    /// One conditional UpdateItem on a member's own item: `None` when the condition failed,
    /// else the updated attributes' old values when `old` asks for them (the heartbeat, the
    /// hottest write, does not). `#until`, `#ttl` and `#stream` name those attributes.
    pub(super) async fn update_member<const N: usize>(
        &self,
        pk: &str,
        sk: &str,
        update: &str,
        condition: &str,
        values: [(&str, AttributeValue); N],
        old: bool,
    ) -> StoreResult<Option<Item>> {
        self.counters.update_item.fetch_add(1, Ordering::Relaxed);
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .update_expression(update)
            .condition_expression(condition);
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
            Ok(output) => Ok(Some(output.attributes.unwrap_or_default())),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(unavailable(e)),
        }
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
        let was_live = |old: Item| get_n(&old, "slive").is_ok_and(|until| now_ms < until);
        let StreamReport::Live { keep_alive_ms } = report else {
            return Ok(self
                .update_member(
                    pk,
                    sk,
                    "SET slive = :zero",
                    "attribute_exists(pk) AND #until > :now AND #stream = :stream",
                    [
                        (":zero", n(0)),
                        (":now", n(now_ms)),
                        (":stream", s(stream_id)),
                    ],
                    true,
                )
                .await?
                .map(was_live));
        };
        let until = now_ms + keep_alive_ms[key.room_type.index()];
        let (due, ttl) = deadline_attributes(until);
        let live = "attribute_exists(pk) AND #until > :now AND #stream = :stream";
        // Extends the deadline like a heartbeat, unless a heartbeat already set a later one;
        // then only the stream's state changes.
        if let Some(old) = self
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
            .await?
        {
            return Ok(Some(!was_live(old)));
        }
        Ok(self
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
            .await?
            .map(|old| !was_live(old)))
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
