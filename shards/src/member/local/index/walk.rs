//! A listing's walk answered from the index: the same batch the walk of the records
//! gives (`member/local/walk.rs`), from a few blocks per batch instead of a folder
//! listing and a record read per key.
//!
//! The `/` delimiter needs no folders: a key with a `/` after the prefix stands for
//! its common prefix, and the next batch starts past everything under it (`a/` ends
//! where `a0` begins, `0` being the character after `/`). A common prefix at or
//! before `start_after`, or under `skip_under`, is skipped the same way, as the walk of
//! the records skips its folder.

use shoal_io::Drive;

use crate::member::local::index::{DriveIndex, IndexResult, Start};
use crate::member::verbs::walk::{WalkBatch, WalkEntry, WalkRequest};

/// The request's batch from `index`, with every key's summary (a listing asks for
/// them, and the index holds nothing else).
pub async fn walk<D: Drive>(
    index: &DriveIndex<D>,
    drive: &D,
    bucket: &str,
    request: &WalkRequest,
) -> IndexResult<WalkBatch> {
    let mut batch = WalkBatch::default();
    let mut from: Option<String> = None;
    let mut after = request.start_after.clone();
    loop {
        let wanted = request.limit - batch.entries.len();
        let start = match &from {
            Some(from) => Start::From(from),
            None => Start::After(&after),
        };
        let found = index
            .batch(drive, bucket, start, &request.prefix, wanted)
            .await?;
        let ended = found.len() < wanted;
        let mut past = None;
        for (key, summary) in found {
            if let Some(skip) = request.skip_under.as_deref()
                && key.starts_with(skip)
            {
                past = Some(past_prefix(skip));
                break;
            }
            if let Some(common) = common_prefix(&key, request) {
                let skipped = request
                    .skip_under
                    .as_deref()
                    .is_some_and(|skip| common.starts_with(skip));
                if common > request.start_after.as_str() && !skipped {
                    batch.entries.push(WalkEntry::Prefix(common.to_owned()));
                    batch.summaries.push(None);
                }
                past = Some(past_prefix(common));
                break;
            }
            batch.entries.push(WalkEntry::Key(key.clone()));
            batch.summaries.push(Some(summary));
            after = key;
        }
        if batch.entries.len() == request.limit {
            // More may follow: the lister asks again from the last entry.
            batch.truncated = true;
            break;
        }
        match past {
            Some(Some(next)) => from = Some(next),
            // Nothing sorts after everything under it.
            Some(None) => break,
            None if ended => break,
            None => from = None,
        }
    }
    Ok(batch)
}

/// The common prefix `key` collapses into under the `/` delimiter: up to the first `/`
/// after the request's prefix.
fn common_prefix<'k>(key: &'k str, request: &WalkRequest) -> Option<&'k str> {
    if !request.collapse_slash {
        return None;
    }
    let rest = key.get(request.prefix.len()..)?;
    let slash = rest.find('/')?;
    Some(&key[..=request.prefix.len() + slash])
}

/// The smallest string after every string that starts with `prefix`: its last
/// character raised by one (dropped when it is the last character there is).
fn past_prefix(prefix: &str) -> Option<String> {
    let mut text = prefix.to_owned();
    while let Some(last) = text.pop() {
        let raised = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
        if let Some(raised) = raised {
            text.push(raised);
            return Some(text);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_prefix_sorts_after_everything_under_it() {
        assert_eq!(past_prefix("a/").as_deref(), Some("a0"));
        assert_eq!(past_prefix("a\u{d7ff}").as_deref(), Some("a\u{e000}"));
        assert_eq!(past_prefix("a\u{10ffff}").as_deref(), Some("b"));
        assert_eq!(past_prefix("\u{10ffff}"), None);
        assert_eq!(past_prefix(""), None);
        for under in ["a/", "a/b", "a/\u{10ffff}", "a/z/zzz"] {
            assert!(past_prefix("a/").unwrap().as_str() > under);
        }
    }
}
