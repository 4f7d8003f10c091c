//! A set of members seen as one: per-key locks with typed names on the key's owner
//! shard (`key_lock`, `shard_lock`), across a cluster's nodes by quorum
//! (`cluster_lock`, served to peers by `lock_service`).

pub mod cluster_lock;
pub mod key_lock;
pub mod lock_service;
pub mod quorum;
pub mod shard_lock;
