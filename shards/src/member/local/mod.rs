//! `LocalMember`: a member of a set that is a drive of this node. Implements the storage
//! verbs on `io::Drive` (paths from `keypath`), one file per family of verbs.
//!
//! Transition: code of the object layer not yet moved onto verbs reaches the drive
//! through `Deref`; each verb moved here removes such uses, and the `Deref` goes when
//! none are left (issue "Foundation III").

mod bucket;
mod meta;
mod records;
mod upload;
mod walk;
mod write;

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

impl<D: Drive> std::ops::Deref for LocalMember<D> {
    type Target = D;

    fn deref(&self) -> &D {
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
