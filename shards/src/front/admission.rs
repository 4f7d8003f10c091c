//! Which new connections a shard takes: at most `connections_max` open at once, and at
//! most `per_client_max` from one client (an IPv4 address, or an IPv6 /64, which one
//! client usually owns whole), so one source cannot take every slot; plus the accept
//! loop's back-off when the process is out of file descriptors, and the hint that a
//! burst of connections is over (time to give freed memory back to the OS).
//!
//! A full shard makes room rather than locking newcomers out: it evicts the connection
//! that does the least useful work — an idle keep-alive first, then one whose head is
//! still incomplete, oldest first, never one with a request in progress — and admits
//! the new one. Holding idle connections therefore cannot keep anyone else out; only
//! requests in progress fill a shard. Above [`PRESSURE_PERCENT`] of the limit, waits
//! for a head or the next request are cut short ([`Admission::under_pressure`]).
//!
//! Invariants:
//! - Every admitted connection holds a [`Slot`]; dropping it gives the slot back, also
//!   when the connection's task unwinds from a panic. An evicted slot is given back at
//!   eviction (its connection is told to close, and closes at its next poll).
//! - The per-address table holds only addresses with open connections, so its size is
//!   bounded by `connections_max`.
//! - The eviction queue holds exactly the open, not evicted slots that are idle or
//!   reading a head, each once, keyed by (activity, order it entered that activity).
//! - Refusals that still answer (503 SlowDown) are themselves bounded
//!   ([`REFUSALS_MAX`]); beyond that a refused connection is just closed.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Over-limit connections answered with 503 SlowDown at once, per shard.
pub const REFUSALS_MAX: usize = 64;
/// Closed connections that make a burst worth trimming the heap for.
const TRIM_AFTER_CLOSED_COUNT: usize = 256;
/// First and longest pause of the accept loop when descriptors ran out.
const BACKOFF_FIRST: Duration = Duration::from_millis(5);
const BACKOFF_MAX: Duration = Duration::from_millis(200);
/// Above this share of `connections_max` open, a shard is under pressure.
pub const PRESSURE_PERCENT: usize = 75;

/// The connection table of one shard.
#[derive(Clone)]
pub struct Admission {
    inner: Rc<Inner>,
}

struct Inner {
    connections_max: usize,
    /// 0: no per-address limit.
    per_client_max: usize,
    open: Cell<usize>,
    by_client: RefCell<HashMap<IpAddr, usize>>,
    /// Evictable slots, first evicted first: (activity, order of entering it).
    evictable: RefCell<BTreeMap<(Activity, u64), Rc<Tenant>>>,
    /// The order number the next change of activity gets.
    next_order: Cell<u64>,
    refusing: Cell<usize>,
    /// Since the last trim: connections closed, and the most open at once.
    closed_count: Cell<usize>,
    open_peak: Cell<usize>,
}

/// What to do with a new connection.
pub enum Verdict {
    Admit(Slot),
    /// The shard is full: answer 503 SlowDown if a refusal slot is free, else close.
    ShardFull(Option<Refusal>),
    /// This address holds its share already: close.
    ClientFull,
}

/// What an admitted connection is doing, as eviction sees it; the order of the variants
/// is the order of eviction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Activity {
    /// Between requests (keep-alive), no byte of the next request yet.
    Idle,
    /// A request head (or the TLS handshake before it) is arriving.
    HeadIncomplete,
    /// A request is in progress: never evicted.
    Busy,
}

/// An admitted connection's place in the table; given back on drop (or at eviction).
pub struct Slot {
    inner: Rc<Inner>,
    tenant: Rc<Tenant>,
}

/// The state of one admitted connection that the table and its task share.
struct Tenant {
    client: IpAddr,
    /// Its key in the eviction queue, `None` while busy or once evicted.
    queued: Cell<Option<(Activity, u64)>>,
    evicted: Cell<bool>,
    /// The connection's task, waiting for input, to wake at eviction.
    waker: RefCell<Option<Waker>>,
}

/// A refused connection being answered; given back on drop.
pub struct Refusal {
    inner: Rc<Inner>,
}

impl Admission {
    pub fn new(connections_max: usize, per_client_max: usize) -> Self {
        assert!(connections_max > 0, "a shard must take some connection");
        Self {
            inner: Rc::new(Inner {
                connections_max,
                per_client_max,
                open: Cell::new(0),
                by_client: RefCell::new(HashMap::new()),
                evictable: RefCell::new(BTreeMap::new()),
                next_order: Cell::new(0),
                refusing: Cell::new(0),
                closed_count: Cell::new(0),
                open_peak: Cell::new(0),
            }),
        }
    }

    /// Admits or refuses a connection from `client`; a full shard first evicts its
    /// least useful connection (see the module comment) and refuses only when every
    /// connection has a request in progress. A client at its share is refused.
    pub fn admit(&self, client: IpAddr) -> Verdict {
        let inner = &self.inner;
        let client = client_key(client);
        let held = inner.by_client.borrow().get(&client).copied().unwrap_or(0);
        if inner.per_client_max > 0 && held >= inner.per_client_max {
            return Verdict::ClientFull;
        }
        if inner.open.get() >= inner.connections_max && !inner.evict_one() {
            return Verdict::ShardFull(self.refusal());
        }
        *inner.by_client.borrow_mut().entry(client).or_insert(0) += 1;
        inner.open.set(inner.open.get() + 1);
        inner
            .open_peak
            .set(inner.open_peak.get().max(inner.open.get()));
        let slot = Slot {
            inner: inner.clone(),
            tenant: Rc::new(Tenant {
                client,
                queued: Cell::new(None),
                evicted: Cell::new(false),
                waker: RefCell::new(None),
            }),
        };
        slot.set_activity(Activity::HeadIncomplete);
        Verdict::Admit(slot)
    }

    /// Whether more than [`PRESSURE_PERCENT`] of the connection limit is open.
    pub fn under_pressure(&self) -> bool {
        self.inner.under_pressure()
    }

    fn refusal(&self) -> Option<Refusal> {
        let refusing = &self.inner.refusing;
        (refusing.get() < REFUSALS_MAX).then(|| {
            refusing.set(refusing.get() + 1);
            Refusal {
                inner: self.inner.clone(),
            }
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.inner.open.get()
    }

    /// Whether a burst of connections has ended since the last call that said yes: many
    /// closed and at most half of the peak still open. Resets the count when it says yes.
    pub fn burst_ended(&self) -> bool {
        let inner = &self.inner;
        let ended = inner.closed_count.get() >= TRIM_AFTER_CLOSED_COUNT
            && inner.open.get() * 2 <= inner.open_peak.get();
        if ended {
            inner.closed_count.set(0);
            inner.open_peak.set(inner.open.get());
        }
        ended
    }
}

impl Inner {
    fn under_pressure(&self) -> bool {
        self.open.get() * 100 > self.connections_max * PRESSURE_PERCENT
    }

    /// Evicts the first connection of the eviction queue; false when it is empty.
    fn evict_one(&self) -> bool {
        let Some((_, tenant)) = self.evictable.borrow_mut().pop_first() else {
            return false;
        };
        tenant.queued.set(None);
        tenant.evicted.set(true);
        self.release(tenant.client);
        if let Some(waker) = tenant.waker.borrow_mut().take() {
            waker.wake();
        }
        true
    }

    /// Gives back the place of one connection from `client`.
    fn release(&self, client: IpAddr) {
        self.open.set(self.open.get() - 1);
        self.closed_count.set(self.closed_count.get() + 1);
        let mut by_client = self.by_client.borrow_mut();
        if let Some(held) = by_client.get_mut(&client) {
            *held -= 1;
            if *held == 0 {
                by_client.remove(&client);
            }
        }
    }
}

impl Slot {
    /// Records what the connection does now: an idle or head-reading connection joins
    /// the eviction queue at its end, a busy one leaves it.
    pub fn set_activity(&self, activity: Activity) {
        let tenant = &self.tenant;
        if tenant.evicted.get() {
            return;
        }
        let mut evictable = self.inner.evictable.borrow_mut();
        if let Some(key) = tenant.queued.take() {
            evictable.remove(&key);
        }
        if activity != Activity::Busy {
            let order = self.inner.next_order.get();
            self.inner.next_order.set(order + 1);
            evictable.insert((activity, order), tenant.clone());
            tenant.queued.set(Some((activity, order)));
        }
    }

    /// Whether the shard is under pressure (see [`Admission::under_pressure`]).
    pub fn under_pressure(&self) -> bool {
        self.inner.under_pressure()
    }

    /// The client's address.
    pub fn client(&self) -> IpAddr {
        self.tenant.client
    }

    /// Whether this connection was evicted (it must close).
    pub fn is_evicted(&self) -> bool {
        self.tenant.evicted.get()
    }

    /// Completes when this connection is evicted.
    pub fn evicted(&self) -> Evicted<'_> {
        Evicted { slot: self }
    }
}

/// A future that completes when its connection is evicted.
pub struct Evicted<'a> {
    slot: &'a Slot,
}

impl Future for Evicted<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let tenant = &self.slot.tenant;
        if tenant.evicted.get() {
            return Poll::Ready(());
        }
        *tenant.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let tenant = &self.tenant;
        if tenant.evicted.get() {
            return; // given back at eviction
        }
        if let Some(key) = tenant.queued.take() {
            self.inner.evictable.borrow_mut().remove(&key);
        }
        self.inner.release(tenant.client);
    }
}

/// The key a client's connections are counted under: its IPv4 address, or the /64
/// prefix of its IPv6 address (one host or site usually gets a whole /64).
fn client_key(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(prefix.into())
        }
        v4 @ IpAddr::V4(_) => v4,
    }
}

impl Drop for Refusal {
    fn drop(&mut self) {
        self.inner.refusing.set(self.inner.refusing.get() - 1);
    }
}

/// Descriptors the process keeps whatever its connections: standard streams, drive
/// folders and locks, credentials, the signal and panic machinery.
const DESCRIPTORS_PROCESS: usize = 64;
/// Descriptors each shard keeps: its ring or epoll, eventfds, listener, timers.
const DESCRIPTORS_PER_SHARD: usize = 16;
/// Files a request opens per drive at once (a part file and a metadata file).
const FILES_PER_REQUEST_PER_DRIVE: usize = 2;
/// Requests per shard whose drive files are reserved for; more may still run, and a
/// request that then runs out gets 503 SlowDown.
const REQUESTS_RESERVED_PER_SHARD: usize = 32;

/// Connections between this node and `peers` other nodes when every node runs `shards`
/// shards: each shard here dials each shard of each peer (owner routing,
/// `front/peer/link.rs`), and each of theirs dials each of ours.
pub fn peer_connections(shards: usize, peers: usize) -> usize {
    2 * shards * shards * peers
}

/// The per-shard connection limit that fits the open-file limit: all shards' connections
/// plus the descriptors reserved for drive files (drives × files per request × reserved
/// requests, per shard), for the connections to and from `peers` other nodes (S3
/// clients never take those) and for the process itself. Returns the limit and the
/// number of descriptors reserved; the limit is `requested` when it fits (or the
/// open-file limit is unknown: 0), else lowered (to at least 1).
pub fn connections_fitting(
    requested: usize,
    shards: usize,
    drives: usize,
    peers: usize,
    open_files_max: u64,
) -> (usize, usize) {
    let per_shard =
        DESCRIPTORS_PER_SHARD + drives * FILES_PER_REQUEST_PER_DRIVE * REQUESTS_RESERVED_PER_SHARD;
    let reserved = DESCRIPTORS_PROCESS + shards * per_shard + peer_connections(shards, peers);
    let Ok(open_files_max) = usize::try_from(open_files_max) else {
        return (requested, reserved);
    };
    if open_files_max == 0 {
        return (requested, reserved);
    }
    let fitting = open_files_max.saturating_sub(reserved) / shards.max(1);
    (requested.min(fitting).max(1), reserved)
}

/// The accept loop's pause after failed accepts: none after success, then growing
/// (doubling) up to [`BACKOFF_MAX`] while the process stays out of descriptors.
///
/// An episode is reported once when it starts and once when it ends. At the edge of the
/// limit accepts alternate between success and failure (each closing connection frees
/// one descriptor for one new one), so an episode ends only at a success
/// [`EPISODE_QUIET`] after the last failure.
#[derive(Default)]
pub struct AcceptBackoff {
    delay: Option<Duration>,
    last_failure: Option<Instant>,
    failed_count: u64,
}

/// Quiet time after the last failed accept that ends an episode.
pub const EPISODE_QUIET: Duration = Duration::from_secs(2);

impl AcceptBackoff {
    /// After an accept failed for lack of resources at `now`: how long to wait.
    pub fn on_exhaustion(
        &mut self,
        shard_index: usize,
        error: &std::io::Error,
        now: Instant,
    ) -> Duration {
        if self.last_failure.is_none() {
            tracing::warn!(
                shard = shard_index,
                %error,
                "cannot accept connections ({error}); pausing accepts until connections \
                 close (raise `ulimit -n` if this recurs)"
            );
        }
        let delay = self
            .delay
            .map_or(BACKOFF_FIRST, |delay| (delay * 2).min(BACKOFF_MAX));
        self.delay = Some(delay);
        self.last_failure = Some(now);
        self.failed_count += 1;
        delay
    }

    /// After an accept succeeded at `now`: the next failure pauses briefly again, and
    /// the episode ends if failures have stopped for [`EPISODE_QUIET`].
    pub fn on_success(&mut self, shard_index: usize, now: Instant) {
        self.delay = None;
        let Some(last_failure) = self.last_failure else {
            return;
        };
        if now.saturating_duration_since(last_failure) >= EPISODE_QUIET {
            tracing::info!(
                shard = shard_index,
                failed_attempts = self.failed_count,
                "accepting connections again"
            );
            self.last_failure = None;
            self.failed_count = 0;
        }
    }

    /// Whether an episode is running (reported as started and not yet as ended).
    pub fn in_episode(&self) -> bool {
        self.last_failure.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    /// One address gets its share and no more; others still get in; dropping a slot frees it.
    #[test]
    fn per_client_share_is_enforced_and_given_back() {
        let admission = Admission::new(10, 2);
        let first = admission.admit(ip(2));
        let second = admission.admit(ip(2));
        assert!(matches!(first, Verdict::Admit(_)) && matches!(second, Verdict::Admit(_)));
        assert!(matches!(admission.admit(ip(2)), Verdict::ClientFull));
        assert!(matches!(admission.admit(ip(3)), Verdict::Admit(_)));
        drop(first);
        assert!(matches!(admission.admit(ip(2)), Verdict::Admit(_)));
        assert_eq!(admission.open(), 1); // only `second` is still held
    }

    fn admitted(verdict: Verdict) -> Slot {
        match verdict {
            Verdict::Admit(slot) => slot,
            _ => panic!("expected the connection to be admitted"),
        }
    }

    /// A shard full of busy connections refuses, with a bounded number of answering refusals.
    #[test]
    fn full_shard_refusals_are_bounded() {
        let admission = Admission::new(1, 0);
        let held = admitted(admission.admit(ip(2)));
        held.set_activity(Activity::Busy);
        let mut refusals = Vec::new();
        for _ in 0..REFUSALS_MAX {
            match admission.admit(ip(3)) {
                Verdict::ShardFull(Some(refusal)) => refusals.push(refusal),
                _ => panic!("expected an answering refusal"),
            }
        }
        assert!(matches!(admission.admit(ip(3)), Verdict::ShardFull(None)));
        refusals.pop();
        assert!(matches!(
            admission.admit(ip(3)),
            Verdict::ShardFull(Some(_))
        ));
    }

    /// Fills a shard of `connections_max` from four attacker addresses at their share
    /// (idle and half-sent-head connections, as in a slowloris attack) plus some busy
    /// connections, then checks that each newcomer is admitted by evicting: idle ones
    /// first, then incomplete heads, oldest first, never a busy one; and that a shard
    /// of busy connections only refuses.
    fn eviction_makes_room(connections_max: usize) {
        let per_client_max = connections_max / 4;
        let admission = Admission::new(connections_max, per_client_max);
        let busy_count = 3;
        let busy: Vec<Slot> = (0..busy_count)
            .map(|_| admitted(admission.admit(ip(9))))
            .collect();
        for slot in &busy {
            slot.set_activity(Activity::Busy);
        }
        let mut hostile = Vec::new();
        for i in 0..connections_max - busy_count {
            let slot = admitted(admission.admit(ip(2 + (i % 4) as u8)));
            if i % 2 == 0 {
                slot.set_activity(Activity::Idle);
            }
            hostile.push(slot);
        }
        assert_eq!(admission.open(), connections_max);
        assert!(admission.under_pressure());
        assert!(matches!(admission.admit(ip(2)), Verdict::ClientFull));
        let idle_count = hostile.iter().step_by(2).count();
        let mut newcomers = Vec::new();
        for n in 0..connections_max - busy_count {
            newcomers.push(admitted(admission.admit(ip(10 + (n % 8) as u8))));
            let victim = if n < idle_count {
                2 * n
            } else {
                2 * (n - idle_count) + 1
            };
            assert!(hostile[victim].is_evicted(), "newcomer {n}: wrong victim");
            assert_eq!(admission.open(), connections_max);
        }
        assert!(hostile.iter().all(Slot::is_evicted));
        assert!(busy.iter().all(|slot| !slot.is_evicted()));
        for slot in &newcomers {
            slot.set_activity(Activity::Busy);
        }
        assert!(matches!(
            admission.admit(ip(1)),
            Verdict::ShardFull(Some(_))
        ));
        drop(hostile); // evicted slots were given back already
        assert_eq!(admission.open(), connections_max);
    }

    /// The eviction policy at the default limits of `shoal server` (4096 per shard).
    #[test]
    fn eviction_makes_room_at_default_limits() {
        eviction_makes_room(4096);
    }

    /// The same policy at the small limit the end-to-end attack test runs with, so that
    /// test shows what happens at the defaults.
    #[test]
    fn eviction_makes_room_at_small_limits() {
        eviction_makes_room(400);
    }

    /// An evicted connection's task is woken; a busy connection that goes idle again
    /// joins the queue at its end (after connections that were idle before it).
    #[test]
    fn evicted_connection_is_woken_and_requeued_at_the_end() {
        let admission = Admission::new(2, 0);
        let first = admitted(admission.admit(ip(2)));
        let second = admitted(admission.admit(ip(3)));
        second.set_activity(Activity::Idle);
        first.set_activity(Activity::Busy);
        first.set_activity(Activity::Idle); // idle again, after `second`
        let waker = std::task::Waker::noop();
        let mut context = Context::from_waker(waker);
        let mut waiting = Box::pin(second.evicted());
        assert!(waiting.as_mut().poll(&mut context).is_pending());
        let _third = admitted(admission.admit(ip(4)));
        assert!(waiting.as_mut().poll(&mut context).is_ready());
        assert!(second.is_evicted() && !first.is_evicted());
    }

    /// All addresses of one IPv6 /64 count as one client; another /64 is another client.
    #[test]
    fn ipv6_clients_are_counted_per_64_prefix() {
        let admission = Admission::new(10, 2);
        let v6 = |text: &str| text.parse::<IpAddr>().expect("address");
        let _a = admitted(admission.admit(v6("2001:db8:0:1::1")));
        let _b = admitted(admission.admit(v6("2001:db8:0:1:ffff::2")));
        assert!(matches!(
            admission.admit(v6("2001:db8:0:1::3")),
            Verdict::ClientFull
        ));
        assert!(matches!(
            admission.admit(v6("2001:db8:0:2::1")),
            Verdict::Admit(_)
        ));
        assert!(matches!(
            admission.admit(v6("::ffff:127.0.0.2")),
            Verdict::Admit(_)
        ));
    }

    /// With 3000 open files and the defaults (4096 per shard, one shard, four drives)
    /// the connection limit is lowered so connections plus the drive-file reserve fit;
    /// a limit that fits is kept; an unknown open-file limit changes nothing.
    #[test]
    fn connection_limit_fits_the_open_file_limit() {
        let (fitting, reserved) = connections_fitting(4096, 1, 4, 0, 3000);
        assert!(
            fitting + reserved <= 3000 && fitting >= 2000,
            "{fitting} + {reserved}"
        );
        let (two_shards, reserved) = connections_fitting(4096, 2, 4, 0, 3000);
        assert!(2 * two_shards + reserved <= 3000);
        assert_eq!(connections_fitting(100, 2, 4, 0, 1 << 20).0, 100);
        assert_eq!(connections_fitting(100, 2, 4, 0, 0).0, 100);
        assert_eq!(connections_fitting(100, 2, 4, 0, 10).0, 1);
    }

    /// In a cluster the peers' connections (every shard to every shard, both ways) are
    /// reserved too: clients get what is left.
    #[test]
    fn peer_connections_are_reserved() {
        let (alone, reserved_alone) = connections_fitting(4096, 4, 4, 0, 8000);
        let (pooled, reserved) = connections_fitting(4096, 4, 4, 15, 8000);
        assert_eq!(reserved - reserved_alone, 2 * 4 * 4 * 15);
        assert!(4 * pooled + reserved <= 8000 && pooled < alone);
    }

    /// A burst is over once many closed and the open count fell to half the peak.
    #[test]
    fn burst_end_is_seen_once() {
        let admission = Admission::new(10_000, 0);
        let slots: Vec<_> = (0..TRIM_AFTER_CLOSED_COUNT + 10)
            .map(|_| admission.admit(ip(2)))
            .collect();
        assert!(!admission.burst_ended());
        drop(slots);
        assert!(admission.burst_ended());
        assert!(!admission.burst_ended());
    }

    /// The back-off grows to its bound, restarts small after a success, and an episode
    /// ends only after a quiet period (flapping at the limit is one episode).
    #[test]
    fn backoff_grows_bounded_and_episodes_end_after_quiet() {
        let mut backoff = AcceptBackoff::default();
        let error = std::io::Error::from_raw_os_error(libc_emfile());
        let start = Instant::now();
        let delays: Vec<_> = (0..20)
            .map(|_| backoff.on_exhaustion(0, &error, start))
            .collect();
        assert_eq!(delays[0], BACKOFF_FIRST);
        assert!(delays.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(*delays.last().expect("delays"), BACKOFF_MAX);
        backoff.on_success(0, start + Duration::from_millis(10));
        assert!(
            backoff.in_episode(),
            "a success right after failures does not end it"
        );
        let later = start + Duration::from_millis(20);
        assert_eq!(backoff.on_exhaustion(0, &error, later), BACKOFF_FIRST);
        backoff.on_success(0, later + EPISODE_QUIET);
        assert!(!backoff.in_episode());
    }

    fn libc_emfile() -> i32 {
        24 // EMFILE on Linux
    }
}
