//! Incremental HTTP/1.1 request-head parser over `httparse`.
//!
//! The caller appends bytes from the socket to one buffer and calls
//! [`HeadParser::parse`] with the whole buffer after each read. The parser remembers how
//! far it has scanned, so a head arriving one byte at a time costs linear work.
//!
//! Invariants:
//! - Limits are enforced while bytes arrive, before the end of the head is seen: a
//!   request line over [`REQUEST_LINE_MAX_BYTES`] or a head over [`HEAD_MAX_BYTES`]
//!   fails as soon as the buffer proves it, and more than [`HEADERS_MAX`] headers fail.
//! - A parsed head reports exactly how many bytes it consumed; bytes after it (body or
//!   a pipelined request) are never touched.
//! - Body framing is decided here once and unambiguously: `Transfer-Encoding` together
//!   with `Content-Length`, differing `Content-Length`s, or a transfer coding other than
//!   `chunked` are rejected (the request-smuggling cases). After any error the
//!   connection must be closed: the stream position is unknown.
//! - Header names are lowercased; values are UTF-8 (else `InvalidArgument`), kept in
//!   arrival order, duplicates kept.

use crate::base::digits::parse_decimal_u64;
use crate::base::error::{S3Error, S3ErrorCode};

/// Longest request line (method, target, version) accepted.
pub const REQUEST_LINE_MAX_BYTES: usize = 16 * 1024;
/// Most header fields accepted in one head.
pub const HEADERS_MAX: usize = 100;
/// Longest head (request line, headers, final blank line) accepted.
pub const HEAD_MAX_BYTES: usize = 64 * 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Put,
    Post,
    Delete,
    Options,
    /// Any other token; routing answers `MethodNotAllowed`.
    Other(String),
}

impl Method {
    fn from_token(token: &str) -> Method {
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "PUT" => Method::Put,
            "POST" => Method::Post,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            other => Method::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Put => "PUT",
            Method::Post => "POST",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Other(token) => token,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// How the request body is delimited on the wire (before any `aws-chunked` layer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body: neither `Content-Length` nor `Transfer-Encoding` was sent.
    None,
    ContentLength(u64),
    Chunked,
}

/// A parsed request head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    pub method: Method,
    /// The raw request target as sent (`/bucket/key?query`), still percent-encoded.
    pub target: String,
    pub version: Version,
    /// `(lowercase name, value)` in arrival order.
    pub headers: Vec<(String, String)>,
    /// Whether the connection may carry another request after this one.
    pub keep_alive: bool,
    /// The client waits for `100 Continue` before sending the body.
    pub expect_continue: bool,
    pub framing: BodyFraming,
}

impl RequestHead {
    /// The first value of a header; `name` must be lowercase.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header, in arrival order; `name` must be lowercase.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The raw (still encoded) path of the target.
    pub fn raw_path(&self) -> &str {
        self.target
            .split_once('?')
            .map_or(self.target.as_str(), |(path, _)| path)
    }

    /// The raw (still encoded) query of the target, without `?`; empty if none.
    pub fn raw_query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, query)| query)
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum HeadStatus {
    /// The head is not complete yet; read more bytes and call again.
    Partial,
    /// The head is complete and used the first `consumed_bytes` of the buffer.
    Complete {
        head: RequestHead,
        consumed_bytes: usize,
    },
}

/// Incremental head parser; one per request (call [`HeadParser::reset`] between them).
#[derive(Debug, Default)]
pub struct HeadParser {
    /// Bytes of the buffer already scanned without finding the end of the head.
    scanned_bytes: usize,
}

impl HeadParser {
    pub fn new() -> Self {
        HeadParser::default()
    }

    pub fn reset(&mut self) {
        self.scanned_bytes = 0;
    }

    /// Parses the head at the start of `buffer`, which holds every byte received for
    /// this request so far.
    pub fn parse(&mut self, buffer: &[u8]) -> Result<HeadStatus, S3Error> {
        let Some(head_end) = self.find_head_end(buffer) else {
            check_incomplete_limits(buffer)?;
            return Ok(HeadStatus::Partial);
        };
        if head_end > HEAD_MAX_BYTES {
            return Err(head_too_large());
        }
        let head_bytes = buffer.get(..head_end).ok_or_else(bad_request)?;
        check_request_line(head_bytes)?;
        let head = parse_complete(head_bytes)?;
        Ok(HeadStatus::Complete {
            head,
            consumed_bytes: head_end,
        })
    }

    /// Finds the end of `\r\n\r\n` (or the bare `\n\n` httparse also accepts), resuming
    /// where the previous call stopped.
    fn find_head_end(&mut self, buffer: &[u8]) -> Option<usize> {
        let start = self.scanned_bytes.saturating_sub(3).min(buffer.len());
        let window = buffer.get(start..)?;
        for (offset, byte) in window.iter().enumerate() {
            if *byte != b'\n' {
                continue;
            }
            let at = start + offset;
            let prev1 = at.checked_sub(1).and_then(|i| buffer.get(i));
            let prev2 = at.checked_sub(2).and_then(|i| buffer.get(i));
            let prev3 = at.checked_sub(3).and_then(|i| buffer.get(i));
            let crlf_crlf = prev1 == Some(&b'\r') && prev2 == Some(&b'\n') && prev3 == Some(&b'\r');
            if crlf_crlf || prev1 == Some(&b'\n') {
                return Some(at + 1);
            }
        }
        self.scanned_bytes = buffer.len();
        None
    }
}

fn bad_request() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::InvalidRequest,
        "The HTTP request head is malformed.",
    )
}

fn head_too_large() -> S3Error {
    S3Error::new(S3ErrorCode::RequestHeaderSectionTooLarge)
}

fn line_too_long() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::InvalidURI,
        "The request line exceeds the maximum allowed size.",
    )
}

/// Limits that an incomplete head can already be proven to break.
fn check_incomplete_limits(buffer: &[u8]) -> Result<(), S3Error> {
    if buffer.len() > HEAD_MAX_BYTES {
        return Err(head_too_large());
    }
    check_request_line(buffer)
}

fn check_request_line(bytes: &[u8]) -> Result<(), S3Error> {
    let line_len = bytes
        .iter()
        .position(|b| *b == b'\n')
        .unwrap_or(bytes.len());
    if line_len > REQUEST_LINE_MAX_BYTES {
        Err(line_too_long())
    } else {
        Ok(())
    }
}

fn parse_complete(head_bytes: &[u8]) -> Result<RequestHead, S3Error> {
    let mut slots = [httparse::EMPTY_HEADER; HEADERS_MAX];
    let mut request = httparse::Request::new(&mut slots);
    match request.parse(head_bytes) {
        Ok(httparse::Status::Complete(_)) => {}
        Err(httparse::Error::TooManyHeaders) => return Err(head_too_large()),
        Err(httparse::Error::Token) => {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                "The HTTP method or a header name is not a valid token.",
            ));
        }
        Ok(httparse::Status::Partial) | Err(_) => return Err(bad_request()),
    }
    let method = Method::from_token(request.method.ok_or_else(bad_request)?);
    let target = request.path.ok_or_else(bad_request)?;
    if !target.starts_with('/') {
        return Err(S3Error::new(S3ErrorCode::InvalidURI));
    }
    let version = match request.version {
        Some(0) => Version::Http10,
        Some(1) => Version::Http11,
        _ => return Err(bad_request()),
    };
    let headers = owned_headers(request.headers)?;
    finish_head(method, target.to_owned(), version, headers)
}

fn owned_headers(raw: &[httparse::Header<'_>]) -> Result<Vec<(String, String)>, S3Error> {
    let mut headers = Vec::with_capacity(raw.len());
    for header in raw {
        let value = std::str::from_utf8(header.value).map_err(|_| {
            S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "A header value is not valid UTF-8.",
            )
        })?;
        headers.push((header.name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    Ok(headers)
}

fn finish_head(
    method: Method,
    target: String,
    version: Version,
    headers: Vec<(String, String)>,
) -> Result<RequestHead, S3Error> {
    let mut head = RequestHead {
        method,
        target,
        version,
        headers,
        keep_alive: false,
        expect_continue: false,
        framing: BodyFraming::None,
    };
    head.keep_alive = keep_alive(&head);
    head.expect_continue = head
        .header("expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    head.framing = framing(&head)?;
    Ok(head)
}

/// HTTP/1.1 keeps the connection unless `close` is listed; HTTP/1.0 closes it unless
/// `keep-alive` is listed.
fn keep_alive(head: &RequestHead) -> bool {
    let has_token = |token: &str| {
        head.header_values("connection")
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    match head.version {
        Version::Http11 => !has_token("close"),
        Version::Http10 => has_token("keep-alive"),
    }
}

fn framing(head: &RequestHead) -> Result<BodyFraming, S3Error> {
    let content_length = content_length(head)?;
    let mut codings = head
        .header_values("transfer-encoding")
        .flat_map(|v| v.split(','));
    let Some(first) = codings.next() else {
        return Ok(content_length.map_or(BodyFraming::None, BodyFraming::ContentLength));
    };
    if content_length.is_some() {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidRequest,
            "Transfer-Encoding and Content-Length must not both be present.",
        ));
    }
    let only_chunked = first.trim().eq_ignore_ascii_case("chunked") && codings.next().is_none();
    if only_chunked {
        Ok(BodyFraming::Chunked)
    } else {
        Err(S3Error::with_message(
            S3ErrorCode::NotImplemented,
            "A header you provided implies functionality that is not implemented: Transfer-Encoding",
        ))
    }
}

fn content_length(head: &RequestHead) -> Result<Option<u64>, S3Error> {
    let mut found: Option<u64> = None;
    for value in head.header_values("content-length") {
        let length = parse_decimal_u64(value).ok_or_else(|| {
            S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "Content-Length is not a valid number.",
            )
        })?;
        if found.is_some_and(|previous| previous != length) {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                "Conflicting Content-Length headers.",
            ));
        }
        found = Some(length);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(bytes: &[u8]) -> Result<HeadStatus, S3Error> {
        HeadParser::new().parse(bytes)
    }

    fn complete(bytes: &[u8]) -> (RequestHead, usize) {
        match parse_all(bytes) {
            Ok(HeadStatus::Complete {
                head,
                consumed_bytes,
            }) => (head, consumed_bytes),
            other => panic!("expected a complete head, got {other:?}"),
        }
    }

    #[test]
    fn parses_a_get_with_lowercased_headers() {
        // Names are lowercased once here so every later lookup is exact.
        let wire = b"GET /b/k?x=1 HTTP/1.1\r\nHost: h\r\nX-Amz-Date: d\r\n\r\n";
        let (head, used) = complete(wire);
        assert_eq!(head.method, Method::Get);
        assert_eq!(head.raw_path(), "/b/k");
        assert_eq!(head.raw_query(), "x=1");
        assert_eq!(head.header("x-amz-date"), Some("d"));
        assert!(head.keep_alive);
        assert_eq!(head.framing, BodyFraming::None);
        assert_eq!(used, wire.len());
    }

    #[test]
    fn byte_at_a_time_arrival_gives_the_same_head() {
        // A slow client must not change the result, only when it appears.
        let wire = b"PUT /b/k HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello";
        let mut parser = HeadParser::new();
        let mut result = None;
        for end in 1..=wire.len() {
            match parser.parse(&wire[..end]).unwrap() {
                HeadStatus::Partial => {}
                HeadStatus::Complete {
                    head,
                    consumed_bytes,
                } => {
                    result = Some((head, consumed_bytes));
                    break;
                }
            }
        }
        let (head, used) = result.unwrap();
        assert_eq!(used, wire.len() - 5);
        assert!(head.expect_continue);
        assert_eq!(head.framing, BodyFraming::ContentLength(5));
    }

    #[test]
    fn pipelined_requests_are_left_untouched() {
        // The consumed count is where the next request starts.
        let wire = b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
        let (first, used) = complete(wire);
        assert_eq!(first.target, "/a");
        let (second, _) = complete(&wire[used..]);
        assert_eq!(second.target, "/b");
    }

    #[test]
    fn keep_alive_follows_version_and_connection() {
        // HTTP/1.0 closes by default, HTTP/1.1 keeps by default.
        assert!(!complete(b"GET / HTTP/1.0\r\n\r\n").0.keep_alive);
        assert!(
            complete(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
                .0
                .keep_alive
        );
        assert!(
            !complete(b"GET / HTTP/1.1\r\nConnection: te, close\r\n\r\n")
                .0
                .keep_alive
        );
    }

    #[test]
    fn smuggling_shapes_are_rejected() {
        // Ambiguous framing is how requests are smuggled past proxies.
        let both = b"PUT / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(
            parse_all(both).unwrap_err().code(),
            S3ErrorCode::InvalidRequest
        );
        let two = b"PUT / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n";
        assert_eq!(
            parse_all(two).unwrap_err().code(),
            S3ErrorCode::InvalidRequest
        );
        let gzip = b"PUT / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
        assert_eq!(
            parse_all(gzip).unwrap_err().code(),
            S3ErrorCode::NotImplemented
        );
        let signed = b"PUT / HTTP/1.1\r\nContent-Length: +3\r\n\r\n";
        assert_eq!(
            parse_all(signed).unwrap_err().code(),
            S3ErrorCode::InvalidArgument
        );
        let chunked = b"PUT / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n";
        assert_eq!(complete(chunked).0.framing, BodyFraming::Chunked);
    }

    #[test]
    fn limits_fail_before_the_head_ends() {
        // A client must not be able to make us buffer without bound.
        let mut long_line = b"GET /".to_vec();
        long_line.resize(REQUEST_LINE_MAX_BYTES + 1, b'a');
        assert_eq!(
            parse_all(&long_line).unwrap_err().code(),
            S3ErrorCode::InvalidURI
        );

        let mut big = b"GET / HTTP/1.1\r\n".to_vec();
        while big.len() <= HEAD_MAX_BYTES {
            big.extend_from_slice(
                b"x-a: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
            );
        }
        let code = parse_all(&big).unwrap_err().code();
        assert_eq!(code, S3ErrorCode::RequestHeaderSectionTooLarge);

        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=HEADERS_MAX {
            many.extend_from_slice(format!("x-{i}: v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(
            parse_all(&many).unwrap_err().code(),
            S3ErrorCode::RequestHeaderSectionTooLarge
        );
    }

    #[test]
    fn malformed_heads_are_errors_not_panics() {
        // Garbage gets an S3 error so the connection can be answered and closed.
        for bad in [
            &b"GET\r\n\r\n"[..],
            b"GET / HTTP/2.0\r\n\r\n",
            b"GET http://x/ HTTP/1.1\r\n\r\n",
            b"\x00\r\n\r\n",
        ] {
            assert!(parse_all(bad).is_err(), "{bad:?}");
        }
        let latin1 = b"GET / HTTP/1.1\r\nx-amz-meta-a: \xe9\r\n\r\n";
        assert_eq!(
            parse_all(latin1).unwrap_err().code(),
            S3ErrorCode::InvalidArgument
        );
    }
}
