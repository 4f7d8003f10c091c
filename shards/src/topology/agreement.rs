//! How the nodes of a pool agree on one deployment id, decided from what the pool's
//! drives answer (each node reads its own drives' format records and asks its peers'
//! with the `read_identity` verb; wired once peers exist). Pure: the answers are passed
//! in, so the rule is tested without a network (`record/format.rs` describes the whole
//! start-up protocol).
//!
//! The rule:
//! - drives that carry two deployment ids: refuse (drives from two deployments mixed);
//! - one id among the answers: use it (formatting this node's blank drives with it);
//! - no formatted drive, every drive answered blank: node 0 (first in endpoint order)
//!   creates the id; every other node waits for node 0's records;
//! - no formatted drive, some drive did not answer: wait. A new id is made only when
//!   the whole pool is seen blank, so a node that lost its drives, or started while
//!   formatted peers are unreachable, never makes a second id for one pool.
//!
//! Answers given as `Formatted` must already fit the drive list (`check_drive_list`):
//! a record made for another list is refused before it gets here.

use crate::topology::placement::DeploymentId;

/// What one drive of the pool said about its format record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriveAnswer {
    Formatted(DeploymentId),
    /// No format record and no data.
    Blank,
    /// Unreachable, timed out, or unreadable for now.
    NoAnswer,
}

/// What this node does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Agreement {
    /// The deployment this pool belongs to.
    Use(DeploymentId),
    /// Make a new deployment id and format (node 0 of a blank pool only).
    Create,
    /// Ask again later; the reason is logged while waiting.
    Wait(String),
    /// Do not start: the reason names the conflict.
    Refuse(String),
}

/// The decision for node `this_node` given every drive's answer, as
/// `(node index, answer)` in pool order.
pub fn agree(this_node: usize, answers: &[(usize, DriveAnswer)]) -> Agreement {
    let mut ids: Vec<(DeploymentId, usize)> = Vec::new();
    for (node, answer) in answers {
        if let DriveAnswer::Formatted(id) = answer
            && !ids.iter().any(|(known, _)| known == id)
        {
            ids.push((*id, *node));
        }
    }
    match ids.as_slice() {
        [(id, _)] => return Agreement::Use(*id),
        [(a, node_a), (b, node_b), ..] => {
            return Agreement::Refuse(format!(
                "the pool's drives belong to different deployments: {} on node {} and {} \
                 on node {}; drives from different deployments cannot be mixed",
                short(a),
                node_a + 1,
                short(b),
                node_b + 1
            ));
        }
        [] => {}
    }
    let silent = answers
        .iter()
        .filter(|(_, a)| *a == DriveAnswer::NoAnswer)
        .count();
    if silent > 0 {
        Agreement::Wait(format!(
            "{silent} of the pool's {} drives did not answer and none is formatted: a new \
             deployment is made only when every drive answers blank",
            answers.len()
        ))
    } else if this_node == 0 {
        Agreement::Create
    } else {
        Agreement::Wait("the pool is blank: waiting for node 1 to format it".to_owned())
    }
}

fn short(id: &DeploymentId) -> String {
    hex::encode(&id[..4])
}

#[cfg(test)]
mod tests {
    use super::*;
    use DriveAnswer::{Blank, Formatted, NoAnswer};

    /// Answers of a 4-node pool with one drive per node.
    fn pool(answers: [DriveAnswer; 4]) -> Vec<(usize, DriveAnswer)> {
        answers.into_iter().enumerate().collect()
    }

    /// A blank pool: node 0 creates the id, every other node waits for it.
    #[test]
    fn blank_pool_is_created_by_node_0_only() {
        let blank = pool([Blank; 4]);
        assert_eq!(agree(0, &blank), Agreement::Create);
        for node in 1..4 {
            assert!(matches!(agree(node, &blank), Agreement::Wait(_)), "{node}");
        }
    }

    /// Once any drive is formatted, every node uses its id, node 0 included, even with
    /// drives blank or silent (a replaced node, or peers still starting).
    #[test]
    fn a_formatted_drive_decides() {
        let answers = pool([Blank, NoAnswer, Formatted([7; 16]), Blank]);
        for node in 0..4 {
            assert_eq!(agree(node, &answers), Agreement::Use([7; 16]));
        }
    }

    /// Node 0 never makes a new id while a drive is silent: it might be formatted.
    #[test]
    fn silence_waits() {
        let answers = pool([Blank, Blank, NoAnswer, Blank]);
        let Agreement::Wait(why) = agree(0, &answers) else {
            panic!("node 0 created an id with a drive silent");
        };
        assert!(
            why.starts_with("1 of the pool's 4 drives did not answer"),
            "{why}"
        );
    }

    /// Two deployment ids in one pool are refused, naming both.
    #[test]
    fn two_ids_are_refused() {
        let answers = pool([
            Formatted([1; 16]),
            Formatted([1; 16]),
            Formatted([2; 16]),
            Blank,
        ]);
        assert_eq!(
            agree(1, &answers),
            Agreement::Refuse(
                "the pool's drives belong to different deployments: 01010101 on node 1 and \
                 02020202 on node 3; drives from different deployments cannot be mixed"
                    .to_owned()
            )
        );
    }
}
