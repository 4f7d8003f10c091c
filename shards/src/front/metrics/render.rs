//! The Prometheus text exposition (format 0.0.4) of a node's metrics: the contract is
//! docs/metrics.md, name by name.
//!
//! Invariants: every series carries `server`; counters kept per shard are summed here
//! (only `shoal_node_shard_*` keeps `shard`); histogram and distribution buckets are
//! cumulative and end with `+Inf`; label values are escaped; a family is written once
//! (`# HELP`, `# TYPE`, then its samples). Runs only when scraped, never on the S3 path.

use std::fmt::Write;
use std::time::Instant;

use crate::front::metrics::node::{DriveState, NodeMetrics, ShardSnapshot};
use crate::front::metrics::requests::{
    CANCELED, CELLS, CONNECTIONS_REJECTED, DURATION, DURATION_SUM_MICROS, ERRORS_4XX, ERRORS_5XX,
    INFLIGHT, LATENCY_BOUNDS_MICROS, LATENCY_BUCKETS, RECEIVED_BYTES, REFUSED, REQUESTS,
    SENT_BYTES, SLOWDOWN, STATUS, STATUS_SLOTS, STATUSES, TTFB,
};
use crate::front::observe::API_NAMES;

/// The content type Prometheus expects for this format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Process figures read from `/proc` at scrape time.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessStats {
    pub resident_bytes: u64,
    pub open_fds: u64,
    pub fd_limit: u64,
    pub cpu_seconds: f64,
}

impl ProcessStats {
    /// This process's figures (zeros where `/proc` cannot tell).
    pub fn read() -> Self {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let resident_kib = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .unwrap_or(0);
        let open_fds = std::fs::read_dir("/proc/self/fd").map_or(0, |dir| dir.count() as u64);
        let fd_limit = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .map_or(0, |(soft, _)| soft);
        Self {
            resident_bytes: resident_kib * 1024,
            open_fds,
            fd_limit,
            cpu_seconds: cpu_seconds(),
        }
    }
}

/// User + system CPU time of the process (`/proc/self/stat` fields 14 and 15, in clock
/// ticks of 1/100 s, the value of `_SC_CLK_TCK` on every Linux ABI Shoal runs on).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The command name (field 2) may hold spaces: count fields after its ')'.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// Writes families and samples, each sample labelled with the node's `server`.
struct Exposition<'a> {
    out: String,
    server: &'a str,
}

impl Exposition<'_> {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
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
    render_sets(&mut x, node, now);
    render_shards(&mut x, node, &shards, &total);
    render_process(&mut x, node, process, now);
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

fn render_drives(x: &mut Exposition<'_>, node: &NodeMetrics, now: Instant) {
    let reports = node.drive_reports();
    let online = reports
        .iter()
        .filter(|r| r.state_at(now) == DriveState::Online)
        .count();
    let gauges = [
        (
            "minio_node_drive_total",
            "drives of this node",
            reports.len(),
        ),
        (
            "minio_node_drive_online_total",
            "drives of this node serving",
            online,
        ),
        (
            "minio_node_drive_offline_total",
            "drives of this node not serving",
            reports.len() - online,
        ),
        (
            "minio_cluster_drive_total",
            "drives of the cluster (one node today)",
            reports.len(),
        ),
        (
            "minio_cluster_drive_online_total",
            "drives of the cluster serving",
            online,
        ),
        (
            "minio_cluster_drive_offline_total",
            "drives of the cluster not serving",
            reports.len() - online,
        ),
    ];
    for (name, help, value) in gauges {
        x.family(name, "gauge", help);
        x.sample(name, &[], value);
    }
    let state = "shoal_node_drive_state";
    x.family(
        state,
        "gauge",
        "1 for the drive's current state, 0 for the others",
    );
    for report in &reports {
        let now_state = report.state_at(now);
        for candidate in DriveState::ALL {
            let value = u8::from(candidate == now_state);
            x.sample(
                state,
                &[("drive", &report.name), ("state", candidate.name())],
                value,
            );
        }
    }
    let space = [
        (
            "minio_node_drive_total_bytes",
            "size of the drive's filesystem",
        ),
        (
            "minio_node_drive_used_bytes",
            "bytes used on the drive's filesystem",
        ),
        (
            "minio_node_drive_free_bytes",
            "bytes free on the drive's filesystem",
        ),
        (
            "minio_node_drive_free_inodes",
            "inodes free on the drive's filesystem",
        ),
    ];
    for (i, (name, help)) in space.iter().enumerate() {
        x.family(name, "gauge", help);
        for report in reports.iter().filter(|r| r.total_bytes > 0) {
            let value = [
                report.total_bytes,
                report.total_bytes - report.free_bytes,
                report.free_bytes,
                report.free_inodes,
            ][i];
            x.sample(name, &[("drive", &report.name)], value);
        }
    }
}

/// A per-set gauge: name, help, and its value for a set index.
type SetFamily<'a> = (&'a str, &'a str, &'a dyn Fn(usize) -> usize);

/// Deadlines missed per drive, summed over the shards (each shard's members keep their own).
fn render_drive_errors(x: &mut Exposition<'_>, node: &NodeMetrics, shards: &[ShardSnapshot]) {
    let name = "minio_node_drive_errors_timeout";
    x.family(
        name,
        "counter",
        "drive operations that missed their deadline",
    );
    for (index, report) in node.drive_reports().iter().enumerate() {
        let missed: u64 = shards
            .iter()
            .filter_map(|shard| shard.drive_timeouts.get(index))
            .sum();
        x.sample(name, &[("drive", &report.name)], missed);
    }
}

fn render_sets(x: &mut Exposition<'_>, node: &NodeMetrics, now: Instant) {
    let layout = node.facts.layout;
    let online = node.online_per_set(now);
    let (read_quorum, write_quorum) = (layout.set.read_quorum(), layout.set.write_quorum());
    let healthy = |count: usize| u8::from(count >= write_quorum);
    x.family(
        "minio_cluster_health_status",
        "gauge",
        "1 when every set has its write quorum of drives online",
    );
    x.sample(
        "minio_cluster_health_status",
        &[],
        u8::from(node.ready(now)),
    );
    x.family(
        "minio_cluster_write_quorum",
        "gauge",
        "largest write quorum of any set",
    );
    x.sample("minio_cluster_write_quorum", &[], write_quorum);
    for (name, help) in [
        ("minio_cluster_nodes_online_total", "nodes answering"),
        ("minio_cluster_nodes_offline_total", "nodes not answering"),
    ] {
        x.family(name, "gauge", help);
        x.sample(name, &[], u8::from(name.contains("online")));
    }
    let families: [SetFamily<'_>; 5] = [
        (
            "minio_cluster_health_erasure_set_status",
            "1 when the set has its write quorum of drives online",
            &|set| usize::from(healthy(online[set])),
        ),
        (
            "minio_cluster_health_erasure_set_online_drives",
            "drives of the set online",
            &|set| online[set],
        ),
        (
            "minio_cluster_health_erasure_set_read_quorum",
            "drives the set needs online to read",
            &|_| read_quorum,
        ),
        (
            "minio_cluster_health_erasure_set_write_quorum",
            "drives the set needs online to write",
            &|_| write_quorum,
        ),
        (
            "minio_cluster_health_erasure_set_healing_drives",
            "drives of the set being healed (0 until healing exists)",
            &|_| 0,
        ),
    ];
    for (name, help, value) in families {
        x.family(name, "gauge", help);
        for set in 0..layout.set_count {
            x.sample(
                name,
                &[("pool", "0"), ("set", &set.to_string())],
                value(set),
            );
        }
    }
    let (mut usable_total, mut usable_free) = (0u64, 0u64);
    let set_size = layout.set.set_size() as u64;
    for report in node
        .drive_reports()
        .iter()
        .filter(|r| r.state_at(now) == DriveState::Online)
    {
        usable_total += report.total_bytes / set_size * layout.set.data_chunks as u64;
        usable_free += report.free_bytes / set_size * layout.set.data_chunks as u64;
    }
    x.family(
        "minio_cluster_capacity_usable_total_bytes",
        "gauge",
        "capacity for object data after parity, over online drives",
    );
    x.sample(
        "minio_cluster_capacity_usable_total_bytes",
        &[],
        usable_total,
    );
    x.family(
        "minio_cluster_capacity_usable_free_bytes",
        "gauge",
        "free capacity for object data after parity, over online drives",
    );
    x.sample("minio_cluster_capacity_usable_free_bytes", &[], usable_free);
}

fn render_shards(
    x: &mut Exposition<'_>,
    node: &NodeMetrics,
    shards: &[ShardSnapshot],
    total: &[u64],
) {
    let open: u64 = shards.iter().map(|s| s.connections_open).sum();
    let used: u64 = shards.iter().map(|s| s.memory_used_bytes).sum();
    let budget: u64 = shards.iter().map(|s| s.memory_max_bytes).sum();
    let gauges = [
        (
            "shoal_node_connections_open",
            "gauge",
            "client connections open now",
            open,
        ),
        (
            "shoal_node_connections_limit",
            "gauge",
            "client connections the node admits",
            node.facts.connections_limit,
        ),
        (
            "shoal_node_memory_budget_bytes",
            "gauge",
            "read memory budget of the node",
            budget,
        ),
        (
            "shoal_node_memory_budget_used_bytes",
            "gauge",
            "read memory held by requests in flight now",
            used,
        ),
        (
            "shoal_node_memory_budget_slowdown_total",
            "counter",
            "requests answered 503 SlowDown because the budget stayed full",
            total[SLOWDOWN.offset],
        ),
    ];
    for (name, kind, help, value) in gauges {
        x.family(name, kind, help);
        x.sample(name, &[], value);
    }
    let rejected = "shoal_node_connections_rejected_total";
    x.family(rejected, "counter", "connections closed at admission");
    x.sample(
        rejected,
        &[("reason", "shard_full")],
        total[CONNECTIONS_REJECTED.at(0)],
    );
    x.sample(
        rejected,
        &[("reason", "client_limit")],
        total[CONNECTIONS_REJECTED.at(1)],
    );
    let requests = "shoal_node_shard_requests_total";
    x.family(requests, "counter", "S3 requests answered by each shard");
    for (index, shard) in shards.iter().enumerate() {
        let answered: u64 = shard
            .cells
            .get(REQUESTS.offset..REQUESTS.offset + REQUESTS.len)
            .map_or(0, |c| c.iter().sum());
        x.sample(requests, &[("shard", &index.to_string())], answered);
    }
    let busy = "shoal_node_shard_busy_seconds_total";
    x.family(busy, "counter", "time each shard's thread spent on a CPU");
    for (index, shard) in shards.iter().enumerate() {
        x.sample(busy, &[("shard", &index.to_string())], shard.busy_seconds);
    }
}

fn render_process(x: &mut Exposition<'_>, node: &NodeMetrics, process: ProcessStats, now: Instant) {
    let uptime = now.saturating_duration_since(node.started_at).as_secs_f64();
    x.family(
        "minio_node_process_resident_memory_bytes",
        "gauge",
        "resident memory of the process",
    );
    x.sample(
        "minio_node_process_resident_memory_bytes",
        &[],
        process.resident_bytes,
    );
    x.family(
        "minio_node_process_uptime_seconds",
        "gauge",
        "seconds since the process started",
    );
    x.sample("minio_node_process_uptime_seconds", &[], uptime);
    x.family(
        "minio_node_process_cpu_total_seconds",
        "counter",
        "CPU time the process used (user and system)",
    );
    x.sample(
        "minio_node_process_cpu_total_seconds",
        &[],
        process.cpu_seconds,
    );
    x.family(
        "minio_node_file_descriptor_open_total",
        "gauge",
        "file descriptors open",
    );
    x.sample(
        "minio_node_file_descriptor_open_total",
        &[],
        process.open_fds,
    );
    x.family(
        "minio_node_file_descriptor_limit_total",
        "gauge",
        "the process's open file limit",
    );
    x.sample(
        "minio_node_file_descriptor_limit_total",
        &[],
        process.fd_limit,
    );
    x.family(
        "minio_software_version_info",
        "gauge",
        "1, with the package version",
    );
    x.sample(
        "minio_software_version_info",
        &[("version", &node.facts.version)],
        1,
    );
    x.family(
        "minio_software_commit_info",
        "gauge",
        "1, with the commit of the build",
    );
    x.sample(
        "minio_software_commit_info",
        &[("commit", &node.facts.commit)],
        1,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::front::metrics::node::NodeFacts;
    use crate::front::metrics::requests::RequestMetrics;
    use crate::front::observe::{Api, Exchange, RequestRecord};
    use crate::topology::layout::PoolLayout;

    fn node() -> std::sync::Arc<NodeMetrics> {
        let facts = NodeFacts {
            server: "127.0.0.1:9000".to_owned(),
            version: "0.1.0".to_owned(),
            commit: "a\"b".to_owned(),
            layout: PoolLayout::for_drives(4, None).expect("layout"),
            connections_limit: 8,
            public_metrics: false,
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
}
