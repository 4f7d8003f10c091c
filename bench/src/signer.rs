//! The client half of AWS Signature Version 4, as minio-go (and so warp) signs S3
//! requests: the `Authorization` header over a canonical request, with the payload hash
//! either the hex SHA-256 of a small body, `UNSIGNED-PAYLOAD`, or
//! `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` with an aws-chunked body whose chunk signatures
//! chain from the request's signature (chunk signing reuses `shoal_http::ChunkSigning`,
//! the same code the server verifies with).
//!
//! Invariants: the path and query are encoded once, by [`encode_path`] and
//! [`encode_query`], and the same strings go on the wire and into the canonical request,
//! so what is signed is exactly what is sent. Every header this module adds is signed.
//!
//! aws-chunked body (64 KiB chunks like minio-go; the last data chunk may be shorter):
//!
//! ```text
//! | hex(len) ";chunk-signature=" sig(64 hex) "\r\n" | len bytes | "\r\n" |  ...repeated
//! | "0;chunk-signature=" sig(64 hex) "\r\n" "\r\n" |                        final chunk
//! ```

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use shoal_http::ChunkSigning;
use shoal_http::sigv4::EMPTY_SHA256_HEX;
use shoal_http::uri::uri_encode_into;

/// Data bytes per aws-chunked chunk (minio-go's `payloadChunkSize`).
pub const STREAMING_CHUNK_BYTES: usize = 64 << 10;
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
pub const STREAMING_PAYLOAD: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
/// Bytes of one chunk's framing besides its hex length: `;chunk-signature=`, the
/// signature, and two CRLFs.
const CHUNK_FRAMING_BYTES: usize = 17 + 64 + 2 + 2;

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

/// A request as signed: method, encoded path and query, and the headers to sign
/// (lower-case names; `host` included).
pub struct Canonical<'a> {
    pub method: &'a str,
    pub encoded_path: &'a str,
    pub encoded_query: &'a str,
    pub headers: &'a [(String, String)],
    pub payload_hash: &'a str,
}

/// `/bucket/key` with SigV4 `UriEncode` (slashes kept).
pub fn encode_path(bucket: &str, key: &str) -> String {
    let mut out = String::with_capacity(2 + bucket.len() + key.len() * 3);
    out.push('/');
    uri_encode_into(bucket.as_bytes(), true, &mut out);
    if !key.is_empty() {
        out.push('/');
        uri_encode_into(key.as_bytes(), false, &mut out);
    }
    out
}

/// `a=1&b=2`: every name and value encoded, pairs sorted (the canonical order, which is
/// also a valid wire order).
pub fn encode_query(pairs: &[(&str, &str)]) -> String {
    let mut encoded: Vec<(String, String)> = pairs
        .iter()
        .map(|(name, value)| {
            let (mut n, mut v) = (String::new(), String::new());
            uri_encode_into(name.as_bytes(), true, &mut n);
            uri_encode_into(value.as_bytes(), true, &mut v);
            (n, v)
        })
        .collect();
    encoded.sort();
    let mut out = String::new();
    for (index, (name, value)) in encoded.iter().enumerate() {
        if index > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// The payload hash for a small body sent whole.
pub fn sha256_hex(body: &[u8]) -> String {
    if body.is_empty() {
        return EMPTY_SHA256_HEX.to_owned();
    }
    hex::encode(Sha256::digest(body))
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Signs `request` at `amz_date` (`YYYYMMDDTHHMMSSZ`); returns the `Authorization`
/// value and the raw signature (the seed of an aws-chunked body).
pub fn sign(
    credentials: &Credentials,
    request: &Canonical<'_>,
    amz_date: &str,
) -> (String, [u8; 32]) {
    let mut headers: Vec<(&str, &str)> = request
        .headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.trim()))
        .collect();
    headers.sort_unstable();
    let signed_headers = headers
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(";");
    let mut canonical = String::with_capacity(512);
    for part in [request.method, request.encoded_path, request.encoded_query] {
        canonical.push_str(part);
        canonical.push('\n');
    }
    for (name, value) in &headers {
        canonical.push_str(name);
        canonical.push(':');
        canonical.push_str(value);
        canonical.push('\n');
    }
    canonical.push('\n');
    canonical.push_str(&signed_headers);
    canonical.push('\n');
    canonical.push_str(request.payload_hash);

    let date = &amz_date[..8];
    let scope = format!("{date}/{}/s3/aws4_request", credentials.region);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let k_date = hmac_sha256(
        format!("AWS4{}", credentials.secret_key).as_bytes(),
        date.as_bytes(),
    );
    let k_region = hmac_sha256(&k_date, credentials.region.as_bytes());
    let k_service = hmac_sha256(&k_region, b"s3");
    let k_signing = hmac_sha256(&k_service, b"aws4_request");
    let signature = hmac_sha256(&k_signing, string_to_sign.as_bytes());
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={}",
        credentials.access_key,
        hex::encode(signature)
    );
    (authorization, signature)
}

/// Wire length of an aws-chunked body carrying `decoded_bytes` (`Content-Length`).
pub fn streaming_encoded_bytes(decoded_bytes: usize) -> usize {
    let full_chunks = decoded_bytes / STREAMING_CHUNK_BYTES;
    let last_bytes = decoded_bytes % STREAMING_CHUNK_BYTES;
    let frame = |len: usize| format!("{len:x}").len() + CHUNK_FRAMING_BYTES + len;
    let mut total = full_chunks * frame(STREAMING_CHUNK_BYTES);
    if last_bytes > 0 {
        total += frame(last_bytes);
    }
    total + frame(0)
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
    signing: ChunkSigning,
    previous: [u8; 32],
}

impl ChunkSigner {
    pub fn new(credentials: &Credentials, amz_date: &str, seed_signature: [u8; 32]) -> ChunkSigner {
        let signing = ChunkSigning::new(
            &credentials.secret_key,
            amz_date,
            &credentials.region,
            seed_signature,
        )
        .expect("amz_date comes from format_amz_date");
        ChunkSigner {
            signing,
            previous: seed_signature,
        }
    }

    /// Appends the framing line of a chunk of `len` bytes whose SHA-256 is `sha256`;
    /// the caller appends the bytes and [`CRLF`] (nothing for the final, empty chunk
    /// beyond the CRLF).
    pub fn write_chunk_header(&mut self, len: usize, sha256: &[u8; 32], out: &mut Vec<u8>) {
        let signature = self.signing.chunk_signature(&self.previous, sha256);
        self.previous = signature;
        out.extend_from_slice(format!("{len:x};chunk-signature=").as_bytes());
        out.extend_from_slice(hex::encode(signature).as_bytes());
        out.extend_from_slice(CRLF);
    }

    /// Appends the final, empty chunk.
    pub fn write_final_chunk(&mut self, out: &mut Vec<u8>) {
        let empty: [u8; 32] = Sha256::digest([]).into();
        self.write_chunk_header(0, &empty, out);
        out.extend_from_slice(CRLF);
    }
}

pub const CRLF: &[u8] = b"\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's published GET-object example signs to the published signature.
    #[test]
    fn matches_aws_example() {
        let credentials = Credentials {
            access_key: "AKIAIOSFODNN7EXAMPLE".to_owned(),
            secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_owned(),
            region: "us-east-1".to_owned(),
        };
        let headers = vec![
            (
                "host".to_owned(),
                "examplebucket.s3.amazonaws.com".to_owned(),
            ),
            ("range".to_owned(), "bytes=0-9".to_owned()),
            (
                "x-amz-content-sha256".to_owned(),
                EMPTY_SHA256_HEX.to_owned(),
            ),
            ("x-amz-date".to_owned(), "20130524T000000Z".to_owned()),
        ];
        let request = Canonical {
            method: "GET",
            encoded_path: "/test.txt",
            encoded_query: "",
            headers: &headers,
            payload_hash: EMPTY_SHA256_HEX,
        };
        let (_, signature) = sign(&credentials, &request, "20130524T000000Z");
        assert_eq!(
            hex::encode(signature),
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    /// The encoded length counts every frame: AWS's example of 65536 + 1024 bytes.
    #[test]
    fn streaming_length_matches_aws_example() {
        assert_eq!(streaming_encoded_bytes(66_560), 66_824);
        assert_eq!(streaming_encoded_bytes(0), 86);
    }

    /// Queries are encoded and sorted; paths keep their slashes.
    #[test]
    fn encodes_paths_and_queries() {
        assert_eq!(encode_path("b", "a b/c+d"), "/b/a%20b/c%2Bd");
        assert_eq!(encode_path("b", ""), "/b");
        assert_eq!(
            encode_query(&[("prefix", "x/y"), ("list-type", "2")]),
            "list-type=2&prefix=x%2Fy"
        );
    }
}
