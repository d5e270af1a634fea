//! rtcroom's room service over HTTP: one module per endpoint, the shared request handling in
//! [`api`], and the two ways to run them: one AWS Lambda per endpoint ([`lambda`]) or all of
//! them in the local gateway ([`gateway`]).

pub mod api;
pub mod app;
pub mod cloud_ws;
pub mod endpoints;
pub mod gateway;
pub mod lambda;
pub mod logging;
pub mod metrics;
pub mod notifier;
pub mod service;
pub mod stream_events;
pub mod sweeper;
#[cfg(feature = "testing")]
pub mod testing;
pub mod ws;
