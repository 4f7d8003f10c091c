//! The one authentication gate: AWS Signature Version 4 for S3, in both of its request
//! forms (the `Authorization` header and presigned query parameters), and the payload
//! mode the request committed to; Signature Version 2 ([`crate::auth::sigv2`]) in both of
//! its forms is dispatched from the same gate.
//!
//! Invariants:
//! - Every request passes through [`authenticate_with_routes`] (or [`authenticate`]);
//!   it returns `Ok` only for a request whose signature was recomputed from the head
//!   and compared in constant time. Anonymous requests are `AccessDenied` (Shoal has
//!   no public buckets yet). A request carrying more than one mechanism (header, V4
//!   query, V2 query) is `InvalidArgument`.
//! - SigV2 is accepted only by [`authenticate_with_routes`], which is given the
//!   router's [`RouteConfig`]: V2 does not sign `Host`, so the signed bucket must be
//!   found exactly as routing finds it. [`authenticate`] does not know the routes and
//!   refuses V2 as it always has.
//! - Time comes in as `now_unix_secs`; the request time must be within
//!   [`CLOCK_SKEW_MAX_SECS`] of it, and a presigned URL must not have expired
//!   (`X-Amz-Expires` in 1..=[`PRESIGN_EXPIRES_MAX_SECS`]).
//! - The canonical URI is the path decoded once and re-encoded with SigV4 rules (S3 does
//!   not double-encode); the canonical query is every parameter but `X-Amz-Signature`,
//!   re-encoded and sorted. `host` and every `x-amz-*` header present must be signed.
//! - The body is not authenticated here: the returned [`PayloadMode`] says how the body
//!   decoder must verify it (whole-body SHA-256, chained chunk signatures, or nothing).
//!
//! The signing primitives (signing key, scope, canonical query and headers, request,
//! chunk and trailer signatures) are public and sans-IO: the gate verifies with them and
//! clients sign with them, so a signer and this verifier cannot drift apart.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::auth::sigv2;
// Kept for callers: shoal-bench signs with `hex32` from this path.
pub use crate::base::digits::hex32;
use crate::base::digits::{decode_hex32, parse_decimal_u64};
use crate::base::error::{S3Error, S3ErrorCode};
use crate::base::time::{format_amz_date, parse_amz_date, parse_imf_fixdate};
use crate::base::uri::{parse_query, percent_decode_bytes, uri_encode_into};
use crate::message::request::RequestHead;
use crate::route::RouteConfig;

/// Largest difference between the request time and `now` accepted (15 minutes).
pub const CLOCK_SKEW_MAX_SECS: i64 = 15 * 60;
/// Longest presigned URL lifetime S3 allows (7 days).
pub const PRESIGN_EXPIRES_MAX_SECS: i64 = 604_800;
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const SERVICE: &str = "s3";
const TERMINATOR: &str = "aws4_request";
/// SHA-256 of the empty string, hex.
pub const EMPTY_SHA256_HEX: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Where secret keys come from: access key id → secret access key.
pub trait SecretKeys {
    fn secret_access_key(&self, access_key_id: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String>> SecretKeys for F {
    fn secret_access_key(&self, access_key_id: &str) -> Option<String> {
        self(access_key_id)
    }
}

/// What the client promised about the body (`x-amz-content-sha256`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PayloadMode {
    /// `UNSIGNED-PAYLOAD` (and every presigned URL): nothing to verify.
    Unsigned,
    /// A hex SHA-256 of the whole body: verify at the end (`XAmzContentSHA256Mismatch`).
    Sha256([u8; 32]),
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` (`trailer: false`) or
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER` (`trailer: true`): aws-chunked
    /// body with chained chunk signatures seeded by the request signature.
    StreamingSigned {
        signing: ChunkSigning,
        trailer: bool,
    },
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: aws-chunked body, trailers, no signatures.
    StreamingUnsignedTrailer,
}

/// A request that passed the gate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authenticated {
    pub access_key_id: String,
    pub payload: PayloadMode,
}

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

// The signing primitives below are sans-IO and shared by the gate above and by clients
// that sign (shoal-bench), so the workspace has one SigV4 implementation. They take
// the signing key rather than the secret so a client can derive it once per day.

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

/// Equality of two MACs in time independent of where they differ.
pub fn constant_time_eq<const N: usize>(a: &[u8; N], b: &[u8; N]) -> bool {
    let mut difference = 0u8;
    for (x, y) in a.iter().zip(b) {
        difference |= x ^ y;
    }
    std::hint::black_box(difference) == 0
}

/// The parts of a signed request both forms share.
struct AuthFields<'a> {
    access_key_id: &'a str,
    credential_date: &'a str,
    region: &'a str,
    signed_headers: Vec<&'a str>,
    signature: [u8; 32],
    amz_date: String,
}

/// The gate for servers that route path style only, or that have not yet passed their
/// [`RouteConfig`]: SigV4 in every form; SigV2 is refused (see the file header).
pub fn authenticate(
    head: &RequestHead,
    keys: &impl SecretKeys,
    region: &str,
    now_unix_secs: i64,
) -> Result<Authenticated, S3Error> {
    gate(head, keys, region, None, now_unix_secs)
}

/// The gate: SigV4 and SigV2 in every form. `routes` must be the configuration the
/// request is routed with. See the file header for what `Ok` guarantees.
pub fn authenticate_with_routes(
    head: &RequestHead,
    keys: &impl SecretKeys,
    region: &str,
    routes: &RouteConfig,
    now_unix_secs: i64,
) -> Result<Authenticated, S3Error> {
    gate(head, keys, region, Some(routes), now_unix_secs)
}

/// Dispatches to exactly one mechanism; `v2_routes` is `None` when SigV2 is refused.
fn gate(
    head: &RequestHead,
    keys: &impl SecretKeys,
    region: &str,
    v2_routes: Option<&RouteConfig>,
    now_unix_secs: i64,
) -> Result<Authenticated, S3Error> {
    let query = parse_query(head.raw_query())?;
    let presigned_v4 = query
        .iter()
        .any(|(name, _)| name == "X-Amz-Algorithm" || name == "X-Amz-Signature");
    let presigned_v2 = v2_routes.is_some() && sigv2::is_presigned(&query);
    let authorization = head.header("authorization");
    let mechanisms = usize::from(authorization.is_some())
        + usize::from(presigned_v4)
        + usize::from(presigned_v2);
    if mechanisms > 1 {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified",
        ));
    }
    if let Some(authorization) = authorization {
        return match v2_routes {
            Some(routes) if authorization.starts_with(sigv2::AUTHORIZATION_PREFIX) => {
                sigv2::authenticate_header(head, authorization, &query, keys, routes, now_unix_secs)
            }
            _ => authenticate_header(head, authorization, &query, keys, region, now_unix_secs),
        };
    }
    match v2_routes {
        _ if presigned_v4 => authenticate_presigned(head, &query, keys, region, now_unix_secs),
        Some(routes) if presigned_v2 => {
            sigv2::authenticate_presigned(head, &query, keys, routes, now_unix_secs)
        }
        _ => Err(S3Error::with_message(
            S3ErrorCode::AccessDenied,
            "Anonymous access is not allowed.",
        )),
    }
}

fn malformed_header(message: &'static str) -> S3Error {
    S3Error::with_message(S3ErrorCode::AuthorizationHeaderMalformed, message)
}

fn authenticate_header(
    head: &RequestHead,
    authorization: &str,
    query: &[(String, String)],
    keys: &impl SecretKeys,
    region: &str,
    now_unix_secs: i64,
) -> Result<Authenticated, S3Error> {
    let fields = authorization
        .strip_prefix(ALGORITHM)
        .filter(|rest| rest.starts_with(' '))
        .ok_or_else(|| {
            S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "Unsupported Authorization Type; use AWS4-HMAC-SHA256.",
            )
        })?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for field in fields.split(',') {
        match field.trim().split_once('=') {
            Some(("Credential", value)) => credential = Some(value),
            Some(("SignedHeaders", value)) => signed_headers = Some(value),
            Some(("Signature", value)) => signature = Some(value),
            _ => return Err(malformed_header("The authorization header is malformed.")),
        }
    }
    let credential = credential.ok_or_else(|| malformed_header("Credential is missing."))?;
    let signed_headers =
        signed_headers.ok_or_else(|| malformed_header("SignedHeaders is missing."))?;
    let signature = signature.ok_or_else(|| malformed_header("Signature is missing."))?;
    let (amz_date, request_unix_secs) = header_request_time(head)?;
    let signed = parse_signed(
        credential,
        signed_headers,
        signature,
        amz_date,
        S3ErrorCode::AuthorizationHeaderMalformed,
    )?;
    check_scope(&signed, region, S3ErrorCode::AuthorizationHeaderMalformed)?;
    check_skew(request_unix_secs, now_unix_secs)?;
    let content_sha256 = head.header("x-amz-content-sha256").ok_or_else(|| {
        S3Error::with_message(
            S3ErrorCode::InvalidRequest,
            "Missing required header for this request: x-amz-content-sha256",
        )
    })?;
    let secret = verify(head, query, &signed, content_sha256, keys)?;
    let payload = payload_mode(content_sha256, &secret, &signed)?;
    Ok(Authenticated {
        access_key_id: signed.access_key_id.to_owned(),
        payload,
    })
}

/// The request time of header auth: `x-amz-date`, else the HTTP `Date` header.
fn header_request_time(head: &RequestHead) -> Result<(String, i64), S3Error> {
    if let Some(amz_date) = head.header("x-amz-date") {
        let unix_secs = parse_amz_date(amz_date).ok_or_else(|| {
            S3Error::with_message(
                S3ErrorCode::AccessDenied,
                "AWS authentication requires a valid Date or x-amz-date header",
            )
        })?;
        return Ok((amz_date.to_owned(), unix_secs));
    }
    let unix_secs = head
        .header("date")
        .and_then(parse_imf_fixdate)
        .ok_or_else(|| {
            S3Error::with_message(
                S3ErrorCode::AccessDenied,
                "AWS authentication requires a valid Date or x-amz-date header",
            )
        })?;
    Ok((format_amz_date(unix_secs), unix_secs))
}

fn parse_signed<'a>(
    credential: &'a str,
    signed_headers: &'a str,
    signature: &str,
    amz_date: String,
    malformed_code: S3ErrorCode,
) -> Result<AuthFields<'a>, S3Error> {
    let malformed = |message: &'static str| S3Error::with_message(malformed_code, message);
    let mut parts = credential.split('/');
    let (
        Some(access_key_id),
        Some(credential_date),
        Some(region),
        Some(service),
        Some(terminator),
        None,
    ) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    )
    else {
        return Err(malformed(
            "The Credential is malformed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".",
        ));
    };
    if service != SERVICE || terminator != TERMINATOR || access_key_id.is_empty() {
        return Err(malformed(
            "The Credential scope must end in s3/aws4_request.",
        ));
    }
    let signed_headers: Vec<&str> = signed_headers.split(';').collect();
    let well_formed = signed_headers
        .iter()
        .all(|h| !h.is_empty() && !h.bytes().any(|b| b.is_ascii_uppercase()));
    if !well_formed {
        return Err(malformed(
            "SignedHeaders must be lowercase names separated by ';'.",
        ));
    }
    let signature =
        decode_hex32(signature).ok_or_else(|| S3Error::new(S3ErrorCode::SignatureDoesNotMatch))?;
    Ok(AuthFields {
        access_key_id,
        credential_date,
        region,
        signed_headers,
        signature,
        amz_date,
    })
}

fn check_scope(
    signed: &AuthFields<'_>,
    region: &str,
    malformed_code: S3ErrorCode,
) -> Result<(), S3Error> {
    let malformed = |message: &'static str| S3Error::with_message(malformed_code, message);
    if signed.region != region {
        return Err(S3Error::with_message(
            malformed_code,
            format!(
                "The authorization header is malformed; the region '{}' is wrong; expecting '{region}'",
                signed.region
            ),
        ));
    }
    if signed.amz_date.get(..8) != Some(signed.credential_date) {
        return Err(malformed(
            "The Credential date does not match the request date.",
        ));
    }
    Ok(())
}

fn check_skew(request_unix_secs: i64, now_unix_secs: i64) -> Result<(), S3Error> {
    if (request_unix_secs - now_unix_secs).abs() > CLOCK_SKEW_MAX_SECS {
        return Err(S3Error::new(S3ErrorCode::RequestTimeTooSkewed));
    }
    Ok(())
}

/// Looks the secret up, recomputes the signature and compares; returns the secret for
/// the chunk verifier.
fn verify(
    head: &RequestHead,
    query: &[(String, String)],
    signed: &AuthFields<'_>,
    payload_hash: &str,
    keys: &impl SecretKeys,
) -> Result<String, S3Error> {
    check_signed_headers(head, &signed.signed_headers)?;
    let secret = keys
        .secret_access_key(signed.access_key_id)
        .ok_or_else(|| S3Error::new(S3ErrorCode::InvalidAccessKeyId))?;
    let canonical = canonical_request(head, query, &signed.signed_headers, payload_hash)?;
    let expected = compute_signature(&secret, &signed.amz_date, signed.region, &canonical);
    if !constant_time_eq(&expected, &signed.signature) {
        return Err(S3Error::new(S3ErrorCode::SignatureDoesNotMatch));
    }
    Ok(secret)
}

/// `host` must be signed, and so must every `x-amz-*` header the request carries.
fn check_signed_headers(head: &RequestHead, signed_headers: &[&str]) -> Result<(), S3Error> {
    if !signed_headers.contains(&"host") {
        return Err(S3Error::with_message(
            S3ErrorCode::AccessDenied,
            "The host header must be signed.",
        ));
    }
    let unsigned = head
        .headers
        .iter()
        .any(|(name, _)| name.starts_with("x-amz-") && !signed_headers.contains(&name.as_str()));
    if unsigned {
        return Err(S3Error::with_message(
            S3ErrorCode::AccessDenied,
            "There were headers present in the request which were not signed",
        ));
    }
    Ok(())
}

fn compute_signature(
    secret: &str,
    amz_date: &str,
    region: &str,
    canonical_request: &str,
) -> [u8; 32] {
    let date = amz_date.get(..8).unwrap_or_default();
    request_signature(
        &signing_key(secret, date, region),
        amz_date,
        &credential_scope(date, region),
        canonical_request,
    )
}

/// The SigV4 canonical request for S3.
fn canonical_request(
    head: &RequestHead,
    query: &[(String, String)],
    signed_headers: &[&str],
    payload_hash: &str,
) -> Result<String, S3Error> {
    let mut out = String::with_capacity(512);
    out.push_str(head.method.as_str());
    out.push('\n');
    uri_encode_into(&percent_decode_bytes(head.raw_path())?, false, &mut out);
    out.push('\n');
    write_canonical_query(
        query
            .iter()
            .filter(|(name, _)| name != "X-Amz-Signature")
            .map(|(name, value)| (name.as_str(), value.as_str())),
        &mut out,
    );
    out.push('\n');
    write_canonical_headers(
        signed_headers,
        |name, out| push_canonical_header_value(head, name, out),
        payload_hash,
        &mut out,
    );
    Ok(out)
}

/// All values of the header joined by `,`, each trimmed, inner runs of spaces collapsed.
fn push_canonical_header_value(head: &RequestHead, name: &str, out: &mut String) {
    for (index, value) in head.header_values(name).enumerate() {
        if index > 0 {
            out.push(',');
        }
        let mut previous_space = false;
        for c in value.trim().chars() {
            if c == ' ' && previous_space {
                continue;
            }
            previous_space = c == ' ';
            out.push(c);
        }
    }
}

fn payload_mode(
    content_sha256: &str,
    secret: &str,
    signed: &AuthFields<'_>,
) -> Result<PayloadMode, S3Error> {
    let streaming_signed = |trailer: bool| {
        let signing = ChunkSigning::new(secret, &signed.amz_date, signed.region, signed.signature)
            .ok_or_else(|| S3Error::new(S3ErrorCode::AccessDenied))?;
        Ok(PayloadMode::StreamingSigned { signing, trailer })
    };
    match content_sha256 {
        "UNSIGNED-PAYLOAD" => Ok(PayloadMode::Unsigned),
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" => streaming_signed(false),
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" => streaming_signed(true),
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER" => Ok(PayloadMode::StreamingUnsignedTrailer),
        "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD" | "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER" => {
            Err(S3Error::with_message(S3ErrorCode::NotImplemented, "SigV4a (ECDSA) signing is not implemented."))
        }
        hash => decode_hex32(hash).map(PayloadMode::Sha256).ok_or_else(|| {
            S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, a STREAMING- mode, or a valid sha256 value.",
            )
        }),
    }
}

fn malformed_query(message: &'static str) -> S3Error {
    S3Error::with_message(S3ErrorCode::AuthorizationQueryParametersError, message)
}

fn authenticate_presigned(
    head: &RequestHead,
    query: &[(String, String)],
    keys: &impl SecretKeys,
    region: &str,
    now_unix_secs: i64,
) -> Result<Authenticated, S3Error> {
    let get = |name: &str| {
        query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let missing = || {
        malformed_query(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
        )
    };
    let algorithm = get("X-Amz-Algorithm").ok_or_else(missing)?;
    if algorithm != ALGORITHM {
        return Err(malformed_query(
            "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"",
        ));
    }
    let credential = get("X-Amz-Credential").ok_or_else(missing)?;
    let amz_date = get("X-Amz-Date").ok_or_else(missing)?;
    let expires = get("X-Amz-Expires").ok_or_else(missing)?;
    let signed_headers = get("X-Amz-SignedHeaders").ok_or_else(missing)?;
    let signature = get("X-Amz-Signature").ok_or_else(missing)?;
    let request_unix_secs = parse_amz_date(amz_date).ok_or_else(|| {
        malformed_query("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
    })?;
    // Digits only: `+5`, ` 5` or `5 ` are what `str::parse` would also take, and a
    // number S3 would refuse must not be one Shoal accepts.
    let expires_secs = parse_decimal_u64(expires)
        .and_then(|e| i64::try_from(e).ok())
        .filter(|e| (1..=PRESIGN_EXPIRES_MAX_SECS).contains(e))
        .ok_or_else(|| {
            malformed_query("X-Amz-Expires must be a number between 1 and 604800 seconds.")
        })?;
    let signed = parse_signed(
        credential,
        signed_headers,
        signature,
        amz_date.to_owned(),
        S3ErrorCode::AuthorizationQueryParametersError,
    )?;
    check_scope(
        &signed,
        region,
        S3ErrorCode::AuthorizationQueryParametersError,
    )?;
    if request_unix_secs - now_unix_secs > CLOCK_SKEW_MAX_SECS {
        return Err(S3Error::new(S3ErrorCode::RequestTimeTooSkewed));
    }
    if now_unix_secs > request_unix_secs + expires_secs {
        return Err(S3Error::with_message(
            S3ErrorCode::AccessDenied,
            "Request has expired",
        ));
    }
    let payload_hash = get("X-Amz-Content-Sha256").unwrap_or("UNSIGNED-PAYLOAD");
    verify(head, query, &signed, payload_hash, keys)?;
    let payload =
        match payload_hash {
            "UNSIGNED-PAYLOAD" => PayloadMode::Unsigned,
            hash => PayloadMode::Sha256(decode_hex32(hash).ok_or_else(|| {
                malformed_query("X-Amz-Content-Sha256 is not a valid sha256 value.")
            })?),
        };
    Ok(Authenticated {
        access_key_id: signed.access_key_id.to_owned(),
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::request::{HeadParser, HeadStatus};

    const ACCESS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    /// 2013-05-24T00:00:00Z, the instant of every AWS example.
    const EXAMPLE_NOW: i64 = 1_369_353_600;

    fn keys(access_key_id: &str) -> Option<String> {
        (access_key_id == ACCESS_KEY).then(|| SECRET.to_owned())
    }

    fn head(wire: &str) -> RequestHead {
        match HeadParser::new().parse(wire.as_bytes()).unwrap() {
            HeadStatus::Complete { head, .. } => head,
            HeadStatus::Partial => panic!("incomplete test head"),
        }
    }

    fn auth(wire: &str, now: i64) -> Result<Authenticated, S3Error> {
        authenticate(&head(wire), &keys, "us-east-1", now)
    }

    const GET_OBJECT: &str = "GET /test.txt HTTP/1.1\r\nHost: examplebucket.s3.amazonaws.com\r\n\
        Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41\r\n\
        Range: bytes=0-9\r\nx-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\r\n\
        x-amz-date: 20130524T000000Z\r\n\r\n";

    #[test]
    fn aws_example_get_object_with_range_verifies() {
        // AWS S3 docs, "Example: GET Object" (sig-v4-header-based-auth).
        let ok = auth(GET_OBJECT, EXAMPLE_NOW).unwrap();
        assert_eq!(ok.access_key_id, ACCESS_KEY);
        assert_eq!(
            ok.payload,
            PayloadMode::Sha256(decode_hex32(EMPTY_SHA256_HEX).unwrap())
        );
    }

    #[test]
    fn aws_example_put_object_verifies_with_date_header_and_dollar_key() {
        // "Example: PUT Object": `$` in the key is encoded once, Date header signed.
        for path in ["/test%24file.text", "/test$file.text"] {
            let wire = format!(
                "PUT {path} HTTP/1.1\r\nHost: examplebucket.s3.amazonaws.com\r\nDate: Fri, 24 May 2013 00:00:00 GMT\r\n\
                Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd\r\n\
                x-amz-date: 20130524T000000Z\r\nx-amz-storage-class: REDUCED_REDUNDANCY\r\n\
                x-amz-content-sha256: 44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\r\nContent-Length: 21\r\n\r\n"
            );
            auth(&wire, EXAMPLE_NOW).unwrap();
        }
    }

    #[test]
    fn aws_example_bucket_queries_verify() {
        // "GET Bucket Lifecycle" (valueless sub-resource) and "Get Bucket (List Objects)"
        // (query sorted: prefix before max-keys on the wire).
        let cases = [
            (
                "/?lifecycle",
                "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
            ),
            (
                "/?prefix=J&max-keys=2",
                "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
            ),
        ];
        for (target, signature) in cases {
            let wire = format!(
                "GET {target} HTTP/1.1\r\nHost: examplebucket.s3.amazonaws.com\r\n\
                Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature={signature}\r\n\
                x-amz-content-sha256: {EMPTY_SHA256_HEX}\r\nx-amz-date: 20130524T000000Z\r\n\r\n"
            );
            auth(&wire, EXAMPLE_NOW).unwrap_or_else(|e| panic!("{target}: {e}"));
        }
    }

    const PRESIGNED: &str = "GET /test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404 HTTP/1.1\r\nHost: examplebucket.s3.amazonaws.com\r\n\r\n";

    #[test]
    fn aws_example_presigned_get_verifies_until_it_expires() {
        // "Example: Presigned URL" (sigv4-query-string-auth), valid for 86400 s.
        assert_eq!(
            auth(PRESIGNED, EXAMPLE_NOW + 3600).unwrap().payload,
            PayloadMode::Unsigned
        );
        assert_eq!(
            auth(PRESIGNED, EXAMPLE_NOW + 86_400).unwrap().payload,
            PayloadMode::Unsigned
        );
        let expired = auth(PRESIGNED, EXAMPLE_NOW + 86_401).unwrap_err();
        assert_eq!(expired.code(), S3ErrorCode::AccessDenied);
        let early = auth(PRESIGNED, EXAMPLE_NOW - 3600).unwrap_err();
        assert_eq!(early.code(), S3ErrorCode::RequestTimeTooSkewed);
        let long = PRESIGNED.replace("X-Amz-Expires=86400", "X-Amz-Expires=604801");
        assert_eq!(
            auth(&long, EXAMPLE_NOW).unwrap_err().code(),
            S3ErrorCode::AuthorizationQueryParametersError
        );
    }

    #[test]
    fn presigned_expires_is_plain_digits() {
        // `str::parse` takes `+86400`; S3's grammar is digits only, checked before the
        // signature so a sign or a space is a malformed query, not a bad signature.
        for bad in [
            "%2B86400",
            "%2086400",
            "86400%20",
            "-1",
            "0x10",
            "",
            "99999999999999999999",
        ] {
            let edited = PRESIGNED.replace("X-Amz-Expires=86400", &format!("X-Amz-Expires={bad}"));
            assert_eq!(
                auth(&edited, EXAMPLE_NOW).unwrap_err().code(),
                S3ErrorCode::AuthorizationQueryParametersError,
                "{bad}"
            );
        }
    }

    pub(crate) const CHUNKED_PUT: &str = "PUT /examplebucket/chunkObject.txt HTTP/1.1\r\nHost: s3.amazonaws.com\r\n\
        x-amz-date: 20130524T000000Z\r\nx-amz-storage-class: REDUCED_REDUNDANCY\r\n\
        Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9\r\n\
        x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD\r\nContent-Encoding: aws-chunked\r\n\
        x-amz-decoded-content-length: 66560\r\nContent-Length: 66824\r\n\r\n";

    #[test]
    fn aws_example_chunked_seed_signature_verifies() {
        // "Example: PUT Object" of sigv4-streaming: the seed signature of the headers.
        let ok = auth(CHUNKED_PUT, EXAMPLE_NOW).unwrap();
        let PayloadMode::StreamingSigned {
            signing,
            trailer: false,
        } = ok.payload
        else {
            panic!("expected signed streaming, got {:?}", ok.payload);
        };
        let seed = decode_hex32("4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9")
            .unwrap();
        assert_eq!(signing.seed_signature(), seed);
        // The first chunk signature of the same example: 64 KiB of 'a'.
        let chunk_hash: [u8; 32] = Sha256::digest(vec![b'a'; 65_536]).into();
        assert_eq!(
            hex::encode(signing.chunk_signature(&seed, &chunk_hash)),
            "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
        );
    }

    #[test]
    fn wrong_secret_unknown_key_skew_and_region_fail_with_their_codes() {
        // Each failure has the code clients and operators expect.
        let tampered = GET_OBJECT.replace("bytes=0-9", "bytes=0-10");
        assert_eq!(
            auth(&tampered, EXAMPLE_NOW).unwrap_err().code(),
            S3ErrorCode::SignatureDoesNotMatch
        );
        let unknown =
            GET_OBJECT.replace("Credential=AKIAIOSFODNN7EXAMPLE", "Credential=AKIDUNKNOWN");
        assert_eq!(
            auth(&unknown, EXAMPLE_NOW).unwrap_err().code(),
            S3ErrorCode::InvalidAccessKeyId
        );
        assert_eq!(
            auth(GET_OBJECT, EXAMPLE_NOW + 901).unwrap_err().code(),
            S3ErrorCode::RequestTimeTooSkewed
        );
        assert!(auth(GET_OBJECT, EXAMPLE_NOW - 900).is_ok());
        let wrong_region =
            authenticate(&head(GET_OBJECT), &keys, "eu-west-1", EXAMPLE_NOW).unwrap_err();
        assert_eq!(
            wrong_region.code(),
            S3ErrorCode::AuthorizationHeaderMalformed
        );
        assert!(wrong_region.message().contains("expecting 'eu-west-1'"));
    }

    #[test]
    fn unsigned_amz_headers_and_anonymous_requests_are_denied() {
        // An unsigned x-amz-* header could change the operation's meaning.
        let extra = GET_OBJECT.replace("Range:", "x-amz-copy-source: /other/key\r\nRange:");
        assert_eq!(
            auth(&extra, EXAMPLE_NOW).unwrap_err().code(),
            S3ErrorCode::AccessDenied
        );
        let anonymous = "GET /test.txt HTTP/1.1\r\nHost: h\r\n\r\n";
        assert_eq!(
            auth(anonymous, EXAMPLE_NOW).unwrap_err().code(),
            S3ErrorCode::AccessDenied
        );
        let sigv2 = "GET / HTTP/1.1\r\nAuthorization: AWS AKID:sig\r\n\r\n";
        assert_eq!(
            auth(sigv2, EXAMPLE_NOW).unwrap_err().code(),
            S3ErrorCode::InvalidArgument
        );
    }

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

    #[test]
    fn constant_time_eq_is_equality() {
        // Constant time must still be correct.
        let a = [7u8; 32];
        let mut b = a;
        assert!(constant_time_eq(&a, &b));
        b[31] ^= 1;
        assert!(!constant_time_eq(&a, &b));
    }
}
