//! The one rule behind `/minio/health/cluster` and `/cluster/read`: every erasure set
//! must have at least its quorum (write, or read) of members that answer now. The
//! maintenance question (`?maintenance=true`) asks the same with this node's members
//! taken away: would every set keep its quorum if this node went down?
//!
//! The rule sees only counts per set ([`SetAnswers`]), never where they came from.
//! This node's drives are counted from the drive probes' published reports
//! (`metrics/node.rs`: online, not hung, not held offline by the store); in a cluster,
//! peers' drives that answered the peer watch within 3 s (`cluster/peer_watch.rs`) add
//! to `answering` only. On a single node `answering_here == answering`, so the
//! maintenance answer is always "no".
//!
//! Invariants: no I/O and no clock here (the caller reads the reports at one instant);
//! a pool with no set is never healthy.

/// One erasure set as health sees it now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetAnswers {
    /// Members of the set (local drives, later peers' drives) that answer now.
    pub answering: usize,
    /// Of those, the members on this node: the ones a maintenance stop takes away.
    pub answering_here: usize,
}

impl SetAnswers {
    /// The members that count: all that answer, or only other nodes' ones when this
    /// node is to go down.
    fn counted(self, without_this_node: bool) -> usize {
        if without_this_node {
            self.answering.saturating_sub(self.answering_here)
        } else {
            self.answering
        }
    }
}

/// Which quorum a health path asks about, and how many members it takes per set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quorum {
    /// `/minio/health/cluster`: a write needs this many members per set.
    Write(usize),
    /// `/minio/health/cluster/read`: a read needs this many members per set.
    Read(usize),
}

impl Quorum {
    pub fn members(self) -> usize {
        match self {
            Quorum::Write(members) | Quorum::Read(members) => members,
        }
    }

    /// MinIO's response header that states the quorum.
    pub fn header_name(self) -> &'static str {
        match self {
            Quorum::Write(_) => "X-Minio-Write-Quorum",
            Quorum::Read(_) => "X-Minio-Read-Quorum",
        }
    }
}

/// Whether every set keeps `quorum` members that answer; with `without_this_node`,
/// counting only the members on other nodes.
pub fn every_set_has(sets: &[SetAnswers], quorum: Quorum, without_this_node: bool) -> bool {
    !sets.is_empty()
        && sets
            .iter()
            .all(|set| set.counted(without_this_node) >= quorum.members())
}

/// The status MinIO answers: 200 healthy; else 412 Precondition Failed to a maintenance
/// question (taking this node down would cost quorum), 503 to the plain one.
pub fn status(healthy: bool, maintenance: bool) -> u16 {
    match (healthy, maintenance) {
        (true, _) => 200,
        (false, true) => 412,
        (false, false) => 503,
    }
}

/// The sets of a node whose members are all its own drives, from the number of drives
/// answering in each set (pool order).
pub fn local_sets(answering_per_set: &[usize]) -> Vec<SetAnswers> {
    (answering_per_set.iter())
        .map(|&answering| SetAnswers {
            answering,
            answering_here: answering,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(answering: usize, answering_here: usize) -> SetAnswers {
        SetAnswers {
            answering,
            answering_here,
        }
    }

    /// Every set must hold the quorum: one set short makes the whole pool unhealthy,
    /// and read quorum survives where write quorum does not.
    #[test]
    fn every_set_must_hold_its_quorum() {
        let (write, read) = (Quorum::Write(3), Quorum::Read(2));
        let healthy = [set(4, 4), set(3, 3)];
        assert!(every_set_has(&healthy, write, false));
        let one_short = [set(4, 4), set(2, 2)];
        assert!(!every_set_has(&one_short, write, false));
        assert!(every_set_has(&one_short, read, false));
        let beyond_read = [set(1, 1), set(4, 4)];
        assert!(!every_set_has(&beyond_read, read, false));
        assert!(!every_set_has(&[], read, false), "no set: nothing to serve");
    }

    /// The maintenance question drops this node's members: a node holding every member
    /// can never go down, while one holding fewer than parity can.
    #[test]
    fn maintenance_counts_only_other_nodes() {
        let write = Quorum::Write(9);
        assert!(!every_set_has(&local_sets(&[16, 16]), write, true));
        // 16 drives over 4 nodes, 4 here: 12 left ≥ 9.
        assert!(every_set_has(&[set(16, 4)], write, true));
        // One peer drive already gone: 11 left, still ≥ 9; three gone: 9 ≥ 9.
        assert!(every_set_has(&[set(13, 4)], write, true));
        assert!(!every_set_has(&[set(12, 4)], write, true));
        assert!(every_set_has(&[set(12, 4)], write, false));
    }

    /// The statuses and headers are MinIO's.
    #[test]
    fn statuses_and_headers_are_minios() {
        assert_eq!(status(true, false), 200);
        assert_eq!(status(true, true), 200);
        assert_eq!(status(false, false), 503);
        assert_eq!(status(false, true), 412);
        assert_eq!(Quorum::Write(3).header_name(), "X-Minio-Write-Quorum");
        assert_eq!(Quorum::Read(2).header_name(), "X-Minio-Read-Quorum");
    }
}
