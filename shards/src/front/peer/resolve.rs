//! Where a peer node is: an IP address, or a host name resolved again before every
//! connection attempt, so a peer whose address changes (a Kubernetes pod rescheduled,
//! a DNS record moved) is found again without restarting this node, and a node whose
//! peers' names do not resolve yet (pods starting) waits for them instead of exiting.
//!
//! Resolving blocks (`getaddrinfo`), so it runs on a thread of its own, never on the
//! shard, and is awaited; the connection attempt's timeout bounds how long a shard
//! waits for it. Bounds: at most one resolution per channel at a time. An attempt
//! that gave up on one (its timeout) leaves it in place, and the next attempt waits
//! for that one instead of starting another, so a resolver that hangs costs one thread
//! per channel, not one per attempt.

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use futures_channel::oneshot;

/// How a host name becomes an address (the system's resolver, or a test's).
pub type ResolveFn = Arc<dyn Fn(&str, u16) -> io::Result<SocketAddr> + Send + Sync>;

/// A peer node's address as the drive list names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerAddress {
    /// An IP address: nothing to resolve.
    Fixed(SocketAddr),
    /// A host name, resolved before each connection attempt.
    Named { host: String, port: u16 },
}

impl PeerAddress {
    /// `host` as the drive list spells it: an IP literal is fixed, anything else a name.
    pub fn of(host: &str, port: u16) -> Self {
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        match literal.parse::<IpAddr>() {
            Ok(ip) => PeerAddress::Fixed(SocketAddr::new(ip, port)),
            Err(_) => PeerAddress::Named {
                host: host.to_owned(),
                port,
            },
        }
    }
}

impl From<SocketAddr> for PeerAddress {
    fn from(address: SocketAddr) -> Self {
        PeerAddress::Fixed(address)
    }
}

impl fmt::Display for PeerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerAddress::Fixed(address) => write!(f, "{address}"),
            PeerAddress::Named { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

/// The system's resolver: the first address the name resolves to.
pub fn system_resolver() -> ResolveFn {
    Arc::new(|host, port| {
        (host, port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "the name has no address"))
    })
}

type Answer = io::Result<SocketAddr>;

/// One channel's resolutions: at most one in flight.
#[derive(Default)]
pub struct Resolutions {
    in_flight: RefCell<Option<oneshot::Receiver<Answer>>>,
}

impl Resolutions {
    /// The address to dial now: `address` itself, or its name resolved by `resolve` on
    /// a thread (the one already in flight, if an earlier attempt left one).
    pub async fn resolve(&self, address: &PeerAddress, resolve: &ResolveFn) -> Answer {
        let (host, port) = match address {
            PeerAddress::Fixed(address) => return Ok(*address),
            PeerAddress::Named { host, port } => (host, *port),
        };
        let receiver = self.in_flight.borrow_mut().take();
        let receiver = receiver.unwrap_or_else(|| spawn_resolution(host, port, resolve));
        let mut waiting = Waiting {
            slot: &self.in_flight,
            receiver: Some(receiver),
        };
        let Some(receiver) = waiting.receiver.as_mut() else {
            unreachable!("just set");
        };
        let answer = receiver.await;
        waiting.receiver = None;
        match answer {
            Ok(Ok(resolved)) => Ok(resolved),
            Ok(Err(error)) => Err(io::Error::new(
                error.kind(),
                format!("cannot resolve {host}: {error}"),
            )),
            Err(oneshot::Canceled) => Err(io::Error::other(format!(
                "cannot resolve {host}: the resolver thread could not run"
            ))),
        }
    }
}

/// Puts a resolution still in flight back when its waiter is dropped (the attempt's
/// timeout), for the next attempt to wait for.
struct Waiting<'a> {
    slot: &'a RefCell<Option<oneshot::Receiver<Answer>>>,
    receiver: Option<oneshot::Receiver<Answer>>,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Some(receiver) = self.receiver.take() {
            *self.slot.borrow_mut() = Some(receiver);
        }
    }
}

/// Starts resolving `host` on a thread of its own; the receiver gets the answer, or
/// `Canceled` when no thread could be started.
fn spawn_resolution(host: &str, port: u16, resolve: &ResolveFn) -> oneshot::Receiver<Answer> {
    let (sender, receiver) = oneshot::channel();
    let (host, resolve) = (host.to_owned(), resolve.clone());
    // A failed spawn drops the closure and its sender: the receiver sees `Canceled`.
    let _ = std::thread::Builder::new()
        .name("shoal-resolve".to_owned())
        .spawn(move || {
            let _ = sender.send(resolve(&host, port));
        });
    receiver
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// IP literals (v4, bracketed v6) are fixed; anything else is a name to resolve.
    #[test]
    fn literals_are_fixed_and_names_are_resolved() {
        assert_eq!(
            PeerAddress::of("127.0.0.3", 9000),
            PeerAddress::Fixed("127.0.0.3:9000".parse().unwrap())
        );
        assert_eq!(
            PeerAddress::of("[::1]", 9000),
            PeerAddress::Fixed("[::1]:9000".parse().unwrap())
        );
        let named = PeerAddress::of("node-2.shoal.svc", 9000);
        assert!(
            matches!(&named, PeerAddress::Named { host, port: 9000 } if host == "node-2.shoal.svc")
        );
        assert_eq!(named.to_string(), "node-2.shoal.svc:9000");
    }

    /// Each resolution asks the resolver again (a moved name is followed), its error
    /// names the host, and an attempt that gave up leaves its resolution for the next
    /// attempt instead of starting a second one.
    #[test]
    fn names_are_resolved_each_time_and_one_at_a_time() {
        let asked = Arc::new(AtomicUsize::new(0));
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let release_rx = Arc::new(std::sync::Mutex::new(release_rx));
        let resolve: ResolveFn = {
            let asked = asked.clone();
            Arc::new(move |host, port| {
                let n = asked.fetch_add(1, Ordering::SeqCst);
                if host == "slow" {
                    let _ = release_rx.lock().unwrap().recv();
                }
                match host {
                    "gone" => Err(io::Error::new(io::ErrorKind::NotFound, "no such host")),
                    _ => Ok(SocketAddr::new([127, 0, 0, 1 + n as u8].into(), port)),
                }
            })
        };
        let runtime = || {
            monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
                .enable_timer()
                .build()
                .expect("runtime")
        };
        runtime().block_on(async {
            let resolutions = Resolutions::default();
            let name = PeerAddress::of("moving", 7);
            let first = resolutions.resolve(&name, &resolve).await.unwrap();
            let second = resolutions.resolve(&name, &resolve).await.unwrap();
            assert_ne!(first, second, "the name is resolved again");

            let error = (resolutions
                .resolve(&PeerAddress::of("gone", 7), &resolve)
                .await)
                .expect_err("does not resolve");
            assert!(error.to_string().contains("cannot resolve gone"), "{error}");

            let slow = PeerAddress::of("slow", 7);
            let attempt = resolutions.resolve(&slow, &resolve);
            let timed_out =
                monoio::time::timeout(std::time::Duration::from_millis(50), attempt).await;
            assert!(timed_out.is_err(), "the resolver hangs until released");
            for _ in 0..500 {
                if asked.load(Ordering::SeqCst) == 4 {
                    break;
                }
                monoio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            let before = asked.load(Ordering::SeqCst);
            assert_eq!(before, 4, "the slow resolution started");
            release_tx.send(()).unwrap();
            resolutions.resolve(&slow, &resolve).await.unwrap();
            assert_eq!(
                asked.load(Ordering::SeqCst),
                before,
                "waited for the same one"
            );
        });
    }
}
