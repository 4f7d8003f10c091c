//! Handles: how the stateful verbs (a staged file being written, a part file being
//! read) name their open file across the wire.
//!
//! `stage_begin` and `open_records` answer a [`Handle`]: an id the receiving member
//! chose and maps to its open file in a table kept per connection. `stage_append`,
//! `stage_finish`, `stage_abandon`, `read_records` and `close_records` name it. The
//! contract both sides keep:
//!
//! - The table is bounded: at most [`HANDLES_MAX_PER_CONNECTION`] open handles per
//!   connection. A `stage_begin`/`open_records` beyond that is refused with
//!   `ErrorKind::Refused` and opens nothing; the caller closes one or uses another
//!   connection.
//! - Ids are never reused on one connection (a counter), so a late request that names
//!   a closed handle finds nothing (`ErrorKind::Refused`) instead of another file.
//! - `stage_finish`, `stage_abandon` and `close_records` close the handle, whatever
//!   their outcome.
//! - When the connection drops, the receiver closes every handle of that connection:
//!   staged files are abandoned (as dropping a local staged file abandons it) and part
//!   files are closed. A handle is meaningless on any other connection.

/// Most handles one connection may hold open on the receiving member: staged files
/// and open part files together. A PUT stages one file per member it writes and a GET
/// opens one per member it reads, so this bounds the concurrent object streams one
/// connection multiplexes; beyond it the caller needs another connection.
pub const HANDLES_MAX_PER_CONNECTION: usize = 256;

/// The id of a staged file or an open part file on the receiving member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle(pub u64);
