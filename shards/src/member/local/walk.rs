//! `WalkVerbs` on a drive of this node.

use shoal_io::Drive;

use crate::member::LocalMember;
use crate::member::verbs::walk::WalkVerbs;

impl<D: Drive> WalkVerbs for LocalMember<D> {}
