//! RTMP: handshake, chunk stream, AMF0 commands, and a connection's session.

pub mod amf0;
pub mod chunk;
pub mod handshake;
pub mod session;
