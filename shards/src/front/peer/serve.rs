//! The far side of a peer connection, on the shard its route preamble named: the
//! listener's side of the handshake, then every Request frame answered by a
//! `PeerService` (the storage verbs on this node's members), each in its own task, the
//! answers written in the order they finish.
//!
//! Bounds: a handshake must finish within `HANDSHAKE_TIMEOUT`; a shard runs at most its
//! `Permits` of peer requests at once (a connection that finds none free stops reading,
//! so TCP pushes back on the sender); a request runs until its deadline (the frame's,
//! counted from its arrival) and is then dropped unanswered — its caller gave up
//! already; answers wait in a bounded queue (`REPLIES_QUEUED_MAX`). A request's payload
//! is read into an aligned buffer of its size (at most a frame's payload limit).
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

use crate::front::peer::framed::{FrameReader, FrameWriter};
use crate::front::peer::permits::Permits;

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
        let frame = reader.next().await.map_err(|e| e.to_string())?;
        let header = frame.header;
        let mut meta = FrameMeta::new(FrameKind::Reply, header.deployment_id);
        meta.request_id = header.request_id;
        meta.target_shard = header.target_shard;
        match header.kind {
            FrameKind::Request => {}
            FrameKind::Cancel => continue,
            FrameKind::Ping => {
                meta.kind = FrameKind::Pong;
                let _ = replies.clone().try_send(Reply {
                    meta,
                    answer: (Vec::new(), None),
                });
                continue;
            }
            other => return Err(format!("unexpected {other:?} frame")),
        }
        let permit = permits.acquire().await;
        let len = header.payload_len_bytes as usize;
        let payload = if len > 0 {
            let buf = AlignedBuf::with_capacity(len);
            let (read, buf) = reader.read_payload(buf, len).await;
            read.map_err(|e| e.to_string())?;
            Some(buf)
        } else {
            None
        };
        let deadline = Duration::from_millis(u64::from(header.deadline_ms));
        let answering = service.call(session, frame.body, payload);
        let mut replies = replies.clone();
        monoio::spawn(async move {
            let answered = monoio::time::timeout(deadline, answering).await;
            drop(permit);
            if let Ok(answer) = answered {
                let _ = replies.send(Reply { meta, answer }).await;
            }
        });
    }
}

/// Writes answers until every sender is gone or a write fails.
async fn write_replies(mut writer: Writer, mut queue: mpsc::Receiver<Reply>) {
    while let Some(reply) = queue.next().await {
        let (body, payload) = reply.answer;
        let (written, _) = writer.send(&reply.meta, &body, payload).await;
        if written.is_err() {
            return;
        }
    }
}
