//! One operation's outcome ([`Done`]) and how it becomes a [`Record`]: the times of
//! the operation against the run's epoch, bytes counted only when it succeeded.

use std::time::Instant;

use crate::client::s3::Outcome;
use crate::load::shared::Shared;
use crate::report::record::{OpKind, Record, since_ns};

/// What one operation did, before it becomes a record.
pub(crate) struct Done {
    pub kind: OpKind,
    pub result: Result<Outcome, String>,
    pub bytes: u64,
    pub objects: u32,
}

/// The record of an operation that ran from `start` to now.
pub(crate) fn finish(shared: &Shared, worker: usize, start: Instant, done: Done) -> Record {
    let end = Instant::now();
    let epoch = shared.epoch;
    let (first_byte, error, bytes, objects) = match done.result {
        Ok(outcome) => (outcome.first_byte.min(end), None, done.bytes, done.objects),
        Err(error) => (end, Some(error.into_boxed_str()), 0, 0),
    };
    Record {
        kind: done.kind,
        worker: worker as u32,
        start_ns: since_ns(epoch, start),
        first_byte_ns: since_ns(epoch, first_byte.max(start)),
        end_ns: since_ns(epoch, end),
        bytes,
        objects,
        error,
    }
}

/// An error unless `outcome` carried exactly `expected` body bytes; `what` names the
/// request in the error (called only then: nothing is formatted on success).
pub(crate) fn expect_bytes(
    what: impl FnOnce() -> String,
    result: Result<Outcome, String>,
    expected: u64,
) -> Result<Outcome, String> {
    result.and_then(|outcome| {
        if outcome.body_bytes == expected {
            Ok(outcome)
        } else {
            Err(format!(
                "{}: {} bytes, expected {expected}",
                what(),
                outcome.body_bytes
            ))
        }
    })
}
