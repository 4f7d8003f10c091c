//! A simulated network of nodes for tests and the seeded simulation: `SimNet` knows
//! every node's local members and which nodes are cut off; a `SimLink` from one node
//! to another delivers each call to the far node's `serve` (its own `ServeConn`, as a
//! connection would) after a seeded latency, in the `Env` of the test (the simulated
//! executor's virtual time, or the real runtime).
//!
//! Fault model (per call, decided when it is made, from the link's seeded RNG):
//! - latency: uniform in `0..=latency_max` each way;
//! - partition of a node (`SimNet::partition`): calls to or from it are refused
//!   (`Unreachable`, after one way's latency) or hang until their deadline (`Timeout`),
//!   per the partition's kind; a partition that begins while a call is in flight cuts
//!   its reply the same way (the far side may have acted);
//! - lost replies (`drop_reply_per_million`): the far side acts, the reply never
//!   comes, the caller sees `Timeout` at its deadline.
//!
//! A node may have a `LockDesk` (`SimNet::set_lock_desk`): a link's connection then
//! opens its lock session on its first lock verb, as a TCP connection's does, and a
//! `SimLink::reconnect` ends it (the far node releases its leases), as a broken
//! connection does.
//!
//! Invariants: the far side runs as its own task, so a caller that gives up (the quorum
//! engine's deadline drops its future) never cancels a verb halfway, as with a real
//! peer; payload bytes are copied each way, as a network does, and the caller's buffer
//! always comes back (`link.rs`).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use shoal_io::{AlignedBuf, Drive, Env};

use crate::member::Member;
use crate::member::peer::link::{CallFuture, CallOutcome, LinkError, PeerCall, PeerLink};
use crate::member::peer::message::{PeerReply, PeerRequest};
use crate::member::peer::serve::{LockDesk, ServeConn};

/// How a partitioned node fails the calls that cross the cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Refused at once (no route, connection refused).
    Refuse,
    /// Never answered: the call waits for its deadline.
    Hang,
}

/// The nodes of a simulated cluster and the state of the network between them.
pub struct SimNet<D: Drive> {
    /// Per node: its local members, in its drive order (what peers may call).
    nodes: RefCell<Vec<Vec<Rc<Member<D>>>>>,
    /// Per node: how calls to or from it fail, while it is cut off.
    cuts: RefCell<Vec<Option<Cut>>>,
    /// Replies lost after the far side acted, per million calls.
    drop_reply_per_million: Cell<u32>,
    latency_max: Cell<Duration>,
    /// Per node: its locks, answering lock verbs.
    desks: RefCell<Vec<Option<Rc<dyn LockDesk>>>>,
}

impl<D: Drive> Default for SimNet<D> {
    fn default() -> Self {
        Self {
            nodes: RefCell::new(Vec::new()),
            desks: RefCell::new(Vec::new()),
            cuts: RefCell::new(Vec::new()),
            drop_reply_per_million: Cell::new(0),
            latency_max: Cell::new(Duration::ZERO),
        }
    }
}

impl<D: Drive> SimNet<D> {
    /// Adds a node with its local members (its drive order); returns its index.
    pub fn add_node(&self, members: Vec<Rc<Member<D>>>) -> usize {
        self.nodes.borrow_mut().push(members);
        self.cuts.borrow_mut().push(None);
        self.desks.borrow_mut().push(None);
        self.nodes.borrow().len() - 1
    }

    /// Node `node`'s locks answer the lock verbs sent to it.
    pub fn set_lock_desk(&self, node: usize, desk: Rc<dyn LockDesk>) {
        self.desks.borrow_mut()[node] = Some(desk);
    }

    fn desk_of(&self, node: usize) -> Option<Rc<dyn LockDesk>> {
        self.desks.borrow()[node].clone()
    }

    /// Cuts node `node` off (`Some`) or heals it (`None`).
    pub fn partition(&self, node: usize, cut: Option<Cut>) {
        self.cuts.borrow_mut()[node] = cut;
    }

    /// Heals every partition.
    pub fn partition_none(&self) {
        self.cuts.borrow_mut().fill(None);
    }

    /// Loses this many replies per million calls (after the far side acted).
    pub fn set_drop_reply_per_million(&self, per_million: u32) {
        self.drop_reply_per_million.set(per_million.min(1_000_000));
    }

    /// Each way of each call takes up to this long.
    pub fn set_latency_max(&self, latency_max: Duration) {
        self.latency_max.set(latency_max);
    }

    /// How a call between `from` and `to` fails now, if it crosses a cut.
    fn cut_between(&self, from: usize, to: usize) -> Option<Cut> {
        let cuts = self.cuts.borrow();
        cuts[from].or(cuts[to])
    }

    fn members_of(&self, node: usize) -> Vec<Rc<Member<D>>> {
        self.nodes.borrow()[node].clone()
    }
}

/// The link from node `from` to node `to` of a `SimNet`: one connection.
pub struct SimLink<D: Drive, E: Env> {
    env: E,
    net: Rc<SimNet<D>>,
    from: usize,
    to: usize,
    conn: RefCell<Rc<ServeConn<D>>>,
    rng: RefCell<SmallRng>,
}

impl<D: Drive, E: Env> SimLink<D, E> {
    /// A connection from node `from` to node `to` of `net`, its faults drawn from
    /// `seed`.
    pub fn new(env: E, net: Rc<SimNet<D>>, (from, to): (usize, usize), seed: u64) -> Self {
        Self {
            env,
            net,
            from,
            to,
            conn: RefCell::new(Rc::new(ServeConn::default())),
            rng: RefCell::new(SmallRng::seed_from_u64(seed)),
        }
    }

    /// Handles the far side holds open for this connection.
    pub fn handles_open(&self) -> usize {
        self.conn.borrow().handles_open()
    }

    /// Ends the connection and opens a new one: the far side drops its session (its
    /// handles and the leases it held), as when a TCP connection breaks.
    pub fn reconnect(&self) {
        let _old = self.conn.replace(Rc::new(ServeConn::default()));
    }

    fn latency(&self) -> Duration {
        let max_nanos = u64::try_from(self.net.latency_max.get().as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(self.rng.borrow_mut().gen_range(0..=max_nanos))
    }

    fn drops_reply(&self) -> bool {
        let per_million = self.net.drop_reply_per_million.get();
        per_million > 0 && self.rng.borrow_mut().gen_range(0..1_000_000) < per_million
    }
}

/// The plan of one call, drawn when it is made.
struct Plan {
    out: Duration,
    back: Duration,
    drop_reply: bool,
}

impl<D: Drive, E: Env> PeerLink for SimLink<D, E> {
    fn call(&self, call: PeerCall, buf: Option<AlignedBuf>) -> CallFuture {
        let plan = Plan {
            out: self.latency(),
            back: self.latency(),
            drop_reply: self.drops_reply(),
        };
        let env = self.env.clone();
        let net = Rc::clone(&self.net);
        let conn = Rc::clone(&self.conn.borrow());
        let (from, to) = (self.from, self.to);
        Box::pin(async move {
            let deadline = call.deadline;
            let started_nanos = env.monotonic_nanos();
            if let Some(cut) = net.cut_between(from, to) {
                return fail(&env, cut, plan.out, deadline, buf).await;
            }
            pause(&env, plan.out).await;
            let is_read = matches!(call.request, PeerRequest::ReadRecords { .. });
            let out = buf.as_ref().filter(|b| !b.is_empty()).map(copy_of);
            let far = deliver(&env, &net, conn, (to, call), out);
            let left = deadline.saturating_sub(elapsed(&env, started_nanos));
            let Some(answer) = shoal_io::timeout(&env, left, far).await else {
                return (Err(LinkError::Timeout), buf);
            };
            pause(&env, plan.back).await;
            let cut = net
                .cut_between(from, to)
                .or(plan.drop_reply.then_some(Cut::Hang));
            if let Some(cut) = cut {
                let left = deadline.saturating_sub(elapsed(&env, started_nanos));
                return fail(&env, cut, Duration::ZERO, left, buf).await;
            }
            receive(answer, is_read, buf)
        })
    }
}

/// Runs the call on the far node as its own task (a caller that gives up does not
/// cancel it); its answer comes back through a channel.
fn deliver<D: Drive, E: Env>(
    env: &E,
    net: &Rc<SimNet<D>>,
    conn: Rc<ServeConn<D>>,
    (to, call): (usize, PeerCall),
    payload: Option<AlignedBuf>,
) -> impl std::future::Future<Output = Result<(PeerReply, Option<AlignedBuf>), LinkError>> + use<D, E>
{
    let (tx, rx) = futures_channel::oneshot::channel();
    let members = net.members_of(to);
    if call.request.is_lock()
        && let Some(desk) = net.desk_of(to)
    {
        conn.open_locks(|| desk.session());
    }
    let far_env = env.clone();
    env.spawn(async move {
        let now_nanos = far_env.monotonic_nanos();
        let answer = conn
            .serve(&members, call.drive_index, call.request, payload, now_nanos)
            .await;
        let _ = tx.send(answer);
    });
    async move {
        rx.await
            .map_err(|_| LinkError::Unreachable("the far side ended".to_owned()))
    }
}

/// A call that crosses a cut: refused after `latency`, or hung until `deadline`.
async fn fail<E: Env>(
    env: &E,
    cut: Cut,
    latency: Duration,
    deadline: Duration,
    buf: Option<AlignedBuf>,
) -> CallOutcome {
    match cut {
        Cut::Refuse => {
            pause(env, latency.min(deadline)).await;
            (Err(LinkError::Unreachable("partitioned".to_owned())), buf)
        }
        Cut::Hang => {
            env.sleep(deadline).await;
            (Err(LinkError::Timeout), buf)
        }
    }
}

/// The far side's answer as the caller receives it: a read's bytes land in the
/// caller's buffer (copied, as from a socket).
fn receive(
    answer: Result<(PeerReply, Option<AlignedBuf>), LinkError>,
    is_read: bool,
    buf: Option<AlignedBuf>,
) -> CallOutcome {
    let (reply, far_buf) = match answer {
        Ok(answer) => answer,
        Err(e) => return (Err(e), buf),
    };
    let (mut buf, far_buf) = match (buf, far_buf) {
        (Some(buf), Some(far_buf)) if is_read => (buf, far_buf),
        (buf, _) => return (Ok(reply), buf),
    };
    if far_buf.len() > buf.capacity() {
        let why = format!(
            "{} bytes for a {} byte buffer",
            far_buf.len(),
            buf.capacity()
        );
        return (Err(LinkError::Protocol(why)), Some(buf));
    }
    buf.set_len(0);
    buf.extend_from_slice(far_buf.as_slice());
    (Ok(reply), Some(buf))
}

/// Sleeps `latency`; no timer at all for none (the real runtime's timers are coarse).
async fn pause<E: Env>(env: &E, latency: Duration) {
    if !latency.is_zero() {
        env.sleep(latency).await;
    }
}

fn copy_of(buf: &AlignedBuf) -> AlignedBuf {
    let mut copy = AlignedBuf::with_capacity(buf.capacity());
    copy.extend_from_slice(buf.as_slice());
    copy
}

fn elapsed<E: Env>(env: &E, started_nanos: u64) -> Duration {
    Duration::from_nanos(env.monotonic_nanos().saturating_sub(started_nanos))
}

#[cfg(test)]
mod tests {
    use shoal_io::{SimDrive, SimEnv, SimExecutor};

    use super::*;
    use crate::member::verbs::bucket::BucketVerbs;
    use crate::member::{LocalMember, MemberError, PeerMember};

    const DEADLINE: Duration = Duration::from_secs(2);

    /// Node 0's peer member of node 1's drive 0, and the network.
    fn two_nodes(env: &SimEnv) -> (PeerMember, Rc<SimNet<SimDrive>>) {
        let net: Rc<SimNet<SimDrive>> = Rc::new(SimNet::default());
        net.add_node(Vec::new());
        let drive = SimDrive::new("far", 1).with_env(env.clone());
        net.add_node(vec![Rc::new(Member::from(LocalMember::new(drive)))]);
        net.set_latency_max(Duration::from_micros(300));
        let link = SimLink::new(env.clone(), Rc::clone(&net), (0, 1), 5);
        let clock = env.clone();
        let now = Rc::new(move || clock.monotonic_nanos());
        (
            PeerMember::new("n1/d0", 0, Rc::new(link), now, DEADLINE),
            net,
        )
    }

    /// Calls reach the far drive; a partition refuses them (`Unreachable`) or hangs them
    /// until their deadline (`Timeout`); a lost reply is a `Timeout` although the far
    /// side acted, which a later call sees.
    #[test]
    fn partitions_and_lost_replies_fail_as_the_fault_model_says() {
        let executor = SimExecutor::new(3);
        let env = executor.env();
        executor.block_on(async move {
            let (member, net) = two_nodes(&env);
            member.make_bucket("b", b"rec".to_vec()).await.unwrap();
            assert_eq!(member.read_bucket("b").await.unwrap(), b"rec");
            net.partition(1, Some(Cut::Refuse));
            let refused = member.read_bucket("b").await;
            assert!(
                matches!(refused, Err(MemberError::Unreachable(_))),
                "{refused:?}"
            );
            net.partition(1, Some(Cut::Hang));
            let started = env.monotonic_nanos();
            assert_eq!(member.read_bucket("b").await, Err(MemberError::Timeout));
            let waited = Duration::from_nanos(env.monotonic_nanos() - started);
            assert!(waited >= DEADLINE, "hung for {waited:?}");
            net.partition_none();
            net.set_drop_reply_per_million(1_000_000);
            let lost = member.make_bucket("c", b"new".to_vec()).await;
            assert_eq!(lost, Err(MemberError::Timeout));
            net.set_drop_reply_per_million(0);
            assert_eq!(
                member.read_bucket("c").await.unwrap(),
                b"new",
                "the far side acted"
            );
        });
    }
}
