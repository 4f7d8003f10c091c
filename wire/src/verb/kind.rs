//! The verbs as a plain tag: one variant per verb message, shared by requests and
//! replies, so a reply can be checked against the request it answers and a message can
//! be named in logs without its contents.
//!
//! Each kind has a wire number (`code`), frozen: a number is never reused or changed,
//! new verbs take new numbers. 0 is no verb (FlatBuffers' default for an absent field).

/// Declares [`VerbKind`] from one list, so the enum, [`VerbKind::ALL`] and the names
/// cannot drift apart.
macro_rules! kinds {
    ($($kind:ident = $code:literal),+ $(,)?) => {
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

            /// The kind's wire number.
            pub fn code(self) -> u8 {
                match self {
                    $(VerbKind::$kind => $code),+
                }
            }

            /// The kind of a wire number (`None`: no verb has it).
            pub fn from_code(code: u8) -> Option<VerbKind> {
                match code {
                    $($code => Some(VerbKind::$kind),)+
                    _ => None,
                }
            }
        }
    };
}

kinds! {
    ReadMeta = 1,
    StageBegin = 2,
    StageAppend = 3,
    StageFinish = 4,
    StageAbandon = 5,
    StageDiscard = 6,
    Commit = 7,
    RollBack = 8,
    WriteMeta = 9,
    DeleteVersion = 10,
    RetireVersions = 11,
    RemoveStaleVersions = 12,
    HoldsVersionData = 13,
    SweepTrash = 14,
    OpenRecords = 15,
    ReadRecords = 16,
    CloseRecords = 17,
    ReadBucket = 18,
    MakeBucket = 19,
    RemoveBucketRecord = 20,
    RemoveBucket = 21,
    ListBuckets = 22,
    ReadBucketTags = 23,
    WriteBucketTags = 24,
    ReadIdentity = 25,
    WriteUpload = 26,
    ReadUpload = 27,
    RemoveUpload = 28,
    PutPart = 29,
    RemovePart = 30,
    ListParts = 31,
    ListUploads = 32,
    ListUploadBuckets = 33,
    ForgetUploadBucket = 34,
    PruneCompleted = 35,
    Walk = 36,
    LockAcquire = 37,
    LockRefresh = 38,
    LockRelease = 39,
    InstallData = 40,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind has its own wire number and comes back from it; 0 is no kind.
    #[test]
    fn codes_are_unique_and_invertible() {
        for kind in VerbKind::ALL {
            assert_eq!(
                VerbKind::from_code(kind.code()),
                Some(*kind),
                "{}",
                kind.name()
            );
        }
        assert_eq!(VerbKind::from_code(0), None);
        assert_eq!(VerbKind::ReadMeta.code(), 1);
        assert_eq!(VerbKind::Walk.code(), 36);
    }
}
