//! The peer protocol between Shoal nodes (DESIGN.md §6), sans-IO: it takes bytes and
//! returns frames and events, or writes into caller buffers; it never touches a socket
//! or reads a clock (time is a parameter), so every decoder is fuzzed and the
//! simulation drives it.
//!
//! A connection between two peer shards carries frames: a fixed-size header whose own
//! checksum is checked before anything it announces is read, a small structured body
//! (FlatBuffers), then raw payload bytes (chunk records) that the caller reads straight
//! into aligned buffers. Connections are authenticated by HMAC over a challenge with a
//! cluster secret that never travels.
#![forbid(unsafe_code)]

pub mod decoder;
pub mod frame;
pub mod handshake;
pub mod route;
pub mod verb;
