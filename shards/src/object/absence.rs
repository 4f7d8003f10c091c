//! Telling "it is not there" from "this drive cannot say". A drive answers "not found"
//! both when it truly holds no such record and when it is not itself: its folder was
//! deleted or renamed, its filesystem unmounted (the bare mount point remains), or
//! another disk was put in its place. Shoal gives a negative answer (no such bucket, no
//! such key, nothing to list) only from drives that still carry this deployment's
//! format record at their position; any other "not found" counts as a drive that could
//! not answer, so beyond quorum the answer is 503, never 404.
//!
//! Cost: one small read per drive that answered "not found", only on the way to an
//! answer that depends on it; reads of existing objects never pay it.

use std::rc::Rc;

use shoal_io::{Clock, Drive, Env};

use crate::member::Verb;
use crate::member::verbs::bucket::BucketVerbs;
use crate::object::store::Store;
use crate::set::quorum::{self, Strategy};

impl<D: Drive, C: Clock, E: Env> Store<D, C, E> {
    /// Whether the drive at pool position `position` still holds this deployment's
    /// format record for that position (so its "not found" can be believed).
    pub(crate) async fn drive_is_ours(&self, position: usize) -> bool {
        self.drives_are_ours(&[position]).await[0]
    }

    /// [`Store::drive_is_ours`] for each of `positions`, concurrently, in order. All:
    /// each drive's own answer is wanted, not a quorum.
    pub(crate) async fn drives_are_ours(&self, positions: &[usize]) -> Vec<bool> {
        let members: Vec<_> = positions
            .iter()
            .map(|&p| Rc::clone(&self.members[p]))
            .collect();
        let strategy = Strategy::all(Verb::ReadIdentity, self.config.member_deadline);
        let answers = quorum::call(&self.env, &members, strategy, |_, member| async move {
            member.read_identity().await
        })
        .await;
        positions
            .iter()
            .zip(answers)
            .map(|(&position, answer)| {
                answer
                    .into_ok()
                    .is_some_and(|bytes| self.identity_matches(&bytes, position))
            })
            .collect()
    }

    /// The record read is the one the drive was checked against at open: deployment,
    /// layout, position and, in a cluster, node and drive list.
    fn identity_matches(&self, bytes: &[u8], position: usize) -> bool {
        self.identities
            .get(position)
            .is_some_and(|expected| expected.as_slice() == bytes)
    }
}
