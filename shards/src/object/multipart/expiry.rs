//! Removal of abandoned uploads (created longer ago than a maximum age), found by
//! the creation time in their ids, on every member that holds a piece of one (a
//! record or a part left behind by a failed create or a late write included).
//!
//! Every fan-out waits for each member or its deadline (`Strategy::all`): this runs in
//! the background, and the upload's lock is held while its removal runs.

use std::collections::BTreeSet;
use std::rc::Rc;

use shoal_io::{Clock, Drive, Env};

use crate::member::Verb;
use crate::member::verbs::upload::UploadVerbs;
use crate::object::store::Store;
use crate::set::quorum::{self, Answer, Strategy, ok_count};

use super::record::upload_id_time;

impl<D: Drive, C: Clock, E: Env> Store<D, C, E> {
    /// Removes uploads created more than `max_age_nanos` ago (abandoned), on every
    /// drive, with their parts; returns how many upload folders were removed (one per
    /// member that held the upload).
    pub async fn remove_abandoned_uploads(&self, max_age_nanos: u64) -> usize {
        let now = self.clock.now_unix_nanos();
        let mut removed = 0;
        for bucket in self.upload_buckets().await {
            for (id, holders) in self.upload_holders(&bucket).await {
                let old = upload_id_time(&id).is_none_or(|t| now.saturating_sub(t) > max_age_nanos);
                if old {
                    let guard = self.lock_upload(&id).await;
                    // Lost: someone else holds the upload now; the next sweep retries.
                    if guard.keep().await.is_ok() {
                        removed += self.remove_from_members(&bucket, &id, &holders).await;
                    }
                }
            }
            self.forget_upload_bucket(&bucket).await;
        }
        removed
    }

    /// Every bucket some member holds uploads of.
    async fn upload_buckets(&self) -> BTreeSet<String> {
        let strategy = Strategy::all(Verb::ListUploadBuckets, self.config.member_deadline);
        let answers = quorum::call(&self.env, &self.members, strategy, |_, member| async move {
            member.list_upload_buckets().await
        })
        .await;
        answers
            .into_iter()
            .filter_map(Answer::into_ok)
            .flatten()
            .collect()
    }

    /// Removes upload `upload_id` from the members (indexes in `members`) that hold it;
    /// returns how many did.
    async fn remove_from_members(&self, bucket: &str, upload_id: &str, holders: &[usize]) -> usize {
        let (bucket, upload_id): (Rc<str>, Rc<str>) = (bucket.into(), upload_id.into());
        let holds: Vec<bool> = (0..self.members.len())
            .map(|i| holders.contains(&i))
            .collect();
        let strategy = Strategy::all(Verb::RemoveUpload, self.config.member_deadline);
        let answers = quorum::call(&self.env, &self.members, strategy, |index, member| {
            let (bucket, upload_id) = (Rc::clone(&bucket), Rc::clone(&upload_id));
            let holds = holds[index];
            async move {
                if !holds {
                    // Not counted: nothing of the upload was there.
                    return Err(crate::member::MemberError::NotAsked(
                        "it holds none of the upload",
                    ));
                }
                member.remove_upload(&bucket, &upload_id).await
            }
        })
        .await;
        ok_count(&answers)
    }

    /// Lets every member forget `bucket` among the buckets with uploads, where none are
    /// left.
    async fn forget_upload_bucket(&self, bucket: &str) {
        let bucket: Rc<str> = bucket.into();
        let strategy = Strategy::all(Verb::ForgetUploadBucket, self.config.member_deadline);
        quorum::call(&self.env, &self.members, strategy, |_, member| {
            let bucket = Rc::clone(&bucket);
            async move { member.forget_upload_bucket(&bucket).await }
        })
        .await;
    }
}
