//! `BucketVerbs` on a drive of this node.

use shoal_io::Drive;

use crate::member::LocalMember;
use crate::member::verbs::bucket::BucketVerbs;

impl<D: Drive> BucketVerbs for LocalMember<D> {}
