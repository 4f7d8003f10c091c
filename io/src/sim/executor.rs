//! `SimExecutor`: a seeded, single-threaded executor in virtual time. One seed chooses
//! one interleaving of the tasks and one order of simultaneous timers, and the trace
//! hash proves it: the same seed gives the same hash, run after run.
//!
//! How it runs (`run_until`):
//! 1. Among the ready tasks (the main future counts as one) the seeded RNG picks one and
//!    polls it. Every poll is a step.
//! 2. When none is ready, tasks parked in `yield_now` become ready (so a yield lets
//!    every other ready task run first).
//! 3. When none is ready and none yielded, virtual time jumps to the earliest timer and
//!    every timer due then fires at once (the RNG then orders their tasks).
//! 4. When nothing is ready, no task yielded and no timer is pending while the main
//!    future is unfinished, nothing can ever happen again: a deadlock, reported with
//!    where each stuck task was spawned. A step limit and a virtual-time limit end
//!    livelocks the same way, as errors rather than hangs.
//!
//! Invariants:
//! - Virtual time never goes backwards and moves only in step 3: code that never sleeps
//!   takes no time, however much it computes.
//! - Every decision that can differ between runs (which task, which timers, user
//!   events) is folded into the trace hash; nothing depends on addresses, hash-map
//!   order or the real clock.
//! - Wakers are standard `Waker`s (anything that wakes through them works, e.g.
//!   futures-channel); a wake only marks the task ready. Waking from another thread
//!   is memory-safe but makes a run depend on the OS scheduler: don't.
//! - No borrow of the executor's state is held while a task is polled or dropped, so
//!   tasks may spawn, sleep and trace freely.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::panic::Location;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::env::SimEnv;
use super::trace::Trace;

/// The task id of the future given to `run_until`.
const MAIN_TASK: u64 = 0;

/// 2026-01-01T00:00:00Z: where simulated wall clocks start unless told otherwise.
pub const SIM_WALL_CLOCK_START_UNIX_NANOS: u64 = 1_767_225_600_000_000_000;

/// Limits and starting point of one simulated run.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Chooses the interleaving (and every random number drawn through the env).
    pub seed: u64,
    /// Polls allowed in one `run_until` before it reports a livelock.
    pub steps_max: u64,
    /// Virtual time after which a timer may not fire (a livelock in time).
    pub virtual_time_max: Duration,
    /// The wall clock (`Clock`) at virtual time zero.
    pub wall_clock_start_unix_nanos: u64,
}

impl SimConfig {
    /// Defaults: ten million steps, one simulated day, the wall clock at 2026-01-01.
    pub fn new(seed: u64) -> SimConfig {
        SimConfig {
            seed,
            steps_max: 10_000_000,
            virtual_time_max: Duration::from_hours(24),
            wall_clock_start_unix_nanos: SIM_WALL_CLOCK_START_UNIX_NANOS,
        }
    }
}

/// Why a simulated run stopped before its main future finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimError {
    /// Nothing ready, nothing yielded, no timer: the listed tasks wait forever.
    Deadlock {
        seed: u64,
        at_nanos: u64,
        stuck: Vec<String>,
    },
    /// More polls than `steps_max` (tasks keep waking each other without finishing).
    StepLimit {
        seed: u64,
        at_nanos: u64,
        steps_max: u64,
    },
    /// The next timer lies beyond `virtual_time_max`.
    TimeLimit {
        seed: u64,
        at_nanos: u64,
        next_timer_nanos: u64,
    },
}

impl std::fmt::Display for SimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SimError::Deadlock {
                seed,
                at_nanos,
                stuck,
            } => write!(
                f,
                "deadlock (seed {seed}) at virtual {at_nanos} ns: no task ready, no timer \
                 pending; stuck: {}",
                stuck.join("; ")
            ),
            SimError::StepLimit {
                seed,
                at_nanos,
                steps_max,
            } => write!(
                f,
                "livelock (seed {seed}) at virtual {at_nanos} ns: {steps_max} steps without \
                 the main future finishing (a task spinning on wakes or yield_now?)"
            ),
            SimError::TimeLimit {
                seed,
                at_nanos,
                next_timer_nanos,
            } => write!(
                f,
                "time limit (seed {seed}) at virtual {at_nanos} ns: the next timer \
                 ({next_timer_nanos} ns) is past the limit and the main future is unfinished"
            ),
        }
    }
}

impl std::error::Error for SimError {}

/// A spawned task: its future, where it was spawned (for deadlock reports), its waker.
struct Task {
    future: Pin<Box<dyn Future<Output = ()>>>,
    origin: &'static Location<'static>,
    waker: Waker,
}

/// Tasks marked ready by their wakers. The list gives the RNG an index to pick; the set
/// keeps a task from being listed twice.
#[derive(Default)]
struct ReadyQueue {
    list: Vec<u64>,
    set: BTreeSet<u64>,
}

impl ReadyQueue {
    fn push(&mut self, id: u64) {
        if self.set.insert(id) {
            self.list.push(id);
        }
    }

    fn take(&mut self, index: usize) -> u64 {
        let id = self.list.swap_remove(index);
        self.set.remove(&id);
        id
    }
}

/// What a task's waker holds: its id and the queue to put it on.
struct TaskWake {
    id: u64,
    ready: Arc<Mutex<ReadyQueue>>,
}

impl Wake for TaskWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        lock(&self.ready).push(self.id);
    }
}

/// A poisoned lock only means a panic elsewhere; the queue itself is always consistent.
fn lock(ready: &Mutex<ReadyQueue>) -> std::sync::MutexGuard<'_, ReadyQueue> {
    ready.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Scheduling state shared by the executor and every `SimEnv` clone.
pub(crate) struct Sched {
    pub(crate) config: SimConfig,
    /// Picks among ready tasks.
    rng: SmallRng,
    /// Random numbers handed to the simulation (`SimEnv::random_u64`); a separate
    /// stream, so drawing one does not shift the schedule.
    pub(crate) user_rng: SmallRng,
    pub(crate) now_nanos: u64,
    /// Wall clock = this + `now_nanos` (i128: steps backwards below the start work).
    pub(crate) wall_base_unix_nanos: i128,
    /// Pending sleeps by (deadline, registration number): fired in deadline order.
    pub(crate) timers: BTreeMap<(u64, u64), Waker>,
    pub(crate) timer_seq_next: u64,
    /// Tasks parked in `yield_now`, made ready when nothing else is.
    pub(crate) yielded: Vec<Waker>,
    pub(crate) trace: Trace,
    task_next: u64,
    steps: u64,
}

/// Everything one simulation shares; `SimEnv` and `SimExecutor` are handles to it.
pub(crate) struct Shared {
    pub(crate) sched: RefCell<Sched>,
    tasks: RefCell<BTreeMap<u64, Task>>,
    ready: Arc<Mutex<ReadyQueue>>,
    running: Cell<bool>,
}

impl Shared {
    fn waker(&self, id: u64) -> Waker {
        Waker::from(Arc::new(TaskWake {
            id,
            ready: Arc::clone(&self.ready),
        }))
    }

    /// Queues `future` as a new task, ready to run.
    pub(crate) fn spawn(
        &self,
        future: Pin<Box<dyn Future<Output = ()>>>,
        origin: &'static Location<'static>,
    ) {
        let id = {
            let mut sched = self.sched.borrow_mut();
            sched.task_next += 1;
            sched.task_next
        };
        let task = Task {
            future,
            origin,
            waker: self.waker(id),
        };
        self.tasks.borrow_mut().insert(id, task);
        lock(&self.ready).push(id);
    }

    /// Takes a ready task chosen by the RNG.
    fn pick_ready(&self) -> Option<u64> {
        let mut ready = lock(&self.ready);
        if ready.list.is_empty() {
            return None;
        }
        let index = self.sched.borrow_mut().rng.gen_range(0..ready.list.len());
        Some(ready.take(index))
    }

    /// Counts a poll of `id` in the step budget and the trace.
    fn step(&self, id: u64) -> Result<(), SimError> {
        let mut sched = self.sched.borrow_mut();
        sched.steps += 1;
        if sched.steps > sched.config.steps_max {
            return Err(SimError::StepLimit {
                seed: sched.config.seed,
                at_nanos: sched.now_nanos,
                steps_max: sched.config.steps_max,
            });
        }
        sched.trace.poll(id);
        Ok(())
    }

    /// Whether `id` is the main future or a spawned task not yet finished (a waker may
    /// outlive its task: such wakes are ignored).
    fn is_live(&self, id: u64) -> bool {
        id == MAIN_TASK || self.tasks.borrow().contains_key(&id)
    }

    /// Polls spawned task `id` once; it is gone if it finished.
    fn poll_task(&self, id: u64) {
        let Some(mut task) = self.tasks.borrow_mut().remove(&id) else {
            return;
        };
        let waker = task.waker.clone();
        if task
            .future
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
        {
            self.tasks.borrow_mut().insert(id, task);
        }
    }

    /// Makes the tasks parked in `yield_now` ready; whether there were any.
    fn wake_yielded(&self) -> bool {
        let yielded = std::mem::take(&mut self.sched.borrow_mut().yielded);
        let any = !yielded.is_empty();
        yielded.into_iter().for_each(Waker::wake);
        any
    }

    /// Jumps to the earliest timer and fires every timer due then; false if none.
    fn fire_timers(&self) -> Result<bool, SimError> {
        let due = {
            let mut sched = self.sched.borrow_mut();
            let Some((&(deadline, _), _)) = sched.timers.first_key_value() else {
                return Ok(false);
            };
            let limit = u64::try_from(sched.config.virtual_time_max.as_nanos()).unwrap_or(u64::MAX);
            if deadline > limit {
                return Err(SimError::TimeLimit {
                    seed: sched.config.seed,
                    at_nanos: sched.now_nanos,
                    next_timer_nanos: deadline,
                });
            }
            sched.now_nanos = sched.now_nanos.max(deadline);
            sched.trace.timer(deadline);
            let later = sched.timers.split_off(&(deadline + 1, 0));
            std::mem::replace(&mut sched.timers, later)
        };
        due.into_values().for_each(Waker::wake);
        Ok(true)
    }

    /// The deadlock report: every unfinished task and where it was spawned.
    fn deadlock(&self) -> SimError {
        let mut stuck = vec!["the main future".to_owned()];
        stuck.extend(
            self.tasks
                .borrow()
                .iter()
                .map(|(id, task)| format!("task {id} spawned at {}", task.origin)),
        );
        let sched = self.sched.borrow();
        SimError::Deadlock {
            seed: sched.config.seed,
            at_nanos: sched.now_nanos,
            stuck,
        }
    }
}

/// Owns a simulation: runs futures in it and hands out its `SimEnv`.
pub struct SimExecutor {
    shared: Rc<Shared>,
}

impl SimExecutor {
    /// An executor with the default limits whose schedule comes from `seed`.
    pub fn new(seed: u64) -> SimExecutor {
        SimExecutor::with_config(SimConfig::new(seed))
    }

    pub fn with_config(config: SimConfig) -> SimExecutor {
        let sched = Sched {
            rng: SmallRng::seed_from_u64(config.seed),
            user_rng: SmallRng::seed_from_u64(config.seed ^ 0x5eed_0f5e_ed0f_5eed),
            now_nanos: 0,
            wall_base_unix_nanos: i128::from(config.wall_clock_start_unix_nanos),
            timers: BTreeMap::new(),
            timer_seq_next: 0,
            yielded: Vec::new(),
            trace: Trace::default(),
            task_next: MAIN_TASK,
            steps: 0,
            config,
        };
        let shared = Shared {
            sched: RefCell::new(sched),
            tasks: RefCell::new(BTreeMap::new()),
            ready: Arc::new(Mutex::new(ReadyQueue::default())),
            running: Cell::new(false),
        };
        SimExecutor {
            shared: Rc::new(shared),
        }
    }

    /// The environment to give the code under test.
    pub fn env(&self) -> SimEnv {
        SimEnv::new(Rc::clone(&self.shared))
    }

    /// Runs `future` and every task spawned in the simulation until `future` finishes;
    /// tasks still pending then stay queued for the next `run_until`.
    pub fn run_until<F: Future>(&self, future: F) -> Result<F::Output, SimError> {
        assert!(
            !self.shared.running.replace(true),
            "run_until inside a simulated task"
        );
        // Reset on unwinding too: a test may catch a task's panic and run on.
        let _running = RunningGuard(&self.shared.running);
        self.run_loop(future)
    }

    /// `run_until`, panicking with the error (which names the seed) if the run stops.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.run_until(future).unwrap_or_else(|e| panic!("{e}"))
    }

    fn run_loop<F: Future>(&self, future: F) -> Result<F::Output, SimError> {
        let shared = &self.shared;
        let mut main = pin!(future);
        let main_waker = shared.waker(MAIN_TASK);
        lock(&shared.ready).push(MAIN_TASK);
        loop {
            if let Some(id) = shared.pick_ready() {
                if !shared.is_live(id) {
                    continue;
                }
                shared.step(id)?;
                if id != MAIN_TASK {
                    shared.poll_task(id);
                } else if let Poll::Ready(output) =
                    main.as_mut().poll(&mut Context::from_waker(&main_waker))
                {
                    return Ok(output);
                }
            } else if !shared.wake_yielded() && !shared.fire_timers()? {
                return Err(shared.deadlock());
            }
        }
    }

    /// The running hash of every scheduling decision, timer firing and user event so far.
    pub fn trace_hash(&self) -> u64 {
        self.shared.sched.borrow().trace.hash()
    }

    /// Polls made so far (all `run_until` calls together).
    pub fn steps(&self) -> u64 {
        self.shared.sched.borrow().steps
    }

    /// Spawned tasks not yet finished.
    pub fn tasks_pending(&self) -> usize {
        self.shared.tasks.borrow().len()
    }

    /// Drops every spawned task (a simulated process dies with its tasks); their
    /// pending sleeps go with them.
    pub fn drop_tasks(&self) {
        let tasks = std::mem::take(&mut *self.shared.tasks.borrow_mut());
        drop(tasks);
        let mut ready = lock(&self.shared.ready);
        let main_ready = ready.set.contains(&MAIN_TASK);
        *ready = ReadyQueue::default();
        if main_ready {
            ready.push(MAIN_TASK);
        }
        drop(ready);
        let yielded = std::mem::take(&mut self.shared.sched.borrow_mut().yielded);
        drop(yielded);
    }
}

/// Clears the executor's running flag when `run_until` returns or unwinds.
struct RunningGuard<'a>(&'a Cell<bool>);

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

impl Drop for SimExecutor {
    /// Tasks hold `SimEnv`s, which hold the tasks: break the cycle.
    fn drop(&mut self) {
        self.drop_tasks();
    }
}
