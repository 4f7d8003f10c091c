//! `shoal admin info` as text: the server's JSON document laid out for a terminal.

use std::fmt::Write as _;

use serde_json::Value;

/// The text of `info` for the document `doc` from `authority`.
pub fn info(doc: &Value, authority: &str) -> String {
    let mut out = String::new();
    let text = |v: &Value, key: &str| v[key].as_str().unwrap_or("?").to_owned();
    let number = |v: &Value, key: &str| v[key].as_u64().unwrap_or(0);
    let _ = writeln!(out, "Shoal {} at {authority}", text(doc, "version"));
    let _ = writeln!(
        out,
        "  uptime:  {}, region {}, {} shard(s)",
        duration(number(doc, "uptime_s")),
        text(doc, "region"),
        number(doc, "shard_count")
    );
    let _ = writeln!(out, "  drives:");
    for drive in doc["drives"].as_array().into_iter().flatten() {
        let space = match (drive["free_bytes"].as_u64(), drive["total_bytes"].as_u64()) {
            (Some(free), Some(total)) => format!("{} free of {}", bytes(free), bytes(total)),
            _ => "space unknown".to_owned(),
        };
        let state = match drive["reason"].as_str() {
            Some(why) => format!("OFFLINE ({why})"),
            None => text(drive, "state"),
        };
        let _ = writeln!(out, "    {}  {state}, {space}", text(drive, "path"));
    }
    let _ = writeln!(out, "  erasure sets:");
    for set in doc["sets"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "    set {}: {}/{} drives online, {} data + {} parity, read quorum {}, write quorum {}{}",
            number(set, "set"),
            number(set, "online"),
            number(set, "drives"),
            number(set, "data_chunks"),
            number(set, "parity_chunks"),
            number(set, "read_quorum"),
            number(set, "write_quorum"),
            if set["writable"].as_bool() == Some(true) {
                ""
            } else {
                " (NOT WRITABLE)"
            }
        );
        for member in set["members"].as_array().into_iter().flatten() {
            let place = match member["node"].as_str() {
                Some(node) => format!("on {node}"),
                None => "local".to_owned(),
            };
            let _ = writeln!(
                out,
                "      {}  {}, {place}",
                text(member, "drive"),
                shout(text(member, "state"))
            );
        }
    }
    background_work(doc, &mut out);
    let _ = writeln!(out, "  shards:");
    for shard in doc["shards"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "    shard {}: {} connection(s), {} request(s) in flight, {} served, memory {} of {}",
            number(shard, "shard"),
            number(shard, "connections"),
            number(shard, "requests_in_flight"),
            number(shard, "requests_total"),
            bytes(number(shard, "memory_used_bytes")),
            bytes(number(shard, "memory_max_bytes"))
        );
    }
    out
}

/// A heal run's counts (a progress line's or the totals) in one line.
pub fn heal_counts(counts: &Value) -> String {
    let number = |key: &str| counts[key].as_u64().unwrap_or(0);
    let mut out = format!(
        "{} object(s) checked: {} whole, {} healed",
        number("checked"),
        number("healthy"),
        number("healed")
    );
    for (key, label) in [
        ("damaged", "damaged (dry run: not changed)"),
        ("partial", "partly healed"),
        ("unreadable", "unreadable (more lost than parity)"),
        ("failed", "failed"),
        ("gone", "deleted meanwhile"),
    ] {
        if number(key) > 0 {
            let _ = write!(out, ", {} {label}", number(key));
        }
    }
    if number("bytes_written") > 0 {
        let _ = write!(out, "; {} rewritten", bytes(number("bytes_written")));
    }
    if counts["stopped"].as_bool() == Some(true) {
        out.push_str("; stopped early (the server is stopping)");
    }
    out
}

/// `Err` when a heal run left anything damaged, or (a dry run) found damage.
pub fn heal_verdict(totals: &Value) -> Result<(), String> {
    let number = |key: &str| totals[key].as_u64().unwrap_or(0);
    let left = number("damaged") + number("partial") + number("unreadable") + number("failed");
    if totals["stopped"].as_bool() == Some(true) {
        return Err("the heal stopped before it was done (the server is stopping)".to_owned());
    }
    if left > 0 {
        return Err(format!("{left} object(s) are not whole"));
    }
    Ok(())
}

/// Healing's backlog and what it did, the background scanner's progress, and the
/// fills of replaced drives.
fn background_work(doc: &Value, out: &mut String) {
    let number = |v: &Value, key: &str| v[key].as_u64().unwrap_or(0);
    if let Some(backlog) = doc["heal_backlog"].as_u64() {
        let heal = &doc["heal"];
        let _ = writeln!(
            out,
            "  heal backlog: {backlog} object(s) queued for repair; since start {} queued, {} \
             healed, {} found whole, {} failed (retried when met again), {} unreadable",
            number(heal, "queued"),
            number(heal, "healed"),
            number(heal, "healthy"),
            number(heal, "failed"),
            number(heal, "unreadable"),
        );
    }
    let scan = &doc["scan"];
    if scan.is_object() {
        let last_deep = match scan["last_deep_finished_unix_s"].as_u64() {
            Some(0) | None => "none finished yet".to_owned(),
            Some(at) => {
                let now_s = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH))
                    .map_or(at, |now| now.as_secs());
                format!(
                    "the last finished {} ago",
                    duration(now_s.saturating_sub(at))
                )
            }
        };
        let _ = writeln!(
            out,
            "  scanner: {} shard(s) scanning; since start {} object(s) checked, {} damaged \
             (queued for repair), {} not judged (a member did not answer); {} cycle(s) \
             completed, {} deep (every chunk read), {last_deep}",
            number(scan, "shards_scanning"),
            number(scan, "objects_scanned"),
            number(scan, "damaged_found"),
            number(scan, "objects_unverified"),
            number(scan, "cycles_completed"),
            number(scan, "deep_cycles_completed"),
        );
        let _ = writeln!(
            out,
            "  listing indexes: since start {} key(s) compared with their records, {} \
             index(es) found wrong (rebuilt from the records)",
            number(scan, "index_keys_audited"),
            number(scan, "index_mismatches"),
        );
    }
    fills(doc, out);
}

/// One line per replaced drive being filled (or filled since the server started).
fn fills(doc: &Value, out: &mut String) {
    let number = |v: &Value, key: &str| v[key].as_u64().unwrap_or(0);
    for fill in doc["fills"].as_array().into_iter().flatten() {
        if fill["state"].as_str() == Some("queued") {
            let _ = writeln!(
                out,
                "  fill {}: queued (after this shard's other fills; not counted yet); {} \
                 object(s) done so far",
                fill["drive"].as_str().unwrap_or("?"),
                number(fill, "objects_done"),
            );
            continue;
        }
        let eta = match fill["eta_seconds"].as_u64() {
            Some(eta) => format!("ETA {}", duration(eta)),
            None => "ETA unknown".to_owned(),
        };
        let _ = writeln!(
            out,
            "  fill {}: {}; {} of {} object(s) done, {} left; {} of {} MiB done, {} MiB \
             left; {} MiB/s, {} object(s)/s, {eta}; {} failed (left to the heal queue)",
            fill["drive"].as_str().unwrap_or("?"),
            fill["state"].as_str().unwrap_or("?"),
            number(fill, "objects_done"),
            number(fill, "objects_total"),
            number(fill, "objects_left"),
            mib(number(fill, "bytes_done")),
            mib(number(fill, "bytes_total")),
            mib(number(fill, "bytes_left")),
            mib(number(fill, "bytes_per_second")),
            number(fill, "objects_per_second"),
            number(fill, "objects_failed"),
        );
    }
}

/// Bytes in MiB with one decimal.
fn mib(bytes: u64) -> String {
    format!("{}.{}", bytes >> 20, ((bytes & ((1 << 20) - 1)) * 10) >> 20)
}

/// A member's state, in capitals unless it is online (as offline drives are above).
fn shout(state: String) -> String {
    if state == "online" {
        state
    } else {
        state.to_uppercase()
    }
}

/// `1d 2h 3m 4s`, leading zero units left out.
fn duration(secs: u64) -> String {
    let parts = [
        (secs / 86_400, "d"),
        (secs / 3600 % 24, "h"),
        (secs / 60 % 60, "m"),
    ];
    let mut out = String::new();
    for (value, unit) in parts {
        if value > 0 || !out.is_empty() {
            let _ = write!(out, "{value}{unit} ");
        }
    }
    let _ = write!(out, "{}s", secs % 60);
    out
}

/// Bytes in binary units with one decimal (`12.5 GiB`).
fn bytes(count: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = count as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{count} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Durations and sizes read as an operator expects.
    #[test]
    fn units_are_human() {
        assert_eq!(duration(59), "59s");
        assert_eq!(duration(3661), "1h 1m 1s");
        assert_eq!(duration(90_000), "1d 1h 0m 0s");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 << 29), "1.5 GiB");
    }
}
