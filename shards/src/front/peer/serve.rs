//! The far side of a peer connection, on the shard its route preamble named: the
//! listener's side of the handshake, then every Request frame answered by a
//! `PeerService` (the storage verbs on this node's members), each in its own task, the
//! answers written in the order they finish.
//!
//! Bounds: a handshake must finish within `HANDSHAKE_TIMEOUT`; a request's payload
//! (at most a frame's payload limit, in an aligned buffer of its size) must arrive
//! within its deadline, counted from its header's arrival, or the connection ends; a
//! shard holds at most its `Permits` of peer requests, running or with an answer not
//! yet written (a connection that finds none free stops reading, so TCP pushes back on
//! the sender); a request still running at its deadline is dropped unanswered (its
//! caller gave up already); an answer whose write stalls past `WRITE_STALL_MAX` ends
//! the connection.
//!
//! A Cancel is not acted on beyond this: the caller gave up and drops the answer. What
//! a connection's requests opened (staged files, open part files) is the service's
//! session, ended with the connection.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use futures_channel::mpsc;
use futures_util::{SinkExt, StreamExt};
use monoio::io::Splitable;
use monoio::net::TcpStream;
use shoal_io::AlignedBuf;
use shoal_wire::frame::{FrameKind, FrameMeta};
use shoal_wire::handshake::{ClusterSecret, Listener, Step};

use crate::front::peer::channel::WRITE_STALL_MAX;
use crate::front::peer::framed::{FrameReader, FrameWriter};
use crate::front::peer::permits::{Permit, Permits};

/// Longest a dialer may take to prove it belongs to the cluster.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Answers waiting for the connection's writer.
pub const REPLIES_QUEUED_MAX: usize = 64;

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
}

type Reader = FrameReader<monoio::io::OwnedReadHalf<TcpStream>>;
type Writer = FrameWriter<monoio::io::OwnedWriteHalf<TcpStream>>;

struct Reply {
    meta: FrameMeta,
    answer: Answer,
    /// Held until the answer is written: requests running plus answers waiting never
    /// exceed the shard's permits, whatever the dialer's reading speed.
    permit: Permit,
}

/// Serves one peer connection until it ends or breaks the protocol.
pub async fn serve<S: PeerService>(
    stream: TcpStream,
    config: &ServeConfig,
    service: Rc<S>,
    permits: Permits,
) {
    let _ = stream.set_nodelay(true);
    let (read_half, write_half) = stream.into_split();
    let mut reader = FrameReader::new(read_half, config.deployment_id);
    let mut writer = FrameWriter::new(write_half);
    let handshake =
        monoio::time::timeout(HANDSHAKE_TIMEOUT, accept(&mut reader, &mut writer, config));
    match handshake.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            tracing::debug!(%error, "peer handshake failed");
            return;
        }
        Err(_) => return,
    }
    let (replies, queue) = mpsc::channel(REPLIES_QUEUED_MAX);
    let writing = monoio::spawn(write_replies(writer, queue));
    let session = Rc::new(service.session());
    if let Err(why) = read_requests(&mut reader, &service, &session, &permits, &replies).await {
        tracing::debug!(%why, "peer connection ended");
    }
    drop(replies);
    writing.await;
    service.end(session).await;
}

/// The listener's side of the handshake.
async fn accept(
    reader: &mut Reader,
    writer: &mut Writer,
    config: &ServeConfig,
) -> std::io::Result<()> {
    let challenge: [u8; 32] = rand::random();
    let mut listener = Listener::new(&config.secret, config.deployment_id, challenge);
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
    replies: &mpsc::Sender<Reply>,
) -> Result<(), String> {
    loop {
        if replies.is_closed() {
            return Err("the answers could not be written".to_owned());
        }
        let frame = reader.next().await.map_err(|e| e.to_string())?;
        let arrived = monoio::time::Instant::now();
        let header = frame.header;
        let mut meta = FrameMeta::new(FrameKind::Reply, header.deployment_id);
        meta.request_id = header.request_id;
        meta.target_shard = header.target_shard;
        match header.kind {
            FrameKind::Request => {}
            // The caller dropped the answer already; this version does not stop a
            // request that runs. It sends no Ping and answers none (liveness is the
            // dialer's write stall and its calls' deadlines).
            FrameKind::Cancel | FrameKind::Ping => continue,
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
        let answering = service.call(session, frame.body, payload);
        let mut replies = replies.clone();
        monoio::spawn(async move {
            if let Ok(answer) = monoio::time::timeout_at(until, answering).await {
                let _ = replies
                    .send(Reply {
                        meta,
                        answer,
                        permit,
                    })
                    .await;
            }
        });
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
