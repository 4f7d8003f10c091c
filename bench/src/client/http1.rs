//! Sans-IO HTTP/1.1 for the client: request heads written into a caller buffer, and
//! response heads and `Transfer-Encoding: chunked` bodies parsed from bytes. No sockets
//! here (those are in `conn.rs`), so all of it is unit-tested on byte strings.
//!
//! Invariants: nothing the server sends may panic the parser; a response head larger
//! than [`RESPONSE_HEAD_MAX_BYTES`] or with more than [`RESPONSE_HEADERS_MAX`] headers
//! is an error; a body is delimited by `Content-Length` or chunked encoding, and a
//! response to HEAD (or a 204/304) has none whatever its headers say.

/// Largest response head accepted.
pub const RESPONSE_HEAD_MAX_BYTES: usize = 64 << 10;
const RESPONSE_HEADERS_MAX: usize = 64;
/// Largest chunk-size line in a chunked body.
const CHUNK_LINE_MAX_BYTES: usize = 4096;

/// Writes `METHOD path[?query] HTTP/1.1` and its CRLF; then come [`write_header`]s and
/// a final CRLF.
pub fn write_request_line(method: &str, path: &str, query: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    if !query.is_empty() {
        out.push(b'?');
        out.extend_from_slice(query.as_bytes());
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
}

/// Writes `name: value` and its CRLF.
pub fn write_header(name: &str, value: &str, out: &mut Vec<u8>) {
    assert!(
        !value.bytes().any(|b| b == b'\r' || b == b'\n'),
        "header values are our own and never hold CR or LF"
    );
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// How the body after a response head is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    Length(u64),
    Chunked,
    /// Until the server closes (HTTP/1.0 style); never reused.
    UntilClose,
}

/// What the client needs from a response head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub framing: Framing,
    /// Whether the connection may carry another request.
    pub keep_alive: bool,
    pub head_bytes: usize,
    /// The `ETag` header, when asked for (`keep_etag`) and present.
    pub etag: Option<String>,
}

/// Parses a response head from the start of `bytes`: `Ok(None)` until complete.
pub fn parse_response_head(
    bytes: &[u8],
    request_was_head: bool,
    keep_etag: bool,
) -> Result<Option<ResponseHead>, String> {
    let mut headers = [httparse::EMPTY_HEADER; RESPONSE_HEADERS_MAX];
    let mut response = httparse::Response::new(&mut headers);
    let head_bytes = match response.parse(bytes) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if bytes.len() >= RESPONSE_HEAD_MAX_BYTES => {
            return Err("response head too large".to_owned());
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(error) => return Err(format!("malformed response head: {error}")),
    };
    let status = response.code.unwrap_or(0);
    let mut keep_alive = response.version == Some(1);
    let (mut length, mut chunked, mut etag) = (None, false, None);
    for header in response.headers.iter() {
        let value = std::str::from_utf8(header.value).unwrap_or("").trim();
        if keep_etag && header.name.eq_ignore_ascii_case("etag") {
            etag = Some(value.to_owned());
        } else if header.name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<u64>()
                    .map_err(|_| "bad Content-Length".to_owned())?,
            );
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().ends_with("chunked");
        } else if header.name.eq_ignore_ascii_case("connection") {
            keep_alive = !value.eq_ignore_ascii_case("close");
        }
    }
    let no_body =
        request_was_head || status == 204 || status == 304 || (100..200).contains(&status);
    let framing = match (no_body, chunked, length) {
        (true, _, _) => Framing::Length(0),
        (false, true, _) => Framing::Chunked,
        (false, false, Some(n)) => Framing::Length(n),
        (false, false, None) => {
            keep_alive = false;
            Framing::UntilClose
        }
    };
    Ok(Some(ResponseHead {
        status,
        framing,
        keep_alive,
        head_bytes,
        etag,
    }))
}

/// Where a chunked decoder is within the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChunkState {
    SizeLine,
    Data { remaining: u64 },
    DataEnd,
    Trailers,
    Done,
}

/// Decodes `Transfer-Encoding: chunked`, handing payload slices to a callback.
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: ChunkState,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder {
            state: ChunkState::SizeLine,
        }
    }
}

impl ChunkedDecoder {
    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Consumes what it can of `bytes`; returns the bytes consumed. Call again with
    /// the unconsumed rest plus more bytes.
    pub fn feed(&mut self, bytes: &[u8], mut payload: impl FnMut(&[u8])) -> Result<usize, String> {
        let mut at = 0;
        loop {
            let rest = &bytes[at..];
            match self.state {
                ChunkState::Done => return Ok(at),
                ChunkState::Data { remaining } => {
                    if rest.is_empty() {
                        return Ok(at);
                    }
                    let take = rest
                        .len()
                        .min(usize::try_from(remaining).unwrap_or(usize::MAX));
                    payload(&rest[..take]);
                    at += take;
                    let remaining = remaining - take as u64;
                    self.state = if remaining == 0 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data { remaining }
                    };
                }
                ChunkState::SizeLine | ChunkState::DataEnd | ChunkState::Trailers => {
                    let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") else {
                        if rest.len() > CHUNK_LINE_MAX_BYTES {
                            return Err("chunk line too long".to_owned());
                        }
                        return Ok(at);
                    };
                    let line = &rest[..line_end];
                    at += line_end + 2;
                    self.state = next_after_line(self.state, line)?;
                }
            }
        }
    }
}

fn next_after_line(state: ChunkState, line: &[u8]) -> Result<ChunkState, String> {
    match state {
        ChunkState::SizeLine => {
            let size_text = line.split(|&b| b == b';').next().unwrap_or_default();
            let size = std::str::from_utf8(size_text)
                .ok()
                .and_then(|t| u64::from_str_radix(t.trim(), 16).ok())
                .ok_or_else(|| "bad chunk size".to_owned())?;
            Ok(if size == 0 {
                ChunkState::Trailers
            } else {
                ChunkState::Data { remaining: size }
            })
        }
        ChunkState::DataEnd if line.is_empty() => Ok(ChunkState::SizeLine),
        ChunkState::DataEnd => Err("chunk data not followed by CRLF".to_owned()),
        ChunkState::Trailers if line.is_empty() => Ok(ChunkState::Done),
        ChunkState::Trailers => Ok(ChunkState::Trailers),
        ChunkState::Data { .. } | ChunkState::Done => unreachable!("lines only in line states"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request head is the request line (query only when there is one), the headers
    /// and a blank line.
    #[test]
    fn writes_request_head() {
        let mut out = Vec::new();
        write_request_line("GET", "/b/k", "x=1", &mut out);
        write_header("host", "h:1", &mut out);
        out.extend_from_slice(b"\r\n");
        assert_eq!(out, b"GET /b/k?x=1 HTTP/1.1\r\nhost: h:1\r\n\r\n");
        out.clear();
        write_request_line("PUT", "/b", "", &mut out);
        assert_eq!(out, b"PUT /b HTTP/1.1\r\n");
    }

    /// Length, chunked, HEAD and close framings are told apart; partial heads wait.
    #[test]
    fn parses_response_heads() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: \"ab\"\r\n\r\nhello";
        let head = parse_response_head(ok, false, false).unwrap().unwrap();
        assert_eq!(head.etag, None);
        let with_etag = parse_response_head(ok, false, true).unwrap().unwrap();
        assert_eq!(with_etag.etag.as_deref(), Some("\"ab\""));
        assert_eq!(
            (head.status, head.framing, head.keep_alive),
            (200, Framing::Length(5), true)
        );
        assert_eq!(head.head_bytes, ok.len() - 5);
        assert_eq!(parse_response_head(&ok[..10], false, false), Ok(None));
        let head = parse_response_head(ok, true, false).unwrap().unwrap();
        assert_eq!(head.framing, Framing::Length(0));
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
        let head = parse_response_head(chunked, false, false).unwrap().unwrap();
        assert_eq!((head.framing, head.keep_alive), (Framing::Chunked, false));
        assert!(
            parse_response_head(
                b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
                false,
                false
            )
            .is_err()
        );
        assert!(parse_response_head(b"garbage\r\n\r\n", false, false).is_err());
    }

    /// A chunked body decodes to its payload whatever the read boundaries.
    #[test]
    fn decodes_chunked_in_any_pieces() {
        let wire = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-t: 1\r\n\r\n";
        for piece in 1..wire.len() {
            let (mut decoder, mut out, mut pending) =
                (ChunkedDecoder::default(), Vec::new(), Vec::new());
            for bytes in wire.chunks(piece) {
                pending.extend_from_slice(bytes);
                let used = decoder
                    .feed(&pending, |p| out.extend_from_slice(p))
                    .unwrap();
                pending.drain(..used);
            }
            assert!(decoder.is_done());
            assert_eq!(out, b"hello world");
        }
        assert!(ChunkedDecoder::default().feed(b"zz\r\n", |_| ()).is_err());
    }
}
