//! A member of an erasure set: where an object's records live on one drive.

pub mod keypath;
