//! The names of the storage verbs, as the drive metrics label them
//! (`minio_node_drive_latency_us{api}`): one variant per verb of `verbs/`, spelled as
//! the verb in CamelCase. A fixed enum, so timing a call is an index, never an
//! allocation or a string.

/// One storage verb (see `verbs/` for what each does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    ReadMeta,
    StageBegin,
    StageAppend,
    StageFinish,
    StageDiscard,
    Commit,
    RollBack,
    WriteMeta,
    DeleteVersion,
    RetireVersions,
    RemoveStaleVersions,
    HoldsVersionData,
    SweepTrash,
    OpenRecords,
    ReadRecords,
    ReadBucket,
    MakeBucket,
    RemoveBucketRecord,
    RemoveBucket,
    ListBuckets,
    ReadBucketTags,
    WriteBucketTags,
    ReadIdentity,
    RewriteMeta,
    RestoreMeta,
    WriteUpload,
    ReadUpload,
    RemoveUpload,
    PutPart,
    RemovePart,
    ListParts,
    ListUploads,
    ListUploadBuckets,
    ForgetUploadBucket,
    PruneCompleted,
    Walk,
}

/// How many verbs there are.
pub const VERB_COUNT: usize = Verb::ALL.len();

impl Verb {
    /// Every verb, in the order of [`Verb::index`].
    pub const ALL: [Verb; 36] = [
        Verb::ReadMeta,
        Verb::StageBegin,
        Verb::StageAppend,
        Verb::StageFinish,
        Verb::StageDiscard,
        Verb::Commit,
        Verb::RollBack,
        Verb::WriteMeta,
        Verb::DeleteVersion,
        Verb::RetireVersions,
        Verb::RemoveStaleVersions,
        Verb::HoldsVersionData,
        Verb::SweepTrash,
        Verb::OpenRecords,
        Verb::ReadRecords,
        Verb::ReadBucket,
        Verb::MakeBucket,
        Verb::RemoveBucketRecord,
        Verb::RemoveBucket,
        Verb::ListBuckets,
        Verb::ReadBucketTags,
        Verb::WriteBucketTags,
        Verb::ReadIdentity,
        Verb::RewriteMeta,
        Verb::RestoreMeta,
        Verb::WriteUpload,
        Verb::ReadUpload,
        Verb::RemoveUpload,
        Verb::PutPart,
        Verb::RemovePart,
        Verb::ListParts,
        Verb::ListUploads,
        Verb::ListUploadBuckets,
        Verb::ForgetUploadBucket,
        Verb::PruneCompleted,
        Verb::Walk,
    ];

    /// The verb's slot in per-verb tables.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The verb's label value.
    pub fn name(self) -> &'static str {
        match self {
            Verb::ReadMeta => "ReadMeta",
            Verb::StageBegin => "StageBegin",
            Verb::StageAppend => "StageAppend",
            Verb::StageFinish => "StageFinish",
            Verb::StageDiscard => "StageDiscard",
            Verb::Commit => "Commit",
            Verb::RollBack => "RollBack",
            Verb::WriteMeta => "WriteMeta",
            Verb::DeleteVersion => "DeleteVersion",
            Verb::RetireVersions => "RetireVersions",
            Verb::RemoveStaleVersions => "RemoveStaleVersions",
            Verb::HoldsVersionData => "HoldsVersionData",
            Verb::SweepTrash => "SweepTrash",
            Verb::OpenRecords => "OpenRecords",
            Verb::ReadRecords => "ReadRecords",
            Verb::ReadBucket => "ReadBucket",
            Verb::MakeBucket => "MakeBucket",
            Verb::RemoveBucketRecord => "RemoveBucketRecord",
            Verb::RemoveBucket => "RemoveBucket",
            Verb::ListBuckets => "ListBuckets",
            Verb::ReadBucketTags => "ReadBucketTags",
            Verb::WriteBucketTags => "WriteBucketTags",
            Verb::ReadIdentity => "ReadIdentity",
            Verb::RewriteMeta => "RewriteMeta",
            Verb::RestoreMeta => "RestoreMeta",
            Verb::WriteUpload => "WriteUpload",
            Verb::ReadUpload => "ReadUpload",
            Verb::RemoveUpload => "RemoveUpload",
            Verb::PutPart => "PutPart",
            Verb::RemovePart => "RemovePart",
            Verb::ListParts => "ListParts",
            Verb::ListUploads => "ListUploads",
            Verb::ListUploadBuckets => "ListUploadBuckets",
            Verb::ForgetUploadBucket => "ForgetUploadBucket",
            Verb::PruneCompleted => "PruneCompleted",
            Verb::Walk => "Walk",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ALL` lists every verb once, in index order, so per-verb tables line up.
    #[test]
    fn all_is_in_index_order() {
        for (i, verb) in Verb::ALL.iter().enumerate() {
            assert_eq!(verb.index(), i, "{}", verb.name());
        }
    }
}
