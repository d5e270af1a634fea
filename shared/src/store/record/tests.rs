use super::*;
use crate::store::suite::{T0, TIMEOUT, member};

#[test]
fn capped_settle_evicts_oldest_first_and_rules_ignore_the_rest() {
    let key = RoomKey::new(RoomType::Multi, "r");
    let mut record = RoomRecord::default();
    for (i, user) in ["a", "b", "c"].iter().enumerate() {
        let request = JoinRequest {
            key: key.clone(),
            member: member(user, T0 + 10 * (2 - i as u64)),
            capacity: 3,
            create_with_info: Some(String::new()),
            room_info: None,
            now_ms: T0,
            record: None,
        };
        assert!(matches!(record.join(request), JoinOutcome::Joined { .. }));
    }
    // c's deadline is earliest, then b's, then a's; d keeps the room present.
    let keeper = JoinRequest {
        key: key.clone(),
        member: member("d", T0 + 1_000),
        capacity: 4,
        create_with_info: None,
        room_info: None,
        now_ms: T0,
        record: None,
    };
    record.join(keeper);
    let mut report = SweepReport::default();
    record.settle(RoomType::Multi, T0 + 100 + TIMEOUT, 2, &mut report);
    assert_eq!(report.evicted_members, 2);
    let left: Vec<_> = record
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::MemberLeft { user_id, .. } => Some(user_id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(left, ["c", "b"]);
    let view = record.view(&key, T0 + 100 + TIMEOUT).unwrap();
    assert_eq!(
        view.members
            .iter()
            .map(|m| m.user_id.as_str())
            .collect::<Vec<_>>(),
        ["d"]
    );
    // The expired "a" still in the slot takes no seat.
    let full = JoinRequest {
        key,
        member: member("e", T0 + 100 + TIMEOUT),
        capacity: 2,
        create_with_info: None,
        room_info: None,
        now_ms: T0 + 100 + TIMEOUT,
        record: None,
    };
    assert!(matches!(record.join(full), JoinOutcome::Joined { .. }));
}
