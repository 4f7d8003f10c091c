//! Replaced and deleted versions' data, kept readable for a while.
//!
//! A GET that started before an overwrite or a delete streams the version it opened to
//! the end (issue 10, A4). So a version's data folder is never removed while someone
//! may read it: the writer that replaces or deletes it renames `KEY/_d<version>` to
//! `.shoal/trash/_d<version>.<trashed at, 16 hex digits of ns>` (one rename, the same
//! filesystem), and a background sweep removes trash older than the grace period.
//!
//! Readers: files already open keep working through the rename (and even through the
//! removal: an open file outlives its name). A reader that opens a part file later (the
//! next part of a multipart object) and finds the version folder gone looks for it in
//! the trash by its version id, which is random and unique, so it can never find
//! another version's data. A reader that outlives the grace period finds nothing and
//! fails closed: the read fails and the connection is aborted, never wrong bytes.
//!
//! Invariants: nothing enters the trash but whole version folders; trash is removed
//! entirely at start (no reader can exist yet) and by the sweep after the grace period.
//! The drive work (names, renames, removal) is the members' (`member/local/write.rs`):
//! here are the policy (grace, sweep interval) and the sweep's fan-out.

use shoal_io::{Clock, Drive, Env};

use crate::member::Verb;
use crate::member::verbs::write::WriteVerbs;
use crate::object::store::Store;
use crate::set::quorum::{self, Strategy};

/// Where replaced and deleted versions' data wait for removal, on every drive (the
/// member keeps it; named here for tests that look).
pub use crate::member::local::write::TRASH_DIR;
pub(crate) use crate::member::local::write::empty_trash;

/// How long a replaced version stays readable for GETs that started before.
pub const TRASH_GRACE: std::time::Duration = std::time::Duration::from_mins(15);

/// How often the sweep looks for trash past its grace period.
pub const TRASH_SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_mins(1);

impl<D: Drive, C: Clock, E: Env> Store<D, C, E> {
    /// Removes trash older than `grace_nanos` from every drive; returns how many
    /// version folders were removed. Every member is asked and waited for (each within
    /// its deadline): the count is what the caller asked for.
    pub async fn sweep_trash(&self, grace_nanos: u64) -> usize {
        let now = self.clock.now_unix_nanos();
        let strategy = Strategy::all(Verb::SweepTrash, self.config.member_deadline);
        let answers = quorum::call(&self.env, &self.members, strategy, |_, member| async move {
            member.sweep_trash(now, grace_nanos).await
        })
        .await;
        answers
            .into_iter()
            .filter_map(quorum::Answer::into_ok)
            .sum()
    }
}
