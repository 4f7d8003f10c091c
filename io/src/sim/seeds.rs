//! Running one simulation over many seeds, the way CI and a developer use it: CI runs a
//! bounded number of seeds; a failure names its seed, shows it reproduces (the same
//! trace hash on a rerun), and says how to rerun just that seed.
//!
//! The environment chooses the seeds:
//! - `SHOAL_SEED=1234`   only seed 1234 (rerunning a failure);
//! - `SHOAL_SEEDS=5000`  that many seeds instead of the test's default;
//! - `SHOAL_SEED_START=N` the first of them (default 0), so a script can cover new ground.
//!
//! Invariants: every seed gets a fresh `SimExecutor`; the first seed of a sweep is run
//! twice and must give the same trace hash (a simulation that reads real time, walks an
//! unordered map or depends on threads is caught at once, not when a failure will not
//! reproduce); a sweep stops at its first failing seed.

use std::fmt::Display;
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::executor::{SimConfig, SimExecutor};

/// Which seeds a sweep runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedPlan {
    pub seed_first: u64,
    pub seed_count: u64,
}

impl SeedPlan {
    /// The plan the environment asks for (see the file comment), `seeds_default` seeds
    /// from 0 if it asks for nothing.
    pub fn from_env(seeds_default: u64) -> Result<SeedPlan, String> {
        let var = |name: &str| std::env::var(name).ok();
        SeedPlan::parse(
            var("SHOAL_SEED").as_deref(),
            var("SHOAL_SEEDS").as_deref(),
            var("SHOAL_SEED_START").as_deref(),
            seeds_default,
        )
    }

    /// The plan from the values of `SHOAL_SEED`, `SHOAL_SEEDS` and `SHOAL_SEED_START`.
    pub fn parse(
        seed: Option<&str>,
        seeds: Option<&str>,
        start: Option<&str>,
        seeds_default: u64,
    ) -> Result<SeedPlan, String> {
        let number = |name: &str, text: &str| {
            text.trim()
                .parse::<u64>()
                .map_err(|_| format!("{name}={text:?} is not a whole number"))
        };
        if let Some(seed) = seed {
            if seeds.is_some() || start.is_some() {
                return Err(
                    "SHOAL_SEED reruns one seed: drop SHOAL_SEEDS and SHOAL_SEED_START".into(),
                );
            }
            return Ok(SeedPlan {
                seed_first: number("SHOAL_SEED", seed)?,
                seed_count: 1,
            });
        }
        let seed_count = seeds.map_or(Ok(seeds_default), |text| number("SHOAL_SEEDS", text))?;
        let seed_first = start.map_or(Ok(0), |text| number("SHOAL_SEED_START", text))?;
        if seed_count == 0 || seed_first.checked_add(seed_count - 1).is_none() {
            return Err(format!(
                "no seeds to run from {seed_first} ({seed_count} asked)"
            ));
        }
        Ok(SeedPlan {
            seed_first,
            seed_count,
        })
    }

    pub fn seeds(&self) -> impl Iterator<Item = u64> + use<> {
        self.seed_first..=self.seed_first + (self.seed_count - 1)
    }
}

/// How a simulated test runs its seeds.
#[derive(Debug, Clone)]
pub struct SeedSweep {
    /// The command that runs this test, for the rerun hint, e.g.
    /// `cargo test -p shoal-shards --test suites -- sim_store::whole_store`.
    pub rerun_command: String,
    /// Seeds when the environment does not say.
    pub seeds_default: u64,
    /// Limits of each run (from the seed).
    pub config: fn(u64) -> SimConfig,
}

/// What a sweep that passed did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepReport {
    pub plan: SeedPlan,
    /// Trace hash of each seed, in seed order.
    pub trace_hashes: Vec<u64>,
}

/// One run that failed: its seed, why, and its trace hash at the failure.
#[derive(Debug, Clone)]
struct Failure {
    seed: u64,
    why: String,
    trace_hash: u64,
}

impl SeedSweep {
    /// A sweep with `seeds_default` seeds and the default limits.
    pub fn new(rerun_command: &str, seeds_default: u64) -> SeedSweep {
        SeedSweep {
            rerun_command: rerun_command.to_owned(),
            seeds_default,
            config: SimConfig::new,
        }
    }

    /// Runs `simulation` over the seeds the environment asks for; panics (failing the
    /// test) with the failing seed and its rerun command, or on a bad environment.
    pub fn run<E: Display>(
        &self,
        simulation: impl Fn(&SimExecutor) -> Result<(), E>,
    ) -> SweepReport {
        let plan = SeedPlan::from_env(self.seeds_default).unwrap_or_else(|why| panic!("{why}"));
        self.run_plan(&plan, simulation)
            .unwrap_or_else(|why| panic!("{why}"))
    }

    /// Runs `simulation` once per seed of `plan` (the first seed twice); the report, or
    /// the message naming the failing seed.
    pub fn run_plan<E: Display>(
        &self,
        plan: &SeedPlan,
        simulation: impl Fn(&SimExecutor) -> Result<(), E>,
    ) -> Result<SweepReport, String> {
        let mut trace_hashes = Vec::new();
        for seed in plan.seeds() {
            let trace_hash = self
                .run_seed(seed, &simulation)
                .map_err(|failure| self.explain(&failure, &simulation))?;
            if seed == plan.seed_first {
                self.check_deterministic(seed, trace_hash, &simulation)?;
            }
            trace_hashes.push(trace_hash);
        }
        Ok(SweepReport {
            plan: plan.clone(),
            trace_hashes,
        })
    }

    /// One seed in a fresh executor: its trace hash, or why it failed (an error, a
    /// panic, or the executor's deadlock and limit reports, which come as errors).
    fn run_seed<E: Display>(
        &self,
        seed: u64,
        simulation: &impl Fn(&SimExecutor) -> Result<(), E>,
    ) -> Result<u64, Failure> {
        let executor = SimExecutor::with_config((self.config)(seed));
        let outcome = catch_unwind(AssertUnwindSafe(|| simulation(&executor)));
        let trace_hash = executor.trace_hash();
        let why = match outcome {
            Ok(Ok(())) => return Ok(trace_hash),
            Ok(Err(error)) => error.to_string(),
            Err(panic) => panic_message(panic.as_ref()),
        };
        Err(Failure {
            seed,
            why,
            trace_hash,
        })
    }

    fn check_deterministic<E: Display>(
        &self,
        seed: u64,
        trace_hash: u64,
        simulation: &impl Fn(&SimExecutor) -> Result<(), E>,
    ) -> Result<(), String> {
        match self.run_seed(seed, simulation) {
            Ok(again) if again == trace_hash => Ok(()),
            Ok(again) => Err(format!(
                "nondeterministic simulation: seed {seed} gave trace hashes {trace_hash:#018x} \
                 and {again:#018x} (real time, an unordered map or threads leak into the run)"
            )),
            Err(failure) => Err(format!(
                "nondeterministic simulation: seed {seed} passed, then failed on a rerun: {}",
                failure.why
            )),
        }
    }

    /// The failure message: seed, cause, whether a rerun reproduced it, how to rerun.
    fn explain<E: Display>(
        &self,
        failure: &Failure,
        simulation: &impl Fn(&SimExecutor) -> Result<(), E>,
    ) -> String {
        let Failure {
            seed,
            why,
            trace_hash,
        } = failure;
        let reproduced = match self.run_seed(*seed, simulation) {
            Err(again) if again.trace_hash == *trace_hash => {
                "reproduced: same trace hash on a rerun"
            }
            Err(_) => "NOT reproduced exactly: a rerun failed with another trace hash",
            Ok(_) => "NOT reproduced: a rerun passed (the simulation is nondeterministic)",
        };
        format!(
            "simulation failed at seed {seed} (trace hash {trace_hash:#018x}; {reproduced}):\n\
             {why}\nrerun just this seed: SHOAL_SEED={seed} {}",
            self.rerun_command
        )
    }
}

/// The message of a panic payload (`panic!` gives a `&str` or a `String`).
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}
