//! The SigV4 signing primitives: the signing key, the credential scope, the canonical
//! query and headers, the request, chunk and trailer signatures, and the chunk-signing
//! context an aws-chunked body is verified with.
//!
//! Invariants: everything here is a pure function of its arguments (sans-IO, no clock).
//! The verifier (`sigv4.rs`) and the body decoder verify with these functions and
//! clients (shoal-bench) sign with them, so a signer and the verifier cannot drift
//! apart. They take the signing key rather than the secret so a client derives it once
//! per day; [`ChunkSigning`] never prints its key.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::base::digits::hex32;
use crate::base::time::parse_amz_date;
use crate::base::uri::uri_encode_into;

pub(super) const ALGORITHM: &str = "AWS4-HMAC-SHA256";
pub(super) const SERVICE: &str = "s3";
pub(super) const TERMINATOR: &str = "aws4_request";
/// SHA-256 of the empty string, hex.
pub const EMPTY_SHA256_HEX: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// What the aws-chunked verifier needs: the signing key of the request's scope, the
/// request time and scope strings, and the seed (request) signature.
#[derive(Clone, PartialEq, Eq)]
pub struct ChunkSigning {
    signing_key: [u8; 32],
    amz_date: String,
    scope: String,
    seed_signature: [u8; 32],
}

impl std::fmt::Debug for ChunkSigning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The signing key is a credential: never print it.
        f.debug_struct("ChunkSigning")
            .field("amz_date", &self.amz_date)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl ChunkSigning {
    /// Builds the context from a secret, the request time (`20130524T000000Z`), the
    /// region and the seed signature. `None` if the time is malformed.
    pub fn new(
        secret_access_key: &str,
        amz_date: &str,
        region: &str,
        seed_signature: [u8; 32],
    ) -> Option<Self> {
        parse_amz_date(amz_date)?;
        let date = amz_date.get(..8)?;
        Some(ChunkSigning {
            signing_key: signing_key(secret_access_key, date, region),
            amz_date: amz_date.to_owned(),
            scope: format!("{date}/{region}/{SERVICE}/{TERMINATOR}"),
            seed_signature,
        })
    }

    pub fn seed_signature(&self) -> [u8; 32] {
        self.seed_signature
    }

    /// Signature of one chunk: `AWS4-HMAC-SHA256-PAYLOAD` over the previous signature,
    /// the hash of the empty string and the hash of the chunk's bytes.
    pub fn chunk_signature(&self, previous: &[u8; 32], chunk_sha256: &[u8; 32]) -> [u8; 32] {
        chunk_signature(
            &self.signing_key,
            &self.amz_date,
            &self.scope,
            previous,
            chunk_sha256,
        )
    }

    /// Signature of the trailer: `AWS4-HMAC-SHA256-TRAILER` over the final chunk's
    /// signature and the hash of the canonical trailers (`name:value\n` each).
    pub fn trailer_signature(&self, previous: &[u8; 32], trailers_sha256: &[u8; 32]) -> [u8; 32] {
        trailer_signature(
            &self.signing_key,
            &self.amz_date,
            &self.scope,
            previous,
            trailers_sha256,
        )
    }
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    hmac_sha256_parts(key, &[data])
}

/// HMAC-SHA256 over the concatenation of `parts` (no buffer to assemble them in).
fn hmac_sha256_parts(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The SigV4 signing key of one day (`YYYYMMDD`), region and the `s3` service: the
/// only secret-derived value a signer needs; valid for every request of that day.
pub fn signing_key(secret_access_key: &str, date: &str, region: &str) -> [u8; 32] {
    let k_date = hmac_sha256(
        format!("AWS4{secret_access_key}").as_bytes(),
        date.as_bytes(),
    );
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, SERVICE.as_bytes());
    hmac_sha256(&k_service, TERMINATOR.as_bytes())
}

/// The credential scope `YYYYMMDD/REGION/s3/aws4_request`.
pub fn credential_scope(date: &str, region: &str) -> String {
    format!("{date}/{region}/{SERVICE}/{TERMINATOR}")
}

/// Appends the canonical query of decoded `(name, value)` pairs: every name and value
/// `UriEncode`d (slashes too), pairs sorted, joined by `&`. Sorted encoded pairs are
/// also a valid wire query, so a client can send exactly what it signs.
pub fn write_canonical_query<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    out: &mut String,
) {
    let mut encoded: Vec<(String, String)> = pairs
        .into_iter()
        .map(|(name, value)| {
            let (mut n, mut v) = (String::new(), String::new());
            uri_encode_into(name.as_bytes(), true, &mut n);
            uri_encode_into(value.as_bytes(), true, &mut v);
            (n, v)
        })
        .collect();
    encoded.sort_unstable();
    for (index, (name, value)) in encoded.iter().enumerate() {
        if index > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
}

/// Appends the part of a canonical request after the method, path and query lines:
/// a `name:value` line per signed header (`signed_headers` lowercase and sorted;
/// `write_value` appends a header's canonical value), a blank line, the signed header
/// list joined by `;`, and the payload hash.
pub fn write_canonical_headers(
    signed_headers: &[&str],
    mut write_value: impl FnMut(&str, &mut String),
    payload_hash: &str,
    out: &mut String,
) {
    for name in signed_headers {
        out.push_str(name);
        out.push(':');
        write_value(name, out);
        out.push('\n');
    }
    out.push('\n');
    for (index, name) in signed_headers.iter().enumerate() {
        if index > 0 {
            out.push(';');
        }
        out.push_str(name);
    }
    out.push('\n');
    out.push_str(payload_hash);
}

/// The signature of a request: HMAC of the string to sign (`AWS4-HMAC-SHA256`, the
/// request time, the scope and the hex SHA-256 of the canonical request).
pub fn request_signature(
    signing_key: &[u8; 32],
    amz_date: &str,
    scope: &str,
    canonical_request: &str,
) -> [u8; 32] {
    let canonical_sha256 = hex32(&Sha256::digest(canonical_request.as_bytes()).into());
    hmac_sha256_parts(
        signing_key,
        &[
            ALGORITHM.as_bytes(),
            b"\n",
            amz_date.as_bytes(),
            b"\n",
            scope.as_bytes(),
            b"\n",
            &canonical_sha256,
        ],
    )
}

/// The signature of one aws-chunked chunk, chained from `previous`.
pub fn chunk_signature(
    signing_key: &[u8; 32],
    amz_date: &str,
    scope: &str,
    previous: &[u8; 32],
    chunk_sha256: &[u8; 32],
) -> [u8; 32] {
    hmac_sha256_parts(
        signing_key,
        &[
            b"AWS4-HMAC-SHA256-PAYLOAD\n",
            amz_date.as_bytes(),
            b"\n",
            scope.as_bytes(),
            b"\n",
            &hex32(previous),
            b"\n",
            EMPTY_SHA256_HEX.as_bytes(),
            b"\n",
            &hex32(chunk_sha256),
        ],
    )
}

/// The signature of the trailer of an aws-chunked body, chained from the final
/// chunk's signature over the hash of the canonical trailers.
pub fn trailer_signature(
    signing_key: &[u8; 32],
    amz_date: &str,
    scope: &str,
    previous: &[u8; 32],
    trailers_sha256: &[u8; 32],
) -> [u8; 32] {
    hmac_sha256_parts(
        signing_key,
        &[
            b"AWS4-HMAC-SHA256-TRAILER\n",
            amz_date.as_bytes(),
            b"\n",
            scope.as_bytes(),
            b"\n",
            &hex32(previous),
            b"\n",
            &hex32(trailers_sha256),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    #[test]
    fn signing_primitives_reproduce_the_aws_get_example() {
        // A client building the canonical request from parts signs what the gate verifies.
        let headers = [
            ("host", "examplebucket.s3.amazonaws.com"),
            ("range", "bytes=0-9"),
            ("x-amz-content-sha256", EMPTY_SHA256_HEX),
            ("x-amz-date", "20130524T000000Z"),
        ];
        let mut canonical = String::from("GET\n/test.txt\n");
        write_canonical_query([], &mut canonical);
        canonical.push('\n');
        let names: Vec<&str> = headers.iter().map(|(name, _)| *name).collect();
        let value = |name: &str, out: &mut String| {
            out.push_str(headers.iter().find(|(n, _)| *n == name).unwrap().1);
        };
        write_canonical_headers(&names, value, EMPTY_SHA256_HEX, &mut canonical);
        let key = signing_key(SECRET, "20130524", "us-east-1");
        let scope = credential_scope("20130524", "us-east-1");
        assert_eq!(scope, "20130524/us-east-1/s3/aws4_request");
        let signature = request_signature(&key, "20130524T000000Z", &scope, &canonical);
        assert_eq!(
            hex::encode(signature),
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
        let mut query = String::new();
        write_canonical_query([("prefix", "a b/"), ("list-type", "2")], &mut query);
        assert_eq!(query, "list-type=2&prefix=a%20b%2F");
    }
}
