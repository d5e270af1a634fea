//! The harness is `rtcroom_functions::testing`; here are the stand-ins only these tests use (API
//! Gateway's WebSocket side and its Management API).
#![allow(dead_code, unused_imports)]

pub mod apigw_ws;
pub mod local;
pub mod management;

pub use rtcroom_functions::testing::*;
