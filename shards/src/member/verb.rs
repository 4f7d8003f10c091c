//! The names of the storage verbs, as the drive metrics label them
//! (`minio_node_drive_latency_us{api}`): one variant per verb of `verbs/`, spelled as
//! the verb in CamelCase. A fixed enum, so timing a call is an index, never an
//! allocation or a string.

/// Declares [`Verb`] from one list, so the enum, [`Verb::ALL`] and the label of each
/// verb cannot drift apart when a verb is added.
macro_rules! verbs {
    ($($verb:ident),+ $(,)?) => {
        /// One storage verb (see `verbs/` for what each does).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Verb {
            $($verb),+
        }

        impl Verb {
            /// Every verb, in the order of [`Verb::index`].
            pub const ALL: &'static [Verb] = &[$(Verb::$verb),+];

            /// The verb's label value (its name as declared).
            pub fn name(self) -> &'static str {
                match self {
                    $(Verb::$verb => stringify!($verb)),+
                }
            }
        }
    };
}

verbs! {
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
    InstallData,
}

/// How many verbs there are.
pub const VERB_COUNT: usize = Verb::ALL.len();

impl Verb {
    /// The verb's slot in per-verb tables.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether the verb may change what a drive holds (its calls are never cut part
    /// way: `set/quorum.rs`).
    pub fn changes_drive(self) -> bool {
        !matches!(
            self,
            Verb::ReadMeta
                | Verb::HoldsVersionData
                | Verb::OpenRecords
                | Verb::ReadRecords
                | Verb::ReadBucket
                | Verb::ListBuckets
                | Verb::ReadBucketTags
                | Verb::ReadIdentity
                | Verb::ReadUpload
                | Verb::ListParts
                | Verb::ListUploads
                | Verb::ListUploadBuckets
                | Verb::Walk
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ALL` lists every verb once, in index order, so per-verb tables line up; labels
    /// are the CamelCase names the metrics document.
    #[test]
    fn all_is_in_index_order() {
        for (i, verb) in Verb::ALL.iter().enumerate() {
            assert_eq!(verb.index(), i, "{}", verb.name());
        }
        assert_eq!(Verb::ReadMeta.name(), "ReadMeta");
        assert_eq!(Verb::Walk.name(), "Walk");
    }

    /// Reads are told from changes by name: a verb that reads, lists, opens or asks
    /// changes nothing; every other one may.
    #[test]
    fn changes_follow_the_names() {
        for verb in Verb::ALL {
            let name = verb.name();
            let reads = ["Read", "List", "Open", "Holds", "Walk"]
                .iter()
                .any(|start| name.starts_with(start));
            assert_eq!(verb.changes_drive(), !reads, "{name}");
        }
    }
}
