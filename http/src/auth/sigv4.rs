//! AWS Signature Version 4 for S3, verified in both of its request forms (the
//! `Authorization` header and presigned query parameters), and the payload mode the
//! request committed to. Only the gate (`gate.rs`) calls in here.
//!
//! Invariants:
//! - `Ok` only for a request whose signature was recomputed from the head with the
//!   primitives of [`crate::auth::signing`] and compared in constant time.
//! - Time comes in as `now_unix_secs`; the request time must be within
//!   [`CLOCK_SKEW_MAX_SECS`] of it, and a presigned URL must not have expired
//!   (`X-Amz-Expires` in 1..=[`PRESIGN_EXPIRES_MAX_SECS`]).
//! - The canonical URI is the path decoded once and re-encoded with SigV4 rules (S3 does
//!   not double-encode); the canonical query is every parameter but `X-Amz-Signature`,
//!   re-encoded and sorted. `host` and every `x-amz-*` header present must be signed.
//! - The body is not authenticated here: the returned [`PayloadMode`] says how the body
//!   decoder must verify it (whole-body SHA-256, chained chunk signatures, or nothing).

use crate::auth::common::{
    Authenticated, CLOCK_SKEW_MAX_SECS, PRESIGN_EXPIRES_MAX_SECS, PayloadMode, SecretKeys,
    constant_time_eq,
};
use crate::auth::signing::{
    ALGORITHM, ChunkSigning, SERVICE, TERMINATOR, credential_scope, request_signature,
    write_canonical_headers, write_canonical_query,
};
use crate::base::digits::{decode_hex32, parse_decimal_u64};
use crate::base::error::{S3Error, S3ErrorCode};
use crate::base::time::{format_amz_date, parse_amz_date, parse_imf_fixdate};
use crate::base::uri::{percent_decode_bytes, uri_encode_into};
use crate::message::request::RequestHead;

#[cfg(test)]
mod tests;

/// The parts of a signed request both forms share.
struct AuthFields<'a> {
    access_key_id: &'a str,
    credential_date: &'a str,
    region: &'a str,
    signed_headers: Vec<&'a str>,
    signature: [u8; 32],
    amz_date: String,
}

fn malformed_header(message: &'static str) -> S3Error {
    S3Error::with_message(S3ErrorCode::AuthorizationHeaderMalformed, message)
}

pub(super) fn authenticate_header(
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
    let date = signed.amz_date.get(..8).unwrap_or_default();
    let expected = request_signature(
        &keys.signing_key(&secret, date, signed.region),
        &signed.amz_date,
        &credential_scope(date, signed.region),
        &canonical,
    );
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

pub(super) fn authenticate_presigned(
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
