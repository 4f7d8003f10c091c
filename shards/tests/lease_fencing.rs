//! Leases and fencing as a user meets them, in the seeded simulation (virtual time):
//! a writer stuck past its lease loses the key to the next writer, whose version wins;
//! the stuck writer's commit is refused, its client gets an error (`LeaseLost`, which
//! the S3 edge answers 503: nothing was written, a retry is safe), and nothing of it
//! is left behind. And at the member: a verb under an older epoch than one accepted is
//! refused, whatever its own expiry says.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use shoal_io::{Drive, Env, FaultRule, SimDrive, SimEnv, SimExecutor, SimFaults};
use shoal_shards::member::LocalMember;
use shoal_shards::member::MemberError;
use shoal_shards::member::verbs::write::{Commit, Expect, Fence, RollBack, WriteVerbs};
use shoal_shards::set::key_lock::{LockMode, LockName};
use shoal_shards::set::shard_lock::KeyLocker;
use shoal_shards::{Error, PutOptions, SliceSource, Store, StoreConfig};

const LEASE: Duration = Duration::from_secs(1);
/// Longer than the lease, so a hung member keeps a writer past it.
const MEMBER_DEADLINE: Duration = Duration::from_secs(5);
const TMP: &str = ".shoal/tmp";

type SimStore = Store<SimDrive, SimEnv, SimEnv>;

fn body(fill: u8) -> Vec<u8> {
    // Chunks over the inline limit: the put stages files, so leftovers can be seen.
    vec![fill; 300 << 10]
}

async fn put(store: &SimStore, key: &str, data: &[u8]) -> shoal_shards::Result<()> {
    let options = PutOptions {
        size_bytes: Some(data.len() as u64),
        ..PutOptions::default()
    };
    store
        .put_object("bkt", key, &options, &mut SliceSource(data))
        .await
        .map(|_| ())
}

async fn staged_count(drive: &SimDrive) -> usize {
    drive.list_dir(TMP).await.map_or(0, |entries| entries.len())
}

/// Writer A holds the key and hangs on a member past its lease; writer B takes the key
/// at A's expiry and commits; A wakes, is refused, and its client gets `LeaseLost`;
/// reads return B's value and A's staged data is gone.
#[test]
fn stuck_writer_is_fenced_and_the_next_writer_wins() {
    let sim = SimExecutor::new(11);
    let env = sim.env();
    sim.block_on(async {
        let drives: Vec<SimDrive> = (0..4)
            .map(|i| SimDrive::new(&format!("d{i}"), i + 1).with_env(env.clone()))
            .collect();
        let config = StoreConfig {
            parity_chunks: Some(2),
            member_deadline: MEMBER_DEADLINE,
            lease_duration: LEASE,
            ..StoreConfig::default()
        };
        let store = Rc::new(
            Store::open_in(drives.clone(), env.clone(), env.clone(), 3, config)
                .await
                .expect("open"),
        );
        store.make_bucket("bkt").await.expect("bucket");
        // Drive 0 hangs reading the key's metadata: whoever holds the key waits a
        // member deadline there, longer than its lease.
        drives[0].set_faults(SimFaults {
            hang: FaultRule::PathContains("bkt/k/_meta".into()),
            ..SimFaults::default()
        });
        let a_result = Rc::new(RefCell::new(None));
        let (store_a, result_a, env_a) = (Rc::clone(&store), Rc::clone(&a_result), env.clone());
        env.spawn(async move {
            let result = put(&store_a, "k", &body(b'A')).await;
            *result_a.borrow_mut() = Some((result, env_a.monotonic_nanos()));
        });
        env.sleep(LEASE / 2).await;
        let b_data = body(b'B');
        let b = put(&store, "k", &b_data);
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
        let got = store
            .get_object("bkt", "k", None)
            .await
            .expect("get")
            .read_all()
            .await
            .expect("read");
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
