//! Numbers and hashes written as digits on the wire: strict decimal `u64`s (lengths,
//! part numbers, expiry seconds) and 32-byte hashes and signatures as 64 hex digits.
//!
//! Invariant: a parser accepts only the digits themselves: no sign, no spaces, no
//! prefix, no more digits than the value can hold; it returns `None`, never panics.

/// Decimal digits only (no sign, no spaces), at most 19 so it fits in a u64.
pub fn parse_decimal_u64(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Lowercase hex of a 32-byte hash or signature, on the stack.
pub fn hex32(bytes: &[u8; 32]) -> [u8; 64] {
    let mut out = [0u8; 64];
    hex::encode_to_slice(bytes, &mut out).expect("64 hex digits for 32 bytes");
    out
}

/// Decodes a 64-hex-digit signature or hash.
pub fn decode_hex32(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_is_digits_only() {
        // What `str::parse` also takes (`+5`, ` 5`) must not pass for a number here.
        assert_eq!(parse_decimal_u64("0"), Some(0));
        assert_eq!(
            parse_decimal_u64("9999999999999999999"),
            Some(9_999_999_999_999_999_999)
        );
        for bad in [
            "",
            "+5",
            " 5",
            "5 ",
            "-1",
            "0x10",
            "1e3",
            "18446744073709551616",
        ] {
            assert_eq!(parse_decimal_u64(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn hex32_round_trips_and_refuses_other_lengths() {
        // A signature is exactly 64 hex digits, and what is written reads back.
        let bytes: [u8; 32] = std::array::from_fn(|i| u8::try_from(i * 7).unwrap());
        let text = hex32(&bytes);
        assert_eq!(
            decode_hex32(std::str::from_utf8(&text).unwrap()),
            Some(bytes)
        );
        let short = std::str::from_utf8(&text[..62]).unwrap();
        assert_eq!(decode_hex32(short), None);
        assert_eq!(decode_hex32(&format!("{short}zz")), None);
    }
}
