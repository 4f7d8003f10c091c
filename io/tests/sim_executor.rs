//! The seeded executor as the simulation will use it: tasks spawned through `Env`,
//! futures-channel replies, timers and timeouts in virtual time, and the three ways a
//! run stops short (deadlock, step limit, time limit) reported as errors.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use futures_channel::oneshot;
use shoal_io::{Clock, Env, SimConfig, SimEnv, SimError, SimExecutor, timeout};

const MS: u64 = 1_000_000;

/// A workload with many decision points: tasks that yield, sleep random virtual times
/// and log their progress, then report done on a oneshot the main future awaits.
/// Returns the log: the order in which the tasks made progress.
async fn workload(env: SimEnv, tasks: u64) -> Vec<u64> {
    let log = Rc::new(RefCell::new(Vec::new()));
    let mut done = Vec::new();
    for id in 0..tasks {
        let (sender, receiver) = oneshot::channel::<u64>();
        done.push(receiver);
        let (task_env, log) = (env.clone(), Rc::clone(&log));
        env.spawn(async move {
            for round in 0..3 {
                task_env.yield_now().await;
                log.borrow_mut().push(id * 10 + round);
                let pause_ms = task_env.random_u64() % 3;
                task_env.sleep(Duration::from_millis(pause_ms)).await;
            }
            sender.send(id).expect("main awaits");
        });
    }
    for (id, receiver) in (0..tasks).zip(done) {
        assert_eq!(receiver.await, Ok(id));
    }
    log.take()
}

fn run_workload(seed: u64) -> (Vec<u64>, u64) {
    let executor = SimExecutor::new(seed);
    let order = executor.block_on(workload(executor.env(), 6));
    (order, executor.trace_hash())
}

/// One seed gives one schedule: two runs produce the same order and the same trace hash.
#[test]
fn same_seed_same_trace() {
    let (order_a, hash_a) = run_workload(42);
    let (order_b, hash_b) = run_workload(42);
    assert_eq!(order_a.len(), 18, "every report arrives");
    assert_eq!(order_a, order_b);
    assert_eq!(hash_a, hash_b);
}

/// Different seeds choose different interleavings (and the trace hash tells them apart).
#[test]
fn different_seeds_different_interleavings() {
    let runs: Vec<(Vec<u64>, u64)> = (0..20).map(run_workload).collect();
    let mut orders: Vec<&Vec<u64>> = runs.iter().map(|(order, _)| order).collect();
    orders.sort();
    orders.dedup();
    assert!(
        orders.len() >= 15,
        "only {} distinct orders in 20 seeds",
        orders.len()
    );
    let mut hashes: Vec<u64> = runs.iter().map(|(_, hash)| *hash).collect();
    hashes.sort_unstable();
    hashes.dedup();
    assert_eq!(hashes.len(), 20, "every seed has its own trace hash");
}

/// Timers fire in deadline order, each at exactly its deadline in virtual time, however
/// they were registered; and time passes only through timers.
#[test]
fn timers_fire_in_deadline_order() {
    for seed in 0..10 {
        let executor = SimExecutor::new(seed);
        let env = executor.env();
        let fired = Rc::new(RefCell::new(Vec::new()));
        for delay_ms in [30, 10, 50, 20, 40] {
            let (task_env, fired) = (env.clone(), Rc::clone(&fired));
            env.spawn(async move {
                task_env.sleep(Duration::from_millis(delay_ms)).await;
                fired
                    .borrow_mut()
                    .push((delay_ms, task_env.monotonic_nanos()));
            });
        }
        let main_env = env.clone();
        executor.block_on(async move { main_env.sleep(Duration::from_millis(60)).await });
        let expected: Vec<(u64, u64)> = [10, 20, 30, 40, 50].map(|ms| (ms, ms * MS)).to_vec();
        assert_eq!(*fired.borrow(), expected, "seed {seed}");
        assert_eq!(env.monotonic_nanos(), 60 * MS);
    }
}

/// Spawned tasks run, tasks spawned by tasks too, without the main future awaiting them
/// other than through channels; unfinished ones stay queued for the next run.
#[test]
fn spawned_tasks_run() {
    let executor = SimExecutor::new(7);
    let env = executor.env();
    let (sender, receiver) = oneshot::channel::<&str>();
    let outer_env = env.clone();
    env.spawn(async move {
        let inner_env = outer_env.clone();
        outer_env.spawn(async move {
            inner_env.yield_now().await;
            sender.send("from the grandchild").expect("main awaits");
        });
    });
    let later_env = env.clone();
    let (late_sender, late_receiver) = oneshot::channel::<()>();
    env.spawn(async move {
        later_env.sleep(Duration::from_secs(5)).await;
        late_sender.send(()).expect("second run awaits");
    });
    assert_eq!(executor.block_on(receiver), Ok("from the grandchild"));
    assert_eq!(executor.tasks_pending(), 1, "the sleeper is still waiting");
    assert_eq!(executor.block_on(late_receiver), Ok(()));
    assert_eq!(env.monotonic_nanos(), 5_000 * MS);
    assert_eq!(executor.tasks_pending(), 0);
}

/// A run where every task waits on something nobody will ever do ends with a deadlock
/// error that names the seed and where the stuck task was spawned, instead of hanging.
#[test]
fn deadlock_detected() {
    let executor = SimExecutor::new(3);
    let env = executor.env();
    let (_never_sent, never) = oneshot::channel::<()>();
    let (reply, replied) = oneshot::channel::<()>();
    let task_env = env.clone();
    let spawn_line = line!() + 1;
    env.spawn(async move {
        task_env.sleep(Duration::from_millis(5)).await;
        let _ = never.await;
        let _ = reply.send(());
    });
    let error = executor.run_until(replied).expect_err("nothing can finish");
    let SimError::Deadlock {
        seed,
        at_nanos,
        ref stuck,
    } = error
    else {
        panic!("expected a deadlock, got {error}");
    };
    assert_eq!((seed, at_nanos), (3, 5 * MS));
    assert_eq!(stuck.len(), 2, "{stuck:?}");
    assert!(stuck[0].contains("main"), "{stuck:?}");
    let site = format!("sim_executor.rs:{spawn_line}");
    assert!(stuck[1].contains(&site), "{stuck:?} should name {site}");
    assert!(error.to_string().contains("seed 3"), "{error}");
}

/// Tasks that keep waking each other forever hit the step limit: an error, not a hang.
#[test]
fn livelock_hits_the_step_limit() {
    let executor = SimExecutor::with_config(SimConfig {
        steps_max: 1_000,
        ..SimConfig::new(1)
    });
    let env = executor.env();
    let spin_env = env.clone();
    env.spawn(async move {
        loop {
            spin_env.yield_now().await;
        }
    });
    let (_never_sent, never) = oneshot::channel::<()>();
    let error = executor
        .run_until(never)
        .expect_err("the spinner never ends");
    assert!(
        matches!(
            error,
            SimError::StepLimit {
                steps_max: 1_000,
                ..
            }
        ),
        "{error}"
    );
}

/// A task that sleeps in a loop forever ends the run at the virtual-time limit, at once
/// in real time.
#[test]
fn endless_timers_hit_the_time_limit() {
    let executor = SimExecutor::with_config(SimConfig {
        virtual_time_max: Duration::from_secs(10),
        ..SimConfig::new(1)
    });
    let env = executor.env();
    let error = executor
        .run_until(async move {
            loop {
                env.sleep(Duration::from_secs(1)).await;
            }
        })
        .expect_err("the loop never ends");
    assert_eq!(
        error,
        SimError::TimeLimit {
            seed: 1,
            at_nanos: 10_000 * MS,
            next_timer_nanos: 11_000 * MS,
        }
    );
}

/// The wall clock runs with virtual time and can be stepped backwards; monotonic time
/// does not follow it.
#[test]
fn wall_clock_steps_backwards_monotonic_does_not() {
    let executor = SimExecutor::new(1);
    let env = executor.env();
    let start = env.now_unix_nanos();
    assert_eq!(start, shoal_io::sim::SIM_WALL_CLOCK_START_UNIX_NANOS);
    let task_env = env.clone();
    executor.block_on(async move {
        task_env.sleep(Duration::from_millis(10)).await;
        assert_eq!(task_env.now_unix_nanos(), start + 10 * MS);
        task_env.set_now_unix_nanos(start - 3_600_000 * MS);
        task_env.sleep(Duration::from_millis(1)).await;
    });
    assert_eq!(env.now_unix_nanos(), start - 3_600_000 * MS + MS);
    assert_eq!(env.monotonic_nanos(), 11 * MS);
}

/// `io::timeout` in virtual time: a reply in time is returned; one that never comes
/// gives `None` at exactly the deadline; and the losing sleep leaves no timer behind
/// (a later deadlock is found at the time it happened, not an hour on).
#[test]
fn timeout_in_virtual_time() {
    let executor = SimExecutor::new(5);
    let env = executor.env();
    let task_env = env.clone();
    let (_never_sent, never) = oneshot::channel::<()>();
    let error = executor
        .run_until(async move {
            let quick = task_env.sleep(Duration::from_millis(3));
            let answer = timeout(&task_env, Duration::from_hours(1), quick).await;
            assert_eq!(answer, Some(()));
            assert_eq!(task_env.monotonic_nanos(), 3 * MS);
            let (_kept, silent) = oneshot::channel::<u8>();
            let answer = timeout(&task_env, Duration::from_millis(250), silent).await;
            assert_eq!(answer, None);
            assert_eq!(task_env.monotonic_nanos(), 253 * MS);
            let _ = never.await;
        })
        .expect_err("ends waiting on a channel nobody sends on");
    assert!(
        matches!(error, SimError::Deadlock { at_nanos, .. } if at_nanos == 253 * MS),
        "{error}"
    );
}

/// A task's panic comes out of `run_until` (the test sees it), and the executor can
/// run again afterwards.
#[test]
fn a_task_panic_reaches_the_test() {
    let executor = SimExecutor::new(1);
    let env = executor.env();
    env.spawn(async { panic!("model violated") });
    let (_kept, never) = oneshot::channel::<()>();
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = executor.run_until(never);
    }))
    .expect_err("the panic propagates");
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"model violated"));
    assert_eq!(executor.block_on(async { 7 }), 7);
}
