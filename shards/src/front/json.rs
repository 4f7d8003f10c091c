//! A small JSON writer for the documents the front writes itself (audit log lines, admin
//! answers, trace lines): objects of strings, numbers, booleans and nested objects,
//! appended to a caller's buffer, no allocation of its own.
//!
//! Invariants: the output is always valid JSON on one line. Every string is escaped:
//! `"` and `\` with a backslash, every control character (C0, DEL, C1) as `\u00XX`
//! (or `\n`, `\r`, `\t`), U+2028/U+2029 as `\u2028`/`\u2029` (so a line
//! stays one line for any reader); other characters pass through as UTF-8.

use std::fmt::Write as _;

/// One JSON object being written into `out`; closed by [`JsonObject::finish`].
pub struct JsonObject<'a> {
    out: &'a mut String,
    empty: bool,
}

impl<'a> JsonObject<'a> {
    pub fn new(out: &'a mut String) -> Self {
        out.push('{');
        Self { out, empty: true }
    }

    fn key(&mut self, key: &str) {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        write_string(self.out, key);
        self.out.push(':');
    }

    pub fn string(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key);
        write_string(self.out, value);
        self
    }

    pub fn number(&mut self, key: &str, value: u64) -> &mut Self {
        self.key(key);
        let _ = write!(self.out, "{value}");
        self
    }

    /// A non-negative decimal with `decimals` digits after the point (milliseconds of a
    /// duration given in microseconds, say).
    pub fn fixed(&mut self, key: &str, value: u64, divisor: u64, decimals: usize) -> &mut Self {
        self.key(key);
        let divisor = divisor.max(1);
        let fraction = value % divisor;
        let scale = 10u64.pow(u32::try_from(decimals).unwrap_or(0));
        let shown = fraction * scale / divisor;
        let _ = write!(self.out, "{}.{shown:0decimals$}", value / divisor);
        self
    }

    pub fn boolean(&mut self, key: &str, value: bool) -> &mut Self {
        self.key(key);
        self.out.push_str(if value { "true" } else { "false" });
        self
    }

    /// A nested object filled by `fill`.
    pub fn object(&mut self, key: &str, fill: impl FnOnce(&mut JsonObject<'_>)) -> &mut Self {
        self.key(key);
        let mut inner = JsonObject::new(self.out);
        fill(&mut inner);
        inner.finish();
        self
    }

    /// An array of objects, one filled by `fill` per item.
    pub fn array<T>(
        &mut self,
        key: &str,
        items: impl IntoIterator<Item = T>,
        mut fill: impl FnMut(&mut JsonObject<'_>, T),
    ) -> &mut Self {
        self.key(key);
        self.out.push('[');
        for (index, item) in items.into_iter().enumerate() {
            if index > 0 {
                self.out.push(',');
            }
            let mut inner = JsonObject::new(self.out);
            fill(&mut inner, item);
            inner.finish();
        }
        self.out.push(']');
        self
    }

    pub fn finish(self) {
        self.out.push('}');
    }
}

/// Appends `text` as a JSON string literal.
pub fn write_string(out: &mut String, text: &str) {
    out.push('"');
    let mut plain_from = 0;
    for (at, c) in text.char_indices() {
        let escaped = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            '\u{2028}' => "\\u2028",
            '\u{2029}' => "\\u2029",
            c if c.is_control() => "",
            _ => continue,
        };
        out.push_str(&text[plain_from..at]);
        if escaped.is_empty() {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push_str(escaped);
        }
        plain_from = at + c.len_utf8();
    }
    out.push_str(&text[plain_from..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(text: &str) -> String {
        let mut out = String::new();
        write_string(&mut out, text);
        out
    }

    /// Quotes, backslashes, newlines and other control bytes are escaped; non-ASCII
    /// passes through; the result is one line.
    #[test]
    fn strings_are_escaped() {
        assert_eq!(string(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(string("line\nnext\r\tend"), r#""line\nnext\r\tend""#);
        assert_eq!(
            string("nul\0esc\x1bdel\x7f"),
            r#""nul\u0000esc\u001bdel\u007f""#
        );
        assert_eq!(string("été/日本/🦀"), "\"été/日本/🦀\"");
        assert_eq!(string("a\u{2028}b\u{2029}"), r#""a\u2028b\u2029""#);
        assert_eq!(string("c1\u{85}"), r#""c1\u0085""#);
        assert_eq!(string(""), r#""""#);
        for text in ["x\ny", "\u{2028}", "\u{85}"] {
            assert!(!string(text).contains('\n') && !string(text).contains('\u{2028}'));
        }
    }

    /// Objects nest, separate members with commas, and numbers print as decimals.
    #[test]
    fn objects_nest() {
        let mut out = String::new();
        let mut object = JsonObject::new(&mut out);
        object
            .string("key", "a\"b")
            .number("n", 42)
            .fixed("ms", 12_345, 1000, 3)
            .fixed("small", 7, 1000, 3)
            .boolean("ok", false)
            .object("api", |api| {
                api.string("name", "GetObject");
            })
            .object("empty", |_| {})
            .array("list", [1u64, 2], |item, n| {
                item.number("n", n);
            });
        object.finish();
        assert_eq!(
            out,
            r#"{"key":"a\"b","n":42,"ms":12.345,"small":0.007,"ok":false,"api":{"name":"GetObject"},"empty":{},"list":[{"n":1},{"n":2}]}"#
        );
    }
}
