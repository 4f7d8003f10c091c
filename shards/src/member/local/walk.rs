//! `WalkVerbs` on a drive of this node: a bucket's folders walked in key order.
//!
//! Folder order is not key order (`a-b` sorts before `a/b`, and the pieces of a long
//! segment interleave with short siblings), so the walk keeps a frontier ordered by the
//! smallest key each node can hold: a key at its own name, a folder at the key text it
//! stands for (every key below it starts with that text). Taking the smallest node each
//! time yields keys in key order while listing only the folders on the way to the
//! entries returned. Cost per batch: one directory listing per folder on the path from
//! `start_after` to the last entry returned, plus the folders between; memory: the
//! listings of those folders (a folder is listed whole: `Drive::list_dir` has no
//! cursor). Of a folder's children only a batch's worth enter the frontier (`expand`),
//! so the sorting and the strings a batch makes are bounded by its limit, whatever the
//! folder holds; the names read are not (the listing is whole), and most are decoded
//! without a copy (`plain_segment`). The per-bucket sorted index of DESIGN.md §5
//! (`index/`) removes that cost for listings: their walks come from it once a bucket's
//! index is whole, and this walk is what rebuilds it and what the scanner reads.

use std::borrow::Cow;
use std::collections::BTreeMap;

use futures_util::StreamExt;
use shoal_io::{Drive, DriveError};

use crate::member::keypath::{
    EntryName, META_FILE_NAME, decode_entry_name, meta_path, plain_segment,
};
use crate::member::local::index::link::entry_of;
use crate::member::verbs::walk::{
    KeySummary, WALK_LIMIT_MAX, WalkBatch, WalkEntry, WalkRequest, WalkVerbs,
};
use crate::member::{LocalMember, MemberError, MemberResult};
use crate::topology::placement::DeploymentId;

/// Records a walk reads at once to summarise its keys (the open ring submits those of
/// one turn together).
const SUMMARY_READS_IN_FLIGHT: usize = 32;

/// A node of the frontier, keyed by (key text, kind) so that at equal text a key comes
/// before the folders that stand for it.
enum Node {
    Key,
    Prefix,
    /// A whole-segment folder under the prefix, collapsed by the `/` delimiter.
    Collapse {
        path: String,
    },
    Folder {
        path: String,
        in_piece: bool,
    },
    /// The children of a listed folder not put in the frontier yet: those whose text
    /// comes after this node's (`expand` puts in a batch's worth at a time).
    Rest {
        path: String,
        /// The folder's own key text.
        text: String,
        in_piece: bool,
        at_root: bool,
    },
}

impl Node {
    fn rank(&self) -> u8 {
        match self {
            Node::Key => 0,
            Node::Prefix => 1,
            Node::Collapse { .. } => 2,
            Node::Folder { .. } => 3,
            Node::Rest { .. } => 4,
        }
    }
}

type Frontier = BTreeMap<(String, u8), Node>;

fn push(frontier: &mut Frontier, text: String, node: Node) {
    frontier.insert((text, node.rank()), node);
}

impl<D: Drive> WalkVerbs for LocalMember<D> {
    async fn walk(&self, bucket: &str, request: &WalkRequest) -> MemberResult<WalkBatch> {
        if request.limit == 0 || request.limit > WALK_LIMIT_MAX {
            return Err(MemberError::Io(format!(
                "walk limit {} outside 1..={WALK_LIMIT_MAX}",
                request.limit
            )));
        }
        // A listing's walk (it asks for summaries) comes from the index when the
        // bucket's is whole; other walks (the scanner's) read the records themselves.
        if request.summaries_for.is_some()
            && let Some(batch) = self.walk_index(bucket, request).await
        {
            return Ok(batch);
        }
        self.walk_records(bucket, request).await
    }
}

impl<D: Drive> LocalMember<D> {
    /// The walk of the bucket's folders and records (what the index is rebuilt from);
    /// `request.limit` is in 1..=`WALK_LIMIT_MAX`.
    pub(crate) async fn walk_records(
        &self,
        bucket: &str,
        request: &WalkRequest,
    ) -> MemberResult<WalkBatch> {
        // The bucket's own folder: missing means nothing here (the caller decides
        // whether to believe that).
        let root = self.drive().list_dir(bucket).await?;
        let mut frontier = Frontier::new();
        let folder = Listed {
            path: bucket,
            text: "",
            in_piece: false,
            at_root: true,
        };
        expand(&mut frontier, &folder, &root, None, request);
        let mut batch = WalkBatch::default();
        while let Some(((text, _), node)) = frontier.pop_first() {
            match node {
                Node::Key => batch.entries.push(WalkEntry::Key(text)),
                Node::Prefix => batch.entries.push(WalkEntry::Prefix(text)),
                Node::Collapse { path } => {
                    self.collapse(&mut frontier, &path, text, request).await?;
                }
                Node::Folder { path, in_piece } => {
                    let Some(entries) = self.list_below(&path).await? else {
                        continue;
                    };
                    let folder = Listed {
                        path: &path,
                        text: &text,
                        in_piece,
                        at_root: false,
                    };
                    expand(&mut frontier, &folder, &entries, None, request);
                }
                Node::Rest {
                    path,
                    text: own,
                    in_piece,
                    at_root,
                } => {
                    let Some(entries) = self.list_below(&path).await? else {
                        continue;
                    };
                    let folder = Listed {
                        path: &path,
                        text: &own,
                        in_piece,
                        at_root,
                    };
                    expand(&mut frontier, &folder, &entries, Some(&text), request);
                }
            }
            if batch.entries.len() == request.limit {
                batch.truncated = !frontier.is_empty();
                break;
            }
        }
        if let Some(deployment_id) = &request.summaries_for {
            batch.summaries = self.summaries(bucket, &batch.entries, deployment_id).await;
        }
        Ok(batch)
    }

    /// One summary per entry: a key's record read, decoded and checked to be this
    /// deployment's record of that key; `None` for a prefix, or a record that is
    /// missing, unreadable or not the key's (the lister then reads the key in full,
    /// which judges and heals it).
    async fn summaries(
        &self,
        bucket: &str,
        entries: &[WalkEntry],
        deployment_id: &DeploymentId,
    ) -> Vec<Option<KeySummary>> {
        futures_util::stream::iter(entries)
            .map(|entry| async move {
                let WalkEntry::Key(key) = entry else {
                    return None;
                };
                let bytes = self.drive().read_file(&meta_path(bucket, key)).await.ok()?;
                entry_of(&bytes, deployment_id, bucket, key)
            })
            .buffered(SUMMARY_READS_IN_FLIGHT)
            .collect()
            .await
    }

    /// A folder's entries; `None` if it went away since its parent was listed.
    async fn list_below(&self, path: &str) -> MemberResult<Option<Vec<shoal_io::DirEntry>>> {
        match self.drive().list_dir(path).await {
            Ok(entries) => Ok(Some(entries)),
            Err(DriveError::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// A collapsed folder standing for key text `text`: its own key if it is an object,
    /// and `text/` if any object lies below it.
    async fn collapse(
        &self,
        frontier: &mut Frontier,
        path: &str,
        text: String,
        request: &WalkRequest,
    ) -> MemberResult<()> {
        let Some(entries) = self.list_below(path).await? else {
            return Ok(());
        };
        if entries
            .iter()
            .any(|e| !e.is_dir && e.name == META_FILE_NAME)
            && wanted_key(&text, request)
        {
            push(frontier, text.clone(), Node::Key);
        }
        let prefix = format!("{text}/");
        if !wanted_key(&prefix, request) {
            return Ok(());
        }
        for entry in entries.iter().filter(|e| e.is_dir) {
            if matches!(
                decode_entry_name(&entry.name, false),
                Some(EntryName::Internal) | None
            ) {
                continue;
            }
            if self
                .subtree_has_object(&format!("{path}/{}", entry.name))
                .await
            {
                push(frontier, prefix, Node::Prefix);
                break;
            }
        }
        Ok(())
    }

    /// Whether any object metadata lies anywhere below `path`.
    async fn subtree_has_object(&self, path: &str) -> bool {
        let mut stack = vec![path.to_owned()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = self.drive().list_dir(&dir).await else {
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
}

/// A folder whose entries were read.
struct Listed<'a> {
    path: &'a str,
    /// The key text it stands for.
    text: &'a str,
    in_piece: bool,
    at_root: bool,
}

/// Puts a listed folder's entries into the frontier: its own key (if it holds
/// metadata and stands for a whole key; not when `after` is set), and the children the
/// request can reach (only those whose text is after `after`, when set).
///
/// At most a batch's worth of children go in (the `limit` with the smallest texts,
/// and any sharing the text of the last of them); a `Rest` node at the last one's text
/// stands for the others, so a batch over a folder of a million keys sorts and keeps
/// a batch of them, not all. Every key below a child starts with the child's text, and
/// `Rest` ranks after every node at its text, so it is taken before any entry it could
/// precede.
fn expand(
    frontier: &mut Frontier,
    folder: &Listed<'_>,
    entries: &[shoal_io::DirEntry],
    after: Option<&str>,
    request: &WalkRequest,
) {
    let sep = if folder.at_root || folder.in_piece {
        ""
    } else {
        "/"
    };
    let mut children: Vec<(Cow<'_, str>, bool, &str)> = Vec::new();
    for entry in entries {
        if !entry.is_dir {
            let is_key = entry.name == META_FILE_NAME && !folder.in_piece && !folder.at_root;
            if is_key && after.is_none() && wanted_key(folder.text, request) {
                push(frontier, folder.text.to_owned(), Node::Key);
            }
            continue;
        }
        let (segment, child_in_piece) = match plain_segment(&entry.name, folder.in_piece) {
            Some(segment) => (Cow::Borrowed(segment), false),
            None => match decode_entry_name(&entry.name, folder.in_piece) {
                Some(EntryName::Segment(s) | EntryName::PieceLast(s)) => (Cow::Owned(s), false),
                Some(EntryName::PieceContinued(s)) => (Cow::Owned(s), true),
                Some(EntryName::Internal) | None => continue,
            },
        };
        let text = Joined([folder.text, sep, &segment]);
        if after.is_some_and(|after| !text.is_after(after)) || !text.reachable(request) {
            continue;
        }
        children.push((segment, child_in_piece, &entry.name));
    }
    // Children share the folder's text and separator: their order is their segments'.
    if children.len() > request.limit {
        children.select_nth_unstable_by(request.limit - 1, |a, b| a.0.cmp(&b.0));
        let last = children[request.limit - 1].0.clone();
        let (mut kept, rest): (Vec<_>, Vec<_>) =
            children.into_iter().partition(|child| child.0 <= last);
        if !rest.is_empty() {
            push(
                frontier,
                format!("{}{sep}{last}", folder.text),
                Node::Rest {
                    path: folder.path.to_owned(),
                    text: folder.text.to_owned(),
                    in_piece: folder.in_piece,
                    at_root: folder.at_root,
                },
            );
        }
        children = std::mem::take(&mut kept);
    }
    for (segment, child_in_piece, name) in children {
        let child_text = format!("{}{sep}{segment}", folder.text);
        let child_path = format!("{}/{name}", folder.path);
        let collapsed =
            request.collapse_slash && !child_in_piece && child_text.len() >= request.prefix.len();
        let node = if collapsed {
            Node::Collapse { path: child_path }
        } else {
            Node::Folder {
                path: child_path,
                in_piece: child_in_piece,
            }
        };
        push(frontier, child_text, node);
    }
}

/// A child's key text as its parts, compared without joining them.
struct Joined<'a>([&'a str; 3]);

impl Joined<'_> {
    fn len(&self) -> usize {
        self.0.iter().map(|part| part.len()).sum()
    }

    /// The text's bytes, in order.
    fn bytes(&self) -> impl Iterator<Item = u8> + '_ {
        self.0.iter().flat_map(|part| part.bytes())
    }

    /// Whether the text starts with `prefix`.
    fn starts_with(&self, prefix: &str) -> bool {
        self.len() >= prefix.len() && self.bytes().zip(prefix.bytes()).all(|(a, b)| a == b)
    }

    /// Whether `other` starts with the text.
    fn is_prefix_of(&self, other: &str) -> bool {
        self.len() <= other.len() && self.bytes().zip(other.bytes()).all(|(a, b)| a == b)
    }

    fn cmp(&self, other: &str) -> std::cmp::Ordering {
        self.bytes().cmp(other.bytes())
    }

    fn is_after(&self, other: &str) -> bool {
        self.cmp(other) == std::cmp::Ordering::Greater
    }

    /// Whether a folder standing for this text may hold a wanted key: one that
    /// starts with the prefix, after `start_after`, not under `skip_under`.
    fn reachable(&self, request: &WalkRequest) -> bool {
        let prefix_ok = self.starts_with(&request.prefix) || self.is_prefix_of(&request.prefix);
        let after = &request.start_after;
        let all_before = self.cmp(after) == std::cmp::Ordering::Less && !self.is_prefix_of(after);
        let skipped = request
            .skip_under
            .as_deref()
            .is_some_and(|skip| self.starts_with(skip));
        prefix_ok && !all_before && !skipped
    }
}

/// Whether an entry named `name` belongs in the batch.
fn wanted_key(name: &str, request: &WalkRequest) -> bool {
    name.starts_with(&request.prefix)
        && name > request.start_after.as_str()
        && !request
            .skip_under
            .as_deref()
            .is_some_and(|skip| name.starts_with(skip))
}
