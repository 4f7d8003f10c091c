//! Checking a drive's listing index against the records it is derived from (DESIGN.md
//! §5: "the scanner checks that they agree"). The loop that paces it over every bucket
//! is the scanner's (`object/scan/index_audit.rs`); what compares is here, on the shard
//! that owns the drive's index.
//!
//! A batch walks the bucket's records (with each key's summary, as a rebuild reads
//! them) and the index from the same key, and compares them over the range both cover.
//! A key whose record could not be read, or is not this deployment's, proves nothing
//! and is passed over. What differs is only a suspect: a write between the two walks,
//! or one whose record is written and whose index entry is not yet, differs too. A
//! suspect is confirmed later (`confirm`): its record must not have changed since, and
//! the index must still disagree with it. Only then is the index wrong, and the caller
//! forgets the bucket's index and rebuilds it (`LocalMember::index_lost`), which is
//! safe under concurrent writes; a false confirmation would cost a rebuild, not data.

use std::collections::BTreeMap;

use shoal_io::{Drive, DriveError};

use crate::member::MemberError;
use crate::member::keypath::meta_path;
use crate::member::local::LocalMember;
use crate::member::local::index::link::entry_of;
use crate::member::verbs::walk::{KeySummary, WalkBatch, WalkEntry, WalkRequest};

/// A key whose index entry differed from its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suspect {
    pub key: String,
    /// The record's entry when the walks saw it (`None`: no record).
    pub record: Option<KeySummary>,
    /// The index's entry then.
    pub indexed: Option<KeySummary>,
}

/// What one batch compared.
#[derive(Debug, Default)]
pub struct AuditBatch {
    /// Keys compared (held by the records or the index in the range covered).
    pub keys: usize,
    pub suspects: Vec<Suspect>,
    /// Where the next batch starts (after this key); `None`: the bucket is done.
    pub next: Option<String>,
}

impl<D: Drive> LocalMember<D> {
    /// Compares up to `limit` keys of `bucket` after `start_after` (`limit` in
    /// 1..=`WALK_LIMIT_MAX`). `None` when there is nothing to audit here: this shard does
    /// not own the drive's index, the bucket's index is not whole (it is being rebuilt),
    /// or the records could not be walked.
    pub(crate) async fn audit_index_batch(
        &self,
        bucket: &str,
        start_after: &str,
        limit: usize,
    ) -> Option<AuditBatch> {
        let owner = self.index_owner()?;
        let request = WalkRequest {
            prefix: String::new(),
            start_after: start_after.to_owned(),
            skip_under: None,
            collapse_slash: false,
            limit,
            summaries_for: Some(*owner.deployment_id()),
        };
        if !owner.is_ready(bucket) {
            return None;
        }
        let records = match self.walk_records(bucket, &request).await {
            Ok(batch) => batch,
            Err(MemberError::NotFound) => WalkBatch::default(),
            Err(_) => return None,
        };
        let indexed = owner.walk(self.drive(), bucket, &request).await?;
        Some(compare(&records, &indexed))
    }

    /// Whether `suspect` still stands: its record is what the walks saw and the index
    /// still holds something else for it. False when either cannot be read (nothing is
    /// proven) or the record changed (a write came; the next audit looks again).
    pub(crate) async fn audit_index_confirm(&self, bucket: &str, suspect: &Suspect) -> bool {
        let Some(owner) = self.index_owner() else {
            return false;
        };
        let record = match self
            .drive()
            .read_file(&meta_path(bucket, &suspect.key))
            .await
        {
            Ok(bytes) => entry_of(&bytes, owner.deployment_id(), bucket, &suspect.key),
            Err(DriveError::NotFound) => None,
            Err(_) => return false,
        };
        if record != suspect.record {
            return false;
        }
        let request = WalkRequest {
            prefix: suspect.key.clone(),
            start_after: String::new(),
            skip_under: None,
            collapse_slash: false,
            limit: 1,
            summaries_for: Some(*owner.deployment_id()),
        };
        let Some(found) = owner.walk(self.drive(), bucket, &request).await else {
            return false;
        };
        let indexed = match (found.entries.first(), found.summaries.first()) {
            (Some(WalkEntry::Key(key)), Some(summary)) if *key == suspect.key => summary.clone(),
            _ => None,
        };
        indexed != record
    }
}

/// A walk's last key when it was cut at its limit (more may follow it).
fn cut_at(batch: &WalkBatch) -> Option<&str> {
    batch
        .entries
        .last()
        .map(WalkEntry::name)
        .filter(|_| batch.truncated)
}

/// The keys where `records` and `indexed` (two walks of one request) differ, over the
/// range both cover: up to the smaller of their last keys where a walk was cut at its
/// limit, to the end where neither was.
fn compare(records: &WalkBatch, indexed: &WalkBatch) -> AuditBatch {
    let bound: Option<&str> = match (cut_at(records), cut_at(indexed)) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (one, other) => one.or(other),
    };
    let within = |name: &str| bound.is_none_or(|bound| name <= bound);
    // `Some(None)`: a record the walk could not summarise (unreadable or another
    // deployment's), which proves nothing either way.
    let mut seen: BTreeMap<&str, (Option<Option<&KeySummary>>, Option<&KeySummary>)> =
        BTreeMap::new();
    for (entry, summary) in records.entries.iter().zip(&records.summaries) {
        if let WalkEntry::Key(key) = entry
            && within(key)
        {
            seen.entry(key).or_default().0 = Some(summary.as_ref());
        }
    }
    for (entry, summary) in indexed.entries.iter().zip(&indexed.summaries) {
        if let (WalkEntry::Key(key), Some(summary)) = (entry, summary)
            && within(key)
        {
            seen.entry(key).or_default().1 = Some(summary);
        }
    }
    let mut batch = AuditBatch {
        keys: seen.len(),
        suspects: Vec::new(),
        next: bound.map(str::to_owned),
    };
    for (key, (record, indexed)) in seen {
        let record = match record {
            Some(None) => continue,
            Some(Some(summary)) => Some(summary),
            None => None,
        };
        if record != indexed {
            batch.suspects.push(Suspect {
                key: key.to_owned(),
                record: record.cloned(),
                indexed: indexed.cloned(),
            });
        }
    }
    batch
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(version: u8) -> KeySummary {
        KeySummary {
            chunk_index: 0,
            data_chunks: 2,
            parity_chunks: 2,
            rotation: 0,
            version_id: [version; 16],
            mod_time_unix_nanos: u64::from(version),
            meta_generation: 1,
            size_bytes: 10,
            etag: "e".into(),
            checksum_algorithm: None,
            tombstone: false,
        }
    }

    fn batch(keys: &[(&str, Option<u8>)], truncated: bool) -> WalkBatch {
        WalkBatch {
            entries: keys
                .iter()
                .map(|(k, _)| WalkEntry::Key((*k).into()))
                .collect(),
            summaries: keys.iter().map(|(_, v)| v.map(summary)).collect(),
            truncated,
        }
    }

    fn suspects(batch: &AuditBatch) -> Vec<&str> {
        batch.suspects.iter().map(|s| s.key.as_str()).collect()
    }

    /// Equal walks have no suspect; a key missing from either side, or held at
    /// another version, is one; an unreadable record is passed over.
    #[test]
    fn differences_are_suspects() {
        let records = batch(
            &[("a", Some(1)), ("b", Some(1)), ("c", None), ("d", Some(2))],
            false,
        );
        let indexed = batch(
            &[
                ("a", Some(1)),
                ("c", Some(1)),
                ("d", Some(1)),
                ("e", Some(1)),
            ],
            false,
        );
        let found = compare(&records, &indexed);
        assert_eq!(suspects(&found), ["b", "d", "e"]);
        assert_eq!(found.keys, 5);
        assert_eq!(found.next, None);
        assert_eq!(found.suspects[0].indexed, None);
        assert_eq!(found.suspects[2].record, None);
        assert!(compare(&records, &records).suspects.is_empty());
    }

    /// A walk cut at its limit bounds the range: keys past the smaller last key are
    /// left to the next batch, which starts there.
    #[test]
    fn a_cut_walk_bounds_the_range() {
        let records = batch(&[("a", Some(1)), ("b", Some(1)), ("c", Some(1))], true);
        let indexed = batch(&[("a", Some(1)), ("c", Some(1)), ("x", Some(1))], false);
        let found = compare(&records, &indexed);
        assert_eq!(suspects(&found), ["b"]);
        assert_eq!(found.next.as_deref(), Some("c"));
        let indexed = batch(&[("a", Some(1))], true);
        let found = compare(&records, &indexed);
        assert!(found.suspects.is_empty());
        assert_eq!(found.next.as_deref(), Some("a"));
    }
}
