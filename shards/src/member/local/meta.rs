//! `MetaVerbs` on a drive of this node.

use shoal_io::Drive;

use crate::member::keypath::meta_path;
use crate::member::verbs::meta::MetaVerbs;
use crate::member::{LocalMember, MemberResult};

impl<D: Drive> MetaVerbs for LocalMember<D> {
    async fn read_meta(&self, bucket: &str, key: &str) -> MemberResult<Vec<u8>> {
        Ok(self.drive().read_file(&meta_path(bucket, key)).await?)
    }
}
