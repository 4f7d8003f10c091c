//! The object store's one error type. Operating errors only: client input, drives,
//! quorum. Programmer errors are assertions. The HTTP edge maps each variant to exactly
//! one S3 error code.

use shoal_io::DriveError;

#[derive(Debug)]
pub enum Error {
    /// The bucket name breaks the AWS naming rules.
    InvalidBucketName(String),
    NoSuchBucket,
    /// CreateBucket on a bucket that exists (single-tenant: always "owned by you").
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    NoSuchKey,
    /// Key longer than `KEY_LEN_MAX_BYTES` (1024, S3).
    KeyTooLong,
    /// Key empty or containing NUL (the only UTF-8 keys Shoal refuses; DESIGN.md §5).
    InvalidKey(&'static str),
    /// A byte range that does not overlap the object.
    InvalidRange,
    /// Object larger than a single PUT may be.
    EntityTooLarge,
    /// User metadata over the limit.
    MetadataTooLarge,
    /// The body's MD5 or checksum did not match what the client declared.
    BadDigest,
    /// The body was shorter or longer than declared.
    IncompleteBody,
    /// A conditional write's precondition does not hold (`If-None-Match`, `If-Match`).
    PreconditionFailed,
    /// A copy S3 refuses (onto itself without changes, bad source).
    InvalidCopy(&'static str),
    /// Conditional headers that cannot be combined or evaluated.
    InvalidCondition(&'static str),
    /// No multipart upload with this id for this key (never, aborted, or completed).
    NoSuchUpload,
    /// A part named in CompleteMultipartUpload is missing, below read quorum, or has
    /// another ETag or checksum.
    InvalidPart(String),
    /// A part other than the last is smaller than the minimum part size.
    EntityTooSmall,
    /// Parts of CompleteMultipartUpload not in ascending order.
    InvalidPartOrder,
    /// GET/HEAD `partNumber` beyond the object's parts.
    InvalidPartNumber,
    /// A request argument out of range (part number, checksum type, ...).
    InvalidArgument(String),
    /// A request S3 refuses as a whole (mismatched checksum algorithm, ...).
    InvalidRequest(String),
    /// The body source failed (client went away, bad framing, bad signature); nothing
    /// was committed. The HTTP edge finds its S3 error inside when there is one.
    Source(std::io::Error),
    /// Fewer drives answered than the operation's quorum needs.
    InsufficientWriteQuorum {
        ok: usize,
        needed: usize,
    },
    InsufficientReadQuorum {
        ok: usize,
        needed: usize,
    },
    /// The write's lock lease was taken away (it was stuck past the lease and another
    /// writer got the key): nothing of it was committed.
    LeaseLost,
    /// The shard's memory budget stayed full for the whole wait for a staging buffer:
    /// the server is overloaded, the client should retry later.
    SlowDown,
    /// A newer version than the one read quorum agrees on has `newer_votes` copies, and
    /// `unanswered` drives did not answer: together they could be write quorum, so the
    /// newer one may have been acknowledged and the older one must not be answered.
    VersionUndecided {
        newer_votes: usize,
        unanswered: usize,
        write_quorum: usize,
    },
    /// Data could not be read or rebuilt: more chunks lost than parity covers.
    DataUnavailable(String),
    /// Drives refuse to form this deployment (foreign format, wrong layout, ...).
    Format(String),
    /// A drive failed in a way that stops the whole operation.
    Drive(DriveError),
    /// Erasure coding refused the layout (bug or corrupt metadata).
    Erasure(shoal_erasure::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::InvalidBucketName(why) => write!(f, "invalid bucket name: {why}"),
            Error::NoSuchBucket => write!(f, "the specified bucket does not exist"),
            Error::BucketAlreadyOwnedByYou => write!(f, "the bucket already exists"),
            Error::BucketNotEmpty => write!(f, "the bucket is not empty"),
            Error::NoSuchKey => write!(f, "the specified key does not exist"),
            Error::KeyTooLong => write!(f, "the key is longer than 1024 bytes"),
            Error::InvalidKey(why) => write!(f, "invalid object key: {why}"),
            Error::InvalidRange => write!(f, "the requested range is not satisfiable"),
            Error::EntityTooLarge => write!(f, "the object is larger than the maximum allowed"),
            Error::MetadataTooLarge => write!(f, "user metadata is larger than 2 KiB"),
            Error::BadDigest => write!(f, "the body does not match its declared digest"),
            Error::IncompleteBody => write!(f, "the body length does not match what was declared"),
            Error::PreconditionFailed => write!(f, "the precondition does not hold"),
            Error::InvalidCopy(why) => write!(f, "{why}"),
            Error::InvalidCondition(why) => write!(f, "invalid conditional request: {why}"),
            Error::NoSuchUpload => write!(f, "the specified multipart upload does not exist"),
            Error::InvalidPart(why) => write!(f, "invalid part: {why}"),
            Error::EntityTooSmall => write!(f, "a part other than the last is too small"),
            Error::InvalidPartOrder => write!(f, "the parts are not in ascending order"),
            Error::InvalidPartNumber => write!(f, "the object has no such part"),
            Error::Source(why) => write!(f, "reading the request body failed: {why}"),
            Error::InsufficientWriteQuorum { ok, needed } => {
                write!(f, "write quorum not reached: {ok} of {needed} drives")
            }
            Error::InsufficientReadQuorum { ok, needed } => {
                write!(f, "read quorum not reached: {ok} of {needed} drives")
            }
            Error::VersionUndecided {
                newer_votes,
                unanswered,
                write_quorum,
            } => write!(
                f,
                "a newer version is on {newer_votes} drives and {unanswered} did not answer; \
                 it may have been written on {write_quorum} (write quorum), so the older \
                 version is not answered"
            ),
            Error::DataUnavailable(why) => write!(f, "object data unavailable: {why}"),
            Error::LeaseLost => write!(f, "the write's lock lease expired before it committed"),
            Error::SlowDown => write!(
                f,
                "the server holds too many object transfers in flight; retry later"
            ),
            Error::Format(why) | Error::InvalidArgument(why) | Error::InvalidRequest(why) => {
                write!(f, "{why}")
            }
            Error::Drive(e) => write!(f, "drive error: {e}"),
            Error::Erasure(e) => write!(f, "erasure coding: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<DriveError> for Error {
    fn from(e: DriveError) -> Self {
        Error::Drive(e)
    }
}

impl From<shoal_erasure::Error> for Error {
    fn from(e: shoal_erasure::Error) -> Self {
        Error::Erasure(e)
    }
}
