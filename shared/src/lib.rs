//! rtcroom's domain core, shared by every function, the local gateway and the relay.
//!
//! No HTTP framework lives here: the functions crate adapts HTTP onto [`rooms::Rooms`].

pub mod clock;
pub mod config;
pub mod desk;
pub mod metrics;
pub mod model;
pub mod room_events;
pub mod rooms;
pub mod store;
pub mod stream_events;
#[cfg(any(test, feature = "test-suite"))]
pub mod testing;
pub mod token;
pub mod urls;
pub mod usersig;
