//! What a node knows about itself between scrapes: each shard's last published
//! counters, the drives' probed state, and the fixed facts (layout, limits, version).
//! The metrics scrape and the admin API's `info` both read these slots: one publishing
//! task per shard, one copy of each number.
//!
//! Why published slots and not a message per scrape: each shard copies its cells into
//! its own slot once a second ([`PUBLISH_INTERVAL`]) from a timer task, off the request
//! path, and a scrape only reads the slots. A scrape therefore never waits for a busy
//! or stuck shard (its slot is at most a second old, or visibly stale), costs the shards
//! nothing however often Prometheus asks, and needs no mailbox. The one lock per slot is
//! taken once a second by its shard and once per scrape, never while serving S3.
//!
//! Drives are probed by one thread per drive, outside the shards (`probe.rs`): a read of
//! the format record and the filesystem's statvfs, then a pause. A probe still running
//! after [`HUNG_AFTER`] marks its drive `hung`, so a drive that stops answering turns
//! the node not ready within seconds; a hung drive blocks only its own probe thread,
//! never a shard or its blocking pool, and probes never pile up behind it. Shard 0 adds
//! the store's own view (a drive its identity check took offline, and why).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::member::HealthCounts;
use crate::topology::layout::PoolLayout;

/// How often each shard publishes its counters.
pub const PUBLISH_INTERVAL: Duration = Duration::from_secs(1);
/// Pause between two probes of one drive.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// A probe running longer than this marks its drive hung.
pub const HUNG_AFTER: Duration = Duration::from_secs(3);

/// One shard's counters as last published.
#[derive(Clone, Debug, Default)]
pub struct ShardSnapshot {
    /// The request table (`requests.rs` layout); empty before the first publish.
    pub cells: Box<[u64]>,
    /// Time the shard's thread spent on a CPU since start.
    pub busy_seconds: f64,
    /// Small atomic writes' group commit on this shard: `(flushes, waits)`, the
    /// filesystem flushes (`syncfs`) it ran and the waits for one (`shoal_io::dir_drive`).
    pub group_commit: (u64, u64),
    pub connections_open: u64,
    /// Requests being served now (S3, admin and operator paths alike).
    pub requests_in_flight: u64,
    /// Requests the shard took since start (the request ids it gave out).
    pub requests_total: u64,
    pub memory_used_bytes: u64,
    pub memory_max_bytes: u64,
    /// Requests waiting for a grant of the shard's memory budget now.
    pub requests_waiting: u64,
    /// Objects this shard's store has queued for healing (`Store::heal_backlog`).
    pub heal_backlog: u64,
    /// Per drive (pool order): what this shard's calls on it met (deadlines missed,
    /// errors, bitrot, latency per verb over the last minute).
    pub drives: Vec<HealthCounts>,
    /// The background scanner's figures (`object/scan/progress.rs`).
    pub scan: crate::object::scan::ScanProgress,
    /// What the shard's healing did since start, and its backlog (`object/heal`).
    pub heal: crate::object::heal::HealCounts,
    /// Peer verbs the shard served, by owner (`front/peer/member_service.rs`).
    pub peer_verbs: crate::front::peer::member_service::PeerVerbCounts,
    /// The fills of replaced drives this shard runs or ran (`object/fill/`).
    pub fill: Vec<crate::object::fill::FillProgress>,
}

/// A drive's state as `shoal_node_drive_state` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriveState {
    Online,
    Offline,
    Hung,
    Foreign,
    Unformatted,
}

impl DriveState {
    pub const ALL: [DriveState; 5] = [
        DriveState::Online,
        DriveState::Offline,
        DriveState::Hung,
        DriveState::Foreign,
        DriveState::Unformatted,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DriveState::Online => "online",
            DriveState::Offline => "offline",
            DriveState::Hung => "hung",
            DriveState::Foreign => "foreign",
            DriveState::Unformatted => "unformatted",
        }
    }

    /// The state a drive is offline in, from the reason the store gave.
    pub fn of_offline_reason(reason: &str) -> DriveState {
        if reason.contains("another drive") || reason.contains("another deployment") {
            DriveState::Foreign
        } else if reason.contains("has no") || reason.contains("no format") {
            DriveState::Unformatted
        } else {
            DriveState::Offline
        }
    }
}

/// What the last probe of one drive found.
#[derive(Clone, Debug)]
pub struct DriveReport {
    pub name: String,
    pub state: DriveState,
    pub total_bytes: u64,
    pub free_bytes: u64,
    pub free_inodes: u64,
    /// Why the store holds the drive offline (its identity check), if it does.
    pub store_offline: Option<DriveState>,
    /// When the probe in progress started (`None`: none is running).
    pub probing_since: Option<Instant>,
    /// Whether any probe finished yet (before that the drive counts as online if the
    /// store opened it online).
    pub probed: bool,
}

impl DriveReport {
    /// The state now: a probe running past [`HUNG_AFTER`] makes the drive hung; else
    /// the store's reason to hold it offline; else what the last probe found.
    pub fn state_at(&self, now: Instant) -> DriveState {
        match self.probing_since {
            Some(since) if now.saturating_duration_since(since) > HUNG_AFTER => DriveState::Hung,
            _ => self.store_offline.unwrap_or(self.state),
        }
    }
}

/// A drive filesystem's capacity, as statvfs tells it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Space {
    pub total_bytes: u64,
    pub free_bytes: u64,
    pub free_inodes: u64,
}

/// Facts of the node that do not change while it runs.
#[derive(Clone, Debug)]
pub struct NodeFacts {
    /// `HOST:PORT`, the `server` label of every series.
    pub server: String,
    pub version: String,
    pub commit: String,
    pub layout: PoolLayout,
    pub connections_limit: u64,
    /// Metrics may be scraped without credentials (`SHOAL_PROMETHEUS_AUTH_TYPE=public`).
    pub public_metrics: bool,
}

/// The node's shared observation state; one per process, shared by every shard.
pub struct NodeMetrics {
    pub facts: NodeFacts,
    pub started_at: Instant,
    shards: Vec<Mutex<ShardSnapshot>>,
    /// This node's drives, in its own drive order.
    drives: Mutex<Vec<DriveReport>>,
    /// Pool position of each of this node's drives (`0..n` on a single node).
    positions: Vec<usize>,
    /// Per pool position: when a peer's drive there last answered (`cluster/peer_watch.rs`);
    /// `None` for this node's drives and peers' drives never heard from.
    peers_answered: Mutex<Vec<Option<Instant>>>,
}

/// A peer's drive counts as answering this long after its last answer (peers are
/// asked every second).
pub const PEER_ANSWER_FRESH: Duration = Duration::from_secs(3);

impl NodeMetrics {
    pub fn new(facts: NodeFacts, shard_count: usize, drive_names: &[String]) -> Arc<Self> {
        Self::new_in_pool(
            facts,
            shard_count,
            drive_names,
            (0..drive_names.len()).collect(),
        )
    }

    /// A node of a cluster: its drives `drive_names` sit at pool `positions`.
    pub fn new_in_pool(
        facts: NodeFacts,
        shard_count: usize,
        drive_names: &[String],
        positions: Vec<usize>,
    ) -> Arc<Self> {
        let pool_drives = facts.layout.drive_count();
        let drives = drive_names
            .iter()
            .map(|name| DriveReport {
                name: name.clone(),
                state: DriveState::Online,
                total_bytes: 0,
                free_bytes: 0,
                free_inodes: 0,
                store_offline: None,
                probing_since: None,
                probed: false,
            })
            .collect();
        Arc::new(Self {
            facts,
            started_at: Instant::now(),
            shards: (0..shard_count).map(|_| Mutex::default()).collect(),
            drives: Mutex::new(drives),
            positions,
            peers_answered: Mutex::new(vec![None; pool_drives]),
        })
    }

    /// Shard `index` publishes its counters.
    pub fn publish(&self, index: usize, snapshot: ShardSnapshot) {
        *self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = snapshot;
    }

    /// Shard `index`'s last snapshot.
    pub fn shard_snapshot(&self, index: usize) -> ShardSnapshot {
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Every shard's last snapshot, in shard order.
    pub fn shard_snapshots(&self) -> Vec<ShardSnapshot> {
        (self.shards.iter())
            .map(|slot| slot.lock().unwrap_or_else(PoisonError::into_inner).clone())
            .collect()
    }

    /// Every shard's scanner figures as last published, in shard order (for `shoal
    /// admin info`; a shard with `active` false scans no set).
    pub fn scan_progress(&self) -> Vec<crate::object::scan::ScanProgress> {
        self.shard_snapshots().iter().map(|s| s.scan).collect()
    }

    /// Every fill of a replaced drive on this node as last published, in shard order.
    pub fn fill_progress(&self) -> Vec<crate::object::fill::FillProgress> {
        self.shard_snapshots()
            .into_iter()
            .flat_map(|s| s.fill)
            .collect()
    }

    /// Drive `index` is being probed from `now`.
    pub fn probe_started(&self, index: usize, now: Instant) {
        self.drives.lock().unwrap_or_else(PoisonError::into_inner)[index].probing_since = Some(now);
    }

    /// The probe of drive `index` found `state` and the filesystem's space.
    pub fn probe_done(&self, index: usize, state: DriveState, space: Option<Space>) {
        let mut drives = self.drives.lock().unwrap_or_else(PoisonError::into_inner);
        let report = &mut drives[index];
        report.state = state;
        report.probing_since = None;
        report.probed = true;
        if let Some(space) = space {
            report.total_bytes = space.total_bytes;
            report.free_bytes = space.free_bytes;
            report.free_inodes = space.free_inodes;
        }
    }

    /// The store's view of drive `index`: offline in `state`, or `None` (online).
    pub fn note_store_view(&self, index: usize, offline: Option<DriveState>) {
        self.drives.lock().unwrap_or_else(PoisonError::into_inner)[index].store_offline = offline;
    }

    pub fn drive_reports(&self) -> Vec<DriveReport> {
        self.drives
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Pool position of each of this node's drives, in its drive order.
    pub fn positions(&self) -> &[usize] {
        &self.positions
    }

    /// The peer's drive at pool `position` answered at `now`.
    pub fn peer_answered(&self, position: usize, now: Instant) {
        let mut answered = self
            .peers_answered
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = answered.get_mut(position) {
            *slot = Some(now);
        }
    }

    /// Whether the peer's drive at pool `position` answered within `PEER_ANSWER_FRESH`.
    pub fn peer_answering(&self, position: usize, now: Instant) -> bool {
        let answered = self
            .peers_answered
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        answered
            .get(position)
            .copied()
            .flatten()
            .is_some_and(|at| now.saturating_duration_since(at) < PEER_ANSWER_FRESH)
    }

    /// Per set: this node's drives online now (not hung).
    pub fn online_here_per_set(&self, now: Instant) -> Vec<usize> {
        let layout = self.facts.layout;
        let set_size = layout.set.set_size();
        let mut online = vec![0; layout.set_count];
        for (report, position) in self.drive_reports().iter().zip(&self.positions) {
            if report.state_at(now) == DriveState::Online && position / set_size < online.len() {
                online[position / set_size] += 1;
            }
        }
        online
    }

    /// Per set: members answering now, this node's drives online and peers' drives
    /// that answered within `PEER_ANSWER_FRESH`.
    pub fn online_per_set(&self, now: Instant) -> Vec<usize> {
        let set_size = self.facts.layout.set.set_size();
        let mut online = self.online_here_per_set(now);
        let answered = self
            .peers_answered
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for (position, at) in answered.iter().enumerate() {
            let fresh = at.is_some_and(|at| now.saturating_duration_since(at) < PEER_ANSWER_FRESH);
            if fresh && position / set_size < online.len() {
                online[position / set_size] += 1;
            }
        }
        online
    }

    /// Whether every set has at least its write quorum of drives online: the node can
    /// take writes (`/minio/health/ready`).
    pub fn ready(&self, now: Instant) -> bool {
        let quorum = self.facts.layout.set.write_quorum();
        self.online_per_set(now)
            .iter()
            .all(|online| *online >= quorum)
    }
}

/// Facts of a one-pool node of four drives, for the metrics' tests.
#[cfg(test)]
pub(crate) fn test_facts() -> NodeFacts {
    NodeFacts {
        server: "127.0.0.1:9000".to_owned(),
        version: "0.1.0".to_owned(),
        commit: "abc".to_owned(),
        layout: PoolLayout::for_drives(4, None).expect("layout"),
        connections_limit: 10,
        public_metrics: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> Arc<NodeMetrics> {
        let names: Vec<String> = (1..=4).map(|i| format!("/d{i}")).collect();
        NodeMetrics::new(test_facts(), 2, &names)
    }

    /// Readiness follows the write quorum: losing drives beyond parity, or a probe
    /// that hangs past `HUNG_AFTER`, turns it off; recovery turns it back on.
    #[test]
    fn ready_follows_write_quorum_and_hangs() {
        let node = node();
        let now = Instant::now();
        assert!(node.ready(now));
        node.note_store_view(0, Some(DriveState::Foreign));
        assert!(node.ready(now), "2+2: write quorum is 3");
        node.probe_started(1, now);
        assert!(
            node.ready(now + Duration::from_secs(1)),
            "a probe in progress is fine"
        );
        assert!(
            !node.ready(now + HUNG_AFTER + Duration::from_secs(1)),
            "hung"
        );
        node.probe_done(1, DriveState::Online, Some(Space::default()));
        assert!(
            node.ready(now + Duration::from_secs(10)),
            "3 of 4 online again"
        );
        node.probe_done(2, DriveState::Unformatted, None);
        assert!(!node.ready(now), "two drives out");
        node.note_store_view(0, None);
        node.probe_done(2, DriveState::Online, None);
        assert!(node.ready(now + Duration::from_secs(10)));
    }

    /// Offline reasons map to the documented states.
    #[test]
    fn offline_reasons_name_states() {
        let foreign = DriveState::of_offline_reason("its .shoal/format belongs to another drive");
        assert_eq!(foreign, DriveState::Foreign);
        let empty = DriveState::of_offline_reason("it has no .shoal/format");
        assert_eq!(empty, DriveState::Unformatted);
        assert_eq!(DriveState::of_offline_reason("gone"), DriveState::Offline);
    }
}
