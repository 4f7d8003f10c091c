//! The record of one request, made once when it ends, and the per-shard place it goes
//! ([`Observer`]): metrics count it, the request log and `shoal admin trace` read it.
//!
//! How it is filled: the connection measures the exchange as it happens ([`Exchange`]:
//! bytes consumed from the client, bytes written to it, the status of the first final
//! response head written, when that head went out, whether the client went away); the
//! connection loop adds what routing learned (API, bucket, key, or why the request was
//! refused before reaching an operation) and hands the finished [`RequestRecord`] to its
//! shard's [`Observer`] in one call.
//!
//! Invariants: recording costs no allocation (the record borrows the request id, bucket
//! and key; the API is an index into the fixed [`API_NAMES`]); one record per request
//! that got a head parsed or refused, made on the shard that served it; a request that
//! panicked gets no record (its connection is closed, the panic is reported instead).

use std::net::IpAddr;
use std::time::Duration;

use monoio::time::Instant;
use shoal_http::{Operation, S3Error, S3ErrorCode};

use crate::front::metrics::RequestMetrics;

/// S3 operations as AWS spells them, in the order of [`Api`] indexes; the last two
/// name requests that reached no served operation.
pub const API_NAMES: [&str; API_COUNT] = [
    "ListBuckets",
    "CreateBucket",
    "HeadBucket",
    "DeleteBucket",
    "GetBucketLocation",
    "GetBucketVersioning",
    "GetBucketAcl",
    "ListObjects",
    "ListObjectsV2",
    "ListObjectVersions",
    "ListMultipartUploads",
    "DeleteObjects",
    "PutBucketTagging",
    "GetBucketTagging",
    "DeleteBucketTagging",
    "PutObject",
    "CopyObject",
    "GetObject",
    "HeadObject",
    "DeleteObject",
    "GetObjectAttributes",
    "GetObjectAcl",
    "PutObjectTagging",
    "GetObjectTagging",
    "DeleteObjectTagging",
    "CreateMultipartUpload",
    "UploadPart",
    "UploadPartCopy",
    "CompleteMultipartUpload",
    "AbortMultipartUpload",
    "ListParts",
    // Shoal's admin API (`shoal admin`).
    "AdminInfo",
    "AdminConfigGet",
    "AdminConfigSet",
    "AdminTrace",
    "AdminHeal",
    // A sub-resource, header or parameter Shoal does not implement (501).
    "NotImplemented",
    // No operation could be named: the head, its route or the connection was refused.
    "Unknown",
];

/// Entries of [`API_NAMES`].
pub const API_COUNT: usize = 38;

/// An S3 operation as an index into [`API_NAMES`] (fixed tables, no strings per request).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Api(u8);

impl Api {
    /// A request no operation could be named for.
    pub const UNKNOWN: Api = Api(API_COUNT as u8 - 1);

    pub fn of(operation: &Operation) -> Api {
        let index = match operation {
            Operation::ListBuckets => 0,
            Operation::CreateBucket => 1,
            Operation::HeadBucket => 2,
            Operation::DeleteBucket => 3,
            Operation::GetBucketLocation => 4,
            Operation::GetBucketVersioning => 5,
            Operation::GetBucketAcl => 6,
            Operation::ListObjects => 7,
            Operation::ListObjectsV2 => 8,
            Operation::ListObjectVersions => 9,
            Operation::ListMultipartUploads => 10,
            Operation::DeleteObjects => 11,
            Operation::PutBucketTagging => 12,
            Operation::GetBucketTagging => 13,
            Operation::DeleteBucketTagging => 14,
            Operation::PutObject => 15,
            Operation::CopyObject => 16,
            Operation::GetObject => 17,
            Operation::HeadObject => 18,
            Operation::DeleteObject => 19,
            Operation::GetObjectAttributes => 20,
            Operation::GetObjectAcl => 21,
            Operation::PutObjectTagging => 22,
            Operation::GetObjectTagging => 23,
            Operation::DeleteObjectTagging => 24,
            Operation::CreateMultipartUpload => 25,
            Operation::UploadPart => 26,
            Operation::UploadPartCopy => 27,
            Operation::CompleteMultipartUpload => 28,
            Operation::AbortMultipartUpload => 29,
            Operation::ListParts => 30,
            Operation::AdminInfo => 31,
            Operation::AdminConfigGet => 32,
            Operation::AdminConfigSet => 33,
            Operation::AdminTrace => 34,
            Operation::AdminHeal => 35,
            Operation::NotImplemented { .. } => 36,
        };
        Api(index)
    }

    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    pub fn name(self) -> &'static str {
        API_NAMES[self.index()]
    }
}

/// Why a request was refused before it reached an operation (MinIO's rejection classes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Bad or missing signature, unknown access key.
    Auth,
    /// A date outside the allowed clock skew, or an expired presigned URL.
    Timestamp,
    /// A malformed or oversized request head.
    Header,
    /// Refused as invalid (route, framing) before any operation ran.
    Invalid,
}

impl Refusal {
    /// The class of an authentication failure.
    pub fn of_auth_error(error: &S3Error) -> Refusal {
        let expired = error.code() == S3ErrorCode::AccessDenied
            && error.message().eq_ignore_ascii_case("Request has expired");
        if error.code() == S3ErrorCode::RequestTimeTooSkewed || expired {
            Refusal::Timestamp
        } else {
            Refusal::Auth
        }
    }
}

/// What one request received and sent, measured by its connection as it happens.
#[derive(Clone, Copy, Debug)]
pub struct Exchange {
    /// When the request head was complete.
    started: Instant,
    received_bytes: u64,
    sent_bytes: u64,
    /// Status of the first final (not 1xx) response head written; 0 before it.
    status: u16,
    /// When that head was handed to the socket.
    first_byte_at: Option<Instant>,
    /// The client closed its side, or a write to it failed, while the request ran (its
    /// record is made when the answer is complete, so this is always "before").
    client_gone: bool,
}

impl Exchange {
    /// A request whose head (`head_bytes` long) was complete at `started`.
    pub fn begin(started: Instant, head_bytes: usize) -> Self {
        Self {
            started,
            received_bytes: head_bytes as u64,
            sent_bytes: 0,
            status: 0,
            first_byte_at: None,
            client_gone: false,
        }
    }

    /// Body bytes consumed from the client.
    pub fn received(&mut self, bytes: usize) {
        self.received_bytes += bytes as u64;
    }

    /// `bytes` are about to be written at `now`. The first write of a response is its
    /// head (every writer sends the head in its first buffer), so the status is read
    /// from it; an interim `100 Continue` is not the answer and is skipped.
    pub fn sending(&mut self, bytes: &[u8], now: Instant) {
        if self.status == 0
            && let Some(status) = status_of_head(bytes)
            && status >= 200
        {
            self.status = status;
            self.first_byte_at = Some(now);
        }
    }

    /// `bytes` were written.
    pub fn sent(&mut self, bytes: usize) {
        self.sent_bytes += bytes as u64;
    }

    /// The client went away (end of stream, or a write failed) while the request ran:
    /// also after the response head, since a client leaving mid-body did not get the
    /// whole answer.
    pub fn client_gone(&mut self) {
        self.client_gone = true;
    }

    /// Whether a final response head was written.
    pub fn answered(&self) -> bool {
        self.status != 0
    }

    pub fn status(&self) -> u16 {
        self.status
    }
}

/// The status code of a response head (`HTTP/1.1 200 OK...`), if `bytes` start one.
fn status_of_head(bytes: &[u8]) -> Option<u16> {
    let rest = bytes.strip_prefix(b"HTTP/1.")?;
    let digits = rest.get(2..5)?;
    if rest.get(1) != Some(&b' ') || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0, |n, d| n * 10 + u16::from(d - b'0')))
}

/// One finished request, as metrics, logs and trace see it.
#[derive(Clone, Debug)]
pub struct RequestRecord<'a> {
    pub request_id: &'a str,
    pub api: Api,
    /// Empty when the request named no bucket (or could not be routed).
    pub bucket: &'a str,
    pub key: &'a str,
    /// HTTP status of the answer; 0 when none was written (the client went away first).
    pub status: u16,
    /// Head and body bytes consumed from the client.
    pub received_bytes: u64,
    /// Head and body bytes written to the client.
    pub sent_bytes: u64,
    /// From the complete request head to the first byte of the answer.
    pub ttfb: Option<Duration>,
    /// From the complete request head to the last byte written.
    pub duration: Duration,
    /// The client's address (unknown on a connection refused at admission).
    pub client: Option<IpAddr>,
    /// The client went away before the answer was sent.
    pub canceled: bool,
    /// Why the request was refused before reaching an operation, if it was.
    pub refusal: Option<Refusal>,
}

impl<'a> RequestRecord<'a> {
    /// The record of `exchange`, ended at `ended`; labels are set by the caller.
    pub fn new(request_id: &'a str, exchange: &Exchange, ended: Instant) -> Self {
        Self {
            request_id,
            api: Api::UNKNOWN,
            bucket: "",
            key: "",
            status: exchange.status,
            received_bytes: exchange.received_bytes,
            sent_bytes: exchange.sent_bytes,
            ttfb: exchange
                .first_byte_at
                .map(|at| at.saturating_duration_since(exchange.started)),
            duration: ended.saturating_duration_since(exchange.started),
            client: None,
            canceled: exchange.client_gone,
            refusal: None,
        }
    }
}

/// Where a shard's finished requests go: one per shard, never shared across shards.
#[derive(Default)]
pub struct Observer {
    /// Counters and histograms of this shard (`metrics.rs`).
    pub metrics: RequestMetrics,
    /// Request log, trace subscribers, audit log (`logs/`).
    pub logs: crate::front::logs::RequestLogs,
}

impl Observer {
    /// Takes the record of a finished request.
    #[cfg(not(feature = "no-observe"))]
    pub fn request_ended(&self, record: &RequestRecord<'_>) {
        self.metrics.record(record);
        self.logs.record(record);
    }

    /// The bench build that measures what observing costs: records nothing.
    #[cfg(feature = "no-observe")]
    pub fn request_ended(&self, _record: &RequestRecord<'_>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every operation has its own index, and the table names it as AWS spells it
    /// (the variant's name).
    #[test]
    fn api_names_match_operations() {
        use Operation as Op;
        let served = [
            Op::ListBuckets,
            Op::CreateBucket,
            Op::HeadBucket,
            Op::DeleteBucket,
            Op::GetBucketLocation,
            Op::GetBucketVersioning,
            Op::GetBucketAcl,
            Op::ListObjects,
            Op::ListObjectsV2,
            Op::ListObjectVersions,
            Op::ListMultipartUploads,
            Op::DeleteObjects,
            Op::PutBucketTagging,
            Op::GetBucketTagging,
            Op::DeleteBucketTagging,
            Op::PutObject,
            Op::CopyObject,
            Op::GetObject,
            Op::HeadObject,
            Op::DeleteObject,
            Op::GetObjectAttributes,
            Op::GetObjectAcl,
            Op::PutObjectTagging,
            Op::GetObjectTagging,
            Op::DeleteObjectTagging,
            Op::CreateMultipartUpload,
            Op::UploadPart,
            Op::UploadPartCopy,
            Op::CompleteMultipartUpload,
            Op::AbortMultipartUpload,
            Op::ListParts,
            Op::AdminInfo,
            Op::AdminConfigGet,
            Op::AdminConfigSet,
            Op::AdminTrace,
            Op::AdminHeal,
        ];
        let mut seen = [false; API_COUNT];
        for op in served {
            let api = Api::of(&op);
            assert_eq!(api.name(), format!("{op:?}"));
            assert!(!seen[api.index()], "{op:?} shares an index");
            seen[api.index()] = true;
        }
        let refused = Api::of(&Op::NotImplemented { feature: "x" });
        assert_eq!(refused.name(), "NotImplemented");
        assert_eq!(Api::UNKNOWN.name(), "Unknown");
        assert_eq!(served.len() + 2, API_COUNT);
    }

    /// The status comes from the first final head; `100 Continue` and body bytes do not count.
    #[test]
    fn exchange_takes_the_first_final_status() {
        let start = Instant::now();
        let mut exchange = Exchange::begin(start, 120);
        exchange.sending(b"HTTP/1.1 100 Continue\r\n\r\n", start);
        assert!(!exchange.answered());
        exchange.sent(25);
        exchange.received(4096);
        let later = start + Duration::from_millis(7);
        exchange.sending(b"HTTP/1.1 404 Not Found\r\n", later);
        exchange.sent(300);
        exchange.sending(b"HTTP/1.1 200 OK\r\n", later);
        let record = RequestRecord::new("id", &exchange, later + Duration::from_millis(3));
        assert_eq!(record.status, 404);
        assert_eq!(record.received_bytes, 4216);
        assert_eq!(record.sent_bytes, 325);
        assert_eq!(record.ttfb, Some(Duration::from_millis(7)));
        assert_eq!(record.duration, Duration::from_millis(10));
        assert!(!record.canceled);
    }

    /// A client that leaves before any answer is a cancel with no status; one that
    /// leaves mid-body is a cancel with the status already sent.
    #[test]
    fn a_client_leaving_first_is_a_cancel() {
        let start = Instant::now();
        let mut exchange = Exchange::begin(start, 10);
        exchange.client_gone();
        let record = RequestRecord::new("id", &exchange, start);
        assert!(record.canceled);
        assert_eq!(record.status, 0);
        assert_eq!(record.ttfb, None);
        let mut mid_body = Exchange::begin(start, 10);
        mid_body.sending(b"HTTP/1.1 200 OK\r\n", start);
        mid_body.client_gone(); // a write of the body failed
        let record = RequestRecord::new("id", &mid_body, start);
        assert!(record.canceled);
        assert_eq!(record.status, 200);
    }

    /// Only a well-formed status line yields a status.
    #[test]
    fn status_is_read_from_well_formed_heads_only() {
        assert_eq!(status_of_head(b"HTTP/1.1 503 Slow Down"), Some(503));
        assert_eq!(status_of_head(b"HTTP/1.0 200 OK"), Some(200));
        for bad in [
            &b"HTTP/1.1 20"[..],
            b"HTTP/1.1x200 ",
            b"<xml>",
            b"",
            b"HTTP/1.1 2x0 ",
        ] {
            assert_eq!(status_of_head(bad), None, "{bad:?}");
        }
    }

    /// Expired presigned URLs and skewed clocks are timestamp refusals; the rest auth.
    #[test]
    fn refusals_are_classified() {
        let skew = S3Error::new(S3ErrorCode::RequestTimeTooSkewed);
        let expired = S3Error::with_message(S3ErrorCode::AccessDenied, "Request has expired");
        let bad = S3Error::new(S3ErrorCode::SignatureDoesNotMatch);
        assert_eq!(Refusal::of_auth_error(&skew), Refusal::Timestamp);
        assert_eq!(Refusal::of_auth_error(&expired), Refusal::Timestamp);
        assert_eq!(Refusal::of_auth_error(&bad), Refusal::Auth);
    }
}
