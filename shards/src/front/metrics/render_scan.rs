//! The background scanner's series (`object/scan/`), one sample per shard that scans
//! (a shard given no set has none): what it checked and found, and where its cycles
//! are; the index audit's, one sample per shard that owns a drive's listing index. Counts of work restart with the process; cycle counts and times are the
//! persisted position's.

use crate::front::metrics::node::ShardSnapshot;
use crate::front::metrics::render::Exposition;
use crate::object::scan::ScanProgress;

/// A per-shard scanner series: name, type, help, and its value in one shard's figures.
type ScanFamily<'a> = (&'a str, &'a str, &'a str, fn(&ScanProgress) -> f64);

const NANOS_PER_SECOND: f64 = 1e9;

pub(super) fn render_scan(x: &mut Exposition<'_>, shards: &[ShardSnapshot]) {
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    let families: [ScanFamily<'_>; 9] = [
        (
            "shoal_scan_objects_total",
            "counter",
            "objects the scanner checked",
            |p| p.objects_scanned as f64,
        ),
        (
            "shoal_scan_damaged_total",
            "counter",
            "objects the scanner found damaged and queued for healing",
            |p| p.damaged_found as f64,
        ),
        (
            "shoal_scan_unverified_total",
            "counter",
            "objects the scanner could not judge (a member failed); checked again next cycle",
            |p| p.objects_unverified as f64,
        ),
        (
            "shoal_scan_deep_read_bytes_total",
            "counter",
            "chunk bytes read and verified by deep cycles",
            |p| p.deep_bytes_read as f64,
        ),
        (
            "shoal_scan_cycles_total",
            "counter",
            "scanner cycles completed (kept across restarts)",
            |p| p.cycles_completed as f64,
        ),
        (
            "shoal_scan_deep_cycles_total",
            "counter",
            "deep scanner cycles completed (kept across restarts)",
            |p| p.deep_cycles_completed as f64,
        ),
        (
            "shoal_scan_cycle_deep",
            "gauge",
            "1 while the cycle in progress is deep",
            |p| f64::from(u8::from(p.cycle_deep)),
        ),
        (
            "shoal_scan_cycle_started_timestamp_seconds",
            "gauge",
            "when the cycle in progress started (Unix time; 0 between cycles)",
            |p| p.cycle_started_unix_nanos as f64 / NANOS_PER_SECOND,
        ),
        (
            "shoal_scan_last_cycle_duration_seconds",
            "gauge",
            "how long the last completed cycle took",
            |p| p.last_cycle_nanos as f64 / NANOS_PER_SECOND,
        ),
    ];
    render_families(x, shards, &families, |p| p.active);
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    let index_families: [ScanFamily<'_>; 2] = [
        (
            "shoal_scan_index_keys_total",
            "counter",
            "keys of this node's listing indexes compared with their records",
            |p| p.index_keys_audited as f64,
        ),
        (
            "shoal_scan_index_mismatches_total",
            "counter",
            "listing indexes found to disagree with their records (each then rebuilt)",
            |p| p.index_mismatches as f64,
        ),
    ];
    render_families(x, shards, &index_families, |p| p.index_audit_active);
}

/// Each family with one sample per shard for which `has` holds.
fn render_families(
    x: &mut Exposition<'_>,
    shards: &[ShardSnapshot],
    families: &[ScanFamily<'_>],
    has: fn(&ScanProgress) -> bool,
) {
    for (name, kind, help, value) in families {
        x.family(name, kind, help);
        for (index, shard) in shards.iter().enumerate() {
            if has(&shard.scan) {
                x.sample(name, &[("shard", &index.to_string())], value(&shard.scan));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use crate::front::metrics::node::{NodeMetrics, ShardSnapshot, test_facts};
    use crate::front::metrics::process::ProcessStats;
    use crate::front::metrics::render::render;
    use crate::object::scan::ScanProgress;

    const SERVER: &str = r#"server="127.0.0.1:9000""#;

    /// The exposition of a two-shard node where shard `shard` has figures `scan`.
    fn rendered(shard: usize, scan: ScanProgress) -> String {
        let node = NodeMetrics::new(test_facts(), 2, &["/d1".to_owned()]);
        node.publish(
            shard,
            ShardSnapshot {
                scan,
                ..ShardSnapshot::default()
            },
        );
        assert_eq!(node.scan_progress()[shard], scan);
        render(&node, ProcessStats::default(), Instant::now())
    }

    /// Each `(family, shard, value)` is a sample of `text`.
    fn assert_samples(text: &str, samples: &[(&str, usize, &str)]) {
        for (family, shard, value) in samples {
            let line = format!(r#"{family}{{{SERVER},shard="{shard}"}} {value}"#);
            assert!(text.lines().any(|l| l == line), "{line} missing");
        }
    }

    fn has_series(text: &str, family: &str, shard: usize) -> bool {
        text.contains(&format!(r#"{family}{{{SERVER},shard="{shard}"}}"#))
    }

    /// A scanning shard's figures appear under its shard label; a shard that scans
    /// nothing has no series.
    #[test]
    fn scanning_shards_have_series() {
        let text = rendered(
            0,
            ScanProgress {
                active: true,
                objects_scanned: 12,
                damaged_found: 3,
                last_cycle_nanos: 1_500_000_000,
                ..ScanProgress::default()
            },
        );
        assert_samples(
            &text,
            &[
                ("shoal_scan_objects_total", 0, "12"),
                ("shoal_scan_damaged_total", 0, "3"),
                ("shoal_scan_last_cycle_duration_seconds", 0, "1.5"),
            ],
        );
        assert!(!has_series(&text, "shoal_scan_objects_total", 1));
        assert!(!has_series(&text, "shoal_scan_index_keys_total", 0));
    }

    /// The index audit's series follow the shards that own an index, whether or not
    /// they scan a set.
    #[test]
    fn auditing_shards_have_index_series() {
        let text = rendered(
            1,
            ScanProgress {
                index_audit_active: true,
                index_keys_audited: 700,
                index_mismatches: 2,
                ..ScanProgress::default()
            },
        );
        assert_samples(
            &text,
            &[
                ("shoal_scan_index_keys_total", 1, "700"),
                ("shoal_scan_index_mismatches_total", 1, "2"),
            ],
        );
        assert!(!has_series(&text, "shoal_scan_index_keys_total", 0));
        assert!(!has_series(&text, "shoal_scan_objects_total", 1));
    }
}
