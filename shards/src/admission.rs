//! Which new connections a shard takes: at most `connections_max` open at once, and at
//! most `per_client_max` from one client IP address, so one address (a slowloris
//! source) cannot take every slot; plus the accept loop's back-off when the process is
//! out of file descriptors, and the hint that a burst of connections is over (time to
//! give freed memory back to the OS).
//!
//! Invariants:
//! - Every admitted connection holds a [`Slot`]; dropping it gives the slot back, also
//!   when the connection's task unwinds from a panic.
//! - The per-address table holds only addresses with open connections, so its size is
//!   bounded by `connections_max`.
//! - Refusals that still answer (503 SlowDown) are themselves bounded
//!   ([`REFUSALS_MAX`]); beyond that a refused connection is just closed.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Over-limit connections answered with 503 SlowDown at once, per shard.
pub const REFUSALS_MAX: usize = 64;
/// Closed connections that make a burst worth trimming the heap for.
const TRIM_AFTER_CLOSED_COUNT: usize = 256;
/// First and longest pause of the accept loop when descriptors ran out.
const BACKOFF_FIRST: Duration = Duration::from_millis(5);
const BACKOFF_MAX: Duration = Duration::from_millis(200);

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

/// An admitted connection's place in the table; given back on drop.
pub struct Slot {
    inner: Rc<Inner>,
    client: IpAddr,
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
                refusing: Cell::new(0),
                closed_count: Cell::new(0),
                open_peak: Cell::new(0),
            }),
        }
    }

    /// Admits or refuses a connection from `client`.
    pub fn admit(&self, client: IpAddr) -> Verdict {
        let inner = &self.inner;
        let client = client.to_canonical();
        if inner.open.get() >= inner.connections_max {
            return Verdict::ShardFull(self.refusal());
        }
        let mut by_client = inner.by_client.borrow_mut();
        let held = by_client.entry(client).or_insert(0);
        if inner.per_client_max > 0 && *held >= inner.per_client_max {
            return Verdict::ClientFull; // `held` > 0 here, so no empty entry is left behind
        }
        *held += 1;
        inner.open.set(inner.open.get() + 1);
        inner
            .open_peak
            .set(inner.open_peak.get().max(inner.open.get()));
        Verdict::Admit(Slot {
            inner: inner.clone(),
            client,
        })
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

impl Drop for Slot {
    fn drop(&mut self) {
        let inner = &self.inner;
        inner.open.set(inner.open.get() - 1);
        inner.closed_count.set(inner.closed_count.get() + 1);
        let mut by_client = inner.by_client.borrow_mut();
        if let Some(held) = by_client.get_mut(&self.client) {
            *held -= 1;
            if *held == 0 {
                by_client.remove(&self.client);
            }
        }
    }
}

impl Drop for Refusal {
    fn drop(&mut self) {
        self.inner.refusing.set(self.inner.refusing.get() - 1);
    }
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
            eprintln!(
                "shoal: shard {shard_index}: cannot accept connections ({error}); \
                 pausing accepts until connections close (raise `ulimit -n` if this recurs)"
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
            eprintln!(
                "shoal: shard {shard_index}: accepting connections again (after {} failed attempts)",
                self.failed_count
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

    /// A full shard refuses with a bounded number of answering refusals.
    #[test]
    fn full_shard_refusals_are_bounded() {
        let admission = Admission::new(1, 0);
        let _held = admission.admit(ip(2));
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
