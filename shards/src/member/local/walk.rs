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
//! cursor).

use std::collections::BTreeMap;

use shoal_io::{Drive, DriveError};

use crate::member::keypath::{EntryName, META_FILE_NAME, decode_entry_name};
use crate::member::verbs::walk::{WALK_LIMIT_MAX, WalkBatch, WalkEntry, WalkRequest, WalkVerbs};
use crate::member::{LocalMember, MemberError, MemberResult};

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
}

impl Node {
    fn rank(&self) -> u8 {
        match self {
            Node::Key => 0,
            Node::Prefix => 1,
            Node::Collapse { .. } => 2,
            Node::Folder { .. } => 3,
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
        // The bucket's own folder: missing means nothing here (the caller decides
        // whether to believe that).
        let root = self.drive().list_dir(bucket).await?;
        let mut frontier = Frontier::new();
        expand(&mut frontier, bucket, "", false, true, root, request);
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
                    expand(
                        &mut frontier,
                        &path,
                        &text,
                        in_piece,
                        false,
                        entries,
                        request,
                    );
                }
            }
            if batch.entries.len() == request.limit {
                batch.truncated = !frontier.is_empty();
                break;
            }
        }
        Ok(batch)
    }
}

impl<D: Drive> LocalMember<D> {
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

/// Puts a listed folder's entries into the frontier: its own key (if it holds
/// metadata and stands for a whole key), and each child folder the request can reach.
fn expand(
    frontier: &mut Frontier,
    path: &str,
    text: &str,
    in_piece: bool,
    at_root: bool,
    entries: Vec<shoal_io::DirEntry>,
    request: &WalkRequest,
) {
    let sep = if at_root || in_piece { "" } else { "/" };
    for entry in entries {
        if !entry.is_dir {
            let is_key = entry.name == META_FILE_NAME && !in_piece && !at_root;
            if is_key && wanted_key(text, request) {
                push(frontier, text.to_owned(), Node::Key);
            }
            continue;
        }
        let (segment, child_in_piece) = match decode_entry_name(&entry.name, in_piece) {
            Some(EntryName::Segment(s) | EntryName::PieceLast(s)) => (s, false),
            Some(EntryName::PieceContinued(s)) => (s, true),
            Some(EntryName::Internal) | None => continue,
        };
        let child_text = format!("{text}{sep}{segment}");
        if !reachable(&child_text, request) {
            continue;
        }
        let child_path = format!("{path}/{}", entry.name);
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

/// Whether an entry named `name` belongs in the batch.
fn wanted_key(name: &str, request: &WalkRequest) -> bool {
    name.starts_with(&request.prefix)
        && name > request.start_after.as_str()
        && !request
            .skip_under
            .as_deref()
            .is_some_and(|skip| name.starts_with(skip))
}

/// Whether a folder standing for key text `text` may hold a wanted key.
fn reachable(text: &str, request: &WalkRequest) -> bool {
    let prefix_ok = text.starts_with(&request.prefix) || request.prefix.starts_with(text);
    let after = &request.start_after;
    let all_before = text < after.as_str() && !after.starts_with(text);
    let skipped = request
        .skip_under
        .as_deref()
        .is_some_and(|skip| text.starts_with(skip));
    prefix_ok && !all_before && !skipped
}
