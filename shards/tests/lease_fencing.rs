//! Leases and fencing as a user meets them, in the seeded simulation (virtual time):
//! a writer stuck past its lease loses the key to the next writer, whose version wins;
//! the stuck writer's commit is refused, its client gets an error (`LeaseLost`, which
//! the S3 edge answers 503: nothing was written, a retry is safe), and nothing of it
//! is left behind. At the member: a verb under an older epoch than one accepted is
//! refused, whatever its own expiry says. And over seeds, writers racing for one key
//! while a drive hangs longer than a lease: the value that stays is an acknowledged
//! write that no acknowledged write followed (the register stays linearizable).

use crate::common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use common::try_put;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use shoal_io::sim::SeedSweep;
use shoal_io::{Drive, Env, FaultRule, SimDrive, SimEnv, SimExecutor, SimFaults};
use shoal_shards::member::LocalMember;
use shoal_shards::member::MemberError;
use shoal_shards::member::verbs::write::{Commit, Expect, Fence, RollBack, WriteVerbs};
use shoal_shards::set::key_lock::{LockMode, LockName};
use shoal_shards::set::shard_lock::KeyLocker;
use shoal_shards::{Error, Store, StoreConfig};

const LEASE: Duration = Duration::from_secs(1);
/// Longer than the lease, so a hung member keeps a writer past it.
const MEMBER_DEADLINE: Duration = Duration::from_secs(5);
const TMP: &str = ".shoal/tmp";

type SimStore = Store<SimDrive, SimEnv, SimEnv>;

fn body(fill: u8) -> Vec<u8> {
    // Chunks over the inline limit: the put stages files, so leftovers can be seen.
    vec![fill; 300 << 10]
}

async fn staged_count(drive: &SimDrive) -> usize {
    drive.list_dir(TMP).await.map_or(0, |entries| entries.len())
}

/// A 2+2 store over four simulated drives with bucket `bkt`, leases of `LEASE` and
/// member deadlines of `MEMBER_DEADLINE`.
async fn open_store(env: &SimEnv) -> (Rc<SimStore>, Vec<SimDrive>) {
    let drives: Vec<SimDrive> = (0..4)
        .map(|i| SimDrive::new(&format!("d{i}"), i + 1).with_env(env.clone()))
        .collect();
    let config = StoreConfig {
        parity_chunks: Some(2),
        member_deadline: MEMBER_DEADLINE,
        lease_duration: LEASE,
        ..StoreConfig::default()
    };
    let store = Store::open_in(drives.clone(), env.clone(), env.clone(), 3, config)
        .await
        .expect("open");
    store.make_bucket("bkt").await.expect("bucket");
    (Rc::new(store), drives)
}

/// `drive` hangs on key `k`'s metadata: whoever holds the key waits a member deadline
/// there, longer than its lease.
fn hang_key_meta(drive: &SimDrive) {
    drive.set_faults(SimFaults {
        hang: FaultRule::PathContains("bkt/k/_meta".into()),
        ..SimFaults::default()
    });
}

async fn read_key(store: &SimStore) -> Vec<u8> {
    store
        .get_object("bkt", "k", None)
        .await
        .expect("get")
        .read_all()
        .await
        .expect("read")
}

/// Writer A holds the key and hangs on a member past its lease; writer B takes the key
/// at A's expiry and commits; A wakes, is refused, and its client gets `LeaseLost`;
/// reads return B's value and A's staged data is gone.
#[test]
fn stuck_writer_is_fenced_and_the_next_writer_wins() {
    let sim = SimExecutor::new(11);
    let env = sim.env();
    sim.block_on(async {
        let (store, drives) = open_store(&env).await;
        hang_key_meta(&drives[0]);
        let a_result = Rc::new(RefCell::new(None));
        let (store_a, result_a, env_a) = (Rc::clone(&store), Rc::clone(&a_result), env.clone());
        env.spawn(async move {
            let result = try_put(&store_a, "k", &body(b'A')).await;
            *result_a.borrow_mut() = Some((result, env_a.monotonic_nanos()));
        });
        env.sleep(LEASE / 2).await;
        let b_data = body(b'B');
        let b = try_put(&store, "k", &b_data);
        let check_a = async {
            while a_result.borrow().is_none() {
                env.sleep(Duration::from_millis(10)).await;
            }
            // When A answers, B (still waiting on drive 0) holds the only staging.
            let mut staged = Vec::new();
            for drive in &drives {
                staged.push(staged_count(drive).await);
            }
            staged
        };
        let (b_result, staged_when_a_failed) = futures_util::join!(b, check_a);
        b_result.expect("B, the writer after A's lease, commits");
        let (a_result, a_done_nanos) = a_result.borrow_mut().take().expect("A answered");
        assert!(
            matches!(a_result, Err(Error::LeaseLost)),
            "A's client is told its write failed: {a_result:?}"
        );
        assert!(
            a_done_nanos >= MEMBER_DEADLINE.as_nanos() as u64,
            "A was stuck"
        );
        assert_eq!(
            staged_when_a_failed,
            vec![1; 4],
            "A's staging is gone, B's is there"
        );
        for drive in &drives {
            drive.clear_faults();
        }
        let got = read_key(&store).await;
        assert!(got == b_data, "reads return B's value, never A's");
        for drive in &drives[1..] {
            assert_eq!(staged_count(drive).await, 0, "nothing staged is left");
        }
    });
}

/// At the member: once a commit under a newer lease is accepted, a commit, roll back
/// or delete under the older lease is refused and changes nothing, even when its own
/// expiry looks valid (a clock that lags); and a verb whose lease has expired is
/// refused.
#[test]
fn member_refuses_verbs_of_an_older_lease() {
    let sim = SimExecutor::new(12);
    let env = sim.env();
    sim.block_on(async {
        let drive = SimDrive::new("d0", 1).with_env(env.clone());
        let member = LocalMember::with_leases(drive.clone(), env.clone(), LEASE);
        let locker = KeyLocker::single_in(env.clone());
        let name = LockName::object("bkt", "k");
        let a = locker.lock(&name, LockMode::Exclusive, 1, LEASE).await;
        // A is stuck; B waits and gets the key at A's expiry, with a higher epoch.
        let b = locker.lock(&name, LockMode::Exclusive, 1, LEASE).await;
        assert!(b.lease().epoch > a.lease().epoch);
        assert!(a.keep().await.is_err(), "A knows it lost the key");
        let commit = |meta: &[u8], fence: Fence| Commit {
            bucket: "bkt".into(),
            key: "k".into(),
            version_id: [1; 16],
            data: None,
            meta: meta.to_vec(),
            expect_previous: Expect::Any,
            fence,
        };
        member
            .commit(commit(b"B", b.fence()))
            .await
            .expect("B commits");
        let lagging = Fence {
            epoch: a.lease().epoch,
            expires_at_nanos: u64::MAX,
        };
        let refused = member.commit(commit(b"A", lagging)).await;
        assert_eq!(refused, Err(MemberError::Stale));
        let roll_back = RollBack {
            bucket: "bkt".into(),
            key: "k".into(),
            version_id: [1; 16],
            committed: Expect::Any,
            restore: None,
            give_back: None,
            fence: lagging,
        };
        assert_eq!(member.roll_back(roll_back).await, Err(MemberError::Stale));
        let deleted = member
            .delete_version("bkt", "k", Expect::Any, lagging)
            .await;
        assert_eq!(deleted, Err(MemberError::Stale));
        assert_eq!(
            member.commit(commit(b"A", a.fence())).await,
            Err(MemberError::Stale)
        );
        let meta = drive
            .file_bytes("bkt/k/_meta")
            .expect("B's record is there");
        assert_eq!(meta, b"B", "B's record survives every verb of A");
        // B's own lease runs out too if not refreshed: its late verbs are refused.
        env.sleep(LEASE * 2).await;
        let late = member.commit(commit(b"B2", b.fence())).await;
        assert_eq!(late, Err(MemberError::Stale));
        assert!(
            b.keep().await.is_ok(),
            "nobody waited: B may refresh and go on"
        );
        member
            .commit(commit(b"B2", b.fence()))
            .await
            .expect("refreshed");
        // The member forgets epochs after a lease: its memory stays bounded.
        env.sleep(LEASE * 2).await;
        assert!(member.epochs().is_empty());
    });
}

/// Seeds of the racing-writers simulation in the default run.
const RACE_SEEDS_DEFAULT: u64 = 40;
const RACE_WRITERS: u64 = 3;
const RACE_PUTS_PER_WRITER: u64 = 4;

thread_local! {
    /// Over a sweep: (PUTs acknowledged, PUTs refused for a lost lease), proof that the
    /// race makes holders lose the key.
    static RACE_STATS: std::cell::Cell<(u64, u64)> = const { std::cell::Cell::new((0, 0)) };
}

/// One PUT of the race: when it started and answered, and whether it was acknowledged.
struct Attempt {
    value: u64,
    start_nanos: u64,
    end_nanos: u64,
    acked: bool,
}

/// Writers race for one key while drive 0 hangs now and then for longer than a lease
/// (so holders lose the key mid-write and are fenced); afterwards the key holds an
/// acknowledged value, and no acknowledged write started after that one answered.
#[test]
fn racing_writers_stay_linearizable_across_lost_leases() {
    SeedSweep::new(
        "cargo test -p shoal-shards --test suites -- lease_fencing::racing",
        RACE_SEEDS_DEFAULT,
    )
    .run(|executor: &SimExecutor| {
        let env = executor.env();
        executor
            .run_until(race(env))
            .map_err(|e| format!("simulation did not finish: {e}"))?
    });
    let (acked, lease_lost) = RACE_STATS.with(std::cell::Cell::get);
    eprintln!("racing writers: {acked} PUTs acknowledged, {lease_lost} refused for a lost lease");
    assert!(acked > 0 && lease_lost > 0, "the race must lose leases");
}

async fn race(env: SimEnv) -> Result<(), String> {
    let drives: Vec<SimDrive> = (0..4)
        .map(|i| SimDrive::new(&format!("d{i}"), env.seed() ^ (i + 1)).with_env(env.clone()))
        .collect();
    let config = StoreConfig {
        parity_chunks: Some(2),
        member_deadline: MEMBER_DEADLINE,
        lease_duration: LEASE,
        ..StoreConfig::default()
    };
    let store = Rc::new(
        Store::open_in(drives.clone(), env.clone(), env.clone(), env.seed(), config)
            .await
            .map_err(|e| format!("open: {e}"))?,
    );
    store
        .make_bucket("bkt")
        .await
        .map_err(|e| format!("bucket: {e}"))?;
    let attempts: Rc<RefCell<Vec<Attempt>>> = Rc::default();
    let done = Rc::new(std::cell::Cell::new(0));
    for writer in 0..RACE_WRITERS {
        let (store, env2, attempts, done) = (
            Rc::clone(&store),
            env.clone(),
            Rc::clone(&attempts),
            Rc::clone(&done),
        );
        let mut rng = SmallRng::seed_from_u64(env.random_u64());
        env.spawn(async move {
            for i in 0..RACE_PUTS_PER_WRITER {
                env2.sleep(Duration::from_millis(rng.gen_range(0..1500)))
                    .await;
                let value = writer * 100 + i;
                let start_nanos = env2.monotonic_nanos();
                let result = try_put(&store, "k", &value.to_le_bytes()).await;
                let acked = result.is_ok();
                RACE_STATS.with(|s| {
                    let (a, l) = s.get();
                    let lost = matches!(result, Err(Error::LeaseLost));
                    s.set((a + u64::from(acked), l + u64::from(lost)));
                });
                attempts.borrow_mut().push(Attempt {
                    value,
                    start_nanos,
                    end_nanos: env2.monotonic_nanos(),
                    acked,
                });
            }
            done.set(done.get() + 1);
        });
    }
    let mut rng = SmallRng::seed_from_u64(env.random_u64());
    // Bounded: every writer finishes within its puts' deadlines, so a few rounds do.
    for _ in 0..200 {
        if done.get() == RACE_WRITERS {
            break;
        }
        drives[0].set_faults(SimFaults {
            hang: FaultRule::PathContains("bkt/k/".into()),
            ..SimFaults::default()
        });
        env.sleep(Duration::from_millis(rng.gen_range(500..4000)))
            .await;
        drives[0].clear_faults();
        env.sleep(Duration::from_millis(rng.gen_range(0..1500)))
            .await;
    }
    if done.get() != RACE_WRITERS {
        return Err("writers did not finish".into());
    }
    let attempts = std::mem::take(&mut *attempts.borrow_mut());
    check_race(&store, &attempts).await
}

async fn check_race(store: &SimStore, attempts: &[Attempt]) -> Result<(), String> {
    let got = match store.get_object("bkt", "k", None).await {
        Ok(reader) => reader.read_all().await.map_err(|e| format!("read: {e}"))?,
        Err(e) => return Err(format!("get: {e}")),
    };
    let value = u64::from_le_bytes(got.try_into().map_err(|_| "not a value written")?);
    let winner = attempts
        .iter()
        .find(|a| a.value == value)
        .ok_or(format!("{value} was never written"))?;
    if !winner.acked {
        return Err(format!(
            "{value} was refused to its client but is the value"
        ));
    }
    if let Some(later) = attempts
        .iter()
        .find(|a| a.acked && a.start_nanos > winner.end_nanos)
    {
        return Err(format!(
            "{value} is the value, but {} was acknowledged after it, starting later",
            later.value
        ));
    }
    Ok(())
}

/// A tag update stuck past its lease (between reading the version and writing its new
/// tags) is refused instead of writing the old version back over the next writer's:
/// the tagger's client gets `LeaseLost`, the PUT that took the key commits, and reads
/// return that PUT's bytes with no tags.
#[test]
fn stuck_tag_update_never_overwrites_the_next_write() {
    let sim = SimExecutor::new(13);
    let env = sim.env();
    sim.block_on(async {
        let (store, drives) = open_store(&env).await;
        try_put(&store, "k", &body(b'A'))
            .await
            .expect("first version");
        hang_key_meta(&drives[0]); // the tagger reads there past its lease
        let tagged = Rc::new(RefCell::new(None));
        let (store_t, tagged_t) = (Rc::clone(&store), Rc::clone(&tagged));
        env.spawn(async move {
            let tags = vec![("stale".to_owned(), "yes".to_owned())];
            let result = store_t.set_object_tags("bkt", "k", tags).await;
            *tagged_t.borrow_mut() = Some(result.map(|_| ()));
        });
        env.sleep(LEASE / 2).await;
        let b_data = body(b'B');
        try_put(&store, "k", &b_data)
            .await
            .expect("B, the writer after the tagger's lease, commits");
        while tagged.borrow().is_none() {
            env.sleep(Duration::from_millis(10)).await;
        }
        let tag_result = tagged.borrow_mut().take().expect("tagger answered");
        assert!(
            matches!(tag_result, Err(Error::LeaseLost)),
            "the tagger is told its update failed: {tag_result:?}"
        );
        for drive in &drives {
            drive.clear_faults();
        }
        let got = read_key(&store).await;
        assert!(got == b_data, "reads return B's bytes, never A's");
        let (_, tags) = store.object_tags("bkt", "k").await.expect("tags");
        assert!(tags.is_empty(), "B's version has no tags: {tags:?}");
    });
}
