//! A live room's integer counters (likes, gifts, ...): changed by its members and viewers.

use super::RoomRecord;
use crate::model::{CustomOp, EventKind, MAX_CUSTOM_FIELDS};
use crate::store::CustomOutcome;

impl RoomRecord {
    /// Applies `op` to the counter `field` for `user_id`, who must be a member or viewer;
    /// records `CustomChanged`.
    pub fn update_custom(
        &mut self,
        user_id: &str,
        field: &str,
        op: CustomOp,
        now_ms: u64,
    ) -> CustomOutcome {
        let Some(state) = self.active() else {
            return CustomOutcome::NoRoom;
        };
        if !state.members.iter().any(|m| m.user_id == user_id)
            && !state.audiences.iter().any(|a| a.user_id == user_id)
        {
            return CustomOutcome::NotPresent;
        }
        if !state.custom.contains_key(field) && state.custom.len() >= MAX_CUSTOM_FIELDS {
            return CustomOutcome::TooManyFields;
        }
        let value = state.custom.entry(field.to_owned()).or_insert(0);
        *value = op.apply(*value);
        let value = *value;
        let custom = state.custom.clone();
        self.record(
            now_ms,
            EventKind::CustomChanged {
                field: field.to_owned(),
                value,
            },
        );
        CustomOutcome::Updated(custom)
    }
}
