//! Verbs on multipart uploads: upload records, part records (staged like a version's records), completion and abort.

/// Multipart uploads on one member.
pub trait UploadVerbs {}
