//! Verbs that read an object's metadata record on one member. The record comes back as
//! stored; the caller decodes it and judges it (it knows the key and position it must
//! be for).

use std::future::Future;

use crate::member::MemberResult;

/// Reading metadata records on one member.
pub trait MetaVerbs {
    /// The object's metadata record as the member holds it.
    fn read_meta(&self, bucket: &str, key: &str) -> impl Future<Output = MemberResult<Vec<u8>>>;
}
