//! What both signature versions share: where secret keys come from, the limits on the
//! request time, what a request that passed the gate carries (who signed it and how the
//! body decoder must verify its body), and the constant-time comparison of MACs.
//!
//! Invariant: this file and `signing.rs` are all that `sigv2.rs` and `sigv4.rs` share;
//! neither signature version imports the other, and only the gate (`gate.rs`) knows both.

use crate::auth::signing::{ChunkSigning, signing_key};

/// Largest difference between the request time and `now` accepted (15 minutes).
pub const CLOCK_SKEW_MAX_SECS: i64 = 15 * 60;
/// Longest presigned URL lifetime S3 allows (7 days).
pub const PRESIGN_EXPIRES_MAX_SECS: i64 = 604_800;

/// Where secret keys come from: access key id → secret access key.
pub trait SecretKeys {
    fn secret_access_key(&self, access_key_id: &str) -> Option<String>;

    /// The SigV4 signing key of `secret_access_key` for one day (`YYYYMMDD`) and
    /// region. It changes once a day, so a server may keep it (`signing_key` derives
    /// it with four HMAC-SHA256, which is what this default does every time).
    fn signing_key(&self, secret_access_key: &str, date: &str, region: &str) -> [u8; 32] {
        signing_key(secret_access_key, date, region)
    }
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

/// Equality of two MACs in time independent of where they differ.
pub fn constant_time_eq<const N: usize>(a: &[u8; N], b: &[u8; N]) -> bool {
    let mut difference = 0u8;
    for (x, y) in a.iter().zip(b) {
        difference |= x ^ y;
    }
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

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
