//! `WriteVerbs` on a drive of this node.

use shoal_io::Drive;

use crate::member::LocalMember;
use crate::member::verbs::write::WriteVerbs;

impl<D: Drive> WriteVerbs for LocalMember<D> {}
