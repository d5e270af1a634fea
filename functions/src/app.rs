//! What every request needs, built once per process: configuration, the room service over its
//! store, and the token key.

use std::sync::Arc;

use rtcroom_shared::clock::{Clock, SystemClock};
use rtcroom_shared::config::{Config, StoreKind};
use rtcroom_shared::rooms::Rooms;
use rtcroom_shared::store::{DynamoStore, EmbeddedStore, RoomStore};
use rtcroom_shared::token::{Session, TokenKey};

use crate::api::{ApiError, Params};
use crate::metrics::Metrics;

pub struct App {
    pub config: Config,
    pub rooms: Rooms,
    pub tokens: TokenKey,
    pub metrics: Metrics,
}

impl App {
    pub fn new(config: Config, store: Arc<dyn RoomStore>, clock: Arc<dyn Clock>) -> Self {
        let rooms = Rooms::new(store, clock, config.limits.clone(), config.urls.clone());
        let tokens = TokenKey::derived_from_usersig_key(&config.usersig_key);
        Self {
            config,
            rooms,
            tokens,
            metrics: Metrics::default(),
        }
    }

    /// The app on the configured store and the wall clock. For DynamoDB, builds the client
    /// from the environment and, when `RTCROOM_CREATE_TABLE=1`, creates the table.
    pub async fn connect(config: Config) -> Result<Self, String> {
        let store: Arc<dyn RoomStore> = match &config.store {
            StoreKind::Embedded => Arc::new(EmbeddedStore::with_limits(config.store_limits)),
            StoreKind::DynamoDb {
                table,
                create_table,
            } => {
                let store =
                    DynamoStore::connect(table.clone(), config.server_limits.request_timeout).await;
                if *create_table {
                    store
                        .create_table()
                        .await
                        .map_err(|e| format!("cannot create table {table}: {e}"))?;
                }
                Arc::new(store)
            }
        };
        Ok(Self::new(config, store, Arc::new(SystemClock)))
    }

    /// The app on the DynamoDB store, and that store (the cloud's WebSocket functions also
    /// use its connection items); an error when the configuration names another store.
    pub async fn connect_dynamo(config: Config) -> Result<(Self, Arc<DynamoStore>), String> {
        let StoreKind::DynamoDb { table, .. } = &config.store else {
            return Err("this function needs RTCROOM_STORE=dynamodb".into());
        };
        let timeout = config.server_limits.request_timeout;
        let store = Arc::new(DynamoStore::connect(table.clone(), timeout).await);
        Ok((
            Self::new(config, store.clone(), Arc::new(SystemClock)),
            store,
        ))
    }

    pub fn now_secs(&self) -> u64 {
        self.rooms.clock().now_secs()
    }

    /// Checks `?userID=&token=` (or the same names in the body), that a `userID` in the body,
    /// where there is one, is the token's user, and that the session was not logged out.
    pub async fn authenticate(&self, query: &Params, body: &Params) -> Result<Session, ApiError> {
        let session = self.verify_token(query, body)?;
        let revoked = self
            .rooms
            .store()
            .sessions_revoked_through(&session.user_id, self.rooms.clock().now_ms())
            .await
            .map_err(rtcroom_shared::rooms::RoomError::from)?;
        if revoked > 0 && session.issued_ms <= revoked {
            return Err(ApiError::Auth(
                "token was logged out; call login again".into(),
            ));
        }
        Ok(session)
    }

    /// The token check alone: signature, expiry, user (no store read).
    pub fn verify_token(&self, query: &Params, body: &Params) -> Result<Session, ApiError> {
        let user_id = query
            .opt_text("userID")
            .or_else(|| body.opt_text("userID"))
            .ok_or_else(|| ApiError::Auth("userID missing from the query".into()))?;
        let token = query
            .opt_text("token")
            .or_else(|| body.opt_text("token"))
            .ok_or_else(|| ApiError::Auth("token missing; call login first".into()))?;
        let session = self
            .tokens
            .verify(&token, &user_id, self.config.sdkappid, self.now_secs())
            .map_err(|e| ApiError::Auth(e.to_string()))?;
        if let Some(body_user) = body.opt_text("userID")
            && body_user != session.user_id
        {
            return Err(ApiError::Auth(
                "userID in the body is not the token's user".into(),
            ));
        }
        Ok(session)
    }
}
