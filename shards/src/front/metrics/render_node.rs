//! The node half of the exposition (`render.rs` writes the requests): drives, erasure
//! sets and the cluster, connections, memory and shards, the process and the software.
//!
//! Invariants: drive and set series come from the probes' reports at scrape time (a
//! probe running past its limit reads as `hung`); per-shard figures are summed except
//! on the `shoal_node_shard_*` series.

use std::time::Instant;

use crate::front::metrics::node::{DriveState, NodeMetrics, ShardSnapshot};
use crate::front::metrics::process::ProcessStats;
use crate::front::metrics::render::Exposition;
use crate::front::metrics::requests::{CONNECTIONS_REJECTED, REQUESTS, SLOWDOWN};
use crate::member::latency::VerbTotal;
use crate::member::{HealthCounts, Verb};

/// One counter of a shard's snapshot.
type ShardCounter = fn(&ShardSnapshot) -> u64;

pub(super) fn render_drives(x: &mut Exposition<'_>, node: &NodeMetrics, now: Instant) {
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

/// A per-drive series: name, type, help, and its value in one shard's counts.
type DriveFamily<'a> = (&'a str, &'a str, &'a str, fn(&HealthCounts) -> u64);

/// Drive errors and bitrot per drive, and calls that change it running overdue, summed
/// over the shards (each shard's members keep their own).
pub(super) fn render_drive_errors(
    x: &mut Exposition<'_>,
    node: &NodeMetrics,
    shards: &[ShardSnapshot],
) {
    let families: [DriveFamily<'_>; 5] = [
        (
            "minio_node_drive_errors_timeout",
            "counter",
            "drive operations that missed their deadline",
            |c| c.timeouts,
        ),
        (
            "minio_node_drive_errors_ioerror",
            "counter",
            "drive operations that failed with an I/O error",
            |c| c.io_errors,
        ),
        (
            "minio_node_drive_errors_availability",
            "counter",
            "drive operations refused because the drive was offline",
            |c| c.unavailable,
        ),
        (
            "shoal_node_drive_bitrot_errors_total",
            "counter",
            "chunk records whose bitrot hash did not match when read",
            |c| c.bitrot,
        ),
        (
            "shoal_node_drive_overdue_changes",
            "gauge",
            "calls that change the drive still running past their deadline",
            |c| c.overdue_changes,
        ),
    ];
    let reports = node.drive_reports();
    for (name, kind, help, value) in families {
        x.family(name, kind, help);
        // A shard's counts are per pool position; this node's drives sit at `positions`.
        for (report, &position) in reports.iter().zip(node.positions()) {
            let total: u64 = (shards.iter())
                .filter_map(|shard| shard.drives.get(position))
                .map(value)
                .sum();
            x.sample(name, &[("drive", &report.name)], total);
        }
    }
}

/// Mean latency per drive and verb over the last minute, from every shard's calls; a
/// verb not called on the drive within the minute has no series.
pub(super) fn render_drive_latency(
    x: &mut Exposition<'_>,
    node: &NodeMetrics,
    shards: &[ShardSnapshot],
) {
    let name = "minio_node_drive_latency_us";
    x.family(
        name,
        "gauge",
        "mean latency of a storage verb on the drive over the last minute, in microseconds",
    );
    let reports = node.drive_reports();
    for (report, &position) in reports.iter().zip(node.positions()) {
        for verb in Verb::ALL {
            let mut total = VerbTotal::default();
            for counts in shards.iter().filter_map(|shard| shard.drives.get(position)) {
                if let Some(calls) = counts.latency.get(verb.index()) {
                    total.add(*calls);
                }
            }
            if let Some(mean) = total.mean_micros() {
                x.sample(name, &[("drive", &report.name), ("api", verb.name())], mean);
            }
        }
    }
}

pub(super) fn render_sets(x: &mut Exposition<'_>, node: &NodeMetrics, now: Instant) {
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

pub(super) fn render_shards(
    x: &mut Exposition<'_>,
    node: &NodeMetrics,
    shards: &[ShardSnapshot],
    total: &[u64],
) {
    let open: u64 = shards.iter().map(|s| s.connections_open).sum();
    let used: u64 = shards.iter().map(|s| s.memory_used_bytes).sum();
    let budget: u64 = shards.iter().map(|s| s.memory_max_bytes).sum();
    let waiting: u64 = shards.iter().map(|s| s.requests_waiting).sum();
    let gauges = [
        (
            "minio_s3_requests_waiting_total",
            "gauge",
            "requests waiting for read memory (the per-shard budget)",
            waiting,
        ),
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
            "memory budget of the node for object transfers in flight",
            budget,
        ),
        (
            "shoal_node_memory_budget_used_bytes",
            "gauge",
            "memory held by object transfers in flight now",
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
    render_heal(x, shards);
    render_peer_verbs(x, shards);
    let busy = "shoal_node_shard_busy_seconds_total";
    x.family(busy, "counter", "time each shard's thread spent on a CPU");
    for (index, shard) in shards.iter().enumerate() {
        x.sample(busy, &[("shard", &index.to_string())], shard.busy_seconds);
    }
    let group_commit: [(&str, &str, ShardCounter); 2] = [
        (
            "shoal_node_shard_drive_flushes_total",
            "filesystem flushes (syncfs) each shard ran to make small writes durable",
            |shard| shard.group_commit.0,
        ),
        (
            "shoal_node_shard_drive_flush_waits_total",
            "waits of small writes for a flush (two per write); waits per flush is the batch",
            |shard| shard.group_commit.1,
        ),
    ];
    for (name, help, value) in group_commit {
        x.family(name, "counter", help);
        for (index, shard) in shards.iter().enumerate() {
            x.sample(name, &[("shard", &index.to_string())], value(shard));
        }
    }
}

/// The heal queues of every shard: objects by what became of them, and the backlog.
fn render_heal(x: &mut Exposition<'_>, shards: &[ShardSnapshot]) {
    let mut total = crate::object::heal::HealCounts::default();
    for c in shards.iter().map(|s| &s.heal) {
        total.queued += c.queued;
        total.dropped += c.dropped;
        total.healed += c.healed;
        total.healthy += c.healthy;
        total.failed += c.failed;
        total.unreadable += c.unreadable;
        total.backlog += c.backlog;
        total.bytes_read += c.bytes_read;
        total.bytes_written += c.bytes_written;
    }
    let objects = "shoal_node_heal_objects_total";
    x.family(
        objects,
        "counter",
        "objects the heal queues took, dropped (full) and healed, by result",
    );
    let results = [
        ("queued", total.queued),
        ("dropped", total.dropped),
        ("healed", total.healed),
        ("healthy", total.healthy),
        ("failed", total.failed),
        ("unreadable", total.unreadable),
    ];
    for (result, count) in results {
        x.sample(objects, &[("result", result)], count);
    }
    let backlog = "shoal_node_heal_backlog";
    x.family(backlog, "gauge", "objects waiting in the heal queues now");
    x.sample(backlog, &[], total.backlog);
    let bytes = "shoal_node_heal_bytes_total";
    x.family(
        bytes,
        "counter",
        "chunk bytes healing read (to judge and rebuild) and wrote (rebuilt part files)",
    );
    x.sample(bytes, &[("direction", "read")], total.bytes_read);
    x.sample(bytes, &[("direction", "written")], total.bytes_written);
}

/// Peer verbs served, by whether the serving shard owns what they name: with owner
/// routing, `other` stays zero unless a peer runs a different shard count than it
/// last told (a restart), or an older peer does not route.
fn render_peer_verbs(x: &mut Exposition<'_>, shards: &[ShardSnapshot]) {
    let mut total = crate::front::peer::member_service::PeerVerbCounts::default();
    for c in shards.iter().map(|s| &s.peer_verbs) {
        total.owner += c.owner;
        total.other += c.other;
        total.unnamed += c.unnamed;
    }
    let verbs = "shoal_node_peer_verbs_total";
    x.family(
        verbs,
        "counter",
        "storage and lock verbs served for peers, by the serving shard: the owner shard \
         of the key, bucket, upload or lock they name, another shard, or any (they name none)",
    );
    let counts = [
        ("owner", total.owner),
        ("other", total.other),
        ("any", total.unnamed),
    ];
    for (shard, count) in counts {
        x.sample(verbs, &[("shard", shard)], count);
    }
}

pub(super) fn render_process(
    x: &mut Exposition<'_>,
    node: &NodeMetrics,
    process: ProcessStats,
    now: Instant,
) {
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
