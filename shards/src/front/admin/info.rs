//! `info`: what the node runs and how it is, as one JSON document: version and commit,
//! uptime, every drive (state, free and total bytes), the erasure sets with their
//! quorums and online drives, and per shard its connections, requests and memory
//! budget use: the slots each shard publishes once a second for the metrics
//! (`front/metrics/node.rs`), so a shard's numbers are at most about a second old.
//!
//! Invariants: the answer is bounded in time: each drive's free space is asked with a
//! deadline ([`SPACE_DEADLINE`]), so a hung drive shows as `unknown` instead of hanging
//! the request.

use std::time::Duration;

use futures_util::future::join_all;
use shoal_http::{S3Error, S3ErrorCode};
use shoal_io::Drive;

use crate::front::handler::ShardContext;
use crate::front::json::JsonObject;

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
    let set_drives = set.set_size();
    doc.array("sets", 0..layout.set_count, |item, index| {
        let members = &drives[index * set_drives..(index + 1) * set_drives];
        let online = members
            .iter()
            .filter(|d| d.offline_reason.is_none())
            .count();
        item.number("set", index as u64)
            .number("drives", set_drives as u64)
            .number("online", online as u64)
            .number("data_chunks", set.data_chunks as u64)
            .number("parity_chunks", set.parity_chunks as u64)
            .number("read_quorum", set.read_quorum() as u64)
            .number("write_quorum", set.write_quorum() as u64)
            .boolean("writable", online >= set.write_quorum());
    });
    doc.array(
        "shards",
        shards.iter().enumerate(),
        |item, (index, shard)| {
            item.number("shard", index as u64)
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
