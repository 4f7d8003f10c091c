//! `LocalMember`: a member of a set that is a drive of this node. Implements the storage
//! verbs on `io::Drive` (paths from `keypath`), one file per family of verbs.
//!
//! The object layer reaches the drive only through the verbs; `drive()` is for what is
//! below them: the drive's format and identity, checked at open and on a timer, and
//! tests that damage drives on purpose.

mod bucket;
mod meta;
mod records;
pub(crate) mod upload;
mod walk;
pub(crate) mod write;

use shoal_io::Drive;

use crate::member::{MemberHealth, SetMember};

/// A drive of this node as a member of a set.
pub struct LocalMember<D: Drive> {
    drive: D,
    health: MemberHealth,
}

impl<D: Drive> LocalMember<D> {
    pub fn new(drive: D) -> Self {
        Self {
            drive,
            health: MemberHealth::default(),
        }
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
