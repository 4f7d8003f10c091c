//! A channel and a served connection on loopback, end to end: route preamble, handoff
//! to the named shard's inbox, handshake, requests with payload both ways, deadlines,
//! a wrong secret, a peer that comes back; TLS (certificates made by `openssl`), Ping
//! and silence, Cancel, deadlines on the far side, what strangers may hold, and a peer
//! found again by its name at a new address.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use shoal_io::AlignedBuf;
use shoal_wire::handshake::ClusterSecret;

use crate::front::peer::accept::{self, Sorted};
use crate::front::peer::channel::{
    CONNECT_TIMEOUT, CallError, ChannelConfig, PeerChannel, RECONNECT_WAIT_MAX,
};
use crate::front::peer::permits::Permits;
use crate::front::peer::resolve::PeerAddress;
use crate::front::peer::serve::{Answer, PeerService, ServeConfig, serve};

pub(super) const DEPLOYMENT: [u8; 16] = [3; 16];

/// What the far side's service saw.
#[derive(Default)]
pub(super) struct Seen {
    sessions_ended: Cell<usize>,
    /// Calls whose work began (first polled).
    pub(super) started: Cell<usize>,
    /// Calls dropped before they answered.
    dropped: Cell<usize>,
}

/// Echoes (op 0), answers N payload bytes (op 1), sleeps N ms first (op 2), or blocks
/// its whole thread N ms (op 3: a node that stopped).
struct Echo {
    seen: Rc<Seen>,
}

/// Counts a call dropped before it answered.
struct Unfinished(Option<Rc<Seen>>);

impl Drop for Unfinished {
    fn drop(&mut self) {
        if let Some(seen) = self.0.take() {
            seen.dropped.set(seen.dropped.get() + 1);
        }
    }
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
        let seen = self.seen.clone();
        Box::pin(async move {
            seen.started.set(seen.started.get() + 1);
            let mut unfinished = Unfinished(Some(seen));
            let n = u32::from_le_bytes(body[1..5].try_into().expect("n")) as usize;
            let answer = match body[0] {
                0 => (body, payload),
                1 => {
                    let mut buf = AlignedBuf::with_capacity(n);
                    let bytes: Vec<u8> = (0..n).map(|i| (i % 253) as u8).collect();
                    buf.extend_from_slice(&bytes);
                    (body, Some(buf))
                }
                2 => {
                    monoio::time::sleep(Duration::from_millis(n as u64)).await;
                    (body, None)
                }
                _ => {
                    std::thread::sleep(Duration::from_millis(n as u64));
                    (body, None)
                }
            };
            unfinished.0 = None;
            answer
        })
    }

    fn end(&self, _session: Rc<()>) -> Pin<Box<dyn Future<Output = ()>>> {
        let seen = self.seen.clone();
        Box::pin(async move { seen.sessions_ended.set(seen.sessions_ended.get() + 1) })
    }
}

pub(super) fn op(code: u8, n: u32) -> Vec<u8> {
    let mut body = vec![code];
    body.extend_from_slice(&n.to_le_bytes());
    body
}

pub(super) fn secret() -> ClusterSecret {
    ClusterSecret::derive("root", "a secret key")
}

/// Accepts on `listener` forever, serving peers like a one-shard node.
fn serve_node(listener: monoio::net::TcpListener, secret: ClusterSecret) -> Rc<Seen> {
    let config = ServeConfig::new(DEPLOYMENT, secret);
    serve_node_with(listener, config, Permits::new(8))
}

/// As `serve_node`, with this configuration and these permits.
pub(super) fn serve_node_with(
    listener: monoio::net::TcpListener,
    config: ServeConfig,
    permits: Permits,
) -> Rc<Seen> {
    let seen = Rc::new(Seen::default());
    let service = Rc::new(Echo { seen: seen.clone() });
    let (senders, mut receivers) = accept::inboxes(1);
    let senders = Rc::new(std::cell::RefCell::new(senders));
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
    seen
}

fn channel(address: std::net::SocketAddr, secret: ClusterSecret) -> PeerChannel {
    PeerChannel::new(ChannelConfig::new(address, 0, DEPLOYMENT, secret))
}

pub(super) fn listen() -> (monoio::net::TcpListener, std::net::SocketAddr) {
    let listener = monoio::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    (listener, address)
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

/// A peer whose kernel accepts connections but whose process never answers (stopped):
/// after the first attempt failed, calls wait for a new attempt at most
/// `RECONNECT_WAIT_MAX` while it hangs, instead of until its timeout.
#[test]
fn a_hanging_reconnect_does_not_hold_calls() {
    crate::front::peer::test_runtime().block_on(async {
        // Bound and listening, never accepted: the kernel completes TCP handshakes.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let peer = channel(silent.local_addr().expect("address"), secret());
        let (first, _) = peer.call(op(0, 1), None, Duration::from_millis(300)).await;
        assert!(matches!(first, Err(CallError::Timeout)), "{first:?}");
        // Past the longest backoff: the next call starts a new attempt.
        monoio::time::sleep(Duration::from_millis(2_500) + CONNECT_TIMEOUT).await;
        for id in 2..8 {
            let started = std::time::Instant::now();
            let (answer, _) = peer.call(op(0, id), None, Duration::from_secs(5)).await;
            assert!(
                matches!(answer, Err(CallError::Unreachable(_))),
                "{answer:?}"
            );
            assert!(
                started.elapsed() < RECONNECT_WAIT_MAX + Duration::from_millis(100),
                "call {id} waited {:?}",
                started.elapsed()
            );
        }
        drop(silent);
    });
}

/// A channel that pings fast and gives up fast (for the liveness tests).
fn quick_channel(address: std::net::SocketAddr) -> PeerChannel {
    let mut config = ChannelConfig::new(address, 0, DEPLOYMENT, secret());
    config.ping_interval = Duration::from_millis(50);
    config.silence_max = Duration::from_millis(300);
    PeerChannel::new(config)
}

/// Polls `done` every 20 ms for at most `limit`; whether it came true.
async fn eventually(limit: Duration, done: impl Fn() -> bool) -> bool {
    let until = std::time::Instant::now() + limit;
    while std::time::Instant::now() < until {
        if done() {
            return true;
        }
        monoio::time::sleep(Duration::from_millis(20)).await;
    }
    done()
}

/// An idle connection is kept by Pings and their Pongs: long past the silence bound
/// it is still the same open connection, and it answers.
#[test]
fn an_idle_connection_is_kept_by_pings() {
    crate::front::peer::test_runtime().block_on(async {
        let (listener, address) = listen();
        let seen = serve_node(listener, secret());
        let peer = quick_channel(address);
        let (answer, _) = peer.call(op(0, 1), None, Duration::from_secs(5)).await;
        answer.expect("first call");
        monoio::time::sleep(Duration::from_secs(1)).await;
        assert!(peer.is_up(), "pongs kept the idle connection");
        assert_eq!(seen.sessions_ended.get(), 0, "never closed");
        let (answer, _) = peer.call(op(0, 2), None, Duration::from_secs(5)).await;
        assert_eq!(answer.expect("same connection"), op(0, 2));
        assert_eq!(seen.sessions_ended.get(), 0);
    });
}

/// A far node serving for 6 s on a thread of its own, so blocking it (op 3) leaves the
/// dialer running; its address.
fn far_node_on_its_own_thread() -> std::net::SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        crate::front::peer::test_runtime().block_on(async move {
            let (listener, address) = listen();
            serve_node(listener, secret());
            tx.send(address).expect("address");
            monoio::time::sleep(Duration::from_secs(6)).await;
        });
    });
    rx.recv_timeout(Duration::from_secs(5)).expect("far node")
}

/// A peer that stops (its thread blocked, its socket open) is given up within the
/// silence bound, long before it wakes; once it is back, the next call dials again.
#[test]
fn a_silent_peer_is_given_up_and_dialed_again() {
    let address = far_node_on_its_own_thread();
    crate::front::peer::test_runtime().block_on(async {
        let peer = quick_channel(address);
        let (answer, _) = peer.call(op(0, 1), None, Duration::from_secs(5)).await;
        answer.expect("first call");
        let started = std::time::Instant::now();
        let (answer, _) = peer
            .call(op(3, 1500), None, Duration::from_millis(100))
            .await;
        assert_eq!(answer, Err(CallError::Timeout));
        let gave_up = eventually(Duration::from_secs(1), || !peer.is_up()).await;
        assert!(gave_up, "the silent connection was given up");
        assert!(
            started.elapsed() < Duration::from_millis(1400),
            "before it woke"
        );
        let mut answered = None;
        for _ in 0..50 {
            if let (Ok(body), _) = peer.call(op(0, 2), None, Duration::from_secs(1)).await {
                answered = Some(body);
                break;
            }
            monoio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            answered,
            Some(op(0, 2)),
            "dialed again once the peer was back"
        );
    });
}

/// A call its caller drops sends Cancel: the far side drops the running request and
/// frees its permit at once, not at its (far) deadline nor when its work would end.
#[test]
fn a_cancelled_request_is_dropped_and_its_permit_freed() {
    crate::front::peer::test_runtime().block_on(async {
        let (listener, address) = listen();
        let permits = Permits::new(8);
        let config = ServeConfig::new(DEPLOYMENT, secret());
        let seen = serve_node_with(listener, config, permits.clone());
        let peer = channel(address, secret());
        let started = std::time::Instant::now();
        let call = peer.call(op(2, 5000), None, Duration::from_secs(10));
        let abandoned = monoio::time::timeout(Duration::from_millis(200), call).await;
        assert!(abandoned.is_err(), "the caller left");
        assert_eq!(seen.started.get(), 1);
        let freed = eventually(Duration::from_secs(1), || {
            permits.free() == 8 && seen.dropped.get() == 1
        })
        .await;
        assert!(freed, "cancelled: dropped, permit back");
        assert!(started.elapsed() < Duration::from_secs(2));
        let (answer, _) = peer.call(op(0, 3), None, Duration::from_secs(5)).await;
        assert_eq!(answer.expect("the connection goes on"), op(0, 3));
    });
}

/// The far side keeps each request's deadline: one that waited for a permit past it
/// never starts; one running at it is dropped then, its permit freed.
#[test]
fn the_far_side_keeps_deadlines() {
    crate::front::peer::test_runtime().block_on(async {
        let (listener, address) = listen();
        let permits = Permits::new(1);
        let config = ServeConfig::new(DEPLOYMENT, secret());
        let seen = serve_node_with(listener, config, permits.clone());
        let peer = channel(address, secret());
        let first = {
            let peer = peer.clone();
            monoio::spawn(async move { peer.call(op(2, 600), None, Duration::from_secs(5)).await })
        };
        monoio::time::sleep(Duration::from_millis(50)).await;
        let (queued, _) = peer.call(op(0, 1), None, Duration::from_millis(200)).await;
        assert_eq!(queued, Err(CallError::Timeout));
        let (answer, _) = first.await;
        answer.expect("the first call");
        monoio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(seen.started.get(), 1, "the late one never started");
        let started = std::time::Instant::now();
        let (slow, _) = peer
            .call(op(2, 3000), None, Duration::from_millis(300))
            .await;
        assert_eq!(slow, Err(CallError::Timeout));
        let dropped = eventually(Duration::from_secs(1), || {
            seen.dropped.get() == 1 && permits.free() == 1
        })
        .await;
        assert!(dropped, "dropped at its deadline, permit back");
        assert!(started.elapsed() < Duration::from_secs(2));
    });
}

/// Whether the far side closes `stream` within `limit` (reads 0 or fails).
fn closed_within(stream: &mut std::net::TcpStream, limit: Duration) -> bool {
    use std::io::Read;
    stream.set_read_timeout(Some(limit)).expect("timeout");
    let mut byte = [0u8; 1];
    !matches!(stream.read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// Strangers are bounded: beyond the shard's unauthenticated slots a connection is
/// closed at once, and one announcing a body larger than a handshake's is closed
/// before its body arrives; a member of the cluster is served all along.
#[test]
fn strangers_are_bounded() {
    use shoal_wire::frame::{FrameKind, FrameMeta, encode_frame_vec};
    use shoal_wire::route::Route;
    use std::io::Write;
    crate::front::peer::test_runtime().block_on(async {
        let (listener, address) = listen();
        let config = ServeConfig::new(DEPLOYMENT, secret());
        serve_node_with(listener, config, Permits::with_strangers(8, 2));
        let preamble = Route {
            target_shard: 0,
            tls: false,
        }
        .encode();
        let stranger = || {
            let mut stream = std::net::TcpStream::connect(address).expect("connect");
            stream.write_all(&preamble).expect("preamble");
            stream
        };
        let sitting = [stranger(), stranger()];
        monoio::time::sleep(Duration::from_millis(200)).await;
        let mut third = stranger();
        // The node runs while this task sleeps; the std read below blocks the thread,
        // so it only looks at what the node did meanwhile.
        monoio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            closed_within(&mut third, Duration::from_millis(100)),
            "a third stranger is closed at once"
        );
        assert!(
            !closed_within(
                &mut sitting[0].try_clone().expect("clone"),
                Duration::from_millis(10)
            ),
            "the first ones still wait for their handshake"
        );
        drop(sitting);
        monoio::time::sleep(Duration::from_millis(200)).await;
        let big = encode_frame_vec(
            &FrameMeta::new(FrameKind::Hello, DEPLOYMENT),
            &vec![0u8; 60_000],
            0,
        )
        .expect("a frame");
        let mut greedy = stranger();
        greedy.write_all(&big[..80]).expect("header only");
        monoio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            closed_within(&mut greedy, Duration::from_millis(100)),
            "closed before its body"
        );
        let peer = channel(address, secret());
        let (answer, _) = peer.call(op(0, 4), None, Duration::from_secs(5)).await;
        assert_eq!(answer.expect("a member is served"), op(0, 4));
    });
}

/// When the dialer gives a connection up (here: an answer slower than its silence
/// bound) the far side drops what that connection still ran, since nobody waits for
/// it, frees its permit and ends its session.
#[test]
fn a_connection_given_up_stops_its_requests() {
    crate::front::peer::test_runtime().block_on(async {
        let (listener, address) = listen();
        let permits = Permits::new(8);
        let config = ServeConfig::new(DEPLOYMENT, secret());
        let seen = serve_node_with(listener, config, permits.clone());
        let mut config = ChannelConfig::new(address, 0, DEPLOYMENT, secret());
        config.ping_interval = Duration::from_millis(300);
        config.silence_max = Duration::from_millis(100);
        let peer = PeerChannel::new(config);
        let (answer, _) = peer.call(op(2, 5000), None, Duration::from_secs(10)).await;
        assert!(
            matches!(answer, Err(CallError::Unreachable(_))),
            "{answer:?}"
        );
        let stopped = eventually(Duration::from_secs(1), || {
            seen.dropped.get() == 1 && seen.sessions_ended.get() == 1 && permits.free() == 8
        })
        .await;
        assert!(
            stopped,
            "dropped with its connection, session ended, permit back"
        );
    });
}

/// A peer named by host is resolved again each time the channel dials: once the
/// connection to its old address was given up (it went silent), calls reach the
/// address the name resolves to now, without a new channel.
#[test]
fn a_peer_that_moved_is_found_again_by_its_name() {
    // The old address, on a thread of its own so it can go silent.
    let old = far_node_on_its_own_thread();
    crate::front::peer::test_runtime().block_on(async {
        let (listener, new) = listen();
        let moved = serve_node(listener, secret());
        let points_to = std::sync::Arc::new(std::sync::Mutex::new(old));
        let mut config =
            ChannelConfig::new(PeerAddress::of("peer.test", 1), 0, DEPLOYMENT, secret());
        config.resolve = {
            let points_to = points_to.clone();
            std::sync::Arc::new(move |host, _port| {
                assert_eq!(host, "peer.test");
                Ok(*points_to.lock().expect("lock"))
            })
        };
        config.ping_interval = Duration::from_millis(50);
        config.silence_max = Duration::from_millis(300);
        let peer = PeerChannel::new(config);
        let (answer, _) = peer.call(op(0, 1), None, Duration::from_secs(5)).await;
        answer.expect("first call, at the old address");
        assert_eq!(moved.started.get(), 0);

        *points_to.lock().expect("lock") = new;
        let (answer, _) = peer
            .call(op(3, 1500), None, Duration::from_millis(100))
            .await;
        assert_eq!(answer, Err(CallError::Timeout));
        assert!(
            eventually(Duration::from_secs(1), || !peer.is_up()).await,
            "the silent connection was given up"
        );
        let mut answered = None;
        for _ in 0..50 {
            if let (Ok(body), _) = peer.call(op(0, 2), None, Duration::from_secs(1)).await {
                answered = Some(body);
                break;
            }
            monoio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(answered, Some(op(0, 2)), "answered after the move");
        assert!(moved.started.get() >= 1, "by the node at the new address");
    });
}
