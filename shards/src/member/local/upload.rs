//! `UploadVerbs` on a drive of this node.

use shoal_io::Drive;

use crate::member::LocalMember;
use crate::member::verbs::upload::UploadVerbs;

impl<D: Drive> UploadVerbs for LocalMember<D> {}
