//! A cluster node's start, before any shard runs: agree with the peers on the
//! deployment id, then format this node's blank drives with it (the protocol is
//! described in `record/format.rs`; the decision is `topology::agreement::agree`).
//!
//! Nodes are started in any order and at about the same time, so while it agrees a
//! node listens on its port and answers its peers' `read_identity`, and nothing else:
//! every other verb is refused as `Unreachable` (a node already serving must not write
//! to a drive that may not be formatted yet). S3 clients connecting meanwhile are
//! closed. The node asks every drive of the pool each round (its own directly, peers'
//! over the wire, each bounded by `PEER_PROBE_DEADLINE`) until the rule decides; while
//! it waits it says so every `WAIT_LOG_INTERVAL`. A drive list that differs from one
//! of this node's formatted drives' records, or drives of two deployments, stop the
//! start with the reason, as do peers' formatted drives none of which fits (this node's
//! layout differs); a peer's drive that does not fit while others do is warned about
//! and counted as silent (a misplaced drive is its node's to deal with).
//!
//! Formatting: a blank drive of this node is formatted with the agreed id when none of
//! this node's drives was formatted (the node's first start) while the pool is forming
//! (this node made the id, or no serving peer's drive lists a bucket yet), or with
//! `--format-new-drives`; otherwise it is left offline as on a single node (it may be
//! the bare mount point of a drive that did not mount: a node whose drives all failed
//! to mount looks like a new node, and is not formatted once the deployment holds
//! data).

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_channel::oneshot;
use futures_util::FutureExt;
use futures_util::future::Shared;
use shoal_io::{AlignedBuf, DirDrive, Drive};
use shoal_wire::handshake::ClusterSecret;

use crate::front::cluster::{ClusterConfig, PEER_PROBE_DEADLINE, probe_members};
use crate::front::peer::accept::{self, Sorted};
use crate::front::peer::permits::Permits;
use crate::front::peer::serve::{Answer, PeerService, ServeConfig, serve};
use crate::member::peer::message::{PeerReply, PeerRequest};
use crate::member::peer::wire_form::{decode_call, encode_answer, encode_refusal};
use crate::member::verbs::bucket::BucketVerbs;
use crate::member::{MemberError, PeerMember};
use crate::record::format::{
    DriveFormat, check_drive_list, cluster_record_for, format_blank, peer_deployment, read_format,
};
use crate::topology::agreement::{Agreement, DriveAnswer, agree};
use crate::topology::placement::DeploymentId;

/// How often a waiting node says what it waits for.
const WAIT_LOG_INTERVAL: Duration = Duration::from_secs(5);
/// Pause between two rounds of questions.
const ROUND_PAUSE: Duration = Duration::from_millis(500);
/// Peer requests answered at once while agreeing.
const AGREEING_PERMITS: usize = 16;
/// Time given to the connections served while agreeing to end before the shards start.
const CONNECTIONS_END_PAUSE: Duration = Duration::from_millis(200);

/// Resolves when the agreement is over (its sender is dropped).
type StopSignal = Shared<oneshot::Receiver<()>>;

/// What the agreement decided for this node.
pub struct Agreed {
    pub deployment_id: DeploymentId,
    /// Per drive of this node (its drive order): why it is offline for this run.
    pub offline: Vec<Option<String>>,
}

/// Agrees on the deployment id with the peers and formats this node's blank drives,
/// serving peers' `read_identity` on `cluster`'s port meanwhile. `drives` are this
/// node's, in its drive order.
pub fn agree_and_format(
    drives: Vec<DirDrive>,
    cluster: &ClusterConfig,
    secret: &ClusterSecret,
    listen: std::net::SocketAddr,
    format_new_drives: bool,
) -> Result<Agreed, String> {
    let (mut runtime, _) = shoal_io::build_runtime(&shoal_io::RuntimeConfig::default())
        .map_err(|e| format!("cannot start the I/O runtime: {e}"))?;
    let drives: Rc<[DirDrive]> = drives.into();
    runtime.block_on(async move {
        let listener =
            shoal_io::net::listen(listen).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let serve_config = cluster.serve_config(secret);
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let stop = stop_rx.shared();
        // A node that joins asks whether the deployment holds buckets while it still
        // answers its peers: they may be joining too, and asking it the same.
        let deciding = async {
            let (deployment_id, joining) = decide(&drives, cluster, secret).await?;
            // The pool is forming unless the id came from peers whose drives hold
            // buckets.
            let forming = !joining || !deployment_holds_buckets(cluster, secret).await?;
            Ok::<_, String>((deployment_id, forming))
        };
        let decided = monoio::select! {
            decided = deciding => decided,
            () = answer_identities(listener, drives.clone(), serve_config, stop.clone()) => {
                Err("stopped answering peers".to_owned())
            }
        };
        // The listener is closed (its future dropped); the connections served meanwhile
        // end now and their tasks close their sockets, so no peer keeps a connection
        // nobody reads once the shards serve the port.
        drop(stop_tx);
        monoio::time::sleep(CONNECTIONS_END_PAUSE).await;
        let (deployment_id, forming) = decided?;
        let rule = (format_new_drives, forming);
        let offline = format_blank_drives(&drives, cluster, deployment_id, rule).await;
        Ok(Agreed {
            deployment_id,
            offline,
        })
    })
}

/// Asks every drive of the pool, round after round, until the rule decides. Returns
/// the deployment and whether it came from peers (not made here).
async fn decide(
    drives: &[DirDrive],
    cluster: &ClusterConfig,
    secret: &ClusterSecret,
) -> Result<(DeploymentId, bool), String> {
    let members = probe_members(cluster, secret)?;
    let local_positions = cluster.local_positions();
    let mut logged_at: Option<Instant> = None;
    // Peers' drives whose records do not fit, each warned about once.
    let mut misfits = std::collections::BTreeSet::new();
    loop {
        let mut answers = Vec::with_capacity(cluster.topology.drive_count());
        let mut misfit_now = None;
        for (position, place) in cluster.topology.order.iter().enumerate() {
            let answer = match &members[position] {
                None => local_answer(drives, &local_positions, cluster, position).await?,
                Some(member) => {
                    let (answer, misfit) = peer_answer(member, cluster, position).await;
                    if let Some(why) = misfit {
                        if misfits.insert(position) {
                            tracing::warn!("not counted for the deployment: {why}");
                        }
                        misfit_now.get_or_insert(why);
                    }
                    answer
                }
            };
            answers.push((place.node_index, answer));
        }
        // Formatted drives none of which fits: this node's drive list or layout is
        // what differs (a stray drive is outvoted by the drives that fit).
        let fits_any = (answers.iter()).any(|(_, a)| matches!(a, DriveAnswer::Formatted(_)));
        if let Some(why) = misfit_now
            && !fits_any
        {
            return Err(why);
        }
        match agree(cluster.this_node, &answers) {
            Agreement::Use(id) => return Ok((id, true)),
            Agreement::Create => {
                let id: DeploymentId = rand::random();
                tracing::info!(
                    deployment = %hex::encode(id),
                    "every drive of the pool is blank: this node (the first in the drive \
                     list) makes the deployment"
                );
                return Ok((id, false));
            }
            Agreement::Refuse(why) => return Err(why),
            Agreement::Wait(why) => {
                if logged_at.is_none_or(|at| at.elapsed() >= WAIT_LOG_INTERVAL) {
                    tracing::info!("waiting for the other nodes before serving: {why}");
                    logged_at = Some(Instant::now());
                }
                monoio::time::sleep(ROUND_PAUSE).await;
            }
        }
    }
}

/// This node's drive at `position`: its record must fit the drive list.
async fn local_answer(
    drives: &[DirDrive],
    local_positions: &[usize],
    cluster: &ClusterConfig,
    position: usize,
) -> Result<DriveAnswer, String> {
    let Some(index) = local_positions.iter().position(|&p| p == position) else {
        return Ok(DriveAnswer::NoAnswer);
    };
    let drive = &drives[index];
    match read_format(drive).await.map_err(|e| e.to_string())? {
        DriveFormat::Formatted(record) => {
            let expected = cluster_record_for(record.deployment_id, &cluster.topology, position);
            check_drive_list(&record, &expected)
                .map_err(|why| format!("drive {}: {why}", drive.name()))?;
            Ok(DriveAnswer::Formatted(record.deployment_id))
        }
        DriveFormat::Blank => Ok(DriveAnswer::Blank),
        DriveFormat::Offline(_) => Ok(DriveAnswer::NoAnswer),
    }
}

/// A peer's drive at `position`, asked over the wire. A record that does not fit the
/// drive list (a drive swapped in from elsewhere) counts as no answer, with the reason,
/// while other drives fit: it is the peer's drive to deal with (its own start refuses
/// it), and one misplaced drive on one node must not keep the others from starting.
/// When no formatted drive fits, `decide` refuses with the reason: this node's drive
/// list or layout is what differs.
async fn peer_answer(
    member: &PeerMember,
    cluster: &ClusterConfig,
    position: usize,
) -> (DriveAnswer, Option<String>) {
    match member.read_identity().await {
        Ok(bytes) => match crate::record::format::FormatRecord::decode(&bytes) {
            Ok(record) => match peer_deployment(&record, &cluster.topology, position) {
                Ok(id) => (DriveAnswer::Formatted(id), None),
                Err(why) => (DriveAnswer::NoAnswer, Some(why)),
            },
            Err(_) => (DriveAnswer::NoAnswer, None),
        },
        Err(MemberError::NotFound) => (DriveAnswer::Blank, None),
        Err(_) => (DriveAnswer::NoAnswer, None),
    }
}

/// Whether the deployment holds data, as peers' drives list their buckets (starting
/// peers answer too, `Identities`): a node whose drives are all blank is then a
/// replaced node, not one joining a pool that is forming. Asked round after round
/// until `buckets_verdict` can tell: a peer that cannot answer yet (between its start
/// and serving, cut off) is never taken for one without buckets.
async fn deployment_holds_buckets(
    cluster: &ClusterConfig,
    secret: &ClusterSecret,
) -> Result<bool, String> {
    let members = probe_members(cluster, secret)?;
    let mut logged_at: Option<Instant> = None;
    loop {
        let asked = members
            .iter()
            .flatten()
            .map(|member| async move { member.list_buckets().await });
        let answers = futures_util::future::join_all(asked).await;
        if let Some(holds) = buckets_verdict(&answers) {
            return Ok(holds);
        }
        if logged_at.is_none_or(|at| at.elapsed() >= WAIT_LOG_INTERVAL) {
            let answered = answers.iter().filter(|a| lists_none_or_some(a)).count();
            tracing::warn!(
                "waiting for peers' drives to tell whether the deployment holds buckets \
                 ({answered} of {} answered, none names a bucket; more than half must)",
                answers.len()
            );
            logged_at = Some(Instant::now());
        }
        monoio::time::sleep(ROUND_PAUSE).await;
    }
}

/// Whether `answer` is a drive's listing: its buckets, or none (a blank drive, or a
/// formatted one that never held a bucket).
fn lists_none_or_some(answer: &Result<Vec<String>, MemberError>) -> bool {
    matches!(answer, Ok(_) | Err(MemberError::NotFound))
}

/// What peers' drives' bucket listings say: the deployment holds buckets as soon as
/// one names a bucket (every drive holds every bucket's record), none once more than
/// half the drives listed none; `None` while that is not known.
fn buckets_verdict(answers: &[Result<Vec<String>, MemberError>]) -> Option<bool> {
    if answers
        .iter()
        .any(|answer| answer.as_ref().is_ok_and(|buckets| !buckets.is_empty()))
    {
        return Some(true);
    }
    let listed_none = answers.iter().filter(|a| lists_none_or_some(a)).count();
    (answers.is_empty() || 2 * listed_none > answers.len()).then_some(false)
}

/// Formats this node's blank drives with `deployment_id` (see the module's rule:
/// `(format_new_drives, forming)`); returns per drive why it is offline.
async fn format_blank_drives(
    drives: &[DirDrive],
    cluster: &ClusterConfig,
    deployment_id: DeploymentId,
    (format_new_drives, forming): (bool, bool),
) -> Vec<Option<String>> {
    let mut states = Vec::with_capacity(drives.len());
    for drive in drives {
        states.push(read_format(drive).await);
    }
    let first_start = !states
        .iter()
        .any(|state| matches!(state, Ok(DriveFormat::Formatted(_))));
    let positions = cluster.local_positions();
    let mut offline = Vec::with_capacity(drives.len());
    for ((drive, state), &position) in drives.iter().zip(states).zip(&positions) {
        offline.push(match state {
            Ok(DriveFormat::Formatted(_)) => None,
            Ok(DriveFormat::Blank) if format_new_drives || (first_start && forming) => {
                let record = cluster_record_for(deployment_id, &cluster.topology, position);
                // Only a pool forming for the first time has nothing to fill.
                let to_fill = !(first_start && forming);
                format_blank(drive, &record, to_fill).await
            }
            Ok(DriveFormat::Blank) if first_start => Some(
                "every drive of this node is empty, with no format record, while the \
                 deployment holds buckets: unmounted drives' bare mount points, or a \
                 replaced node. Not formatted (new drives are taken with \
                 --format-new-drives)"
                    .to_owned(),
            ),
            Ok(DriveFormat::Blank) => Some(
                "it is empty, with no format record, while this node's other drives are \
                 formatted: an unmounted drive's bare mount point, or a new drive. Not \
                 formatted (a new drive is taken with --format-new-drives)"
                    .to_owned(),
            ),
            Ok(DriveFormat::Offline(why)) => Some(why),
            Err(e) => Some(e.to_string()),
        });
    }
    offline
}

/// Answers peers' `read_identity` on `listener` until dropped; each connection is
/// served until `stop`.
async fn answer_identities(
    listener: monoio::net::TcpListener,
    drives: Rc<[DirDrive]>,
    config: ServeConfig,
    stop: StopSignal,
) {
    let (senders, mut inboxes) = accept::inboxes(1);
    let senders = Rc::new(RefCell::new(senders));
    let service = Rc::new(Identities { drives });
    let permits = Permits::new(AGREEING_PERMITS);
    let receiving = accept::receive(inboxes.remove(0), move |stream, _route| {
        let (config, service, permits) = (config.clone(), service.clone(), permits.clone());
        let stop = stop.clone();
        monoio::spawn(async move {
            monoio::select! {
                () = serve(stream, &config, service, permits) => {}
                _ = stop => {}
            }
        });
    });
    let _receiving = monoio::spawn(receiving);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // One connection failed, or descriptors ran out: try again shortly.
            monoio::time::sleep(ROUND_PAUSE).await;
            continue;
        };
        let senders = senders.clone();
        monoio::spawn(async move {
            // An S3 client is closed: nothing is served before the node has started.
            if let Sorted::S3(stream) = accept::sort(stream, &senders, PEER_PROBE_DEADLINE).await {
                drop(stream);
            }
        });
    }
}

/// This node's drives' format records, for peers that are agreeing too.
struct Identities {
    drives: Rc<[DirDrive]>,
}

impl PeerService for Identities {
    type Session = ();

    fn session(&self) -> Self::Session {}

    fn call(
        &self,
        _: &Rc<Self::Session>,
        body: Vec<u8>,
        payload: Option<AlignedBuf>,
    ) -> Pin<Box<dyn Future<Output = Answer>>> {
        let drives = self.drives.clone();
        Box::pin(async move {
            let incoming = match decode_call(&body, payload) {
                Ok(incoming) => incoming,
                Err(error) => return (encode_refusal(&error), None),
            };
            let drive = usize::try_from(incoming.drive_index)
                .ok()
                .and_then(|index| drives.get(index));
            let reply = match (incoming.request, drive) {
                (PeerRequest::ReadIdentity, Some(drive)) => identity_reply(drive).await,
                (PeerRequest::ListBuckets, Some(drive)) => buckets_reply(drive).await,
                (PeerRequest::ReadIdentity | PeerRequest::ListBuckets, None) => {
                    PeerReply::Failed(MemberError::Unreachable("no such drive".to_owned()))
                }
                _ => PeerReply::Failed(MemberError::Unreachable(
                    "the node is starting: agreeing on the deployment with its peers".to_owned(),
                )),
            };
            encode_answer(incoming.verb, reply, None)
        })
    }

    fn end(&self, _: Rc<Self::Session>) -> Pin<Box<dyn Future<Output = ()>>> {
        Box::pin(async {})
    }
}

/// A drive's buckets as `list_buckets` gives them (read only): what a node starting
/// beside this one asks to tell a replaced node from a forming pool.
async fn buckets_reply(drive: &DirDrive) -> PeerReply {
    match drive.list_dir(crate::member::local::BUCKETS_DIR).await {
        Ok(entries) => PeerReply::Names(entries.into_iter().map(|entry| entry.name).collect()),
        Err(error) => PeerReply::Failed(MemberError::from(error)),
    }
}

/// A drive's record as `read_identity` gives it: bytes, or not found when blank.
async fn identity_reply(drive: &DirDrive) -> PeerReply {
    match read_format(drive).await {
        Ok(DriveFormat::Formatted(record)) => PeerReply::Bytes(record.encode()),
        Ok(DriveFormat::Blank) => PeerReply::Failed(MemberError::NotFound),
        Ok(DriveFormat::Offline(why)) => PeerReply::Failed(MemberError::Unreachable(why)),
        Err(e) => PeerReply::Failed(MemberError::Io(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(buckets: &[&str]) -> Vec<String> {
        buckets.iter().map(|&name| name.to_owned()).collect()
    }

    /// One listing that names a bucket says the deployment holds data; more than half
    /// listing none (blank drives count) says it holds none; drives that cannot answer
    /// yet are never taken for empty ones.
    #[test]
    fn buckets_are_known_from_listings_not_from_silence() {
        let down = || Err(MemberError::Unreachable("starting".to_owned()));
        assert_eq!(
            buckets_verdict(&[down(), down(), Ok(names(&["b"]))]),
            Some(true)
        );
        assert_eq!(buckets_verdict(&[down(), down(), down()]), None);
        assert_eq!(buckets_verdict(&[down(), down(), Ok(names(&[]))]), None);
        assert_eq!(
            buckets_verdict(&[down(), Err(MemberError::NotFound), Ok(names(&[]))]),
            Some(false)
        );
        assert_eq!(
            buckets_verdict(&[Ok(names(&[])), Ok(names(&[])), down(), down()]),
            None
        );
        assert_eq!(buckets_verdict(&[]), Some(false));
    }
}
