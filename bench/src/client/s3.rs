//! The S3 operations the benchmark issues, over one shard's connection pool: path-style
//! requests, signed with SigV4 like minio-go, round-robin over the hosts.
//!
//! Invariants: an HTTP status of 300 or more is an error carrying the S3 error code
//! from the body (or the status alone for HEAD); object bodies go out aws-chunked signed
//! unless the client was built with `unsigned_payload`; every other body is small and
//! signed by its SHA-256. With a checksum, an aws-chunked body ends in the signed
//! `x-amz-checksum-*` trailer (as minio-go sends it); an unsigned one carries it as a
//! header. Nothing on the path of a GET, HEAD or PUT allocates in steady state: heads
//! are written into pooled buffers, headers are borrowed, the signing key is cached.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use md5::{Digest, Md5};

use crate::client::conn::{Body, Expect, Pool, Response, Tls};
use crate::client::http1::{write_header, write_request_line};
use crate::client::payload::{ChecksumChoice, Payload};
use crate::client::s3xml::{self, ListPage, count_tag, error_message, tag_text};
use crate::client::signer::{
    AmzDate, Canonical, ChunkSigner, Credentials, DayKey, HeaderList, KeyCache, STREAMING_PAYLOAD,
    STREAMING_PAYLOAD_TRAILER, UNSIGNED_PAYLOAD, encode_path_into, encode_query_into, sha256_hex,
    sign, streaming_encoded_bytes, write_authorization,
};

/// Buffers one request is assembled in; pooled per client, so none is allocated once
/// as many requests as run at once have been sent.
#[derive(Default)]
struct Scratch {
    head: Vec<u8>,
    canonical: String,
    path: String,
    query: String,
}

/// What a successful operation measured.
pub struct Outcome {
    pub first_byte: Instant,
    pub body_bytes: u64,
    pub body: Vec<u8>,
    /// The response's ETag, when the operation asked for it.
    pub etag: Option<String>,
}

/// A request before signing.
pub struct Request<'a> {
    pub method: &'static str,
    pub key: &'a str,
    pub query: &'a [(&'a str, &'a str)],
    pub headers: HeaderList<'a>,
    pub body: RequestBody<'a>,
    pub expect: Expect,
}

pub enum RequestBody<'a> {
    Empty,
    Small(Vec<u8>),
    Object(&'a Payload<'a>),
}

/// What a client is built from.
pub struct ClientSettings {
    pub addresses: Vec<SocketAddr>,
    pub host_names: Vec<String>,
    pub tls: Option<Tls>,
    pub credentials: Credentials,
    pub bucket: String,
    pub unsigned_payload: bool,
    /// `--checksum`: uploads carry it (the values are in each payload).
    pub checksum: Option<ChecksumChoice>,
}

/// One shard's S3 client.
pub struct Client {
    pool: Pool,
    host_names: Vec<String>,
    credentials: Credentials,
    pub(crate) bucket: String,
    unsigned_payload: bool,
    pub(crate) checksum: Option<ChecksumChoice>,
    next_host: Cell<usize>,
    keys: KeyCache,
    /// The request time of the current second.
    date: Cell<(i64, AmzDate)>,
    scratch: RefCell<Vec<Scratch>>,
}

impl Client {
    pub fn new(settings: ClientSettings) -> Client {
        assert_eq!(settings.addresses.len(), settings.host_names.len());
        Client {
            pool: Pool::new(settings.addresses, settings.tls),
            host_names: settings.host_names,
            credentials: settings.credentials,
            bucket: settings.bucket,
            unsigned_payload: settings.unsigned_payload,
            checksum: settings.checksum,
            next_host: Cell::new(0),
            keys: KeyCache::default(),
            date: Cell::new((0, AmzDate::from_unix_secs(0))),
            scratch: RefCell::new(Vec::new()),
        }
    }

    pub async fn create_bucket(&self) -> Result<(), String> {
        match self.send(Request::new("PUT", "")).await {
            Ok(_) => Ok(()),
            Err(error) if error.contains("BucketAlreadyOwnedByYou") => Ok(()),
            Err(error) => Err(error),
        }
    }

    pub async fn put_object(&self, key: &str, payload: &Payload<'_>) -> Result<Outcome, String> {
        let mut request = Request::new("PUT", key);
        request
            .headers
            .push("content-type", "application/octet-stream");
        request.body = RequestBody::Object(payload);
        self.send(request).await
    }

    pub async fn get_object(&self, key: &str) -> Result<Outcome, String> {
        self.send(Request::new("GET", key)).await
    }

    /// GET of the inclusive byte range `first..=last`.
    pub async fn get_object_range(
        &self,
        key: &str,
        first: usize,
        last: usize,
    ) -> Result<Outcome, String> {
        let mut text = [0u8; 48];
        let range = range_header(first, last, &mut text);
        let mut request = Request::new("GET", key);
        request.headers.push("range", range);
        self.send(request).await
    }

    pub async fn head_object(&self, key: &str) -> Result<Outcome, String> {
        let mut request = Request::new("HEAD", key);
        request.expect.head_request = true;
        self.send(request).await
    }

    /// HEAD without a signature (no `Authorization`, no `x-amz-*`): the request every
    /// S3 server must refuse. Ok only when it is refused with 403; anything else (a
    /// success included) is an error, so a server that stops checking shows up.
    pub async fn head_object_anonymous(&self, key: &str) -> Result<Outcome, String> {
        let host = self.pick_host();
        let mut scratch = self.scratch.borrow_mut().pop().unwrap_or_default();
        anonymous_head(&self.bucket, key, &self.host_names[host], &mut scratch);
        let expect = Expect {
            head_request: true,
            ..Expect::default()
        };
        let response = self
            .pool
            .exchange(host, &scratch.head, &Body::None, expect)
            .await;
        self.scratch.borrow_mut().push(scratch);
        let response = response?;
        if response.status != 403 {
            return Err(format!(
                "anonymous HEAD {key}: status {}, expected 403",
                response.status
            ));
        }
        Ok(Outcome {
            first_byte: response.first_byte,
            body_bytes: 0,
            body: Vec::new(),
            etag: None,
        })
    }

    pub async fn delete_object(&self, key: &str) -> Result<Outcome, String> {
        self.send(Request::new("DELETE", key)).await
    }

    /// DeleteObjects in quiet mode; an error if any key failed.
    pub async fn delete_objects(&self, keys: &[String]) -> Result<Outcome, String> {
        assert!(
            !keys.is_empty() && keys.len() <= 1000,
            "S3 takes 1..=1000 keys"
        );
        let xml = s3xml::write_delete(keys);
        let md5 = shoal_http::base64::encode(&Md5::digest(&xml));
        let mut request = Request::new("POST", "");
        request.query = &[("delete", "")];
        request.headers.push("content-md5", &md5);
        request.body = RequestBody::Small(xml);
        request.expect.keep_body = true;
        let outcome = self.send(request).await?;
        let failed = count_tag(&outcome.body, "<Error>");
        if failed > 0 {
            let code = tag_text(&outcome.body, "Code").unwrap_or_default();
            return Err(format!(
                "DeleteObjects: {failed} of {} keys failed ({code})",
                keys.len()
            ));
        }
        Ok(outcome)
    }

    pub async fn list_objects_v2(
        &self,
        prefix: &str,
        max_keys: usize,
        continuation_token: Option<&str>,
    ) -> Result<(Outcome, ListPage), String> {
        let max_keys = max_keys.to_string();
        let mut query = vec![
            ("list-type", "2"),
            ("prefix", prefix),
            ("max-keys", max_keys.as_str()),
        ];
        if let Some(token) = continuation_token {
            query.push(("continuation-token", token));
        }
        let mut request = Request::new("GET", "");
        request.query = &query;
        request.expect.keep_body = true;
        let outcome = self.send(request).await?;
        let page = s3xml::parse_list_page(&outcome.body)?;
        Ok((outcome, page))
    }

    /// Every key under `prefix`, following continuation tokens.
    pub async fn list_all(&self, prefix: &str) -> Result<Vec<String>, String> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let (_, page) = self.list_objects_v2(prefix, 1000, token.as_deref()).await?;
            keys.extend(page.keys);
            match page.next_continuation_token {
                Some(next) => token = Some(next),
                None => return Ok(keys),
            }
        }
    }

    fn pick_host(&self) -> usize {
        let host = self.next_host.get();
        self.next_host.set((host + 1) % self.pool.hosts());
        host
    }

    /// The request time, formatted once per second.
    fn amz_date(&self) -> AmzDate {
        let now_secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs().cast_signed());
        let (secs, date) = self.date.get();
        if secs == now_secs {
            return date;
        }
        let date = AmzDate::from_unix_secs(now_secs);
        self.date.set((now_secs, date));
        date
    }

    pub(crate) async fn send(&self, request: Request<'_>) -> Result<Outcome, String> {
        into_outcome(self.exchange(request).await?)
    }

    /// Signs and sends `request` and returns the response as it came, whatever its
    /// status: for tests that check what a client sees, error documents included
    /// (`Err` only when no response was read).
    pub async fn exchange(&self, request: Request<'_>) -> Result<Response, String> {
        let host = self.pick_host();
        let amz_date = self.amz_date();
        let key = self.keys.get(&self.credentials, &amz_date);
        let mut scratch = self.scratch.borrow_mut().pop().unwrap_or_default();
        let body = self.sign_request(&request, host, &amz_date, &key, &mut scratch);
        let response = self
            .pool
            .exchange(host, &scratch.head, &body, request.expect)
            .await;
        self.scratch.borrow_mut().push(scratch);
        response
    }

    /// Writes the signed head of `request` for `host` into `scratch.head`; returns the
    /// body to send after it.
    fn sign_request<'b>(
        &self,
        request: &Request<'b>,
        host: usize,
        amz_date: &AmzDate,
        key: &Rc<DayKey>,
        scratch: &mut Scratch,
    ) -> Body<'b> {
        let Scratch {
            head,
            canonical,
            path,
            query,
        } = scratch;
        path.clear();
        encode_path_into(&self.bucket, request.key, path);
        query.clear();
        encode_query_into(request.query, query);
        let mut headers = request.headers;
        headers.push("host", &self.host_names[host]);
        headers.push("x-amz-date", amz_date.as_str());
        let (mut decoded, mut length) = ([0u8; 20], [0u8; 20]);
        let small_hash: [u8; 64];
        let mut trailer = None;
        let (payload_hash, content_length) = match &request.body {
            RequestBody::Empty => (shoal_http::sigv4::EMPTY_SHA256_HEX, 0),
            RequestBody::Small(bytes) => {
                small_hash = sha256_hex(bytes);
                (ascii(&small_hash), bytes.len())
            }
            RequestBody::Object(payload) => {
                let payload: &'b Payload<'b> = payload;
                if let Some(md5) = &payload.md5 {
                    headers.push("content-md5", md5);
                }
                let checksum = payload.checksum.as_ref().map(|(a, v)| (a.header(), &**v));
                let len = payload.data.len();
                if self.unsigned_payload {
                    if let Some((name, value)) = checksum {
                        headers.push(name, value);
                    }
                    (UNSIGNED_PAYLOAD, len)
                } else {
                    headers.push("content-encoding", "aws-chunked");
                    headers.push("x-amz-decoded-content-length", decimal(len, &mut decoded));
                    trailer = checksum;
                    match checksum {
                        Some((name, _)) => {
                            headers.push("x-amz-trailer", name);
                            (
                                STREAMING_PAYLOAD_TRAILER,
                                streaming_encoded_bytes(len, checksum),
                            )
                        }
                        None => (STREAMING_PAYLOAD, streaming_encoded_bytes(len, None)),
                    }
                }
            }
        };
        headers.push("x-amz-content-sha256", payload_hash);
        let canonical_request = Canonical {
            method: request.method,
            encoded_path: path,
            encoded_query: query,
            headers,
            payload_hash,
        };
        let signature = sign(key, &canonical_request, amz_date, canonical);
        head.clear();
        write_request_line(request.method, path, query, head);
        for (name, value) in headers.as_slice() {
            write_header(name, value, head);
        }
        write_authorization(&self.credentials, key, &headers, &signature, head);
        if content_length > 0 || matches!(request.method, "PUT" | "POST") {
            write_header("content-length", decimal(content_length, &mut length), head);
        }
        write_header("user-agent", "shoal-bench", head);
        head.extend_from_slice(b"\r\n");
        match &request.body {
            RequestBody::Empty => Body::None,
            RequestBody::Small(bytes) => Body::Whole(Bytes::from(bytes.clone())),
            RequestBody::Object(payload) if self.unsigned_payload => {
                Body::Whole(payload.data.clone())
            }
            RequestBody::Object(payload) => Body::Streaming {
                payload,
                signer: ChunkSigner::new(Rc::clone(key), *amz_date, signature),
                trailer,
            },
        }
    }
}

impl<'a> Request<'a> {
    pub fn new(method: &'static str, key: &'a str) -> Request<'a> {
        Request {
            method,
            key,
            query: &[],
            headers: HeaderList::default(),
            body: RequestBody::Empty,
            expect: Expect::default(),
        }
    }
}

/// The head of an unsigned `HEAD /bucket/key`, in `scratch.head`.
fn anonymous_head(bucket: &str, key: &str, host_name: &str, scratch: &mut Scratch) {
    scratch.path.clear();
    encode_path_into(bucket, key, &mut scratch.path);
    scratch.head.clear();
    write_request_line("HEAD", &scratch.path, "", &mut scratch.head);
    write_header("host", host_name, &mut scratch.head);
    write_header("user-agent", "shoal-bench", &mut scratch.head);
    scratch.head.extend_from_slice(b"\r\n");
}

/// `bytes=first-last`, in `buffer`.
fn range_header(first: usize, last: usize, buffer: &mut [u8; 48]) -> &str {
    let mut cursor = std::io::Cursor::new(&mut buffer[..]);
    std::io::Write::write_fmt(&mut cursor, format_args!("bytes={first}-{last}"))
        .expect("two numbers fit in 48 bytes");
    let len = cursor.position() as usize;
    ascii(&buffer[..len])
}

/// `n` in decimal, in `buffer`.
pub(crate) fn decimal(mut n: usize, buffer: &mut [u8; 20]) -> &str {
    let mut at = buffer.len();
    loop {
        at -= 1;
        buffer[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    ascii(&buffer[at..])
}

fn ascii(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).expect("ASCII digits")
}

fn into_outcome(response: Response) -> Result<Outcome, String> {
    if response.status >= 300 {
        return Err(error_message(response.status, &response.body));
    }
    Ok(Outcome {
        first_byte: response.first_byte,
        body_bytes: response.body_bytes,
        body: response.body,
        etag: response.etag,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::client::payload::{ChecksumAlgorithm, ObjectBody, parse_checksum};
    use crate::client::signer::{CRLF, STREAMING_CHUNK_BYTES};

    pub(crate) fn client(unsigned_payload: bool, checksum: Option<ChecksumChoice>) -> Client {
        let credentials = Credentials {
            access_key: "benchuser".to_owned(),
            secret_key: "benchsecret".to_owned(),
            region: "us-east-1".to_owned(),
        };
        Client::new(ClientSettings {
            addresses: vec!["127.0.0.1:9".parse().unwrap()],
            host_names: vec!["127.0.0.1:9".to_owned()],
            tls: None,
            credentials,
            bucket: "bucket".to_owned(),
            unsigned_payload,
            checksum,
        })
    }

    pub(crate) fn now() -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            .cast_signed()
    }

    /// The wire bytes of a request, as the server would receive them.
    pub(crate) fn wire(client: &Client, request: &Request<'_>) -> Vec<u8> {
        let amz_date = client.amz_date();
        let key = client.keys.get(&client.credentials, &amz_date);
        let mut scratch = Scratch::default();
        let body = client.sign_request(request, 0, &amz_date, &key, &mut scratch);
        let mut out = scratch.head;
        match body {
            Body::None => {}
            Body::Whole(data) => out.extend_from_slice(&data),
            Body::Streaming {
                payload,
                mut signer,
                trailer,
            } => {
                let chunks = payload.data.chunks(STREAMING_CHUNK_BYTES);
                for (chunk, sha256) in chunks.zip(payload.chunk_hashes()) {
                    signer.write_chunk_header(chunk.len(), sha256, &mut out);
                    out.extend_from_slice(chunk);
                    out.extend_from_slice(CRLF);
                }
                signer.write_final_chunk(trailer, &mut out);
            }
        }
        out
    }

    /// Passes `bytes` through the server's gate and body decoder; returns the decoded
    /// body and its trailers, or the server's error.
    /// A request as the server decoded it: head, body, trailers.
    pub(crate) type Decoded = (shoal_http::RequestHead, Vec<u8>, Vec<(String, String)>);

    pub(crate) fn server_decode(
        bytes: &[u8],
        secret: &str,
    ) -> Result<Decoded, shoal_http::S3Error> {
        use shoal_http::{BodyDecoder, HeadParser, HeadStatus, authenticate};
        let secret = secret.to_owned();
        let secrets = move |id: &str| (id == "benchuser").then(|| secret.clone());
        let HeadStatus::Complete {
            head,
            consumed_bytes,
        } = HeadParser::new().parse(bytes)?
        else {
            panic!("head incomplete");
        };
        let auth = authenticate(&head, &secrets, "us-east-1", now())?;
        let mut decoder = BodyDecoder::new(&head, &auth.payload)?;
        let mut decoded = Vec::new();
        let progress = decoder.feed(&bytes[consumed_bytes..], |p| decoded.extend_from_slice(p))?;
        assert!(progress.done, "the body decodes to its end");
        assert_eq!(progress.consumed_bytes, bytes.len() - consumed_bytes);
        Ok((head, decoded, decoder.trailers().to_vec()))
    }

    /// The server's own gate accepts our PUTs in both payload modes, with and without
    /// checksums and Content-MD5, and decodes the body to the payload's bytes; the
    /// checksum arrives as a signed trailer (aws-chunked) or a header (unsigned); a
    /// wrong secret is refused.
    #[test]
    fn server_gate_accepts_signed_puts() {
        let body = ObjectBody::random(200_000, 7, true, Some(ChecksumAlgorithm::Crc32c));
        let plain = ObjectBody::random(200_000, 7, false, None);
        for unsigned_payload in [false, true] {
            for (checksum, object) in [(None, &plain), (Some("crc32c"), &body)] {
                let checksum = checksum.map(|c| parse_checksum(c).unwrap());
                let client = client(unsigned_payload, checksum);
                for len in [200_000, 70_001, 0] {
                    let payload = object.prefix(len);
                    let request = Request {
                        body: RequestBody::Object(&payload),
                        ..Request::new("PUT", "dir/key one+two")
                    };
                    let bytes = wire(&client, &request);
                    let (head, decoded, trailers) = server_decode(&bytes, "benchsecret").unwrap();
                    assert_eq!(decoded, &object.data[..len]);
                    let Some((algorithm, value)) = &payload.checksum else {
                        assert!(trailers.is_empty());
                        continue;
                    };
                    let sent = if unsigned_payload {
                        head.header(algorithm.header()).unwrap().to_owned()
                    } else {
                        trailers
                            .iter()
                            .find(|(n, _)| n == algorithm.header())
                            .unwrap()
                            .1
                            .clone()
                    };
                    assert_eq!(sent, value.as_ref());
                    assert_eq!(sent, ChecksumAlgorithm::Crc32c.compute(&object.data[..len]));
                    assert_eq!(head.header("content-md5"), payload.md5.as_deref());
                    let error = server_decode(&bytes, "wrongsecret").unwrap_err();
                    assert_eq!(error.code(), shoal_http::S3ErrorCode::SignatureDoesNotMatch);
                }
            }
        }
    }

    /// Bodies signed by SHA-256 (DeleteObjects), queries (ListObjectsV2) and headers
    /// (Range) pass the gate.
    #[test]
    fn server_gate_accepts_queries_small_bodies_and_ranges() {
        let client = client(false, None);
        let query = [
            ("list-type", "2"),
            ("prefix", "a b/"),
            ("continuation-token", "x=y"),
        ];
        let mut ranged = Request::new("GET", "k");
        ranged.headers.push("range", "bytes=10-19");
        let requests = [
            Request {
                query: &query,
                ..Request::new("GET", "")
            },
            Request {
                query: &[("delete", "")],
                body: RequestBody::Small(b"<Delete/>".to_vec()),
                ..Request::new("POST", "")
            },
            ranged,
        ];
        for request in &requests {
            server_decode(&wire(&client, request), "benchsecret").unwrap();
        }
    }

    /// Decimal formatting covers zero and the largest sizes.
    #[test]
    fn formats_decimals() {
        let mut buffer = [0u8; 20];
        assert_eq!(decimal(0, &mut buffer), "0");
        assert_eq!(decimal(10_485_760, &mut buffer), "10485760");
        assert_eq!(decimal(usize::MAX, &mut buffer), usize::MAX.to_string());
        let mut text = [0u8; 48];
        let range = range_header(usize::MAX - 1, usize::MAX, &mut text);
        assert_eq!(range, format!("bytes={}-{}", usize::MAX - 1, usize::MAX));
    }

    /// The anonymous HEAD carries no signature at all, so the server's own gate refuses
    /// it as anonymous (AccessDenied, 403) and not as a malformed request.
    #[test]
    fn anonymous_head_is_refused_by_the_server_gate() {
        let mut scratch = Scratch::default();
        anonymous_head("bucket", "a b/c", "127.0.0.1:9", &mut scratch);
        let text = String::from_utf8(scratch.head.clone()).unwrap();
        assert!(
            text.starts_with("HEAD /bucket/a%20b/c HTTP/1.1\r\n"),
            "{text}"
        );
        assert!(!text.to_ascii_lowercase().contains("authorization"));
        let error = server_decode(&scratch.head, "benchsecret").unwrap_err();
        assert_eq!(error.code(), shoal_http::S3ErrorCode::AccessDenied);
        assert_eq!(error.status(), 403);
    }
}
