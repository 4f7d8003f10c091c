//! `shoal debug audit`: reads the drives of a stopped deployment directly and reports
//! every object version's state, changing nothing. The tool an operator runs when the
//! server will not start, so it starts from whatever drives it is given: missing,
//! blank, corrupt or foreign ones are reported and skipped (`drives.rs`), and every
//! set with at least one usable drive is audited.
//!
//! Invariants:
//! - Nothing is written: every drive is wrapped in `ReadOnly` (writes refused by the
//!   type), opened without creating anything (`DirDrive::open_read_only`), and no
//!   `Store` is opened (its open formats, sweeps the trash and cleans staging).
//! - One judge: metadata copies are judged and voted on by `object::quorum`, chunk
//!   records read and verified by `object::get`'s functions; this module only walks
//!   and counts.
//! - Memory is bounded by one walk batch per member and one version's chunk outcomes,
//!   not by the number of keys: keys are merged from the members' key-ordered walks
//!   batch by batch and reported as they are audited.

pub mod drives;
pub mod read_only;
pub mod version;

use std::collections::BTreeSet;

use futures_util::future::join_all;
use shoal_io::Drive;

use crate::member::verbs::bucket::BucketVerbs;
use crate::member::verbs::walk::{WalkEntry, WalkRequest, WalkVerbs};
use crate::topology::layout::PoolLayout;
use crate::topology::placement::DeploymentId;

pub use drives::{AuditMember, AuditPool, DriveReport, DriveState, GivenDrive};
pub use version::{MemberFinding, MetaState, SetView, VersionReport, VersionState};

/// Keys asked of each member per walk batch.
const WALK_BATCH_KEYS: usize = 1000;

/// The pool being audited, told to the sink before any version.
pub struct AuditStart<'a> {
    /// `None` when no given drive is formatted.
    pub deployment_id: Option<DeploymentId>,
    pub layout: Option<PoolLayout>,
    pub drives: &'a [DriveReport],
}

/// Where the audit is, for progress lines.
pub struct Progress<'a> {
    pub set_index: usize,
    pub set_count: usize,
    pub bucket: &'a str,
    /// Keys looked at so far (all sets and buckets).
    pub keys_done: u64,
}

/// Counts of versions by state; `deleted` keys (an agreed tombstone) are not versions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub healthy: u64,
    pub degraded: u64,
    pub unreadable: u64,
    pub deleted: u64,
}

/// Where the audit's findings go, as they are made.
pub trait AuditSink {
    fn start(&mut self, start: &AuditStart<'_>);
    fn version(&mut self, report: &VersionReport);
    /// Called once per key looked at; the sink decides how often to say something.
    fn progress(&mut self, progress: &Progress<'_>);
}

/// Audits the deployment most of `given` belong to. `Err` when no given drive is a
/// formatted drive of any deployment (the drives were told to the sink all the same).
pub async fn audit<D: Drive>(
    given: Vec<GivenDrive<D>>,
    sink: &mut impl AuditSink,
) -> Result<Summary, String> {
    let count = given.len();
    let pool = match drives::assemble(given).await {
        Ok(pool) => pool,
        Err(reports) => {
            sink.start(&AuditStart {
                deployment_id: None,
                layout: None,
                drives: &reports,
            });
            return Err(format!(
                "none of the {count} drives given is a formatted drive of a Shoal deployment"
            ));
        }
    };
    sink.start(&AuditStart {
        deployment_id: Some(pool.deployment_id),
        layout: Some(pool.layout),
        drives: &pool.reports,
    });
    let buckets = buckets_of(&pool).await;
    let mut audit = Audit {
        summary: Summary::default(),
        keys_done: 0,
    };
    for set_index in 0..pool.layout.set_count {
        let names = names_of(&pool, set_index);
        let view = set_view(&pool, set_index, &names);
        audit.set(&view, &buckets, sink).await;
    }
    Ok(audit.summary)
}

/// Per set drive of set `set_index`: the folder reported for it.
fn names_of<D: Drive>(pool: &AuditPool<D>, set_index: usize) -> Vec<String> {
    let set_size = pool.layout.set.set_size();
    (0..set_size)
        .map(|drive| {
            pool.reports
                .iter()
                .find(|r| {
                    matches!(r.state, DriveState::Ok | DriveState::NotGiven)
                        && r.place == Some((set_index, drive))
                })
                .map_or_else(|| "(not given)".to_owned(), |r| r.path.clone())
        })
        .collect()
}

fn set_view<'a, D: Drive>(
    pool: &'a AuditPool<D>,
    set_index: usize,
    names: &'a [String],
) -> SetView<'a, D> {
    let set_size = pool.layout.set.set_size();
    SetView {
        deployment_id: &pool.deployment_id,
        layout: pool.layout,
        set_index,
        members: &pool.members[set_index * set_size..(set_index + 1) * set_size],
        names,
    }
}

/// Every bucket any usable drive keeps a record of, in name order.
async fn buckets_of<D: Drive>(pool: &AuditPool<D>) -> Vec<String> {
    let lists = join_all(pool.members.iter().flatten().map(BucketVerbs::list_buckets)).await;
    let names: BTreeSet<String> = lists.into_iter().flatten().flatten().collect();
    names.into_iter().collect()
}

struct Audit {
    summary: Summary,
    keys_done: u64,
}

impl Audit {
    /// Audits every key of every bucket placed in this set.
    async fn set<D: Drive>(
        &mut self,
        view: &SetView<'_, D>,
        buckets: &[String],
        sink: &mut impl AuditSink,
    ) {
        if view.members.iter().all(Option::is_none) {
            return;
        }
        for bucket in buckets {
            let mut after = String::new();
            loop {
                let (keys, more) = keys_batch(view, bucket, &after).await;
                for key in &keys {
                    self.key(view, bucket, key, sink).await;
                }
                match (more, keys.last()) {
                    (true, Some(last)) => after.clone_from(last),
                    _ => break,
                }
            }
        }
    }

    async fn key<D: Drive>(
        &mut self,
        view: &SetView<'_, D>,
        bucket: &str,
        key: &str,
        sink: &mut impl AuditSink,
    ) {
        self.keys_done += 1;
        sink.progress(&Progress {
            set_index: view.set_index,
            set_count: view.layout.set_count,
            bucket,
            keys_done: self.keys_done,
        });
        // A copy on a drive of this set whose key is placed elsewhere is not this set's
        // to judge (its own set's drives hold the version, or nothing does).
        if view.placement(bucket, key).set_index != view.set_index {
            return;
        }
        let Some(report) = view.audit_key(bucket, key).await else {
            self.summary.deleted += 1;
            return;
        };
        match report.state {
            VersionState::Healthy => self.summary.healthy += 1,
            VersionState::Degraded => self.summary.degraded += 1,
            VersionState::Unreadable => self.summary.unreadable += 1,
        }
        sink.version(&report);
    }
}

/// The next keys of `bucket` after `after` that any member of the set holds, in key
/// order, and whether more may follow. Keys up to the smallest last key of a truncated
/// member walk are complete (every member was asked past them).
async fn keys_batch<D: Drive>(
    view: &SetView<'_, D>,
    bucket: &str,
    after: &str,
) -> (Vec<String>, bool) {
    let request = WalkRequest {
        prefix: String::new(),
        start_after: after.to_owned(),
        skip_under: None,
        collapse_slash: false,
        limit: WALK_BATCH_KEYS,
        summaries_for: None,
    };
    let walks = view
        .members
        .iter()
        .flatten()
        .map(|m| m.walk(bucket, &request));
    let mut keys = BTreeSet::new();
    let mut bound: Option<String> = None;
    // A member whose walk fails (no folder for the bucket, an I/O error) adds no keys;
    // the keys it holds are still audited if another member holds them.
    for batch in join_all(walks).await.into_iter().flatten() {
        let last = batch.entries.last().map(WalkEntry::name);
        if let (true, Some(last)) = (batch.truncated, last)
            && bound.as_deref().is_none_or(|b| last < b)
        {
            bound = Some(last.to_owned());
        }
        keys.extend(batch.entries.into_iter().filter_map(|e| match e {
            WalkEntry::Key(key) => Some(key),
            WalkEntry::Prefix(_) => None,
        }));
    }
    if let Some(bound) = &bound {
        keys.retain(|k| k <= bound);
    }
    (keys.into_iter().collect(), bound.is_some())
}
