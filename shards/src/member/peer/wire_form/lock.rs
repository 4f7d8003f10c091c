//! The lock verbs between their shards form (`LockAsk`, `LockAnswer`) and the wire's:
//! durations as nanoseconds (saturating: a lease never wraps), a refusal as the
//! wire's typed `Refused` error, busy and lost as a reply without a grant.

use std::time::Duration;

use shoal_wire::verb::{self as wire, ErrorKind, VerbError, VerbKind, VerbReply, VerbRequest};

use crate::member::peer::message::{LockAnswer, LockAsk, LockTarget, PeerReply, PeerRequest};

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Whether `kind` is a lock verb.
pub(super) fn is_lock(kind: VerbKind) -> bool {
    matches!(
        kind,
        VerbKind::LockAcquire | VerbKind::LockRefresh | VerbKind::LockRelease
    )
}

/// A lock verb as the wire's (`None`: not a lock verb).
pub(super) fn request_to_wire(request: PeerRequest) -> Option<VerbRequest> {
    Some(match request {
        PeerRequest::LockAcquire(ask) => VerbRequest::LockAcquire(wire::LockAsk {
            id: ask.id,
            target: match ask.target {
                LockTarget::Bucket(bucket) => wire::LockTarget::Bucket(bucket),
                LockTarget::Object { bucket, key } => wire::LockTarget::Object { bucket, key },
                LockTarget::Upload(id) => wire::LockTarget::Upload(id),
            },
            exclusive: ask.exclusive,
            lease_nanos: nanos(ask.lease),
            wait_nanos: nanos(ask.wait),
            seen_epoch: ask.seen_epoch,
        }),
        PeerRequest::LockRefresh {
            id,
            lease,
            fence_epoch,
        } => VerbRequest::LockRefresh {
            id,
            lease_nanos: nanos(lease),
            fence_epoch,
        },
        PeerRequest::LockRelease { id } => VerbRequest::LockRelease { id },
        _ => return None,
    })
}

/// The wire's lock verb as the shards side's (`None`: not a lock verb).
pub(super) fn request_from_wire(request: VerbRequest) -> Option<PeerRequest> {
    Some(match request {
        VerbRequest::LockAcquire(ask) => PeerRequest::LockAcquire(LockAsk {
            id: ask.id,
            target: match ask.target {
                wire::LockTarget::Bucket(bucket) => LockTarget::Bucket(bucket),
                wire::LockTarget::Object { bucket, key } => LockTarget::Object { bucket, key },
                wire::LockTarget::Upload(id) => LockTarget::Upload(id),
            },
            exclusive: ask.exclusive,
            lease: Duration::from_nanos(ask.lease_nanos),
            wait: Duration::from_nanos(ask.wait_nanos),
            seen_epoch: ask.seen_epoch,
        }),
        VerbRequest::LockRefresh {
            id,
            lease_nanos,
            fence_epoch,
        } => PeerRequest::LockRefresh {
            id,
            lease: Duration::from_nanos(lease_nanos),
            fence_epoch,
        },
        VerbRequest::LockRelease { id } => PeerRequest::LockRelease { id },
        _ => return None,
    })
}

/// A lock verb's answer as the wire's (`None`: this shape does not answer `verb`).
pub(super) fn reply_to_wire(verb: VerbKind, reply: &PeerReply) -> Option<VerbReply> {
    let grant = |answer: &LockAnswer| match *answer {
        LockAnswer::Granted { epoch, left_nanos } => Some(wire::LockGrant {
            epoch,
            expires_in_nanos: left_nanos,
        }),
        LockAnswer::Busy | LockAnswer::Lost => None,
    };
    Some(match (verb, reply) {
        (_, PeerReply::LockRefused(why)) => VerbReply::Error(VerbError {
            kind: ErrorKind::Refused,
            message: why.clone(),
        }),
        (VerbKind::LockAcquire, PeerReply::Lock(answer)) => VerbReply::LockAcquire {
            grant: grant(answer),
        },
        (VerbKind::LockRefresh, PeerReply::Lock(answer)) => VerbReply::LockRefresh {
            grant: grant(answer),
        },
        (VerbKind::LockRelease, PeerReply::Done) => VerbReply::LockRelease,
        _ => return None,
    })
}

/// The wire's answer to a lock verb as the shards side's (`None`: not one).
pub(super) fn reply_from_wire(reply: &VerbReply) -> Option<PeerReply> {
    let answer = |grant: &Option<wire::LockGrant>, none: LockAnswer| match grant {
        Some(grant) => LockAnswer::Granted {
            epoch: grant.epoch,
            left_nanos: grant.expires_in_nanos,
        },
        None => none,
    };
    Some(match reply {
        VerbReply::LockAcquire { grant } => PeerReply::Lock(answer(grant, LockAnswer::Busy)),
        VerbReply::LockRefresh { grant } => PeerReply::Lock(answer(grant, LockAnswer::Lost)),
        VerbReply::LockRelease => PeerReply::Done,
        _ => return None,
    })
}
