//! One client connection on one shard: read a request head, authenticate, route, run
//! the operation, write the response; repeat while keep-alive holds.
//!
//! Invariants:
//! - Every request goes through the one SigV4 gate before anything else happens.
//! - A body is consumed only through `BodyDecoder`, so framing, signatures and hashes
//!   are verified before the store commits; if a request fails while its body is still
//!   unread, the connection is closed after the error (it cannot be resynchronised).
//! - A read that times out is dropped and the connection closed, never reused
//!   (monoio loses the bytes of a dropped read).

use std::time::Duration;

use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use shoal_http::{BodyDecoder, HeadParser, HeadStatus, RequestHead, S3Error, response, route};

use crate::handler::{Call, Handled, ShardContext, handle};

/// Bytes read from the socket at a time.
const READ_CHUNK_BYTES: usize = 256 << 10;
/// A client that sends nothing for this long, mid-request or between requests, is dropped.
const IDLE_TIMEOUT: Duration = Duration::from_mins(2);

/// A connection's socket and its unparsed input.
pub struct Conn<S> {
    stream: S,
    /// Bytes received and not yet consumed (the start of the next head or body).
    pub pending: Vec<u8>,
    read_buf: Option<Vec<u8>>,
    /// Set when the peer closed its side.
    eof: bool,
}

impl<S: AsyncReadRent + AsyncWriteRent> Conn<S> {
    pub fn new(stream: S) -> Self {
        Self {
            stream,
            pending: Vec::new(),
            read_buf: Some(Vec::with_capacity(READ_CHUNK_BYTES)),
            eof: false,
        }
    }

    /// Reads more bytes into `pending`; `Ok(false)` at end of stream.
    pub async fn fill(&mut self) -> std::io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        let mut buf = self.read_buf.take().expect("one read at a time");
        buf.clear();
        let Ok((result, buf)) = monoio::time::timeout(IDLE_TIMEOUT, self.stream.read(buf)).await
        else {
            return Err(std::io::ErrorKind::TimedOut.into());
        };
        let n = result?;
        self.pending.extend_from_slice(&buf[..n]);
        self.read_buf = Some(buf);
        if n == 0 {
            self.eof = true;
        }
        Ok(n > 0)
    }

    /// Writes all of `bytes`; returns the buffer for reuse.
    pub async fn write_all(&mut self, bytes: Vec<u8>) -> (std::io::Result<()>, Vec<u8>) {
        let (result, buf) = self.stream.write_all(bytes).await;
        (result.map(|_| ()), buf)
    }

    pub async fn flush(&mut self) -> std::io::Result<()> {
        self.stream.flush().await
    }

    pub async fn shutdown(&mut self) {
        let _ = self.stream.shutdown().await;
    }
}

/// Serves requests on `stream` until the client goes away, keep-alive ends, or the
/// shard stops.
pub async fn serve<S: AsyncReadRent + AsyncWriteRent>(ctx: &ShardContext, stream: S) {
    let mut conn = Conn::new(stream);
    let mut parser = HeadParser::new();
    loop {
        if ctx.stopping() && conn.pending.is_empty() {
            break;
        }
        let head = match read_head(&mut conn, &mut parser).await {
            Ok(Some(head)) => head,
            Ok(None) | Err(ReadHeadError::Io) => break,
            Err(ReadHeadError::Http(error)) => {
                let request_id = ctx.next_request_id();
                let _ = write_error(ctx, &mut conn, &error, "", &request_id, false, false).await;
                break;
            }
        };
        let _in_flight = ctx.request_started();
        let keep_alive = serve_request(ctx, &mut conn, &head)
            .await
            .unwrap_or_default();
        if !keep_alive || ctx.stopping() {
            break;
        }
    }
    let _ = conn.flush().await;
    conn.shutdown().await;
}

enum ReadHeadError {
    Io,
    Http(S3Error),
}

/// Reads until a whole request head arrived; `None` when the client closed cleanly
/// between requests.
async fn read_head<S: AsyncReadRent + AsyncWriteRent>(
    conn: &mut Conn<S>,
    parser: &mut HeadParser,
) -> Result<Option<RequestHead>, ReadHeadError> {
    parser.reset();
    loop {
        if !conn.pending.is_empty() {
            match parser.parse(&conn.pending).map_err(ReadHeadError::Http)? {
                HeadStatus::Complete {
                    head,
                    consumed_bytes,
                } => {
                    conn.pending.drain(..consumed_bytes);
                    return Ok(Some(head));
                }
                HeadStatus::Partial => {}
            }
        }
        match conn.fill().await {
            Ok(true) => {}
            Ok(false) if conn.pending.is_empty() => return Ok(None),
            Ok(false) | Err(_) => return Err(ReadHeadError::Io),
        }
    }
}

/// Runs one request; returns whether the connection may carry another.
async fn serve_request<S: AsyncReadRent + AsyncWriteRent>(
    ctx: &ShardContext,
    conn: &mut Conn<S>,
    head: &RequestHead,
) -> std::io::Result<bool> {
    let request_id = ctx.next_request_id();
    let resource = head.raw_path().to_owned();
    let is_head = head.method == shoal_http::Method::Head;
    let prepared = authenticate_and_route(ctx, head);
    let (auth, route) = match prepared {
        Ok(pair) => pair,
        Err(error) => {
            // The body (if any) was never read: the connection cannot continue.
            let has_body = !matches!(head.framing, shoal_http::BodyFraming::None);
            let keep = head.keep_alive && !has_body;
            return write_error(ctx, conn, &error, &resource, &request_id, is_head, keep).await;
        }
    };
    let decoder = match BodyDecoder::new(head, &auth.payload) {
        Ok(decoder) => decoder,
        Err(error) => {
            return write_error(ctx, conn, &error, &resource, &request_id, is_head, false).await;
        }
    };
    let mut body = crate::handler::RequestBody::new(conn, decoder, head);
    let call = Call {
        ctx,
        head,
        route: &route,
        request_id: &request_id,
    };
    let handled = handle(&call, &mut body).await;
    let body_finished = body.finished();
    match handled {
        Handled::Done { keep_alive } => Ok(keep_alive && head.keep_alive && body_finished),
        Handled::Failed(error) => {
            let keep = head.keep_alive && body_finished;
            write_error(ctx, conn, &error, &resource, &request_id, is_head, keep).await
        }
    }
}

fn authenticate_and_route(
    ctx: &ShardContext,
    head: &RequestHead,
) -> Result<(shoal_http::Authenticated, shoal_http::Route), S3Error> {
    let auth = shoal_http::authenticate_with_routes(
        head,
        &ctx.secrets(),
        ctx.region(),
        ctx.route_config(),
        ctx.now_unix_secs(),
    )?;
    let route = route(head, ctx.route_config())?;
    Ok((auth, route))
}

/// Writes an S3 error response; returns whether the connection may go on.
pub async fn write_error<S: AsyncReadRent + AsyncWriteRent>(
    ctx: &ShardContext,
    conn: &mut Conn<S>,
    error: &S3Error,
    resource: &str,
    request_id: &str,
    is_head: bool,
    keep_alive: bool,
) -> std::io::Result<bool> {
    let mut out = Vec::with_capacity(512);
    response::write_error_response(
        error,
        resource,
        request_id,
        ctx.now_unix_secs(),
        keep_alive,
        is_head,
        &mut out,
    );
    let (result, _) = conn.write_all(out).await;
    result?;
    Ok(keep_alive)
}
