//! Logged-out sessions.

use super::*;

pub async fn logout_revokes_sessions_issued_up_to_a_moment_and_never_moves_back(
    store: Arc<dyn RoomStore>,
) {
    let keep = T0 / 1000 + 100;
    assert_eq!(store.sessions_revoked_through("u1", T0).await.unwrap(), 0);
    assert!(store.revoke_sessions("u1", T0 - 5_000, keep).await.unwrap());
    assert_eq!(
        store.sessions_revoked_through("u1", T0).await.unwrap(),
        T0 - 5_000
    );
    // An older token logging out later revokes nothing new.
    assert!(store.revoke_sessions("u1", T0 - 9_000, keep).await.unwrap());
    assert_eq!(
        store.sessions_revoked_through("u1", T0).await.unwrap(),
        T0 - 5_000
    );
    assert_eq!(store.sessions_revoked_through("u2", T0).await.unwrap(), 0);
    // Once every revoked token has expired, the revocation is gone.
    let later = T0 + 101_000;
    store.sweep(later).await.unwrap();
    assert_eq!(
        store.sessions_revoked_through("u1", later).await.unwrap(),
        0
    );
}

fn segment(path: &str, user: &str, start_ms: u64) -> crate::store::recordings::Recording {
    crate::store::recordings::Recording {
        path: path.into(),
        user_id: user.into(),
        stream: format!("8888_{user}_0001"),
        index: 0,
        start_ms,
        duration_ms: 30_000,
        bytes: 1_000,
        format: "mp4".into(),
        creator: "alice".into(),
        room_created_ms: T0,
        stored: None,
    }
}

pub async fn recordings_are_filed_once_per_path_in_start_order_and_lapse(
    store: Arc<dyn RoomStore>,
) {
    use crate::store::recordings::RecordedStream;
    let key = RoomKey::new(RoomType::Double, "rec");
    let keep = T0 + 60_000;
    assert!(store.recordings(&key, T0).await.unwrap().is_empty());
    let (a, b) = (
        segment("double_room/rec/b_1", "bob", T0 + 2),
        segment("double_room/rec/a_1", "alice", T0 + 1),
    );
    assert!(store.add_recording(&key, &a, keep, T0).await.unwrap());
    assert!(store.add_recording(&key, &b, keep, T0).await.unwrap());
    // The relay's retry of the same segment files nothing new.
    assert!(!store.add_recording(&key, &a, keep, T0).await.unwrap());
    assert_eq!(
        store.recordings(&key, T0).await.unwrap(),
        vec![b.clone(), a.clone()]
    );
    assert!(
        store
            .recordings(&RoomKey::new(RoomType::Multi, "rec"), T0)
            .await
            .unwrap()
            .is_empty()
    );
    // A stream joined into a room is found by its name while kept.
    let bound = RecordedStream {
        key: key.clone(),
        creator: "alice".into(),
        room_created_ms: T0,
    };
    assert_eq!(
        store.recorded_stream("8888_bob_0001", T0).await.unwrap(),
        None
    );
    store
        .bind_recorded_stream("8888_bob_0001", &bound, keep, T0)
        .await
        .unwrap();
    assert_eq!(
        store.recorded_stream("8888_bob_0001", T0).await.unwrap(),
        Some(bound)
    );
    // Past their keep time, both are gone.
    assert_eq!(
        store.recorded_stream("8888_bob_0001", keep).await.unwrap(),
        None
    );
    assert!(store.recordings(&key, keep).await.unwrap().is_empty());
}
