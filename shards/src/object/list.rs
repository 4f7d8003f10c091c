//! Listing objects in key order with prefix, delimiter, start-after and max-keys.
//!
//! Each drive of each set is walked (folders decoded back to keys by `keypath`),
//! pruned by prefix and start-after; with the `/` delimiter, a folder under the prefix
//! collapses into one common prefix without being walked further. A key or common
//! prefix is listed only when read-quorum drives of its set report it, so a stale or
//! half-deleted copy on a minority of drives never shows, and a page is answered only
//! when read-quorum drives of every set could be walked (a drive without the bucket's
//! folder counts only if it is this deployment's drive, `absence.rs`): an empty page
//! is never a guess. The page's objects then get their agreed metadata.
//!
//! Known limit: a listing without delimiter walks everything under the prefix on every
//! drive for each page (no persistent index); fine for the first milestones, replaced by
//! a merged streaming walk later.

use std::collections::BTreeMap;

use futures_util::future::join_all;
use shoal_io::{Clock, Drive, DriveError, Env};

use crate::error::{Error, Result};
use crate::member::keypath::{EntryName, META_FILE_NAME, decode_entry_name};
use crate::object::store::Store;
use crate::record::meta::ObjectInfo;

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

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Item {
    Key(String),
    Prefix(String),
}

impl Item {
    fn name(&self) -> &str {
        match self {
            Item::Key(k) | Item::Prefix(k) => k,
        }
    }
}

/// A folder still to walk: drive path, the key text it stands for, and whether it is
/// inside a split segment (its key text is not a complete segment).
struct Pending {
    path: String,
    key: String,
    in_piece: bool,
}

impl<D: Drive, C: Clock, E: Env> Store<D, C, E> {
    pub async fn list_objects(&self, bucket: &str, query: &ListQuery) -> Result<ListPage> {
        self.require_bucket(bucket).await?;
        let max_keys = query.max_keys.min(MAX_KEYS_LIMIT);
        let mut items: Vec<Item> = Vec::new();
        for set_index in 0..self.layout.set_count {
            let walks = self
                .set_members(set_index)
                .iter()
                .map(|d| walk_drive(d.drive(), bucket, query));
            let mut walked = join_all(walks).await;
            self.confirm_empty_walks(set_index, &mut walked).await;
            let quorum = self.set_layout().read_quorum();
            let answered = walked.iter().filter(|w| w.is_ok()).count();
            if answered < quorum {
                return Err(Error::InsufficientReadQuorum {
                    ok: answered,
                    needed: quorum,
                });
            }
            let mut votes: BTreeMap<Item, usize> = BTreeMap::new();
            for item in walked.into_iter().flatten().flatten() {
                *votes.entry(item).or_default() += 1;
            }
            items.extend(
                votes
                    .into_iter()
                    .filter(|(_, n)| *n >= quorum)
                    .map(|(i, _)| i),
            );
        }
        let items = collapse(items, query);
        let mut page = ListPage::default();
        for item in items {
            if page.objects.len() + page.common_prefixes.len() == max_keys {
                page.is_truncated = true;
                break;
            }
            let name = item.name().to_owned();
            match item {
                Item::Prefix(p) => page.common_prefixes.push(p),
                Item::Key(k) => match self
                    .read_metas(bucket, &k)
                    .await
                    .agreed(self.set_layout().read_quorum())
                {
                    Ok(agreed) => page.objects.push(agreed.info),
                    Err(Error::NoSuchKey) => continue, // deleted since the walk
                    Err(e) => return Err(e),
                },
            }
            page.next_start_after = Some(name);
        }
        Ok(page)
    }
}

impl<D: Drive, C: Clock, E: Env> Store<D, C, E> {
    /// A drive without the bucket's folder (never made durable, or never made there)
    /// holds nothing of it, if it is this deployment's drive; otherwise it cannot say.
    async fn confirm_empty_walks(&self, set_index: usize, walked: &mut [Result<Vec<Item>>]) {
        let first = set_index * self.set_layout().set_size();
        for (i, walk) in walked.iter_mut().enumerate() {
            if matches!(walk, Err(Error::Drive(DriveError::NotFound)))
                && self.drive_is_ours(first + i).await
            {
                *walk = Ok(Vec::new());
            }
        }
    }
}

/// Applies the delimiter (for any delimiter, not only `/`), start-after, and key order.
fn collapse(items: Vec<Item>, query: &ListQuery) -> Vec<Item> {
    let mut out: Vec<Item> = items
        .into_iter()
        .filter(|item| item.name().starts_with(&query.prefix))
        .map(|item| match (&item, &query.delimiter) {
            (Item::Key(k), Some(d)) if !d.is_empty() => {
                match k[query.prefix.len()..].find(d.as_str()) {
                    Some(at) => Item::Prefix(k[..query.prefix.len() + at + d.len()].to_owned()),
                    None => item,
                }
            }
            _ => item,
        })
        .filter(|item| item.name() > query.start_after.as_str())
        .collect();
    out.sort_by(|a, b| a.name().cmp(b.name()));
    out.dedup_by(|a, b| a.name() == b.name());
    out
}

/// Every key and (for the `/` delimiter) common prefix one drive holds under the query.
async fn walk_drive<D: Drive>(drive: &D, bucket: &str, query: &ListQuery) -> Result<Vec<Item>> {
    let slash_delimited = query.delimiter.as_deref() == Some("/");
    let mut items = Vec::new();
    let mut stack = vec![Pending {
        path: bucket.to_owned(),
        key: String::new(),
        in_piece: false,
    }];
    let mut at_root = true;
    while let Some(dir) = stack.pop() {
        let entries = match drive.list_dir(&dir.path).await {
            Ok(entries) => entries,
            // Gone since its parent was listed (the bucket's own: see confirm_empty_walks).
            Err(DriveError::NotFound) if !at_root => continue,
            Err(e) => return Err(e.into()),
        };
        for entry in entries {
            if !entry.is_dir {
                if entry.name == META_FILE_NAME && !dir.in_piece && !at_root {
                    items.push(Item::Key(dir.key.clone()));
                }
                continue;
            }
            let Some(child) = child_of(&dir, &entry.name, at_root) else {
                continue;
            };
            if !relevant(&child.key, query) {
                continue;
            }
            let under_prefix = child.key.len() >= query.prefix.len();
            if slash_delimited && under_prefix && !child.in_piece {
                collapse_folder(drive, child, &mut items).await;
            } else {
                stack.push(child);
            }
        }
        at_root = false;
    }
    Ok(items)
}

/// The folder for entry `name` of `dir`, with the key text it stands for.
fn child_of(dir: &Pending, name: &str, at_root: bool) -> Option<Pending> {
    let sep = if at_root || dir.in_piece { "" } else { "/" };
    let (text, in_piece) = match decode_entry_name(name, dir.in_piece)? {
        EntryName::Internal => return None,
        EntryName::Segment(s) | EntryName::PieceLast(s) => (s, false),
        EntryName::PieceContinued(s) => (s, true),
    };
    Some(Pending {
        path: format!("{}/{name}", dir.path),
        key: format!("{}{sep}{text}", dir.key),
        in_piece,
    })
}

/// Whether keys under a folder standing for `key` may match the prefix and come after
/// start-after.
fn relevant(key: &str, query: &ListQuery) -> bool {
    let prefix_ok = key.starts_with(&query.prefix) || query.prefix.starts_with(key);
    let after = &query.start_after;
    let all_before = key < after.as_str() && !after.starts_with(key);
    prefix_ok && !all_before
}

/// With the `/` delimiter, a complete-segment folder under the prefix yields its own key
/// (if it is an object) and one common prefix (if anything lies below it).
async fn collapse_folder<D: Drive>(drive: &D, folder: Pending, items: &mut Vec<Item>) {
    let Ok(entries) = drive.list_dir(&folder.path).await else {
        return;
    };
    if entries
        .iter()
        .any(|e| !e.is_dir && e.name == META_FILE_NAME)
    {
        items.push(Item::Key(folder.key.clone()));
    }
    for entry in entries.iter().filter(|e| e.is_dir) {
        if matches!(
            decode_entry_name(&entry.name, false),
            Some(EntryName::Internal) | None
        ) {
            continue;
        }
        if subtree_has_object(drive, &format!("{}/{}", folder.path, entry.name)).await {
            items.push(Item::Prefix(format!("{}/", folder.key)));
            return;
        }
    }
}

/// Whether any object metadata lies anywhere below `path`.
async fn subtree_has_object<D: Drive>(drive: &D, path: &str) -> bool {
    let mut stack = vec![path.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = drive.list_dir(&dir).await else {
            continue;
        };
        for entry in entries {
            if !entry.is_dir && entry.name == META_FILE_NAME {
                return true;
            }
            // Key folders and split-segment pieces; never Shoal's own `_` folders.
            if entry.is_dir && !entry.name.starts_with('_') {
                stack.push(format!("{dir}/{}", entry.name));
            }
        }
    }
    false
}
