//! Calendar arithmetic for the date formats on the S3 wire: ISO 8601 basic
//! (`20130524T000000Z`, SigV4), IMF-fixdate (`Fri, 24 May 2013 00:00:00 GMT`, HTTP),
//! RFC 1123/2822 with a numeric zone (`Tue, 27 Mar 2007 19:36:42 +0000`, or `-0000` as
//! Python's `email.utils.formatdate` writes it, which SigV2 clients such as s3cmd and
//! the AWS SigV2 examples put in `Date`), and the two obsolete forms RFC 7231 §7.1.1.1
//! obliges a recipient to accept: RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`; a
//! two-digit year below 70 is 20yy, otherwise 19yy) and asctime
//! (`Sun Nov  6 08:49:37 1994`).
//!
//! Invariants: this file never reads a clock; every instant is unix seconds (UTC, no
//! leap seconds) passed in by the caller. Parsers accept exactly the fixed-width
//! format, reject out-of-range fields, and never panic on any input.

const DAY_NAMES: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
/// In the order of [`DAY_NAMES`] (1970-01-01 was a Thursday).
const DAY_NAMES_FULL: [&str; 7] = [
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
];
const MONTH_NAMES: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const SECONDS_PER_DAY: i64 = 86_400;

/// A UTC calendar date and time of day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[allow(clippy::cast_sign_loss)] // day (1..=31) and month (1..=12) are positive by construction
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl DateTime {
    pub fn from_unix_secs(unix_secs: i64) -> DateTime {
        let days = unix_secs.div_euclid(SECONDS_PER_DAY);
        let secs = unix_secs.rem_euclid(SECONDS_PER_DAY) as u32;
        let (year, month, day) = civil_from_days(days);
        DateTime {
            year,
            month,
            day,
            hour: secs / 3600,
            minute: secs / 60 % 60,
            second: secs % 60,
        }
    }

    pub fn to_unix_secs(self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * SECONDS_PER_DAY
            + i64::from(self.hour * 3600 + self.minute * 60 + self.second)
    }

    fn is_valid(self) -> bool {
        (1..=12).contains(&self.month)
            && (1..=days_in_month(self.year, self.month)).contains(&self.day)
            && self.hour < 24
            && self.minute < 60
            && self.second < 60
    }
}

/// Parses a run of ASCII digits of exactly the slice's length.
fn digits(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() || bytes.len() > 9 {
        return None;
    }
    bytes.iter().try_fold(0u32, |acc, b| {
        b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
    })
}

/// `20130524T000000Z` → unix seconds.
pub fn parse_amz_date(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 16 || b.get(8) != Some(&b'T') || b.get(15) != Some(&b'Z') {
        return None;
    }
    let dt = DateTime {
        year: i64::from(digits(b.get(0..4)?)?),
        month: digits(b.get(4..6)?)?,
        day: digits(b.get(6..8)?)?,
        hour: digits(b.get(9..11)?)?,
        minute: digits(b.get(11..13)?)?,
        second: digits(b.get(13..15)?)?,
    };
    dt.is_valid().then(|| dt.to_unix_secs())
}

/// Unix seconds → `20130524T000000Z`.
pub fn format_amz_date(unix_secs: i64) -> String {
    let t = DateTime::from_unix_secs(unix_secs);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

/// `Fri, 24 May 2013 00:00:00 GMT` → unix seconds. The day name is checked against
/// the date, as a mismatch means the client formatted something else.
pub fn parse_imf_fixdate(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 29 || b.get(3..5)? != b", " || b.get(25..29)? != b" GMT" {
        return None;
    }
    let month_name = text.get(8..11)?;
    let month = MONTH_NAMES.iter().position(|m| *m == month_name)? as u32 + 1;
    if b.get(7) != Some(&b' ') || b.get(11) != Some(&b' ') || b.get(16) != Some(&b' ') {
        return None;
    }
    if b.get(19) != Some(&b':') || b.get(22) != Some(&b':') {
        return None;
    }
    let dt = DateTime {
        year: i64::from(digits(b.get(12..16)?)?),
        month,
        day: digits(b.get(5..7)?)?,
        hour: digits(b.get(17..19)?)?,
        minute: digits(b.get(20..22)?)?,
        second: digits(b.get(23..25)?)?,
    };
    if !dt.is_valid() {
        return None;
    }
    let unix_secs = dt.to_unix_secs();
    (day_name(unix_secs) == text.get(0..3)?).then_some(unix_secs)
}

/// An HTTP date as SigV2 clients send it → unix seconds: IMF-fixdate, the same layout
/// with a numeric `+hhmm`/`-hhmm` zone instead of `GMT`, RFC 850 or asctime (see the
/// file comment). The day name is checked against the local date, the one the client
/// formatted.
pub fn parse_http_date(text: &str) -> Option<i64> {
    if let Some(unix_secs) = parse_imf_fixdate(text) {
        return Some(unix_secs);
    }
    parse_numeric_zone_date(text)
        .or_else(|| parse_rfc850_date(text))
        .or_else(|| parse_asctime_date(text))
}

/// `Tue, 27 Mar 2007 19:36:42 +0000` (any `+hhmm`/`-hhmm` zone) → unix seconds.
fn parse_numeric_zone_date(text: &str) -> Option<i64> {
    let zone = text.get(25..)?.as_bytes();
    let (b' ', sign, hh, mm) = (zone.first()?, zone.get(1)?, zone.get(2..4)?, zone.get(4..)?)
    else {
        return None;
    };
    let sign = match sign {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (hours, minutes) = (digits(hh)?, digits(mm)?);
    if mm.len() != 2 || hours > 23 || minutes > 59 {
        return None;
    }
    let local_unix_secs = parse_imf_fixdate(&format!("{} GMT", text.get(..25)?))?;
    Some(local_unix_secs - sign * i64::from(hours * 3600 + minutes * 60))
}

/// `Sunday, 06-Nov-94 08:49:37 GMT` → unix seconds (RFC 850, obsolete but still
/// required of recipients). Rewritten as IMF-fixdate, which checks every field.
fn parse_rfc850_date(text: &str) -> Option<i64> {
    let (day_full, rest) = text.split_once(", ")?;
    let day_index = DAY_NAMES_FULL.iter().position(|d| *d == day_full)?;
    let b = rest.as_bytes();
    if b.len() != 22 || b.get(2) != Some(&b'-') || b.get(6) != Some(&b'-') {
        return None;
    }
    if b.get(9) != Some(&b' ') || rest.get(18..)? != " GMT" {
        return None;
    }
    let year_2 = digits(b.get(7..9)?)?;
    let year = if year_2 < 70 {
        2000 + year_2
    } else {
        1900 + year_2
    };
    let (day, month, time) = (rest.get(0..2)?, rest.get(3..6)?, rest.get(10..18)?);
    let abbreviation = DAY_NAMES.get(day_index)?;
    parse_imf_fixdate(&format!("{abbreviation}, {day} {month} {year} {time} GMT"))
}

/// `Sun Nov  6 08:49:37 1994` → unix seconds (C's asctime, day padded with a space).
fn parse_asctime_date(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 24 || b.get(3) != Some(&b' ') || b.get(7) != Some(&b' ') {
        return None;
    }
    if b.get(10) != Some(&b' ') || b.get(19) != Some(&b' ') {
        return None;
    }
    let day = match b.get(8..10)? {
        [b' ', d] if d.is_ascii_digit() => format!("0{}", char::from(*d)),
        _ => text.get(8..10)?.to_owned(),
    };
    let (name, month, time, year) = (
        text.get(0..3)?,
        text.get(4..7)?,
        text.get(11..19)?,
        text.get(20..24)?,
    );
    parse_imf_fixdate(&format!("{name}, {day} {month} {year} {time} GMT"))
}

fn day_name(unix_secs: i64) -> &'static str {
    let index = unix_secs.div_euclid(SECONDS_PER_DAY).rem_euclid(7) as usize;
    DAY_NAMES.get(index).copied().unwrap_or("Thu")
}

/// Unix seconds → `Fri, 24 May 2013 00:00:00 GMT`, appended to `out`.
pub fn format_imf_fixdate(unix_secs: i64, out: &mut String) {
    use std::fmt::Write as _;
    let t = DateTime::from_unix_secs(unix_secs);
    let month = MONTH_NAMES
        .get(t.month as usize - 1)
        .copied()
        .unwrap_or("Jan");
    // Writing into a String cannot fail.
    let _ = write!(
        out,
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        day_name(unix_secs),
        t.day,
        month,
        t.year,
        t.hour,
        t.minute,
        t.second
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAY_24_2013: i64 = 1_369_353_600;

    #[test]
    fn amz_date_round_trips_the_aws_example_instant() {
        // The SigV4 examples are all signed at this instant.
        assert_eq!(parse_amz_date("20130524T000000Z"), Some(MAY_24_2013));
        assert_eq!(format_amz_date(MAY_24_2013), "20130524T000000Z");
        assert_eq!(parse_amz_date("20000229T235959Z"), Some(951_868_799));
    }

    #[test]
    fn imf_fixdate_round_trips() {
        // HTTP Date headers in both directions use this one format.
        let mut s = String::new();
        format_imf_fixdate(MAY_24_2013, &mut s);
        assert_eq!(s, "Fri, 24 May 2013 00:00:00 GMT");
        assert_eq!(parse_imf_fixdate(&s), Some(MAY_24_2013));
        let mut epoch = String::new();
        format_imf_fixdate(0, &mut epoch);
        assert_eq!(epoch, "Thu, 01 Jan 1970 00:00:00 GMT");
    }

    #[test]
    fn malformed_dates_are_rejected() {
        // Out-of-range fields must not wrap into a different, valid instant.
        for bad in [
            "20130230T000000Z",
            "20131324T000000Z",
            "20130524T240000Z",
            "2013052T000000Z",
            "20130524 000000Z",
            "２0130524T000000Z",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
        assert_eq!(parse_imf_fixdate("Sat, 24 May 2013 00:00:00 GMT"), None);
        assert_eq!(parse_imf_fixdate("Fri, 24 Mai 2013 00:00:00 GMT"), None);
        for bad in [
            "Tue, 27 Mar 2007 19:36:42 +000",
            "Tue, 27 Mar 2007 19:36:42 +00000",
            "Tue, 27 Mar 2007 19:36:42 *0000",
            "Tue, 27 Mar 2007 19:36:42 +2400",
            "Tue, 27 Mar 2007 19:36:42 +0060",
            "Tue, 27 Mar 2007 19:36:42 0000",
            "Wed, 27 Mar 2007 19:36:42 +0000",
            "Tue, 27 Mar 2007 19:36:42 +0é",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn http_dates_with_numeric_zones_are_instants() {
        // SigV2 examples write `+0000`; other offsets shift to UTC, GMT still works.
        assert_eq!(
            parse_http_date("Tue, 27 Mar 2007 19:36:42 +0000"),
            Some(1_175_024_202)
        );
        assert_eq!(
            parse_http_date("Tue, 27 Mar 2007 21:36:42 +0200"),
            Some(1_175_024_202)
        );
        assert_eq!(
            parse_http_date("Tue, 27 Mar 2007 14:06:42 -0530"),
            Some(1_175_024_202)
        );
        assert_eq!(
            parse_http_date("Fri, 24 May 2013 00:00:00 GMT"),
            Some(MAY_24_2013)
        );
    }

    #[test]
    fn every_rfc_7231_date_form_is_an_instant() {
        // RFC 7231 obliges recipients to accept all three forms, and SigV2 clients
        // send `-0000` (Python's formatdate) as often as `+0000` or `GMT`.
        const NOV_6_1994: i64 = 784_111_777;
        for text in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 -0000",
            "Sun, 06 Nov 1994 08:49:37 +0000",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse_http_date(text), Some(NOV_6_1994), "{text}");
        }
        assert_eq!(
            parse_http_date("Thursday, 01-Jan-26 00:00:00 GMT"),
            Some(1_767_225_600)
        );
        assert_eq!(
            parse_http_date("Fri Dec 31 23:59:59 1999"),
            Some(946_684_799)
        );
        for bad in [
            "Monday, 06-Nov-94 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 UTC",
            "Sunday, 6-Nov-94 08:49:37 GMT",
            "Sunday, 06-Nov-1994 08:49:37 GMT",
            "Sun Nov 6 08:49:37 1994",
            "Mon Nov  6 08:49:37 1994",
            "Sun Nov  6 08:49:37 94",
            "Sun Nov 0x 08:49:37 1994",
            "Sun Nov  6 08:49:37 +994",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_day_of_four_centuries_round_trips() {
        // The civil/days conversions are exact inverses across leap-year rules.
        let mut day = days_from_civil(1900, 1, 1);
        while day < days_from_civil(2300, 1, 1) {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
            day += 1;
        }
    }
}
