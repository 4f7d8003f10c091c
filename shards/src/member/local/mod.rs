//! `LocalMember`: a member of a set that is a drive of this node. Implements the storage
//! verbs on `io::Drive` (paths from `keypath`), one file per family of verbs.
//!
//! The object layer reaches the drive only through the verbs; `drive()` is for what is
//! below them: the drive's format and identity, checked at open and on a timer, and
//! tests that damage drives on purpose.

mod bucket;
pub(crate) use bucket::BUCKETS_DIR;
pub mod fence;
pub mod fresh;
pub mod index;
pub use index::fuzz_index_decoders;
mod meta;
mod records;
pub(crate) mod upload;
mod walk;
pub(crate) mod write;

use std::cell::OnceCell;
use std::rc::Rc;
use std::time::Duration;

use shoal_io::{Drive, Env, MonoioEnv};

use crate::member::local::fence::EpochMemory;
use crate::member::local::fresh::FreshFolders;
use crate::member::local::index::link::IndexLink;
use crate::member::{MemberHealth, SetMember};

/// How long a member remembers a lease epoch unless told (the default lease).
const REMEMBER_EPOCHS_DEFAULT: Duration = Duration::from_secs(30);

/// A drive of this node as a member of a set.
pub struct LocalMember<D: Drive> {
    drive: D,
    health: MemberHealth,
    /// Lease epochs accepted per object (`fence.rs`).
    epochs: EpochMemory,
    /// Commits that made their key's folder, until their clean-up (`fresh.rs`).
    fresh: FreshFolders,
    /// The drive's listing index (`index/link.rs`), once the store linked it.
    index: OnceCell<IndexLink<D>>,
}

impl<D: Drive> LocalMember<D> {
    pub fn new(drive: D) -> Self {
        Self::with_leases(drive, MonoioEnv, REMEMBER_EPOCHS_DEFAULT)
    }

    /// A member whose lease fencing runs on `env`'s monotonic clock and remembers an
    /// epoch for `longest_lease` (the longest lease the store grants).
    pub fn with_leases<E: Env>(drive: D, env: E, longest_lease: Duration) -> Self {
        let remember_nanos = u64::try_from(longest_lease.as_nanos()).unwrap_or(u64::MAX);
        Self {
            drive,
            health: MemberHealth::default(),
            epochs: EpochMemory::new(Rc::new(move || env.monotonic_nanos()), remember_nanos),
            fresh: FreshFolders::default(),
            index: OnceCell::new(),
        }
    }

    /// What this member remembers of lease epochs (tests check its bound).
    pub fn epochs(&self) -> &EpochMemory {
        &self.epochs
    }

    /// The commits this member remembers as having made their key's folder (tests
    /// check its bound).
    pub fn fresh_folders(&self) -> &FreshFolders {
        &self.fresh
    }

    /// The drive itself (format and identity checks at open, which are below the verbs).
    pub fn drive(&self) -> &D {
        &self.drive
    }
}

impl<D: Drive> SetMember for LocalMember<D> {
    fn name(&self) -> &str {
        self.drive.name()
    }

    fn health(&self) -> &MemberHealth {
        &self.health
    }
}
