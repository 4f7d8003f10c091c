//! A member of an erasure set, and the storage verbs the object layer uses on it
//! (DESIGN.md §6). The object layer sees only `SetMember`: verbs named for what they do
//! to an object's records, each one request that could travel to a peer, with typed
//! errors (`MemberError`). `LocalMember` implements them on an `io::Drive` of this node
//! and is the only place that turns keys into paths (`keypath`); `PeerMember` sends
//! them to a drive of a peer node over a `PeerLink` (`peer/`); `Member` is either,
//! the one member type a store holds.

mod any;
mod error;
mod health;
pub mod keypath;
pub mod latency;
pub mod local;
pub mod peer;
pub mod verb;
pub mod verbs;

pub use any::{AnyRecords, AnyStaged, Member};
pub use error::{MemberError, MemberResult};
pub use health::{HealthCounts, MemberHealth, SLOW_PENALTY_NANOS};
pub use local::LocalMember;
pub use peer::PeerMember;
pub use verb::Verb;

/// A member of a set: every family of storage verbs (`verbs/`), a name and what the
/// quorum engine learned about it.
pub trait SetMember:
    verbs::meta::MetaVerbs
    + verbs::write::WriteVerbs
    + verbs::records::RecordVerbs
    + verbs::bucket::BucketVerbs
    + verbs::walk::WalkVerbs
    + verbs::upload::UploadVerbs
    + 'static
{
    /// The member's name for logs and errors (a drive path, later `node/drive`).
    fn name(&self) -> &str;

    /// What this shard's quorum engine learned about the member.
    fn health(&self) -> &MemberHealth;
}
