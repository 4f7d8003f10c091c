//! The Prometheus text exposition (format 0.0.4) of a node's metrics: the contract is
//! docs/metrics.md, name by name.
//!
//! Invariants: every series carries `server`; counters kept per shard are summed here
//! (only `shoal_node_shard_*` keeps `shard`); histogram and distribution buckets are
//! cumulative and end with `+Inf`; label values are escaped; a family is written once
//! (`# HELP`, `# TYPE`, then its samples). Runs only when scraped, never on the S3 path.

use std::fmt::Write;
use std::time::Instant;

use crate::front::metrics::node::NodeMetrics;
use crate::front::metrics::process::ProcessStats;
use crate::front::metrics::render_node::{
    render_drive_errors, render_drive_latency, render_drives, render_process, render_sets,
    render_shards,
};
use crate::front::metrics::requests::{
    CANCELED, CELLS, DURATION, DURATION_SUM_MICROS, ERRORS_4XX, ERRORS_5XX, INFLIGHT,
    LATENCY_BOUNDS_MICROS, LATENCY_BUCKETS, RECEIVED_BYTES, REFUSED, REQUESTS, SENT_BYTES, STATUS,
    STATUS_SLOTS, STATUSES, TTFB,
};
use crate::front::observe::API_NAMES;

/// The content type Prometheus expects for this format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Writes families and samples, each sample labelled with the node's `server`.
pub(super) struct Exposition<'a> {
    out: String,
    server: &'a str,
}

impl Exposition<'_> {
    pub(super) fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    pub(super) fn sample(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        value: impl std::fmt::Display,
    ) {
        let _ = write!(self.out, "{name}{{server=\"{}\"", escape(self.server));
        for (label, text) in labels {
            let _ = write!(self.out, ",{label}=\"{}\"", escape(text));
        }
        let _ = writeln!(self.out, "}} {value}");
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(text: &str) -> String {
    text.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

/// The exposition of `node`, with this scrape's process figures.
pub fn render(node: &NodeMetrics, process: ProcessStats, now: Instant) -> String {
    let shards = node.shard_snapshots();
    let mut total = vec![0u64; CELLS];
    for shard in &shards {
        for (sum, cell) in total.iter_mut().zip(shard.cells.iter()) {
            *sum = sum.wrapping_add(*cell);
        }
    }
    let mut x = Exposition {
        out: String::with_capacity(64 << 10),
        server: &node.facts.server,
    };
    render_requests(&mut x, &total);
    render_latency(&mut x, &total);
    render_drives(&mut x, node, now);
    render_drive_errors(&mut x, node, &shards);
    render_drive_latency(&mut x, node, &shards);
    render_sets(&mut x, node, now);
    render_shards(&mut x, node, &shards, &total);
    render_process(&mut x, node, process, now);
    crate::front::metrics::render_scan::render_scan(&mut x, &shards);
    crate::front::metrics::render_fill::render_fill(&mut x, &shards);
    x.out
}

/// A per-API counter family from cells of `family`, APIs with no requests left out.
fn per_api(x: &mut Exposition<'_>, total: &[u64], name: &str, kind: &str, help: &str, at: usize) {
    x.family(name, kind, help);
    for (api, api_name) in API_NAMES.iter().enumerate() {
        if total[REQUESTS.at(api)] > 0 || total[INFLIGHT.at(api)] > 0 {
            x.sample(name, &[("api", api_name)], total[at + api]);
        }
    }
}

fn render_requests(x: &mut Exposition<'_>, total: &[u64]) {
    per_api(
        x,
        total,
        "minio_s3_requests_total",
        "counter",
        "S3 requests answered",
        REQUESTS.offset,
    );
    x.family(
        "minio_s3_requests_errors_total",
        "counter",
        "requests answered with 4xx or 5xx",
    );
    for (api, name) in API_NAMES.iter().enumerate() {
        if total[REQUESTS.at(api)] > 0 {
            let errors = total[ERRORS_4XX.at(api)] + total[ERRORS_5XX.at(api)];
            x.sample("minio_s3_requests_errors_total", &[("api", name)], errors);
        }
    }
    let families = [
        (
            "minio_s3_requests_4xx_errors_total",
            "counter",
            "requests answered with 4xx",
            ERRORS_4XX.offset,
        ),
        (
            "minio_s3_requests_5xx_errors_total",
            "counter",
            "requests answered with 5xx",
            ERRORS_5XX.offset,
        ),
        (
            "minio_s3_requests_canceled_total",
            "counter",
            "requests whose client went away before the answer",
            CANCELED.offset,
        ),
        (
            "minio_s3_requests_inflight_total",
            "gauge",
            "requests being served now",
            INFLIGHT.offset,
        ),
    ];
    for (name, kind, help, offset) in families {
        per_api(x, total, name, kind, help, offset);
    }
    let refusals = [
        (
            "minio_s3_requests_rejected_auth_total",
            "requests refused by authentication",
        ),
        (
            "minio_s3_requests_rejected_timestamp_total",
            "requests refused for their date or an expired presign",
        ),
        (
            "minio_s3_requests_rejected_header_total",
            "requests refused for a malformed or oversized head",
        ),
        (
            "minio_s3_requests_rejected_invalid_total",
            "requests refused as invalid before reaching an operation",
        ),
    ];
    for (slot, (name, help)) in refusals.iter().enumerate() {
        x.family(name, "counter", help);
        x.sample(name, &[], total[REFUSED.at(slot)]);
    }
    let name = "shoal_s3_requests_status_total";
    x.family(name, "counter", "requests by API and HTTP status code");
    for (api, api_name) in API_NAMES.iter().enumerate() {
        for slot in 0..STATUS_SLOTS {
            let count = total[STATUS.at(api * STATUS_SLOTS + slot)];
            if count > 0 {
                let code = STATUSES
                    .get(slot)
                    .map_or("other".to_owned(), u16::to_string);
                x.sample(name, &[("api", api_name), ("status", &code)], count);
            }
        }
    }
    x.family(
        "minio_s3_traffic_received_bytes",
        "counter",
        "S3 bytes received (heads and bodies)",
    );
    x.sample(
        "minio_s3_traffic_received_bytes",
        &[],
        total[RECEIVED_BYTES.offset],
    );
    x.family(
        "minio_s3_traffic_sent_bytes",
        "counter",
        "S3 bytes sent (heads and bodies)",
    );
    x.sample("minio_s3_traffic_sent_bytes", &[], total[SENT_BYTES.offset]);
}

fn render_latency(x: &mut Exposition<'_>, total: &[u64]) {
    let ttfb = "minio_s3_requests_ttfb_seconds_distribution";
    x.family(
        ttfb,
        "counter",
        "time from the request head to the first response byte",
    );
    let duration = "shoal_s3_requests_duration_seconds";
    for (api, api_name) in API_NAMES.iter().enumerate() {
        if total[REQUESTS.at(api)] > 0 {
            cumulative(
                x,
                ttfb,
                api_name,
                &total[TTFB.at(api * LATENCY_BUCKETS)..][..LATENCY_BUCKETS],
            );
        }
    }
    x.family(
        duration,
        "histogram",
        "time from the request head to the last response byte",
    );
    let bucket = format!("{duration}_bucket");
    for (api, api_name) in API_NAMES.iter().enumerate() {
        if total[REQUESTS.at(api)] == 0 {
            continue;
        }
        let counts = &total[DURATION.at(api * LATENCY_BUCKETS)..][..LATENCY_BUCKETS];
        let count = cumulative(x, &bucket, api_name, counts);
        let sum_seconds = total[DURATION_SUM_MICROS.at(api)] as f64 / 1e6;
        x.sample(
            &format!("{duration}_sum"),
            &[("api", api_name)],
            sum_seconds,
        );
        x.sample(&format!("{duration}_count"), &[("api", api_name)], count);
    }
}

/// Writes cumulative bucket samples `le` for one API; returns the total count.
fn cumulative(x: &mut Exposition<'_>, name: &str, api: &str, counts: &[u64]) -> u64 {
    let mut running = 0;
    for (i, count) in counts.iter().enumerate() {
        running += count;
        let le = LATENCY_BOUNDS_MICROS
            .get(i)
            .map_or("+Inf".to_owned(), |micros| {
                (*micros as f64 / 1e6).to_string()
            });
        x.sample(name, &[("api", api), ("le", &le)], running);
    }
    running
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::front::metrics::node::{NodeFacts, ShardSnapshot};
    use crate::front::metrics::requests::RequestMetrics;
    use crate::front::observe::{Api, Exchange, RequestRecord};

    fn node() -> std::sync::Arc<NodeMetrics> {
        let facts = NodeFacts {
            commit: "a\"b".to_owned(),
            connections_limit: 8,
            ..crate::front::metrics::node::test_facts()
        };
        let names: Vec<String> = (1..=4).map(|i| format!("/d{i}")).collect();
        NodeMetrics::new(facts, 2, &names)
    }

    /// Two shards' counters are summed per API, buckets are cumulative to `+Inf`, every
    /// sample carries `server`, and label values are escaped.
    #[test]
    fn exposition_sums_shards_and_is_well_formed() {
        let node = node();
        for shard in 0..2 {
            let metrics = RequestMetrics::default();
            let start = monoio::time::Instant::now();
            let mut record = RequestRecord::new("id", &Exchange::begin(start, 10), start);
            record.api = Api::of(&shoal_http::Operation::GetObject);
            record.status = 404;
            record.duration = std::time::Duration::from_millis(3 + shard * 100);
            metrics.record(&record);
            let cells = metrics.snapshot();
            node.publish(
                shard as usize,
                ShardSnapshot {
                    cells,
                    group_commit: (shard + 1, 8 * (shard + 1)),
                    ..ShardSnapshot::default()
                },
            );
        }
        let text = render(&node, ProcessStats::default(), Instant::now());
        let has = |line: &str| text.lines().any(|l| l == line);
        let server = r#"server="127.0.0.1:9000""#;
        assert!(
            has(&format!(
                r#"minio_s3_requests_total{{{server},api="GetObject"}} 2"#
            )),
            "{text}"
        );
        assert!(has(&format!(
            r#"shoal_s3_requests_status_total{{{server},api="GetObject",status="404"}} 2"#
        )));

        assert!(has(&format!(
            r#"minio_s3_requests_4xx_errors_total{{{server},api="GetObject"}} 2"#
        )));
        assert!(has(&format!(
            r#"shoal_s3_requests_duration_seconds_bucket{{{server},api="GetObject",le="0.005"}} 1"#
        )));
        assert!(has(&format!(
            r#"shoal_s3_requests_duration_seconds_bucket{{{server},api="GetObject",le="+Inf"}} 2"#
        )));
        assert!(has(&format!(
            r#"shoal_s3_requests_duration_seconds_count{{{server},api="GetObject"}} 2"#
        )));
        assert!(has(&format!(
            r#"minio_software_commit_info{{{server},commit="a\"b"}} 1"#
        )));
        assert!(has(&format!(
            r#"shoal_node_shard_requests_total{{{server},shard="1"}} 1"#
        )));
        assert!(has(&format!(
            r#"shoal_node_shard_drive_flushes_total{{{server},shard="1"}} 2"#
        )));
        assert!(has(&format!(
            r#"shoal_node_shard_drive_flush_waits_total{{{server},shard="1"}} 16"#
        )));
        assert!(has(&format!("minio_cluster_health_status{{{server}}} 1")));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (series, value) = line.rsplit_once(' ').expect("a value");
            assert!(series.contains(server), "{line}");
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
        let types = text.lines().filter(|l| l.starts_with("# TYPE ")).count();
        let names: std::collections::HashSet<_> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .collect();
        assert_eq!(types, names.len(), "each family once");
    }

    /// Drive errors, bitrot and waiting requests are summed over shards per drive, and
    /// a verb's latency is the mean of every shard's calls; verbs not called have none.
    #[test]
    fn drive_counts_sum_over_shards() {
        use crate::member::latency::VerbTotal;
        use crate::member::{HealthCounts, Verb};
        let node = node();
        for shard in 0..2 {
            let mut latency = vec![VerbTotal::default(); Verb::ALL.len()];
            latency[Verb::ReadMeta.index()] = VerbTotal {
                sum_nanos: 1_000_000 * (shard + 1),
                count: shard + 1,
            };
            let second = HealthCounts {
                io_errors: 2,
                bitrot: shard,
                latency,
                ..HealthCounts::default()
            };
            let drives = vec![HealthCounts::default(), second];
            let snapshot = ShardSnapshot {
                requests_waiting: 3,
                drives,
                ..ShardSnapshot::default()
            };
            node.publish(shard as usize, snapshot);
        }
        let text = render(&node, ProcessStats::default(), Instant::now());
        let has = |line: &str| text.lines().any(|l| l == line);
        let server = r#"server="127.0.0.1:9000""#;
        let d2 = r#"drive="/d2""#;
        for line in [
            format!("minio_node_drive_errors_ioerror{{{server},{d2}}} 4"),
            format!(r#"minio_node_drive_errors_ioerror{{{server},drive="/d1"}} 0"#),
            format!("shoal_node_drive_bitrot_errors_total{{{server},{d2}}} 1"),
            format!("minio_node_drive_errors_availability{{{server},{d2}}} 0"),
            format!(r#"minio_node_drive_latency_us{{{server},{d2},api="ReadMeta"}} 1000"#),
            format!("minio_s3_requests_waiting_total{{{server}}} 6"),
        ] {
            assert!(has(&line), "{line} in\n{text}");
        }
        let latency_series = text
            .lines()
            .filter(|l| l.starts_with("minio_node_drive_latency_us{"))
            .count();
        assert_eq!(latency_series, 1, "only the verb called");
    }
}
