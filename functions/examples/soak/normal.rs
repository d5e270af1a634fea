//! The normal client, measured: HTTP calls, chat heard over `/ws`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use parking_lot::Mutex;
use serde_json::json;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;

use crate::target::{Target, User, pause};

/// Latencies of the normal client, in ms, by what it did.
#[derive(Default)]
pub struct Normal {
    pub heartbeat: Mutex<Vec<f64>>,
    pub get_pushers: Mutex<Vec<f64>>,
    pub ws_delivery: Mutex<Vec<f64>>,
    pub errors: Mutex<Vec<String>>,
}

pub async fn normal_http(t: Target, n: Arc<Normal>, me: User) {
    while t.running() {
        for (path, body, into) in [
            (
                "multi_room/pusher_heartbeat",
                json!({"roomID": "soak_normal", "userID": me.id}),
                &n.heartbeat,
            ),
            (
                "multi_room/get_pushers",
                json!({"roomID": "soak_normal"}),
                &n.get_pushers,
            ),
        ] {
            let started = Instant::now();
            match t.post(path, &me, body).await {
                Ok(answer) if answer["code"] == 0 => {
                    into.lock().push(started.elapsed().as_secs_f64() * 1000.0)
                }
                Ok(answer) => n.errors.lock().push(format!("{path}: {answer}")),
                Err(e) => n.errors.lock().push(format!("{path}: {e}")),
            }
        }
        pause(100).await;
    }
}

/// One member talks every 500 ms; the other hears it over `/ws`; the delivery time is kept.
pub async fn normal_ws(t: Target, n: Arc<Normal>, talker: User, listener: User) {
    let addr = t.base.trim_start_matches("http://");
    let url = format!(
        "ws://{addr}/ws?userID={}&token={}&roomType=multi_room&roomID=soak_normal",
        listener.id, listener.token
    );
    let (mut ws, _) = match connect_async(url).await {
        Ok(ws) => ws,
        Err(e) => {
            n.errors.lock().push(format!("ws connect: {e}"));
            return;
        }
    };
    let mut said = 0u64;
    while t.running() {
        said += 1;
        let beat = t.post(
            "multi_room/pusher_heartbeat",
            &listener,
            json!({"roomID": "soak_normal", "userID": listener.id}),
        );
        let _ = beat.await;
        let marker = format!("normal-{said}");
        let started = Instant::now();
        let sent = t
            .post(
                "multi_room/send_room_msg",
                &talker,
                json!({"roomID": "soak_normal", "userID": talker.id, "cmd": "CustomTextMsg", "msg": marker}),
            )
            .await;
        if !matches!(&sent, Ok(a) if a["code"] == 0) {
            n.errors.lock().push(format!("send_room_msg: {sent:?}"));
            continue;
        }
        let heard = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(Ok(message)) = ws.next().await {
                if let Message::Text(text) = message
                    && text.contains(&marker)
                {
                    return true;
                }
            }
            false
        })
        .await;
        match heard {
            Ok(true) => n
                .ws_delivery
                .lock()
                .push(started.elapsed().as_secs_f64() * 1000.0),
            _ => n
                .errors
                .lock()
                .push(format!("{marker} not heard within 5 s")),
        }
        pause(500).await;
    }
}

pub fn summary(name: &str, v: &mut [f64]) -> String {
    if v.is_empty() {
        return format!("{name}: none");
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let at = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
    format!(
        "{name}: {} calls, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        v.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    )
}
