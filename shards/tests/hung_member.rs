//! A member that never answers costs a request at most one member deadline, never the
//! request itself: on a 4+2 set with one drive hung (every operation on it pending
//! forever), PUT (inline and streamed), HEAD, GET, LIST and DELETE finish with the right
//! result within one `member_deadline` plus slack. The request that finds the hang pays
//! the deadline; the member is then marked slow, so later reads do not wait for it and
//! later writes give it a probe deadline (a tenth) per fan-out.
//!
//! The hang spares bucket records (`.shoal/buckets/`): their verbs belong to another
//! family, converted separately; this test is about the write path.

use crate::common;

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::{TestStore, body, run};
use shoal_io::{AlignedBuf, DirEntry, Drive, DriveResult, SimClock, SimDrive, SimFile, SpaceInfo};
use shoal_shards::object::scan::index_audit::audit_pass;
use shoal_shards::object::scan::{ScanHooks, ScanPace};
use shoal_shards::set::quorum::OVERDUE_CHANGES_MAX;
use shoal_shards::{Error, ListQuery, PutOptions, SliceSource, Store, StoreConfig};

/// Long enough that a request's own work on a busy CI machine stays well inside it.
const DEADLINE: Duration = Duration::from_millis(500);
/// What one request may take: one deadline (the fan-out that finds the hang), a few
/// probe deadlines (a tenth each) and room for a slow CI machine. Before slow members
/// got probe deadlines, a DELETE took three deadlines and a streamed PUT two.
const REQUEST_MAX: Duration = Duration::from_secs(1); // two deadlines
/// How long the test waits before calling a request hung.
const TEST_BOUND: Duration = Duration::from_secs(20);

/// A `SimDrive` whose operations wait while `hang` is set (for ever, unless `release`
/// lets them go).
#[derive(Clone)]
struct Hung {
    inner: SimDrive,
    hang: Rc<Cell<bool>>,
    /// Operations that found the drive hung.
    stuck: Rc<Cell<u64>>,
    /// Reads are not held up by the hang (only changes are).
    reads_pass: Rc<Cell<bool>>,
}

impl Hung {
    fn new(index: u64) -> Self {
        Self {
            inner: SimDrive::new(&format!("d{index}"), index + 1),
            hang: Rc::new(Cell::new(false)),
            stuck: Rc::new(Cell::new(0)),
            reads_pass: Rc::new(Cell::new(false)),
        }
    }

    async fn pass_read(&self, path: &str) {
        if !self.reads_pass.get() {
            self.pass(path).await;
        }
    }

    async fn pass(&self, path: &str) {
        if self.hang.get() && !path.starts_with(".shoal/buckets") {
            self.stuck.set(self.stuck.get() + 1);
            while self.hang.get() {
                monoio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
}

impl Drive for Hung {
    type File = SimFile;
    fn name(&self) -> &str {
        self.inner.name()
    }
    async fn read_file(&self, path: &str) -> DriveResult<Vec<u8>> {
        self.pass_read(path).await;
        self.inner.read_file(path).await
    }
    async fn write_file_atomic(&self, path: &str, data: &[u8]) -> DriveResult<()> {
        self.pass(path).await;
        self.inner.write_file_atomic(path, data).await
    }
    async fn create(&self, path: &str, size_hint_bytes: u64) -> DriveResult<SimFile> {
        self.pass(path).await;
        self.inner.create(path, size_hint_bytes).await
    }
    async fn open(&self, path: &str) -> DriveResult<SimFile> {
        self.pass_read(path).await;
        self.inner.open(path).await
    }
    async fn write_at(
        &self,
        file: &SimFile,
        buf: AlignedBuf,
        offset: u64,
    ) -> (DriveResult<()>, AlignedBuf) {
        self.pass("").await;
        self.inner.write_at(file, buf, offset).await
    }
    async fn read_at(
        &self,
        file: &SimFile,
        buf: AlignedBuf,
        offset: u64,
    ) -> (DriveResult<()>, AlignedBuf) {
        self.pass_read("").await;
        self.inner.read_at(file, buf, offset).await
    }
    async fn set_len(&self, file: &SimFile, len_bytes: u64) -> DriveResult<()> {
        self.pass("").await;
        self.inner.set_len(file, len_bytes).await
    }
    async fn sync(&self, file: &SimFile) -> DriveResult<()> {
        self.pass("").await;
        self.inner.sync(file).await
    }
    async fn close(&self, file: SimFile) -> DriveResult<()> {
        self.pass("").await;
        self.inner.close(file).await
    }
    async fn rename(&self, from: &str, to: &str) -> DriveResult<()> {
        self.pass(from).await;
        self.inner.rename(from, to).await
    }
    async fn remove_file(&self, path: &str) -> DriveResult<()> {
        self.pass(path).await;
        self.inner.remove_file(path).await
    }
    async fn remove_dir_all(&self, path: &str) -> DriveResult<()> {
        self.pass(path).await;
        self.inner.remove_dir_all(path).await
    }
    async fn remove_dir_if_empty(&self, path: &str) -> DriveResult<bool> {
        self.pass(path).await;
        self.inner.remove_dir_if_empty(path).await
    }
    async fn create_dir_all(&self, path: &str) -> DriveResult<()> {
        self.pass(path).await;
        self.inner.create_dir_all(path).await
    }
    async fn list_dir(&self, path: &str) -> DriveResult<Vec<DirEntry>> {
        self.pass_read(path).await;
        self.inner.list_dir(path).await
    }
    async fn space(&self) -> DriveResult<SpaceInfo> {
        self.inner.space().await
    }
}

/// A 4+2 store over `drives` with `DEADLINE` per member call, and bucket "bkt".
async fn store_on(drives: Vec<Hung>) -> TestStore<Hung> {
    let config = StoreConfig {
        parity_chunks: Some(2),
        member_deadline: DEADLINE,
        ..StoreConfig::default()
    };
    let clock = SimClock::new(1_700_000_000_000_000_000);
    let store = Store::open(drives, clock, 7, config)
        .await
        .expect("open store");
    store.make_bucket("bkt").await.expect("make bucket");
    store
}

/// Runs `request`, failing the test if it is not done within `TEST_BOUND`; returns its
/// output and how long it took.
async fn bounded<T>(what: &str, request: impl Future<Output = T>) -> (T, Duration) {
    let start = Instant::now();
    let out = monoio::time::timeout(TEST_BOUND, request)
        .await
        .unwrap_or_else(|_| {
            panic!("{what} still running after {TEST_BOUND:?}: a hung member hangs it")
        });
    (out, start.elapsed())
}

fn assert_within_deadlines(what: &str, took: Duration) {
    let bound = REQUEST_MAX;
    eprintln!("{what}: {took:?}");
    assert!(took <= bound, "{what} took {took:?}, more than {bound:?}");
}

/// Every request of the write path, and the reads after it, with one of six drives hung.
#[test]
fn requests_finish_despite_a_hung_member() {
    run(async {
        let hang = Rc::new(Cell::new(false));
        let drives: Vec<Hung> = (0..6).map(Hung::new).collect();
        let hung_index = 2;
        let mut drives = drives;
        drives[hung_index].hang = Rc::clone(&hang);
        let store = store_on(drives).await;
        hang.set(true);

        let small = body(1, 1000);
        let large = body(2, 3 * (1 << 20) + 12345);
        for (key, data) in [("small", &small), ("large", &large)] {
            let options = PutOptions {
                size_bytes: Some(data.len() as u64),
                ..PutOptions::default()
            };
            let what = format!("PUT {key}");
            let (put, took) = bounded(
                &what,
                store.put_object("bkt", key, &options, &mut SliceSource(data)),
            )
            .await;
            let info = put.unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(info.size_bytes, data.len() as u64);
            assert_within_deadlines(&what, took);

            let what = format!("HEAD {key}");
            let (head, took) = bounded(&what, store.head_object("bkt", key)).await;
            assert_eq!(head.expect("head").etag, info.etag);
            assert_within_deadlines(&what, took);

            let what = format!("GET {key}");
            let (got, took) = bounded(&what, async {
                store.get_object("bkt", key, None).await?.read_all().await
            })
            .await;
            assert_eq!(got.expect("get"), *data, "{what} returns the bytes put");
            assert_within_deadlines(&what, took);

            let what = format!("LIST after PUT {key}");
            let (listed, took) =
                bounded(&what, store.list_objects("bkt", &ListQuery::default())).await;
            let listed = listed.unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(
                listed
                    .objects
                    .iter()
                    .map(|o| o.key.as_str())
                    .collect::<Vec<_>>(),
                vec![key],
                "{what} lists exactly the object put"
            );
            assert_within_deadlines(&what, took);

            let what = format!("DELETE {key}");
            let (deleted, took) = bounded(&what, store.delete_object("bkt", key)).await;
            assert!(deleted.expect("delete"), "{what}: the version existed");
            assert_within_deadlines(&what, took);

            let (gone, _) = bounded("HEAD after DELETE", store.head_object("bkt", key)).await;
            assert!(matches!(gone, Err(Error::NoSuchKey)), "{gone:?}");
        }
    });
}

/// Calls that change a drive whose writes hang (its reads answer) are not cut at
/// their deadline: they wait for the drive while their requests go on without it, at most `OVERDUE_CHANGES_MAX` of them
/// (later ones fail without reaching the drive), and once the drive answers they end
/// and leave it whole: each key's record written and the drive's listing index
/// agreeing with its records.
#[test]
fn changes_cut_at_their_deadline_run_on_when_the_drive_answers() {
    run(async {
        let drives: Vec<Hung> = (0..6).map(Hung::new).collect();
        let hung = drives[2].clone();
        let store = store_on(drives).await;
        hung.reads_pass.set(true);
        hung.hang.set(true);
        let overdue = || store.drive_counts(2).overdue_changes;
        let mut keys = Vec::new();
        let mut stuck_before_refusals = None;
        for wave in 0..10 {
            if overdue() >= OVERDUE_CHANGES_MAX as u64 && stuck_before_refusals.is_none() {
                stuck_before_refusals = Some(hung.stuck.get());
            }
            let puts = (0..10).map(|i| {
                let key = format!("w{wave}/k{i}");
                keys.push(key.clone());
                let store = &store;
                async move {
                    let data = body(wave * 10 + i, 100);
                    let options = PutOptions {
                        size_bytes: Some(data.len() as u64),
                        ..PutOptions::default()
                    };
                    let mut source = SliceSource(&data);
                    let put = store.put_object("bkt", &key, &options, &mut source);
                    put.await.unwrap_or_else(|e| panic!("PUT {key}: {e}"));
                }
            });
            bounded("a wave of PUTs", futures_util::future::join_all(puts)).await;
        }
        let held = overdue();
        eprintln!(
            "stuck {} timeouts {} held {held}",
            hung.stuck.get(),
            store.drive_counts(2).timeouts
        );
        assert!(
            held >= OVERDUE_CHANGES_MAX as u64 && held < OVERDUE_CHANGES_MAX as u64 + 10,
            "overdue calls: {held}"
        );
        let stuck = stuck_before_refusals.expect("the bound was reached");
        assert_eq!(
            hung.stuck.get(),
            stuck,
            "past the bound no call reaches the hung drive"
        );

        hung.hang.set(false);
        let ((), _) = bounded("the overdue calls", async {
            while overdue() > 0 {
                monoio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        let on_hung = (keys.iter())
            .filter(|key| hung.inner.file_bytes(&format!("bkt/{key}/_meta")).is_some())
            .count() as u64;
        assert_eq!(on_hung, held, "each overdue commit wrote its record");
        let never = || false;
        let hooks = ScanHooks {
            busy: &never,
            stopping: &never,
        };
        let pace = ScanPace::new(1_000_000, 1 << 40, None, Duration::ZERO);
        assert!(audit_pass(&store, &pace, &hooks).await);
        let audit = store.scan_progress();
        assert!(audit.index_keys_audited >= 6 * 50, "{audit:?}");
        assert_eq!(audit.index_mismatches, 0, "{audit:?}");
    });
}
