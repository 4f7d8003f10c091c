//! Escaping of text for XML character data, the one escape every S3 document uses:
//! the error document ([`crate::base::error`]) and every response document.
//!
//! Invariant: no input text can end an element or start markup, and every character a
//! parser would alter (`\r`) or refuse is written as a reference, never dropped.

use std::io::Write as _;

/// Appends `text` escaped for XML character data: the five specials as named entities,
/// and every character XML 1.0 would alter or refuse as a decimal reference (`&#13;`).
///
/// `\t`, `\n` and `\r` are legal but a parser normalises `\r` away, so all C0 controls
/// are referenced, as AWS documents for keys. The other C0 controls and U+FFFE/U+FFFF
/// are not XML 1.0 characters even as references: strict parsers (expat) refuse them,
/// which is why SDKs list with `encoding-type=url`; AWS sends the references anyway,
/// and so do we rather than lose the key.
pub fn escape_text_into(text: &str, out: &mut Vec<u8>) {
    for c in text.chars() {
        match c {
            '<' => out.extend_from_slice(b"&lt;"),
            '>' => out.extend_from_slice(b"&gt;"),
            '&' => out.extend_from_slice(b"&amp;"),
            '"' => out.extend_from_slice(b"&quot;"),
            '\'' => out.extend_from_slice(b"&apos;"),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => {
                // Writing into a Vec cannot fail.
                let _ = write!(out, "&#{};", u32::from(c));
            }
            c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
}
