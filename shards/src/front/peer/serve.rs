//! The far side of a peer connection, on the shard its route preamble named: TLS when
//! this node has `--certs-dir`, the listener's side of the handshake, then every
//! Request frame answered by a `PeerService` (the storage verbs on this node's
//! members), each in its own task, the answers written in the order they finish.
//!
//! Bounds: at most `Permits`' strangers per shard sit in TLS and the handshake at
//! once (more are closed at once), each holding about a kilobyte of frame buffers
//! (`framed.rs`; under TLS, rustls's own bounded buffers too), and
//! both handshakes must finish within `HANDSHAKE_TIMEOUT`; a node with TLS refuses a
//! plain peer and a node without refuses TLS, each with a logged reason. A request's
//! payload (at most a frame's payload limit, in an aligned buffer of its size) must
//! arrive within its deadline, counted from its header's arrival, or the connection
//! ends; a shard holds at most its `Permits` of peer requests, running or with an
//! answer not yet written (a connection that finds none free stops reading, so TCP
//! pushes back on the sender); a request is dropped unanswered, its permit freed, when
//! its deadline passes (also before it started: it never starts then) or its caller
//! sends Cancel, or the connection ends (its caller's calls failed with it). No
//! answer tells such a caller "timeout": its own deadline, earlier by
//! the transit time, ended its wait before ours. What a dropped request had opened
//! (staged files, open part files) stays in the connection's session, which the
//! service ends with the connection. Pings are answered with Pongs; a dialer silent
//! for `IDLE_MAX` (its channel pings every second when idle) is gone, and so is its
//! connection. An answer whose write stalls past `WRITE_STALL_MAX` ends the
//! connection.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures_channel::{mpsc, oneshot};
use futures_util::{SinkExt, StreamExt};
use monoio::net::TcpStream;
use monoio::time::Instant;
use shoal_io::AlignedBuf;
use shoal_wire::frame::{FrameKind, FrameMeta};
use shoal_wire::handshake::{ClusterSecret, Listener, Step};

use crate::front::peer::channel::WRITE_STALL_MAX;
use crate::front::peer::framed::{FrameReader, FrameWriter};
use crate::front::peer::permits::{Permit, Permits};
use crate::front::peer::socket;

/// Longest a dialer may take to prove it belongs to the cluster (TLS included).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Answers waiting for the connection's writer.
pub const REPLIES_QUEUED_MAX: usize = 64;
/// Longest a connection may send nothing at all (a live dialer pings when idle).
pub const IDLE_MAX: Duration = Duration::from_secs(30);
/// The first byte of a TLS ClientHello (a handshake record).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// An answer: the Reply frame's body and payload.
pub type Answer = (Vec<u8>, Option<AlignedBuf>);

/// What answers a connection's requests.
pub trait PeerService: 'static {
    /// What one connection's requests share (its open handles).
    type Session: 'static;

    fn session(&self) -> Self::Session;

    /// Answers one request (`body`, its `payload`) for the connection's `session`.
    fn call(
        &self,
        session: &Rc<Self::Session>,
        body: Vec<u8>,
        payload: Option<AlignedBuf>,
    ) -> Pin<Box<dyn Future<Output = Answer>>>;

    /// The connection ended: release what its session holds.
    fn end(&self, session: Rc<Self::Session>) -> Pin<Box<dyn Future<Output = ()>>>;
}

/// Who this node is to its peers.
#[derive(Clone)]
pub struct ServeConfig {
    pub deployment_id: [u8; 16],
    pub secret: ClusterSecret,
    /// The node's TLS (the S3 configuration of `--certs-dir`); `None`: plain peers only.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// This node's shard count, told in the handshake's Welcome (1 unless set).
    pub shards: u32,
}

impl ServeConfig {
    /// Plain peer connections (no TLS).
    pub fn new(deployment_id: [u8; 16], secret: ClusterSecret) -> Self {
        Self {
            deployment_id,
            secret,
            tls: None,
            shards: 1,
        }
    }
}

type Reader = FrameReader;
type Writer = FrameWriter;

struct Reply {
    meta: FrameMeta,
    answer: Answer,
    /// Held until the answer is written: requests running plus answers waiting never
    /// exceed the shard's permits, whatever the dialer's reading speed. A Pong has none.
    permit: Option<Permit>,
}

/// Requests of one connection still running, by request id: a Cancel stops its own.
type Running = Rc<RefCell<HashMap<u64, oneshot::Sender<()>>>>;

/// Serves one peer connection until it ends or breaks the protocol.
pub async fn serve<S: PeerService>(
    stream: TcpStream,
    config: &ServeConfig,
    service: Rc<S>,
    permits: Permits,
) {
    let Some(stranger) = permits.try_stranger() else {
        tracing::debug!("peer connection refused: too many unauthenticated on this shard");
        return;
    };
    let _ = stream.set_nodelay(true);
    let opened = monoio::time::timeout(HANDSHAKE_TIMEOUT, open(stream, config)).await;
    drop(stranger);
    let (mut reader, writer) = match opened {
        Ok(Ok(halves)) => halves,
        Ok(Err(error)) => {
            // A node of this cluster would have passed: another drive list, another
            // secret, or not a node at all. The operator needs to see it.
            tracing::warn!(%error, "a peer's handshake failed: {error}");
            return;
        }
        Err(_) => {
            tracing::debug!("peer handshake not done within {HANDSHAKE_TIMEOUT:?}");
            return;
        }
    };
    let (mut replies, queue) = mpsc::channel(REPLIES_QUEUED_MAX);
    let writing = monoio::spawn(write_replies(writer, queue));
    let session = Rc::new(service.session());
    let reading = read_requests(&mut reader, &service, &session, &permits, &mut replies);
    if let Err(why) = reading.await {
        tracing::debug!(%why, "peer connection ended");
    }
    drop(replies);
    writing.await;
    service.end(session).await;
}

/// TLS (when the node has it) and the listener's side of the handshake.
async fn open(stream: TcpStream, config: &ServeConfig) -> std::io::Result<(Reader, Writer)> {
    let first = shoal_io::handoff::peek_byte(&stream).await?;
    let asks_tls = first == Some(TLS_HANDSHAKE_RECORD);
    let (read_half, write_half) = match (&config.tls, asks_tls) {
        (Some(tls), true) => socket::accept(stream, tls.clone()).await?,
        (None, false) => socket::plain(stream),
        (Some(_), false) => {
            tracing::warn!(
                "refused a peer connection without TLS: this node requires TLS between peers (--certs-dir)"
            );
            return Err(std::io::ErrorKind::PermissionDenied.into());
        }
        (None, true) => {
            tracing::warn!(
                "refused a peer connection asking for TLS: this node has no --certs-dir"
            );
            return Err(std::io::ErrorKind::PermissionDenied.into());
        }
    };
    let mut reader = FrameReader::new(read_half, config.deployment_id);
    let mut writer = FrameWriter::new(write_half);
    accept(&mut reader, &mut writer, config).await?;
    reader.authenticated();
    Ok((reader, writer))
}

/// The listener's side of the handshake.
async fn accept(
    reader: &mut Reader,
    writer: &mut Writer,
    config: &ServeConfig,
) -> std::io::Result<()> {
    let challenge: [u8; 32] = rand::random();
    let mut listener = Listener::new(
        &config.secret,
        config.deployment_id,
        challenge,
        config.shards,
    );
    loop {
        let frame = reader.next().await?;
        match listener.on_frame(&frame.header, &frame.body) {
            Ok(Step::Send(bytes)) => writer.send_raw(bytes).await?,
            Ok(Step::Established { send }) => {
                if let Some(bytes) = send {
                    writer.send_raw(bytes).await?;
                }
                return Ok(());
            }
            Err(error) => {
                if let Some(reason) = error.reason() {
                    let refuse = shoal_wire::handshake::refuse_frame(config.deployment_id, reason);
                    let _ = writer.send_raw(refuse).await;
                }
                return Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    error.to_string(),
                ));
            }
        }
    }
}

/// Reads requests and starts each; returns why the connection ended.
async fn read_requests<S: PeerService>(
    reader: &mut Reader,
    service: &Rc<S>,
    session: &Rc<S::Session>,
    permits: &Permits,
    replies: &mut mpsc::Sender<Reply>,
) -> Result<(), String> {
    let running: Running = Rc::default();
    // However reading ends, nobody waits for what still runs: drop it all.
    let _stop_all = StopAll(running.clone());
    loop {
        if replies.is_closed() {
            return Err("the answers could not be written".to_owned());
        }
        let Ok(frame) = monoio::time::timeout(IDLE_MAX, reader.next()).await else {
            return Err(format!("the dialer sent nothing for {IDLE_MAX:?}"));
        };
        let frame = frame.map_err(|e| e.to_string())?;
        let arrived = Instant::now();
        let header = frame.header;
        let mut meta = FrameMeta::new(FrameKind::Reply, header.deployment_id);
        meta.request_id = header.request_id;
        meta.target_shard = header.target_shard;
        match header.kind {
            FrameKind::Request => {}
            FrameKind::Cancel => {
                // The caller gave up: its request, if still running, stops here.
                if let Some(stop) = running.borrow_mut().remove(&header.request_id) {
                    let _ = stop.send(());
                }
                continue;
            }
            FrameKind::Ping => {
                meta.kind = FrameKind::Pong;
                let pong = Reply {
                    meta,
                    answer: (Vec::new(), None),
                    permit: None,
                };
                // This sender's own try, bounded by the queue (a clone would always
                // have room). A full queue: answers are on their way, which tells the
                // dialer as much.
                let _ = replies.try_send(pong);
                continue;
            }
            other => return Err(format!("unexpected {other:?} frame")),
        }
        let until = arrived + Duration::from_millis(u64::from(header.deadline_ms));
        // The payload first (one frame per connection at a time), within the request's
        // deadline: a dialer that stops mid-payload ends its connection, holding nothing.
        let len = header.payload_len_bytes as usize;
        let payload = if len > 0 {
            let reading = reader.read_payload(AlignedBuf::with_capacity(len), len);
            let Ok((read, buf)) = monoio::time::timeout_at(until, reading).await else {
                return Err("a request's payload did not arrive within its deadline".to_owned());
            };
            read.map_err(|e| e.to_string())?;
            Some(buf)
        } else {
            None
        };
        let permit = permits.acquire().await;
        if Instant::now() >= until {
            // Its caller stopped waiting while it queued: it never starts.
            continue;
        }
        let answering = service.call(session, frame.body, payload);
        // Registered before its task runs, so a Cancel right behind it finds it.
        let (stop, stopped) = oneshot::channel();
        running.borrow_mut().insert(header.request_id, stop);
        let request = Request {
            meta,
            until,
            permit,
            running: running.clone(),
        };
        monoio::spawn(request.run(answering, stopped, replies.clone()));
    }
}

/// Stops every request of a connection still running when dropped.
struct StopAll(Running);

impl Drop for StopAll {
    fn drop(&mut self) {
        for (_, stop) in self.0.borrow_mut().drain() {
            let _ = stop.send(());
        }
    }
}

/// One request being answered.
struct Request {
    meta: FrameMeta,
    until: Instant,
    permit: Permit,
    running: Running,
}

impl Request {
    /// Answers unless its deadline passes or its caller cancels first; then the answer
    /// (the verb's future) is dropped, and the permit with it.
    async fn run(
        self,
        answering: Pin<Box<dyn Future<Output = Answer>>>,
        stopped: oneshot::Receiver<()>,
        mut replies: mpsc::Sender<Reply>,
    ) {
        let request_id = self.meta.request_id;
        let bounded = monoio::time::timeout_at(self.until, answering);
        let outcome = futures_util::future::select(Box::pin(bounded), stopped).await;
        self.running.borrow_mut().remove(&request_id);
        let futures_util::future::Either::Left((Ok(answer), _)) = outcome else {
            return;
        };
        let reply = Reply {
            meta: self.meta,
            answer,
            permit: Some(self.permit),
        };
        let _ = replies.send(reply).await;
    }
}

/// Writes answers until every sender is gone, a write fails or one stalls past
/// `WRITE_STALL_MAX` (a dialer that stopped reading); then the queue closes, so the
/// connection stops taking requests.
async fn write_replies(mut writer: Writer, mut queue: mpsc::Receiver<Reply>) {
    while let Some(reply) = queue.next().await {
        let (body, payload) = reply.answer;
        let sending = writer.send(&reply.meta, &body, payload);
        let written = monoio::time::timeout(WRITE_STALL_MAX, sending).await;
        drop(reply.permit);
        if !matches!(written, Ok((Ok(()), _))) {
            queue.close();
            return;
        }
    }
}
