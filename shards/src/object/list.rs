//! Listing objects in key order with prefix, delimiter, start-after and max-keys,
//! one page at a time.
//!
//! A page is built in rounds. Each round asks every member of every set for one
//! bounded batch of its entries after a cursor (`WalkVerbs::walk`, in key order; with
//! the `/` delimiter the member collapses folders into common prefixes itself) and
//! merges them: an entry is listed only when read-quorum members of its set report it,
//! so a stale or half-deleted copy on a minority never shows. A member whose batch was
//! cut at its limit says nothing beyond its last entry, so a round decides only up to
//! the smallest such last entry over all members (its horizon); the next round starts
//! there. A page is answered only when read-quorum members of every set could be
//! walked (a member without the bucket's folder counts only if it is this deployment's
//! drive, `absence.rs`): an empty page is never a guess. The page's keys then get their
//! agreed metadata: a member's walk summarises each key's record (`KeySummary`), and a
//! key whose summaries agree on write-quorum members of its set, each at its drive's
//! place, is listed from them (write quorum holds that record, so it is committed, and
//! the other members are too few for any other version to have read quorum: the rule
//! `read_metas_quick` uses); any other key's records are read concurrently through the
//! quorum engine.
//!
//! Bounds: a round holds at most `members × (max-keys + 1)` entries, whatever the
//! bucket's size; each page costs walks in proportion to its own length (plus keys
//! that exist on a minority only), never to the bucket's.

use std::collections::BTreeMap;
use std::rc::Rc;

use futures_util::StreamExt;
use futures_util::future::join_all;
use shoal_io::{Clock, Drive, Env};

use crate::error::{Error, Result};
use crate::member::verbs::walk::{
    KeySummary, WALK_LIMIT_MAX, WalkBatch, WalkEntry, WalkRequest, WalkVerbs,
};
use crate::member::{MemberError, Verb};
use crate::object::store::Store;
use crate::record::checksum::ChecksumAlgorithm;
use crate::record::meta::ObjectInfo;
use crate::set::quorum::{self, Answer, Strategy};

/// Most keys one page may return (S3's limit).
pub const MAX_KEYS_LIMIT: usize = 1000;

/// A list request.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub prefix: String,
    pub delimiter: Option<String>,
    /// List keys (and prefixes) strictly after this one.
    pub start_after: String,
    pub max_keys: usize,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self {
            prefix: String::new(),
            delimiter: None,
            start_after: String::new(),
            max_keys: MAX_KEYS_LIMIT,
        }
    }
}

/// What a listing shows of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    pub key: String,
    pub mod_time_unix_nanos: u64,
    pub size_bytes: u64,
    pub etag: String,
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
}

impl ListedObject {
    fn of_info(info: ObjectInfo) -> Self {
        Self {
            checksum_algorithm: info.checksum.as_ref().map(|c| c.algorithm),
            key: info.key,
            mod_time_unix_nanos: info.mod_time_unix_nanos,
            size_bytes: info.size_bytes,
            etag: info.etag,
        }
    }

    fn of_summary(key: String, summary: KeySummary) -> Self {
        Self {
            key,
            mod_time_unix_nanos: summary.mod_time_unix_nanos,
            size_bytes: summary.size_bytes,
            etag: summary.etag,
            checksum_algorithm: summary.checksum_algorithm,
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    pub objects: Vec<ListedObject>,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
    /// The last key or prefix returned: start-after for the next page.
    pub next_start_after: Option<String>,
}

/// Metadata reads of one page's keys in flight at once.
const LIST_META_CONCURRENCY: usize = 32;
/// Rounds one page may take before giving up (only minority leftovers in the way).
const LIST_ROUNDS_MAX: usize = 100_000;

/// Where the next round starts.
struct Cursor {
    /// Walk entries after this.
    after: String,
    /// The last name put on the page (or start-after): later names must be greater.
    last_listed: String,
    /// A common prefix already listed: nothing under it is walked again.
    skip_under: Option<String>,
}

/// One round's decided entries (collapsed, in order) and where it stopped deciding
/// (`None`: it saw everything).
struct Round {
    items: Vec<WalkEntry>,
    horizon: Option<String>,
    /// The keys whose record write-quorum members agree on (`agreed_summaries`).
    agreed: BTreeMap<String, KeySummary>,
}

/// One set's walk decided: its candidate entries, its horizon and its agreed keys.
struct SetRound {
    items: Vec<WalkEntry>,
    horizon: Option<String>,
    agreed: BTreeMap<String, KeySummary>,
}

impl<D: Drive, C: Clock, E: Env> Store<D, C, E> {
    pub async fn list_objects(&self, bucket: &str, query: &ListQuery) -> Result<ListPage> {
        self.require_bucket(bucket).await?;
        let max_keys = query.max_keys.min(MAX_KEYS_LIMIT);
        let mut page = ListPage::default();
        let mut cursor = Cursor {
            after: query.start_after.clone(),
            last_listed: query.start_after.clone(),
            skip_under: collapsed_prefix(&query.start_after, query),
        };
        for _ in 0..LIST_ROUNDS_MAX {
            let wanted = max_keys - listed(&page);
            let limit = (wanted + 1).clamp(2, WALK_LIMIT_MAX);
            let mut round = self.list_round(bucket, query, &cursor, limit).await?;
            // An entry after the wanted ones: the page is full unless keys among them
            // were deleted since the walk.
            let more = round.items.len() > wanted;
            let items: Vec<WalkEntry> = round.items.into_iter().take(wanted).collect();
            let last = items.last().map(|item| item.name().to_owned());
            self.fill_page(bucket, items, &mut round.agreed, &mut page, &mut cursor)
                .await?;
            if more && listed(&page) == max_keys {
                page.is_truncated = true;
                return Ok(page);
            }
            match (more, last, round.horizon) {
                (true, Some(last), _) => cursor.after = last,
                (false, _, Some(horizon)) => cursor.after = horizon,
                _ => return Ok(page),
            }
        }
        Err(Error::InsufficientReadQuorum { ok: 0, needed: 1 })
    }

    /// Puts decided entries on the page: prefixes as they are, keys with their agreed
    /// metadata, from the walk's agreed summaries or else read (a key deleted since the
    /// walk, or whose agreed version is a delete's tombstone, is left out).
    async fn fill_page(
        &self,
        bucket: &str,
        items: Vec<WalkEntry>,
        agreed: &mut BTreeMap<String, KeySummary>,
        page: &mut ListPage,
        cursor: &mut Cursor,
    ) -> Result<()> {
        let read_quorum = self.set_layout().read_quorum();
        let from_walk: Vec<Option<KeySummary>> = items
            .iter()
            .map(|item| match item {
                WalkEntry::Key(key) => agreed.remove(key),
                WalkEntry::Prefix(_) => None,
            })
            .collect();
        let metas: Vec<Option<Result<ListedObject>>> = futures_util::stream::iter(&items)
            .zip(futures_util::stream::iter(&from_walk))
            .map(|(item, summary)| async move {
                match (item, summary) {
                    (WalkEntry::Key(_), Some(summary)) if summary.tombstone => {
                        Some(Err(Error::NoSuchKey))
                    }
                    (WalkEntry::Key(key), Some(summary)) => {
                        Some(Ok(ListedObject::of_summary(key.clone(), summary.clone())))
                    }
                    (WalkEntry::Key(key), None) => Some(
                        self.read_metas_quick(bucket, key)
                            .await
                            .agreed_object(read_quorum)
                            .map(|agreed| ListedObject::of_info(agreed.info)),
                    ),
                    (WalkEntry::Prefix(_), _) => None,
                }
            })
            .buffered(LIST_META_CONCURRENCY)
            .collect()
            .await;
        for (item, meta) in items.into_iter().zip(metas) {
            let name = item.name().to_owned();
            match (item, meta) {
                (WalkEntry::Prefix(prefix), _) => {
                    page.common_prefixes.push(prefix);
                    cursor.skip_under = Some(name.clone());
                }
                (WalkEntry::Key(_), Some(Ok(object))) => page.objects.push(object),
                // Deleted since the walk.
                (WalkEntry::Key(_), Some(Err(Error::NoSuchKey))) => continue,
                (WalkEntry::Key(_), Some(Err(e))) => return Err(e),
                (WalkEntry::Key(_), None) => unreachable!("a key always has a metadata read"),
            }
            cursor.last_listed.clone_from(&name);
            page.next_start_after = Some(name);
        }
        Ok(())
    }

    /// One round: every set walked from the cursor, entries decided up to the smallest
    /// horizon of all sets, collapsed by the delimiter, after what is already listed.
    async fn list_round(
        &self,
        bucket: &str,
        query: &ListQuery,
        cursor: &Cursor,
        limit: usize,
    ) -> Result<Round> {
        let request = Rc::new(WalkRequest {
            prefix: query.prefix.clone(),
            start_after: cursor.after.clone(),
            skip_under: cursor.skip_under.clone(),
            collapse_slash: query.delimiter.as_deref() == Some("/"),
            limit,
            // Every member summarises: from its index, at no cost per key once the
            // bucket's index is whole (a record read per key until then).
            summaries_for: Some(self.deployment_id),
        });
        let name: Rc<str> = bucket.into();
        let sets = (0..self.layout.set_count)
            .map(|set_index| self.walk_set(set_index, Rc::clone(&name), Rc::clone(&request)));
        let mut decided = Vec::new();
        let mut horizon: Option<String> = None;
        let mut agreed = BTreeMap::new();
        for set in join_all(sets).await {
            let set = set?;
            decided.extend(set.items);
            horizon = min_horizon(horizon, set.horizon);
            agreed.extend(set.agreed);
        }
        let mut items: Vec<WalkEntry> = decided
            .into_iter()
            .filter(|item| horizon.as_deref().is_none_or(|h| item.name() <= h))
            .map(|item| collapse(item, query))
            .filter(|item| item.name() > cursor.last_listed.as_str())
            .collect();
        items.sort_by(|a, b| a.name().cmp(b.name()));
        items.dedup_by(|a, b| a.name() == b.name());
        Ok(Round {
            items,
            horizon,
            agreed,
        })
    }

    /// One set's walk: the entries read-quorum members agree on, up to the set's
    /// horizon. All members are asked: an entry needs read-quorum votes among them.
    async fn walk_set(
        &self,
        set_index: usize,
        bucket: Rc<str>,
        request: Rc<WalkRequest>,
    ) -> Result<SetRound> {
        let members = self.set_members(set_index);
        let strategy = Strategy::all(Verb::Walk, self.config.member_deadline);
        self.walk_calls
            .set(self.walk_calls.get() + members.len() as u64);
        let answers = quorum::call(&self.env, members, strategy, |_, member| {
            let request = Rc::clone(&request);
            let bucket = Rc::clone(&bucket);
            async move { member.walk(&bucket, &request).await }
        })
        .await;
        let batches = self.confirm_empty_walks(set_index, answers).await;
        let quorum = self.set_layout().read_quorum();
        let agreed = self.agreed_summaries(set_index, &bucket, &batches);
        let answered: Vec<WalkBatch> = batches.into_iter().flatten().collect();
        let failed = members.len() - answered.len();
        if answered.len() < quorum {
            return Err(Error::InsufficientReadQuorum {
                ok: answered.len(),
                needed: quorum,
            });
        }
        let horizon = answered
            .iter()
            .filter(|b| b.truncated)
            .filter_map(|b| b.entries.last().map(|e| e.name().to_owned()))
            .min();
        let mut votes: BTreeMap<WalkEntry, usize> = BTreeMap::new();
        for entry in answered.into_iter().flat_map(|b| b.entries) {
            if horizon.as_deref().is_none_or(|h| entry.name() <= h) {
                *votes.entry(entry).or_default() += 1;
            }
        }
        // An entry is a candidate when the members that did not answer could complete
        // its quorum: an acknowledged key is on write quorum, of which only those that
        // answered can show it (found by sim_store, seed 1363). Its metadata vote then
        // decides.
        let items = votes
            .into_iter()
            .filter(|(_, n)| *n + failed >= quorum)
            .map(|(entry, _)| entry)
            .collect();
        Ok(SetRound {
            items,
            horizon,
            agreed,
        })
    }

    /// The keys of a set's walk whose records write-quorum members summarise alike,
    /// each summary from a record at its drive's place for the key (as a full read
    /// judges a record, `quorum::judge_copy`): those need no read to be listed. A key
    /// that some member walked without a summary that fits (its record unreadable, of
    /// another key or another place), or with a different one, is left to a full read,
    /// which judges every copy and queues the odd one for healing.
    fn agreed_summaries(
        &self,
        set_index: usize,
        bucket: &str,
        batches: &[Option<WalkBatch>],
    ) -> BTreeMap<String, KeySummary> {
        let layout = self.set_layout();
        let set_size = layout.set_size();
        let mut alike: BTreeMap<&str, (&KeySummary, usize)> = BTreeMap::new();
        let mut differ: Vec<&str> = Vec::new();
        for (drive_index, batch) in batches.iter().enumerate() {
            let Some(batch) = batch else { continue };
            for (entry, summary) in batch.entries.iter().zip(&batch.summaries) {
                let WalkEntry::Key(key) = entry else {
                    continue;
                };
                let placement = self.placement(bucket, key);
                let Some(summary) = summary.as_ref().filter(|summary| {
                    placement.set_index == set_index
                        && summary.data_chunks + summary.parity_chunks == set_size
                        && summary.rotation == placement.rotation
                        && summary.chunk_index == placement.chunk_of_drive(drive_index, set_size)
                }) else {
                    differ.push(key);
                    continue;
                };
                match alike.get_mut(key.as_str()) {
                    Some((first, count)) if first.same_record(summary) => *count += 1,
                    Some(_) => differ.push(key),
                    None => {
                        alike.insert(key, (summary, 1));
                    }
                }
            }
        }
        for key in differ {
            alike.remove(key);
        }
        alike
            .into_iter()
            .filter(|(_, (_, count))| *count >= layout.write_quorum())
            .map(|(key, (summary, _))| (key.to_owned(), summary.clone()))
            .collect()
    }

    /// Each member's batch; a member without the bucket's folder (never made durable,
    /// or never made there) holds nothing of it if it is this deployment's drive,
    /// otherwise it cannot say (`None`).
    async fn confirm_empty_walks(
        &self,
        set_index: usize,
        answers: Vec<Answer<WalkBatch>>,
    ) -> Vec<Option<WalkBatch>> {
        let first = set_index * self.set_layout().set_size();
        let mut batches = Vec::with_capacity(answers.len());
        for (i, answer) in answers.into_iter().enumerate() {
            batches.push(match answer {
                Answer::Ok(batch) => Some(batch),
                Answer::Err(MemberError::NotFound) if self.drive_is_ours(first + i).await => {
                    Some(WalkBatch::default())
                }
                _ => None,
            });
        }
        batches
    }
}

/// Entries on the page so far.
fn listed(page: &ListPage) -> usize {
    page.objects.len() + page.common_prefixes.len()
}

/// The smaller of two horizons (`None`: unbounded).
fn min_horizon(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// The common prefix a key falls into under the query's delimiter, if any.
fn collapsed_prefix(key: &str, query: &ListQuery) -> Option<String> {
    let delimiter = query.delimiter.as_deref().filter(|d| !d.is_empty())?;
    let rest = key.strip_prefix(query.prefix.as_str())?;
    let at = rest.find(delimiter)?;
    Some(key[..query.prefix.len() + at + delimiter.len()].to_owned())
}

/// Applies the delimiter to a key (any delimiter; the `/` one the walk applied
/// already, and applying it again changes nothing).
fn collapse(item: WalkEntry, query: &ListQuery) -> WalkEntry {
    match &item {
        WalkEntry::Key(key) => collapsed_prefix(key, query).map_or(item, WalkEntry::Prefix),
        WalkEntry::Prefix(_) => item,
    }
}
