//! What a member of a set can answer instead of a result: one typed error space for every
//! storage verb, the same for a local drive and (later) a drive on a peer, so the quorum
//! engine and the object layer judge failures without knowing where the member is.

use shoal_io::DriveError;

/// Why a storage verb did not succeed on one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberError {
    /// The member cannot be reached (drive offline, unmounted, peer down), and why.
    Unreachable(String),
    /// The member did not answer within the request's deadline (it is marked slow).
    Timeout,
    /// The member's state is not what the verb expected (`expect_previous`, a lock
    /// epoch): nothing was changed.
    Stale,
    /// What the member holds fails its checksum or belongs elsewhere.
    Corrupt(String),
    /// The record does not exist on this member.
    NotFound,
    /// The member is out of space.
    Full,
    /// Any other I/O failure; the member may be failing.
    Io(String),
    /// Not a member's answer: the caller did not ask this member (it dropped out of
    /// the request earlier), and why. Never counted against the drive.
    NotAsked(&'static str),
}

pub type MemberResult<T> = Result<T, MemberError>;

impl MemberError {
    /// Whether the member answered for itself ("not there"), as opposed to failing.
    pub fn is_not_found(&self) -> bool {
        matches!(self, MemberError::NotFound)
    }
}

impl std::fmt::Display for MemberError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MemberError::Unreachable(why) => write!(f, "unreachable: {why}"),
            MemberError::Timeout => write!(f, "no answer within the deadline"),
            MemberError::Stale => write!(f, "stale: state changed underneath"),
            MemberError::Corrupt(why) => write!(f, "corrupt: {why}"),
            MemberError::NotFound => write!(f, "not found"),
            MemberError::Full => write!(f, "no space left"),
            MemberError::Io(why) => write!(f, "I/O error: {why}"),
            MemberError::NotAsked(why) => write!(f, "not asked: {why}"),
        }
    }
}

impl std::error::Error for MemberError {}

impl From<DriveError> for MemberError {
    fn from(e: DriveError) -> Self {
        match e {
            DriveError::NotFound => MemberError::NotFound,
            DriveError::NoSpace => MemberError::Full,
            DriveError::Io(e) => MemberError::Io(e.to_string()),
            DriveError::Offline(why) => MemberError::Unreachable(why),
        }
    }
}
