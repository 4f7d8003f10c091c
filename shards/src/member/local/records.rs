//! `RecordVerbs` on a drive of this node.

use shoal_io::Drive;

use crate::member::LocalMember;
use crate::member::verbs::records::RecordVerbs;

impl<D: Drive> RecordVerbs for LocalMember<D> {}
