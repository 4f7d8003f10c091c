//! MinIO's operator paths: health probes for load balancers and orchestrators, and the
//! Prometheus endpoints. They bypass S3 routing (`shoal_http::admin_route`).
//!
//! - `/minio/health/live` answers 200 while the process serves (no body).
//! - `/minio/health/ready` answers 200 only while every erasure set has at least its
//!   write quorum of drives online and not hung (`metrics/node.rs` probes them), else
//!   503; `?maintenance=true` is answered 501 NotImplemented (MinIO asks it of
//!   `/cluster`).
//! - `/minio/health/cluster` (write quorum) and `/cluster/read` (read quorum) answer 200
//!   while every set has that quorum of members that answer, else 503; with
//!   `?maintenance=true`, whether that would hold without this node's members (else
//!   412 Precondition Failed). As MinIO, they state the quorum in `X-Minio-Write-Quorum`
//!   or `X-Minio-Read-Quorum`, and `X-Minio-Storage-Class-Defaults: false` (no storage
//!   class configuration failed to load: Shoal has none). The rule is `health.rs`.
//! - `/minio/v2/metrics/node` and `/cluster` (the same today: one node) need the root
//!   credentials, as a SigV4 signature or a bearer token of `shoal admin prometheus
//!   generate`, unless the node was started with `SHOAL_PROMETHEUS_AUTH_TYPE=public`;
//!   anything else gets 403 AccessDenied.
//!
//! Health answers need no credentials and carry no body (as MinIO's). They read the
//! node's published drive reports (a lock held for a copy, no I/O, no other shard), so
//! a hung drive or a busy shard never delays them. How fast they turn: a drive whose
//! folder lost its format record is seen by its probe thread within one pause
//! ([`PROBE_INTERVAL`], 1 s) plus the read; one the store's identity check took
//! offline within that check's 2 s plus shard 0's copy each second; a hung one once
//! its probe has run `HUNG_AFTER` (3 s), so at most about 4 s after it stopped
//! answering. These requests are not S3 requests: they are not counted in the S3
//! metrics. Also here: what keeps the node's metrics current (each shard's publishing
//! task, the drive probe threads).

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use monoio::io::{AsyncReadRent, AsyncWriteRent};
use shoal_http::{AdminRoute, RequestHead, S3Error, S3ErrorCode};
use shoal_io::Env;

use crate::front::admission::Admission;
use crate::front::conn::{Conn, write_error};
use crate::front::handler::{Reply, ShardContext, send};
use crate::front::health::{self, Quorum, SetAnswers};
use crate::front::metrics::NodeMetrics;
use crate::front::metrics::node::{
    DriveState, PROBE_INTERVAL, PUBLISH_INTERVAL, ShardSnapshot, Space,
};
use crate::front::metrics::process::ProcessStats;
use crate::front::metrics::render::{CONTENT_TYPE, render};
use crate::member::SetMember;
use crate::record::format::FORMAT_PATH;

/// Answers one request to an operator path; returns whether the connection may go on.
pub async fn serve<S: AsyncReadRent + AsyncWriteRent>(
    ctx: &ShardContext,
    conn: &mut Conn<S>,
    head: &RequestHead,
    request_id: &str,
    route: AdminRoute,
) -> std::io::Result<bool> {
    let is_head = head.method == shoal_http::Method::Head;
    let keep_alive = head.keep_alive && matches!(head.framing, shoal_http::BodyFraming::None);
    let reply = match route {
        AdminRoute::HealthLive => Ok(Reply::new(200)),
        AdminRoute::HealthReady if AdminRoute::wants_maintenance(head) => {
            Err(S3Error::with_message(
                S3ErrorCode::NotImplemented,
                "The maintenance check (?maintenance=true) is not implemented yet.",
            ))
        }
        AdminRoute::HealthReady => Ok(Reply::new(if ready(ctx) { 200 } else { 503 })),
        AdminRoute::HealthCluster | AdminRoute::HealthClusterRead => {
            Ok(cluster(ctx, route, AdminRoute::wants_maintenance(head)))
        }
        AdminRoute::MetricsNode | AdminRoute::MetricsCluster => metrics(ctx, head),
    };
    let reply = match reply {
        Ok(mut reply) => {
            reply.head_only = is_head;
            reply
        }
        Err(error) => {
            let resource = head.raw_path().to_owned();
            return write_error(
                ctx, conn, &error, &resource, request_id, is_head, keep_alive,
            )
            .await;
        }
    };
    match send(ctx, conn, reply, request_id, keep_alive).await {
        Ok(keep) => Ok(keep),
        Err(_) => Ok(false),
    }
}

fn ready(ctx: &ShardContext) -> bool {
    ctx.node
        .as_ref()
        .is_none_or(|node| node.ready(Instant::now()))
}

/// The answer of `/minio/health/cluster` or `/cluster/read`, maintenance or not.
fn cluster(ctx: &ShardContext, route: AdminRoute, maintenance: bool) -> Reply<'static> {
    let set = ctx.store.layout().set;
    let quorum = if route == AdminRoute::HealthClusterRead {
        Quorum::Read(set.read_quorum())
    } else {
        Quorum::Write(set.write_quorum())
    };
    let healthy = health::every_set_has(&set_answers(ctx), quorum, maintenance);
    Reply::new(health::status(healthy, maintenance))
        .header(quorum.header_name(), quorum.members().to_string())
        .header("X-Minio-Storage-Class-Defaults", "false")
}

/// Per set, the members that answer now: this node's drives by the probes' reports
/// (online, not hung, not held offline by the store), peers' drives by their last
/// answer (`cluster/peer_watch.rs`); a shard made without the node's reports (tests)
/// counts its store's view alone.
fn set_answers(ctx: &ShardContext) -> Vec<SetAnswers> {
    if let Some(node) = &ctx.node {
        let now = Instant::now();
        let here = node.online_here_per_set(now);
        return (node.online_per_set(now).into_iter().zip(here))
            .map(|(answering, answering_here)| SetAnswers {
                answering,
                answering_here,
            })
            .collect();
    }
    let layout = ctx.store.layout();
    let mut answering = vec![0; layout.set_count];
    for index in 0..ctx.store.drive_count() {
        let set = index / layout.set.set_size();
        // A peer's drive (no local drive) is not counted: its node reports it.
        let online = ctx
            .store
            .drive(index)
            .is_some_and(|d| d.offline_reason().is_none());
        if online && set < answering.len() {
            answering[set] += 1;
        }
    }
    health::local_sets(&answering)
}

/// The exposition, if the request may read it.
fn metrics(ctx: &ShardContext, head: &RequestHead) -> Result<Reply<'static>, S3Error> {
    let Some(node) = &ctx.node else {
        return Err(S3Error::new(S3ErrorCode::ServiceUnavailable));
    };
    if !node.facts.public_metrics && !scrape_allowed(ctx, head) {
        return Err(S3Error::with_message(
            S3ErrorCode::AccessDenied,
            "Metrics need the root credentials: a SigV4 signature or a bearer token from \
             `shoal admin prometheus generate`.",
        ));
    }
    node.publish(ctx.shard_index, shard_snapshot(ctx, None));
    let text = render(node, ProcessStats::read(), Instant::now());
    let mut reply = Reply::new(200).header("Content-Type", CONTENT_TYPE);
    reply.body = text.into_bytes();
    Ok(reply)
}

/// A bearer token signed with the root secret, or a SigV4/SigV2 signature by the root.
fn scrape_allowed(ctx: &ShardContext, head: &RequestHead) -> bool {
    let credentials = &ctx.credentials;
    if let Some(token) = head
        .header("authorization")
        .and_then(|value| value.strip_prefix("Bearer "))
    {
        return shoal_http::verify_prometheus_token(
            token.trim(),
            &credentials.access_key_id,
            &credentials.secret_access_key,
            ctx.now_unix_secs(),
        )
        .is_ok();
    }
    shoal_http::authenticate_with_routes(
        head,
        &ctx.secrets(),
        ctx.region(),
        ctx.route_config(),
        ctx.now_unix_secs(),
    )
    .is_ok()
}

/// This shard's counters now; `connections_open` from its admission table when known.
fn shard_snapshot(ctx: &ShardContext, connections_open: Option<u64>) -> ShardSnapshot {
    let connections_open = connections_open.unwrap_or_else(|| {
        (ctx.node.as_ref()).map_or(0, |node| {
            node.shard_snapshot(ctx.shard_index).connections_open
        })
    });
    let now_nanos = ctx.store.env.monotonic_nanos();
    ShardSnapshot {
        cells: ctx.observer.metrics.snapshot(),
        busy_seconds: thread_cpu_seconds(),
        group_commit: shoal_io::dir_drive::group_commit_counts(),
        connections_open,
        requests_in_flight: ctx.in_flight() as u64,
        requests_total: ctx.requests_total(),
        memory_used_bytes: ctx.memory().used_bytes() as u64,
        memory_max_bytes: ctx.memory().max_bytes() as u64,
        requests_waiting: ctx.memory().waiting() as u64,
        heal_backlog: ctx.store.heal_backlog() as u64,
        drives: (ctx.store.members.iter())
            .map(|member| member.health().counts(now_nanos))
            .collect(),
        scan: ctx.store.scan_progress(),
        heal: ctx.store.heal_counts(),
        peer_verbs: ctx.peer_verbs.get(),
        fill: ctx.store.fill_progress(),
    }
}

/// Time this thread spent on a CPU (`/proc/thread-self/schedstat`, nanoseconds first).
fn thread_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0.0, |nanos| nanos as f64 / 1e9)
}

/// Publishes this shard's counters every [`PUBLISH_INTERVAL`] until it stops (for the
/// metrics and the admin API's `info` alike).
pub async fn publish_metrics(ctx: Rc<ShardContext>, admission: Admission) {
    let Some(node) = ctx.node.clone() else {
        return;
    };
    while !ctx.stopping() {
        node.publish(
            ctx.shard_index,
            shard_snapshot(&ctx, Some(admission.open() as u64)),
        );
        monoio::time::sleep(PUBLISH_INTERVAL).await;
    }
}

/// Copies the store's view of each drive (offline, and why) into the node's reports
/// every [`PROBE_INTERVAL`]; no I/O (one shard does this for the node).
pub async fn share_store_view(ctx: Rc<ShardContext>) {
    let Some(node) = ctx.node.clone() else {
        return;
    };
    while !ctx.stopping() {
        // This node's drives only: a peer's drive is its own node's to report.
        for (index, &position) in node.positions().iter().enumerate() {
            let reason = ctx
                .store
                .drive(position)
                .and_then(shoal_io::AnyDrive::offline_reason);
            node.note_store_view(index, reason.as_deref().map(DriveState::of_offline_reason));
        }
        monoio::time::sleep(PROBE_INTERVAL).await;
    }
}

/// Starts one probe thread per drive folder (in pool order). The threads live as long as
/// the process; each blocks only itself when its drive hangs.
pub fn start_drive_probes(node: &Arc<NodeMetrics>, folders: &[PathBuf]) -> Result<(), String> {
    for (index, folder) in folders.iter().enumerate() {
        let (node, folder) = (Arc::clone(node), folder.clone());
        std::thread::Builder::new()
            .name(format!("shoal-probe-{index}"))
            .spawn(move || {
                loop {
                    node.probe_started(index, Instant::now());
                    let (state, space) = probe_folder(&folder);
                    node.probe_done(index, state, space);
                    std::thread::sleep(PROBE_INTERVAL);
                }
            })
            .map_err(|e| format!("cannot start a drive probe thread: {e}"))?;
    }
    Ok(())
}

/// One probe: the format record can be read, and the filesystem's statvfs.
fn probe_folder(folder: &Path) -> (DriveState, Option<Space>) {
    match std::fs::read(folder.join(FORMAT_PATH)) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return (DriveState::Unformatted, None);
        }
        Err(_) => return (DriveState::Offline, None),
    }
    let space = nix::sys::statvfs::statvfs(folder).ok().map(|stat| Space {
        total_bytes: stat.blocks() * stat.fragment_size(),
        free_bytes: stat.blocks_available() * stat.fragment_size(),
        free_inodes: stat.files_available(),
    });
    (DriveState::Online, space)
}

/// A Prometheus scrape configuration for the node at `endpoint` (`http(s)://HOST:PORT`)
/// with a bearer token valid until `expires_unix_secs` (`shoal admin prometheus
/// generate`, like `mc admin prometheus generate`).
pub fn scrape_config(
    endpoint: &str,
    access_key: &str,
    secret_key: &str,
    expires_unix_secs: i64,
) -> Result<String, String> {
    let (scheme, target) = endpoint
        .split_once("://")
        .filter(|(scheme, target)| matches!(*scheme, "http" | "https") && !target.is_empty())
        .ok_or_else(|| format!("{endpoint:?} is not http://HOST:PORT or https://HOST:PORT"))?;
    let target = target.trim_end_matches('/');
    if target.contains(['/', '\'', '"', ' ']) {
        return Err(format!("{endpoint:?}: give only the scheme, host and port"));
    }
    let token = shoal_http::sign_prometheus_token(access_key, secret_key, expires_unix_secs);
    Ok(format!(
        "scrape_configs:\n- job_name: shoal-job\n  bearer_token: {token}\n  \
         metrics_path: /minio/v2/metrics/cluster\n  scheme: {scheme}\n  \
         static_configs:\n  - targets: ['{target}']\n"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generated configuration names the endpoint and carries a token the server accepts.
    #[test]
    fn scrape_config_carries_a_valid_token() {
        let text =
            scrape_config("http://127.0.0.1:9000", "key", "secret", 2_000_000_000).expect("config");
        assert!(text.contains("targets: ['127.0.0.1:9000']"), "{text}");
        assert!(text.contains("scheme: http\n"), "{text}");
        let token = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("bearer_token: "))
            .expect("token");
        assert!(shoal_http::verify_prometheus_token(token, "key", "secret", 1_900_000_000).is_ok());
        assert!(scrape_config("ftp://x", "k", "s", 1).is_err());
        assert!(scrape_config("http://a/b", "k", "s", 1).is_err());
    }
}
