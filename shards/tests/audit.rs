//! The offline auditor (`tools::audit`) over simulated drives: keys merged from the
//! members' walks across many batches are each audited exactly once, whatever each
//! member holds; the drive report tells blank and foreign drives from the pool's own.

use crate::common;

use common::{MIB, Sim, body, put, run, store};
use shoal_io::{Drive, SimClock, SimDrive};
use shoal_shards::tools::audit::{
    AuditSink, AuditStart, DriveReport, DriveState, GivenDrive, MetaState, Progress, Summary,
    VersionReport, VersionState, audit,
};
use shoal_shards::{Store, StoreConfig};

/// Keeps what the audit reports.
#[derive(Default)]
struct Collect {
    drives: Vec<DriveReport>,
    versions: Vec<VersionReport>,
    progress_calls: u64,
}

impl AuditSink for Collect {
    fn start(&mut self, start: &AuditStart<'_>) {
        self.drives = start.drives.to_vec();
    }

    fn version(&mut self, report: &VersionReport) {
        self.versions.push(report.clone());
    }

    fn progress(&mut self, _: &Progress<'_>) {
        self.progress_calls += 1;
    }
}

/// A drive report line: path, state, (set, drive) it is or claims to be.
type DriveLine = (String, DriveState, Option<(usize, usize)>);

fn given(drives: &[SimDrive]) -> Vec<GivenDrive<SimDrive>> {
    drives
        .iter()
        .map(|d| GivenDrive {
            path: d.name().to_owned(),
            drive: Ok(d.clone()),
        })
        .collect()
}

async fn audit_all(drives: &[SimDrive]) -> (Result<Summary, String>, Collect) {
    let mut sink = Collect::default();
    let summary = audit(given(drives), &mut sink).await;
    (summary, sink)
}

/// 2,345 keys (more than two walk batches of 1,000), some of whose metadata one drive
/// lost: every key is reported once, in key order, the damaged ones degraded.
#[test]
fn keys_across_walk_batches_are_each_audited_once() {
    run(async {
        let mut sim = Sim { made: vec![] };
        let drives = common::Backend::drives(&mut sim, 6);
        let keys: Vec<String> = (0..2345).map(|i| format!("k/{i:05}")).collect();
        {
            let store = store(drives.clone(), 2).await;
            for (i, key) in keys.iter().enumerate() {
                put(&store, key, &body(i as u64, 100)).await;
            }
            put(&store, "big", &body(7, 3 * MIB)).await;
        }
        let lost: Vec<&String> = keys[1500..1600].iter().collect();
        for key in &lost {
            let path = format!("bkt/{key}/_meta");
            drives[0]
                .remove_file(&path)
                .await
                .expect("remove a metadata record");
        }
        let (summary, sink) = audit_all(&drives).await;
        let summary = summary.expect("audited");
        let reported: Vec<&str> = sink.versions.iter().map(|v| v.key.as_str()).collect();
        let mut expected: Vec<&str> = keys.iter().map(String::as_str).collect();
        expected.push("big");
        expected.sort_unstable();
        assert_eq!(reported, expected);
        assert_eq!(
            (summary.healthy, summary.degraded, summary.unreadable),
            (2246, 100, 0)
        );
        for version in &sink.versions {
            let damaged = lost.contains(&&version.key);
            let want = if damaged {
                VersionState::Degraded
            } else {
                VersionState::Healthy
            };
            assert_eq!(version.state, want, "{}", version.key);
            if damaged {
                assert_eq!(version.problems.len(), 1, "{version:?}");
                assert_eq!(version.problems[0].metadata, MetaState::Missing);
                assert_eq!((version.chunks_ok, version.chunks_total), (5, 6));
            }
        }
        let big = sink.versions.iter().find(|v| v.key == "big").expect("big");
        assert_eq!(
            (big.chunks_ok, big.chunks_total, big.stripes_total),
            (18, 18, 3)
        );
        assert_eq!(sink.progress_calls, 2346);
    });
}

/// A blank drive and a drive of another deployment are reported as such; the pool's
/// own drives are placed by their format records, whatever the order given.
#[test]
fn blank_and_foreign_drives_are_reported() {
    run(async {
        let mut sim = Sim { made: vec![] };
        let ours = common::Backend::drives(&mut sim, 4);
        drop(store(ours.clone(), 2).await);
        let theirs = vec![
            SimDrive::new("t0", 50),
            SimDrive::new("t1", 51),
            SimDrive::new("t2", 52),
            SimDrive::new("t3", 53),
        ];
        // Another deployment: another seed, so another deployment id.
        let config = StoreConfig {
            parity_chunks: Some(2),
            ..StoreConfig::default()
        };
        let other = Store::open(theirs.clone(), SimClock::new(1), 7, config).await;
        drop(other.expect("open another deployment"));
        let blank = SimDrive::new("blank", 60);
        let drives = vec![
            ours[3].clone(),
            theirs[0].clone(),
            ours[1].clone(),
            blank,
            ours[0].clone(),
        ];
        let (summary, sink) = audit_all(&drives).await;
        assert_eq!(summary.expect("audited"), Summary::default());
        let states: Vec<DriveLine> = (sink.drives.iter())
            .map(|d| (d.path.clone(), d.state, d.place))
            .collect();
        let name = |i: usize| drives[i].name().to_owned();
        assert_eq!(
            states,
            [
                (name(0), DriveState::Ok, Some((0, 3))),
                (name(1), DriveState::Foreign, Some((0, 0))),
                (name(2), DriveState::Ok, Some((0, 1))),
                (name(3), DriveState::Blank, None),
                (name(4), DriveState::Ok, Some((0, 0))),
                ("(not given)".to_owned(), DriveState::NotGiven, Some((0, 2))),
            ]
        );
        let (nothing, _) = audit_all(&[SimDrive::new("b", 61)]).await;
        assert!(nothing.is_err());
    });
}
