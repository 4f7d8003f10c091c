//! Whether peers' drives answer, for the health paths (`front/health.rs`): every
//! `WATCH_INTERVAL`, every peer drive of the pool is asked its format record, all at
//! once, each within `PEER_PROBE_DEADLINE`; a drive whose answer is the record it must
//! hold is noted as answering (`NodeMetrics::peer_answered`). A peer that is down,
//! stopped or cut off stops being noted, so it stops counting within
//! `PEER_ANSWER_FRESH` of its last answer.
//!
//! One shard watches for the node, over connections of its own (a slow data transfer
//! on a shard's links never delays the watch, and the watch never delays requests).

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use shoal_wire::handshake::ClusterSecret;

use crate::front::cluster::{ClusterConfig, probe_members};
use crate::front::metrics::NodeMetrics;
use crate::member::verbs::bucket::BucketVerbs;
use crate::record::format::cluster_record_for;
use crate::topology::placement::DeploymentId;

/// How often peers' drives are asked.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// Asks peers' drives until `stopping` says so.
pub async fn watch(
    cluster: ClusterConfig,
    secret: ClusterSecret,
    deployment_id: DeploymentId,
    node: Arc<NodeMetrics>,
    stopping: impl Fn() -> bool,
) {
    let members = probe_members(&cluster, &secret);
    let asked: Vec<(usize, Rc<_>, Vec<u8>)> = (members.into_iter().enumerate())
        .filter_map(|(position, member)| {
            let expected = cluster_record_for(deployment_id, &cluster.topology, position);
            member.map(|m| (position, Rc::new(m), expected.encode()))
        })
        .collect();
    while !stopping() {
        let node = &node;
        let round = asked.iter().map(|(position, member, expected)| async move {
            let answered = member.read_identity().await;
            if answered.is_ok_and(|bytes| bytes == *expected) {
                node.peer_answered(*position, Instant::now());
            }
        });
        join_all(round).await;
        monoio::time::sleep(WATCH_INTERVAL).await;
    }
}
