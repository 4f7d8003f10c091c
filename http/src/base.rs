//! The bottom layer of the crate: the one S3 error type and the text encodings every
//! layer above shares (percent-encoding, base64, the wire's date formats).
//!
//! Invariant: nothing in here imports from any other module of the crate, so every
//! layer above (HTTP messages, routing, authentication, bodies, XML) may use it and no
//! arrow points back up.

pub mod base64;
pub mod digits;
pub mod error;
pub mod escape;
pub mod hash_pair;
pub mod time;
pub mod uri;
