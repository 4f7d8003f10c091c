//! Listening sockets. Every shard binds its own listener on the shared port with
//! SO_REUSEPORT, so the kernel spreads new connections over the shards.
//!
//! SO_REUSEPORT also lets a second *process* share the port silently, splitting the
//! traffic between two servers. [`claim_port`] refuses that before any shard binds:
//! it binds the address once *without* SO_REUSEPORT, which the kernel refuses
//! (EADDRINUSE) while any other socket listens there, reuse-port or not.

use std::io;
use std::net::SocketAddr;

use monoio::net::{ListenerOpts, TcpListener};

/// Pending connections the kernel queues per listener before refusing.
pub const LISTEN_BACKLOG: i32 = 1024;

/// Binds `address` with SO_REUSEPORT on the current shard's runtime.
pub fn listen(address: SocketAddr) -> io::Result<TcpListener> {
    let opts = ListenerOpts::new()
        .reuse_port(true)
        .reuse_addr(true)
        .backlog(LISTEN_BACKLOG);
    TcpListener::bind_with_config(address, &opts)
}

/// Checks that no other socket listens on `address` (so no other server would share
/// it through SO_REUSEPORT); returns the address with the port the kernel chose when
/// `address` asked for port 0, so every shard then binds the same one.
///
/// The probe is closed before the shards bind: a server starting in that instant can
/// still slip in; the check is for the common mistake, not a lock.
///
/// A server that just exited can still hold its listener for a moment: io_uring tears
/// a ring down after the process is gone, and an accept in flight keeps the listening
/// socket open until then. So a refused probe is retried for up to
/// [`CLAIM_PORT_WAIT_MS`] before the port is called taken (at start only).
pub fn claim_port(address: SocketAddr) -> io::Result<SocketAddr> {
    let started = std::time::Instant::now();
    loop {
        // std's bind sets SO_REUSEADDR but never SO_REUSEPORT; REUSEADDR does not allow
        // binding beside a listening socket on Linux, so any listener makes this fail.
        match std::net::TcpListener::bind(address) {
            Ok(probe) => return probe.local_addr(),
            Err(e)
                if e.kind() == io::ErrorKind::AddrInUse
                    && started.elapsed().as_millis() < u128::from(CLAIM_PORT_WAIT_MS) =>
            {
                std::thread::sleep(std::time::Duration::from_millis(CLAIM_PORT_RETRY_MS));
            }
            Err(e) => return Err(e),
        }
    }
}

/// How long [`claim_port`] waits for a listener of an exited process to go away.
pub const CLAIM_PORT_WAIT_MS: u64 = 2_000;
/// Pause between two probes of [`claim_port`].
const CLAIM_PORT_RETRY_MS: u64 = 50;

/// Whether an accept failed because the process or the system ran out of file
/// descriptors or socket memory: retrying at once would fail again (and spin a core).
pub fn is_resource_exhaustion(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A port some listener (even a reuse-port one) holds is refused; a free one is claimed.
    #[test]
    fn claim_port_refuses_a_port_in_use() {
        let any: SocketAddr = "127.0.0.1:0".parse().expect("address");
        let claimed = claim_port(any).expect("a free port");
        assert_ne!(claimed.port(), 0);
        let (mut runtime, _) =
            crate::build_runtime(&crate::RuntimeConfig::default()).expect("runtime");
        runtime.block_on(async {
            let held = listen(claimed).expect("reuse-port listener");
            let error = claim_port(claimed).expect_err("port is in use");
            assert_eq!(error.kind(), io::ErrorKind::AddrInUse);
            drop(held);
        });
    }

    /// EMFILE and ENFILE are exhaustion; a reset connection is not.
    #[test]
    fn exhaustion_errors() {
        assert!(is_resource_exhaustion(&io::Error::from_raw_os_error(
            libc::EMFILE
        )));
        assert!(is_resource_exhaustion(&io::Error::from_raw_os_error(
            libc::ENFILE
        )));
        assert!(!is_resource_exhaustion(&io::Error::from_raw_os_error(
            libc::ECONNABORTED
        )));
    }
}
