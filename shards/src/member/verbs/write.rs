//! Verbs that write a version: stage its records (begin, append, finish), commit it with `expect_previous`, roll a failed commit back, and delete a version (to trash).

/// Writing versions on one member.
pub trait WriteVerbs {}
