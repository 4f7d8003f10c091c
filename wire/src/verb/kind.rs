//! The verbs as a plain tag: one variant per verb message, shared by requests and
//! replies, so a reply can be checked against the request it answers and a message can
//! be named in logs without its contents.

/// Declares [`VerbKind`] from one list, so the enum, [`VerbKind::ALL`] and the names
/// cannot drift apart.
macro_rules! kinds {
    ($($kind:ident),+ $(,)?) => {
        /// One verb message kind (see `request.rs` for what each does).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum VerbKind {
            $($kind),+
        }

        impl VerbKind {
            /// Every kind, in declaration order.
            pub const ALL: &'static [VerbKind] = &[$(VerbKind::$kind),+];

            /// The kind's name as declared (the verb in CamelCase).
            pub fn name(self) -> &'static str {
                match self {
                    $(VerbKind::$kind => stringify!($kind)),+
                }
            }
        }
    };
}

kinds! {
    ReadMeta,
    StageBegin,
    StageAppend,
    StageFinish,
    StageAbandon,
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
    CloseRecords,
    ReadBucket,
    MakeBucket,
    RemoveBucketRecord,
    RemoveBucket,
    ListBuckets,
    ReadBucketTags,
    WriteBucketTags,
    ReadIdentity,
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
