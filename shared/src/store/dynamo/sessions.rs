//! Logged-out sessions on DynamoDB: one item per user that logged out,
//! `pk = USER#{userID}, sk = SESSIONS`, holding the issue time its tokens are revoked through
//! (`through`, epoch ms) and until when that matters (`keep`, epoch s). TTL deletes it after.
//!
//! Cost: logout is one conditional UpdateItem; every authenticated call reads the item with
//! one strongly consistent GetItem (1 read request unit, a few milliseconds in-region), the
//! price of tokens that stop working at logout rather than at their expiry.

use std::sync::atomic::Ordering;

use super::DynamoStore;
use super::items::{get_n, n, s};
use super::unavailable;
use crate::store::StoreResult;

const SK: &str = "SESSIONS";
/// The item outlives its last revoked token by this much before TTL may delete it.
const GRACE_SECS: u64 = 3_600;

fn pk(user_id: &str) -> String {
    format!("USER#{user_id}")
}

impl DynamoStore {
    pub(super) async fn revoke(
        &self,
        user_id: &str,
        through_ms: u64,
        keep_until_secs: u64,
    ) -> StoreResult<bool> {
        self.counters.update_item.fetch_add(1, Ordering::Relaxed);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk(user_id)))
            .key("sk", s(SK))
            .update_expression("SET #through = :t, #keep = :k, #ttl = :ttl")
            .condition_expression("attribute_not_exists(#through) OR #through < :t")
            .expression_attribute_names("#through", "through")
            .expression_attribute_names("#keep", "keep")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":t", n(through_ms))
            .expression_attribute_values(":k", n(keep_until_secs))
            .expression_attribute_values(":ttl", n(keep_until_secs + GRACE_SECS))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            // A later revocation is already in force.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(true)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    pub(super) async fn revoked_through(&self, user_id: &str, now_ms: u64) -> StoreResult<u64> {
        let Some(item) = self.get_consistent(pk(user_id), SK).await? else {
            return Ok(0);
        };
        // TTL deletes late; a lapsed item revokes nothing.
        Ok(if get_n(&item, "keep")?.saturating_mul(1000) >= now_ms {
            get_n(&item, "through")?
        } else {
            0
        })
    }
}
