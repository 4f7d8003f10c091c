//! `PeerChannel`: one shard's way to one shard of a peer node, over one long-lived TCP
//! connection carrying many requests at once (request ids pair answers with calls).
//!
//! A call sends a Request frame (body, and the caller's buffer as payload when it
//! holds bytes) and waits for its Reply until its deadline; a reply's payload is read
//! straight into the caller's buffer. The connection is opened on first use (route
//! preamble, then the authenticated handshake) and after a failure no sooner than a
//! backoff later: until then calls fail at once as `Unreachable`, so a dead peer costs
//! the quorum engine nothing but a failed member, and it comes back by itself.
//!
//! Tasks: the connection's reader (answers to waiting calls) and writer (frames from a
//! bounded queue, `FRAMES_QUEUED_MAX`) run as the shard's tasks; the reader is never
//! cancelled mid-read (bytes would be lost). A call that gives up at its deadline sends
//! a Cancel frame and leaves; its answer, if it comes, is read and dropped. A third
//! task keeps the connection honest: when nothing was heard for `ping_interval` it
//! sends a Ping (the far side answers Pong); a connection silent for `silence_max`
//! (no answer, no Pong: a stopped or cut-off peer) is shut down, its calls fail, and
//! the next call dials again. With TLS (`tls`), the preamble says so and the TLS
//! handshake, verifying the peer's certificate, runs before the cluster handshake.
//!
//! Invariants: every pending call ends (answer, deadline, or the connection's end);
//! the caller's buffer always comes back (a fresh one of the same capacity if the
//! original is still in the kernel's hands when the call gives up); at most
//! `CALLS_IN_FLIGHT_MAX` calls wait per channel.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use futures_channel::{mpsc, oneshot};
use futures_util::StreamExt;
use monoio::io::AsyncWriteRentExt;
use monoio::net::TcpStream;
use monoio::time::Instant;
use shoal_io::AlignedBuf;
use shoal_wire::frame::{BODY_MAX_BYTES, FrameKind, FrameMeta, PAYLOAD_MAX_BYTES};
use shoal_wire::handshake::{ClusterSecret, Dialer, Step};
use shoal_wire::route::Route;

use crate::front::peer::framed::{FrameReader, FrameWriter};
use crate::front::peer::resolve::{PeerAddress, Resolutions, ResolveFn, system_resolver};
use crate::front::peer::socket;
use crate::front::tls::PeerTls;

/// Frames waiting for the writer; beyond it a call fails at once (`Unreachable`).
pub const FRAMES_QUEUED_MAX: usize = 64;
/// Payload bytes waiting for the writer; beyond it a call fails at once: a peer that
/// stopped reading (SIGSTOP, a dead host behind a live route) never makes this node's
/// memory grow with its callers.
pub const QUEUED_BYTES_MAX: usize = 64 << 20;
/// Longest one frame's write may take: a peer that stopped reading for this long is
/// taken for dead (the connection closes, its calls fail, the next call reconnects).
pub const WRITE_STALL_MAX: Duration = Duration::from_secs(5);
/// Calls one channel lets wait for answers at once; more fail as `Unreachable`.
pub const CALLS_IN_FLIGHT_MAX: usize = 1024;
/// Longest a connection attempt (TCP connect and handshake) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest a call waits for a reconnect attempt (after a failure) to succeed.
pub const RECONNECT_WAIT_MAX: Duration = Duration::from_millis(250);
/// First wait after a failed connection before the next attempt; doubles per failure.
pub const RECONNECT_BACKOFF_MIN: Duration = Duration::from_millis(200);
/// Longest wait between attempts: a peer that is back is used within this.
pub const RECONNECT_BACKOFF_MAX: Duration = Duration::from_secs(2);
/// A connection that heard nothing for this long sends a Ping.
pub const PING_INTERVAL: Duration = Duration::from_secs(1);
/// A connection that heard nothing (no answer, no Pong) for this long is shut down:
/// a few Pings unanswered, so a peer that stopped is skipped within seconds.
pub const SILENCE_MAX: Duration = Duration::from_secs(4);

/// Why a call has no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// No connection to the peer (refused, broken, backing off), and why.
    Unreachable(String),
    /// No answer within the deadline: the peer may or may not have acted.
    Timeout,
    /// The peer broke the protocol; the connection was closed.
    Protocol(String),
}

/// An answer: the Reply frame's body, and the buffer (holding its payload, if any).
pub type CallOutcome = (Result<Vec<u8>, CallError>, Option<AlignedBuf>);

/// Where a channel goes and who it is.
#[derive(Clone)]
pub struct ChannelConfig {
    /// The peer's address, or its host name (resolved before each attempt).
    pub address: PeerAddress,
    /// How a host name is resolved (the system's resolver; tests give their own).
    pub resolve: ResolveFn,
    pub target_shard: u16,
    pub deployment_id: [u8; 16],
    pub secret: ClusterSecret,
    /// TLS towards the peer (`--certs-dir`); `None`: plain TCP.
    pub tls: Option<PeerTls>,
    /// Idle time before a Ping (`PING_INTERVAL`).
    pub ping_interval: Duration,
    /// Silence before the connection is given up (`SILENCE_MAX`).
    pub silence_max: Duration,
}

impl ChannelConfig {
    /// A plain channel with the default liveness bounds.
    pub fn new(
        address: impl Into<PeerAddress>,
        target_shard: u16,
        deployment_id: [u8; 16],
        secret: ClusterSecret,
    ) -> Self {
        Self {
            address: address.into(),
            resolve: system_resolver(),
            target_shard,
            deployment_id,
            secret,
            tls: None,
            ping_interval: PING_INTERVAL,
            silence_max: SILENCE_MAX,
        }
    }
}

/// One shard's channel to one shard of a peer; cheap to clone.
#[derive(Clone)]
pub struct PeerChannel {
    inner: Rc<Inner>,
}

struct Inner {
    config: ChannelConfig,
    /// The peer's name being resolved, if it is one (`resolve.rs`).
    resolutions: Resolutions,
    state: RefCell<State>,
    next_request_id: Cell<u64>,
    /// The peer node's shard count, as its last handshake told it (`None` before).
    peer_shards: Cell<Option<u32>>,
}

enum State {
    /// No connection, and no reason to wait before opening one.
    Idle,
    /// A connection is being opened; these calls wait for it.
    Connecting(Vec<oneshot::Sender<()>>),
    /// A new attempt after a failure: calls wait for it at most `RECONNECT_WAIT_MAX`,
    /// then fail with the last reason (a stopped peer's kernel still accepts
    /// connections, so an attempt can hang until its timeout, and every read would pay
    /// for it; a peer that is back answers well within the bound).
    Reconnecting {
        why: String,
        waiters: Vec<oneshot::Sender<()>>,
    },
    Up(Rc<Link>),
    /// The last attempt failed (or the connection broke): calls fail until `retry_at`.
    Down {
        retry_at: Instant,
        backoff: Duration,
        why: String,
    },
}

/// One open connection.
struct Link {
    outgoing: mpsc::Sender<Outgoing>,
    /// Frames and payload bytes queued and not yet written (the bound of the queue:
    /// each send goes through a fresh clone of `outgoing`, which the channel's own
    /// capacity never refuses).
    queued: Rc<Queued>,
    pending: RefCell<HashMap<u64, Pending>>,
    deployment_id: [u8; 16],
    target_shard: u32,
    /// When the last frame came from the peer (or the connection opened).
    heard_at: Cell<Instant>,
    /// Ends the connection while its reader still waits (`shoal_io::handoff::closer`);
    /// taken when it is shut down.
    closer: RefCell<Option<std::net::TcpStream>>,
}

#[derive(Default)]
struct Queued {
    frames: Cell<usize>,
    bytes: Cell<usize>,
    /// Calls waiting for room, woken by every `release` (and when the writer ends).
    waiters: RefCell<Vec<oneshot::Sender<()>>>,
    /// The writer ended: nothing queued will be written any more.
    closed: Cell<bool>,
}

impl Queued {
    /// Counts a frame of `bytes` payload in, if it fits.
    fn admit(&self, bytes: usize) -> bool {
        let fits =
            self.frames.get() < FRAMES_QUEUED_MAX && self.bytes.get() + bytes <= QUEUED_BYTES_MAX;
        if fits {
            self.frames.set(self.frames.get() + 1);
            self.bytes.set(self.bytes.get() + bytes);
        }
        fits
    }

    /// Counts a frame of `bytes` payload in once it fits, waiting for room until
    /// `until`: a burst of calls (a listing asks every member about many keys at once)
    /// waits its turn instead of failing the peer.
    async fn admit_by(&self, bytes: usize, until: Instant) -> Result<(), CallError> {
        loop {
            if self.closed.get() {
                return Err(CallError::Unreachable(
                    "the connection to the peer broke".to_owned(),
                ));
            }
            if self.admit(bytes) {
                return Ok(());
            }
            let (room_tx, room_rx) = oneshot::channel();
            self.waiters.borrow_mut().push(room_tx);
            if monoio::time::timeout_at(until, room_rx).await.is_err() {
                return Err(CallError::Timeout);
            }
        }
    }

    /// A frame of `bytes` payload was written (or dropped).
    fn release(&self, bytes: usize) {
        self.frames.set(self.frames.get() - 1);
        self.bytes.set(self.bytes.get() - bytes);
        self.wake_waiters();
    }

    /// The writer ended: every waiting call learns it now.
    fn close(&self) {
        self.closed.set(true);
        self.wake_waiters();
    }

    fn wake_waiters(&self) {
        for waiter in self.waiters.borrow_mut().drain(..) {
            let _ = waiter.send(());
        }
    }
}

struct Pending {
    answer: oneshot::Sender<CallOutcome>,
    /// Where the reply's payload goes (the caller's buffer, unless it went out as the
    /// request's payload).
    buf: Option<AlignedBuf>,
}

struct Outgoing {
    meta: FrameMeta,
    body: Vec<u8>,
    payload: Option<AlignedBuf>,
    /// The payload buffer, back to its call once written.
    sent: Option<oneshot::Sender<AlignedBuf>>,
}

impl PeerChannel {
    pub fn new(config: ChannelConfig) -> Self {
        Self {
            inner: Rc::new(Inner {
                config,
                resolutions: Resolutions::default(),
                state: RefCell::new(State::Idle),
                next_request_id: Cell::new(1),
                peer_shards: Cell::new(None),
            }),
        }
    }

    /// Whether a connection is open now (for health: a peer is reachable).
    pub fn is_up(&self) -> bool {
        matches!(*self.inner.state.borrow(), State::Up(_))
    }

    /// Where the channel goes and who it is.
    pub fn config(&self) -> &ChannelConfig {
        &self.inner.config
    }

    /// The peer node's shard count as its last handshake told it; `None` before the
    /// first connection was opened.
    pub fn known_peer_shards(&self) -> Option<u32> {
        self.inner.peer_shards.get()
    }

    /// As if a new handshake had told `shards` (tests of what follows a peer's restart).
    #[cfg(test)]
    pub(crate) fn tell_peer_shards(&self, shards: u32) {
        self.inner.peer_shards.set(Some(shards));
    }

    /// The peer node's shard count, opening the connection (within `deadline`) if no
    /// handshake has told it yet.
    pub async fn peer_shards(&self, deadline: Duration) -> Result<u32, CallError> {
        if let Some(shards) = self.known_peer_shards() {
            return Ok(shards);
        }
        match monoio::time::timeout(deadline, self.link()).await {
            Ok(Ok(_)) => Ok(self.known_peer_shards().unwrap_or(1)),
            Ok(Err(why)) => Err(CallError::Unreachable(why)),
            Err(_) => Err(CallError::Timeout),
        }
    }

    /// Opens the connection if it is not open (by `until`), so what a call then sends
    /// leaves without waiting for a handshake.
    pub async fn ready(&self, until: Instant) -> Result<(), CallError> {
        match monoio::time::timeout_at(until, self.link()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(why)) => Err(CallError::Unreachable(why)),
            Err(_) => Err(CallError::Timeout),
        }
    }

    /// Sends one request (`body`; `buf`'s bytes as payload when it holds any) and
    /// waits for its answer until `deadline` (time left). The buffer comes back.
    pub async fn call(
        &self,
        body: Vec<u8>,
        buf: Option<AlignedBuf>,
        deadline: Duration,
    ) -> CallOutcome {
        let until = Instant::now() + deadline;
        let link = match monoio::time::timeout_at(until, self.link()).await {
            Ok(Ok(link)) => link,
            Ok(Err(why)) => return (Err(CallError::Unreachable(why)), buf),
            Err(_) => return (Err(CallError::Timeout), buf),
        };
        self.call_on(&link, body, buf, until).await
    }

    async fn call_on(
        &self,
        link: &Rc<Link>,
        body: Vec<u8>,
        buf: Option<AlignedBuf>,
        until: Instant,
    ) -> CallOutcome {
        if link.pending.borrow().len() >= CALLS_IN_FLIGHT_MAX {
            let why = format!("{CALLS_IN_FLIGHT_MAX} calls already wait on this peer");
            return (Err(CallError::Unreachable(why)), buf);
        }
        let payload_len = buf.as_ref().map_or(0, AlignedBuf::len);
        if body.len() > BODY_MAX_BYTES || payload_len > PAYLOAD_MAX_BYTES {
            let why = format!(
                "a frame of {} + {payload_len} bytes is over the limits",
                body.len()
            );
            return (Err(CallError::Protocol(why)), buf);
        }
        if let Err(error) = link.queued.admit_by(payload_len, until).await {
            return (Err(error), buf);
        }
        let capacity = buf.as_ref().map(AlignedBuf::capacity);
        let request_id = self.inner.next_request_id.get();
        self.inner.next_request_id.set(request_id + 1);
        let left_ms = until.saturating_duration_since(Instant::now()).as_millis();
        let mut meta = FrameMeta::new(FrameKind::Request, link.deployment_id);
        meta.request_id = request_id;
        meta.target_shard = link.target_shard;
        meta.deadline_ms = u32::try_from(left_ms).unwrap_or(u32::MAX).max(1);
        let (payload, reply_buf) = match buf {
            Some(buf) if !buf.is_empty() => (Some(buf), None),
            other => (None, other),
        };
        let (sent_tx, sent_rx) = match payload {
            Some(_) => {
                let (tx, rx) = oneshot::channel();
                (Some(tx), Some(rx))
            }
            None => (None, None),
        };
        let (answer_tx, answer_rx) = oneshot::channel();
        link.pending.borrow_mut().insert(
            request_id,
            Pending {
                answer: answer_tx,
                buf: reply_buf,
            },
        );
        // A caller that drops this call (a read whose quorum was met without this
        // member) must not leave its entry behind.
        let abandoned = Abandoned { link, request_id };
        let outgoing = Outgoing {
            meta,
            body,
            payload,
            sent: sent_tx,
        };
        // Admitted above: the queue's bound is `queued`, so this never waits.
        let answer = if link.outgoing.clone().try_send(outgoing).is_ok() {
            monoio::time::timeout_at(until, answer_rx)
                .await
                .map_err(drop)
        } else {
            // The writer is gone (the connection broke): its pending calls end below.
            link.queued.release(payload_len);
            Ok(Err(oneshot::Canceled))
        };
        let (result, buf) = match answer {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(oneshot::Canceled)) => {
                let kept = link.pending.borrow_mut().remove(&request_id);
                let why = "the connection to the peer broke".to_owned();
                (Err(CallError::Unreachable(why)), kept.and_then(|p| p.buf))
            }
            Err(()) => {
                let kept = link.pending.borrow_mut().remove(&request_id);
                link.cancel(request_id);
                (Err(CallError::Timeout), kept.and_then(|p| p.buf))
            }
        };
        drop(abandoned);
        let buf = match (buf, sent_rx) {
            (Some(buf), _) => Some(buf),
            // The payload went out: it is back once written (at once after a reply).
            (None, Some(sent)) => match sent.try_recv_now() {
                Some(buf) => Some(buf),
                None => capacity.map(AlignedBuf::with_capacity),
            },
            (None, None) => capacity.map(AlignedBuf::with_capacity),
        };
        (result, buf)
    }

    /// The open connection, opening one if there is none (or waiting for the one
    /// being opened); an error while backing off from a failure. The connection is
    /// opened by a task of its own: a caller that gives up (a read that reached its
    /// quorum without this member drops its call) never leaves it half open.
    async fn link(&self) -> Result<Rc<Link>, String> {
        loop {
            let mut bounded: Option<String> = None;
            let opened = {
                let mut state = self.inner.state.borrow_mut();
                let (tx, rx) = oneshot::channel();
                match &mut *state {
                    State::Up(link) => return Ok(link.clone()),
                    State::Down { retry_at, why, .. } if Instant::now() < *retry_at => {
                        return Err(why.clone());
                    }
                    State::Connecting(waiters) => waiters.push(tx),
                    State::Reconnecting { why, waiters } => {
                        waiters.push(tx);
                        bounded = Some(why.clone());
                    }
                    State::Down { backoff, why, .. } => {
                        let backoff = *backoff;
                        bounded = Some(why.clone());
                        *state = State::Reconnecting {
                            why: why.clone(),
                            waiters: vec![tx],
                        };
                        let channel = self.clone();
                        monoio::spawn(async move { channel.connect(backoff).await });
                    }
                    State::Idle => {
                        *state = State::Connecting(vec![tx]);
                        let channel = self.clone();
                        let backoff = RECONNECT_BACKOFF_MIN / 2;
                        monoio::spawn(async move { channel.connect(backoff).await });
                    }
                }
                rx
            };
            // Woken when the attempt ended, either way: the state says how.
            match bounded {
                None => {
                    let _ = opened.await;
                }
                Some(why) => {
                    if monoio::time::timeout(RECONNECT_WAIT_MAX, opened)
                        .await
                        .is_err()
                    {
                        return Err(why);
                    }
                }
            }
        }
    }

    /// Opens the connection (state `Connecting`) and wakes its waiters.
    async fn connect(&self, backoff: Duration) {
        let opening = open(&self.inner.config, &self.inner.resolutions);
        let opened = monoio::time::timeout(CONNECT_TIMEOUT, opening).await;
        let opened = match opened {
            Ok(Ok(halves)) => Ok(halves),
            Ok(Err(error)) => Err(format!("{}: {error}", self.inner.config.address)),
            Err(_) => Err(format!(
                "{}: no answer within {CONNECT_TIMEOUT:?}",
                self.inner.config.address
            )),
        };
        let next = match opened {
            Ok(opened) => {
                self.inner.peer_shards.set(Some(opened.peer_shards));
                State::Up(self.start(opened.reader, opened.writer, opened.closer))
            }
            Err(why) => {
                // Once per outage at warn (the first failed attempt), then quietly.
                let first_failure = backoff <= RECONNECT_BACKOFF_MIN;
                let backoff = (backoff * 2).clamp(RECONNECT_BACKOFF_MIN, RECONNECT_BACKOFF_MAX);
                if first_failure {
                    tracing::warn!(peer = %self.inner.config.address, %why, "peer unreachable: {why}");
                } else {
                    tracing::debug!(peer = %self.inner.config.address, %why, "peer unreachable");
                }
                State::Down {
                    retry_at: Instant::now() + backoff,
                    backoff,
                    why,
                }
            }
        };
        match self.inner.state.replace(next) {
            State::Connecting(waiters) | State::Reconnecting { waiters, .. } => {
                for waiter in waiters {
                    let _ = waiter.send(());
                }
            }
            _ => {}
        }
    }

    /// Starts the reader, writer and keeper tasks of a new connection.
    fn start(
        &self,
        reader: Reader,
        writer: Writer,
        closer: Option<std::net::TcpStream>,
    ) -> Rc<Link> {
        let (outgoing, queue) = mpsc::channel(FRAMES_QUEUED_MAX);
        let queued = Rc::new(Queued::default());
        let link = Rc::new(Link {
            outgoing,
            queued: queued.clone(),
            pending: RefCell::new(HashMap::new()),
            deployment_id: self.inner.config.deployment_id,
            target_shard: u32::from(self.inner.config.target_shard),
            heard_at: Cell::new(Instant::now()),
            closer: RefCell::new(closer),
        });
        let (channel, kept_link) = (Rc::downgrade(&self.inner), Rc::downgrade(&link));
        monoio::spawn(keep_alive(channel, kept_link));
        let (channel, write_link) = (Rc::downgrade(&self.inner), Rc::downgrade(&link));
        monoio::spawn(async move {
            let why = write_frames(writer, queue, &queued).await;
            queued.close();
            if let Some(inner) = channel.upgrade() {
                PeerChannel { inner }.broken(&write_link, &why);
            }
        });
        // Weak both: a channel nobody holds any more ends with its connection (its
        // writer's queue closes, which ends the connection), not kept by its reader.
        let (channel, read_link) = (Rc::downgrade(&self.inner), Rc::downgrade(&link));
        monoio::spawn(async move {
            let why = read_answers(reader, &read_link).await;
            if let Some(inner) = channel.upgrade() {
                PeerChannel { inner }.broken(&read_link, &why);
            }
        });
        link
    }

    /// The connection ended: its calls fail, the next attempt waits a backoff.
    fn broken(&self, link: &std::rc::Weak<Link>, why: &str) {
        let Some(link) = link.upgrade() else {
            return;
        };
        let is_current =
            matches!(&*self.inner.state.borrow(), State::Up(up) if Rc::ptr_eq(up, &link));
        if is_current {
            tracing::debug!(peer = %self.inner.config.address, %why, "peer connection ended");
            self.inner.state.replace(State::Down {
                retry_at: Instant::now() + RECONNECT_BACKOFF_MIN,
                backoff: RECONNECT_BACKOFF_MIN,
                why: why.to_owned(),
            });
        }
        let pending: Vec<Pending> = link.pending.borrow_mut().drain().map(|(_, p)| p).collect();
        for call in pending {
            let _ = call
                .answer
                .send((Err(CallError::Unreachable(why.to_owned())), call.buf));
        }
        link.outgoing.clone().close_channel();
        link.shut_down();
    }
}

/// Pings an idle connection and gives up a silent one (see the file's header); ends
/// with the connection.
async fn keep_alive(channel: std::rc::Weak<Inner>, link: std::rc::Weak<Link>) {
    loop {
        let Some(ping_interval) = channel.upgrade().map(|inner| inner.config.ping_interval) else {
            return;
        };
        monoio::time::sleep(ping_interval).await;
        let (Some(inner), Some(up)) = (channel.upgrade(), link.upgrade()) else {
            return;
        };
        if up.outgoing.is_closed() {
            return;
        }
        let silent = up.heard_at.get().elapsed();
        if silent >= inner.config.silence_max {
            let why = format!("the peer was silent for {silent:?}");
            PeerChannel { inner }.broken(&link, &why);
            return;
        }
        if silent >= ping_interval {
            let request_id = inner.next_request_id.get();
            inner.next_request_id.set(request_id + 1);
            up.send_empty(FrameKind::Ping, request_id);
        }
    }
}

impl Drop for Link {
    /// A connection nobody holds (the channel dropped, or replaced after a break) is
    /// shut down: its reader, waiting on the socket, ends too.
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// Removes a call's entry (and tells the peer) if its caller went away first.
struct Abandoned<'a> {
    link: &'a Rc<Link>,
    request_id: u64,
}

impl Drop for Abandoned<'_> {
    fn drop(&mut self) {
        let entry = self.link.pending.borrow_mut().remove(&self.request_id);
        if entry.is_some() {
            self.link.cancel(self.request_id);
        }
    }
}

impl Link {
    /// Tells the peer a call gave up (best effort: a full queue drops the Cancel).
    fn cancel(&self, request_id: u64) {
        self.send_empty(FrameKind::Cancel, request_id);
    }

    /// Ends the connection now, also for a reader waiting on a silent peer.
    fn shut_down(&self) {
        if let Some(socket) = self.closer.borrow_mut().take() {
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Queues a frame of `kind` without body (best effort: a full queue drops it).
    fn send_empty(&self, kind: FrameKind, request_id: u64) {
        let mut meta = FrameMeta::new(kind, self.deployment_id);
        meta.request_id = request_id;
        meta.target_shard = self.target_shard;
        if !self.queued.admit(0) {
            return;
        }
        let cancel = Outgoing {
            meta,
            body: Vec::new(),
            payload: None,
            sent: None,
        };
        if self.outgoing.clone().try_send(cancel).is_err() {
            self.queued.release(0);
        }
    }
}

trait TryRecvNow<T> {
    fn try_recv_now(self) -> Option<T>;
}

impl<T> TryRecvNow<T> for oneshot::Receiver<T> {
    fn try_recv_now(mut self) -> Option<T> {
        self.try_recv().ok().flatten()
    }
}

type Reader = FrameReader;
type Writer = FrameWriter;

/// An open, authenticated connection.
struct Opened {
    reader: Reader,
    writer: Writer,
    /// Ends the connection while its reader waits.
    closer: Option<std::net::TcpStream>,
    /// The peer node's shard count (its Welcome).
    peer_shards: u32,
}

/// Connects, sends the route preamble, runs TLS when configured and the dialer's side
/// of the handshake.
async fn open(config: &ChannelConfig, resolutions: &Resolutions) -> io::Result<Opened> {
    let address = resolutions
        .resolve(&config.address, &config.resolve)
        .await?;
    let mut stream = TcpStream::connect(address).await?;
    let _ = stream.set_nodelay(true);
    let closer = shoal_io::handoff::closer(&stream).ok();
    let route = Route {
        target_shard: config.target_shard,
        tls: config.tls.is_some(),
    };
    let (written, _) = stream.write_all(route.encode().to_vec()).await;
    written?;
    let (read_half, write_half) = match &config.tls {
        Some(tls) => socket::connect(stream, tls).await?,
        None => socket::plain(stream),
    };
    let mut reader = FrameReader::new(read_half, config.deployment_id);
    let mut writer = FrameWriter::new(write_half);
    let challenge: [u8; 32] = rand::random();
    let target = u32::from(config.target_shard);
    let mut dialer = Dialer::new(&config.secret, config.deployment_id, target, challenge);
    writer.send_raw(dialer.hello()).await?;
    loop {
        let frame = reader.next().await?;
        let step = dialer
            .on_frame(&frame.header, &frame.body)
            .map_err(|e| io::Error::new(io::ErrorKind::PermissionDenied, e.to_string()))?;
        match step {
            Step::Send(bytes) => writer.send_raw(bytes).await?,
            Step::Established { send } => {
                if let Some(bytes) = send {
                    writer.send_raw(bytes).await?;
                }
                reader.authenticated();
                let peer_shards = dialer.peer_shards().unwrap_or(1);
                return Ok(Opened {
                    reader,
                    writer,
                    closer,
                    peer_shards,
                });
            }
        }
    }
}

/// Writes queued frames until the queue closes or a write fails or stalls past
/// `WRITE_STALL_MAX`; says why it stopped. A write cut by the stall is dropped with
/// the connection, which is never used again.
async fn write_frames(
    mut writer: Writer,
    mut queue: mpsc::Receiver<Outgoing>,
    queued: &Queued,
) -> String {
    while let Some(out) = queue.next().await {
        let payload_len = out.payload.as_ref().map_or(0, AlignedBuf::len);
        let sending = writer.send(&out.meta, &out.body, out.payload);
        let Ok((written, payload)) = monoio::time::timeout(WRITE_STALL_MAX, sending).await else {
            queued.release(payload_len);
            return format!("the peer read nothing for {WRITE_STALL_MAX:?}");
        };
        queued.release(payload_len);
        if let (Some(sent), Some(payload)) = (out.sent, payload) {
            let _ = sent.send(payload);
        }
        if let Err(error) = written {
            return error.to_string();
        }
    }
    "the channel was dropped".to_owned()
}

/// Reads answers and hands each to its call, until the connection ends; says why.
async fn read_answers(mut reader: Reader, link: &std::rc::Weak<Link>) -> String {
    loop {
        let frame = match reader.next().await {
            Ok(frame) => frame,
            Err(error) => return error.to_string(),
        };
        let Some(link) = link.upgrade() else {
            return "channel dropped".to_owned();
        };
        link.heard_at.set(Instant::now());
        let header = frame.header;
        match header.kind {
            FrameKind::Reply if header.flags == 0 => {}
            FrameKind::Pong => continue,
            other => return format!("unexpected {other:?} frame from the peer"),
        }
        let call = link.pending.borrow_mut().remove(&header.request_id);
        let len = header.payload_len_bytes as usize;
        let Some(mut call) = call else {
            // Nobody waits any more (gave up at its deadline).
            if let Err(error) = reader.skip_payload(len).await {
                return error.to_string();
            }
            continue;
        };
        let mut buf = call.buf.take();
        if len > 0 {
            let target = match buf.take() {
                Some(buf) if buf.capacity() >= len => buf,
                _ => AlignedBuf::with_capacity(shoal_io::buf::round_up_to_block(len)),
            };
            let (read, target) = reader.read_payload(target, len).await;
            buf = Some(target);
            if let Err(error) = read {
                let _ = call
                    .answer
                    .send((Err(CallError::Unreachable(error.to_string())), buf));
                return error.to_string();
            }
            // A long payload is heard too, not only its header.
            link.heard_at.set(Instant::now());
        }
        let _ = call.answer.send((Ok(frame.body), buf));
    }
}
