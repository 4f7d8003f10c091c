//! The S3 operations the benchmark issues, over one shard's connection pool: path-style
//! requests, signed with SigV4 like minio-go, round-robin over the hosts.
//!
//! Invariants: an HTTP status of 300 or more is an error carrying the S3 error code
//! from the body (or the status alone for HEAD); object bodies go out aws-chunked signed
//! unless the client was built with `unsigned_payload`; every other body is small and
//! signed by its SHA-256.

use std::cell::Cell;
use std::net::SocketAddr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use md5::{Digest, Md5};
use shoal_http::time::format_amz_date;

use crate::conn::{Body, Pool, Response};
use crate::signer::{
    Canonical, ChunkSigner, Credentials, STREAMING_PAYLOAD, UNSIGNED_PAYLOAD, chunk_hashes,
    encode_path, encode_query, sha256_hex, sign, streaming_encoded_bytes,
};

/// An object body: random bytes generated once per size, with their chunk hashes.
pub struct ObjectBody {
    pub data: Bytes,
    hashes: Vec<[u8; 32]>,
}

impl ObjectBody {
    /// `size_bytes` of incompressible bytes from a seeded generator.
    pub fn random(size_bytes: usize, seed: u64) -> ObjectBody {
        use rand::{RngCore, SeedableRng};
        let mut data = vec![0u8; size_bytes];
        rand::rngs::SmallRng::seed_from_u64(seed).fill_bytes(&mut data);
        let hashes = chunk_hashes(&data);
        ObjectBody {
            data: Bytes::from(data),
            hashes,
        }
    }
}

/// What a successful operation measured.
pub struct Outcome {
    pub first_byte: Instant,
    pub body_bytes: u64,
    pub body: Vec<u8>,
}

/// One page of ListObjectsV2.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ListPage {
    pub keys: Vec<String>,
    pub next_continuation_token: Option<String>,
}

/// A request before signing.
struct Request<'a> {
    method: &'static str,
    key: &'a str,
    query: &'a [(&'a str, &'a str)],
    headers: Vec<(String, String)>,
    body: RequestBody<'a>,
    keep_body: bool,
}

enum RequestBody<'a> {
    Empty,
    Small(Vec<u8>),
    Object(&'a ObjectBody),
}

/// One shard's S3 client.
pub struct Client {
    pool: Pool,
    host_names: Vec<String>,
    credentials: Credentials,
    bucket: String,
    unsigned_payload: bool,
    next_host: Cell<usize>,
}

impl Client {
    pub fn new(
        addresses: Vec<SocketAddr>,
        host_names: Vec<String>,
        credentials: Credentials,
        bucket: String,
        unsigned_payload: bool,
    ) -> Client {
        assert_eq!(addresses.len(), host_names.len());
        Client {
            pool: Pool::new(addresses),
            host_names,
            credentials,
            bucket,
            unsigned_payload,
            next_host: Cell::new(0),
        }
    }

    pub async fn create_bucket(&self) -> Result<(), String> {
        match self.send(Request::new("PUT", "")).await {
            Ok(_) => Ok(()),
            Err(error) if error.contains("BucketAlreadyOwnedByYou") => Ok(()),
            Err(error) => Err(error),
        }
    }

    pub async fn put_object(&self, key: &str, body: &ObjectBody) -> Result<Outcome, String> {
        let mut request = Request::new("PUT", key);
        request.headers.push((
            "content-type".to_owned(),
            "application/octet-stream".to_owned(),
        ));
        request.body = RequestBody::Object(body);
        self.send(request).await
    }

    pub async fn get_object(&self, key: &str) -> Result<Outcome, String> {
        self.send(Request::new("GET", key)).await
    }

    pub async fn head_object(&self, key: &str) -> Result<Outcome, String> {
        self.send(Request::new("HEAD", key)).await
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
        let mut xml = b"<Delete><Quiet>true</Quiet>".to_vec();
        for key in keys {
            xml.extend_from_slice(b"<Object><Key>");
            shoal_http::s3xml::escape_text_into(key, &mut xml);
            xml.extend_from_slice(b"</Key></Object>");
        }
        xml.extend_from_slice(b"</Delete>");
        let md5 = shoal_http::base64::encode(&Md5::digest(&xml));
        let mut request = Request::new("POST", "");
        request.query = &[("delete", "")];
        request.headers.push(("content-md5".to_owned(), md5));
        request.body = RequestBody::Small(xml);
        request.keep_body = true;
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
        request.keep_body = true;
        let outcome = self.send(request).await?;
        let page = parse_list_page(&outcome.body)?;
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

    async fn send(&self, request: Request<'_>) -> Result<Outcome, String> {
        let host = self.pick_host();
        let now_secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs().cast_signed());
        let amz_date = format_amz_date(now_secs);
        let (head, body) = self.sign_request(&request, host, &amz_date);
        let response = self
            .pool
            .exchange(
                host,
                &head,
                &body,
                request.method == "HEAD",
                request.keep_body,
            )
            .await?;
        into_outcome(response)
    }

    /// The wire head and body of `request`, signed at `amz_date` for `host`.
    fn sign_request<'b>(
        &self,
        request: &Request<'b>,
        host: usize,
        amz_date: &str,
    ) -> (Vec<u8>, Body<'b>) {
        let path = encode_path(&self.bucket, request.key);
        let query = encode_query(request.query);
        let mut headers = request.headers.clone();
        headers.push(("host".to_owned(), self.host_names[host].clone()));
        headers.push(("x-amz-date".to_owned(), amz_date.to_owned()));
        let (payload_hash, content_length) = match &request.body {
            RequestBody::Empty => (sha256_hex(&[]), 0),
            RequestBody::Small(bytes) => (sha256_hex(bytes), bytes.len()),
            RequestBody::Object(object) if self.unsigned_payload => {
                (UNSIGNED_PAYLOAD.to_owned(), object.data.len())
            }
            RequestBody::Object(object) => {
                headers.push(("content-encoding".to_owned(), "aws-chunked".to_owned()));
                let decoded = object.data.len().to_string();
                headers.push(("x-amz-decoded-content-length".to_owned(), decoded));
                (
                    STREAMING_PAYLOAD.to_owned(),
                    streaming_encoded_bytes(object.data.len()),
                )
            }
        };
        headers.push(("x-amz-content-sha256".to_owned(), payload_hash.clone()));
        let canonical = Canonical {
            method: request.method,
            encoded_path: &path,
            encoded_query: &query,
            headers: &headers,
            payload_hash: &payload_hash,
        };
        let (authorization, seed_signature) = sign(&self.credentials, &canonical, amz_date);
        headers.push(("authorization".to_owned(), authorization));
        if content_length > 0 || matches!(request.method, "PUT" | "POST") {
            headers.push(("content-length".to_owned(), content_length.to_string()));
        }
        headers.push(("user-agent".to_owned(), "shoal-bench".to_owned()));
        let target = if query.is_empty() {
            path
        } else {
            format!("{path}?{query}")
        };
        let mut head = Vec::with_capacity(1024);
        crate::http1::write_request_head(request.method, &target, &headers, &mut head);
        let body = match &request.body {
            RequestBody::Empty => Body::None,
            RequestBody::Small(bytes) => Body::Whole(Bytes::from(bytes.clone())),
            RequestBody::Object(object) if self.unsigned_payload => {
                Body::Whole(object.data.clone())
            }
            RequestBody::Object(object) => Body::Streaming {
                data: object.data.clone(),
                hashes: &object.hashes,
                signer: ChunkSigner::new(&self.credentials, amz_date, seed_signature),
            },
        };
        (head, body)
    }
}

impl<'a> Request<'a> {
    fn new(method: &'static str, key: &'a str) -> Request<'a> {
        Request {
            method,
            key,
            query: &[],
            headers: Vec::new(),
            body: RequestBody::Empty,
            keep_body: false,
        }
    }
}

fn into_outcome(response: Response) -> Result<Outcome, String> {
    if response.status >= 300 {
        let code =
            tag_text(&response.body, "Code").unwrap_or_else(|| "(no S3 error code)".to_owned());
        let message = tag_text(&response.body, "Message").unwrap_or_default();
        return Err(format!("{} {code}: {message}", response.status)
            .trim_end_matches([' ', ':'])
            .to_owned());
    }
    Ok(Outcome {
        first_byte: response.first_byte,
        body_bytes: response.body_bytes,
        body: response.body,
    })
}

/// The unescaped text of the first `<tag>...</tag>` in `xml`.
fn tag_text(xml: &[u8], tag: &str) -> Option<String> {
    let xml = std::str::from_utf8(xml).ok()?;
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(xml_unescape(&xml[start..end]))
}

fn count_tag(xml: &[u8], needle: &str) -> usize {
    std::str::from_utf8(xml).map_or(0, |xml| xml.matches(needle).count())
}

/// Keys and continuation of a ListObjectsV2 result.
pub fn parse_list_page(xml: &[u8]) -> Result<ListPage, String> {
    let text = std::str::from_utf8(xml).map_err(|_| "listing is not UTF-8".to_owned())?;
    if !text.contains("<ListBucketResult") {
        return Err("response is not a ListBucketResult".to_owned());
    }
    let mut page = ListPage::default();
    let mut rest = text;
    while let Some(start) = rest.find("<Key>") {
        let after = &rest[start + 5..];
        let end = after
            .find("</Key>")
            .ok_or_else(|| "unterminated <Key>".to_owned())?;
        page.keys.push(xml_unescape(&after[..end]));
        rest = &after[end..];
    }
    let truncated = tag_text(xml, "IsTruncated").is_some_and(|t| t == "true");
    page.next_continuation_token = tag_text(xml, "NextContinuationToken").filter(|_| truncated);
    if truncated && page.next_continuation_token.is_none() {
        return Err("truncated listing without NextContinuationToken".to_owned());
    }
    Ok(page)
}

fn xml_unescape(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#13;", "\r")
        .replace("&#10;", "\n")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(unsigned_payload: bool) -> Client {
        let credentials = Credentials {
            access_key: "benchuser".to_owned(),
            secret_key: "benchsecret".to_owned(),
            region: "us-east-1".to_owned(),
        };
        let address: SocketAddr = "127.0.0.1:9".parse().unwrap();
        Client::new(
            vec![address],
            vec!["127.0.0.1:9".to_owned()],
            credentials,
            "bucket".to_owned(),
            unsigned_payload,
        )
    }

    /// The wire bytes of a request, as the server would receive them.
    fn wire(head: Vec<u8>, body: &Body<'_>) -> Vec<u8> {
        let mut out = head;
        match body {
            Body::None => {}
            Body::Whole(data) => out.extend_from_slice(data),
            Body::Streaming {
                data,
                hashes,
                signer,
            } => {
                let mut signer = signer.clone();
                for (chunk, sha256) in data
                    .chunks(crate::signer::STREAMING_CHUNK_BYTES)
                    .zip(*hashes)
                {
                    signer.write_chunk_header(chunk.len(), sha256, &mut out);
                    out.extend_from_slice(chunk);
                    out.extend_from_slice(crate::signer::CRLF);
                }
                signer.write_final_chunk(&mut out);
            }
        }
        out
    }

    /// The server's own gate accepts our PUTs in both payload modes and decodes the
    /// aws-chunked body to the object's bytes; a wrong secret is refused.
    #[test]
    fn server_gate_accepts_signed_puts() {
        use shoal_http::{BodyDecoder, HeadParser, HeadStatus, authenticate};
        let object = ObjectBody::random(200_000, 7);
        let secrets = |id: &str| (id == "benchuser").then(|| "benchsecret".to_owned());
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            .cast_signed();
        let amz_date = format_amz_date(now);
        for unsigned_payload in [false, true] {
            let client = client(unsigned_payload);
            let request = Request {
                body: RequestBody::Object(&object),
                ..Request::new("PUT", "dir/key one+two")
            };
            let (head, body) = client.sign_request(&request, 0, &amz_date);
            let bytes = wire(head, &body);
            let HeadStatus::Complete {
                head,
                consumed_bytes,
            } = HeadParser::new().parse(&bytes).unwrap()
            else {
                panic!("head incomplete");
            };
            let auth = authenticate(&head, &secrets, "us-east-1", now).unwrap();
            let mut decoder = BodyDecoder::new(&head, &auth.payload).unwrap();
            let mut decoded = Vec::new();
            let progress = decoder
                .feed(&bytes[consumed_bytes..], |p| decoded.extend_from_slice(p))
                .unwrap();
            assert!(progress.done);
            assert_eq!(progress.consumed_bytes, bytes.len() - consumed_bytes);
            assert_eq!(decoded, &object.data[..]);
            let wrong = |_: &str| Some("wrongsecret".to_owned());
            assert!(authenticate(&head, &wrong, "us-east-1", now).is_err());
        }
    }

    /// Bodies signed by SHA-256 (DeleteObjects) and queries (ListObjectsV2) pass the gate.
    #[test]
    fn server_gate_accepts_queries_and_small_bodies() {
        use shoal_http::{HeadParser, HeadStatus, authenticate};
        let secrets = |id: &str| (id == "benchuser").then(|| "benchsecret".to_owned());
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            .cast_signed();
        let client = client(false);
        let query = [
            ("list-type", "2"),
            ("prefix", "a b/"),
            ("continuation-token", "x=y"),
        ];
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
        ];
        for request in &requests {
            let (head, _) = client.sign_request(request, 0, &format_amz_date(now));
            let HeadStatus::Complete { head, .. } = HeadParser::new().parse(&head).unwrap() else {
                panic!("head incomplete");
            };
            authenticate(&head, &secrets, "us-east-1", now).unwrap();
        }
    }

    /// Keys are unescaped; the token is taken only from a truncated page.
    #[test]
    fn parses_list_pages() {
        let xml = b"<ListBucketResult><IsTruncated>true</IsTruncated><Contents><Key>a&amp;b</Key></Contents>\
            <Contents><Key>c</Key></Contents><NextContinuationToken>t1</NextContinuationToken></ListBucketResult>";
        let page = parse_list_page(xml).unwrap();
        assert_eq!(page.keys, vec!["a&b", "c"]);
        assert_eq!(page.next_continuation_token.as_deref(), Some("t1"));
        let last = parse_list_page(
            b"<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>",
        )
        .unwrap();
        assert_eq!(last, ListPage::default());
        assert!(parse_list_page(b"<Error/>").is_err());
    }
}
