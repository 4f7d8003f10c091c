//! The seed sweep as CI and a developer meet it: many seeds by default, a failing seed
//! named with proof that it reproduces and the command that reruns it, and the
//! `SHOAL_SEED*` variables read from the real environment of a test process.

use std::cell::Cell;
use std::process::Command;
use std::rc::Rc;

use shoal_io::sim::{SeedPlan, SeedSweep};
use shoal_io::{Env, SimExecutor};

const RERUN: &str = "cargo test -p shoal-io --test sim_seeds -- racy";

/// Two tasks add to a counter with a read, a yield and a write: a lost update under
/// some interleavings, which a seed chooses. Fails when the update was lost.
fn racy_counter(executor: &SimExecutor) -> Result<(), String> {
    let env = executor.env();
    let counter = Rc::new(Cell::new(0u32));
    for _ in 0..2 {
        let (task_env, counter) = (env.clone(), Rc::clone(&counter));
        env.spawn(async move {
            let read = counter.get();
            task_env.yield_now().await;
            counter.set(read + 1);
        });
    }
    let main_env = env.clone();
    executor
        .run_until(async move {
            for _ in 0..4 {
                main_env.yield_now().await;
            }
        })
        .map_err(|e| e.to_string())?;
    match counter.get() {
        2 => Ok(()),
        lost => Err(format!("lost update: counter is {lost}, expected 2")),
    }
}

/// The failing seed of the racy simulation, found by a sweep over the first 64 seeds.
fn first_failure() -> (u64, String) {
    let sweep = SeedSweep::new(RERUN, 64);
    let plan = SeedPlan::parse(None, None, None, 64).expect("plan");
    let message = sweep
        .run_plan(&plan, racy_counter)
        .expect_err("some seed loses the update");
    let seed = message
        .split("SHOAL_SEED=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|seed| seed.parse().ok())
        .expect("the message names the seed to rerun");
    (seed, message)
}

/// A sweep stops at a seed that fails, says it reproduced with the same trace hash, and
/// gives the command that reruns it; rerunning that seed alone fails again the same way.
#[test]
fn racy_failure_names_a_seed_that_reproduces() {
    let (seed, message) = first_failure();
    assert!(message.contains("lost update"), "{message}");
    assert!(message.contains("reproduced: same trace hash"), "{message}");
    assert!(
        message.contains(&format!("SHOAL_SEED={seed} {RERUN}")),
        "{message}"
    );
    let sweep = SeedSweep::new(RERUN, 64);
    let one = SeedPlan::parse(Some(&seed.to_string()), None, None, 64).expect("plan");
    let again = sweep
        .run_plan(&one, racy_counter)
        .expect_err("the same seed fails again");
    assert_eq!(again, message, "the rerun fails identically");
}

/// Seeds that pass are all run, each with its own trace hash; panics inside a seed's
/// simulation are failures with the panic's message, not aborted sweeps.
#[test]
fn passing_seeds_all_run_and_panics_are_failures() {
    let sweep = SeedSweep::new(RERUN, 40);
    let plan = SeedPlan::parse(None, None, Some("1000"), 40).expect("plan");
    let calls = Cell::new(0u32);
    let report = sweep
        .run_plan(&plan, |executor| {
            calls.set(calls.get() + 1);
            let env = executor.env();
            executor
                .run_until(async move { env.sleep(std::time::Duration::from_millis(1)).await })
                .map_err(|e| e.to_string())
        })
        .expect("all pass");
    assert_eq!(report.trace_hashes.len(), 40);
    assert_eq!(
        calls.get(),
        41,
        "every seed once, the first twice (determinism check)"
    );

    let panicking = sweep.run_plan(&plan, |executor| -> Result<(), String> {
        executor.block_on(async { panic!("invariant broken in the model") })
    });
    let message = panicking.expect_err("the panic is a failure");
    assert!(
        message.contains("invariant broken in the model"),
        "{message}"
    );
    assert!(message.contains("seed 1000"), "{message}");
}

/// A simulation that leaks real nondeterminism (here: the address of a heap allocation)
/// into its trace is caught on the first seed.
#[test]
fn nondeterminism_is_caught() {
    let sweep = SeedSweep::new(RERUN, 3);
    let plan = SeedPlan::parse(None, None, None, 3).expect("plan");
    let keep = std::cell::RefCell::new(Vec::new());
    let result = sweep.run_plan(&plan, |executor| -> Result<(), String> {
        let address = Box::new(0u8);
        executor.env().trace(std::ptr::from_ref(&*address) as u64);
        keep.borrow_mut().push(address); // keep it alive so the next one differs
        Ok(())
    });
    let message = result.expect_err("two runs of seed 0 differ");
    assert!(
        message.contains("nondeterministic simulation: seed 0"),
        "{message}"
    );
}

/// Bad values in the environment are refused with the variable's name, never a panic
/// deep in a run.
#[test]
fn bad_plans_are_refused() {
    let error = SeedPlan::parse(None, Some("many"), None, 10).expect_err("not a number");
    assert!(error.contains("SHOAL_SEEDS=\"many\""), "{error}");
    assert!(SeedPlan::parse(None, Some("0"), None, 10).is_err());
    assert!(SeedPlan::parse(Some("3"), Some("10"), None, 10).is_err());
    assert!(SeedPlan::parse(None, Some("2"), Some(&u64::MAX.to_string()), 10).is_err());
    let plan = SeedPlan::parse(None, Some("5"), Some("7"), 10).expect("plan");
    assert_eq!(plan.seeds().collect::<Vec<_>>(), vec![7, 8, 9, 10, 11]);
}

/// Run as a child by the test below: prints the seeds its sweep ran.
#[test]
fn probe_prints_its_seeds() {
    let sweep = SeedSweep::new(RERUN, 3);
    let report = sweep.run(|executor| executor.run_until(async {}).map_err(|e| e.to_string()));
    let seeds: Vec<String> = report.plan.seeds().map(|s| s.to_string()).collect();
    println!("probe ran seeds [{}]", seeds.join(","));
}

/// `SHOAL_SEED` and `SHOAL_SEEDS`/`SHOAL_SEED_START` in a real test process's
/// environment choose the seeds (this test binary reruns itself with them set).
#[test]
fn environment_chooses_the_seeds() {
    let probe = |vars: &[(&str, &str)]| {
        let mut command = Command::new(std::env::current_exe().expect("test binary"));
        command.args(["--exact", "probe_prints_its_seeds", "--nocapture"]);
        for name in ["SHOAL_SEED", "SHOAL_SEEDS", "SHOAL_SEED_START"] {
            command.env_remove(name);
        }
        command.envs(vars.iter().copied());
        let output = command.output().expect("run the probe");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        (output.status.success(), stdout + &stderr)
    };
    let (ok, out) = probe(&[]);
    assert!(ok && out.contains("probe ran seeds [0,1,2]"), "{out}");
    let (ok, out) = probe(&[("SHOAL_SEED", "1234")]);
    assert!(ok && out.contains("probe ran seeds [1234]"), "{out}");
    let (ok, out) = probe(&[("SHOAL_SEEDS", "4"), ("SHOAL_SEED_START", "50")]);
    assert!(ok && out.contains("probe ran seeds [50,51,52,53]"), "{out}");
    let (ok, out) = probe(&[("SHOAL_SEEDS", "lots")]);
    assert!(
        !ok && out.contains("SHOAL_SEEDS=\"lots\" is not a whole number"),
        "{out}"
    );
}
