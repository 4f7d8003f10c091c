//! The background scanner: finds damaged objects that nobody reads, and queues them for
//! healing (`Store::queue_heal`).
//!
//! Each shard runs one `Scanner` over its share of the pool's sets (`ScanShare`: set
//! `s` is node `s mod nodes`'s, and there shard `(s / nodes) mod shards`'s, so with
//! every node up each set has exactly one scanner). A cycle walks, set after set, every
//! bucket of the pool (`list_buckets`) in key order: each round asks every member of
//! the set for one bounded batch of keys after the cursor (the walk verb, through the
//! quorum engine with strategy "all"), takes the union of what the members hold up to
//! the smallest last key of the batches cut at their limit, and checks each key
//! (`check.rs`: metadata agreement on every member and, in a deep cycle, every chunk
//! record's CRC). A key on any member is checked, so a record left on a minority is
//! found too.
//!
//! Costs are bounded (`pace.rs`): objects and deep-read bytes per second per shard,
//! waiting while the shard serves requests, one object in flight, memory of one walk
//! batch per member and one object's chunk buffers. The position (set, bucket, last
//! key, cycle, deep-scan time) is saved on this node's drives (`position.rs`) every
//! `SAVE_INTERVAL`, at the end of each cycle and when the shard stops, so a restart
//! resumes within the last few seconds of work.
//!
//! Invariants: the scanner never writes an object's records or data (only its own
//! position record); a cycle's cursor only moves forward; every loop is bounded by the
//! bucket's keys or by the shard stopping.

pub mod check;
pub mod index_audit;
pub mod pace;
pub mod position;
pub mod progress;

use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Duration;

use shoal_io::{Clock, Drive, Env};

use crate::member::verbs::walk::{WalkBatch, WalkRequest, WalkVerbs};
use crate::member::{MemberError, Verb};
use crate::object::scan::check::{DeepPace, Verdict};
use crate::object::scan::pace::{Pacer, sleep_unless_stopping};
use crate::object::scan::position::Position;
use crate::object::store::Store;
use crate::record::format::FORMAT_PATH;
use crate::set::quorum::{self, Answer, Strategy};

pub use pace::{ScanHooks, ScanPace};
pub use position::ScanShare;
pub use progress::{ScanCounters, ScanProgress};

/// Keys one walk batch asks each member for.
const WALK_BATCH_KEYS: usize = 100;
/// How often the position is saved while a cycle runs.
pub const SAVE_INTERVAL: Duration = Duration::from_secs(10);

/// One shard's scanner.
pub struct Scanner<'s, D: Drive, C: Clock, E: Env> {
    store: &'s Store<D, C, E>,
    share: ScanShare,
    pace: ScanPace,
    position: Position,
    pacer: Pacer,
    /// Monotonic time of the last save.
    saved_at_nanos: u64,
    /// Whether this cycle, since this process took it up, skipped a set or a bucket or
    /// walked one without read quorum of its members (some keys may not have been
    /// seen): a deep cycle so cut short is not counted as one (kept in memory only).
    partial: bool,
}

impl<'s, D: Drive, C: Clock, E: Env> Scanner<'s, D, C, E> {
    /// The scanner of `share` over `store`, at the position saved on this node's drives.
    pub async fn open(store: &'s Store<D, C, E>, share: ScanShare, pace: ScanPace) -> Self {
        let drives = local_online_drives(store).await;
        let position = position::load(&drives, share.shard_index)
            .await
            .for_share(share);
        let active = (0..store.layout().set_count).any(|set| share.scans_set(set));
        let scanner = Self {
            store,
            share,
            pace,
            position,
            pacer: Pacer::default(),
            saved_at_nanos: store.env.monotonic_nanos(),
            partial: false,
        };
        scanner.publish(active);
        scanner
    }

    /// Where the scanner is.
    pub fn position(&self) -> &Position {
        &self.position
    }

    /// Scans cycle after cycle, pausing between them, until the shard stops; then
    /// saves the position. Returns at once on a shard with no set to scan.
    pub async fn run(&mut self, hooks: &ScanHooks<'_>) {
        if !self.store.scan.get().active {
            return;
        }
        loop {
            if !self.run_cycle(hooks).await {
                break;
            }
            let pause = self.pace.cycle_pause();
            if !sleep_unless_stopping(&self.store.env, pause, hooks).await {
                break;
            }
        }
        self.save().await;
    }

    /// Runs one cycle (or the rest of the one in progress) to its end. False when the
    /// shard began to stop first (the position is then where it stopped, not saved).
    pub async fn run_cycle(&mut self, hooks: &ScanHooks<'_>) -> bool {
        if !self.position.in_cycle {
            self.start_cycle().await;
        }
        let set_count = self.store.layout().set_count;
        for set_index in self.position.set_index..set_count {
            if !self.share.scans_set(set_index) {
                continue;
            }
            if set_index != self.position.set_index {
                self.position.set_index = set_index;
                self.position.bucket.clear();
                self.position.after_key.clear();
            }
            if !self.scan_set(set_index, hooks).await {
                return false;
            }
        }
        self.finish_cycle().await;
        true
    }

    async fn start_cycle(&mut self) {
        let now = self.store.clock.now_unix_nanos();
        let p = &mut self.position;
        p.cycle += 1;
        p.in_cycle = true;
        p.deep = self
            .pace
            .cycle_is_deep(now, p.last_deep_finished_unix_nanos);
        p.cycle_started_unix_nanos = now;
        p.set_index = 0;
        p.bucket.clear();
        p.after_key.clear();
        self.partial = false;
        tracing::debug!(cycle = p.cycle, deep = p.deep, "scanner: cycle starts");
        self.save().await;
    }

    async fn finish_cycle(&mut self) {
        let now = self.store.clock.now_unix_nanos();
        let p = &mut self.position;
        p.in_cycle = false;
        p.last_cycle_nanos = now.saturating_sub(p.cycle_started_unix_nanos);
        p.cycles_completed += 1;
        if p.deep && self.partial {
            tracing::warn!(
                cycle = p.cycle,
                "scanner: a deep cycle ended without reading every member it needed \
                 (members unreachable); not counted as deep: the next cycle is deep again"
            );
        } else if p.deep {
            p.deep_cycles_completed += 1;
            p.last_deep_finished_unix_nanos = now;
        }
        tracing::debug!(cycle = p.cycle, deep = p.deep, "scanner: cycle done");
        self.save().await;
    }

    /// Every bucket of the pool on set `set_index`, from the position on. False when
    /// stopping.
    async fn scan_set(&mut self, set_index: usize, hooks: &ScanHooks<'_>) -> bool {
        let buckets = match self.store.list_buckets().await {
            Ok(buckets) => buckets.into_iter().map(|b| b.name).collect::<BTreeSet<_>>(),
            Err(e) => {
                // Known again next cycle; this one goes on without the set.
                tracing::warn!(set = set_index, %e, "scanner: cannot list buckets; set skipped this cycle");
                self.partial = true;
                return true;
            }
        };
        for bucket in buckets.range(self.position.bucket.clone()..) {
            if *bucket != self.position.bucket {
                self.position.bucket.clone_from(bucket);
                self.position.after_key.clear();
            }
            if !self.scan_bucket(set_index, hooks).await {
                return false;
            }
        }
        true
    }

    /// The position's bucket on set `set_index`, after the position's key. False when
    /// stopping.
    async fn scan_bucket(&mut self, set_index: usize, hooks: &ScanHooks<'_>) -> bool {
        let bucket: Rc<str> = self.position.bucket.as_str().into();
        loop {
            let Some((keys, more)) = self.walk(set_index, &bucket).await else {
                tracing::warn!(set = set_index, bucket = %bucket, "scanner: no member of the set could be walked; bucket skipped this cycle");
                self.partial = true;
                return true;
            };
            for key in keys {
                if !self.scan_key(&bucket, &key, hooks).await {
                    return false;
                }
            }
            if !more {
                return true;
            }
        }
    }

    /// Checks one key and moves the position past it. False when stopping (the key is
    /// then checked again on resume).
    async fn scan_key(&mut self, bucket: &str, key: &str, hooks: &ScanHooks<'_>) -> bool {
        let env = &self.store.env;
        if !self.pacer.before_object(env, &self.pace, hooks).await {
            return false;
        }
        let deep = self.position.deep.then_some(DeepPace {
            pacer: &mut self.pacer,
            pace: &self.pace,
            hooks,
        });
        let verdict = self.store.scan_object(bucket, key, deep).await;
        if verdict == Verdict::Stopped {
            return false;
        }
        self.store.scan.update(|p| {
            p.objects_scanned += 1;
            match verdict {
                Verdict::Damaged(_) => p.damaged_found += 1,
                Verdict::Unknown => p.objects_unverified += 1,
                Verdict::Healthy | Verdict::Stopped => {}
            }
        });
        key.clone_into(&mut self.position.after_key);
        if env.monotonic_nanos().saturating_sub(self.saved_at_nanos) >= nanos(SAVE_INTERVAL) {
            self.save().await;
        }
        self.pacer.charge(env, &self.pace, (1, 0), hooks).await
    }

    /// The keys after the position's key that any member of the set holds, up to the
    /// point every member's batch covers, and whether more may follow. `None` when no
    /// member could be walked; a walk that fewer than read quorum answered makes the
    /// cycle partial (what it found is scanned all the same).
    async fn walk(&mut self, set_index: usize, bucket: &Rc<str>) -> Option<(Vec<String>, bool)> {
        let (keys, more, answered) = walk_set_counted(
            self.store,
            set_index,
            bucket,
            &self.position.after_key,
            WalkQuorum::ANY,
        )
        .await?;
        if answered < self.store.layout.set.read_quorum() {
            self.partial = true;
        }
        Some((keys, more))
    }

    async fn save(&mut self) {
        self.position.sequence += 1;
        let drives = local_online_drives(self.store).await;
        if !position::save(&drives, self.share.shard_index, &self.position).await {
            tracing::warn!(
                shard = self.share.shard_index,
                "scanner: position saved on no drive"
            );
        }
        self.saved_at_nanos = self.store.env.monotonic_nanos();
        self.publish(self.store.scan.get().active);
    }

    /// Copies the position's figures into the shard's counters.
    fn publish(&self, active: bool) {
        let p = &self.position;
        self.store.scan.update(|progress| {
            progress.active = active;
            progress.cycles_completed = p.cycles_completed;
            progress.deep_cycles_completed = p.deep_cycles_completed;
            progress.cycle_deep = p.in_cycle && p.deep;
            progress.cycle_started_unix_nanos = if p.in_cycle {
                p.cycle_started_unix_nanos
            } else {
                0
            };
            progress.last_cycle_nanos = p.last_cycle_nanos;
            progress.last_deep_finished_unix_nanos = p.last_deep_finished_unix_nanos;
        });
    }
}

/// The answers a walk of a set must have to be believed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WalkQuorum {
    /// A member (index in the set) whose answer does not count: a drive being filled,
    /// which holds nothing yet.
    pub skip: Option<usize>,
    /// Members (other than `skip`) that must answer.
    pub answers_min: usize,
}

impl WalkQuorum {
    /// Any one member: the scanner's walk, which a later cycle repeats.
    pub(crate) const ANY: WalkQuorum = WalkQuorum {
        skip: None,
        answers_min: 1,
    };
}

/// One batch of the keys after `after_key` in `bucket` that any member of set
/// `set_index` holds, up to the point every member's batch covers (so a key on one
/// member only is found too), and whether more may follow. `None` when fewer members
/// than `need` asks could be walked. The scanner's walk, and the fill's
/// (`object/fill/`).
pub(crate) async fn walk_set<D: Drive, C: Clock, E: Env>(
    store: &Store<D, C, E>,
    set_index: usize,
    bucket: &Rc<str>,
    after_key: &str,
    need: WalkQuorum,
) -> Option<(Vec<String>, bool)> {
    let (keys, more, _) = walk_set_counted(store, set_index, bucket, after_key, need).await?;
    Some((keys, more))
}

/// `walk_set`, with how many members (other than `need.skip`) answered.
async fn walk_set_counted<D: Drive, C: Clock, E: Env>(
    store: &Store<D, C, E>,
    set_index: usize,
    bucket: &Rc<str>,
    after_key: &str,
    need: WalkQuorum,
) -> Option<(Vec<String>, bool, usize)> {
    let request = Rc::new(WalkRequest {
        prefix: String::new(),
        start_after: after_key.to_owned(),
        skip_under: None,
        collapse_slash: false,
        limit: WALK_BATCH_KEYS,
        summaries_for: None,
    });
    let members = store.set_members(set_index);
    let strategy = Strategy::all(Verb::Walk, store.config.member_deadline);
    let answers = quorum::call(&store.env, members, strategy, |_, member| {
        let (bucket, request) = (Rc::clone(bucket), Rc::clone(&request));
        async move { member.walk(&bucket, &request).await }
    })
    .await;
    let mut counted = 0;
    let batches: Vec<_> = (answers.into_iter().enumerate())
        .filter_map(|(index, answer)| {
            let batch = match answer {
                Answer::Ok(batch) => batch,
                // No folder for the bucket: nothing of it here.
                Answer::Err(MemberError::NotFound) => WalkBatch::default(),
                _ => return None,
            };
            counted += usize::from(need.skip != Some(index));
            Some(batch)
        })
        .collect();
    if batches.is_empty() || counted < need.answers_min {
        return None;
    }
    let horizon = (batches.iter())
        .filter(|b| b.truncated)
        .filter_map(|b| b.entries.last().map(|e| e.name().to_owned()))
        .min();
    let keys: BTreeSet<String> = (batches.into_iter())
        .flat_map(|b| b.entries)
        .map(|e| e.name().to_owned())
        .filter(|name| horizon.as_deref().is_none_or(|h| name.as_str() <= h))
        .collect();
    Some((keys.into_iter().collect(), horizon.is_some(), counted))
}

/// The drives of this node that prove to be the drives they were formatted as, now
/// (where the position is kept): checked just before each save, so a drive whose folder
/// was emptied or unmounted a moment ago is not written into.
async fn local_online_drives<D: Drive, C: Clock, E: Env>(store: &Store<D, C, E>) -> Vec<&D> {
    let mut drives = Vec::new();
    for (position, member) in store.members.iter().enumerate() {
        let Some(drive) = member.drive() else {
            continue;
        };
        let identity = &store.identities[position];
        if drive.check_identity(FORMAT_PATH, identity).await.is_ok() {
            drives.push(drive);
        }
    }
    drives
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}
