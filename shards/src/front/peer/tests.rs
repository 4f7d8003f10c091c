//! A channel and a served connection on loopback, end to end: route preamble, handoff
//! to the named shard's inbox, handshake, requests with payload both ways, deadlines,
//! a wrong secret, and a peer that comes back.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use shoal_io::AlignedBuf;
use shoal_wire::handshake::ClusterSecret;

use crate::front::peer::accept::{self, Sorted};
use crate::front::peer::channel::{CallError, ChannelConfig, PeerChannel};
use crate::front::peer::permits::Permits;
use crate::front::peer::serve::{Answer, PeerService, ServeConfig, serve};

const DEPLOYMENT: [u8; 16] = [3; 16];

/// Echoes (op 0), answers N payload bytes (op 1), or sleeps N ms first (op 2).
struct Echo {
    sessions_ended: Rc<Cell<usize>>,
}

impl PeerService for Echo {
    type Session = ();

    fn session(&self) {}

    fn call(
        &self,
        _session: &Rc<()>,
        body: Vec<u8>,
        payload: Option<AlignedBuf>,
    ) -> Pin<Box<dyn Future<Output = Answer>>> {
        Box::pin(async move {
            let n = u32::from_le_bytes(body[1..5].try_into().expect("n")) as usize;
            match body[0] {
                0 => (body, payload),
                1 => {
                    let mut buf = AlignedBuf::with_capacity(n);
                    let bytes: Vec<u8> = (0..n).map(|i| (i % 253) as u8).collect();
                    buf.extend_from_slice(&bytes);
                    (body, Some(buf))
                }
                _ => {
                    monoio::time::sleep(Duration::from_millis(n as u64)).await;
                    (body, None)
                }
            }
        })
    }

    fn end(&self, _session: Rc<()>) -> Pin<Box<dyn Future<Output = ()>>> {
        let ended = self.sessions_ended.clone();
        Box::pin(async move { ended.set(ended.get() + 1) })
    }
}

fn op(code: u8, n: u32) -> Vec<u8> {
    let mut body = vec![code];
    body.extend_from_slice(&n.to_le_bytes());
    body
}

fn secret() -> ClusterSecret {
    ClusterSecret::derive("root", "a secret key")
}

/// Accepts on `listener` forever, serving peers like a one-shard node.
fn serve_node(listener: monoio::net::TcpListener, secret: ClusterSecret) -> Rc<Cell<usize>> {
    let ended = Rc::new(Cell::new(0));
    let service = Rc::new(Echo {
        sessions_ended: ended.clone(),
    });
    let (senders, mut receivers) = accept::inboxes(1);
    let senders = Rc::new(std::cell::RefCell::new(senders));
    let config = ServeConfig {
        deployment_id: DEPLOYMENT,
        secret,
    };
    let permits = Permits::new(8);
    monoio::spawn(accept::receive(
        receivers.remove(0),
        move |stream, _route| {
            let (config, service, permits) = (config.clone(), service.clone(), permits.clone());
            monoio::spawn(async move { serve(stream, &config, service, permits).await });
        },
    ));
    monoio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let senders = senders.clone();
            monoio::spawn(async move {
                if let Sorted::S3(_) = accept::sort(stream, &senders, Duration::from_secs(5)).await
                {
                    panic!("a peer was taken for an S3 client");
                }
            });
        }
    });
    ended
}

fn channel(address: std::net::SocketAddr, secret: ClusterSecret) -> PeerChannel {
    PeerChannel::new(ChannelConfig {
        address,
        target_shard: 0,
        deployment_id: DEPLOYMENT,
        secret,
    })
}

/// Many calls at once over one connection each get their own answer: bodies, a
/// payload sent (1 MiB) and one received (3 MiB) into the caller's buffer.
#[test]
fn concurrent_calls_get_their_own_answers() {
    crate::front::peer::test_runtime().block_on(async {
        let listener = monoio::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        serve_node(listener, secret());
        let peer = channel(address, secret());
        let deadline = Duration::from_secs(5);
        let calls = (0..32u32).map(|i| {
            let peer = peer.clone();
            async move {
                let (answer, buf) = peer.call(op(0, i), None, deadline).await;
                assert_eq!(answer.expect("echo"), op(0, i));
                assert!(buf.is_none());
            }
        });
        futures_util::future::join_all(calls).await;
        let mut out = AlignedBuf::with_capacity(1 << 20);
        out.extend_from_slice(&vec![7u8; 1 << 20]);
        let (answer, back) = peer.call(op(0, 0), Some(out), deadline).await;
        assert_eq!(answer.expect("echo"), op(0, 0));
        let back = back.expect("the buffer comes back");
        assert_eq!(back.capacity(), 1 << 20);
        let n = 3 << 20;
        let (answer, got) = peer
            .call(
                op(1, n),
                Some(AlignedBuf::with_capacity(n as usize)),
                deadline,
            )
            .await;
        answer.expect("fill");
        let got = got.expect("payload");
        assert_eq!(got.len(), n as usize);
        assert!(
            got.as_slice()
                .iter()
                .enumerate()
                .all(|(i, b)| *b == (i % 253) as u8)
        );
        assert!(peer.is_up());
    });
}

/// A call past its deadline times out with its buffer back; the connection serves the
/// next call, and the late answer does not reach it.
#[test]
fn a_late_answer_is_a_timeout_and_the_channel_goes_on() {
    crate::front::peer::test_runtime().block_on(async {
        let listener = monoio::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        serve_node(listener, secret());
        let peer = channel(address, secret());
        let (answer, buf) = peer
            .call(
                op(2, 300),
                Some(AlignedBuf::with_capacity(4096)),
                Duration::from_millis(100),
            )
            .await;
        assert_eq!(answer, Err(CallError::Timeout));
        assert_eq!(buf.expect("buffer back").capacity(), 4096);
        let (answer, _) = peer.call(op(0, 9), None, Duration::from_secs(5)).await;
        assert_eq!(answer.expect("next call"), op(0, 9));
    });
}

/// A dialer without the cluster secret is refused: its calls fail as unreachable.
#[test]
fn a_wrong_secret_is_refused() {
    crate::front::peer::test_runtime().block_on(async {
        let listener = monoio::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        serve_node(listener, secret());
        let intruder = channel(address, ClusterSecret::derive("root", "guessed"));
        let (answer, _) = intruder.call(op(0, 1), None, Duration::from_secs(5)).await;
        assert!(
            matches!(answer, Err(CallError::Unreachable(_))),
            "{answer:?}"
        );
        assert!(!intruder.is_up());
    });
}

/// A peer that is not there fails calls at once; once it listens, a call after the
/// backoff reaches it without anyone reconnecting by hand.
#[test]
fn a_peer_that_comes_back_is_used_again() {
    crate::front::peer::test_runtime().block_on(async {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = probe.local_addr().expect("address");
        drop(probe);
        let peer = channel(address, secret());
        let started = std::time::Instant::now();
        let (answer, _) = peer.call(op(0, 1), None, Duration::from_secs(5)).await;
        assert!(
            matches!(answer, Err(CallError::Unreachable(_))),
            "{answer:?}"
        );
        let (again, _) = peer.call(op(0, 1), None, Duration::from_secs(5)).await;
        assert!(
            matches!(again, Err(CallError::Unreachable(_))),
            "backing off: {again:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "failures are fast"
        );
        let listener = monoio::net::TcpListener::bind(address).expect("rebind");
        serve_node(listener, secret());
        let mut answered = None;
        for _ in 0..50 {
            monoio::time::sleep(Duration::from_millis(100)).await;
            if let (Ok(body), _) = peer.call(op(0, 2), None, Duration::from_secs(5)).await {
                answered = Some(body);
                break;
            }
        }
        assert_eq!(answered, Some(op(0, 2)));
    });
}
