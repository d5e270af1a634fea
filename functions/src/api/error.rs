//! Every way a call can fail, and the one place that maps each onto a protocol code.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | a required parameter is missing or invalid |
//! | 3 | no such (present) room, or the caller is not its creator |
//! | 5 | the caller is not a member of the room |
//! | 6 | internal error |
//! | 7 | authentication failed: UserSig, token, userID mismatch, PrivateMapKey |
//! | 10 | a value is too long, a body is too large, or JSON is malformed |
//! | 11 | the roomID is taken |
//! | 5001 | the room (or its audience) is full |
//! | 100 | the room store is unavailable: retry later |
//! | 101 | stream mixing is not configured |
//! | 102 | the endpoint is disabled (dev-mode only) |
//! | 103 | no such API |
//! | 104 | a server limit was reached (rooms per user, rooms in all, connections): retry later |

use rtcroom_shared::rooms::RoomError;
use rtcroom_shared::store::{Limit, StoreError};

use crate::metrics::Refusal;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing parameter {0}")]
    Missing(&'static str),
    #[error("{0}")]
    Invalid(String),
    #[error("authentication failed: {0}")]
    Auth(String),
    #[error("{0}")]
    Malformed(String),
    #[error("{0} is disabled on this server (dev mode is off)")]
    DevModeOnly(&'static str),
    #[error("no such API")]
    UnknownApi,
    #[error(transparent)]
    Room(#[from] RoomError),
}

impl ApiError {
    pub fn code(&self) -> i32 {
        match self {
            ApiError::Missing(_) | ApiError::Invalid(_) => 1,
            ApiError::Auth(_) => 7,
            ApiError::Malformed(_) => 10,
            ApiError::DevModeOnly(_) => 102,
            ApiError::UnknownApi => 103,
            ApiError::Room(e) => match e {
                RoomError::Invalid(_) => 1,
                RoomError::NoSuchRoom | RoomError::NotCreator => 3,
                RoomError::NotMember => 5,
                RoomError::Forbidden(_) => 7,
                RoomError::TooLong { .. } | RoomError::BadJson(_) => 10,
                RoomError::RoomExists(_) => 11,
                RoomError::RoomFull | RoomError::AudienceFull => 5001,
                RoomError::MixingNotConfigured => 101,
                RoomError::LimitReached(_) => 104,
                RoomError::Store(StoreError::Unavailable(_) | StoreError::Contention(_)) => 100,
                RoomError::Store(StoreError::Corrupt(_)) => 6,
            },
        }
    }

    /// The refusal counter (`/metrics`) an error adds to, beside its code: the one place that
    /// classifies errors.
    pub fn refusal(&self) -> Option<Refusal> {
        Some(match self {
            ApiError::Auth(_) | ApiError::Room(RoomError::Forbidden(_)) => Refusal::Auth,
            ApiError::Missing(_) | ApiError::Invalid(_) | ApiError::Room(RoomError::Invalid(_)) => {
                Refusal::Invalid
            }
            ApiError::Malformed(_)
            | ApiError::Room(RoomError::TooLong { .. } | RoomError::BadJson(_)) => {
                Refusal::Malformed
            }
            ApiError::Room(
                RoomError::NoSuchRoom | RoomError::NotCreator | RoomError::NotMember,
            ) => Refusal::NotAllowed,
            ApiError::Room(RoomError::LimitReached(limit)) => match limit {
                Limit::Rooms => Refusal::RoomsInAll,
                Limit::RoomsPerUser => Refusal::RoomsPerUser,
                Limit::RevokedUsers => Refusal::Revocations,
            },
            ApiError::Room(RoomError::Store(_)) => Refusal::StoreUnavailable,
            _ => return None,
        })
    }

    /// What the user is told. Store failures are described to the operator (in the log), not
    /// to the client.
    pub fn message(&self) -> String {
        match self {
            ApiError::Room(RoomError::Store(StoreError::Corrupt(_))) => "internal error".into(),
            ApiError::Room(RoomError::Store(_)) => "room store unavailable, retry later".into(),
            other => other.to_string(),
        }
    }
}
