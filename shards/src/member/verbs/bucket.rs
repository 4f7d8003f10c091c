//! Verbs on bucket records and bucket settings (tags) of one member.

/// Bucket records on one member.
pub trait BucketVerbs {}
