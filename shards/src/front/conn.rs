//! One client connection on one shard: read a request head, authenticate, route, run
//! the operation, write the response; repeat while keep-alive holds.
//!
//! Invariants:
//! - Every request goes through the one SigV4 gate before anything else happens.
//! - A body is consumed only through `BodyDecoder`, so framing, signatures and hashes
//!   are verified before the store commits; if a request fails while its body is still
//!   unread, the connection is closed after the error (it cannot be resynchronised).
//! - A client cannot hold a connection without making progress ([`ConnLimits`]): the
//!   head must be complete within `head_timeout` of the connection's accept (or of its
//!   first byte after a keep-alive pause), a keep-alive pause lasts at most
//!   `idle_timeout`, a body must bring `body_window_min_bytes` in every `body_window`
//!   the server spends waiting for it, and a response write must progress within
//!   `idle_timeout`.
//! - A connection tells its admission [`Slot`] what it does (idle, reading a head, busy)
//!   so a full shard can evict it when idle or head-reading; an evicted connection
//!   stops waiting for input at once and closes. Under pressure (most of the shard's
//!   slots open) a wait for a head or the next request lasts at most
//!   [`PRESSURE_WAIT`].
//! - A request whose authentication fails is answered and its connection closed: a
//!   client without valid credentials cannot keep a connection by failing requests.
//! - A read or write that times out is dropped and the connection closed, never reused
//!   (monoio loses the bytes of a dropped operation).
//! - Input is read straight into `pending`, which starts small and grows only as far as
//!   a head may be ([`HEAD_MAX_BYTES`]) or a body read needs; between requests it shrinks
//!   back, so an idle or half-sent connection costs a few KiB, not a full read buffer.
//! - A panic while serving a request closes that connection only ([`isolate`] and the
//!   per-request catch in [`serve`]); the release profile unwinds for this. What the
//!   request held is released by the unwind: key locks and in-flight counts are guards
//!   (`KeyGuard`, `LockGuard`, `InFlight`, `admission::Slot`), and a write in progress
//!   leaves only a file in `.shoal/tmp`, which is never visible and is cleaned at start.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures_util::FutureExt;
use monoio::buf::{IoBuf, IoBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent};
use monoio::time::Instant;
use shoal_http::request::HEAD_MAX_BYTES;
use shoal_http::{
    BodyDecoder, HeadParser, HeadStatus, RequestHead, S3Error, S3ErrorCode, response, route,
};

use crate::front::admission::{Activity, Slot};
use crate::front::handler::{Call, Handled, ShardContext, handle};
use crate::front::observe::{Api, Exchange, Refusal, RequestRecord};

/// Bytes a read may add while a head is arriving (a signed head is usually 1–2 KiB).
const HEAD_READ_BYTES: usize = 4 << 10;
/// Largest read of body bytes; body reads start at [`HEAD_READ_BYTES`] and double
/// while each read fills its buffer, so only a fast sender gets a big buffer.
const BODY_READ_MAX_BYTES: usize = 256 << 10;
/// A refused connection gets at most this long to send its head before it is closed.
const REFUSAL_HEAD_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest single wait for head bytes or the next request while the shard is under
/// pressure: a legitimate client sends its head at once after connecting.
pub const PRESSURE_WAIT: Duration = Duration::from_secs(5);

/// The deadlines and the minimum rate a connection must keep (flags of `shoal server`).
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// From accept (or from the first byte after a keep-alive pause) to a whole head.
    pub head_timeout: Duration,
    /// Longest keep-alive pause between requests, and longest stall of a response write.
    pub idle_timeout: Duration,
    /// A body must bring `body_window_min_bytes` in each window of this much waiting.
    pub body_window: Duration,
    /// 0: no minimum rate (a body read then waits at most `idle_timeout`).
    pub body_window_min_bytes: u64,
}

impl Default for ConnLimits {
    fn default() -> Self {
        Self {
            head_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_mins(1),
            body_window: Duration::from_secs(10),
            body_window_min_bytes: 8 << 10,
        }
    }
}

/// The minimum body rate, counted only over time the server spends waiting for body
/// bytes (a server busy on a slow drive does not count against the client): each window
/// of waiting must bring the minimum; a window that did starts the next one. A window
/// is judged with [`BODY_WINDOW_SLACK_PERCENT`] of slack, so a sender that keeps the
/// rate on average but sends in bursts is not cut just before a burst due at the
/// window's edge.
#[derive(Debug, Clone, Copy)]
pub struct BodyRate {
    window: Duration,
    min_bytes: u64,
    waited: Duration,
    bytes: u64,
}

impl BodyRate {
    pub fn new(window: Duration, min_bytes: u64) -> Self {
        Self {
            window,
            min_bytes,
            waited: Duration::ZERO,
            bytes: 0,
        }
    }

    /// How long the next read may wait; zero when the current window has failed.
    pub fn budget(&self) -> Duration {
        let stretched = self.window * (100 + BODY_WINDOW_SLACK_PERCENT) / 100;
        stretched.saturating_sub(self.waited)
    }

    /// Counts a read that waited `waited` and brought `bytes`.
    pub fn record(&mut self, waited: Duration, bytes: u64) {
        self.waited += waited;
        self.bytes += bytes;
        if self.bytes >= self.min_bytes {
            self.waited = Duration::ZERO;
            self.bytes = 0;
        }
    }
}

/// How much longer than its window a body window may last before it is judged.
pub const BODY_WINDOW_SLACK_PERCENT: u32 = 50;

/// Where a connection is in its request cycle; decides how long a read may wait.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Between requests: the next request's first byte is due by `deadline`.
    Idle { deadline: Instant },
    /// A head is arriving: it must be complete by `deadline`.
    Head { deadline: Instant },
    /// A body is arriving at no less than its minimum rate.
    Body(BodyRate),
}

/// A connection's socket and its unparsed input.
pub struct Conn<S> {
    stream: S,
    /// Bytes received and not yet consumed (the start of the next head or body).
    pub pending: Vec<u8>,
    limits: ConnLimits,
    phase: Phase,
    /// Spare room the next body read asks for (grows while reads fill it).
    body_read_bytes: usize,
    /// Set when the peer closed its side, or a timed-out read lost the buffer.
    eof: bool,
    /// The connection's place in its shard's table (none in unit tests).
    slot: Option<Slot>,
    /// What the current request received and sent so far (for its record).
    exchange: Exchange,
}

impl<S> Conn<S> {
    /// What the current request received and sent so far.
    pub fn exchange(&self) -> &Exchange {
        &self.exchange
    }

    /// The client's address (unknown without an admission slot).
    pub fn client(&self) -> Option<std::net::IpAddr> {
        self.slot.as_ref().map(Slot::client)
    }
}

impl<S: AsyncReadRent + AsyncWriteRent> Conn<S> {
    /// A connection accepted at `accepted_at`: its first head is due `head_timeout` later.
    pub fn new(stream: S, limits: ConnLimits, accepted_at: Instant) -> Self {
        Self {
            stream,
            pending: Vec::new(),
            limits,
            phase: Phase::Head {
                deadline: accepted_at + limits.head_timeout,
            },
            body_read_bytes: HEAD_READ_BYTES,
            eof: false,
            slot: None,
            exchange: Exchange::begin(accepted_at, 0),
        }
    }

    /// The connection reports what it does to `slot` and closes when evicted.
    #[must_use]
    pub fn with_slot(mut self, slot: Slot) -> Self {
        self.slot = Some(slot);
        self
    }

    /// A request head of `head_bytes` was parsed from `pending`: its exchange begins.
    fn consume_head(&mut self, head_bytes: usize) {
        self.pending.drain(..head_bytes);
        self.exchange = Exchange::begin(Instant::now(), head_bytes);
    }

    /// `bytes` of the request body were decoded from `pending`.
    pub fn consume_body(&mut self, bytes: usize) {
        self.pending.drain(..bytes);
        self.exchange.received(bytes);
    }

    fn set_activity(&self, activity: Activity) {
        if let Some(slot) = &self.slot {
            slot.set_activity(activity);
        }
    }

    /// The request head was parsed: what follows is its body.
    pub fn begin_body(&mut self) {
        self.phase = Phase::Body(BodyRate::new(
            self.limits.body_window,
            self.limits.body_window_min_bytes,
        ));
        self.body_read_bytes = HEAD_READ_BYTES;
        self.set_activity(Activity::Busy);
    }

    /// A response was sent: wait for the next request (pipelined bytes start its head
    /// now), with the input buffer shrunk back to its small size.
    pub fn begin_idle(&mut self) {
        let now = Instant::now();
        self.phase = if self.pending.is_empty() {
            self.set_activity(Activity::Idle);
            Phase::Idle {
                deadline: now + self.limits.idle_timeout,
            }
        } else {
            self.set_activity(Activity::HeadIncomplete);
            Phase::Head {
                deadline: now + self.limits.head_timeout,
            }
        };
        if self.pending.capacity() > HEAD_READ_BYTES {
            self.pending
                .shrink_to(HEAD_READ_BYTES.max(self.pending.len()));
        }
    }

    /// Reads more bytes into `pending`; `Ok(false)` at end of stream, `TimedOut` when
    /// the phase's deadline or rate was missed (the connection must then be closed).
    pub async fn fill(&mut self) -> std::io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        let started = Instant::now();
        let budget = self.read_budget(started);
        if budget.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        let spare_bytes = self.spare_for_read();
        self.pending.reserve_exact(spare_bytes);
        let buf = std::mem::take(&mut self.pending);
        let (len, capacity) = (buf.len(), buf.capacity());
        let read = self
            .stream
            .read(buf.slice_mut(len..len + spare_bytes.min(capacity - len)));
        let read = monoio::time::timeout(budget, read);
        let outcome = match &self.slot {
            Some(slot) => monoio::select! {
                outcome = read => Some(outcome),
                () = slot.evicted() => None,
            },
            None => Some(read.await),
        };
        let Some(Ok((result, slice))) = outcome else {
            self.eof = true; // the buffer went with the dropped read
            return Err(std::io::ErrorKind::TimedOut.into());
        };
        self.pending = slice.into_inner();
        let n = result.inspect_err(|_| self.exchange.client_gone())?;
        self.after_read(started, n);
        if n == 0 {
            self.eof = true;
            self.exchange.client_gone();
        }
        Ok(n > 0)
    }

    fn read_budget(&self, now: Instant) -> Duration {
        if self.slot.as_ref().is_some_and(Slot::is_evicted) {
            return Duration::ZERO;
        }
        let pressed = self.slot.as_ref().is_some_and(Slot::under_pressure);
        match self.phase {
            Phase::Idle { deadline } | Phase::Head { deadline } if pressed => {
                deadline.saturating_duration_since(now).min(PRESSURE_WAIT)
            }
            Phase::Idle { deadline } | Phase::Head { deadline } => {
                deadline.saturating_duration_since(now)
            }
            Phase::Body(_) if self.limits.body_window_min_bytes == 0 => self.limits.idle_timeout,
            Phase::Body(rate) => rate.budget(),
        }
    }

    /// Room to ask the kernel for: a head never grows past the head limit (plus one
    /// byte, so the parser sees it was exceeded); a body read grows with its sender.
    fn spare_for_read(&self) -> usize {
        match self.phase {
            Phase::Idle { .. } | Phase::Head { .. } => {
                let room = (HEAD_MAX_BYTES + 1).saturating_sub(self.pending.len());
                HEAD_READ_BYTES.min(room).max(1)
            }
            Phase::Body(_) => self.body_read_bytes,
        }
    }

    fn after_read(&mut self, started: Instant, n: usize) {
        let now = Instant::now();
        match &mut self.phase {
            Phase::Idle { .. } if n > 0 => {
                self.phase = Phase::Head {
                    deadline: now + self.limits.head_timeout,
                };
                self.set_activity(Activity::HeadIncomplete);
            }
            Phase::Body(rate) => {
                rate.record(now - started, n as u64);
                if n == self.body_read_bytes {
                    self.body_read_bytes = (n * 2).min(BODY_READ_MAX_BYTES);
                }
            }
            Phase::Idle { .. } | Phase::Head { .. } => {}
        }
    }

    /// Writes all of `bytes`; returns the buffer for reuse (empty after a timeout). Each
    /// write must make progress within `idle_timeout`: a client that stops reading its
    /// response does not hold the connection (and the buffers behind it) forever.
    pub async fn write_all(&mut self, bytes: Vec<u8>) -> (std::io::Result<()>, Vec<u8>) {
        self.exchange.sending(&bytes, Instant::now());
        let (result, buf) = self.write_all_bytes(bytes).await;
        if result.is_err() {
            self.exchange.client_gone();
        }
        (result, buf)
    }

    async fn write_all_bytes(&mut self, bytes: Vec<u8>) -> (std::io::Result<()>, Vec<u8>) {
        let mut buf = bytes;
        let mut written = 0;
        while written < buf.len() {
            let write = self.stream.write(buf.slice(written..));
            let Ok((result, slice)) = monoio::time::timeout(self.limits.idle_timeout, write).await
            else {
                return (Err(std::io::ErrorKind::TimedOut.into()), Vec::new());
            };
            buf = slice.into_inner();
            match result {
                Ok(0) => return (Err(std::io::ErrorKind::WriteZero.into()), buf),
                Ok(n) => {
                    written += n;
                    self.exchange.sent(n);
                }
                Err(e) => return (Err(e), buf),
            }
        }
        (Ok(()), buf)
    }

    pub async fn flush(&mut self) -> std::io::Result<()> {
        monoio::time::timeout(self.limits.idle_timeout, self.stream.flush())
            .await
            .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
    }

    pub async fn shutdown(&mut self) {
        let _ = monoio::time::timeout(self.limits.idle_timeout, self.stream.shutdown()).await;
    }
}

/// Runs one connection's future so that a panic inside it ends only that connection:
/// the panic is caught, reported, and the shard goes on with its other tasks. While the
/// future is being polled, [`in_isolated_task`] says so (the server's panic hook aborts
/// the process for panics anywhere else, whose state nothing vouches for).
pub async fn isolate<F: Future<Output = ()>>(shard_index: usize, connection: F) {
    let marked = Isolated {
        inner: Box::pin(connection),
    };
    if let Err(panic) = AssertUnwindSafe(marked).catch_unwind().await {
        tracing::error!(
            shard = shard_index,
            panic = panic_message(panic.as_ref()),
            "a connection failed on an internal error; it was closed, other requests go on"
        );
    }
}

thread_local! {
    /// Polls of isolated futures in progress on this thread (nested at most once or twice).
    static ISOLATED_DEPTH: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Whether the current thread is polling a future run by [`isolate`] (so a panic here
/// will be caught and end only one connection).
pub fn in_isolated_task() -> bool {
    ISOLATED_DEPTH.with(|depth| depth.get() > 0)
}

/// A future that marks the thread as "inside an isolated task" while it is polled.
struct Isolated<F> {
    inner: std::pin::Pin<Box<F>>,
}

impl<F: Future<Output = ()>> Future for Isolated<F> {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        /// Unmarks on return and on unwind alike.
        struct Mark;
        impl Drop for Mark {
            fn drop(&mut self) {
                ISOLATED_DEPTH.with(|depth| depth.set(depth.get() - 1));
            }
        }
        ISOLATED_DEPTH.with(|depth| depth.set(depth.get() + 1));
        let _mark = Mark;
        self.inner.as_mut().poll(cx)
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("panic")
}

/// Serves requests on `stream` (accepted at `accepted_at`) until the client goes away,
/// keep-alive ends, a limit is missed, or the shard stops.
pub async fn serve<S: AsyncReadRent + AsyncWriteRent>(
    ctx: &ShardContext,
    stream: S,
    limits: ConnLimits,
    accepted_at: Instant,
    slot: Slot,
) {
    let mut conn = Conn::new(stream, limits, accepted_at).with_slot(slot);
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
                conn.exchange = Exchange::begin(Instant::now(), conn.pending.len());
                let _ = write_error(ctx, &mut conn, &error, "", &request_id, false, false).await;
                let labels = Labels::refused(Refusal::Header);
                ctx.observer
                    .request_ended(&labels.record(&request_id, &conn, None));
                break;
            }
        };
        let _in_flight = ctx.request_started();
        let request_id = ctx.next_request_id();
        conn.begin_body();
        // Boxed: the request's future (every operation's state) is tens of KiB; inline,
        // each waiting connection would carry it (and spawning copies all of it).
        let request = Box::pin(serve_request(ctx, &mut conn, &head, &request_id));
        let served = AssertUnwindSafe(request).catch_unwind().await;
        let keep_alive = match served {
            Ok(result) => result.unwrap_or_default(),
            Err(panic) => {
                tracing::error!(
                    shard = ctx.shard_index,
                    request_id,
                    method = ?head.method,
                    path = head.raw_path(),
                    panic = panic_message(panic.as_ref()),
                    "request failed on an internal error; its connection was closed, other \
                     requests go on"
                );
                return; // the response may be half written: close without another byte
            }
        };
        if !keep_alive || ctx.stopping() {
            break;
        }
        conn.begin_idle();
    }
    let _ = conn.flush().await;
    conn.shutdown().await;
}

/// Answers a connection the shard has no room for: reads its head (briefly), answers
/// `503 SlowDown` so S3 clients back off and retry, and closes.
pub async fn refuse<S: AsyncReadRent + AsyncWriteRent>(
    ctx: &ShardContext,
    stream: S,
    limits: ConnLimits,
    accepted_at: Instant,
) {
    let limits = ConnLimits {
        head_timeout: limits.head_timeout.min(REFUSAL_HEAD_TIMEOUT),
        ..limits
    };
    let mut conn = Conn::new(stream, limits, accepted_at);
    let mut parser = HeadParser::new();
    if let Ok(Some(head)) = read_head(&mut conn, &mut parser).await {
        let error = S3Error::with_message(
            S3ErrorCode::SlowDown,
            "The server has too many connections open; retry later.",
        );
        let request_id = ctx.next_request_id();
        let is_head = head.method == shoal_http::Method::Head;
        let resource = head.raw_path().to_owned();
        let _ = write_error(
            ctx,
            &mut conn,
            &error,
            &resource,
            &request_id,
            is_head,
            false,
        )
        .await;
        ctx.observer
            .request_ended(&Labels::default().record(&request_id, &conn, None));
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
                    conn.consume_head(consumed_bytes);
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

/// Runs one request and hands its record to the shard's observer; returns whether the
/// connection may carry another.
async fn serve_request<S: AsyncReadRent + AsyncWriteRent>(
    ctx: &ShardContext,
    conn: &mut Conn<S>,
    head: &RequestHead,
    request_id: &str,
) -> std::io::Result<bool> {
    if let Some(admin) = shoal_http::admin_route(head) {
        return crate::front::probe::serve(ctx, conn, head, request_id, admin).await;
    }
    let prepared = authenticate_and_route(ctx, head);
    let labels = Labels::of(ctx, head, &prepared);
    let served = {
        let _in_flight = ctx.observer.metrics.in_flight(labels.api);
        answer(ctx, conn, head, request_id, prepared.as_ref()).await
    };
    let route = prepared.as_ref().ok().map(|(_, route)| route);
    ctx.observer
        .request_ended(&labels.record(request_id, conn, route));
    served
}

/// What routing learned about a request, for its record.
struct Labels {
    api: Api,
    route: Option<shoal_http::Route>,
    refusal: Option<Refusal>,
}

impl Default for Labels {
    fn default() -> Self {
        Self {
            api: Api::UNKNOWN,
            route: None,
            refusal: None,
        }
    }
}

impl Labels {
    fn refused(refusal: Refusal) -> Self {
        Self {
            refusal: Some(refusal),
            ..Self::default()
        }
    }

    /// The API, bucket and key of a request; one refused by authentication is routed
    /// anyway (for its labels only) so its API is known.
    fn of(ctx: &ShardContext, head: &RequestHead, prepared: &Prepared) -> Self {
        match prepared {
            Ok((_, route)) => Self {
                api: Api::of(&route.operation),
                route: None,
                refusal: None,
            },
            Err((error, authenticated)) => {
                let route = route(head, ctx.route_config()).ok();
                let refusal = if *authenticated {
                    Refusal::Invalid
                } else {
                    Refusal::of_auth_error(error)
                };
                Self {
                    api: route
                        .as_ref()
                        .map_or(Api::UNKNOWN, |r| Api::of(&r.operation)),
                    route,
                    refusal: Some(refusal),
                }
            }
        }
    }

    /// The record of the request served on `conn`, labelled by `route` (when it was
    /// routed and authenticated) or by what was learned of it.
    fn record<'a, S>(
        &'a self,
        request_id: &'a str,
        conn: &Conn<S>,
        route: Option<&'a shoal_http::Route>,
    ) -> RequestRecord<'a> {
        let mut record = RequestRecord::new(request_id, conn.exchange(), Instant::now());
        record.api = self.api;
        record.client = conn.client();
        record.refusal = self.refusal;
        if let Some(route) = route.or(self.route.as_ref()) {
            record.bucket = route.bucket.as_deref().unwrap_or_default();
            record.key = route.key.as_deref().unwrap_or_default();
        }
        record
    }
}

type Prepared = Result<(shoal_http::Authenticated, shoal_http::Route), (S3Error, bool)>;

/// Answers one request that was authenticated and routed (or refused).
async fn answer<S: AsyncReadRent + AsyncWriteRent>(
    ctx: &ShardContext,
    conn: &mut Conn<S>,
    head: &RequestHead,
    request_id: &str,
    prepared: Result<&(shoal_http::Authenticated, shoal_http::Route), &(S3Error, bool)>,
) -> std::io::Result<bool> {
    let resource = head.raw_path().to_owned();
    let is_head = head.method == shoal_http::Method::Head;
    let (auth, route) = match prepared {
        Ok((auth, route)) => (auth, route),
        Err((error, authenticated)) => {
            // The body (if any) was never read: the connection cannot continue. Nor
            // does a client that failed authentication keep it.
            let has_body = !matches!(head.framing, shoal_http::BodyFraming::None);
            let keep = head.keep_alive && !has_body && *authenticated;
            return write_error(ctx, conn, error, &resource, request_id, is_head, keep).await;
        }
    };
    let decoder = match BodyDecoder::new(head, &auth.payload) {
        Ok(decoder) => decoder,
        Err(error) => {
            return write_error(ctx, conn, &error, &resource, request_id, is_head, false).await;
        }
    };
    let mut body = crate::front::handler::RequestBody::new(conn, decoder, head);
    let call = Call {
        ctx,
        head,
        route,
        request_id,
    };
    let handled = handle(&call, &mut body).await;
    let body_finished = body.finished();
    match handled {
        Handled::Done { keep_alive } => Ok(keep_alive && head.keep_alive && body_finished),
        Handled::Failed(error) => {
            let keep = head.keep_alive && body_finished;
            write_error(ctx, conn, &error, &resource, request_id, is_head, keep).await
        }
    }
}

/// The request's identity and route; an error says whether authentication passed.
fn authenticate_and_route(ctx: &ShardContext, head: &RequestHead) -> Prepared {
    let auth = shoal_http::authenticate_with_routes(
        head,
        &ctx.secrets(),
        ctx.region(),
        ctx.route_config(),
        ctx.now_unix_secs(),
    )
    .map_err(|error| (error, false))?;
    let route = route(head, ctx.route_config()).map_err(|error| (error, true))?;
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
    log_failure(ctx, error, resource, request_id);
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

/// A failed request's event, with the request id its response carries: a server error
/// (5xx) is a warning an operator must see; a client's error is debug detail.
fn log_failure(ctx: &ShardContext, error: &S3Error, resource: &str, request_id: &str) {
    let status = error.status();
    if status >= 500 {
        tracing::warn!(
            shard = ctx.shard_index,
            request_id,
            status,
            code = error.code().as_str(),
            resource,
            "request failed: {}",
            error.message()
        );
    } else {
        tracing::debug!(
            shard = ctx.shard_index,
            request_id,
            status,
            code = error.code().as_str(),
            resource,
            "request refused: {}",
            error.message()
        );
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::io::Write;
    use std::rc::Rc;

    use super::*;

    fn runtime() -> shoal_io::ShardRuntime {
        shoal_io::build_runtime(&shoal_io::RuntimeConfig::default())
            .expect("runtime")
            .0
    }

    /// A window that brings its minimum starts a fresh one; one that does not runs out.
    #[test]
    fn body_rate_counts_waiting_per_window() {
        let second = Duration::from_secs(1);
        let mut rate = BodyRate::new(10 * second, 100);
        rate.record(4 * second, 60);
        assert_eq!(rate.budget(), 11 * second);
        rate.record(5 * second, 40); // minimum met within the window: a new one starts
        assert_eq!(rate.budget(), 15 * second);
        rate.record(14 * second, 99);
        rate.record(second, 0);
        assert!(rate.budget().is_zero());
    }

    /// A body sent in bursts at above the minimum rate on average (rate_quantization.py:
    /// 4,300 bytes every 5 s against 8 KiB per 10 s) is not cut at the window's edge:
    /// the read waiting for the burst due exactly there still has time.
    #[test]
    fn body_rate_spares_bursts_at_the_window_edge() {
        let second = Duration::from_secs(1);
        let mut rate = BodyRate::new(10 * second, 8 << 10);
        for _ in 0..10 {
            assert!(rate.budget() > 5 * second, "cut before the next burst");
            rate.record(5 * second, 4300);
        }
    }

    /// A panicking connection future is caught by `isolate`; the runtime's other tasks go on.
    #[test]
    fn isolate_keeps_the_shard_running() {
        let finished = Rc::new(Cell::new(false));
        let seen = finished.clone();
        runtime().block_on(async move {
            let bad = monoio::spawn(isolate(0, async {
                monoio::time::sleep(Duration::from_millis(5)).await;
                assert!(in_isolated_task());
                panic!("defect in one request");
            }));
            let good = monoio::spawn(async move {
                monoio::time::sleep(Duration::from_millis(30)).await;
                seen.set(true);
            });
            bad.await;
            assert!(!in_isolated_task());
            good.await;
        });
        assert!(finished.get());
    }

    /// Without `isolate`, monoio lets a task's panic escape the whole runtime (so the
    /// wrapper above is what keeps a shard alive).
    #[test]
    fn without_isolate_a_task_panic_escapes_the_runtime() {
        let escaped = std::panic::catch_unwind(AssertUnwindSafe(|| {
            runtime().block_on(async {
                monoio::spawn(async { panic!("defect in one request") }).await;
            });
        }));
        assert!(escaped.is_err());
    }

    /// A head sent in part and then stalled ends at `head_timeout`, counted from accept.
    #[test]
    fn half_sent_head_times_out() {
        let limits = ConnLimits {
            head_timeout: Duration::from_millis(300),
            ..ConnLimits::default()
        };
        runtime().block_on(async move {
            let listener = monoio::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let address = listener.local_addr().expect("address");
            let mut client = std::net::TcpStream::connect(address).expect("connect");
            client
                .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
                .expect("send");
            let (stream, _) = listener.accept().await.expect("accept");
            let started = Instant::now();
            let mut conn = Conn::new(stream, limits, started);
            let mut parser = HeadParser::new();
            let outcome = read_head(&mut conn, &mut parser).await;
            assert!(matches!(outcome, Err(ReadHeadError::Io)));
            let waited = started.elapsed();
            assert!(waited >= Duration::from_millis(250) && waited < Duration::from_secs(3));
            drop(client);
        });
    }
}
