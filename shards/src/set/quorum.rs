//! The quorum engine: every fan-out of a request to the members of a set goes through
//! `call`, with a `Strategy` that says how many answers the request needs, how long a
//! member may take, and how to ask.
//!
//! - `Mode::Read` asks only as many members as needed, members marked slow last, and
//!   asks one more member for each that fails, until enough answered or none are left.
//!   Members not needed are never asked.
//! - `Mode::Write` asks every member and returns as soon as `needed` succeeded (or can
//!   no longer succeed); the calls still running finish in the background, spawned on
//!   the shard. Only for verbs whose late completion is safe: idempotent, or fenced by
//!   `expect_previous` / a lock epoch.
//! - `Mode::All` asks every member and waits for each answer or its deadline.
//!
//! In every mode a member that misses its deadline counts as failed for that request
//! (`MemberError::Timeout`) and is marked slow (`MemberHealth`). A call of a verb that
//! changes the drive (`Verb::changes_drive`) is not cut there: it runs on to its end
//! in a task of its own, as a call cut between two of its steps would leave the drive
//! half changed (a record without its listing index entry). At most
//! `OVERDUE_CHANGES_MAX` such calls per member run overdue; past that, new ones fail
//! without being started. While it is slow, reads
//! ask it last, and writes and `All` fan-outs give it only a probe deadline (a tenth of
//! the deadline): a hung member costs the request that finds it one deadline, and each
//! later fan-out a tenth of one, until its penalty ends. A member that only recovered
//! answers within the probe deadline and is written to as before.
//!
//! Every call is timed and its failure classified on the member when it ends
//! (`MemberHealth::note_call`, under the verb the strategy names; a missed deadline marks
//! the member slow there, so a write's calls left in the background count too): the
//! drive metrics come from here and from GET's chunk reads, which keep their own
//! deadlines (`object/get.rs`). The time is the shard's `Env` clock, read once when a
//! call starts and once when it ends.
//!
//! Invariants: at most one call per member per fan-out; answers are returned in member
//! order whatever order they arrived in; nothing here reads a clock but `Env`.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use shoal_io::Env;

use crate::member::{MemberError, MemberResult, SetMember, Verb};

/// How a fan-out asks and when it is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Strategy {
    /// Successful answers the request needs.
    pub needed: usize,
    /// How long one member may take to answer.
    pub deadline: Duration,
    pub mode: Mode,
    /// The storage verb the fan-out calls, for the drive metrics (a call that does
    /// more, such as a put's last append and its finish, is named for what ends it).
    pub verb: Verb,
}

/// See the module comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Read,
    Write,
    All,
}

impl Strategy {
    pub fn read(verb: Verb, needed: usize, deadline: Duration) -> Self {
        Self {
            needed,
            deadline,
            mode: Mode::Read,
            verb,
        }
    }

    pub fn write(verb: Verb, needed: usize, deadline: Duration) -> Self {
        Self {
            needed,
            deadline,
            mode: Mode::Write,
            verb,
        }
    }

    pub fn all(verb: Verb, deadline: Duration) -> Self {
        Self {
            needed: usize::MAX,
            deadline,
            mode: Mode::All,
            verb,
        }
    }

    /// The same strategy for a fan-out of another verb.
    #[must_use]
    pub fn with_verb(self, verb: Verb) -> Self {
        Self { verb, ..self }
    }
}

/// One member's part in a fan-out.
#[derive(Debug)]
pub enum Answer<T> {
    Ok(T),
    Err(MemberError),
    /// Not asked (a read had enough answers without it).
    NotAsked,
    /// Still running in the background (a write returned at quorum).
    Running,
}

impl<T> Answer<T> {
    pub fn ok(&self) -> Option<&T> {
        match self {
            Answer::Ok(value) => Some(value),
            _ => None,
        }
    }

    pub fn into_ok(self) -> Option<T> {
        match self {
            Answer::Ok(value) => Some(value),
            _ => None,
        }
    }

    pub fn is_ok(&self) -> bool {
        matches!(self, Answer::Ok(_))
    }

    /// The answer as a result; a member not asked or still running counts as timed out.
    pub fn into_result(self) -> MemberResult<T> {
        match self {
            Answer::Ok(value) => Ok(value),
            Answer::Err(e) => Err(e),
            Answer::NotAsked | Answer::Running => Err(MemberError::Timeout),
        }
    }
}

/// How many answers succeeded.
pub fn ok_count<T>(answers: &[Answer<T>]) -> usize {
    answers.iter().filter(|a| a.is_ok()).count()
}

type Pending<T> = Pin<Box<dyn Future<Output = (usize, MemberResult<T>)>>>;

/// Asks `members` with `call(index, member)` as `strategy` says; returns one answer per
/// member, in member order. `call` is invoked at most once per member.
pub async fn call<E, M, T, F, Fut>(
    env: &E,
    members: &[Rc<M>],
    strategy: Strategy,
    call: F,
) -> Vec<Answer<T>>
where
    E: Env,
    M: SetMember,
    T: 'static,
    F: FnMut(usize, Rc<M>) -> Fut,
    Fut: Future<Output = MemberResult<T>> + 'static,
{
    let order: Vec<usize> = (0..members.len()).collect();
    call_preferring(env, members, &order, strategy, call).await
}

/// `call`, where a read asks members in the order of `prefer` (member indices, each
/// once, all of them), members marked slow last.
pub async fn call_preferring<E, M, T, F, Fut>(
    env: &E,
    members: &[Rc<M>],
    prefer: &[usize],
    strategy: Strategy,
    mut call: F,
) -> Vec<Answer<T>>
where
    E: Env,
    M: SetMember,
    T: 'static,
    F: FnMut(usize, Rc<M>) -> Fut,
    Fut: Future<Output = MemberResult<T>> + 'static,
{
    let count = members.len();
    assert_eq!(prefer.len(), count, "a preference names every member once");
    let mut answers: Vec<Answer<T>> = (0..count).map(|_| Answer::NotAsked).collect();
    let mut order = ask_order(env, members, prefer, strategy.mode);
    let first = match strategy.mode {
        Mode::Read => strategy.needed.min(count),
        Mode::Write | Mode::All => count,
    };
    let mut running: FuturesUnordered<Pending<T>> = FuturesUnordered::new();
    for index in order.drain(..first).collect::<Vec<_>>() {
        running.push(start(env, &members[index], index, strategy, &mut call));
    }
    let mut ok = 0;
    while let Some((index, result)) = running.next().await {
        match result {
            Ok(value) => {
                ok += 1;
                answers[index] = Answer::Ok(value);
            }
            Err(e) => {
                answers[index] = Answer::Err(e);
                if strategy.mode == Mode::Read && !order.is_empty() {
                    let next = order.remove(0);
                    running.push(start(env, &members[next], next, strategy, &mut call));
                }
            }
        }
        let still_possible = ok + running.len() + order.len() >= strategy.needed;
        let done = match strategy.mode {
            Mode::Read | Mode::Write => ok >= strategy.needed || !still_possible,
            Mode::All => false,
        };
        if done {
            break;
        }
    }
    if strategy.mode == Mode::Write && !running.is_empty() {
        for answer in &mut answers {
            if matches!(answer, Answer::NotAsked) {
                *answer = Answer::Running;
            }
        }
        finish_in_background(env, running);
    }
    answers
}

/// Members in the order a fan-out asks them: for reads, members not marked slow first
/// (each group in the preferred order); for writes, the preferred order.
fn ask_order<E: Env, M: SetMember>(
    env: &E,
    members: &[Rc<M>],
    prefer: &[usize],
    mode: Mode,
) -> Vec<usize> {
    let mut order = prefer.to_vec();
    if mode == Mode::Read {
        let now = env.monotonic_nanos();
        order.sort_by_key(|&i| members[i].health().is_slow(now));
    }
    order
}

/// The share of the deadline a member marked slow gets in writes and `All` fan-outs.
pub const SLOW_PROBE_DIVISOR: u32 = 10;

/// How long `member` may take in a fan-out of `mode` with `deadline` at `now_nanos`.
fn member_deadline<M: SetMember>(
    member: &M,
    mode: Mode,
    deadline: Duration,
    now_nanos: u64,
) -> Duration {
    if mode != Mode::Read && member.health().is_slow(now_nanos) {
        deadline / SLOW_PROBE_DIVISOR
    } else {
        deadline
    }
}

/// Calls one member under its deadline.
fn start<E, M, T, F, Fut>(
    env: &E,
    member: &Rc<M>,
    index: usize,
    strategy: Strategy,
    call: &mut F,
) -> Pending<T>
where
    E: Env,
    M: SetMember,
    T: 'static,
    F: FnMut(usize, Rc<M>) -> Fut,
    Fut: Future<Output = MemberResult<T>> + 'static,
{
    let started_nanos = env.monotonic_nanos();
    let deadline = member_deadline(&**member, strategy.mode, strategy.deadline, started_nanos);
    let future = call(index, Rc::clone(member));
    let (env, member, verb) = (env.clone(), Rc::clone(member), strategy.verb);
    Box::pin(async move {
        let result = if !verb.changes_drive() {
            shoal_io::timeout(&env, deadline, future)
                .await
                .unwrap_or(Err(MemberError::Timeout))
        } else if member.health().overdue_changes() >= OVERDUE_CHANGES_MAX {
            // Not started (a future does nothing until polled): the member is as
            // good as hung, and nothing of this call happened.
            Err(MemberError::Timeout)
        } else {
            detached(&env, &member, deadline, future).await
        };
        let error = result.as_ref().err();
        (member.health()).note_call(verb, started_nanos, env.monotonic_nanos(), error);
        (index, result)
    })
}

/// Most calls that change a member's drive may run past their deadline at once (per
/// member and shard); past it, new ones fail at once without being started. Bounds
/// what a hung drive holds (each such call keeps its arguments until the drive
/// answers).
pub const OVERDUE_CHANGES_MAX: usize = 64;

/// `call`, a call that changes the member's drive, run as a task of its own whose
/// answer is awaited until `deadline`: a call cut at its deadline keeps running to its
/// end, so that it is never stopped between two of its steps, such as a record
/// written and its listing index entry not yet (found by sim_store's index audit, seed
/// 591). The member counts it overdue until then (`OVERDUE_CHANGES_MAX`).
async fn detached<E: Env, M: SetMember, T: 'static>(
    env: &E,
    member: &Rc<M>,
    deadline: Duration,
    call: impl Future<Output = MemberResult<T>> + 'static,
) -> MemberResult<T> {
    let (answer, answered) = futures_channel::oneshot::channel();
    let overdue = Rc::new(Cell::new(false));
    let (task_overdue, task_member) = (Rc::clone(&overdue), Rc::clone(member));
    env.spawn(async move {
        let result = call.await;
        if task_overdue.get() {
            task_member.health().note_overdue_change(false);
        }
        // Nobody waits any more when the deadline passed: the answer goes nowhere.
        let _ = answer.send(result);
    });
    match shoal_io::timeout(env, deadline, answered).await {
        Some(Ok(result)) => result,
        // The runtime dropped the task (it is shutting down).
        Some(Err(_)) => Err(MemberError::Timeout),
        None => {
            overdue.set(true);
            member.health().note_overdue_change(true);
            Err(MemberError::Timeout)
        }
    }
}

/// Lets the calls a write no longer waits for run to their end (or deadline).
fn finish_in_background<E: Env, T: 'static>(env: &E, mut running: FuturesUnordered<Pending<T>>) {
    env.spawn(async move { while running.next().await.is_some() {} });
}
