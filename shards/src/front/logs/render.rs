//! A finished request (`observe::RequestRecord`) as text: the audit log's JSON object
//! (MinIO's audit shape where it fits), the trace's one-line text, and the request
//! log's line (the shape `tracing` prints for a `shoal::request` event, text or JSON).
//!
//! Audit object, one per line:
//!
//! ```text
//! {"version":"1","time":"2026-12-06T14:30:00.123456Z","trigger":"incoming",
//!  "api":{"name":"GetObject","bucket":"b","object":"k","status":"OK","statusCode":200,
//!         "rx":312,"tx":1400,"timeToFirstByte":"812000ns","timeToResponse":"1234000ns",
//!         "timeToResponseInNS":1234000},
//!  "remotehost":"127.0.0.1","requestID":"0000000000000012","accessKey":"admin",
//!  "canceled":false,"refusal":"auth"}
//! ```
//!
//! `statusCode` 0 means no answer was written (the client went away first, and
//! `canceled` is true); `accessKey` is present only for requests that passed the
//! signature gate (Shoal has one user, the root); `refusal` only for requests refused
//! before an operation ran.

use std::fmt::Write as _;

use crate::front::json::JsonObject;
use crate::front::observe::{Api, Refusal, RequestRecord};

/// The audit log's version of its object shape.
const AUDIT_VERSION: &str = "1";

/// Appends the audit object of `record` (ended at `unix_nanos`) and a newline.
pub fn audit_line(record: &RequestRecord<'_>, unix_nanos: u64, access_key: &str, out: &mut String) {
    let mut time = String::with_capacity(32);
    write_time(unix_nanos, &mut time);
    let mut object = JsonObject::new(out);
    object
        .string("version", AUDIT_VERSION)
        .string("time", &time)
        .string("trigger", "incoming")
        .object("api", |api| {
            api.string("name", record.api.name())
                .string("bucket", record.bucket)
                .string("object", record.key)
                .string("status", status_text(record.status))
                .number("statusCode", u64::from(record.status))
                .number("rx", record.received_bytes)
                .number("tx", record.sent_bytes);
            if let Some(ttfb) = record.ttfb {
                api.string("timeToFirstByte", &format!("{}ns", ttfb.as_nanos()));
            }
            let nanos = u64::try_from(record.duration.as_nanos()).unwrap_or(u64::MAX);
            api.string("timeToResponse", &format!("{nanos}ns"))
                .number("timeToResponseInNS", nanos);
        })
        .string("remotehost", &client_text(record))
        .string("requestID", record.request_id);
    if authenticated(record) {
        object.string("accessKey", access_key);
    }
    object.boolean("canceled", record.canceled);
    if let Some(refusal) = record.refusal {
        object.string("refusal", refusal_text(refusal));
    }
    object.finish();
    out.push('\n');
}

/// The trace's line for `record`: time, request id, API, status, bucket/key, bytes in
/// and out, duration, client. The key is escaped as JSON escapes it, so a key with a
/// newline or a space stays one field of one line.
pub fn trace_line(record: &RequestRecord<'_>, unix_nanos: u64, out: &mut String) {
    write_time(unix_nanos, out);
    let _ = write!(
        out,
        " {} {:<24} {:>3} ",
        record.request_id,
        record.api.name(),
        record.status
    );
    let mut path = String::with_capacity(record.bucket.len() + record.key.len() + 1);
    path.push_str(record.bucket);
    if !record.key.is_empty() {
        path.push('/');
        path.push_str(record.key);
    }
    if path.is_empty() {
        out.push('-');
    } else {
        crate::front::json::write_string(out, &path);
    }
    let micros = record.duration.as_micros();
    let _ = writeln!(
        out,
        " rx={} tx={} {}.{:03}ms {}{}",
        record.received_bytes,
        record.sent_bytes,
        micros / 1000,
        micros % 1000,
        client_text(record),
        if record.canceled { " canceled" } else { "" }
    );
}

/// Appends the request log's line for `record` (ended at `unix_nanos`, on shard
/// `shard`) and a newline: as `tracing`'s text output prints the event
/// (`… INFO shoal::request: request shard=0 request_id="…" api="GetObject" …`), or as
/// its flattened JSON object when `json`. Strings are JSON-escaped in both.
pub fn request_line(
    record: &RequestRecord<'_>,
    shard: usize,
    unix_nanos: u64,
    json: bool,
    out: &mut String,
) {
    let micros = record.duration.as_micros();
    let (whole_ms, frac_ms) = (micros / 1000, micros % 1000);
    if json {
        out.push_str("{\"timestamp\":\"");
        write_time(unix_nanos, out);
        let _ = write!(
            out,
            "\",\"level\":\"INFO\",\"message\":\"request\",\"shard\":{shard},\"request_id\":"
        );
    } else {
        write_time(unix_nanos, out);
        let _ = write!(
            out,
            "  INFO shoal::request: request shard={shard} request_id="
        );
    }
    let sep = if json { ",\"" } else { " " };
    let eq = if json { "\":" } else { "=" };
    crate::front::json::write_string(out, record.request_id);
    for (name, value) in [
        ("api", record.api.name()),
        ("bucket", record.bucket),
        ("key", record.key),
    ] {
        let _ = write!(out, "{sep}{name}{eq}");
        crate::front::json::write_string(out, value);
    }
    let _ = write!(
        out,
        "{sep}status{eq}{}{sep}rx{eq}{}{sep}tx{eq}{}{sep}duration_ms{eq}{whole_ms}.{frac_ms:03}{sep}client{eq}",
        record.status, record.received_bytes, record.sent_bytes
    );
    match (record.client, json) {
        (Some(ip), false) => {
            let _ = write!(out, "{ip}");
        }
        (Some(ip), true) => {
            let _ = write!(out, "\"{ip}\"");
        }
        (None, false) => out.push('-'),
        (None, true) => out.push_str("\"-\""),
    }
    let _ = write!(out, "{sep}canceled{eq}{}", record.canceled);
    if json {
        out.push_str(",\"target\":\"shoal::request\"}");
    }
    out.push('\n');
}

/// `2026-12-06T14:30:00.123456Z`.
pub fn write_time(unix_nanos: u64, out: &mut String) {
    let secs = i64::try_from(unix_nanos / 1_000_000_000).unwrap_or(i64::MAX);
    let t = shoal_http::time::DateTime::from_unix_secs(secs);
    let micros = unix_nanos % 1_000_000_000 / 1000;
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    );
}

/// Whether the request passed the signature gate: it was served, or refused by
/// routing after the gate (`Refusal::Invalid`). A connection refused for a full shard
/// is answered before the gate and names no API.
fn authenticated(record: &RequestRecord<'_>) -> bool {
    match record.refusal {
        Some(Refusal::Invalid) => true,
        Some(_) => false,
        None => record.api != Api::UNKNOWN,
    }
}

fn client_text(record: &RequestRecord<'_>) -> String {
    record
        .client
        .map_or_else(|| "-".to_owned(), |ip| ip.to_string())
}

fn status_text(status: u16) -> &'static str {
    if status == 0 {
        "Canceled"
    } else {
        shoal_http::response::reason_phrase(status)
    }
}

fn refusal_text(refusal: Refusal) -> &'static str {
    match refusal {
        Refusal::Auth => "auth",
        Refusal::Timestamp => "timestamp",
        Refusal::Header => "header",
        Refusal::Invalid => "invalid",
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::front::observe::Exchange;

    fn record<'a>(key: &'a str, exchange: &Exchange) -> RequestRecord<'a> {
        let started = monoio::time::Instant::now();
        let mut record = RequestRecord::new("00000000000000AB", exchange, started);
        record.api = Api::of(&shoal_http::Operation::GetObject);
        record.bucket = "bucket";
        record.key = key;
        record.status = 404;
        record.received_bytes = 300;
        record.sent_bytes = 512;
        record.duration = Duration::from_micros(1500);
        record.ttfb = Some(Duration::from_micros(900));
        record.client = Some("127.0.0.1".parse().unwrap());
        record
    }

    /// A key with quotes, a newline, a backslash and non-ASCII is escaped into one
    /// valid line; the fields are where the audit shape puts them.
    #[test]
    fn audit_line_escapes_keys() {
        let exchange = Exchange::begin(monoio::time::Instant::now(), 0);
        let key = "dir/\"quoted\"\nnext\\été";
        let mut out = String::new();
        audit_line(
            &record(key, &exchange),
            1_765_031_400_123_456_789,
            "root",
            &mut out,
        );
        assert_eq!(out.matches('\n').count(), 1);
        assert!(out.ends_with("}\n"));
        assert!(out.starts_with(
            r#"{"version":"1","time":"2025-12-06T14:30:00.123456Z","trigger":"incoming","api":{"name":"GetObject","bucket":"bucket","object":"dir/\"quoted\"\nnext\\été","status":"Not Found","statusCode":404,"rx":300,"tx":512,"timeToFirstByte":"900000ns","timeToResponse":"1500000ns","timeToResponseInNS":1500000}"#
        ), "{out}");
        assert!(out.contains(r#""remotehost":"127.0.0.1","requestID":"00000000000000AB","accessKey":"root","canceled":false}"#), "{out}");
    }

    /// A request refused by the signature gate carries no access key, and says why.
    #[test]
    fn refused_requests_have_no_access_key() {
        let exchange = Exchange::begin(monoio::time::Instant::now(), 0);
        let mut refused = record("k", &exchange);
        refused.refusal = Some(Refusal::Auth);
        let mut out = String::new();
        audit_line(&refused, 0, "root", &mut out);
        assert!(
            !out.contains("accessKey") && out.contains(r#""refusal":"auth""#),
            "{out}"
        );
    }

    /// The request log's line has the shape `tracing` printed for the event: text as
    /// `name=value` fields with escaped strings, or one flattened JSON object.
    #[test]
    fn request_line_text_and_json() {
        let exchange = Exchange::begin(monoio::time::Instant::now(), 0);
        let line = record("a \"b\"\nc", &exchange);
        let mut text = String::new();
        request_line(&line, 2, 1_765_031_400_123_456_789, false, &mut text);
        assert_eq!(
            text,
            "2025-12-06T14:30:00.123456Z  INFO shoal::request: request shard=2 request_id=\"00000000000000AB\" api=\"GetObject\" bucket=\"bucket\" key=\"a \\\"b\\\"\\nc\" status=404 rx=300 tx=512 duration_ms=1.500 client=127.0.0.1 canceled=false\n"
        );
        let mut json = String::new();
        request_line(&line, 2, 0, true, &mut json);
        assert_eq!(
            json,
            "{\"timestamp\":\"1970-01-01T00:00:00.000000Z\",\"level\":\"INFO\",\"message\":\"request\",\"shard\":2,\"request_id\":\"00000000000000AB\",\"api\":\"GetObject\",\"bucket\":\"bucket\",\"key\":\"a \\\"b\\\"\\nc\",\"status\":404,\"rx\":300,\"tx\":512,\"duration_ms\":1.500,\"client\":\"127.0.0.1\",\"canceled\":false,\"target\":\"shoal::request\"}\n"
        );
    }

    /// The trace line is one line with the key quoted and escaped.
    #[test]
    fn trace_line_is_one_line() {
        let exchange = Exchange::begin(monoio::time::Instant::now(), 0);
        let mut out = String::new();
        trace_line(&record("a b\nc", &exchange), 0, &mut out);
        assert_eq!(
            out,
            "1970-01-01T00:00:00.000000Z 00000000000000AB GetObject                404 \"bucket/a b\\nc\" rx=300 tx=512 1.500ms 127.0.0.1\n"
        );
    }
}
