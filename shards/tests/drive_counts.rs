//! The drive metrics' sources, as the store keeps them per drive: on a 2+2 set of
//! simulated drives, a GET through one drive's bit flips counts bitrot on that drive
//! only (and only when its chunk is read), a GET through one drive's read errors counts
//! I/O errors on that drive only, the verbs a load used have latencies, and a hung
//! drive a write left behind at quorum counts its timeout once its deadline passes.
//! Every GET still returns the exact bytes.

use crate::common;

use std::time::Duration;

use common::{MIB, Sim, body, get, put, run, store};
use shoal_io::{FaultRule, SimClock, SimFaults};
use shoal_shards::member::{HealthCounts, Verb};
use shoal_shards::object::multipart::UploadOptions;
use shoal_shards::{Store, StoreConfig};

const DRIVES: usize = 4;

fn counts_of<D: shoal_io::Drive>(store: &common::TestStore<D>) -> Vec<HealthCounts> {
    (0..DRIVES).map(|i| store.drive_counts(i)).collect()
}

/// For each drive in turn, `faults` on it alone during one GET; returns per drive how
/// much `field` grew while it was the damaged one, and checks no other drive's did.
fn grew_per_drive(faults: fn() -> SimFaults, field: fn(&HealthCounts) -> u64) -> Vec<u64> {
    run(async {
        let mut backend = Sim { made: vec![] };
        let drives = common::Backend::drives(&mut backend, DRIVES);
        let store = store(drives.clone(), 2).await;
        let data = body(7, 3 * MIB + 5);
        put(&store, "k", &data).await;
        let mut grew = Vec::new();
        for damaged in 0..DRIVES {
            let before = counts_of(&store);
            drives[damaged].set_faults(faults());
            let got = get(&store, "k").await.expect("get around one bad drive");
            drives[damaged].clear_faults();
            assert!(got == data, "drive {damaged} damaged: wrong bytes");
            let after = counts_of(&store);
            for other in (0..DRIVES).filter(|&d| d != damaged) {
                assert_eq!(field(&after[other]), field(&before[other]), "drive {other}");
            }
            grew.push(field(&after[damaged]) - field(&before[damaged]));
        }
        grew
    })
}

/// Bit flips in what a drive returns are bitrot on that drive, once per GET that reads
/// its chunk (the drive is then not asked again during that read): the two drives of
/// data chunks count one each, the parity drives none (not read while data is good).
#[test]
fn bitrot_counts_on_the_flipping_drive_only() {
    let faults = || SimFaults {
        read_bit_flip: FaultRule::PathContains("part.".into()),
        ..SimFaults::default()
    };
    let grew = grew_per_drive(faults, |c| c.bitrot);
    assert!(grew.iter().all(|&g| g <= 1), "{grew:?}");
    assert_eq!(grew.iter().sum::<u64>(), 2, "{grew:?}");
}

/// Read errors of one drive are I/O errors of that drive; at least the drives a GET
/// asks (three metadata copies, two data chunks) count theirs.
#[test]
fn read_errors_count_on_the_failing_drive_only() {
    let faults = || SimFaults {
        read_error: FaultRule::Always,
        ..SimFaults::default()
    };
    let grew = grew_per_drive(faults, |c| c.io_errors);
    assert!(grew.iter().filter(|&&g| g > 0).count() >= 3, "{grew:?}");
    assert!(grew.iter().all(|&g| g <= 3), "{grew:?}");
}

/// A put and a get leave a latency on every drive for the write verbs (all drives are
/// written) and on some drive for the read verbs.
#[test]
fn a_load_leaves_latencies_of_its_verbs() {
    run(async {
        let mut backend = Sim { made: vec![] };
        let drives = common::Backend::drives(&mut backend, DRIVES);
        let store = store(drives, 2).await;
        let data = body(3, 2 * MIB);
        put(&store, "k", &data).await;
        assert!(get(&store, "k").await.expect("get") == data);
        let counts = counts_of(&store);
        for (drive, c) in counts.iter().enumerate() {
            for verb in [
                Verb::StageBegin,
                Verb::StageAppend,
                Verb::StageFinish,
                Verb::Commit,
            ] {
                let calls = c.latency[verb.index()];
                assert!(calls.count > 0, "drive {drive} {}", verb.name());
            }
            assert_eq!((c.io_errors, c.unavailable, c.bitrot), (0, 0, 0));
        }
        for verb in [Verb::ReadMeta, Verb::OpenRecords, Verb::ReadRecords] {
            let calls: u64 = counts.iter().map(|c| c.latency[verb.index()].count).sum();
            assert!(calls > 0, "{}", verb.name());
        }
    });
}

/// A write that returns at quorum (CreateMultipartUpload's record) leaves the call to a
/// hung drive running; when that call passes its deadline the drive's timeout is
/// counted and timed, though no request waits for it any more.
#[test]
fn a_timeout_left_behind_by_a_write_is_counted() {
    const DEADLINE: Duration = Duration::from_millis(200);
    run(async {
        let mut backend = Sim { made: vec![] };
        let drives = common::Backend::drives(&mut backend, DRIVES);
        let config = StoreConfig {
            parity_chunks: Some(2),
            member_deadline: DEADLINE,
            ..StoreConfig::default()
        };
        let clock = SimClock::new(1_700_000_000_000_000_000);
        let store = Store::open(drives.clone(), clock, 42, config)
            .await
            .expect("open store");
        store.make_bucket("bkt").await.expect("make bucket");
        let hung = 1;
        drives[hung].set_faults(SimFaults {
            hang: FaultRule::PathContains("_upload".into()),
            ..SimFaults::default()
        });
        store
            .create_multipart_upload("bkt", "k", &UploadOptions::default())
            .await
            .expect("an upload at write quorum");
        assert_eq!(store.drive_counts(hung).timeouts, 0, "still running");
        monoio::time::sleep(DEADLINE * 3).await;
        drives[hung].clear_faults();
        let counts = store.drive_counts(hung);
        assert_eq!(counts.timeouts, 1, "{counts:?}");
        assert!(counts.latency[Verb::WriteUpload.index()].count >= 1);
        for other in (0..DRIVES).filter(|&d| d != hung) {
            assert_eq!(store.drive_counts(other).timeouts, 0, "drive {other}");
        }
    });
}
