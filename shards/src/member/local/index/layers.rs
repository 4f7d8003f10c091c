//! One bucket's index on one drive: a live memtable over frozen memtables (being
//! written out) over runs, newest first. A key's newest entry wins; `None` there means
//! the drive has no record of it, whatever older layers say.
//!
//! Concurrency (one shard, many tasks): `apply` is synchronous and touches only the
//! live memtable. A batch reads frozen memtables and runs from `Rc` snapshots taken
//! without awaiting, merges them across awaits, then overlays the live memtable in one
//! synchronous step at the end. Frozen memtables and runs never change, and a flush
//! swaps a frozen memtable for a run of the same content, so the snapshot stays a true
//! picture of "everything older than the live memtable" unless a freeze moved entries
//! out of the live memtable meanwhile: `generation` counts freezes (and installs of
//! older content), and a batch that sees it move starts again. No `RefCell` borrow is
//! held across an await.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::rc::Rc;

use shoal_io::Drive;

use super::entry::Entry;
use super::run::Run;
use super::{IndexError, IndexResult};
use crate::member::verbs::walk::KeySummary;

/// What an entry costs in memory beyond its key and ETag: the summary's fixed fields
/// and a B-tree slot (an estimate; the bound it feeds is a budget, not an accounting).
pub const ENTRY_OVERHEAD_BYTES: usize = 128;

/// Times a batch starts again when freezes keep moving entries under it.
const BATCH_ATTEMPTS_MAX: usize = 16;

pub type Memtable = BTreeMap<String, Option<KeySummary>>;

pub fn entry_cost_bytes(key: &str, entry: Option<&KeySummary>) -> usize {
    key.len() + entry.map_or(0, |s| s.etag.len()) + ENTRY_OVERHEAD_BYTES
}

/// A memtable that no longer changes, waiting to become run `seq`.
pub struct Frozen {
    pub seq: u64,
    pub entries: Memtable,
    pub bytes: usize,
}

pub struct Layers<D: Drive> {
    pub live: Memtable,
    pub live_bytes: usize,
    /// Newest first (highest `seq` first).
    pub frozen: Vec<Rc<Frozen>>,
    /// Newest first (highest `seq` first).
    pub runs: Vec<Rc<Run<D>>>,
    /// Moves when entries leave the live memtable or older content appears.
    pub generation: u64,
}

pub struct BucketIndex<D: Drive> {
    pub layers: RefCell<Layers<D>>,
}

impl<D: Drive> BucketIndex<D> {
    pub fn new(runs: Vec<Rc<Run<D>>>) -> Self {
        Self {
            layers: RefCell::new(Layers {
                live: Memtable::new(),
                live_bytes: 0,
                frozen: Vec::new(),
                runs,
                generation: 0,
            }),
        }
    }

    /// Records `key`'s newest entry; returns the memtable bytes (added, freed).
    pub fn apply(&self, key: &str, entry: Option<KeySummary>) -> (usize, usize) {
        let added = entry_cost_bytes(key, entry.as_ref());
        let mut layers = self.layers.borrow_mut();
        let removed = match layers.live.insert(key.to_owned(), entry) {
            Some(old) => entry_cost_bytes(key, old.as_ref()),
            None => 0,
        };
        layers.live_bytes = layers.live_bytes + added - removed;
        (added, removed)
    }

    pub fn live_len(&self) -> usize {
        self.layers.borrow().live.len()
    }

    pub fn live_bytes(&self) -> usize {
        self.layers.borrow().live_bytes
    }

    /// Moves the live memtable to the frozen list as run `seq`; `None` if empty.
    pub fn freeze(&self, seq: u64) -> Option<Rc<Frozen>> {
        let mut layers = self.layers.borrow_mut();
        if layers.live.is_empty() {
            return None;
        }
        assert!(
            layers.frozen.first().is_none_or(|f| f.seq < seq)
                && layers.runs.first().is_none_or(|r| r.seq < seq),
            "a freeze is newer than every layer"
        );
        let frozen = Rc::new(Frozen {
            seq,
            entries: std::mem::take(&mut layers.live),
            bytes: std::mem::take(&mut layers.live_bytes),
        });
        layers.frozen.insert(0, Rc::clone(&frozen));
        layers.generation += 1;
        Some(frozen)
    }

    /// Swaps a frozen memtable for the run written from it (same content: readers
    /// holding either see the same entries).
    pub fn install_flushed(&self, run: Rc<Run<D>>) {
        let mut layers = self.layers.borrow_mut();
        let before = layers.frozen.len();
        layers.frozen.retain(|f| f.seq != run.seq);
        assert_eq!(
            layers.frozen.len() + 1,
            before,
            "flushed run had a frozen memtable"
        );
        insert_by_seq(&mut layers.runs, run);
    }

    /// Adds a run older than every other layer (a rebuild); entries appear, so batches
    /// in flight start again.
    pub fn install_oldest(&self, run: Rc<Run<D>>) {
        let mut layers = self.layers.borrow_mut();
        assert!(
            layers.runs.last().is_none_or(|r| r.seq > run.seq),
            "a rebuilt run is the oldest layer"
        );
        layers.runs.push(run);
        layers.generation += 1;
    }

    /// Swaps `merged` for the runs it was merged from (the same visible content).
    pub fn replace_runs(&self, sources: &[Rc<Run<D>>], merged: Rc<Run<D>>) {
        let mut layers = self.layers.borrow_mut();
        let before = layers.runs.len();
        layers
            .runs
            .retain(|run| !sources.iter().any(|s| Rc::ptr_eq(s, run)));
        assert_eq!(
            layers.runs.len() + sources.len(),
            before,
            "merged runs were layers"
        );
        insert_by_seq(&mut layers.runs, merged);
    }

    /// The next `limit` keys with `prefix` from `start` whose newest entry is a summary
    /// (tombstone summaries included), in key order.
    pub async fn batch(
        &self,
        drive: &D,
        start: Start<'_>,
        prefix: &str,
        limit: usize,
    ) -> IndexResult<Vec<(String, KeySummary)>> {
        assert!(limit > 0, "a batch asks for at least one key");
        for _ in 0..BATCH_ATTEMPTS_MAX {
            if let Some(found) = self.batch_once(drive, start, prefix, limit).await? {
                return Ok(found);
            }
        }
        Err(IndexError::Busy)
    }

    /// One attempt; `None` when a freeze moved entries under it.
    async fn batch_once(
        &self,
        drive: &D,
        start: Start<'_>,
        prefix: &str,
        limit: usize,
    ) -> IndexResult<Option<Vec<(String, KeySummary)>>> {
        let (generation, mut merge) = {
            let layers = self.layers.borrow();
            let merge = Merge::new(&layers.frozen, &layers.runs, start, prefix);
            (layers.generation, merge)
        };
        let mut older: Vec<(String, KeySummary)> = Vec::new();
        let mut wanted = limit;
        loop {
            // Awaits happen here only: older entries until there are `wanted` of them.
            while !merge.exhausted && older.len() < wanted {
                if let Some(found) = merge.next(drive).await? {
                    older.push(found);
                }
            }
            if self.layers.borrow().generation != generation {
                return Ok(None);
            }
            let layers = self.layers.borrow();
            let live = Self::live_range(&layers.live, &merge, start, prefix);
            let picks = overlay(&older, live, limit);
            if picks.len() >= limit || merge.exhausted {
                return Ok(Some(take_picks(older, picks)));
            }
            // The live memtable hid some: read as many more as are missing.
            wanted = older.len() + (limit - picks.len());
        }
    }

    /// The bound up to which the live memtable may be merged with `older`: every older
    /// key up to it is known.
    fn live_range<'a>(
        live: &'a Memtable,
        merge: &Merge<D>,
        start: Start<'_>,
        prefix: &str,
    ) -> impl Iterator<Item = (&'a String, &'a Option<KeySummary>)> {
        let lower = lower_bound(start, prefix);
        // Every older key up to the merge's position is known; beyond it, an older
        // key not read yet may come before a live one.
        let upper = if merge.exhausted {
            Bound::Unbounded
        } else {
            Bound::Included(merge.position().to_owned())
        };
        let empty_range = match (&lower, &upper) {
            (Bound::Excluded(l), Bound::Included(u)) => l >= u,
            (Bound::Included(l), Bound::Included(u)) => l > u,
            _ => false,
        };
        let range = if empty_range {
            None
        } else {
            Some(live.range((lower, upper)))
        };
        let prefix = prefix.to_owned();
        range
            .into_iter()
            .flatten()
            .take_while(move |(k, _)| k.starts_with(&prefix))
    }
}

/// Where a batch's next key comes from: an older layer's entry (its place in `older`),
/// or the live memtable's summary.
enum Pick<'a> {
    Older(usize),
    Live(&'a String, &'a KeySummary),
}

/// `older` (the older layers' next keys, in order) with the live memtable's entries laid
/// over it: the next `limit` keys whose newest entry is a summary. Only decides, so a
/// batch that must read more older keys first has copied nothing.
fn overlay<'a>(
    older: &[(String, KeySummary)],
    live: impl Iterator<Item = (&'a String, &'a Option<KeySummary>)>,
    limit: usize,
) -> Vec<Pick<'a>> {
    let mut live = live.peekable();
    let mut next_older = 0;
    let mut picks = Vec::with_capacity(limit);
    while picks.len() < limit {
        let older_key = older.get(next_older).map(|(key, _)| key);
        match (older_key, live.peek()) {
            (None, None) => break,
            (Some(old_key), Some((live_key, _))) if *live_key > old_key => {
                picks.push(Pick::Older(next_older));
                next_older += 1;
            }
            (Some(_), None) => {
                picks.push(Pick::Older(next_older));
                next_older += 1;
            }
            (_, Some(_)) => {
                let (key, entry) = live.next().expect("peeked");
                // The live entry is newer than an older one of the same key.
                if older_key == Some(key) {
                    next_older += 1;
                }
                if let Some(summary) = entry {
                    picks.push(Pick::Live(key, summary));
                }
            }
        }
    }
    picks
}

/// The batch `picks` chose: older entries moved out of `older`, live ones copied.
fn take_picks(older: Vec<(String, KeySummary)>, picks: Vec<Pick<'_>>) -> Vec<(String, KeySummary)> {
    let mut older = older.into_iter().enumerate();
    picks
        .into_iter()
        .map(|pick| match pick {
            Pick::Older(at) => older
                .find(|(index, _)| *index == at)
                .map(|(_, entry)| entry)
                .expect("picks point forward into older"),
            Pick::Live(key, summary) => (key.clone(), summary.clone()),
        })
        .collect()
}

fn insert_by_seq<D: Drive>(runs: &mut Vec<Rc<Run<D>>>, run: Rc<Run<D>>) {
    let at = runs.partition_point(|r| r.seq > run.seq);
    runs.insert(at, run);
}

/// Where a batch starts: strictly after a key (a listing's cursor), or at the first key
/// from one on (past a common prefix: `a/` ends where `a0` begins).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start<'a> {
    After(&'a str),
    From(&'a str),
}

impl Start<'_> {
    fn key(&self) -> &str {
        match self {
            Start::After(key) | Start::From(key) => key,
        }
    }
}

fn lower_bound(start: Start<'_>, prefix: &str) -> Bound<String> {
    match start {
        _ if prefix > start.key() => Bound::Included(prefix.to_owned()),
        Start::After(after) => Bound::Excluded(after.to_owned()),
        Start::From(from) => Bound::Included(from.to_owned()),
    }
}

/// A layer being read in key order from a position.
enum Cursor<D: Drive> {
    Memory {
        frozen: Rc<Frozen>,
        head: Option<Entry>,
    },
    Run {
        run: Rc<Run<D>>,
        block: usize,
        entries: std::vec::IntoIter<Entry>,
        head: Option<Entry>,
        loaded: bool,
    },
}

/// The older layers of a snapshot merged in key order, newest entry winning, limited
/// to keys with the prefix.
pub struct Merge<D: Drive> {
    cursors: Vec<Cursor<D>>,
    prefix: String,
    /// Every older entry at or before this key has been seen (`Excluded` start).
    position: String,
    exhausted: bool,
    lower: Bound<String>,
}

impl<D: Drive> Merge<D> {
    pub fn new(frozen: &[Rc<Frozen>], runs: &[Rc<Run<D>>], start: Start<'_>, prefix: &str) -> Self {
        let lower = lower_bound(start, prefix);
        let mut cursors = Vec::new();
        for frozen in frozen {
            let head = first_in(&frozen.entries, &lower);
            cursors.push(Cursor::Memory {
                frozen: Rc::clone(frozen),
                head,
            });
        }
        for run in runs {
            let block = match &lower {
                Bound::Included(key) => run
                    .blocks
                    .partition_point(|b| b.first_key < *key)
                    .saturating_sub(1),
                Bound::Excluded(key) => run.block_after(key),
                Bound::Unbounded => 0,
            };
            cursors.push(Cursor::Run {
                run: Rc::clone(run),
                block,
                entries: Vec::new().into_iter(),
                head: None,
                loaded: run.blocks.is_empty(),
            });
        }
        Self {
            cursors,
            prefix: prefix.to_owned(),
            position: start.key().to_owned(),
            exhausted: false,
            lower,
        }
    }

    fn position(&self) -> &str {
        &self.position
    }

    /// The next key's newest entry if it is a summary (`Ok(None)` when it is not, or
    /// when the merge ends: check `exhausted`).
    async fn next(&mut self, drive: &D) -> IndexResult<Option<(String, KeySummary)>> {
        Ok(self
            .next_entry(drive)
            .await?
            .and_then(|(key, entry)| entry.map(|summary| (key, summary))))
    }

    /// The next key and its newest entry, `None` included; `Ok(None)` at the end.
    pub async fn next_entry(&mut self, drive: &D) -> IndexResult<Option<Entry>> {
        for cursor in &mut self.cursors {
            cursor.load(drive, &self.lower).await?;
        }
        // Cursors are newest first, and `min_by_key` gives the first of equal keys: the
        // newest layer holding the smallest key, whose entry wins.
        let Some(newest) = (0..self.cursors.len())
            .filter(|&at| self.cursors[at].head().is_some())
            .min_by_key(|&at| self.cursors[at].head().map(|(k, _)| k))
        else {
            self.exhausted = true;
            return Ok(None);
        };
        let (key, entry) = self.cursors[newest].take_head();
        if !key.starts_with(&self.prefix) {
            self.exhausted = true;
            return Ok(None);
        }
        for cursor in &mut self.cursors[newest + 1..] {
            if cursor.head().is_some_and(|(k, _)| *k == key) {
                cursor.take_head();
            }
        }
        // The bound's and the position's buffers are reused: no allocation per key.
        match &mut self.lower {
            Bound::Excluded(lower) => lower.clone_from(&key),
            lower => *lower = Bound::Excluded(key.clone()),
        }
        self.position.clone_from(&key);
        Ok(Some((key, entry)))
    }
}

fn first_in(entries: &Memtable, lower: &Bound<String>) -> Option<Entry> {
    entries
        .range::<String, _>((lower.as_ref(), Bound::Unbounded))
        .next()
        .map(|(k, v)| (k.clone(), v.clone()))
}

impl<D: Drive> Cursor<D> {
    fn head(&self) -> Option<&Entry> {
        match self {
            Cursor::Memory { head, .. } | Cursor::Run { head, .. } => head.as_ref(),
        }
    }

    /// Takes the head and moves on to the next entry (in memory; a run's next block
    /// waits for `load`).
    fn take_head(&mut self) -> Entry {
        match self {
            Cursor::Memory { frozen, head } => {
                let taken = head.take().expect("a head to take");
                *head = first_in(&frozen.entries, &Bound::Excluded(taken.0.clone()));
                taken
            }
            Cursor::Run { entries, head, .. } => {
                let taken = head.take().expect("a head to take");
                *head = entries.next();
                taken
            }
        }
    }

    /// Reads blocks of a run until it has a head past `lower`, or none is left.
    async fn load(&mut self, drive: &D, lower: &Bound<String>) -> IndexResult<()> {
        let Cursor::Run {
            run,
            block,
            entries,
            head,
            loaded,
        } = self
        else {
            return Ok(());
        };
        while head.is_none() && !(*loaded && *block >= run.blocks.len()) {
            if *loaded {
                *block += 1;
                if *block >= run.blocks.len() {
                    break;
                }
            }
            let read = run.read_block(drive, *block).await?;
            *loaded = true;
            *entries = read.into_iter();
            *head = entries.find(|(k, _)| above(k, lower));
        }
        Ok(())
    }
}

fn above(key: &str, lower: &Bound<String>) -> bool {
    match lower {
        Bound::Included(l) => key >= l.as_str(),
        Bound::Excluded(l) => key > l.as_str(),
        Bound::Unbounded => true,
    }
}
