//! The object service as a shard runs it: per-shard context, the request body as a
//! store `BodySource`, dispatch of each S3 operation, and response writing.
//!
//! Invariants: handlers never panic on client input; every failure is returned as an
//! `S3Error` and written by the connection loop; a response is written at most once.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use monoio::io::{AsyncReadRent, AsyncWriteRent};
use shoal_http::response::{is_header_name, is_header_value};
use shoal_http::{
    BodyDecoder, Operation, RequestHead, ResponseBody, ResponseHead, Route, RouteConfig, S3Error,
    S3ErrorCode, write_response_head,
};
use shoal_io::{AnyDrive, Clock, SystemClock};

use crate::front::conn::Conn;
use crate::front::metrics::NodeMetrics;
use crate::front::observe::Observer;
use crate::object::put::BodySource;
use crate::object::store::Store;
use crate::record::checksum::{Checksum, ChecksumAlgorithm};
use shoal_io::{GRANT_WAIT_MAX, MemoryBudget};

/// The store a shard serves: real drives in the server, simulated ones in tests
/// (`AnyDrive` dispatches by `match`, so the request path pays no `dyn` call).
pub type ShardStore = Store<AnyDrive, SystemClock>;

/// The root credentials of the deployment.
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// Everything a shard's request handling shares; one per shard, never sent across.
pub struct ShardContext {
    pub store: ShardStore,
    pub credentials: Credentials,
    pub region: String,
    pub route_config: RouteConfig,
    pub shard_index: usize,
    requests_total: Cell<u64>,
    in_flight: Rc<Cell<usize>>,
    stopping: Cell<bool>,
    /// Memory held by object data in flight, and what one object read holds at most.
    memory: MemoryBudget,
    /// Where finished requests go (metrics, logs, trace).
    pub observer: Observer,
    /// The node's shared metrics and drive health (none in unit tests).
    pub node: Option<std::sync::Arc<NodeMetrics>>,
    request_memory_bytes: usize,
    /// The node as the admin API sees it.
    admin: Option<std::sync::Arc<crate::front::admin::node::Node>>,
    /// Peer verbs this shard served, by owner (`member_service.rs`; zero on one node).
    pub peer_verbs: Rc<Cell<crate::front::peer::member_service::PeerVerbCounts>>,
    /// The root secret's SigV4 signing key of the last day and region a request was
    /// signed for (`ShardSecrets`): one entry, so bounded.
    signing_key: RefCell<Option<DaySigningKey>>,
}

/// A signing key and the day (`YYYYMMDD`) and region it was derived for.
struct DaySigningKey {
    date: String,
    region: String,
    key: [u8; 32],
}

/// The shard's credentials as the signature gate asks for them: the root secret by its
/// access key id, and its signing key kept for the day (deriving it costs four
/// HMAC-SHA256 per request otherwise).
pub struct ShardSecrets<'a> {
    credentials: &'a Credentials,
    signing_key: &'a RefCell<Option<DaySigningKey>>,
}

impl shoal_http::SecretKeys for ShardSecrets<'_> {
    fn secret_access_key(&self, access_key_id: &str) -> Option<String> {
        (access_key_id == self.credentials.access_key_id)
            .then(|| self.credentials.secret_access_key.clone())
    }

    fn signing_key(&self, secret_access_key: &str, date: &str, region: &str) -> [u8; 32] {
        if secret_access_key != self.credentials.secret_access_key {
            return shoal_http::signing_key(secret_access_key, date, region);
        }
        if let Some(kept) = &*self.signing_key.borrow()
            && kept.date == date
            && kept.region == region
        {
            return kept.key;
        }
        let key = shoal_http::signing_key(secret_access_key, date, region);
        *self.signing_key.borrow_mut() = Some(DaySigningKey {
            date: date.to_owned(),
            region: region.to_owned(),
            key,
        });
        key
    }
}

/// Counts a request in flight until dropped.
pub struct InFlight(Rc<Cell<usize>>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

impl ShardContext {
    pub fn new(
        store: ShardStore,
        credentials: Credentials,
        region: String,
        route_config: RouteConfig,
        shard_index: usize,
    ) -> Self {
        Self {
            store,
            credentials,
            region,
            route_config,
            shard_index,
            requests_total: Cell::new(0),
            in_flight: Rc::new(Cell::new(0)),
            stopping: Cell::new(false),
            memory: MemoryBudget::new(shoal_io::memory_budget::DEFAULT_MAX_BYTES),
            observer: Observer::default(),
            node: None,
            request_memory_bytes: 0,
            admin: None,
            peer_verbs: Rc::default(),
            signing_key: RefCell::new(None),
        }
    }

    /// The shard serves the admin API for `node`.
    #[must_use]
    pub fn with_admin(mut self, node: std::sync::Arc<crate::front::admin::node::Node>) -> Self {
        self.admin = Some(node);
        self
    }

    /// Finished requests go to `logs` too (request log, trace, audit log).
    #[must_use]
    pub fn with_logs(mut self, logs: crate::front::logs::RequestLogs) -> Self {
        self.observer.logs = logs;
        self
    }

    /// The node, for admin requests (a context made without one refuses them).
    pub fn admin_node(&self) -> Result<&crate::front::admin::node::Node, S3Error> {
        self.admin.as_deref().ok_or_else(|| {
            S3Error::with_message(S3ErrorCode::NotImplemented, "no admin API on this shard")
        })
    }

    /// Requests that read objects (GET, copies) each take a grant of
    /// `request_memory_bytes` from `budget` while they run, and requests that write
    /// objects (PUT, UploadPart, copies) one of what their stripe buffers hold.
    #[must_use]
    pub fn with_memory_budget(mut self, budget: MemoryBudget, request_memory_bytes: usize) -> Self {
        self.memory = budget;
        self.request_memory_bytes = request_memory_bytes;
        self
    }

    /// The shard reports to the node's shared metrics and health.
    #[must_use]
    pub fn with_node(mut self, node: std::sync::Arc<NodeMetrics>) -> Self {
        self.node = Some(node);
        self
    }

    /// The shard's memory budget for object reads in flight.
    pub fn memory(&self) -> &MemoryBudget {
        &self.memory
    }

    /// A request id unique per process: shard index then a per-shard counter.
    pub fn next_request_id(&self) -> String {
        let n = self.requests_total.get() + 1;
        self.requests_total.set(n);
        format!("{:02X}{n:014X}", self.shard_index)
    }

    pub fn requests_total(&self) -> u64 {
        self.requests_total.get()
    }

    pub fn request_started(&self) -> InFlight {
        self.in_flight.set(self.in_flight.get() + 1);
        InFlight(self.in_flight.clone())
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.get()
    }

    pub fn stop(&self) {
        self.stopping.set(true);
    }

    pub fn stopping(&self) -> bool {
        self.stopping.get()
    }

    pub fn secrets(&self) -> ShardSecrets<'_> {
        ShardSecrets {
            credentials: &self.credentials,
            signing_key: &self.signing_key,
        }
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn route_config(&self) -> &RouteConfig {
        &self.route_config
    }

    pub fn now_unix_secs(&self) -> i64 {
        unix_secs(SystemClock.now_unix_nanos())
    }
}

/// The request body, decoded and verified as it streams, feeding the store.
pub struct RequestBody<'c, S> {
    pub conn: &'c mut Conn<S>,
    decoder: BodyDecoder,
    done: bool,
    /// The trailer that will carry a checksum (`x-amz-trailer`), if any.
    trailer_name: Option<String>,
    /// `Expect: 100-continue` not yet answered. It is answered when the body is first
    /// needed, so a request refused from its head alone gets its final status instead
    /// of an invitation to send a body that would never be read.
    continue_pending: bool,
}

impl<'c, S: AsyncReadRent + AsyncWriteRent> RequestBody<'c, S> {
    pub fn new(conn: &'c mut Conn<S>, decoder: BodyDecoder, head: &RequestHead) -> Self {
        let trailer_name = head
            .header("x-amz-trailer")
            .map(|t| t.trim().to_ascii_lowercase());
        let done = matches!(head.framing, shoal_http::BodyFraming::None);
        let continue_pending = head.expect_continue && !done;
        Self {
            conn,
            decoder,
            done,
            trailer_name,
            continue_pending,
        }
    }

    /// Whether the whole body was read (the connection can carry another request).
    pub fn finished(&self) -> bool {
        self.done
    }

    /// Reads the whole body into memory, refusing more than `max_bytes`.
    pub async fn read_to_vec(&mut self, max_bytes: usize) -> Result<Vec<u8>, S3Error> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = self
                .read(&mut buf)
                .await
                .map_err(|e| crate::front::s3::error::to_s3(&crate::Error::Source(e)))?;
            if n == 0 {
                return Ok(out);
            }
            if out.len() + n > max_bytes {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidRequest,
                    "request body too large",
                ));
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    /// Answers `Expect: 100-continue` once, when the body is first waited for.
    async fn answer_continue(&mut self) -> std::io::Result<()> {
        if self.continue_pending {
            self.continue_pending = false;
            let (result, _) = self
                .conn
                .write_all(shoal_http::response::CONTINUE_100.to_vec())
                .await;
            result?;
        }
        Ok(())
    }

    /// Reads and discards the rest of the body (bounded), so keep-alive can go on.
    pub async fn discard(&mut self, max_bytes: usize) -> Result<(), S3Error> {
        self.read_to_vec(max_bytes).await.map(|_| ())
    }
}

impl<S: AsyncReadRent + AsyncWriteRent> BodySource for RequestBody<'_, S> {
    async fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while !self.done {
            // Feed what is buffered first (possibly nothing: an empty body completes
            // without any bytes); wait on the socket only when the decoder needs more.
            let take = self.conn.pending.len().min(out.len());
            let mut written = 0;
            let progress = self
                .decoder
                .feed(&self.conn.pending[..take], |payload| {
                    out[written..written + payload.len()].copy_from_slice(payload);
                    written += payload.len();
                })
                .map_err(std::io::Error::other)?;
            self.conn.consume_body(progress.consumed_bytes);
            self.done = progress.done;
            if written > 0 {
                return Ok(written);
            }
            self.answer_continue().await?;
            if !self.done && progress.consumed_bytes == 0 && !self.conn.fill().await? {
                return Err(std::io::Error::other(S3Error::new(
                    S3ErrorCode::IncompleteBody,
                )));
            }
        }
        Ok(0)
    }

    async fn ready(&mut self) -> std::io::Result<()> {
        if self.done || !self.conn.pending.is_empty() {
            return Ok(());
        }
        self.answer_continue().await?;
        if self.conn.fill().await? {
            Ok(())
        } else {
            Err(std::io::Error::other(S3Error::new(
                S3ErrorCode::IncompleteBody,
            )))
        }
    }

    fn start_md5(&mut self) -> bool {
        self.decoder.hash_md5()
    }

    fn md5(&self) -> Option<[u8; 16]> {
        self.decoder.payload_md5()
    }

    fn trailer_checksum(&self) -> Option<Checksum> {
        let name = self.trailer_name.as_deref()?;
        let algorithm = ChecksumAlgorithm::from_name(name.strip_prefix("x-amz-checksum-")?)?;
        let value = base64_decode(self.decoder.trailer(name)?)?;
        Some(Checksum { algorithm, value })
    }
}

/// One authenticated, routed request, as every operation handler sees it.
pub struct Call<'a> {
    pub ctx: &'a ShardContext,
    pub head: &'a RequestHead,
    pub route: &'a Route,
    pub request_id: &'a str,
}

impl Call<'_> {
    pub fn bucket(&self) -> &str {
        self.route.bucket.as_deref().unwrap_or_default()
    }

    pub fn key(&self) -> &str {
        self.route.key.as_deref().unwrap_or_default()
    }

    /// Writes `reply` (keep-alive) on the request's connection.
    pub async fn send<S: AsyncReadRent + AsyncWriteRent>(
        &self,
        conn: &mut Conn<S>,
        reply: Reply<'_>,
    ) -> Result<bool, S3Error> {
        send(self.ctx, conn, reply, self.request_id, true).await
    }
}

/// What became of a request.
pub enum Handled {
    /// A response was written.
    Done { keep_alive: bool },
    /// Nothing was written yet; the connection loop writes this error.
    Failed(S3Error),
}

/// Memory a request's read buffers will hold, taken before it starts: a read (GET, the
/// source of a copy) fills whole stripes from the drives and holds them while the client
/// reads. Writes (PUT, UploadPart, the target of a copy) are not counted here: the store
/// takes a grant per staging buffer as their stripes fill (`object/encode.rs`), so a
/// body holds memory only for bytes that arrived. Other requests hold no stripe.
fn data_request_bytes(call: &Call<'_>) -> Option<usize> {
    let read = call.ctx.request_memory_bytes;
    match call.route.operation {
        _ if read == 0 => None,
        Operation::GetObject | Operation::CopyObject | Operation::UploadPartCopy => Some(read),
        _ => None,
    }
}

/// Runs one routed, authenticated request; a data request first waits (bounded) for
/// its share of the shard's memory budget, else is answered 503 SlowDown.
pub async fn handle<S: AsyncReadRent + AsyncWriteRent>(
    call: &Call<'_>,
    body: &mut RequestBody<'_, S>,
) -> Handled {
    let _grant = match data_request_bytes(call) {
        Some(bytes) => {
            let granted = call
                .ctx
                .memory
                .grant(bytes, GRANT_WAIT_MAX, &shoal_io::MonoioEnv)
                .await;
            let Some(grant) = granted else {
                call.ctx.observer.metrics.slowdown();
                return Handled::Failed(S3Error::with_message(
                    S3ErrorCode::SlowDown,
                    crate::front::s3::error::MEMORY_SLOWDOWN,
                ));
            };
            Some(grant)
        }
        None => None,
    };
    let result = match &call.route.operation {
        Operation::ListBuckets
        | Operation::CreateBucket
        | Operation::HeadBucket
        | Operation::DeleteBucket
        | Operation::GetBucketLocation
        | Operation::GetBucketVersioning => crate::front::s3::bucket::handle(call, body).await,
        Operation::GetBucketAcl | Operation::GetObjectAcl => {
            crate::front::s3::acl::handle(call, body).await
        }
        Operation::ListObjects | Operation::ListObjectsV2 | Operation::ListObjectVersions => {
            crate::front::s3::list::handle(call, body).await
        }
        Operation::PutObject
        | Operation::GetObject
        | Operation::HeadObject
        | Operation::DeleteObject
        | Operation::DeleteObjects
        | Operation::CopyObject
        | Operation::GetObjectAttributes => crate::front::s3::object::handle(call, body).await,
        Operation::CreateMultipartUpload
        | Operation::UploadPart
        | Operation::UploadPartCopy
        | Operation::CompleteMultipartUpload
        | Operation::AbortMultipartUpload
        | Operation::ListParts
        | Operation::ListMultipartUploads => crate::front::s3::multipart::handle(call, body).await,
        Operation::GetObjectTagging
        | Operation::PutObjectTagging
        | Operation::DeleteObjectTagging
        | Operation::GetBucketTagging
        | Operation::PutBucketTagging
        | Operation::DeleteBucketTagging => crate::front::s3::tagging::handle(call, body).await,
        Operation::AdminInfo
        | Operation::AdminConfigGet
        | Operation::AdminConfigSet
        | Operation::AdminTrace
        | Operation::AdminHeal => crate::front::admin::handle(call, body).await,
        Operation::NotImplemented { .. } => Err(S3Error::with_message(
            S3ErrorCode::NotImplemented,
            call.route.not_implemented_message().unwrap_or_default(),
        )),
    };
    match result {
        Ok(keep_alive) => Handled::Done { keep_alive },
        Err(e) => {
            // A write refused a staging buffer by the budget (`encode.rs`).
            if e.message() == crate::front::s3::error::MEMORY_SLOWDOWN {
                call.ctx.observer.metrics.slowdown();
            }
            Handled::Failed(e)
        }
    }
}

/// A complete response with an in-memory body.
pub struct Reply<'a> {
    pub status: u16,
    pub headers: Vec<(&'a str, String)>,
    pub body: Vec<u8>,
    /// HEAD: state the length, send no bytes.
    pub head_only: bool,
}

impl<'a> Reply<'a> {
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            head_only: false,
        }
    }

    pub fn xml(body: Vec<u8>) -> Self {
        let mut reply = Self::new(200);
        reply
            .headers
            .push(("Content-Type", "application/xml".to_owned()));
        reply.body = body;
        reply
    }

    #[must_use]
    pub fn header(mut self, name: &'a str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// Writes a response head (and for in-memory bodies, the body).
pub async fn send<S: AsyncReadRent + AsyncWriteRent>(
    ctx: &ShardContext,
    conn: &mut Conn<S>,
    reply: Reply<'_>,
    request_id: &str,
    keep_alive: bool,
) -> Result<bool, S3Error> {
    let length = reply.body.len() as u64;
    let mut out = head_bytes(
        ctx,
        reply.status,
        &reply.headers,
        request_id,
        keep_alive,
        length,
        reply.status != 204 && reply.status != 304,
    )?;
    if !reply.head_only {
        out.extend_from_slice(&reply.body);
    }
    let (result, _) = conn.write_all(out).await;
    result.map_err(|_| S3Error::new(S3ErrorCode::InternalError))?;
    Ok(keep_alive)
}

/// The bytes of a response head. A header that could break the response's framing
/// (a value from a request or from disk with CR, LF or another control byte) is refused
/// here, before anything is written, so the client gets an error instead of a split
/// response and the process never reaches the writer's assertion.
pub fn head_bytes(
    ctx: &ShardContext,
    status: u16,
    headers: &[(&str, String)],
    request_id: &str,
    keep_alive: bool,
    length: u64,
    with_length: bool,
) -> Result<Vec<u8>, S3Error> {
    check_headers(headers)?;
    let borrowed: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let head = ResponseHead {
        status,
        date_unix_secs: ctx.now_unix_secs(),
        request_id,
        headers: &borrowed,
        body: if with_length {
            ResponseBody::Length(length)
        } else {
            ResponseBody::Empty
        },
        keep_alive,
    };
    let mut out = Vec::with_capacity(512);
    write_response_head(&head, &mut out);
    Ok(out)
}

/// Refuses a response header the writer must not write (see `head_bytes`).
fn check_headers(headers: &[(&str, String)]) -> Result<(), S3Error> {
    let bad = headers
        .iter()
        .find(|(name, value)| !is_header_name(name) || !is_header_value(value));
    match bad {
        None => Ok(()),
        Some((name, _)) => Err(S3Error::with_message(
            S3ErrorCode::InternalError,
            format!("the response header {name:?} holds a byte not allowed in a header"),
        )),
    }
}

/// Whole seconds of a nanosecond timestamp.
pub fn unix_secs(unix_nanos: u64) -> i64 {
    i64::try_from(unix_nanos / 1_000_000_000).unwrap_or(i64::MAX)
}

/// Standard padded base64, as S3 sends checksums and Content-MD5 (strict decoding).
pub use shoal_http::base64::{decode as base64_decode, encode as base64_encode};

#[cfg(test)]
mod tests {
    use super::*;

    use std::io::{Read, Write};
    use std::time::Duration;

    use shoal_http::{HeadParser, HeadStatus, PayloadMode};

    const PUT_BYTES: usize = 3 << 20;

    fn runtime() -> shoal_io::ShardRuntime {
        shoal_io::build_runtime(&shoal_io::RuntimeConfig::default())
            .expect("runtime")
            .0
    }

    /// A shard context over 4 fresh drive folders with bucket "bkt" and a 64 MiB budget.
    async fn context(root: &std::path::Path) -> ShardContext {
        let drives = (0..4)
            .map(|i| {
                let dir = root.join(format!("d{i}"));
                std::fs::create_dir_all(&dir).expect("drive folder");
                AnyDrive::from(shoal_io::DirDrive::open(&dir).expect("drive"))
            })
            .collect();
        let store = Store::open(
            drives,
            SystemClock,
            7,
            crate::object::store::StoreConfig::default(),
        )
        .await
        .expect("store");
        let budget = MemoryBudget::new(64 << 20);
        let store = store.with_memory_budget(budget.clone());
        store.make_bucket("bkt").await.expect("bucket");
        let credentials = Credentials {
            access_key_id: "k".into(),
            secret_access_key: "s".into(),
        };
        ShardContext::new(
            store,
            credentials,
            "us-east-1".into(),
            RouteConfig::default(),
            0,
        )
        .with_memory_budget(budget, 5 << 20)
    }

    /// How the test client sends its PUT.
    #[derive(Clone, Copy)]
    enum Client {
        Whole,
        /// Sends half the body, then closes the connection.
        GoneMidBody,
        /// Declares a Content-MD5 the body does not have.
        WrongMd5,
        /// Sends the head, waits a second without a body byte, then closes.
        HeadOnly,
    }

    /// Runs one unsigned PUT of `PUT_BYTES` through `handle` over a loopback connection;
    /// returns the outcome and the most budget seen in use while it ran.
    async fn put(ctx: &ShardContext, key: &str, client: Client) -> (Result<(), S3Error>, usize) {
        let listener = monoio::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        let md5 = if matches!(client, Client::WrongMd5) {
            "Content-MD5: 1B2M2Y8AsgTpgAmY7PhCfg==\r\n"
        } else {
            ""
        };
        let head = format!(
            "PUT /bkt/{key} HTTP/1.1\r\nHost: x\r\nContent-Length: {PUT_BYTES}\r\n{md5}\
             x-amz-content-sha256: UNSIGNED-PAYLOAD\r\n\r\n"
        );
        let sender = std::thread::spawn(move || {
            let mut stream = std::net::TcpStream::connect(address).expect("connect");
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let sent = match client {
                Client::GoneMidBody => PUT_BYTES / 2,
                Client::HeadOnly => 0,
                Client::Whole | Client::WrongMd5 => PUT_BYTES,
            };
            let _ = stream.write_all(head.as_bytes());
            if matches!(client, Client::HeadOnly) {
                std::thread::sleep(Duration::from_secs(1));
                return;
            }
            let _ = stream.write_all(&vec![7u8; sent]);
            if !matches!(client, Client::GoneMidBody) {
                let _ = stream.read(&mut [0u8; 512]);
            }
        });
        let (stream, _) = listener.accept().await.expect("accept");
        let mut conn = Conn::new(
            stream,
            crate::front::conn::ConnLimits::default(),
            monoio::time::Instant::now(),
        );
        let mut parser = HeadParser::new();
        let head = loop {
            assert!(conn.fill().await.expect("head bytes"));
            if let HeadStatus::Complete {
                head,
                consumed_bytes,
            } = parser.parse(&conn.pending).expect("head")
            {
                conn.pending.drain(..consumed_bytes);
                break head;
            }
        };
        conn.begin_body();
        let route = shoal_http::route(&head, &RouteConfig::default()).expect("route");
        let decoder = BodyDecoder::new(&head, &PayloadMode::Unsigned).expect("decoder");
        let mut body = RequestBody::new(&mut conn, decoder, &head);
        let call = Call {
            ctx,
            head: &head,
            route: &route,
            request_id: "test",
        };
        let most = Rc::new(Cell::new(0));
        let watch = {
            let (budget, most) = (ctx.memory.clone(), most.clone());
            monoio::spawn(async move {
                for _ in 0..10_000 {
                    most.set(most.get().max(budget.used_bytes()));
                    monoio::time::sleep(Duration::from_millis(1)).await;
                }
            })
        };
        let outcome = match handle(&call, &mut body).await {
            Handled::Done { .. } => Ok(()),
            Handled::Failed(error) => Err(error),
        };
        drop(body);
        drop(conn);
        drop(watch);
        // The socket's close runs on this runtime: wait here without blocking it.
        for _ in 0..1000 {
            if sender.is_finished() {
                break;
            }
            monoio::time::sleep(Duration::from_millis(10)).await;
        }
        sender.join().expect("client");
        (outcome, most.get())
    }

    /// A PUT holds grants for the staging buffers its stripes fill (at most one per set
    /// member, none before a body byte arrives) and gives them back on every path:
    /// success, client gone before or mid-body, 4xx (BadDigest) and 5xx (no drive can
    /// stage); its buffers come from the shard's pool and are reused, not reallocated.
    #[test]
    fn put_gives_its_grant_back_on_every_path() {
        let root = tempfile::tempdir().expect("tempdir");
        runtime().block_on(async {
            let ctx = context(root.path()).await;
            let most = ctx.store.write_buffers_bytes();
            let (ok, held) = put(&ctx, "a", Client::Whole).await;
            assert!(ok.is_ok(), "{ok:?}");
            assert!(held > 0 && held <= most, "held {held} of at most {most}");
            assert_eq!(ctx.memory.used_bytes(), 0, "success gives it back");

            let (waited, held) = put(&ctx, "e", Client::HeadOnly).await;
            assert!(waited.is_err());
            assert_eq!(held, 0, "a PUT without a body byte holds nothing");

            let (gone, _) = put(&ctx, "b", Client::GoneMidBody).await;
            assert!(gone.is_err());
            assert_eq!(
                ctx.memory.used_bytes(),
                0,
                "a client gone mid-body gives it back"
            );

            let (digest, _) = put(&ctx, "c", Client::WrongMd5).await;
            assert_eq!(digest.expect_err("4xx").code(), S3ErrorCode::BadDigest);
            assert_eq!(ctx.memory.used_bytes(), 0, "a 4xx gives it back");

            let set_size = 4;
            assert_eq!(
                ctx.store.stripe_pool().allocated_total(),
                set_size,
                "three PUTs of three stripes each used one set of buffers"
            );

            for i in 0..4 {
                let tmp = root.path().join(format!("d{i}/.shoal/tmp"));
                std::fs::remove_dir_all(&tmp).expect("tmp");
                std::fs::write(&tmp, b"not a folder").expect("blocker");
            }
            let (failed, _) = put(&ctx, "d", Client::Whole).await;
            let status = failed.expect_err("5xx").code().status();
            assert!(status >= 500, "{status}");
            assert_eq!(ctx.memory.used_bytes(), 0, "a 5xx gives it back");
        });
    }

    /// The kept signing key is the one of the day and region asked for: a new day, a
    /// new region or another secret derives again, never answers the kept key.
    #[test]
    fn the_kept_signing_key_is_the_one_asked_for() {
        use shoal_http::{SecretKeys, signing_key};
        let credentials = Credentials {
            access_key_id: "k".into(),
            secret_access_key: "s".into(),
        };
        let kept = RefCell::new(None);
        let secrets = ShardSecrets {
            credentials: &credentials,
            signing_key: &kept,
        };
        for (secret, date, region) in [
            ("s", "20261207", "us-east-1"),
            ("s", "20261207", "us-east-1"),
            ("s", "20261208", "us-east-1"),
            ("s", "20261208", "eu-west-1"),
            ("other", "20261208", "eu-west-1"),
            ("s", "20261208", "eu-west-1"),
        ] {
            assert_eq!(
                secrets.signing_key(secret, date, region),
                signing_key(secret, date, region),
                "{secret} {date} {region}"
            );
        }
        let kept = kept.borrow();
        let kept = kept.as_ref().expect("a key kept");
        assert_eq!(
            (kept.date.as_str(), kept.region.as_str()),
            ("20261208", "eu-west-1")
        );
    }

    #[test]
    fn heads_that_could_break_framing_are_refused() {
        // Whatever reached a reply (a request value, a record from disk), a header with
        // a byte that would end its line or confuse a client is an error, not a panic.
        for value in ["a\r\nx: y", "a\nb", "a\rb", "a\0b", "a\x7fb", "a\x1bb"] {
            let error = check_headers(&[("Content-Type", value.to_owned())]).unwrap_err();
            assert_eq!(error.code(), S3ErrorCode::InternalError, "{value:?}");
        }
        for name in ["", "x meta", "x:y", "x\r\ny"] {
            assert!(
                check_headers(&[(name, "v".to_owned())]).is_err(),
                "{name:?}"
            );
        }
        let fine = [
            ("Content-Type", "text/plain; charset=utf-8".to_owned()),
            ("x-amz-meta-note", "tab\there, \u{e9}t\u{e9}".to_owned()),
            ("Cache-Control", String::new()),
        ];
        assert!(check_headers(&fine).is_ok());
    }
}
