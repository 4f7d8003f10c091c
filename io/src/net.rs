//! Listening sockets. Every shard binds its own listener on the shared port with
//! SO_REUSEPORT, so the kernel spreads new connections over the shards.
//!
//! SO_REUSEPORT also lets a second *process* share the port silently: the server
//! guards against that with the drive locks (`DirDrive::lock_exclusive`).

use std::net::SocketAddr;

use monoio::net::{ListenerOpts, TcpListener};

/// Pending connections the kernel queues per listener before refusing.
pub const LISTEN_BACKLOG: i32 = 1024;

/// Binds `address` with SO_REUSEPORT on the current shard's runtime.
pub fn listen(address: SocketAddr) -> std::io::Result<TcpListener> {
    let opts = ListenerOpts::new()
        .reuse_port(true)
        .reuse_addr(true)
        .backlog(LISTEN_BACKLOG);
    TcpListener::bind_with_config(address, &opts)
}
