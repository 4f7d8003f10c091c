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
//! agreed metadata, read concurrently through the quorum engine.
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
use crate::member::MemberError;
use crate::member::Verb;
use crate::member::verbs::walk::{WALK_LIMIT_MAX, WalkBatch, WalkEntry, WalkRequest, WalkVerbs};
use crate::object::store::Store;
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

/// One page of a listing.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    pub objects: Vec<ObjectInfo>,
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
            let round = self.list_round(bucket, query, &cursor, limit).await?;
            // An entry after the wanted ones: the page is full unless keys among them
            // were deleted since the walk.
            let more = round.items.len() > wanted;
            let items: Vec<WalkEntry> = round.items.into_iter().take(wanted).collect();
            let last = items.last().map(|item| item.name().to_owned());
            self.fill_page(bucket, items, &mut page, &mut cursor)
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
    /// metadata (a key deleted since the walk, or whose agreed version is a delete's
    /// tombstone, is left out).
    async fn fill_page(
        &self,
        bucket: &str,
        items: Vec<WalkEntry>,
        page: &mut ListPage,
        cursor: &mut Cursor,
    ) -> Result<()> {
        let read_quorum = self.set_layout().read_quorum();
        let metas: Vec<Option<Result<ObjectInfo>>> = futures_util::stream::iter(&items)
            .map(|item| async move {
                match item {
                    WalkEntry::Key(key) => Some(
                        self.read_metas_quick(bucket, key)
                            .await
                            .agreed_object(read_quorum)
                            .map(|agreed| agreed.info),
                    ),
                    WalkEntry::Prefix(_) => None,
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
                (WalkEntry::Key(_), Some(Ok(info))) => page.objects.push(info),
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
        });
        let name: Rc<str> = bucket.into();
        let sets = (0..self.layout.set_count)
            .map(|set_index| self.walk_set(set_index, Rc::clone(&name), Rc::clone(&request)));
        let mut decided = Vec::new();
        let mut horizon: Option<String> = None;
        for set in join_all(sets).await {
            let (items, set_horizon) = set?;
            decided.extend(items);
            horizon = min_horizon(horizon, set_horizon);
        }
        let mut items: Vec<WalkEntry> = decided
            .into_iter()
            .filter(|item| horizon.as_deref().is_none_or(|h| item.name() <= h))
            .map(|item| collapse(item, query))
            .filter(|item| item.name() > cursor.last_listed.as_str())
            .collect();
        items.sort_by(|a, b| a.name().cmp(b.name()));
        items.dedup_by(|a, b| a.name() == b.name());
        Ok(Round { items, horizon })
    }

    /// One set's walk: the entries read-quorum members agree on, up to the set's
    /// horizon. All members are asked: an entry needs read-quorum votes among them.
    async fn walk_set(
        &self,
        set_index: usize,
        bucket: Rc<str>,
        request: Rc<WalkRequest>,
    ) -> Result<(Vec<WalkEntry>, Option<String>)> {
        let members = self.set_members(set_index);
        let strategy = Strategy::all(Verb::Walk, self.config.member_deadline);
        self.walk_calls
            .set(self.walk_calls.get() + members.len() as u64);
        let answers = quorum::call(&self.env, members, strategy, |_, member| {
            let (bucket, request) = (Rc::clone(&bucket), Rc::clone(&request));
            async move { member.walk(&bucket, &request).await }
        })
        .await;
        let batches = self.confirm_empty_walks(set_index, answers).await;
        let quorum = self.set_layout().read_quorum();
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
        Ok((items, horizon))
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
