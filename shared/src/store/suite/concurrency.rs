//! Concurrent writers to one room.

use super::*;

pub async fn concurrent_joins_admit_exactly_the_capacity(store: Arc<dyn RoomStore>) {
    for (room_type, capacity) in [(RoomType::Multi, 4u32), (RoomType::Double, 2)] {
        let key = RoomKey::new(room_type, "crowded");
        let tasks: Vec<_> = (0..1000)
            .map(|i| {
                let store = store.clone();
                let key = key.clone();
                tokio::spawn(async move {
                    store
                        .join(join_request(&key, &format!("user{i}"), T0, capacity))
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut admitted = 0;
        for task in tasks {
            match task.await.unwrap() {
                JoinOutcome::Joined { .. } => admitted += 1,
                JoinOutcome::Full => {}
                JoinOutcome::NoRoom => panic!("joins create the room"),
                JoinOutcome::LimitReached(limit) => panic!("{limit:?} reached"),
                JoinOutcome::RecordMismatch { .. } => panic!("recording is not checked here"),
            }
        }
        assert_eq!(admitted, capacity, "{room_type}");
        let room = store.room(&key, T0).await.unwrap().unwrap();
        assert_eq!(room.members.len(), capacity as usize);
        let joins = event_kinds(&*store, &key).await.len();
        assert_eq!(joins, capacity as usize, "one event per admitted join");
    }
}

pub async fn concurrent_creates_of_one_id_make_one_room(store: Arc<dyn RoomStore>) {
    let key = RoomKey::new(RoomType::Multi, "contested");
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let store = store.clone();
            let key = key.clone();
            tokio::spawn(async move {
                store
                    .create_room(&key, "owner", &format!("by {i}"), false, T0)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        if task.await.unwrap() == CreateOutcome::Created {
            created += 1;
        }
    }
    assert_eq!(created, 1);
}

pub async fn concurrent_counter_increments_are_not_lost(store: Arc<dyn RoomStore>) {
    let key = RoomKey::new(RoomType::Live, "show");
    join(&*store, &key, "anchor", T0).await;
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let store = store.clone();
            let key = key.clone();
            tokio::spawn(async move {
                store
                    .update_custom(&key, "anchor", "likes", CustomOp::Inc(1), T0)
                    .await
                    .unwrap()
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let room = store.room(&key, T0).await.unwrap().unwrap();
    assert_eq!(room.custom.get("likes"), Some(&100));
}
