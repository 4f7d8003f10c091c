//! The one place where store errors become S3 errors (code + status + message).

use shoal_http::{S3Error, S3ErrorCode as Code};

use crate::error::Error;

/// How recent a lack of file descriptors explains a quorum failure.
const DESCRIPTOR_EXHAUSTION_WINDOW: std::time::Duration = std::time::Duration::from_secs(1);
/// How recent a drive's "no space left" explains a write quorum failure.
const NO_SPACE_WINDOW: std::time::Duration = std::time::Duration::from_secs(1);

/// The message of a 503 SlowDown for a full memory budget (the metrics count these).
pub const MEMORY_SLOWDOWN: &str =
    "The server holds too many object transfers in flight; retry later.";

/// The S3 error a client sees for a store error.
pub fn to_s3(error: &Error) -> S3Error {
    let (code, message) = match error {
        Error::InvalidBucketName(why) => (Code::InvalidBucketName, Some(why.clone())),
        Error::NoSuchBucket => (Code::NoSuchBucket, None),
        Error::BucketAlreadyOwnedByYou => (Code::BucketAlreadyOwnedByYou, None),
        Error::BucketNotEmpty => (Code::BucketNotEmpty, None),
        Error::NoSuchKey => (Code::NoSuchKey, None),
        Error::KeyTooLong => (Code::KeyTooLongError, None),
        Error::InvalidKey(why) => (
            Code::InvalidArgument,
            Some(format!("Invalid object key: {why}")),
        ),
        Error::InvalidRange => (Code::InvalidRange, None),
        Error::EntityTooLarge => (Code::EntityTooLarge, None),
        Error::MetadataTooLarge => (Code::MetadataTooLarge, None),
        Error::BadDigest => (Code::BadDigest, None),
        Error::IncompleteBody => (Code::IncompleteBody, None),
        Error::PreconditionFailed => (Code::PreconditionFailed, None),
        Error::InvalidCopy(why) => (Code::InvalidRequest, Some((*why).to_owned())),
        Error::InvalidCondition(why) => (Code::InvalidArgument, Some((*why).to_owned())),
        Error::NoSuchUpload => (Code::NoSuchUpload, None),
        Error::InvalidPart(why) => (Code::InvalidPart, Some(why.clone())),
        Error::EntityTooSmall => (Code::EntityTooSmall, None),
        Error::InvalidPartOrder => (Code::InvalidPartOrder, None),
        Error::InvalidPartNumber => (Code::InvalidPartNumber, None),
        Error::InvalidArgument(why) => (Code::InvalidArgument, Some(why.clone())),
        Error::InvalidRequest(why) => (Code::InvalidRequest, Some(why.clone())),
        Error::Source(e) => return source_error(e),
        // Drives that failed for lack of descriptors are fine: the server is overloaded.
        Error::InsufficientWriteQuorum { .. }
        | Error::InsufficientReadQuorum { .. }
        | Error::VersionUndecided { .. }
            if shoal_io::descriptors_exhausted_within(DESCRIPTOR_EXHAUSTION_WINDOW) =>
        {
            (
                Code::SlowDown,
                Some("The server is out of file descriptors; retry later.".to_owned()),
            )
        }
        Error::SlowDown => (Code::SlowDown, Some(MEMORY_SLOWDOWN.to_owned())),
        // Full drives: a retry cannot succeed until space is freed, so not 503 (which
        // SDKs retry for minutes) nor a bare 500, but 507 with the reason.
        Error::InsufficientWriteQuorum { .. } if shoal_io::no_space_within(NO_SPACE_WINDOW) => (
            Code::XMinioStorageFull,
            Some(format!(
                "{error}: the drives have no space left; free space or add drives, then retry"
            )),
        ),
        Error::Drive(shoal_io::DriveError::NoSpace) => (Code::XMinioStorageFull, None),
        // A lost lease: the write was too slow for it (a hung drive); a retry is safe.
        Error::InsufficientWriteQuorum { .. }
        | Error::InsufficientReadQuorum { .. }
        | Error::VersionUndecided { .. }
        | Error::LeaseLost => (
            Code::ServiceUnavailable,
            Some(format!("{error}; try again later")),
        ),
        // Chunks beyond parity unreadable: like a quorum shortfall, the data may come
        // back with its drives, so the client is told to retry (DESIGN.md §4).
        Error::DataUnavailable(why) => (
            Code::ServiceUnavailable,
            Some(format!("object data unavailable ({why}); try again later")),
        ),
        Error::Format(_) | Error::Drive(_) | Error::Erasure(_) => (Code::InternalError, None),
    };
    match message {
        Some(m) => S3Error::with_message(code, m),
        None => S3Error::new(code),
    }
}

/// A body error carries the decoder's S3 error when there is one (bad chunk signature,
/// SHA-256 mismatch, ...); otherwise the client stopped sending.
fn source_error(e: &std::io::Error) -> S3Error {
    if let Some(s3) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<S3Error>())
    {
        return s3.clone();
    }
    if e.kind() == std::io::ErrorKind::TimedOut {
        return S3Error::new(Code::RequestTimeout);
    }
    S3Error::new(Code::IncompleteBody)
}

#[cfg(test)]
mod tests {
    use shoal_io::DriveError;

    use super::*;

    /// A quorum failure right after a drive operation ran out of file descriptors is
    /// answered 503 SlowDown (overload), not blamed on drives; without one it stays
    /// ServiceUnavailable "read quorum not reached".
    #[test]
    fn quorum_failure_for_lack_of_descriptors_is_slow_down() {
        let failure = Error::InsufficientReadQuorum { ok: 0, needed: 2 };
        let unexplained = std::thread::spawn(move || to_s3(&failure).code())
            .join()
            .expect("thread");
        assert_eq!(unexplained, Code::ServiceUnavailable);
        let emfile = std::io::Error::from_raw_os_error(24); // EMFILE on Linux
        let _ = DriveError::from(emfile);
        let failure = Error::InsufficientReadQuorum { ok: 0, needed: 2 };
        assert_eq!(to_s3(&failure).code(), Code::SlowDown);
    }

    /// A write quorum failure right after a drive refused a write for lack of space is
    /// 507 XMinioStorageFull (a retry cannot help); without one, or for a read, it stays
    /// 503 ServiceUnavailable.
    #[test]
    fn write_quorum_failure_on_full_drives_is_storage_full() {
        let unexplained = std::thread::spawn(|| {
            to_s3(&Error::InsufficientWriteQuorum { ok: 0, needed: 4 }).code()
        })
        .join()
        .expect("thread");
        assert_eq!(unexplained, Code::ServiceUnavailable);
        let enospc = std::io::Error::from_raw_os_error(28); // ENOSPC on Linux
        assert!(matches!(DriveError::from(enospc), DriveError::NoSpace));
        let full = to_s3(&Error::InsufficientWriteQuorum { ok: 0, needed: 4 });
        assert_eq!((full.code(), full.status()), (Code::XMinioStorageFull, 507));
        assert!(
            full.message().contains("no space left"),
            "{}",
            full.message()
        );
        let read = to_s3(&Error::InsufficientReadQuorum { ok: 0, needed: 4 });
        assert_eq!(read.code(), Code::ServiceUnavailable);
        let drive = to_s3(&Error::Drive(DriveError::NoSpace));
        assert_eq!(drive.code(), Code::XMinioStorageFull);
    }
}
