//! `wire/schema/verbs.fbs` in Rust: the field ids of every table and the verifier of
//! each, written by hand against the schema (no generated code, so no code generator
//! at build time and no `unsafe`: generated accessors need it, this crate forbids it).
//!
//! Decoding runs the flatbuffers crate's `Verifier` over a whole buffer with these
//! tables before a single field is read (`table.rs` then reads them with checked
//! indexing): every offset in bounds, every string UTF-8, the depth, the number of
//! tables and the apparent size bounded (`options`).

use flatbuffers::{ForwardsUOffset, InvalidFlatbuffer, Vector, Verifiable, Verifier};

/// A field's vtable offset from its id (`(id: N)` in the schema).
pub const fn slot(id: u16) -> u16 {
    4 + 2 * id
}

/// Field ids of `table Expect`.
pub mod expect {
    pub const KIND: u16 = 0;
    pub const RECORD: u16 = 1;
}
/// Field ids of `table Fence`.
pub mod fence {
    pub const EPOCH: u16 = 0;
    pub const EXPIRES_IN_NANOS: u16 = 1;
}
/// Field ids of `table DataSource`.
pub mod source {
    pub const KIND: u16 = 0;
    pub const STAGING: u16 = 1;
    pub const BUCKET: u16 = 2;
    pub const UPLOAD_ID: u16 = 3;
}
/// Field ids of `table Part`.
pub mod part {
    pub const NUMBER: u16 = 0;
    pub const SEQ: u16 = 1;
    pub const SIZE_BYTES: u16 = 2;
    pub const MD5: u16 = 3;
    pub const CHECKSUM: u16 = 4;
}
/// Field ids of `table Walk`.
pub mod walk {
    pub const PREFIX: u16 = 0;
    pub const START_AFTER: u16 = 1;
    pub const SKIP_UNDER: u16 = 2;
    pub const COLLAPSE_SLASH: u16 = 3;
    pub const LIMIT: u16 = 4;
    pub const SUMMARIES_FOR: u16 = 5;
}
/// Field ids of `table Request`.
pub mod request {
    pub const VERB: u16 = 0;
    pub const BUCKET: u16 = 1;
    pub const KEY: u16 = 2;
    pub const STAGING: u16 = 3;
    pub const UPLOAD_ID: u16 = 4;
    pub const PART_FILE: u16 = 5;
    pub const VERSION_ID: u16 = 6;
    pub const HANDLE: u16 = 7;
    pub const OFFSET_BYTES: u16 = 8;
    pub const LEN_BYTES: u16 = 9;
    pub const SIZE_HINT_BYTES: u16 = 10;
    pub const PART_NUMBER: u16 = 11;
    pub const NOW_UNIX_NANOS: u16 = 12;
    pub const GRACE_NANOS: u16 = 13;
    pub const EXPECT: u16 = 14;
    pub const FENCE: u16 = 15;
    pub const DATA: u16 = 16;
    pub const PART: u16 = 17;
    pub const WALK: u16 = 18;
    pub const HAS_RESTORE: u16 = 19;
    pub const LOCK: u16 = 20;
}
/// Field ids of `table Lock`.
pub mod lock {
    pub const KIND: u16 = 0;
    pub const EXCLUSIVE: u16 = 1;
    pub const LEASE_NANOS: u16 = 2;
    pub const WAIT_NANOS: u16 = 3;
    pub const EPOCH: u16 = 4;
}
/// Field ids of `table Error`.
pub mod error {
    pub const KIND: u16 = 0;
    pub const MESSAGE: u16 = 1;
}
/// Field ids of `table Reply`.
pub mod reply {
    pub const VERB: u16 = 0;
    pub const ERROR: u16 = 1;
    pub const HANDLE: u16 = 2;
    pub const HELD: u16 = 3;
    pub const REMOVED: u16 = 4;
    pub const TRUNCATED: u16 = 5;
    pub const GRANTED: u16 = 6;
    pub const EPOCH: u16 = 7;
    pub const EXPIRES_IN_NANOS: u16 = 8;
}
/// Field ids of `table Entry`.
pub mod entry {
    pub const KIND: u16 = 0;
    pub const NAME: u16 = 1;
    pub const SUMMARY: u16 = 2;
}
/// Field ids of `table Summary`.
pub mod summary {
    pub const CHUNK_INDEX: u16 = 0;
    pub const DATA_CHUNKS: u16 = 1;
    pub const PARITY_CHUNKS: u16 = 2;
    pub const ROTATION: u16 = 3;
    pub const VERSION_ID: u16 = 4;
    pub const MOD_TIME_UNIX_NANOS: u16 = 5;
    pub const META_GENERATION: u16 = 6;
    pub const SIZE_BYTES: u16 = 7;
    pub const ETAG: u16 = 8;
    pub const CHECKSUM_ALGORITHM: u16 = 9;
    pub const TOMBSTONE: u16 = 10;
}
/// Field ids of `table List`.
pub mod list {
    pub const NAMES: u16 = 0;
    pub const PARTS: u16 = 1;
    pub const ENTRIES: u16 = 2;
}

type Result = std::result::Result<(), InvalidFlatbuffer>;
type Str = ForwardsUOffset<&'static str>;
type Bytes = ForwardsUOffset<Vector<'static, u8>>;
type Child<T> = ForwardsUOffset<T>;
type Children<T> = ForwardsUOffset<Vector<'static, ForwardsUOffset<T>>>;

/// Verifies `table Expect`.
pub struct ExpectTable;
impl Verifiable for ExpectTable {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result {
        v.visit_table(pos)?
            .visit_field::<u8>("kind", slot(expect::KIND), false)?
            .visit_field::<Bytes>("record", slot(expect::RECORD), false)?
            .finish();
        Ok(())
    }
}

/// Verifies `table Fence`.
pub struct FenceTable;
impl Verifiable for FenceTable {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result {
        v.visit_table(pos)?
            .visit_field::<u64>("epoch", slot(fence::EPOCH), false)?
            .visit_field::<u64>("expires_in_nanos", slot(fence::EXPIRES_IN_NANOS), false)?
            .finish();
        Ok(())
    }
}

/// Verifies `table DataSource`.
pub struct SourceTable;
impl Verifiable for SourceTable {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result {
        v.visit_table(pos)?
            .visit_field::<u8>("kind", slot(source::KIND), false)?
            .visit_field::<Str>("staging", slot(source::STAGING), false)?
            .visit_field::<Str>("bucket", slot(source::BUCKET), false)?
            .visit_field::<Str>("upload_id", slot(source::UPLOAD_ID), false)?
            .finish();
        Ok(())
    }
}

/// Verifies `table Part`.
pub struct PartTable;
impl Verifiable for PartTable {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result {
        v.visit_table(pos)?
            .visit_field::<u32>("number", slot(part::NUMBER), false)?
            .visit_field::<u64>("seq", slot(part::SEQ), false)?
            .visit_field::<u64>("size_bytes", slot(part::SIZE_BYTES), false)?
            .visit_field::<Bytes>("md5", slot(part::MD5), false)?
            .visit_field::<Bytes>("checksum", slot(part::CHECKSUM), false)?
            .finish();
        Ok(())
    }
}

/// Verifies `table Walk`.
pub struct WalkTable;
impl Verifiable for WalkTable {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result {
        v.visit_table(pos)?
            .visit_field::<Str>("prefix", slot(walk::PREFIX), false)?
            .visit_field::<Str>("start_after", slot(walk::START_AFTER), false)?
            .visit_field::<Str>("skip_under", slot(walk::SKIP_UNDER), false)?
            .visit_field::<bool>("collapse_slash", slot(walk::COLLAPSE_SLASH), false)?
            .visit_field::<u32>("limit", slot(walk::LIMIT), false)?
            .visit_field::<Bytes>("summaries_for", slot(walk::SUMMARIES_FOR), false)?
            .finish();
        Ok(())
    }
}

/// Verifies `table Lock`.
pub struct LockTable;
impl Verifiable for LockTable {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result {
        v.visit_table(pos)?
            .visit_field::<u8>("kind", slot(lock::KIND), false)?
            .visit_field::<bool>("exclusive", slot(lock::EXCLUSIVE), false)?
            .visit_field::<u64>("lease_nanos", slot(lock::LEASE_NANOS), false)?
            .visit_field::<u64>("wait_nanos", slot(lock::WAIT_NANOS), false)?
            .visit_field::<u64>("epoch", slot(lock::EPOCH), false)?
            .finish();
        Ok(())
    }
}

/// Verifies `table Request`.
pub struct RequestTable;
impl Verifiable for RequestTable {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result {
        use request as f;
        let mut t = v
            .visit_table(pos)?
            .visit_field::<u8>("verb", slot(f::VERB), false)?;
        for (name, id) in [
            ("bucket", f::BUCKET),
            ("key", f::KEY),
            ("staging", f::STAGING),
            ("upload_id", f::UPLOAD_ID),
            ("part_file", f::PART_FILE),
        ] {
            t = t.visit_field::<Str>(name, slot(id), false)?;
        }
        t = t.visit_field::<Bytes>("version_id", slot(f::VERSION_ID), false)?;
        for (name, id) in [
            ("handle", f::HANDLE),
            ("offset_bytes", f::OFFSET_BYTES),
            ("len_bytes", f::LEN_BYTES),
            ("size_hint_bytes", f::SIZE_HINT_BYTES),
            ("now_unix_nanos", f::NOW_UNIX_NANOS),
            ("grace_nanos", f::GRACE_NANOS),
        ] {
            t = t.visit_field::<u64>(name, slot(id), false)?;
        }
        t.visit_field::<u32>("part_number", slot(f::PART_NUMBER), false)?
            .visit_field::<Child<ExpectTable>>("expect", slot(f::EXPECT), false)?
            .visit_field::<Child<FenceTable>>("fence", slot(f::FENCE), false)?
            .visit_field::<Child<SourceTable>>("data", slot(f::DATA), false)?
            .visit_field::<Child<PartTable>>("part", slot(f::PART), false)?
            .visit_field::<Child<WalkTable>>("walk", slot(f::WALK), false)?
            .visit_field::<bool>("has_restore", slot(f::HAS_RESTORE), false)?
            .visit_field::<Child<LockTable>>("lock", slot(f::LOCK), false)?
            .finish();
        Ok(())
    }
}

/// Verifies `table Error`.
pub struct ErrorTable;
impl Verifiable for ErrorTable {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result {
        v.visit_table(pos)?
            .visit_field::<u8>("kind", slot(error::KIND), false)?
            .visit_field::<Str>("message", slot(error::MESSAGE), false)?
            .finish();
        Ok(())
    }
}

/// Verifies `table Reply`.
pub struct ReplyTable;
impl Verifiable for ReplyTable {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result {
        v.visit_table(pos)?
            .visit_field::<u8>("verb", slot(reply::VERB), false)?
            .visit_field::<Child<ErrorTable>>("error", slot(reply::ERROR), false)?
            .visit_field::<u64>("handle", slot(reply::HANDLE), false)?
            .visit_field::<bool>("held", slot(reply::HELD), false)?
            .visit_field::<u64>("removed", slot(reply::REMOVED), false)?
            .visit_field::<bool>("truncated", slot(reply::TRUNCATED), false)?
            .visit_field::<bool>("granted", slot(reply::GRANTED), false)?
            .visit_field::<u64>("epoch", slot(reply::EPOCH), false)?
            .visit_field::<u64>("expires_in_nanos", slot(reply::EXPIRES_IN_NANOS), false)?
            .finish();
        Ok(())
    }
}

/// Verifies `table Summary`.
pub struct SummaryTable;
impl Verifiable for SummaryTable {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result {
        use summary as f;
        let mut t = v.visit_table(pos)?;
        for (name, id) in [
            ("chunk_index", f::CHUNK_INDEX),
            ("data_chunks", f::DATA_CHUNKS),
            ("parity_chunks", f::PARITY_CHUNKS),
            ("rotation", f::ROTATION),
            ("checksum_algorithm", f::CHECKSUM_ALGORITHM),
        ] {
            t = t.visit_field::<u8>(name, slot(id), false)?;
        }
        t.visit_field::<Bytes>("version_id", slot(f::VERSION_ID), false)?
            .visit_field::<u64>("mod_time_unix_nanos", slot(f::MOD_TIME_UNIX_NANOS), false)?
            .visit_field::<u32>("meta_generation", slot(f::META_GENERATION), false)?
            .visit_field::<u64>("size_bytes", slot(f::SIZE_BYTES), false)?
            .visit_field::<Str>("etag", slot(f::ETAG), false)?
            .visit_field::<bool>("tombstone", slot(f::TOMBSTONE), false)?
            .finish();
        Ok(())
    }
}

/// Verifies `table Entry`.
pub struct EntryTable;
impl Verifiable for EntryTable {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result {
        v.visit_table(pos)?
            .visit_field::<u8>("kind", slot(entry::KIND), false)?
            .visit_field::<Str>("name", slot(entry::NAME), false)?
            .visit_field::<Child<SummaryTable>>("summary", slot(entry::SUMMARY), false)?
            .finish();
        Ok(())
    }
}

/// Verifies `table List`.
pub struct ListTable;
impl Verifiable for ListTable {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result {
        v.visit_table(pos)?
            .visit_field::<Children<&'static str>>("names", slot(list::NAMES), false)?
            .visit_field::<Children<PartTable>>("parts", slot(list::PARTS), false)?
            .visit_field::<Children<EntryTable>>("entries", slot(list::ENTRIES), false)?
            .finish();
        Ok(())
    }
}

/// Runs the verifier of root table `T` over `buf` under `options`.
pub fn verify<T: Verifiable>(buf: &[u8], options: &flatbuffers::VerifierOptions) -> Result {
    let mut verifier = Verifier::new(options, buf);
    <ForwardsUOffset<T>>::run_verifier(&mut verifier, 0)
}
