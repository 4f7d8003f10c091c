//! Sizes and durations on the command line, humanized as warp takes them.
//!
//! Sizes: a byte count with an optional suffix, binary (`KiB`, `MiB`, `GiB`) or decimal
//! (`KB`, `MB`, `GB`), e.g. `10MiB`, `4KB`, `4096`. Durations: one or more
//! number+unit groups (`ms`, `s`, `m`, `h`), e.g. `10s`, `5m`, `1m30s`, `500ms`.

use std::time::Duration;

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
        "KiB" | "k" | "Ki" => 1 << 10,
        "MiB" | "Mi" => 1 << 20,
        "GiB" | "Gi" => 1 << 30,
        "KB" | "kB" | "K" => 1_000,
        "MB" | "M" => 1_000_000,
        "GB" | "G" => 1_000_000_000,
        other => {
            return Err(format!(
                "`{other}`: unknown unit (use B, KiB, MiB, GiB, KB, MB or GB)"
            ));
        }
    };
    number
        .checked_mul(multiplier)
        .filter(|bytes| *bytes > 0)
        .ok_or_else(|| format!("`{text}`: must be between 1 byte and usize::MAX"))
}

/// Parses `10s`, `5m`, `1m30s`, `500ms`, `1h`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).map_err(|e| format!("`{text}`: {e}"));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("`{text}`: missing unit (ms, s, m or h)"))?;
        let unit_end = rest[number_end..]
            .find(|c: char| c.is_ascii_digit())
            .map_or(rest.len(), |i| number_end + i);
        let number: f64 = rest[..number_end]
            .parse()
            .map_err(|_| format!("`{text}`: expected a duration like 10s or 5m"))?;
        let unit_secs = match &rest[number_end..unit_end] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            other => return Err(format!("`{other}`: unknown unit (use ms, s, m or h)")),
        };
        total += Duration::try_from_secs_f64(number * unit_secs)
            .map_err(|e| format!("`{text}`: {e}"))?;
        rest = &rest[unit_end..];
    }
    if total.is_zero() {
        return Err(format!("`{text}`: must be longer than zero"));
    }
    Ok(total)
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
        assert_eq!(parse_size_bytes("1MB"), Ok(1_000_000));
        assert_eq!(parse_size_bytes("4KB"), Ok(4_000));
        assert!(parse_size_bytes("1XB").is_err());
        assert!(parse_size_bytes("MiB").is_err());
        assert!(parse_size_bytes("0").is_err());
    }

    /// Durations add up their groups; a bare number is seconds; nonsense is refused.
    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_mins(5)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("0s").is_err());
    }

    /// Formatting picks the largest exact unit.
    #[test]
    fn formats_sizes() {
        assert_eq!(format_size(128 << 10), "128 KiB");
        assert_eq!(format_size(87_382), "87382 B");
        assert_eq!(format_size(1 << 20), "1 MiB");
    }
}
