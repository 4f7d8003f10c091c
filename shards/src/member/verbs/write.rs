//! Verbs that write a version on one member: stage its chunk records (begin, append,
//! finish, discard), commit it with `expect_previous`, roll a failed commit back,
//! write a metadata record (roll forward), install rebuilt data (healing), delete a version (its data to the trash),
//! clean up versions a commit replaced, and sweep the trash.
//!
//! Fencing: every verb that changes an object's metadata record names the record it
//! expects to find (`Expect`); a member holding anything else answers
//! `MemberError::Stale` and changes nothing. So a verb that arrives late (after a newer
//! writer, or after a roll back) cannot overwrite what a later request wrote.
//!
//! Lease fencing: the verbs that replace or remove an object's record or its data
//! folders (`commit`, `roll_back`, `write_meta`, `install_data`, `delete_version`,
//! `retire_versions`, `remove_stale_versions`) also carry the `Fence` of the key's lock
//! the caller holds (its lease's epoch and expiry). A member refuses (`Stale`) a verb
//! whose lease has expired or whose epoch is older than one it has accepted for that
//! object, so a holder whose lease was taken away can never overwrite what the next
//! holder wrote (`member/local/fence.rs` has the member's side and its bounds).
//!
//! Arguments name buckets, keys, version ids, staging ids and uploads — never paths or
//! files; a staged file is an opaque handle of the member (`WriteVerbs::Staged`).

use std::future::Future;
use std::rc::Rc;

use shoal_io::AlignedBuf;

use crate::member::MemberResult;

/// The metadata record a fenced verb expects a member to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// No record.
    Absent,
    /// A record whose bytes have this fingerprint (`fingerprint`).
    Record([u8; 16]),
    /// Whatever is there: for a member whose record the caller could not read (it
    /// acts under the key's lock and waits for the answer, so nothing arrives late).
    Any,
}

impl Expect {
    /// What a member must hold to match a read of its record (`None`: it had none).
    pub fn of(raw: Option<&[u8]>) -> Self {
        raw.map_or(Expect::Absent, |bytes| Expect::Record(fingerprint(bytes)))
    }

    /// Whether the record a member holds (`None`: none) is the one expected.
    pub fn matches(self, held: Option<&[u8]>) -> bool {
        match (self, held) {
            (Expect::Any, _) | (Expect::Absent, None) => true,
            (Expect::Record(print), Some(bytes)) => print == fingerprint(bytes),
            _ => false,
        }
    }
}

/// The fingerprint of a metadata record's bytes: what a fenced verb sends instead of
/// the record itself. SHA-256 (cut to 128 bits), not a CRC: a record ends with its own
/// CRC-64, and the CRC of any such record is the same constant (the CRC's residue).
pub fn fingerprint(bytes: &[u8]) -> [u8; 16] {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(bytes);
    let mut print = [0u8; 16];
    print.copy_from_slice(&digest[..16]);
    print
}

/// The lease of the key's lock a fenced verb is sent under (`set/shard_lock.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fence {
    /// The lease's epoch: strictly increasing per lock owner, across restarts.
    pub epoch: u64,
    /// When the lease ends, in this node's monotonic nanoseconds (a peer member will
    /// get the time left instead, as clocks of nodes differ).
    pub expires_at_nanos: u64,
}

/// Where a committed version's data folder comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataSource {
    /// A folder staged with `stage_begin` under this staging id.
    Staging(Rc<str>),
    /// A multipart upload's folder (CompleteMultipartUpload); on roll back it is given
    /// back, so the client may retry or abort.
    Upload { bucket: Rc<str>, upload_id: Rc<str> },
}

/// Make a version visible on one member.
#[derive(Debug, Clone)]
pub struct Commit {
    pub bucket: Rc<str>,
    pub key: Rc<str>,
    pub version_id: [u8; 16],
    /// The version's data folder; `None` for a version whose chunks are inline.
    pub data: Option<DataSource>,
    /// The member's metadata record of the version (encoded).
    pub meta: Vec<u8>,
    pub expect_previous: Expect,
    /// The key's lease this commit is made under.
    pub fence: Fence,
}

/// Take a commit back on one member.
#[derive(Debug, Clone)]
pub struct RollBack {
    pub bucket: Rc<str>,
    pub key: Rc<str>,
    pub version_id: [u8; 16],
    /// The record the commit wrote; anything else there is left alone.
    pub committed: Expect,
    /// The record to put back (`None`: remove the committed one).
    pub restore: Option<Rc<[u8]>>,
    /// Where the version's data folder goes back to (an upload's folder); `None`:
    /// it is removed.
    pub give_back: Option<DataSource>,
    /// The key's lease the roll back is made under.
    pub fence: Fence,
}

/// Put rebuilt chunk data into an existing version's folder on one member (healing):
/// staged part files (`stage_begin` … `stage_finish` under `staging`) are renamed into
/// the version's folder, each replacing the file of its name if there is one.
#[derive(Debug, Clone)]
pub struct InstallData {
    pub bucket: Rc<str>,
    pub key: Rc<str>,
    pub version_id: [u8; 16],
    /// The staging whose part files are installed (removed afterwards).
    pub staging: Rc<str>,
    /// The version's part files installed (`part.1`, or a multipart part's
    /// `PartInfo::file_name`): the i-th is the staged file of part number i + 1.
    pub files: Vec<String>,
    /// The metadata record the member must hold (what the healer read), else `Stale`.
    pub expect: Expect,
    /// The key's lease the data is installed under.
    pub fence: Fence,
}

/// Writing versions on one member.
pub trait WriteVerbs {
    /// A staged part file being written (a file of a local drive, later a stream to a
    /// peer). Dropping it abandons the file.
    type Staged: 'static;

    /// Starts staged part file `part_number` of staging `staging`, preallocating about
    /// `size_hint_bytes`.
    fn stage_begin(
        &self,
        staging: &str,
        part_number: u32,
        size_hint_bytes: u64,
    ) -> impl Future<Output = MemberResult<Self::Staged>>;

    /// Writes `buf` (whole blocks of records) at `offset_bytes`; the buffer comes back
    /// whatever happens.
    fn stage_append(
        &self,
        staged: &Self::Staged,
        buf: AlignedBuf,
        offset_bytes: u64,
    ) -> impl Future<Output = (MemberResult<()>, AlignedBuf)>;

    /// Trims the file to `len_bytes`, makes it durable and closes it.
    fn stage_finish(
        &self,
        staged: Self::Staged,
        len_bytes: u64,
    ) -> impl Future<Output = MemberResult<()>>;

    /// Removes staging `staging` and everything in it; gone already is fine.
    fn stage_discard(&self, staging: &str) -> impl Future<Output = MemberResult<()>>;

    /// Moves the version's data into place and replaces the metadata record, if the
    /// record held is `expect_previous` and the lease `fence` is current (else
    /// `Stale`, nothing changed).
    fn commit(&self, commit: Commit) -> impl Future<Output = MemberResult<()>>;

    /// Puts back what a commit replaced (see `RollBack`).
    fn roll_back(&self, roll_back: RollBack) -> impl Future<Output = MemberResult<()>>;

    /// Replaces the object's metadata record with `meta` if the record held is
    /// `expect_previous` (roll forward, metadata-only changes), under lease `fence`.
    fn write_meta(
        &self,
        bucket: &str,
        key: &str,
        meta: &[u8],
        expect_previous: Expect,
        fence: Fence,
    ) -> impl Future<Output = MemberResult<()>>;

    /// Removes the object's metadata record if it is `expect_previous` (the commit point
    /// of a delete; its data stays until `retire_versions`, so a delete that fails
    /// quorum can put the record back). Absent already is fine. Under lease `fence`.
    fn delete_version(
        &self,
        bucket: &str,
        key: &str,
        expect_previous: Expect,
        fence: Fence,
    ) -> impl Future<Output = MemberResult<()>>;

    /// After a delete committed: moves the key's data folders to the trash (stamped
    /// `now_unix_nanos`) and removes its folders left empty.
    fn retire_versions(
        &self,
        bucket: &str,
        key: &str,
        now_unix_nanos: u64,
        fence: Fence,
    ) -> impl Future<Output = MemberResult<()>>;

    /// Moves every data folder of the object but version `keep`'s to the trash.
    fn remove_stale_versions(
        &self,
        bucket: &str,
        key: &str,
        keep: [u8; 16],
        now_unix_nanos: u64,
        fence: Fence,
    ) -> impl Future<Output = MemberResult<()>>;

    /// Whether version `version_id`'s data folder holds every file of `part_files`.
    fn holds_version_data(
        &self,
        bucket: &str,
        key: &str,
        version_id: [u8; 16],
        part_files: Rc<[String]>,
    ) -> impl Future<Output = MemberResult<bool>>;

    /// Installs staged part files into a version's folder (see `InstallData`), if the
    /// record held is `install.expect` and the lease current (else `Stale`, nothing
    /// changed). Each file arrives by one rename: a crash leaves the old file or the
    /// new one, never a mix.
    fn install_data(&self, install: InstallData) -> impl Future<Output = MemberResult<()>>;

    /// Removes trash older than `grace_nanos` at `now_unix_nanos`; returns how many
    /// version folders went.
    fn sweep_trash(
        &self,
        now_unix_nanos: u64,
        grace_nanos: u64,
    ) -> impl Future<Output = MemberResult<usize>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fence matches exactly the record it was made from, or absence, or anything.
    #[test]
    fn expect_matches_only_its_record() {
        let (old, new) = (b"old record".as_slice(), b"new record".as_slice());
        assert!(Expect::of(Some(old)).matches(Some(old)));
        assert!(!Expect::of(Some(old)).matches(Some(new)));
        assert!(!Expect::of(Some(old)).matches(None));
        assert!(Expect::of(None).matches(None));
        assert!(!Expect::of(None).matches(Some(old)));
        assert!(Expect::Any.matches(None) && Expect::Any.matches(Some(new)));
        // Records that end with their own CRC-64 all share one CRC: not one fingerprint.
        let sealed = |body: &[u8]| {
            let crc = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, body);
            [body, &crc.to_le_bytes()].concat()
        };
        let (a, b) = (sealed(b"record a"), sealed(b"record b"));
        assert!(!Expect::of(Some(&a)).matches(Some(&b)));
    }
}
