//! Base64 with the standard alphabet and `=` padding (RFC 4648 §4), as SigV2 signatures
//! and the `Content-MD5` / `x-amz-checksum-*` headers carry it.
//!
//! Invariants: the decoder accepts exactly the canonical encoding the encoder produces
//! (length a multiple of 4, padding only at the end, unused trailing bits zero), so
//! every byte string has one text form and comparing decoded bytes is the same as
//! comparing texts. Decoding never panics on any input.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Appends the base64 text of `bytes` to `out`.
pub fn encode_into(bytes: &[u8], out: &mut String) {
    let symbol = |index: u32| char::from(ALPHABET[(index & 0x3f) as usize]);
    for group in bytes.chunks(3) {
        let b0 = u32::from(group[0]);
        let b1 = group.get(1).copied().map_or(0, u32::from);
        let b2 = group.get(2).copied().map_or(0, u32::from);
        let bits = b0 << 16 | b1 << 8 | b2;
        out.push(symbol(bits >> 18));
        out.push(symbol(bits >> 12));
        out.push(if group.len() > 1 {
            symbol(bits >> 6)
        } else {
            '='
        });
        out.push(if group.len() > 2 { symbol(bits) } else { '=' });
    }
}

/// The base64 text of `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    encode_into(bytes, &mut out);
    out
}

fn symbol_value(byte: u8) -> Option<u32> {
    let value = match byte {
        b'A'..=b'Z' => byte - b'A',
        b'a'..=b'z' => byte - b'a' + 26,
        b'0'..=b'9' => byte - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(value))
}

/// Decodes canonical base64; `None` for anything else (see the file header).
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    let groups = bytes.len() / 4;
    for (index, group) in bytes.chunks_exact(4).enumerate() {
        let padding = group.iter().rev().take_while(|b| **b == b'=').count();
        if padding > 2 || (padding > 0 && index + 1 != groups) {
            return None;
        }
        let mut bits = 0u32;
        for &byte in &group[..4 - padding] {
            bits = bits << 6 | symbol_value(byte)?;
        }
        bits <<= 6 * padding;
        let decoded = [(bits >> 16) as u8, (bits >> 8) as u8, bits as u8];
        let kept = 3 - padding;
        // Non-zero bits under the padding would give a second text for the same bytes.
        if decoded[kept..].iter().any(|b| *b != 0) {
            return None;
        }
        out.extend_from_slice(&decoded[..kept]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4648_test_vectors_round_trip() {
        // RFC 4648 §10 covers every padding length.
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, text) in vectors {
            assert_eq!(encode(plain.as_bytes()), text);
            assert_eq!(decode(text).as_deref(), Some(plain.as_bytes()), "{text}");
        }
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(decode(&encode(&all)), Some(all));
    }

    #[test]
    fn non_canonical_and_malformed_texts_are_rejected() {
        // One text per byte string: a second spelling of a MAC must not compare equal.
        for bad in [
            "Zg", "Zg=", "Zh==", "Zm9=", "Z===", "=Zg=", "Zg==Zg==", "Zm9v!A==", "Zm 9v", "Zg==\n",
            "é===",
        ] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
