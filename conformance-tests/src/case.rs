//! A case: one black-box check of the server, citing the spec clauses it verifies, and the
//! context it runs in (the server, the run's options, helpers that sign in and join).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::{Value, json};

use crate::client::{Answer, Body, Check, Failure, Server};

/// What a case needs from the run besides a healthy server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// A healthy server: the normal cases.
    Healthy,
    /// `--push-key`, to check URL signatures.
    PushKey,
    /// The server's store made unreachable by the operator (`--fault store-down`).
    StoreDown,
    /// A room whose stored state the operator corrupted (`--fault corrupt-room=TYPE/ID`).
    CorruptRoom,
    /// The server's rooms-per-user limit, told by the operator (`--rooms-per-user N`).
    RoomLimit,
}

pub struct Case {
    /// `{endpoint or area}.{behaviour}`, e.g. `add_pusher.capacity_multi_room`.
    pub id: &'static str,
    pub clauses: &'static [&'static str],
    pub needs: Needs,
    /// Runs alone, after the others (it reads server-wide state such as the room list).
    pub exclusive: bool,
    pub run: fn(Arc<Ctx>) -> BoxFuture<'static, Check>,
}

/// Declares a case: `case!("id", ["ROOM-7"], function)`, optionally `needs: ..`, `exclusive`.
#[macro_export]
macro_rules! case {
    ($id:literal, [$($clause:literal),+], $f:path) => {
        $crate::case!($id, [$($clause),+], $f, needs: $crate::case::Needs::Healthy)
    };
    // Exclusive cases run alone, after the others: those that load the server on purpose
    // (hundreds of simultaneous calls) would otherwise starve the timing-sensitive cases
    // running beside them on a slow server (a stand-in store, a loaded CI machine).
    ($id:literal, [$($clause:literal),+], $f:path, exclusive) => {
        $crate::case::Case {
            exclusive: true,
            ..$crate::case!($id, [$($clause),+], $f)
        }
    };
    ($id:literal, [$($clause:literal),+], $f:path, needs: $needs:expr) => {
        $crate::case::Case {
            id: $id,
            clauses: &[$($clause),+],
            needs: $needs,
            exclusive: false,
            run: |ctx| Box::pin($f(ctx)),
        }
    };
}

/// A fault the operator has put the server in for this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    StoreDown,
    CorruptRoom { room_type: String, room_id: String },
}

/// The server's configuration as far as the cases need it (the defaults of the spec unless
/// the runner is told otherwise).
#[derive(Debug, Clone)]
pub struct Options {
    pub heartbeat_timeout: Duration,
    /// Simultaneous joins in the capacity-under-concurrency cases.
    pub concurrency: usize,
    /// Seats of double, multi and live rooms.
    pub capacity: [usize; 3],
    pub audience_capacity: usize,
    pub inactive_room_reclaim: Duration,
    /// How long a session connection's pending join waits (EV-12).
    pub join_wait: Duration,
    /// The server's limit of rooms per user (LIMIT-1), when the operator tells it.
    pub rooms_per_user: Option<usize>,
    pub fault: Option<Fault>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            heartbeat_timeout: Duration::from_secs(20),
            concurrency: 200,
            capacity: [2, 4, 4],
            audience_capacity: 30,
            inactive_room_reclaim: Duration::from_secs(30),
            join_wait: Duration::from_secs(30),
            rooms_per_user: None,
            fault: None,
        }
    }
}

pub const ROOM_TYPES: [&str; 3] = ["double_room", "multi_room", "live_room"];

pub fn capacity_of(options: &Options, room_type: &str) -> usize {
    let i = ROOM_TYPES.iter().position(|t| *t == room_type).unwrap_or(1);
    options.capacity[i]
}

/// What every case gets: the server, the options, and names unique to this run (so runs can
/// share a server, one after another or at once).
pub struct Ctx {
    pub server: Arc<Server>,
    pub options: Options,
    run: String,
    counter: AtomicU64,
}

/// A heartbeat loop; stops when dropped.
pub struct Beating(tokio::task::JoinHandle<()>);

impl Drop for Beating {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A signed-in user.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub token: String,
}

impl Ctx {
    pub fn new(server: Arc<Server>, options: Options) -> Self {
        Self {
            server,
            options,
            run: format!("cf{:06x}", rand::random::<u32>() & 0xff_ffff),
            counter: AtomicU64::new(0),
        }
    }

    /// A name no other case of any run uses: `{run}_{tag}_{n}`.
    pub fn unique(&self, tag: &str) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{}_{tag}_{n}", self.run)
    }

    pub fn expect(&self, answer: &Answer, code: i64, what: &str) -> Check {
        self.server.expect(answer, code, what)
    }

    /// A user signed in with a UserSig minted from the server's key.
    pub async fn user(&self, tag: &str) -> Check<User> {
        let id = self.unique(tag);
        let sig = self.server.usersig(&id, 60, 86_400, None);
        self.sign_in(&id, &sig).await
    }

    /// `login` with a given UserSig, which must succeed.
    pub async fn sign_in(&self, id: &str, usersig: &str) -> Check<User> {
        let answer = self.server.login("multi_room", id, usersig).await?;
        self.expect(&answer, 0, "AUTH-1: login with a valid UserSig")?;
        Ok(User {
            id: id.to_owned(),
            token: answer.str("token").to_owned(),
        })
    }

    /// `n` users signed in at once.
    pub async fn users(&self, tag: &str, n: usize) -> Check<Vec<User>> {
        let logins = (0..n).map(|_| self.user(tag));
        futures_util::future::join_all(logins)
            .await
            .into_iter()
            .collect()
    }

    /// `/weapp/{room_type}/{api}?userID=&token=` with a JSON body.
    pub async fn call(
        &self,
        user: &User,
        room_type: &str,
        api: &str,
        body: Value,
    ) -> Check<Answer> {
        self.call_with(user, room_type, api, Body::Json(body)).await
    }

    /// The same with a form-encoded body.
    pub async fn call_form(
        &self,
        user: &User,
        room_type: &str,
        api: &str,
        form: &[(&str, &str)],
    ) -> Check<Answer> {
        let pairs = form
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.call_with(user, room_type, api, Body::Form(pairs))
            .await
    }

    async fn call_with(
        &self,
        user: &User,
        room_type: &str,
        api: &str,
        body: Body,
    ) -> Check<Answer> {
        let query = [("userID", user.id.as_str()), ("token", user.token.as_str())];
        self.server.send(room_type, api, &query, body).await
    }

    /// `delete_pusher` of `user`; the answer unchecked.
    pub async fn leave(&self, user: &User, room_type: &str, room_id: &str) -> Check<Answer> {
        self.call(
            user,
            room_type,
            "delete_pusher",
            json!({ "roomID": room_id, "userID": user.id }),
        )
        .await
    }

    /// A push URL for `user`, from `get_push_url`.
    pub async fn push_url(&self, user: &User, room_type: &str) -> Check<String> {
        let answer = self
            .call(
                user,
                room_type,
                "get_push_url",
                json!({ "userID": user.id }),
            )
            .await?;
        self.expect(&answer, 0, "URL-USE-1: get_push_url")?;
        Ok(answer.str("pushURL").to_owned())
    }

    /// `add_pusher` with a fresh push URL of the user's; returns the answer unchecked.
    pub async fn add_pusher(&self, user: &User, room_type: &str, room_id: &str) -> Check<Answer> {
        let push_url = self.push_url(user, room_type).await?;
        self.add_pusher_with(user, room_type, room_id, &push_url)
            .await
    }

    /// `add_pusher` with a given push URL; returns the answer unchecked.
    pub async fn add_pusher_with(
        &self,
        user: &User,
        room_type: &str,
        room_id: &str,
        push_url: &str,
    ) -> Check<Answer> {
        self.call(
            user,
            room_type,
            "add_pusher",
            json!({
                "roomID": room_id,
                "userID": user.id,
                "userName": format!("name of {}", user.id),
                "userAvatar": "https://example.invalid/a.png",
                "pushURL": push_url,
            }),
        )
        .await
    }

    /// `add_pusher` that must succeed.
    pub async fn join(&self, user: &User, room_type: &str, room_id: &str) -> Check {
        let answer = self.add_pusher(user, room_type, room_id).await?;
        self.expect(&answer, 0, "add_pusher into a room with a free seat")
    }

    pub async fn pushers(&self, user: &User, room_type: &str, room_id: &str) -> Check<Answer> {
        self.call(user, room_type, "get_pushers", json!({ "roomID": room_id }))
            .await
    }

    /// The userIDs `get_pushers` lists, or `None` when the room is gone (code 3).
    pub async fn members(
        &self,
        user: &User,
        room_type: &str,
        room_id: &str,
    ) -> Check<Option<Vec<String>>> {
        let answer = self.pushers(user, room_type, room_id).await?;
        match answer.code() {
            0 => Ok(Some(
                answer.body["pushers"]
                    .as_array()
                    .map(|p| {
                        p.iter()
                            .map(|p| p["userID"].as_str().unwrap_or("").to_owned())
                            .collect()
                    })
                    .unwrap_or_default(),
            )),
            3 => {
                self.expect(&answer, 3, "get_pushers of a room that is gone")?;
                Ok(None)
            }
            _ => Err(Failure::new("get_pushers: code 0 or 3", answer.describe())),
        }
    }

    pub async fn heartbeat(&self, user: &User, room_type: &str, room_id: &str) -> Check<Answer> {
        self.call(
            user,
            room_type,
            "pusher_heartbeat",
            json!({ "roomID": room_id, "userID": user.id }),
        )
        .await
    }

    /// Whether `room_id` is in the full `get_room_list` of its type.
    pub async fn listed(&self, user: &User, room_type: &str, room_id: &str) -> Check<bool> {
        Ok(self
            .room_list(user, room_type)
            .await?
            .iter()
            .any(|r| r["roomID"] == room_id))
    }

    /// Every room `get_room_list` lists, page by page.
    pub async fn room_list(&self, user: &User, room_type: &str) -> Check<Vec<Value>> {
        let mut rooms = Vec::new();
        loop {
            let answer = self
                .call(
                    user,
                    room_type,
                    "get_room_list",
                    json!({ "cnt": 20, "index": rooms.len() }),
                )
                .await?;
            self.expect(&answer, 0, "get_room_list")?;
            let page = answer.body["rooms"].as_array().cloned().unwrap_or_default();
            let done = page.len() < 20;
            rooms.extend(page);
            if done || rooms.len() > 100_000 {
                return Ok(rooms);
            }
        }
    }

    /// Heartbeats `user` in `room` every third of the timeout, as clients do, until the
    /// returned guard is dropped.
    pub fn keep_beating(self: &Arc<Self>, user: &User, room_type: &str, room: &str) -> Beating {
        let (ctx, user, room_type, room) = (
            self.clone(),
            user.clone(),
            room_type.to_owned(),
            room.to_owned(),
        );
        Beating(tokio::spawn(async move {
            loop {
                tokio::time::sleep(ctx.options.heartbeat_timeout / 3).await;
                let _ = ctx.heartbeat(&user, &room_type, &room).await;
            }
        }))
    }

    /// Sleeps for a fraction (in percent) of the heartbeat timeout plus `extra`.
    pub async fn wait_timeout_share(&self, percent: u32, extra: Duration) {
        tokio::time::sleep(self.options.heartbeat_timeout * percent / 100 + extra).await;
    }
}
