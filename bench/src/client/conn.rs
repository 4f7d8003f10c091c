//! Keep-alive HTTP/1.1 connections of one client shard: a pool of idle connections per
//! host, and one request/response exchange over a connection (the only socket code of
//! the load generator).
//!
//! Invariants:
//! - A pool belongs to one shard's runtime (`Rc`/`RefCell`, no locks): no connection
//!   crosses threads.
//! - A connection goes back to the pool only after a response was read to its exact
//!   end and the server allowed keep-alive; any error closes it (monoio loses the
//!   bytes of a dropped in-flight read, DESIGN.md "The runtime").
//! - A request that failed on a reused connection before any response byte arrived is
//!   retried once on a fresh one: the server may close an idle connection at any time.
//! - Response bodies are read fully; they are kept only when asked (listings, errors)
//!   and otherwise discarded from a fixed `READ_BUFFER_BYTES` buffer.
//! - With `--tls` every connection is TLS (rustls through monoio-rustls), verified
//!   against the name of its host unless the configuration says otherwise (tls.rs).

use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use monoio::BufResult;
use monoio::buf::{IoBuf, IoBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use monoio_rustls::{ClientTlsStream, TlsConnector};
use rustls::pki_types::ServerName;

use crate::client::http1::{ChunkedDecoder, Framing, ResponseHead, parse_response_head};
use crate::client::payload::Payload;
use crate::client::signer::{CRLF, ChunkSigner, STREAMING_CHUNK_BYTES};

/// Read buffer per connection (also the largest response head, see http1).
const READ_BUFFER_BYTES: usize = 256 << 10;
/// aws-chunked frames are gathered into writes of about this size.
const WRITE_BATCH_BYTES: usize = 256 << 10;
/// Largest body kept in memory (listings and error documents).
const KEPT_BODY_MAX_BYTES: usize = 64 << 20;

/// A request body as it goes on the wire.
#[derive(Clone)]
pub enum Body<'a> {
    None,
    /// Sent as is after the head (`Content-Length` = its length).
    Whole(Bytes),
    /// aws-chunked with chained signatures over the payload's chunk hashes, ending in
    /// a signed `(name, value)` trailer when there is one.
    Streaming {
        payload: &'a Payload<'a>,
        signer: ChunkSigner,
        trailer: Option<(&'a str, &'a str)>,
    },
}

/// What the caller needs of the response besides its status.
#[derive(Clone, Copy, Debug, Default)]
pub struct Expect {
    /// The request was a HEAD: no body follows whatever the headers say.
    pub head_request: bool,
    /// Keep the body (listings, XML results); error bodies are always kept.
    pub keep_body: bool,
    /// Keep the `ETag` header (UploadPart).
    pub keep_etag: bool,
}

/// A response read to its end.
pub struct Response {
    pub status: u16,
    /// The body, when kept (asked for, or an error status).
    pub body: Vec<u8>,
    pub body_bytes: u64,
    /// When the first response byte arrived.
    pub first_byte: Instant,
    /// The `ETag` header, when asked for and present.
    pub etag: Option<String>,
}

/// A connection's byte stream: plain TCP or TLS over it.
enum Stream {
    Plain(TcpStream),
    Tls(Box<ClientTlsStream<TcpStream>>),
}

impl Stream {
    async fn write_all<T: IoBuf + 'static>(&mut self, buffer: T) -> BufResult<usize, T> {
        match self {
            Stream::Plain(stream) => stream.write_all(buffer).await,
            Stream::Tls(stream) => stream.write_all(buffer).await,
        }
    }

    async fn read<T: IoBufMut + 'static>(&mut self, buffer: T) -> BufResult<usize, T> {
        match self {
            Stream::Plain(stream) => stream.read(buffer).await,
            Stream::Tls(stream) => stream.read(buffer).await,
        }
    }
}

/// `--tls`: the shared client configuration and each host's server name.
#[derive(Clone)]
pub struct Tls {
    pub connector: TlsConnector,
    pub server_names: Vec<ServerName<'static>>,
}

impl Tls {
    pub fn new(config: Arc<rustls::ClientConfig>, server_names: Vec<ServerName<'static>>) -> Tls {
        Tls {
            connector: TlsConnector::from(config),
            server_names,
        }
    }
}

struct Conn {
    stream: Stream,
    /// Bytes read and not yet consumed (`len`), in a buffer of fixed capacity.
    read_buffer: Vec<u8>,
    write_buffer: Vec<u8>,
}

/// Why an exchange failed, and whether a retry on a fresh connection is safe.
struct ExchangeError {
    message: String,
    response_started: bool,
}

/// Idle connections per host, for one shard.
pub struct Pool {
    addresses: Vec<SocketAddr>,
    tls: Option<Tls>,
    idle: RefCell<Vec<Vec<Conn>>>,
}

impl Pool {
    pub fn new(addresses: Vec<SocketAddr>, tls: Option<Tls>) -> Pool {
        if let Some(tls) = &tls {
            assert_eq!(tls.server_names.len(), addresses.len(), "a name per host");
        }
        let idle = RefCell::new(addresses.iter().map(|_| Vec::new()).collect());
        Pool {
            addresses,
            tls,
            idle,
        }
    }

    pub fn hosts(&self) -> usize {
        self.addresses.len()
    }

    /// Sends `head` + `body` to host `host` and reads the response.
    pub async fn exchange(
        &self,
        host: usize,
        head: &[u8],
        body: &Body<'_>,
        expect: Expect,
    ) -> Result<Response, String> {
        let pooled = self.idle.borrow_mut()[host].pop();
        let reused = pooled.is_some();
        let mut conn = match pooled {
            Some(conn) => conn,
            None => self.connect(host).await?,
        };
        let mut result = conn.exchange(head, body.clone(), expect).await;
        if let Err(error) = &result
            && reused
            && !error.response_started
        {
            conn = self.connect(host).await?;
            result = conn.exchange(head, body.clone(), expect).await;
        }
        match result {
            Ok((response, keep_alive)) => {
                if keep_alive {
                    self.idle.borrow_mut()[host].push(conn);
                }
                Ok(response)
            }
            Err(error) => Err(error.message),
        }
    }

    async fn connect(&self, host: usize) -> Result<Conn, String> {
        let address = self.addresses[host];
        let stream = TcpStream::connect_addr(address)
            .await
            .map_err(|e| format!("connect {address}: {e}"))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("set_nodelay: {e}"))?;
        let stream = match &self.tls {
            None => Stream::Plain(stream),
            Some(tls) => {
                let name = tls.server_names[host].clone();
                let stream = tls
                    .connector
                    .connect(name, stream)
                    .await
                    // TlsError's Display hides its cause; the io::Error form shows it.
                    .map_err(|e| {
                        let e = std::io::Error::from(e);
                        format!("TLS handshake with {address}: {e}")
                    })?;
                Stream::Tls(Box::new(stream))
            }
        };
        Ok(Conn {
            stream,
            read_buffer: Vec::with_capacity(READ_BUFFER_BYTES),
            write_buffer: Vec::with_capacity(WRITE_BATCH_BYTES + STREAMING_CHUNK_BYTES + 256),
        })
    }
}

fn io_error(message: String) -> ExchangeError {
    ExchangeError {
        message,
        response_started: false,
    }
}

impl Conn {
    /// One request and its response; `Ok` carries whether the connection may be reused.
    async fn exchange(
        &mut self,
        head: &[u8],
        body: Body<'_>,
        expect: Expect,
    ) -> Result<(Response, bool), ExchangeError> {
        self.read_buffer.clear();
        if let Err(write_error) = self.write_request(head, body).await {
            // The server may have answered (e.g. 403) and closed before taking the body:
            // report its answer rather than the broken pipe, if one is there.
            let expect = Expect {
                keep_body: true,
                ..expect
            };
            return match self.read_response(expect).await {
                Ok((response, _)) => Ok((response, false)),
                Err(_) => Err(write_error),
            };
        }
        self.read_response(expect).await
    }

    async fn write_all(&mut self, buffer: Vec<u8>) -> Result<Vec<u8>, ExchangeError> {
        let (result, buffer) = self.stream.write_all(buffer).await;
        result.map_err(|e| io_error(format!("write: {e}")))?;
        Ok(buffer)
    }

    async fn write_request(&mut self, head: &[u8], body: Body<'_>) -> Result<(), ExchangeError> {
        let mut out = std::mem::take(&mut self.write_buffer);
        out.clear();
        out.extend_from_slice(head);
        match body {
            Body::None => {}
            Body::Whole(data) if data.len() <= STREAMING_CHUNK_BYTES => {
                out.extend_from_slice(&data);
            }
            Body::Whole(data) => {
                out = self.write_all(out).await?;
                out.clear();
                let (result, _) = self.stream.write_all(data).await;
                result.map_err(|e| io_error(format!("write: {e}")))?;
            }
            Body::Streaming {
                payload,
                mut signer,
                trailer,
            } => {
                let chunks = payload.data.chunks(STREAMING_CHUNK_BYTES);
                for (chunk, sha256) in chunks.zip(payload.chunk_hashes()) {
                    signer.write_chunk_header(chunk.len(), sha256, &mut out);
                    out.extend_from_slice(chunk);
                    out.extend_from_slice(CRLF);
                    if out.len() >= WRITE_BATCH_BYTES {
                        out = self.write_all(out).await?;
                        out.clear();
                    }
                }
                signer.write_final_chunk(trailer, &mut out);
            }
        }
        if !out.is_empty() {
            out = self.write_all(out).await?;
        }
        self.write_buffer = out;
        Ok(())
    }

    /// Reads more bytes after those buffered; an error on end of stream.
    async fn fill(&mut self) -> Result<usize, String> {
        let buffer = std::mem::take(&mut self.read_buffer);
        let (start, capacity) = (buffer.len(), buffer.capacity());
        assert!(
            start < capacity,
            "callers consume before filling a full buffer"
        );
        let (result, slice) = self.stream.read(buffer.slice_mut(start..capacity)).await;
        self.read_buffer = slice.into_inner();
        match result {
            Ok(0) => Err("connection closed by server".to_owned()),
            Ok(n) => Ok(n),
            Err(e) => Err(format!("read: {e}")),
        }
    }

    async fn read_response(&mut self, expect: Expect) -> Result<(Response, bool), ExchangeError> {
        let mut first_byte = None;
        let head = loop {
            if let Some(head) =
                parse_response_head(&self.read_buffer, expect.head_request, expect.keep_etag)
                    .map_err(|message| ExchangeError {
                        message,
                        response_started: true,
                    })?
            {
                break head;
            }
            self.fill().await.map_err(|message| ExchangeError {
                message,
                response_started: first_byte.is_some(),
            })?;
            first_byte.get_or_insert_with(Instant::now);
        };
        let first_byte = first_byte.unwrap_or_else(Instant::now);
        self.read_buffer.drain(..head.head_bytes);
        let keep = expect.keep_body || head.status >= 300;
        let mut response = Response {
            status: head.status,
            body: Vec::new(),
            body_bytes: 0,
            first_byte,
            etag: head.etag.clone(),
        };
        self.read_body(&head, keep, &mut response)
            .await
            .map_err(|message| ExchangeError {
                message,
                response_started: true,
            })?;
        Ok((response, head.keep_alive && self.read_buffer.is_empty()))
    }

    async fn read_body(
        &mut self,
        head: &ResponseHead,
        keep: bool,
        response: &mut Response,
    ) -> Result<(), String> {
        let take = |bytes: &[u8], response: &mut Response| {
            response.body_bytes += bytes.len() as u64;
            if keep && response.body.len() + bytes.len() <= KEPT_BODY_MAX_BYTES {
                response.body.extend_from_slice(bytes);
            }
        };
        match head.framing {
            Framing::Length(length) => {
                let mut remaining = length;
                loop {
                    let used = self
                        .read_buffer
                        .len()
                        .min(usize::try_from(remaining).unwrap_or(usize::MAX));
                    take(&self.read_buffer[..used], response);
                    self.read_buffer.drain(..used);
                    remaining -= used as u64;
                    if remaining == 0 {
                        return Ok(());
                    }
                    self.fill().await?;
                }
            }
            Framing::Chunked => {
                let mut decoder = ChunkedDecoder::default();
                loop {
                    let used =
                        decoder.feed(&self.read_buffer, |payload| take(payload, response))?;
                    self.read_buffer.drain(..used);
                    if decoder.is_done() {
                        return Ok(());
                    }
                    if self.read_buffer.len() == self.read_buffer.capacity() {
                        return Err("chunk line too long".to_owned());
                    }
                    self.fill().await?;
                }
            }
            Framing::UntilClose => loop {
                take(&self.read_buffer, response);
                self.read_buffer.clear();
                if self.fill().await.is_err() {
                    return Ok(());
                }
            },
        }
    }
}
