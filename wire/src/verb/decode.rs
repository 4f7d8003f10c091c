//! Verified FlatBuffers bytes to values: the reverse of `encode.rs`. Each verb takes
//! the fields it has from the `Request`/`Reply` table (an absent string or table it
//! needs is `Missing`; absent scalars are their default, as FlatBuffers defines) and
//! its bulk from the payload. Fields a verb does not have are ignored, so a newer
//! sender may add fields. Limits are checked by the caller (`codec.rs`) on the result.

use super::codec::DecodeError;
use super::error::{ErrorKind, VerbError};
use super::handle::Handle;
use super::kind::VerbKind;
use super::reply::VerbReply;
use super::request::VerbRequest;
use super::schema::{self, ListTable};
use super::shape::{
    Commit, DataSource, EntrySummary, Expect, Fence, LockAsk, LockGrant, LockTarget, PartInfo,
    RollBack, WalkBatch, WalkEntry, WalkRequest,
};
use super::table::Table;

fn need<T>(value: Option<T>, field: &'static str) -> Result<T, DecodeError> {
    value.ok_or(DecodeError::Missing { field })
}

fn id16(bytes: Option<&[u8]>, field: &'static str) -> Result<[u8; 16], DecodeError> {
    let bytes = need(bytes, field)?;
    bytes.try_into().map_err(|_| DecodeError::BadLength {
        field,
        len: bytes.len(),
    })
}

fn string(t: &Table, id: u16, field: &'static str) -> Result<String, DecodeError> {
    Ok(need(t.str(id)?, field)?.to_owned())
}

fn no_bulk(bulk: &[u8]) -> Result<(), DecodeError> {
    if bulk.is_empty() {
        Ok(())
    } else {
        Err(DecodeError::UnexpectedBulk {
            len_bytes: bulk.len(),
        })
    }
}

/// The verb of a verified request body.
pub fn request_verb(body: &[u8]) -> Result<VerbKind, DecodeError> {
    let code = Table::root(body)?.u8(schema::request::VERB)?;
    VerbKind::from_code(code).ok_or(DecodeError::Unknown {
        field: "verb",
        code,
    })
}

/// The verb a verified reply body answers (`None`: it is an error).
pub fn reply_verb(body: &[u8]) -> Result<Option<VerbKind>, DecodeError> {
    let t = Table::root(body)?;
    if t.table(schema::reply::ERROR)?.is_some() {
        return Ok(None);
    }
    let code = t.u8(schema::reply::VERB)?;
    VerbKind::from_code(code)
        .map(Some)
        .ok_or(DecodeError::Unknown {
            field: "verb",
            code,
        })
}

/// The fields of a `Request` table, read once.
struct Fields<'a> {
    t: Table<'a>,
}

impl Fields<'_> {
    fn str(&self, id: u16, field: &'static str) -> Result<String, DecodeError> {
        string(&self.t, id, field)
    }
    fn bucket(&self) -> Result<String, DecodeError> {
        self.str(schema::request::BUCKET, "bucket")
    }
    fn key(&self) -> Result<String, DecodeError> {
        self.str(schema::request::KEY, "key")
    }
    fn upload_id(&self) -> Result<String, DecodeError> {
        self.str(schema::request::UPLOAD_ID, "upload_id")
    }
    fn staging(&self) -> Result<String, DecodeError> {
        self.str(schema::request::STAGING, "staging")
    }
    fn u64(&self, id: u16) -> Result<u64, DecodeError> {
        self.t.u64(id)
    }
    fn handle(&self) -> Result<Handle, DecodeError> {
        Ok(Handle(self.t.u64(schema::request::HANDLE)?))
    }
    fn version_id(&self, field: &'static str) -> Result<[u8; 16], DecodeError> {
        id16(self.t.bytes(schema::request::VERSION_ID)?, field)
    }
    fn expect(&self, field: &'static str) -> Result<Expect, DecodeError> {
        expect(&need(self.t.table(schema::request::EXPECT)?, field)?)
    }
    fn fence(&self) -> Result<Fence, DecodeError> {
        let t = need(self.t.table(schema::request::FENCE)?, "fence")?;
        Ok(Fence {
            epoch: t.u64(schema::fence::EPOCH)?,
            expires_in_nanos: t.u64(schema::fence::EXPIRES_IN_NANOS)?,
        })
    }
    fn data(&self) -> Result<Option<DataSource>, DecodeError> {
        self.t
            .table(schema::request::DATA)?
            .map(|t| source(&t))
            .transpose()
    }
    fn part(&self) -> Result<PartInfo, DecodeError> {
        part(&need(self.t.table(schema::request::PART)?, "part")?)
    }
}

fn expect(t: &Table) -> Result<Expect, DecodeError> {
    use schema::expect as id;
    match t.u8(id::KIND)? {
        1 => Ok(Expect::Absent),
        2 => Ok(Expect::Record(id16(t.bytes(id::RECORD)?, "expect.record")?)),
        3 => Ok(Expect::Any),
        code => Err(DecodeError::Unknown {
            field: "expect.kind",
            code,
        }),
    }
}

fn source(t: &Table) -> Result<DataSource, DecodeError> {
    use schema::source as id;
    match t.u8(id::KIND)? {
        1 => Ok(DataSource::Staging(string(t, id::STAGING, "data.staging")?)),
        2 => Ok(DataSource::Upload {
            bucket: string(t, id::BUCKET, "data.bucket")?,
            upload_id: string(t, id::UPLOAD_ID, "data.upload_id")?,
        }),
        code => Err(DecodeError::Unknown {
            field: "data.kind",
            code,
        }),
    }
}

fn part(t: &Table) -> Result<PartInfo, DecodeError> {
    use schema::part as id;
    Ok(PartInfo {
        number: t.u32(id::NUMBER)?,
        seq: t.u64(id::SEQ)?,
        size_bytes: t.u64(id::SIZE_BYTES)?,
        md5: id16(t.bytes(id::MD5)?, "part.md5")?,
        checksum: t.bytes(id::CHECKSUM)?.unwrap_or_default().to_vec(),
    })
}

fn walk(t: &Table) -> Result<WalkRequest, DecodeError> {
    use schema::walk as id;
    Ok(WalkRequest {
        prefix: t.str(id::PREFIX)?.unwrap_or_default().to_owned(),
        start_after: t.str(id::START_AFTER)?.unwrap_or_default().to_owned(),
        skip_under: t.str(id::SKIP_UNDER)?.map(str::to_owned),
        collapse_slash: t.bool(id::COLLAPSE_SLASH)?,
        limit: t.u32(id::LIMIT)?,
        summaries_for: t
            .bytes(id::SUMMARIES_FOR)?
            .map(|bytes| id16(Some(bytes), "walk.summaries_for"))
            .transpose()?,
    })
}

/// The `List` table of a list bulk (verified here: it is a buffer of its own).
fn list(bulk: &[u8]) -> Result<Table<'_>, DecodeError> {
    schema::verify::<ListTable>(bulk, &super::codec::bulk_options())?;
    Table::root(bulk)
}

fn names(bulk: &[u8]) -> Result<Vec<String>, DecodeError> {
    let t = list(bulk)?;
    Ok(t.strs(schema::list::NAMES)?
        .into_iter()
        .map(str::to_owned)
        .collect())
}

fn parts(bulk: &[u8]) -> Result<Vec<PartInfo>, DecodeError> {
    list(bulk)?
        .tables(schema::list::PARTS)?
        .iter()
        .map(part)
        .collect()
}

/// A walk's entries and their summaries (empty when no entry has one).
fn entries(bulk: &[u8]) -> Result<(Vec<WalkEntry>, Vec<Option<EntrySummary>>), DecodeError> {
    use schema::entry as id;
    let entry = |t: &Table| -> Result<(WalkEntry, Option<EntrySummary>), DecodeError> {
        let name = string(t, id::NAME, "entry.name")?;
        let summary = t.table(id::SUMMARY)?.map(|s| summary(&s)).transpose()?;
        let entry = match t.u8(id::KIND)? {
            1 => WalkEntry::Key(name),
            2 => WalkEntry::Prefix(name),
            code => {
                return Err(DecodeError::Unknown {
                    field: "entry.kind",
                    code,
                });
            }
        };
        Ok((entry, summary))
    };
    let (entries, mut summaries): (Vec<WalkEntry>, Vec<Option<EntrySummary>>) = list(bulk)?
        .tables(schema::list::ENTRIES)?
        .iter()
        .map(entry)
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .unzip();
    if summaries.iter().all(Option::is_none) {
        summaries.clear();
    }
    Ok((entries, summaries))
}

fn summary(t: &Table) -> Result<EntrySummary, DecodeError> {
    use schema::summary as id;
    Ok(EntrySummary {
        chunk_index: t.u8(id::CHUNK_INDEX)?,
        data_chunks: t.u8(id::DATA_CHUNKS)?,
        parity_chunks: t.u8(id::PARITY_CHUNKS)?,
        rotation: t.u8(id::ROTATION)?,
        version_id: id16(t.bytes(id::VERSION_ID)?, "summary.version_id")?,
        mod_time_unix_nanos: t.u64(id::MOD_TIME_UNIX_NANOS)?,
        meta_generation: t.u32(id::META_GENERATION)?,
        size_bytes: t.u64(id::SIZE_BYTES)?,
        etag: string(t, id::ETAG, "summary.etag")?,
        checksum_algorithm: t.u8(id::CHECKSUM_ALGORITHM)?,
        tombstone: t.bool(id::TOMBSTONE)?,
    })
}

/// A request from a verified body and its bulk.
pub fn request(body: &[u8], bulk: Vec<u8>) -> Result<VerbRequest, DecodeError> {
    let kind = request_verb(body)?;
    let f = Fields {
        t: Table::root(body)?,
    };
    match kind {
        VerbKind::Commit | VerbKind::RollBack | VerbKind::WriteMeta => versioned(kind, &f, bulk),
        VerbKind::MakeBucket => Ok(VerbRequest::MakeBucket {
            bucket: f.bucket()?,
            record: bulk,
        }),
        VerbKind::WriteBucketTags => Ok(VerbRequest::WriteBucketTags {
            bucket: f.bucket()?,
            record: bulk,
        }),
        VerbKind::WriteUpload => Ok(VerbRequest::WriteUpload {
            bucket: f.bucket()?,
            upload_id: f.upload_id()?,
            record: bulk,
        }),
        VerbKind::HoldsVersionData => Ok(VerbRequest::HoldsVersionData {
            bucket: f.bucket()?,
            key: f.key()?,
            version_id: f.version_id("version_id")?,
            part_files: names(&bulk)?,
        }),
        VerbKind::InstallData => Ok(VerbRequest::InstallData {
            bucket: f.bucket()?,
            key: f.key()?,
            version_id: f.version_id("version_id")?,
            staging: f.staging()?,
            files: names(&bulk)?,
            expect_previous: f.expect("expect_previous")?,
            fence: f.fence()?,
        }),
        VerbKind::PruneCompleted => Ok(VerbRequest::PruneCompleted {
            bucket: f.bucket()?,
            key: f.key()?,
            version_id: f.version_id("version_id")?,
            keep: parts(&bulk)?,
        }),
        _ => {
            no_bulk(&bulk)?;
            plain_request(kind, &f)
        }
    }
}

/// The verbs whose bulk is a metadata record (`RollBack`'s only if it restores one).
fn versioned(kind: VerbKind, f: &Fields, bulk: Vec<u8>) -> Result<VerbRequest, DecodeError> {
    use schema::request as id;
    Ok(match kind {
        VerbKind::Commit => VerbRequest::Commit(Commit {
            bucket: f.bucket()?,
            key: f.key()?,
            version_id: f.version_id("version_id")?,
            data: f.data()?,
            meta: bulk,
            expect_previous: f.expect("expect_previous")?,
            fence: f.fence()?,
        }),
        VerbKind::RollBack => {
            let restore = if f.t.bool(id::HAS_RESTORE)? {
                Some(bulk)
            } else {
                no_bulk(&bulk)?;
                None
            };
            VerbRequest::RollBack(RollBack {
                bucket: f.bucket()?,
                key: f.key()?,
                version_id: f.version_id("version_id")?,
                committed: f.expect("committed")?,
                restore,
                give_back: f.data()?,
                fence: f.fence()?,
            })
        }
        _ => VerbRequest::WriteMeta {
            bucket: f.bucket()?,
            key: f.key()?,
            meta: bulk,
            expect_previous: f.expect("expect_previous")?,
            fence: f.fence()?,
        },
    })
}

/// The verbs without bulk, by kind.
fn plain_request(kind: VerbKind, f: &Fields) -> Result<VerbRequest, DecodeError> {
    use VerbRequest as R;
    use schema::request as id;
    Ok(match kind {
        VerbKind::ReadMeta => R::ReadMeta {
            bucket: f.bucket()?,
            key: f.key()?,
        },
        VerbKind::StageBegin => R::StageBegin {
            staging: f.staging()?,
            part_number: f.t.u32(id::PART_NUMBER)?,
            size_hint_bytes: f.u64(id::SIZE_HINT_BYTES)?,
        },
        VerbKind::StageAppend => R::StageAppend {
            handle: f.handle()?,
            offset_bytes: f.u64(id::OFFSET_BYTES)?,
        },
        VerbKind::StageFinish => R::StageFinish {
            handle: f.handle()?,
            len_bytes: f.u64(id::LEN_BYTES)?,
        },
        VerbKind::StageAbandon => R::StageAbandon {
            handle: f.handle()?,
        },
        VerbKind::StageDiscard => R::StageDiscard {
            staging: f.staging()?,
        },
        VerbKind::DeleteVersion => R::DeleteVersion {
            bucket: f.bucket()?,
            key: f.key()?,
            expect_previous: f.expect("expect_previous")?,
            fence: f.fence()?,
        },
        VerbKind::RetireVersions => R::RetireVersions {
            bucket: f.bucket()?,
            key: f.key()?,
            now_unix_nanos: f.u64(id::NOW_UNIX_NANOS)?,
            fence: f.fence()?,
        },
        VerbKind::RemoveStaleVersions => R::RemoveStaleVersions {
            bucket: f.bucket()?,
            key: f.key()?,
            keep: f.version_id("keep")?,
            now_unix_nanos: f.u64(id::NOW_UNIX_NANOS)?,
            fence: f.fence()?,
        },
        VerbKind::SweepTrash => R::SweepTrash {
            now_unix_nanos: f.u64(id::NOW_UNIX_NANOS)?,
            grace_nanos: f.u64(id::GRACE_NANOS)?,
        },
        VerbKind::OpenRecords => R::OpenRecords {
            bucket: f.bucket()?,
            key: f.key()?,
            version_id: f.version_id("version_id")?,
            part_file: f.str(id::PART_FILE, "part_file")?,
        },
        VerbKind::ReadRecords => R::ReadRecords {
            handle: f.handle()?,
            offset_bytes: f.u64(id::OFFSET_BYTES)?,
            len_bytes: f.u64(id::LEN_BYTES)?,
        },
        VerbKind::CloseRecords => R::CloseRecords {
            handle: f.handle()?,
        },
        _ => bucket_request(kind, f)?,
    })
}

/// The bucket and upload verbs without bulk.
fn bucket_request(kind: VerbKind, f: &Fields) -> Result<VerbRequest, DecodeError> {
    use VerbRequest as R;
    Ok(match kind {
        VerbKind::ReadBucket => R::ReadBucket {
            bucket: f.bucket()?,
        },
        VerbKind::RemoveBucketRecord => R::RemoveBucketRecord {
            bucket: f.bucket()?,
        },
        VerbKind::RemoveBucket => R::RemoveBucket {
            bucket: f.bucket()?,
        },
        VerbKind::ListBuckets => R::ListBuckets,
        VerbKind::ReadBucketTags => R::ReadBucketTags {
            bucket: f.bucket()?,
        },
        VerbKind::ReadIdentity => R::ReadIdentity,
        VerbKind::ReadUpload => R::ReadUpload {
            bucket: f.bucket()?,
            upload_id: f.upload_id()?,
        },
        VerbKind::RemoveUpload => R::RemoveUpload {
            bucket: f.bucket()?,
            upload_id: f.upload_id()?,
        },
        VerbKind::PutPart => R::PutPart {
            bucket: f.bucket()?,
            upload_id: f.upload_id()?,
            staging: f.staging()?,
            part: f.part()?,
        },
        VerbKind::RemovePart => R::RemovePart {
            bucket: f.bucket()?,
            upload_id: f.upload_id()?,
            part: f.part()?,
        },
        VerbKind::ListParts => R::ListParts {
            bucket: f.bucket()?,
            upload_id: f.upload_id()?,
        },
        VerbKind::ListUploads => R::ListUploads {
            bucket: f.bucket()?,
        },
        VerbKind::ListUploadBuckets => R::ListUploadBuckets,
        VerbKind::ForgetUploadBucket => R::ForgetUploadBucket {
            bucket: f.bucket()?,
        },
        VerbKind::Walk => R::Walk {
            bucket: f.bucket()?,
            request: walk(&need(f.t.table(schema::request::WALK)?, "walk")?)?,
        },
        VerbKind::LockAcquire => R::LockAcquire(lock_ask(f)?),
        VerbKind::LockRefresh => {
            let lock = need(f.t.table(schema::request::LOCK)?, "lock")?;
            R::LockRefresh {
                id: f.handle()?.0,
                lease_nanos: lock.u64(schema::lock::LEASE_NANOS)?,
                fence_epoch: lock.u64(schema::lock::EPOCH)?,
            }
        }
        VerbKind::LockRelease => R::LockRelease { id: f.handle()?.0 },
        // Every other verb was decoded by `request` or `plain_request`: not reached.
        _ => {
            return Err(DecodeError::Unknown {
                field: "verb",
                code: kind.code(),
            });
        }
    })
}

/// A `LockAcquire`'s ask: the `Lock` table and the name's strings.
fn lock_ask(f: &Fields) -> Result<LockAsk, DecodeError> {
    use schema::lock as id;
    let lock = need(f.t.table(schema::request::LOCK)?, "lock")?;
    let target = match lock.u8(id::KIND)? {
        1 => LockTarget::Bucket(f.bucket()?),
        2 => LockTarget::Object {
            bucket: f.bucket()?,
            key: f.key()?,
        },
        3 => LockTarget::Upload(f.upload_id()?),
        code => {
            return Err(DecodeError::Unknown {
                field: "lock.kind",
                code,
            });
        }
    };
    Ok(LockAsk {
        id: f.handle()?.0,
        target,
        exclusive: lock.bool(id::EXCLUSIVE)?,
        lease_nanos: lock.u64(id::LEASE_NANOS)?,
        wait_nanos: lock.u64(id::WAIT_NANOS)?,
        seen_epoch: lock.u64(id::EPOCH)?,
    })
}

/// The lease a lock verb's reply carries (`None`: not granted).
fn lock_grant(t: &Table) -> Result<Option<LockGrant>, DecodeError> {
    use schema::reply as id;
    if !t.bool(id::GRANTED)? {
        return Ok(None);
    }
    Ok(Some(LockGrant {
        epoch: t.u64(id::EPOCH)?,
        expires_in_nanos: t.u64(id::EXPIRES_IN_NANOS)?,
    }))
}

/// A reply from a verified body and its bulk.
pub fn reply(body: &[u8], bulk: Vec<u8>) -> Result<VerbReply, DecodeError> {
    use schema::reply as id;
    let t = Table::root(body)?;
    let Some(kind) = reply_verb(body)? else {
        no_bulk(&bulk)?;
        return error(&need(t.table(id::ERROR)?, "error")?).map(VerbReply::Error);
    };
    Ok(match kind {
        VerbKind::ReadMeta => VerbReply::ReadMeta { record: bulk },
        VerbKind::ReadBucket => VerbReply::ReadBucket { record: bulk },
        VerbKind::ReadBucketTags => VerbReply::ReadBucketTags { record: bulk },
        VerbKind::ReadIdentity => VerbReply::ReadIdentity { record: bulk },
        VerbKind::ReadUpload => VerbReply::ReadUpload { record: bulk },
        VerbKind::ListBuckets => VerbReply::ListBuckets {
            buckets: names(&bulk)?,
        },
        VerbKind::ListUploadBuckets => VerbReply::ListUploadBuckets {
            buckets: names(&bulk)?,
        },
        VerbKind::ListUploads => VerbReply::ListUploads {
            upload_ids: names(&bulk)?,
        },
        VerbKind::ListParts => VerbReply::ListParts {
            parts: parts(&bulk)?,
        },
        VerbKind::Walk => {
            let (entries, summaries) = entries(&bulk)?;
            VerbReply::Walk(WalkBatch {
                entries,
                summaries,
                truncated: t.bool(id::TRUNCATED)?,
            })
        }
        _ => {
            no_bulk(&bulk)?;
            plain_reply(kind, &t)?
        }
    })
}

fn error(t: &Table) -> Result<VerbError, DecodeError> {
    use schema::error as id;
    let code = t.u8(id::KIND)?;
    let kind = ErrorKind::from_code(code).ok_or(DecodeError::Unknown {
        field: "error.kind",
        code,
    })?;
    let message = t.str(id::MESSAGE)?.unwrap_or_default().to_owned();
    Ok(VerbError { kind, message })
}

/// The replies without bulk, by kind.
fn plain_reply(kind: VerbKind, t: &Table) -> Result<VerbReply, DecodeError> {
    use VerbReply as R;
    use schema::reply as id;
    let handle = || -> Result<Handle, DecodeError> { Ok(Handle(t.u64(id::HANDLE)?)) };
    Ok(match kind {
        VerbKind::StageBegin => R::StageBegin { handle: handle()? },
        VerbKind::OpenRecords => R::OpenRecords { handle: handle()? },
        VerbKind::HoldsVersionData => R::HoldsVersionData {
            held: t.bool(id::HELD)?,
        },
        VerbKind::SweepTrash => R::SweepTrash {
            removed: t.u64(id::REMOVED)?,
        },
        VerbKind::StageAppend => R::StageAppend,
        VerbKind::StageFinish => R::StageFinish,
        VerbKind::StageAbandon => R::StageAbandon,
        VerbKind::StageDiscard => R::StageDiscard,
        VerbKind::Commit => R::Commit,
        VerbKind::RollBack => R::RollBack,
        VerbKind::WriteMeta => R::WriteMeta,
        VerbKind::InstallData => R::InstallData,
        VerbKind::DeleteVersion => R::DeleteVersion,
        VerbKind::RetireVersions => R::RetireVersions,
        VerbKind::RemoveStaleVersions => R::RemoveStaleVersions,
        VerbKind::ReadRecords => R::ReadRecords,
        VerbKind::CloseRecords => R::CloseRecords,
        VerbKind::MakeBucket => R::MakeBucket,
        VerbKind::RemoveBucketRecord => R::RemoveBucketRecord,
        VerbKind::RemoveBucket => R::RemoveBucket,
        VerbKind::WriteBucketTags => R::WriteBucketTags,
        VerbKind::WriteUpload => R::WriteUpload,
        VerbKind::RemoveUpload => R::RemoveUpload,
        VerbKind::PutPart => R::PutPart,
        VerbKind::RemovePart => R::RemovePart,
        VerbKind::ForgetUploadBucket => R::ForgetUploadBucket,
        VerbKind::PruneCompleted => R::PruneCompleted,
        VerbKind::LockAcquire => R::LockAcquire {
            grant: lock_grant(t)?,
        },
        VerbKind::LockRefresh => R::LockRefresh {
            grant: lock_grant(t)?,
        },
        VerbKind::LockRelease => R::LockRelease,
        // Every verb with bulk was decoded by `reply`: not reached.
        _ => {
            return Err(DecodeError::Unknown {
                field: "verb",
                code: kind.code(),
            });
        }
    })
}
