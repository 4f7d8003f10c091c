//! A member's memory of the commits that made their object's folder: a commit whose
//! first write found the key's folder missing (`TargetFolder::Made`) put everything
//! that folder holds there itself, so the clean-up after it (`remove_stale_versions`
//! for the same version) has no older version folder to find and skips listing the
//! folder. That listing was most of a small PUT's file work on a new key (an open,
//! two `getdents64`, a `statx` and a close on the helper pool, per drive).
//!
//! Why nothing stale can be missed: only the key's writers put version folders in the
//! key's folder, one at a time under the key's lock, and the entry is taken by the
//! clean-up of that same commit under that same lock. A version folder an earlier
//! writer left behind (a crash between its data and its record, a roll back that could
//! not remove its data, a delete that crashed before retiring its data) lives in the
//! key's folder, so the folder was there and the commit is not remembered: its
//! clean-up lists as before and trashes what it finds.
//!
//! Bounded: at most `FRESH_COMMITS_MAX` entries, the oldest forgotten first. An entry
//! whose clean-up never comes (the commit failed quorum, the lease was lost, the
//! member timed out) is forgotten by a roll back or pushed out by newer ones; a
//! forgotten entry only costs its clean-up a listing. Memory: about 64 bytes per entry
//! plus the names, which the commit already holds (`Rc<str>`).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

/// Commits remembered at once: more than the commits a shard has in flight on one
/// drive (bounded by its in-flight requests), so a clean-up finds its entry.
pub const FRESH_COMMITS_MAX: usize = 1024;

struct Fresh {
    bucket: Rc<str>,
    key: Rc<str>,
    version_id: [u8; 16],
}

impl Fresh {
    fn is(&self, bucket: &str, key: &str, version_id: &[u8; 16]) -> bool {
        self.version_id == *version_id && *self.bucket == *bucket && *self.key == *key
    }
}

/// The commits of this member whose key's folder they made, awaiting their clean-up.
#[derive(Default)]
pub struct FreshFolders {
    commits: RefCell<VecDeque<Fresh>>,
}

impl FreshFolders {
    /// Remembers that the commit of `version_id` made `bucket/key`'s folder.
    pub fn remember(&self, bucket: Rc<str>, key: Rc<str>, version_id: [u8; 16]) {
        let mut commits = self.commits.borrow_mut();
        if commits.len() == FRESH_COMMITS_MAX {
            commits.pop_front();
        }
        commits.push_back(Fresh {
            bucket,
            key,
            version_id,
        });
        assert!(commits.len() <= FRESH_COMMITS_MAX);
    }

    /// Forgets the commit of `version_id`; whether it was remembered (its folder then
    /// holds nothing older than it).
    pub fn take(&self, bucket: &str, key: &str, version_id: &[u8; 16]) -> bool {
        let mut commits = self.commits.borrow_mut();
        // The newest first: a clean-up follows its commit closely.
        match commits.iter().rposition(|f| f.is(bucket, key, version_id)) {
            Some(at) => {
                commits.remove(at);
                true
            }
            None => false,
        }
    }

    /// How many commits are remembered (tests check the bound).
    pub fn len(&self) -> usize {
        self.commits.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A remembered commit is taken once, only by its own bucket, key and version.
    #[test]
    fn taken_once_by_its_own_commit() {
        let fresh = FreshFolders::default();
        fresh.remember("b".into(), "k".into(), [1; 16]);
        assert!(!fresh.take("b", "k", &[2; 16]));
        assert!(!fresh.take("b", "other", &[1; 16]));
        assert!(!fresh.take("c", "k", &[1; 16]));
        assert!(fresh.take("b", "k", &[1; 16]));
        assert!(!fresh.take("b", "k", &[1; 16]));
        assert!(fresh.is_empty());
    }

    /// Past the bound the oldest commit is forgotten (its clean-up lists), never more
    /// than the bound is kept.
    #[test]
    fn bounded_oldest_forgotten() {
        let fresh = FreshFolders::default();
        for i in 0..=FRESH_COMMITS_MAX {
            let version = u128::try_from(i).expect("small").to_be_bytes();
            fresh.remember("b".into(), "k".into(), version);
        }
        assert_eq!(fresh.len(), FRESH_COMMITS_MAX);
        assert!(!fresh.take("b", "k", &0u128.to_be_bytes()));
        assert!(fresh.take("b", "k", &1u128.to_be_bytes()));
    }
}
