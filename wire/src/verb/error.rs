//! The error a verb answers instead of its result: the kinds of the member's typed
//! error space (`shards/src/member/error.rs` `MemberError`), plus the one kind only a
//! remote member can answer (`Refused`), each with a message for logs.
//!
//! `MemberError::NotAsked` never travels: it is the caller's own verdict about a member
//! it did not ask.

/// Why a verb did not succeed on the member that received it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The member cannot be reached (drive offline, unmounted).
    Unreachable,
    /// The member did not answer within the request's deadline.
    Timeout,
    /// The member's state is not what the verb expected: nothing was changed.
    Stale,
    /// What the member holds fails its checksum or belongs elsewhere.
    Corrupt,
    /// The record does not exist on this member.
    NotFound,
    /// The member is out of space.
    Full,
    /// Any other I/O failure; the member may be failing.
    Io,
    /// The receiver could not carry the request out as sent: an unknown or closed
    /// handle, a full handle table, a payload that does not fit the verb. Nothing was
    /// changed. (The shards side maps it to an I/O failure of that member.)
    Refused,
}

impl ErrorKind {
    /// Every kind, in the order of their wire numbers.
    pub const ALL: [ErrorKind; 8] = [
        ErrorKind::Unreachable,
        ErrorKind::Timeout,
        ErrorKind::Stale,
        ErrorKind::Corrupt,
        ErrorKind::NotFound,
        ErrorKind::Full,
        ErrorKind::Io,
        ErrorKind::Refused,
    ];

    /// The kind's wire number: frozen, never reused (0 is no kind).
    pub fn code(self) -> u8 {
        match self {
            ErrorKind::Unreachable => 1,
            ErrorKind::Timeout => 2,
            ErrorKind::Stale => 3,
            ErrorKind::Corrupt => 4,
            ErrorKind::NotFound => 5,
            ErrorKind::Full => 6,
            ErrorKind::Io => 7,
            ErrorKind::Refused => 8,
        }
    }

    /// The kind of a wire number (`None`: unknown).
    pub fn from_code(code: u8) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|kind| kind.code() == code)
    }
}

/// A verb's error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerbError {
    pub kind: ErrorKind,
    /// Why, for logs (bounded on the wire; empty for kinds that need none).
    pub message: String,
}

impl std::fmt::Display for VerbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

impl std::error::Error for VerbError {}
