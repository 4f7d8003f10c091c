//! Writing HTTP/1.1 response heads (and S3 error responses) into a caller buffer.
//!
//! ```text
//! HTTP/1.1 <status> <reason>\r\n
//! Date: <IMF-fixdate of date_unix_secs>\r\n
//! Server: Shoal\r\n
//! x-amz-request-id: <request id>\r\n
//! <caller headers>\r\n ...
//! Content-Length: <n>\r\n  |  Transfer-Encoding: chunked\r\n  |  (nothing)
//! Connection: keep-alive | close\r\n
//! \r\n
//! ```
//!
//! Invariants: the time is a parameter (no clock); the buffer is appended to, never
//! cleared, so the caller controls its reuse. Framing headers are written only by this
//! file: a caller header named `content-length`, `transfer-encoding` or `connection` is
//! a programmer error (asserted). Header values must pass [`is_header_value`]
//! (asserted: response splitting must be impossible). Values that come from a request
//! are checked with it where they arrive (`InvalidArgument`), and the handler checks a
//! whole head again before writing it, so the assertion is a last line of defence.

use crate::base::error::S3Error;
use crate::base::time::format_imf_fixdate;

/// The interim response sent when a client asked `Expect: 100-continue`.
pub const CONTINUE_100: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// How the response body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseBody {
    /// `Content-Length: n` (also for HEAD, where the length describes the object).
    Length(u64),
    /// `Transfer-Encoding: chunked`; write chunks with [`write_chunk_header`].
    Chunked,
    /// No body and no length header (204, 304).
    Empty,
}

/// Everything a response head states.
#[derive(Clone, Copy, Debug)]
pub struct ResponseHead<'a> {
    pub status: u16,
    pub date_unix_secs: i64,
    pub request_id: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: ResponseBody,
    pub keep_alive: bool,
}

/// The reason phrase for the statuses S3 uses.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        206 => "Partial Content",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        411 => "Length Required",
        412 => "Precondition Failed",
        416 => "Range Not Satisfiable",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        507 => "Insufficient Storage",
        _ => "",
    }
}

/// Whether `value` may be sent as a header value: RFC 9110 field content (visible
/// ASCII, space, tab, and bytes of UTF-8 beyond ASCII), so no CR, LF, NUL or other
/// control byte that could end the header line or confuse a client.
pub fn is_header_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// Whether `name` is an HTTP token (the only bytes a header name may have).
pub fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &str) {
    assert!(
        is_header_name(name) && is_header_value(value),
        "CR/LF or another byte not allowed in response header {name}"
    );
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends the response head to `out`.
pub fn write_response_head(head: &ResponseHead<'_>, out: &mut Vec<u8>) {
    assert!(
        (100..600).contains(&head.status),
        "status {} out of range",
        head.status
    );
    let mut scratch = String::with_capacity(64);
    out.extend_from_slice(
        format!(
            "HTTP/1.1 {} {}\r\n",
            head.status,
            reason_phrase(head.status)
        )
        .as_bytes(),
    );
    format_imf_fixdate(head.date_unix_secs, &mut scratch);
    push_header(out, "Date", &scratch);
    push_header(out, "Server", "Shoal");
    push_header(out, "x-amz-request-id", head.request_id);
    for (name, value) in head.headers {
        let framing = ["content-length", "transfer-encoding", "connection"]
            .iter()
            .any(|f| name.eq_ignore_ascii_case(f));
        assert!(!framing, "framing header {name} set by caller");
        push_header(out, name, value);
    }
    match head.body {
        ResponseBody::Length(length) => push_header(out, "Content-Length", &length.to_string()),
        ResponseBody::Chunked => push_header(out, "Transfer-Encoding", "chunked"),
        ResponseBody::Empty => {}
    }
    push_header(
        out,
        "Connection",
        if head.keep_alive {
            "keep-alive"
        } else {
            "close"
        },
    );
    out.extend_from_slice(b"\r\n");
}

/// Appends the header line of one chunk of a chunked response body.
pub fn write_chunk_header(length: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(format!("{length:X}\r\n").as_bytes());
}

/// The bytes that end a chunked response body (after the last chunk's `\r\n`).
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Appends a complete S3 error response. HEAD requests and 304 get the head only, as
/// S3 does; `resource` is the request path.
pub fn write_error_response(
    error: &S3Error,
    resource: &str,
    request_id: &str,
    date_unix_secs: i64,
    keep_alive: bool,
    head_request: bool,
    out: &mut Vec<u8>,
) {
    let mut body = Vec::new();
    if !head_request && error.status() != 304 {
        error.render_xml(resource, request_id, &mut body);
    }
    let headers: &[(&str, &str)] = if body.is_empty() {
        &[]
    } else {
        &[("Content-Type", "application/xml")]
    };
    let response_body = if error.status() == 304 {
        ResponseBody::Empty
    } else {
        ResponseBody::Length(body.len() as u64)
    };
    let head = ResponseHead {
        status: error.status(),
        date_unix_secs,
        request_id,
        headers,
        body: response_body,
        keep_alive,
    };
    write_response_head(&head, out);
    out.extend_from_slice(&body);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::error::S3ErrorCode;

    #[test]
    fn writes_a_complete_head() {
        // The exact bytes every S3 response starts with.
        let mut out = Vec::new();
        let head = ResponseHead {
            status: 200,
            date_unix_secs: 1_369_353_600,
            request_id: "r1",
            headers: &[("ETag", "\"abc\"")],
            body: ResponseBody::Length(5),
            keep_alive: true,
        };
        write_response_head(&head, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 200 OK\r\nDate: Fri, 24 May 2013 00:00:00 GMT\r\nServer: Shoal\r\nx-amz-request-id: r1\r\n\
             ETag: \"abc\"\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n"
        );
    }

    #[test]
    fn chunked_and_close_are_written() {
        // Listings of unknown length stream as chunks.
        let mut out = Vec::new();
        let head = ResponseHead {
            status: 200,
            date_unix_secs: 0,
            request_id: "r",
            headers: &[],
            body: ResponseBody::Chunked,
            keep_alive: false,
        };
        write_response_head(&head, &mut out);
        write_chunk_header(300, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n12C\r\n"));
    }

    #[test]
    fn error_responses_carry_xml_except_for_head() {
        // HEAD must not have a body, but must keep the status.
        let error = S3Error::new(S3ErrorCode::NoSuchKey);
        let mut get = Vec::new();
        write_error_response(&error, "/b/k", "r", 0, true, false, &mut get);
        let text = String::from_utf8(get).unwrap();
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"));
        assert!(text.contains("Content-Type: application/xml\r\n"));
        assert!(text.ends_with("<Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Resource>/b/k</Resource><RequestId>r</RequestId></Error>"));
        let mut head = Vec::new();
        write_error_response(&error, "/b/k", "r", 0, true, true, &mut head);
        let text = String::from_utf8(head).unwrap();
        assert!(text.ends_with("Content-Length: 0\r\nConnection: keep-alive\r\n\r\n"));
    }

    #[test]
    #[should_panic(expected = "CR/LF")]
    fn header_injection_is_a_programmer_error() {
        // Response splitting must be impossible even through our own bugs.
        let mut out = Vec::new();
        let head = ResponseHead {
            status: 200,
            date_unix_secs: 0,
            request_id: "r\r\nx: y",
            headers: &[],
            body: ResponseBody::Empty,
            keep_alive: true,
        };
        write_response_head(&head, &mut out);
    }
}
