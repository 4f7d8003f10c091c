//! The storage verbs, one trait per family (DESIGN.md §6). Each verb can travel as one
//! request to a peer: its arguments name objects, versions and uploads, never paths or
//! file handles; it is idempotent or fenced; its errors are `MemberError`s.

pub mod bucket;
pub mod meta;
pub mod records;
pub mod upload;
pub mod walk;
pub mod write;
