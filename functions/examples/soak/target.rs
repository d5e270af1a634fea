//! The gateway as the soak's clients see it: HTTP calls with a user's token, sign-in, joins.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

#[derive(Clone)]
pub struct Target {
    pub base: String,
    pub http: reqwest::Client,
    pub stop: Arc<AtomicBool>,
}

pub struct User {
    pub id: String,
    pub token: String,
}

impl Target {
    pub fn running(&self) -> bool {
        !self.stop.load(Ordering::Relaxed)
    }

    pub async fn post(&self, path: &str, user: &User, body: Value) -> reqwest::Result<Value> {
        self.http
            .post(format!("{}/weapp/{path}", self.base))
            .query(&[("userID", &user.id), ("token", &user.token)])
            .json(&body)
            .send()
            .await?
            .json()
            .await
    }

    pub async fn user(&self, id: &str) -> reqwest::Result<User> {
        let info: Value = self
            .http
            .get(format!(
                "{}/weapp/utils/get_login_info?userID={id}",
                self.base
            ))
            .send()
            .await?
            .json()
            .await?;
        let login: Value = self
            .http
            .post(format!("{}/weapp/multi_room/login", self.base))
            .query(&[
                ("sdkAppID", info["sdkAppID"].to_string().trim_matches('"')),
                ("userSig", info["userSig"].as_str().unwrap_or_default()),
                ("userID", id),
                ("accountType", "1"),
            ])
            .json(&json!({}))
            .send()
            .await?
            .json()
            .await?;
        Ok(User {
            id: id.to_owned(),
            token: login["token"].as_str().unwrap_or_default().to_owned(),
        })
    }

    /// get_push_url then add_pusher; the push URL and the answer's code.
    pub async fn join(
        &self,
        room_type: &str,
        user: &User,
        room: &str,
    ) -> reqwest::Result<(String, i64)> {
        let url = self
            .post(
                &format!("{room_type}/get_push_url"),
                user,
                json!({"userID": user.id}),
            )
            .await?;
        let push_url = url["pushURL"].as_str().unwrap_or_default().to_owned();
        let joined = self
            .post(
                &format!("{room_type}/add_pusher"),
                user,
                json!({"roomID": room, "userID": user.id, "userName": "n", "userAvatar": "a",
                       "pushURL": push_url}),
            )
            .await?;
        Ok((push_url, joined["code"].as_i64().unwrap_or(-1)))
    }
}

pub async fn pause(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}
