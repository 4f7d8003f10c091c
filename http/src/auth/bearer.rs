//! Bearer tokens for Prometheus scrapes, MinIO's convention: a JWT signed with HS512
//! (HMAC-SHA512 keyed by the root secret key) whose claims are `exp` (expiry, Unix
//! seconds), `sub` (the root access key) and `iss` (`"prometheus"`).
//!
//! Invariants: sans-IO and clock-free (the caller gives the time); only `HS512` is
//! accepted (a token naming `none` or another algorithm is refused before any MAC is
//! computed); the MAC is compared in constant time; a token is bounded in size and
//! parsed without panicking on any input.

use hmac::{Hmac, Mac};
use sha2::Sha512;

use crate::auth::common::constant_time_eq;

/// The `iss` claim of a Prometheus token.
pub const PROMETHEUS_ISSUER: &str = "prometheus";
/// Longest token looked at (a real one is about 250 bytes).
const TOKEN_MAX_BYTES: usize = 4096;
/// The only header Shoal writes; any header naming `alg` `HS512` is accepted.
const HEADER_JSON: &str = r#"{"alg":"HS512","typ":"JWT"}"#;

/// Why a bearer token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenError {
    /// Not three base64url parts of JSON objects, or too long.
    Malformed,
    /// The header names an algorithm other than HS512 (`none` included).
    Algorithm,
    /// The MAC does not match the root secret key.
    Signature,
    /// `exp` is missing or in the past.
    Expired,
    /// `sub` is not the root access key, or `iss` is not `prometheus`.
    Claims,
}

/// A token for `access_key`, signed with `secret_key`, valid until `expires_unix_secs`.
pub fn sign_prometheus_token(access_key: &str, secret_key: &str, expires_unix_secs: i64) -> String {
    let claims = format!(
        r#"{{"exp":{expires_unix_secs},"sub":"{}","iss":"{PROMETHEUS_ISSUER}"}}"#,
        json_escape(access_key)
    );
    let signed = format!(
        "{}.{}",
        base64url_encode(HEADER_JSON.as_bytes()),
        base64url_encode(claims.as_bytes())
    );
    let mac = mac_of(secret_key, signed.as_bytes());
    format!("{signed}.{}", base64url_encode(&mac))
}

/// Checks a token against the root credentials at `now_unix_secs`.
pub fn verify_prometheus_token(
    token: &str,
    access_key: &str,
    secret_key: &str,
    now_unix_secs: i64,
) -> Result<(), TokenError> {
    if token.len() > TOKEN_MAX_BYTES {
        return Err(TokenError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(mac), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let header_json = decode_json(header)?;
    if json_string(&header_json, "alg") != Some("HS512") {
        return Err(TokenError::Algorithm);
    }
    let given: [u8; 64] = base64url_decode(mac)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(TokenError::Signature)?;
    let signed_len = header.len() + 1 + claims.len();
    let expected = mac_of(secret_key, &token.as_bytes()[..signed_len]);
    if !constant_time_eq(&given, &expected) {
        return Err(TokenError::Signature);
    }
    let claims_json = decode_json(claims)?;
    match json_number(&claims_json, "exp") {
        Some(exp) if exp > now_unix_secs => {}
        _ => return Err(TokenError::Expired),
    }
    let subject_ok = json_string(&claims_json, "sub") == Some(access_key);
    if !subject_ok || json_string(&claims_json, "iss") != Some(PROMETHEUS_ISSUER) {
        return Err(TokenError::Claims);
    }
    Ok(())
}

fn mac_of(secret_key: &str, signed: &[u8]) -> [u8; 64] {
    let mut mac =
        Hmac::<Sha512>::new_from_slice(secret_key.as_bytes()).expect("HMAC takes any key length");
    mac.update(signed);
    mac.finalize().into_bytes().into()
}

/// A flat JSON object's members: name and raw value (strings unescaped).
type Members = Vec<(String, JsonValue)>;

#[derive(Debug, PartialEq)]
enum JsonValue {
    Text(String),
    Number(i64),
    Other,
}

fn decode_json(part: &str) -> Result<Members, TokenError> {
    let bytes = base64url_decode(part).ok_or(TokenError::Malformed)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| TokenError::Malformed)?;
    parse_flat_object(text).ok_or(TokenError::Malformed)
}

fn json_string<'a>(members: &'a Members, name: &str) -> Option<&'a str> {
    members
        .iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, v)| match v {
            JsonValue::Text(text) => Some(text.as_str()),
            _ => None,
        })
}

fn json_number(members: &Members, name: &str) -> Option<i64> {
    members
        .iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, v)| match v {
            JsonValue::Number(n) => Some(*n),
            _ => None,
        })
}

/// Parses `{"name": value, ...}` whose values are strings, integers, booleans or null
/// (what JWT headers and these claims hold); nested values are refused.
fn parse_flat_object(text: &str) -> Option<Members> {
    let mut rest = text.trim().strip_prefix('{')?.trim_start();
    let mut members = Vec::new();
    if let Some(after) = rest.strip_prefix('}') {
        return after.trim().is_empty().then_some(members);
    }
    loop {
        let (name, after) = parse_string(rest)?;
        rest = after.trim_start().strip_prefix(':')?.trim_start();
        let (value, after) = parse_value(rest)?;
        members.push((name, value));
        rest = after.trim_start();
        if let Some(after) = rest.strip_prefix(',') {
            rest = after.trim_start();
        } else {
            let after = rest.strip_prefix('}')?;
            return after.trim().is_empty().then_some(members);
        }
    }
}

fn parse_value(text: &str) -> Option<(JsonValue, &str)> {
    if text.starts_with('"') {
        let (value, rest) = parse_string(text)?;
        return Some((JsonValue::Text(value), rest));
    }
    for word in ["true", "false", "null"] {
        if let Some(rest) = text.strip_prefix(word) {
            return Some((JsonValue::Other, rest));
        }
    }
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '-'))
        .unwrap_or(text.len());
    let number = text[..end].parse().ok()?;
    Some((JsonValue::Number(number), &text[end..]))
}

/// A JSON string at the start of `text`: its value and what follows.
fn parse_string(text: &str) -> Option<(String, &str)> {
    let body = text.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &body[i + 1..])),
            '\\' => {
                let (_, escaped) = chars.next()?;
                out.push(match escaped {
                    '"' | '\\' | '/' => escaped,
                    'n' => '\n',
                    't' => '\t',
                    _ => return None, // \u and the rest: not in these tokens
                });
            }
            c if u32::from(c) < 0x20 => return None,
            c => out.push(c),
        }
    }
    None
}

fn json_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64url without padding (RFC 7515 §2).
fn base64url_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(BASE64URL[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

/// Base64url, padding optional; `None` on any other byte.
fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    if text.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in text.as_bytes().chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            let value = BASE64URL.iter().position(|b| b == c)?;
            n |= (value as u32) << (18 - 6 * i);
        }
        for i in 0..chunk.len() - 1 {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "shoaladmin";
    const SECRET: &str = "secret-0123456789";
    const NOW: i64 = 1_800_000_000;

    /// A token Shoal signed verifies until it expires, and only with the same key.
    #[test]
    fn good_expired_and_wrong_key_tokens() {
        let token = sign_prometheus_token(KEY, SECRET, NOW + 60);
        assert_eq!(verify_prometheus_token(&token, KEY, SECRET, NOW), Ok(()));
        assert_eq!(
            verify_prometheus_token(&token, KEY, SECRET, NOW + 60),
            Err(TokenError::Expired)
        );
        assert_eq!(
            verify_prometheus_token(&token, KEY, "another-secret", NOW),
            Err(TokenError::Signature)
        );
        assert_eq!(
            verify_prometheus_token(&token, "someone-else", SECRET, NOW),
            Err(TokenError::Claims)
        );
    }

    /// `alg: none` (no signature) and other algorithms are refused whatever follows.
    #[test]
    fn other_algorithms_are_refused() {
        let claims = base64url_encode(
            format!(r#"{{"exp":{},"sub":"{KEY}","iss":"prometheus"}}"#, NOW + 60).as_bytes(),
        );
        for alg in ["none", "HS256", "RS512", "hs512"] {
            let header = base64url_encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#).as_bytes());
            let token = format!("{header}.{claims}.");
            assert_eq!(
                verify_prometheus_token(&token, KEY, SECRET, NOW),
                Err(TokenError::Algorithm),
                "{alg}"
            );
        }
    }

    /// A tampered claim breaks the MAC; garbage never panics.
    #[test]
    fn tampering_and_garbage_are_refused() {
        let token = sign_prometheus_token(KEY, SECRET, NOW + 60);
        let parts: Vec<&str> = token.split('.').collect();
        let forged = base64url_encode(
            format!(
                r#"{{"exp":{},"sub":"{KEY}","iss":"prometheus"}}"#,
                NOW + 9999
            )
            .as_bytes(),
        );
        let tampered = format!("{}.{forged}.{}", parts[0], parts[2]);
        assert_eq!(
            verify_prometheus_token(&tampered, KEY, SECRET, NOW),
            Err(TokenError::Signature)
        );
        for garbage in [
            "",
            "a.b",
            "a.b.c.d",
            "....",
            "x.y.z",
            "\u{e9}.\u{e9}.\u{e9}",
        ] {
            assert!(
                verify_prometheus_token(garbage, KEY, SECRET, NOW).is_err(),
                "{garbage}"
            );
        }
    }

    /// Base64url round-trips every length; the flat JSON reader reads what tokens hold.
    #[test]
    fn base64url_and_json_round_trip() {
        for len in 0..20u8 {
            let bytes: Vec<u8> = (0..len)
                .map(|i: u8| i.wrapping_mul(37).wrapping_add(250))
                .collect();
            assert_eq!(base64url_decode(&base64url_encode(&bytes)), Some(bytes));
        }
        let members = parse_flat_object(r#" { "a" : "x\"y", "n": -5, "b": true } "#).unwrap();
        assert_eq!(json_string(&members, "a"), Some("x\"y"));
        assert_eq!(json_number(&members, "n"), Some(-5));
        assert_eq!(parse_flat_object(r#"{"a":{"b":1}}"#), None);
        assert_eq!(parse_flat_object(r#"{"a":1} x"#), None);
    }
}
