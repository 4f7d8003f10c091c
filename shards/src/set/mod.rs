//! A set of members seen as one: per-key locks with typed names on the key's owner
//! shard (`key_lock`, `shard_lock`).

pub mod key_lock;
pub mod quorum;
pub mod shard_lock;
