//! The client half of AWS Signature Version 4, as minio-go (and so warp) signs S3
//! requests: the `Authorization` header over a canonical request, with the payload hash
//! either the hex SHA-256 of a small body, `UNSIGNED-PAYLOAD`, or
//! `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]` with an aws-chunked body whose chunk
//! signatures chain from the request's signature.
//!
//! The algorithm itself (signing key, canonical query and headers, request, chunk and
//! trailer signatures) is `shoal_http`'s, the code the server verifies with; this file
//! only assembles requests and frames for it, without allocating on the measured path:
//! the signing key and scope are derived once per day ([`KeyCache`]), headers are
//! borrowed strings in a fixed-size [`HeaderList`], and the canonical request is built in
//! a caller's reused buffer.
//!
//! Invariants: the path and query are encoded once, by [`encode_path_into`] and
//! [`encode_query_into`], and the same strings go on the wire and into the canonical
//! request, so what is signed is exactly what is sent. Every header in the list given to
//! [`sign`] is signed.
//!
//! aws-chunked body (64 KiB chunks like minio-go; the last data chunk may be shorter):
//!
//! ```text
//! | hex(len) ";chunk-signature=" sig(64 hex) "\r\n" | len bytes | "\r\n" |  ...repeated
//! | "0;chunk-signature=" sig(64 hex) "\r\n" "\r\n" |              final chunk (no trailer)
//! | "0;chunk-signature=" sig(64 hex) "\r\n"                       final chunk (trailer)
//! |   name ":" value "\r\n" "x-amz-trailer-signature:" sig(64 hex) "\r\n" "\r\n" |
//! ```

use std::cell::RefCell;
use std::io::Write as _;
use std::rc::Rc;

use sha2::{Digest, Sha256};
use shoal_http::sigv4::{EMPTY_SHA256_HEX, hex32};
use shoal_http::uri::uri_encode_into;
use shoal_http::{
    chunk_signature, credential_scope, request_signature, signing_key, trailer_signature,
    write_canonical_headers, write_canonical_query,
};

/// Data bytes per aws-chunked chunk (minio-go's `payloadChunkSize`).
pub const STREAMING_CHUNK_BYTES: usize = 64 << 10;
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
pub const STREAMING_PAYLOAD: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
pub const STREAMING_PAYLOAD_TRAILER: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
pub const CRLF: &[u8] = b"\r\n";
/// Bytes of one chunk's framing besides its hex length: `;chunk-signature=`, the
/// signature, and two CRLFs.
const CHUNK_FRAMING_BYTES: usize = 17 + 64 + 2 + 2;
/// `x-amz-trailer-signature:` + 64 hex + CRLF, then the CRLF that ends the body.
const TRAILER_SIGNATURE_LINE_BYTES: usize = 24 + 64 + 2 + 2;
/// Most headers one request signs.
pub const HEADERS_MAX: usize = 16;

/// Who signs, and for which region.
#[derive(Clone)]
pub struct Credentials {
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret is a credential: never print it.
        f.debug_struct("Credentials")
            .field("access_key", &self.access_key)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// The signing key and credential scope of one day.
#[derive(Debug)]
pub struct DayKey {
    date: [u8; 8],
    key: [u8; 32],
    scope: String,
}

/// The day key of the last request, derived again only when the date changes.
#[derive(Debug, Default)]
pub struct KeyCache {
    current: RefCell<Option<Rc<DayKey>>>,
}

impl KeyCache {
    /// The key for `amz_date` (`YYYYMMDDTHHMMSSZ`).
    pub fn get(&self, credentials: &Credentials, amz_date: &AmzDate) -> Rc<DayKey> {
        let date: [u8; 8] = amz_date.0[..8].try_into().expect("8 date bytes");
        let mut current = self.current.borrow_mut();
        match &*current {
            Some(key) if key.date == date => Rc::clone(key),
            _ => {
                let date_text = &amz_date.as_str()[..8];
                let key = Rc::new(DayKey {
                    date,
                    key: signing_key(&credentials.secret_key, date_text, &credentials.region),
                    scope: credential_scope(date_text, &credentials.region),
                });
                *current = Some(Rc::clone(&key));
                key
            }
        }
    }
}

/// A request time `YYYYMMDDTHHMMSSZ`, on the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AmzDate([u8; 16]);

impl AmzDate {
    pub fn from_unix_secs(unix_secs: i64) -> AmzDate {
        let text = shoal_http::time::format_amz_date(unix_secs);
        AmzDate(text.as_bytes().try_into().expect("amz dates are 16 bytes"))
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("formatted as ASCII")
    }
}

/// The headers of one request: borrowed names (lowercase) and values, at most
/// [`HEADERS_MAX`], no allocation.
#[derive(Clone, Copy, Debug)]
pub struct HeaderList<'a> {
    items: [(&'a str, &'a str); HEADERS_MAX],
    len: usize,
}

impl Default for HeaderList<'_> {
    fn default() -> Self {
        HeaderList {
            items: [("", ""); HEADERS_MAX],
            len: 0,
        }
    }
}

impl<'a> HeaderList<'a> {
    pub fn push(&mut self, name: &'a str, value: &'a str) {
        assert!(
            self.len < HEADERS_MAX,
            "a request signs at most {HEADERS_MAX} headers"
        );
        assert!(
            !name.bytes().any(|b| b.is_ascii_uppercase()),
            "header names are given lowercase"
        );
        self.items[self.len] = (name, value);
        self.len += 1;
    }

    pub fn as_slice(&self) -> &[(&'a str, &'a str)] {
        &self.items[..self.len]
    }

    fn sort(&mut self) {
        self.items[..self.len].sort_unstable();
    }
}

/// `/bucket/key` with SigV4 `UriEncode` (slashes kept), appended to `out`.
pub fn encode_path_into(bucket: &str, key: &str, out: &mut String) {
    out.push('/');
    uri_encode_into(bucket.as_bytes(), true, out);
    if !key.is_empty() {
        out.push('/');
        uri_encode_into(key.as_bytes(), false, out);
    }
}

/// `a=1&b=2`: every name and value encoded, pairs sorted (the canonical order, which is
/// also a valid wire order), appended to `out`.
pub fn encode_query_into(pairs: &[(&str, &str)], out: &mut String) {
    write_canonical_query(pairs.iter().copied(), out);
}

/// The payload hash for a small body sent whole, as hex on the stack.
pub fn sha256_hex(body: &[u8]) -> [u8; 64] {
    if body.is_empty() {
        return EMPTY_SHA256_HEX
            .as_bytes()
            .try_into()
            .expect("64 hex digits");
    }
    hex32(&Sha256::digest(body).into())
}

/// A request as signed: method, encoded path and query, the headers to sign (`host`
/// included), and the payload hash.
pub struct Canonical<'a> {
    pub method: &'a str,
    pub encoded_path: &'a str,
    pub encoded_query: &'a str,
    pub headers: HeaderList<'a>,
    pub payload_hash: &'a str,
}

/// Signs `request` at `amz_date` with `key`, building the canonical request in
/// `scratch`. Returns the signature (also the seed of an aws-chunked body); write the
/// `Authorization` value with [`write_authorization`].
pub fn sign(
    key: &DayKey,
    request: &Canonical<'_>,
    amz_date: &AmzDate,
    scratch: &mut String,
) -> [u8; 32] {
    let mut headers = request.headers;
    headers.sort();
    scratch.clear();
    for part in [request.method, request.encoded_path, request.encoded_query] {
        scratch.push_str(part);
        scratch.push('\n');
    }
    let mut names = [""; HEADERS_MAX];
    for (slot, (name, _)) in names.iter_mut().zip(headers.as_slice()) {
        *slot = name;
    }
    let value = |name: &str, out: &mut String| {
        let (_, value) = headers
            .as_slice()
            .iter()
            .find(|(n, _)| *n == name)
            .expect("every signed name is in the list");
        out.push_str(value.trim());
    };
    write_canonical_headers(&names[..headers.len], value, request.payload_hash, scratch);
    request_signature(&key.key, amz_date.as_str(), &key.scope, scratch)
}

/// Appends `authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
/// Signature=...` and its CRLF to a request head.
pub fn write_authorization(
    credentials: &Credentials,
    key: &DayKey,
    headers: &HeaderList<'_>,
    signature: &[u8; 32],
    out: &mut Vec<u8>,
) {
    let mut sorted = *headers;
    sorted.sort();
    out.extend_from_slice(b"authorization: AWS4-HMAC-SHA256 Credential=");
    out.extend_from_slice(credentials.access_key.as_bytes());
    out.push(b'/');
    out.extend_from_slice(key.scope.as_bytes());
    out.extend_from_slice(b", SignedHeaders=");
    for (index, (name, _)) in sorted.as_slice().iter().enumerate() {
        if index > 0 {
            out.push(b';');
        }
        out.extend_from_slice(name.as_bytes());
    }
    out.extend_from_slice(b", Signature=");
    out.extend_from_slice(&hex32(signature));
    out.extend_from_slice(CRLF);
}

/// Digits of `n` in base 16.
fn hex_digits(mut n: usize) -> usize {
    let mut digits = 1;
    while n >= 16 {
        n /= 16;
        digits += 1;
    }
    digits
}

/// Wire length of an aws-chunked body carrying `decoded_bytes` (`Content-Length`),
/// with `trailer` (`name:value`) when the body ends in a signed checksum trailer.
pub fn streaming_encoded_bytes(decoded_bytes: usize, trailer: Option<(&str, &str)>) -> usize {
    let full_chunks = decoded_bytes / STREAMING_CHUNK_BYTES;
    let last_bytes = decoded_bytes % STREAMING_CHUNK_BYTES;
    let frame = |len: usize| hex_digits(len) + CHUNK_FRAMING_BYTES + len;
    let mut total = full_chunks * frame(STREAMING_CHUNK_BYTES);
    if last_bytes > 0 {
        total += frame(last_bytes);
    }
    match trailer {
        // The final chunk's line, without the CRLF that ends a body with no trailer.
        Some((name, value)) => {
            total + frame(0) - 2 + name.len() + 1 + value.len() + 2 + TRAILER_SIGNATURE_LINE_BYTES
        }
        None => total + frame(0),
    }
}

/// SHA-256 of each `STREAMING_CHUNK_BYTES` piece of `data`: a body's chunk hashes
/// depend only on its bytes, so a benchmark body computes them once and each request
/// only chains the HMACs.
pub fn chunk_hashes(data: &[u8]) -> Vec<[u8; 32]> {
    data.chunks(STREAMING_CHUNK_BYTES)
        .map(|chunk| Sha256::digest(chunk).into())
        .collect()
}

/// Signs aws-chunked chunks one after another, each over the previous signature.
/// Cloned before a (re)send, so every attempt chains from the seed.
#[derive(Clone)]
pub struct ChunkSigner {
    key: Rc<DayKey>,
    amz_date: AmzDate,
    previous: [u8; 32],
}

impl ChunkSigner {
    pub fn new(key: Rc<DayKey>, amz_date: AmzDate, seed_signature: [u8; 32]) -> ChunkSigner {
        ChunkSigner {
            key,
            amz_date,
            previous: seed_signature,
        }
    }

    /// Appends the framing line of a chunk of `len` bytes whose SHA-256 is `sha256`;
    /// the caller appends the bytes and [`CRLF`].
    pub fn write_chunk_header(&mut self, len: usize, sha256: &[u8; 32], out: &mut Vec<u8>) {
        let signature = chunk_signature(
            &self.key.key,
            self.amz_date.as_str(),
            &self.key.scope,
            &self.previous,
            sha256,
        );
        self.previous = signature;
        write!(out, "{len:x};chunk-signature=").expect("writing to a Vec");
        out.extend_from_slice(&hex32(&signature));
        out.extend_from_slice(CRLF);
    }

    /// Appends the final, empty chunk, and the signed trailer (`name`, `value`) if any.
    pub fn write_final_chunk(&mut self, trailer: Option<(&str, &str)>, out: &mut Vec<u8>) {
        let empty: [u8; 32] = Sha256::digest([]).into();
        self.write_chunk_header(0, &empty, out);
        let Some((name, value)) = trailer else {
            out.extend_from_slice(CRLF);
            return;
        };
        let mut canonical = Sha256::new();
        for part in [name.as_bytes(), b":", value.as_bytes(), b"\n"] {
            canonical.update(part);
        }
        let signature = trailer_signature(
            &self.key.key,
            self.amz_date.as_str(),
            &self.key.scope,
            &self.previous,
            &canonical.finalize().into(),
        );
        for part in [name.as_bytes(), b":", value.as_bytes(), CRLF] {
            out.extend_from_slice(part);
        }
        out.extend_from_slice(b"x-amz-trailer-signature:");
        out.extend_from_slice(&hex32(&signature));
        out.extend_from_slice(CRLF);
        out.extend_from_slice(CRLF);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example_credentials() -> Credentials {
        Credentials {
            access_key: "AKIAIOSFODNN7EXAMPLE".to_owned(),
            secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_owned(),
            region: "us-east-1".to_owned(),
        }
    }

    /// AWS's published GET-object example signs to the published signature, and the
    /// Authorization line names the sorted signed headers.
    #[test]
    fn matches_aws_example() {
        let credentials = example_credentials();
        let amz_date = AmzDate(*b"20130524T000000Z");
        let key = KeyCache::default().get(&credentials, &amz_date);
        let mut headers = HeaderList::default();
        headers.push("x-amz-date", "20130524T000000Z");
        headers.push("range", "bytes=0-9");
        headers.push("host", "examplebucket.s3.amazonaws.com");
        headers.push("x-amz-content-sha256", EMPTY_SHA256_HEX);
        let request = Canonical {
            method: "GET",
            encoded_path: "/test.txt",
            encoded_query: "",
            headers,
            payload_hash: EMPTY_SHA256_HEX,
        };
        let signature = sign(&key, &request, &amz_date, &mut String::new());
        assert_eq!(
            hex::encode(signature),
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
        let mut line = Vec::new();
        write_authorization(&credentials, &key, &headers, &signature, &mut line);
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41\r\n"
        );
    }

    /// The day key is derived once per date and again when the date changes.
    #[test]
    fn key_cache_derives_once_per_day() {
        let credentials = example_credentials();
        let cache = KeyCache::default();
        let morning = cache.get(&credentials, &AmzDate(*b"20130524T000000Z"));
        let evening = cache.get(&credentials, &AmzDate(*b"20130524T235959Z"));
        assert!(Rc::ptr_eq(&morning, &evening));
        let next = cache.get(&credentials, &AmzDate(*b"20130525T000000Z"));
        assert!(!Rc::ptr_eq(&morning, &next));
        assert_eq!(next.scope, "20130525/us-east-1/s3/aws4_request");
    }

    /// The encoded length counts every frame: AWS's example of 65536 + 1024 bytes, and
    /// with a trailer, exactly the bytes the signer writes.
    #[test]
    fn streaming_length_matches_what_is_written() {
        assert_eq!(streaming_encoded_bytes(66_560, None), 66_824);
        assert_eq!(streaming_encoded_bytes(0, None), 86);
        let credentials = example_credentials();
        let amz_date = AmzDate(*b"20130524T000000Z");
        let key = KeyCache::default().get(&credentials, &amz_date);
        for (len, trailer) in [
            (0, None),
            (70_000, None),
            (70_000, Some(("x-amz-checksum-crc32c", "sOO8/Q=="))),
            (65_536, Some(("x-amz-checksum-sha256", "x"))),
        ] {
            let data = vec![7u8; len];
            let mut signer = ChunkSigner::new(Rc::clone(&key), amz_date, [0; 32]);
            let mut out = Vec::new();
            for (chunk, hash) in data.chunks(STREAMING_CHUNK_BYTES).zip(chunk_hashes(&data)) {
                signer.write_chunk_header(chunk.len(), &hash, &mut out);
                out.extend_from_slice(chunk);
                out.extend_from_slice(CRLF);
            }
            signer.write_final_chunk(trailer, &mut out);
            assert_eq!(out.len(), streaming_encoded_bytes(len, trailer), "{len}");
        }
    }

    /// Queries are encoded and sorted; paths keep their slashes.
    #[test]
    fn encodes_paths_and_queries() {
        let path = |bucket, key| {
            let mut out = String::new();
            encode_path_into(bucket, key, &mut out);
            out
        };
        assert_eq!(path("b", "a b/c+d"), "/b/a%20b/c%2Bd");
        assert_eq!(path("b", ""), "/b");
        let mut query = String::new();
        encode_query_into(&[("prefix", "x/y"), ("list-type", "2")], &mut query);
        assert_eq!(query, "list-type=2&prefix=x%2Fy");
    }
}
