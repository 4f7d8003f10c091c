//! The peer protocol's side of the front (DESIGN.md §6), the only layer with sockets.
//!
//! Arriving: peer connections come on the shared S3 port; the shard that accepts one
//! tells it from an S3 client by its first byte, reads its route preamble
//! (`shoal_wire::route`) and hands the socket to the shard the preamble names
//! (`accept.rs`), which runs the handshake and answers its requests (`serve.rs`) with
//! this node's members (`member_service.rs`) within the shard's `permits.rs`.
//!
//! Leaving: a `PeerMember`'s calls go through a `TcpLink` (`link.rs`) over a
//! `PeerChannel` (`channel.rs`): one long-lived connection per peer shard, many
//! requests in flight, dialed at an address or a host name resolved again before
//! each attempt (`resolve.rs`). `framed.rs` moves frames over either kind of connection, plain
//! TCP or TLS (`socket.rs`).

pub mod accept;
pub mod channel;
pub mod framed;
pub mod link;
pub mod member_service;
pub mod permits;
pub mod resolve;
pub mod serve;
pub mod socket;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tls_tests;

/// The runtime the link's tests run on: io_uring with timers, like a shard's.
#[cfg(test)]
fn test_runtime() -> monoio::Runtime<monoio::time::TimeDriver<monoio::IoUringDriver>> {
    monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .enable_timer()
        .build()
        .expect("runtime")
}
