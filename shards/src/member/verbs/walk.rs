//! Walking a bucket in key order on one member: the listing's source.

/// Key-ordered walks of a bucket on one member.
pub trait WalkVerbs {}
