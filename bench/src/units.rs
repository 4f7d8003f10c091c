//! Sizes on the command line: a byte count with an optional binary suffix
//! (`B`, `KiB`, `MiB`, `GiB`), e.g. `1MiB`, `512KiB`, `4096`.

/// Parses `text` into bytes; errors name what was wrong (clap prints them).
pub fn parse_size_bytes(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(digits_end);
    let number: usize = number
        .parse()
        .map_err(|_| format!("`{text}`: expected a number like 1MiB or 4096"))?;
    let multiplier: usize = match suffix.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        other => return Err(format!("`{other}`: unknown unit (use B, KiB, MiB or GiB)")),
    };
    number
        .checked_mul(multiplier)
        .filter(|bytes| *bytes > 0)
        .ok_or_else(|| format!("`{text}`: must be between 1 byte and usize::MAX"))
}

/// `bytes` in the largest binary unit that divides it, e.g. `128 KiB`, or `87382 B`.
pub fn format_size(bytes: usize) -> String {
    for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{} {unit}", bytes >> shift);
        }
    }
    format!("{bytes} B")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Suffixes scale, plain numbers are bytes, nonsense is refused.
    #[test]
    fn parses_sizes() {
        assert_eq!(parse_size_bytes("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size_bytes("512KiB"), Ok(512 << 10));
        assert_eq!(parse_size_bytes("4096"), Ok(4096));
        assert_eq!(parse_size_bytes("2 GiB"), Ok(2 << 30));
        assert!(parse_size_bytes("1MB").is_err());
        assert!(parse_size_bytes("MiB").is_err());
        assert!(parse_size_bytes("0").is_err());
    }

    /// Formatting picks the largest exact unit.
    #[test]
    fn formats_sizes() {
        assert_eq!(format_size(128 << 10), "128 KiB");
        assert_eq!(format_size(87_382), "87382 B");
        assert_eq!(format_size(1 << 20), "1 MiB");
    }
}
