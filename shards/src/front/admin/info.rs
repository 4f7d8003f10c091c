//! `info`: what the node runs and how it is, as one JSON document: version and commit,
//! uptime, every drive (state, free and total bytes), the erasure sets with their
//! quorums and each member's state (online, slow, offline, ...; this node's or which
//! peer's), the heal backlog (objects queued for repair, summed over the shards) and
//! what healing did since start, the
//! background scanner's progress (summed over the shards that scan), the fills of
//! replaced drives (one entry per drive, `fills`), and
//! per shard its connections, requests, heal backlog and memory budget use: the slots each shard publishes once a second for the metrics
//! (`front/metrics/node.rs`), so a shard's numbers are at most about a second old.
//!
//! Invariants: the answer is bounded in time: each drive's free space is asked with a
//! deadline ([`SPACE_DEADLINE`]), so a hung drive shows as `unknown` instead of hanging
//! the request.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use shoal_http::{S3Error, S3ErrorCode};
use shoal_io::{Drive, Env};

use crate::front::handler::ShardContext;
use crate::front::json::JsonObject;
use crate::front::metrics::node::{DriveState, NodeMetrics};
use crate::member::SetMember;

/// Longest wait for one drive's free space.
const SPACE_DEADLINE: Duration = Duration::from_secs(1);

/// One drive as `info` shows it.
struct DriveInfo {
    path: String,
    offline_reason: Option<String>,
    /// Total and free bytes; `None` when the drive did not answer in time.
    space: Option<(u64, u64)>,
}

/// The node's description.
pub async fn document(ctx: &ShardContext) -> Result<String, S3Error> {
    let node = ctx.admin_node()?;
    let published = ctx.node.as_ref().ok_or_else(|| {
        S3Error::with_message(S3ErrorCode::NotImplemented, "no node metrics on this shard")
    })?;
    let shards = published.shard_snapshots();
    let drives = drives(ctx).await;
    let layout = ctx.store.layout();
    let set = layout.set;
    let mut out = String::with_capacity(2048);
    let mut doc = JsonObject::new(&mut out);
    doc.string("version", node.version)
        .number("uptime_s", published.started_at.elapsed().as_secs())
        .string("region", ctx.region())
        .number("shard_count", shards.len() as u64);
    doc.array("drives", &drives, |item, drive| {
        item.string("path", &drive.path).string(
            "state",
            if drive.offline_reason.is_some() {
                "offline"
            } else {
                "online"
            },
        );
        if let Some(why) = &drive.offline_reason {
            item.string("reason", why);
        }
        match drive.space {
            Some((total, free)) => item.number("total_bytes", total).number("free_bytes", free),
            None => item.string("space", "unknown"),
        };
    });
    let members = members(ctx, published);
    let set_drives = set.set_size();
    doc.array("sets", 0..layout.set_count, |item, index| {
        let in_set = &members[index * set_drives..(index + 1) * set_drives];
        let online = in_set.iter().filter(|m| m.answers()).count();
        item.number("set", index as u64)
            .number("drives", set_drives as u64)
            .number("online", online as u64)
            .number("data_chunks", set.data_chunks as u64)
            .number("parity_chunks", set.parity_chunks as u64)
            .number("read_quorum", set.read_quorum() as u64)
            .number("write_quorum", set.write_quorum() as u64)
            .boolean("writable", online >= set.write_quorum());
        item.array("members", in_set, |entry, member| {
            entry
                .string("drive", &member.name)
                .string("state", member.state)
                .boolean("local", member.node.is_none());
            if let Some(node) = &member.node {
                entry.string("node", node);
            }
        });
    });
    let heal_backlog: u64 = shards.iter().map(|s| s.heal_backlog).sum();
    doc.number("heal_backlog", heal_backlog);
    let heal = |field: fn(&crate::object::heal::HealCounts) -> u64| -> u64 {
        shards.iter().map(|s| field(&s.heal)).sum()
    };
    doc.object("heal", |counts| {
        counts
            .number("queued", heal(|c| c.queued))
            .number("healed", heal(|c| c.healed))
            .number("healthy", heal(|c| c.healthy))
            .number("failed", heal(|c| c.failed))
            .number("unreadable", heal(|c| c.unreadable))
            .number("dropped", heal(|c| c.dropped));
    });
    scan_summary(&mut doc, &published.scan_progress());
    fill_summary(&mut doc, &published.fill_progress());
    doc.array(
        "shards",
        shards.iter().enumerate(),
        |item, (index, shard)| {
            item.number("shard", index as u64)
                .number("heal_backlog", shard.heal_backlog)
                .number("connections", shard.connections_open)
                .number("requests_in_flight", shard.requests_in_flight)
                .number("requests_total", shard.requests_total)
                .number("memory_used_bytes", shard.memory_used_bytes)
                .number("memory_max_bytes", shard.memory_max_bytes);
        },
    );
    doc.finish();
    Ok(out)
}

/// The background scanner on this node (`object/scan/`), summed over the shards that
/// scan: counts since the process started, cycles ever; the last deep cycle is the
/// oldest of the scanning shards' (every set was read whole since then).
fn scan_summary(doc: &mut JsonObject<'_>, shards: &[crate::object::scan::ScanProgress]) {
    let active: Vec<_> = shards.iter().filter(|s| s.active).collect();
    let sum = |field: fn(&crate::object::scan::ScanProgress) -> u64| -> u64 {
        active.iter().map(|s| field(s)).sum()
    };
    let last_deep_s = (active.iter())
        .map(|s| s.last_deep_finished_unix_nanos / 1_000_000_000)
        .min()
        .unwrap_or(0);
    doc.object("scan", |scan| {
        scan.number("shards_scanning", active.len() as u64)
            .number("objects_scanned", sum(|s| s.objects_scanned))
            .number("damaged_found", sum(|s| s.damaged_found))
            .number("objects_unverified", sum(|s| s.objects_unverified))
            .number("deep_bytes_read", sum(|s| s.deep_bytes_read))
            .number("cycles_completed", sum(|s| s.cycles_completed))
            .number("deep_cycles_completed", sum(|s| s.deep_cycles_completed))
            .number("last_deep_finished_unix_s", last_deep_s)
            .number(
                "index_keys_audited",
                shards.iter().map(|s| s.index_keys_audited).sum(),
            )
            .number(
                "index_mismatches",
                shards.iter().map(|s| s.index_mismatches).sum(),
            );
    });
}

/// The fills of this node's replaced drives (`object/fill/`), one per drive being
/// filled or filled since the process started: done and left (objects and object
/// bytes), the rate over the last 30 s and the time left at it (`eta_seconds` absent
/// before a rate is known).
fn fill_summary(doc: &mut JsonObject<'_>, fills: &[crate::object::fill::FillProgress]) {
    doc.array("fills", fills, |item, fill| {
        item.string("drive", &fill.drive)
            .string("state", fill.state.name())
            .number("objects_done", fill.objects_done)
            .number("objects_left", fill.objects_left())
            .number("objects_total", fill.objects_total)
            .number("bytes_done", fill.bytes_done)
            .number("bytes_left", fill.bytes_left())
            .number("bytes_total", fill.bytes_total)
            .number("bytes_written", fill.bytes_written)
            .number("objects_failed", fill.objects_failed)
            .number("bytes_per_second", fill.bytes_per_second)
            .number("objects_per_second", fill.objects_per_second)
            .number("started_unix_s", fill.started_unix_nanos / 1_000_000_000);
        if let Some(eta) = fill.eta_seconds {
            item.number("eta_seconds", eta);
        }
    });
}

/// One member of a set (a drive of this node or of a peer) as `info` shows it.
struct MemberView {
    name: String,
    /// `online`, `slow` (missed a deadline lately, this shard's view), `offline`,
    /// `hung`, `foreign` or `unformatted`.
    state: &'static str,
    /// The peer node it is on; `None`: this node's drive.
    node: Option<String>,
}

impl MemberView {
    fn answers(&self) -> bool {
        matches!(self.state, "online" | "slow")
    }
}

/// Every member of the pool, in pool order: a drive of this node in the state its
/// probes and identity checks found; a peer's drive online while the peer answers for
/// it (`NodeMetrics::peer_answering`); either `slow` while this shard's calls to it
/// missed a deadline within the penalty.
fn members(ctx: &ShardContext, node: &NodeMetrics) -> Vec<MemberView> {
    let now = Instant::now();
    let now_nanos = ctx.store.env.monotonic_nanos();
    let reports = node.drive_reports();
    (0..ctx.store.drive_count())
        .filter_map(|position| ctx.store.member(position).map(|m| (position, m)))
        .map(|(position, member)| {
            let local = member.drive().is_some();
            let mut state = if local {
                (node.positions().iter())
                    .position(|p| *p == position)
                    .and_then(|i| reports.get(i))
                    .map_or(DriveState::Offline, |r| r.state_at(now))
                    .name()
            } else if node.peer_answering(position, now) {
                "online"
            } else {
                "offline"
            };
            if state == "online" && member.health().is_slow(now_nanos) {
                state = "slow";
            }
            let name = member.name().to_owned();
            let node = (!local).then(|| name.split('/').next().unwrap_or_default().to_owned());
            MemberView { name, state, node }
        })
        .collect()
}

/// Every drive of the pool with its state and space, asked concurrently.
async fn drives(ctx: &ShardContext) -> Vec<DriveInfo> {
    let offline = ctx.store.offline_drives();
    let asks = ctx.store.drives().into_iter().map(|drive| async move {
        let path = drive.name().to_owned();
        let asked = monoio::time::timeout(SPACE_DEADLINE, drive.space()).await;
        let space = match asked {
            Ok(Ok(space)) => Some((space.total_bytes, space.free_bytes)),
            _ => None,
        };
        (path, space)
    });
    join_all(asks)
        .await
        .into_iter()
        .map(|(path, space)| DriveInfo {
            offline_reason: offline
                .iter()
                .find(|(name, _)| *name == path)
                .map(|(_, why)| why.clone()),
            path,
            space,
        })
        .collect()
}
