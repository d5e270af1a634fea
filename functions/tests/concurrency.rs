//! 1,000 simultaneous add_pusher calls from distinct users over real HTTP connections admit
//! exactly the room's capacity.

mod common;

use common::{Gateway, code, post_as};
use futures_like::join_all;
use rtcroom_shared::model::RoomType;
use rtcroom_shared::token::Session;
use serde_json::json;

mod futures_like {
    /// Awaits every task (they already run concurrently on the runtime).
    pub async fn join_all<T: Send + 'static>(tasks: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
        let mut out = Vec::with_capacity(tasks.len());
        for task in tasks {
            out.push(task.await.unwrap());
        }
        out
    }
}

async fn stampede(room_type: RoomType, capacity: usize) {
    // Every join waits its turn at the room. The DynamoDB stand-in serves one request at a
    // time and each join costs it three (the token's logout check, a Query, a transaction):
    // 300 joins there keep the last answer within a minute; the embedded store takes 1,000.
    let joins = if std::env::var("RTCROOM_TEST_STORE").as_deref() == Ok("dynamodb") {
        300
    } else {
        1000
    };
    let gw = Gateway::start_with(&[("RTCROOM_REQUEST_TIMEOUT_SECS", "300")]).await;
    let now = gw.app.now_secs();
    let mut prepared = Vec::new();
    for i in 0..joins {
        let session = Session {
            user_id: format!("user{i}"),
            sdkappid: gw.app.config.sdkappid,
            expires_at: now + 3600,
            issued_ms: now * 1000,
            grant: None,
        };
        let token = gw.app.tokens.issue(&session);
        let push_url = gw
            .app
            .rooms
            .push_urls(&session, room_type, None, false)
            .await
            .unwrap()
            .push_url;
        prepared.push((session.user_id, token, push_url));
    }
    let path = format!("{}/add_pusher", room_type.as_path());
    // Joins of one room queue in the gateway (one writer at a time per room, by design); on
    // the DynamoDB stand-in each takes 20-40 ms, so the last of 1,000 answers after 30 s or
    // more. This test is about who gets in, not how fast: the client waits that long.
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(300))
        .build()
        .unwrap();
    // A barrier so that all requests are in flight together.
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(prepared.len()));
    let tasks = prepared
        .into_iter()
        .map(|(user, token, push_url)| {
            let (http, base, path) = (http.clone(), gw.base.clone(), path.clone());
            let barrier = barrier.clone();
            tokio::spawn(async move {
                let body = json!({ "roomID": "crowded", "userID": user, "userName": user, "userAvatar": "", "pushURL": push_url });
                barrier.wait().await;
                code(&post_as(&http, &base, &path, (&user, &token), &body).await)
            })
        })
        .collect();
    let codes = join_all(tasks).await;
    let admitted = codes.iter().filter(|c| **c == 0).count();
    let full = codes.iter().filter(|c| **c == 5001).count();
    assert_eq!(
        (admitted, full),
        (capacity, joins - capacity),
        "{room_type}"
    );
    let room = gw
        .app
        .rooms
        .room(&rtcroom_shared::model::RoomKey::new(room_type, "crowded"))
        .await
        .unwrap();
    assert_eq!(room.members.len(), capacity);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_joins_of_a_multi_room_admit_exactly_four() {
    stampede(RoomType::Multi, 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_joins_of_a_double_room_admit_exactly_two() {
    stampede(RoomType::Double, 2).await;
}
