//! Connections from peer nodes (DESIGN.md §6). They arrive on the shared S3 port: the
//! shard that accepts one tells it from an S3 client by its first byte, reads its
//! route preamble (`shoal_wire::route`) and hands the socket to the shard the
//! preamble names (`accept.rs`), so a key's traffic from every node meets on the key's
//! owner core.

pub mod accept;
pub mod channel;
pub mod framed;
pub mod permits;
pub mod serve;

#[cfg(test)]
mod tests;
