//! The HTTP client of `shoal admin`: one blocking request per TCP connection (HTTP,
//! or HTTPS through `tls.rs`), signed with SigV4 by the root credentials through `shoal_http`'s signing
//! primitives, the code the server verifies with.
//!
//! Invariants: every wait is bounded (connect and each read); the body of an answer is
//! read whole only when it has a length, and a streamed (chunked) answer is handed to
//! the caller line by line as it arrives.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use shoal_http::sigv4::{EMPTY_SHA256_HEX, hex32};
use shoal_http::{
    credential_scope, request_signature, signing_key, write_canonical_headers,
    write_canonical_query,
};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for any byte of an answer (a trace sends a keep-alive line every 5 s).
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest answer head or non-streamed body accepted.
const ANSWER_MAX_BYTES: u64 = 16 << 20;

/// Where and as whom to ask.
pub struct Target {
    /// `host:port`, from an `http(s)://host:port` endpoint.
    pub authority: String,
    /// HTTPS, trusting the CA certificates of this PEM bundle.
    pub tls_bundle: Option<std::path::PathBuf>,
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
}

impl Target {
    /// Parses `http(s)://host[:port]` into `host:port` and whether it is HTTPS (a path
    /// is refused with the reason).
    pub fn authority_of(endpoint: &str) -> Result<(String, bool), String> {
        let (rest, https) = match endpoint.strip_prefix("https://") {
            Some(rest) => (rest, true),
            None => (endpoint.strip_prefix("http://").unwrap_or(endpoint), false),
        };
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') {
            return Err(format!(
                "{endpoint}: give the endpoint as http(s)://HOST:PORT"
            ));
        }
        let has_port = authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| !p.contains(']'));
        let authority = match (has_port, https) {
            (true, _) => authority.to_owned(),
            (false, true) => format!("{authority}:443"),
            (false, false) => format!("{authority}:80"),
        };
        Ok((authority, https))
    }

    /// The host part of the authority (for TLS server names).
    fn host(&self) -> &str {
        self.authority
            .rsplit_once(':')
            .map_or(self.authority.as_str(), |(host, _)| host)
    }
}

/// A connection to the server, plain or TLS.
trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

/// An answer's status, headers (names lowercase) and a reader positioned at its body.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    reader: BufReader<Box<dyn Stream>>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        (self.headers.iter())
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The whole body of an answer with a length (or one that ends at close).
    pub fn body(mut self) -> Result<String, String> {
        let mut body = Vec::new();
        let limit = match self.header("content-length") {
            Some(length) => length
                .parse()
                .map_err(|_| "bad Content-Length".to_owned())?,
            None => ANSWER_MAX_BYTES,
        };
        (&mut self.reader)
            .take(limit.min(ANSWER_MAX_BYTES))
            .read_to_end(&mut body)
            .map_err(|e| format!("reading the answer: {e}"))?;
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    /// Hands each line of a chunked body to `line` until the body ends, `line` says
    /// stop (`false`), or the connection fails.
    pub fn lines(mut self, mut line: impl FnMut(&str) -> bool) -> Result<(), String> {
        let mut pending = Vec::new();
        loop {
            let size_line = read_line(&mut self.reader)?;
            let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| format!("bad chunk size {size_line:?}"))?;
            if size == 0 {
                return Ok(());
            }
            let mut chunk = vec![0; size + 2];
            self.reader
                .read_exact(&mut chunk)
                .map_err(|e| format!("the stream ended: {e}"))?;
            pending.extend_from_slice(&chunk[..size]);
            while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let text = String::from_utf8_lossy(&pending[..end]).into_owned();
                pending.drain(..=end);
                if !line(&text) {
                    return Ok(());
                }
            }
        }
    }
}

/// Sends `method path?query` signed, with an empty body; returns the answer's head.
pub fn request(
    target: &Target,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
) -> Result<Answer, String> {
    let mut encoded_query = String::new();
    write_canonical_query(query.iter().copied(), &mut encoded_query);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| format!("clock before 1970: {e}"))?;
    let amz_date =
        shoal_http::time::format_amz_date(i64::try_from(now.as_secs()).unwrap_or(i64::MAX));
    let authorization = authorization(target, method, path, &encoded_query, &amz_date);
    let mut head = format!("{method} {path}");
    if !encoded_query.is_empty() {
        head.push('?');
        head.push_str(&encoded_query);
    }
    let _ = write!(
        head,
        " HTTP/1.1\r\nHost: {}\r\nx-amz-date: {amz_date}\r\nx-amz-content-sha256: {EMPTY_SHA256_HEX}\r\n\
         Authorization: {authorization}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        target.authority
    );
    let tcp = connect(&target.authority)?;
    let mut stream: Box<dyn Stream> = match &target.tls_bundle {
        Some(bundle) => Box::new(super::tls::connect(tcp, target.host(), bundle)?),
        None => Box::new(tcp),
    };
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.flush())
        .map_err(|e| format!("{}: cannot send: {e}", target.authority))?;
    read_head(stream, &target.authority)
}

/// The `Authorization` header of a request with an empty body.
fn authorization(
    target: &Target,
    method: &str,
    path: &str,
    encoded_query: &str,
    amz_date: &str,
) -> String {
    let date = &amz_date[..8];
    let scope = credential_scope(date, &target.region);
    let signed = ["host", "x-amz-content-sha256", "x-amz-date"];
    let mut canonical = format!("{method}\n{path}\n{encoded_query}\n");
    write_canonical_headers(
        &signed,
        |name, out| match name {
            "host" => out.push_str(&target.authority),
            "x-amz-content-sha256" => out.push_str(EMPTY_SHA256_HEX),
            _ => out.push_str(amz_date),
        },
        EMPTY_SHA256_HEX,
        &mut canonical,
    );
    let key = signing_key(&target.secret_key, date, &target.region);
    let signature = hex32(&request_signature(&key, amz_date, &scope, &canonical));
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={}, Signature={}",
        target.access_key,
        signed.join(";"),
        String::from_utf8_lossy(&signature)
    )
}

fn connect(authority: &str) -> Result<TcpStream, String> {
    let addresses = authority
        .to_socket_addrs()
        .map_err(|e| format!("{authority}: {e}"))?;
    let mut last = format!("{authority}: no address");
    for address in addresses {
        match TcpStream::connect_timeout(&address, CONNECT_TIMEOUT) {
            Ok(stream) => {
                let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
                return Ok(stream);
            }
            Err(e) => last = format!("cannot connect to {authority}: {e} (is the server running?)"),
        }
    }
    Err(last)
}

fn read_head(stream: Box<dyn Stream>, authority: &str) -> Result<Answer, String> {
    let mut reader = BufReader::new(stream);
    let status_line = read_line(&mut reader).map_err(|e| format!("{authority}: {e}"))?;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{authority}: not an HTTP answer: {status_line:?}"))?;
    let mut headers = Vec::new();
    loop {
        let line = read_line(&mut reader)?;
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
        if headers.len() > 100 {
            return Err(format!("{authority}: too many answer headers"));
        }
    }
    Ok(Answer {
        status,
        headers,
        reader,
    })
}

/// One CRLF- or LF-ended line, without its ending (bounded).
fn read_line(reader: &mut BufReader<Box<dyn Stream>>) -> Result<String, String> {
    let mut line = Vec::new();
    let read = (&mut *reader)
        .take(64 << 10)
        .read_until(b'\n', &mut line)
        .map_err(|e| format!("reading the answer: {e}"))?;
    if read == 0 {
        return Err("the server closed the connection".to_owned());
    }
    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        line.pop();
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// `Code: message` out of an S3 error document (or the raw text when it is none).
pub fn s3_error(body: &str) -> String {
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let start = body.find(&open)? + open.len();
        let end = body[start..].find(&format!("</{name}>"))? + start;
        Some(unescape_xml(&body[start..end]))
    };
    match (tag("Code"), tag("Message")) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code,
        _ => body.trim().to_owned(),
    }
}

/// The five predefined XML entities back to their characters (`&amp;` last).
fn unescape_xml(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Endpoints are taken as http(s)://HOST[:PORT]; a path is refused.
    #[test]
    fn endpoints_are_checked() {
        let of = |e: &str| Target::authority_of(e).unwrap();
        assert_eq!(
            of("http://127.0.0.1:9000"),
            ("127.0.0.1:9000".to_owned(), false)
        );
        assert_eq!(of("http://localhost/"), ("localhost:80".to_owned(), false));
        assert_eq!(of("https://x:9000"), ("x:9000".to_owned(), true));
        assert_eq!(of("https://[::1]"), ("[::1]:443".to_owned(), true));
        assert!(Target::authority_of("http://x:9000/bucket").is_err());
    }

    /// An S3 error document gives its code and message.
    #[test]
    fn s3_errors_are_read() {
        let body = "<Error><Code>SignatureDoesNotMatch</Code><Message>bad</Message></Error>";
        assert_eq!(s3_error(body), "SignatureDoesNotMatch: bad");
        assert_eq!(s3_error("plain"), "plain");
        let quoted = "<Code>InvalidArgument</Code><Message>&quot;a&quot; &amp;&lt;</Message>";
        assert_eq!(s3_error(quoted), "InvalidArgument: \"a\" &<");
    }
}
