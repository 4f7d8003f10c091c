//! Reed-Solomon erasure coding over GF(2^8) and bitrot checksums. Pure compute: no
//! I/O, no threads, no allocation on the encode/decode path once warm.
//!
//! A stripe is `k` data chunks plus `m` parity chunks of one length. [`Coder`] encodes
//! parity and rebuilds lost chunks with any engine ([`EngineKind`]); every engine
//! produces exactly the bytes of the naive reference engine, because the generator
//! (Cauchy, as ISA-L's `gf_gen_cauchy1_matrix`) and the field (polynomial 0x11D) are
//! part of the on-disk format and never change (golden vectors in the tests freeze
//! them). [`bitrot`] holds the per-block checksum (CRC-64/NVME).
//!
//! Erasure libraries say "shard" for a chunk; in Shoal a shard is a CPU core, so the
//! word stops at this crate's boundary.
#![deny(unsafe_code)]

pub mod bitrot;
mod coder;
mod decode_cache;
mod engine;
mod error;
mod gf;
mod matrix;

pub use coder::Coder;
pub use engine::EngineKind;
pub use error::Error;

/// The most data chunks a stripe may have.
pub const DATA_CHUNKS_MAX: usize = 16;
/// The most chunks (data + parity) a stripe may have.
pub const CHUNKS_MAX: usize = 32;
