//! Beyond quorum, the store says "cannot know", never "does not exist". A drive whose
//! folder was emptied (a mount point whose filesystem is gone) answers "not found" to
//! everything until a drive check takes it offline; such answers must not add up to
//! `NoSuchBucket`, `NoSuchKey`, an empty listing or "no buckets". Run on simulated
//! drives (a wrapper that hides a drive) and on real folders (emptied and filled
//! again).

use crate::common;

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use common::*;
use shoal_io::{
    AlignedBuf, DirDrive, DirEntry, Drive, DriveError, DriveResult, SimDrive, SpaceInfo,
};
use shoal_shards::{Error, ListQuery, PutOptions, SliceSource};

/// A drive that, while hidden, answers "not found" to everything, as a drive whose
/// folder was removed does.
#[derive(Clone)]
struct Hideable {
    inner: SimDrive,
    hidden: Rc<Cell<bool>>,
}

impl Hideable {
    fn check(&self) -> DriveResult<()> {
        if self.hidden.get() {
            Err(DriveError::NotFound)
        } else {
            Ok(())
        }
    }
}

impl Drive for Hideable {
    type File = <SimDrive as Drive>::File;

    fn name(&self) -> &str {
        self.inner.name()
    }
    async fn read_file(&self, path: &str) -> DriveResult<Vec<u8>> {
        self.check()?;
        self.inner.read_file(path).await
    }
    async fn write_file_atomic(&self, path: &str, data: &[u8]) -> DriveResult<()> {
        self.check()?;
        self.inner.write_file_atomic(path, data).await
    }
    async fn create(&self, path: &str, size_hint_bytes: u64) -> DriveResult<Self::File> {
        self.check()?;
        self.inner.create(path, size_hint_bytes).await
    }
    async fn open(&self, path: &str) -> DriveResult<Self::File> {
        self.check()?;
        self.inner.open(path).await
    }
    async fn write_at(
        &self,
        file: &Self::File,
        buf: AlignedBuf,
        offset: u64,
    ) -> (DriveResult<()>, AlignedBuf) {
        match self.check() {
            Ok(()) => self.inner.write_at(file, buf, offset).await,
            Err(e) => (Err(e), buf),
        }
    }
    async fn read_at(
        &self,
        file: &Self::File,
        buf: AlignedBuf,
        offset: u64,
    ) -> (DriveResult<()>, AlignedBuf) {
        match self.check() {
            Ok(()) => self.inner.read_at(file, buf, offset).await,
            Err(e) => (Err(e), buf),
        }
    }
    async fn set_len(&self, file: &Self::File, len_bytes: u64) -> DriveResult<()> {
        self.check()?;
        self.inner.set_len(file, len_bytes).await
    }
    async fn sync(&self, file: &Self::File) -> DriveResult<()> {
        self.check()?;
        self.inner.sync(file).await
    }
    async fn close(&self, file: Self::File) -> DriveResult<()> {
        self.inner.close(file).await
    }
    async fn rename(&self, from: &str, to: &str) -> DriveResult<()> {
        self.check()?;
        self.inner.rename(from, to).await
    }
    async fn remove_file(&self, path: &str) -> DriveResult<()> {
        self.check()?;
        self.inner.remove_file(path).await
    }
    async fn remove_dir_all(&self, path: &str) -> DriveResult<()> {
        self.check()?;
        self.inner.remove_dir_all(path).await
    }
    async fn remove_dir_if_empty(&self, path: &str) -> DriveResult<bool> {
        self.check()?;
        self.inner.remove_dir_if_empty(path).await
    }
    async fn create_dir_all(&self, path: &str) -> DriveResult<()> {
        self.check()?;
        self.inner.create_dir_all(path).await
    }
    async fn list_dir(&self, path: &str) -> DriveResult<Vec<DirEntry>> {
        self.check()?;
        self.inner.list_dir(path).await
    }
    async fn space(&self) -> DriveResult<SpaceInfo> {
        self.check()?;
        self.inner.space().await
    }
}

/// True for the errors that mean "try again later" (503 at the HTTP edge).
fn unknowable<T: std::fmt::Debug>(result: &Result<T, Error>) -> bool {
    matches!(
        result,
        Err(Error::InsufficientReadQuorum { .. }
            | Error::VersionUndecided { .. }
            | Error::InsufficientWriteQuorum { .. })
    )
}

/// Every bucket and object request, with 3 of 4 drives answering "not found" to
/// everything: each must give a quorum error, and nothing may change.
async fn assert_all_unknowable<D: Drive>(store: &TestStore<D>) {
    let list = ListQuery::default();
    let put_options = PutOptions {
        size_bytes: Some(5),
        ..PutOptions::default()
    };
    let head_bucket = store.head_bucket("bkt").await;
    assert!(unknowable(&head_bucket), "HeadBucket: {head_bucket:?}");
    let exists = store.bucket_exists("bkt").await;
    assert!(unknowable(&exists), "bucket_exists: {exists:?}");
    let head = store.head_object("bkt", "k").await;
    assert!(unknowable(&head), "HeadObject: {head:?}");
    let got = get(store, "k").await;
    assert!(unknowable(&got), "GetObject: {:?}", got.map(|g| g.len()));
    let missing = get(store, "never-written").await;
    assert!(
        unknowable(&missing),
        "GetObject of a missing key: {:?}",
        missing.map(|g| g.len())
    );
    let listed = store.list_objects("bkt", &list).await;
    assert!(unknowable(&listed), "ListObjects: {listed:?}");
    let buckets = store.list_buckets().await;
    assert!(unknowable(&buckets), "ListBuckets: {buckets:?}");
    let deleted = store.delete_object("bkt", "k").await;
    assert!(unknowable(&deleted), "DeleteObject: {deleted:?}");
    let put = store
        .put_object("bkt", "new", &put_options, &mut SliceSource(b"hello"))
        .await;
    assert!(unknowable(&put), "PutObject: {put:?}");
    let made = store.make_bucket("other").await;
    assert!(unknowable(&made), "CreateBucket: {made:?}");
    let dropped = store.delete_bucket("bkt").await;
    assert!(unknowable(&dropped), "DeleteBucket: {dropped:?}");
}

/// After the drives return, everything answers as before: the object is exact, the
/// bucket is listed, and nothing the refused requests named exists.
async fn assert_all_back<D: Drive>(store: &TestStore<D>, data: &[u8]) {
    store.head_bucket("bkt").await.expect("HeadBucket");
    assert!(get(store, "k").await.expect("GetObject") == data);
    let page = store
        .list_objects("bkt", &ListQuery::default())
        .await
        .expect("ListObjects");
    let keys: Vec<&str> = page.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["k"]);
    let buckets = store.list_buckets().await.expect("ListBuckets");
    let names: Vec<&str> = buckets.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["bkt"]);
    assert!(matches!(get(store, "new").await, Err(Error::NoSuchKey)));
    assert!(matches!(
        store.head_bucket("other").await,
        Err(Error::NoSuchBucket)
    ));
}

/// With 3 of 4 simulated drives answering "not found" to everything, every bucket and
/// object request is a quorum error (503), never NoSuchBucket/NoSuchKey; when they
/// answer again, every request succeeds as before.
#[test]
fn vanished_sim_drives_are_not_absence() {
    run(async {
        let hidden: Vec<Rc<Cell<bool>>> = (0..4).map(|_| Rc::new(Cell::new(false))).collect();
        let drives: Vec<Hideable> = (0..4u64)
            .zip(&hidden)
            .map(|(i, hidden)| Hideable {
                inner: SimDrive::new(&format!("d{i}"), i + 1),
                hidden: hidden.clone(),
            })
            .collect();
        let store = store(drives, 2).await;
        let data = body(7, 3 * MIB + 5);
        put(&store, "k", &data).await;
        for h in &hidden[1..] {
            h.set(true);
        }
        assert_all_unknowable(&store).await;
        for h in &hidden {
            h.set(false);
        }
        assert_all_back(&store, &data).await;
    });
}

/// One drive gone (within parity) changes no answer: the object reads back, a key
/// that was never written is still NoSuchKey and an unknown bucket NoSuchBucket.
#[test]
fn one_vanished_drive_changes_no_answer() {
    run(async {
        let hidden = Rc::new(Cell::new(false));
        let drives: Vec<Hideable> = (0..4u64)
            .map(|i| Hideable {
                inner: SimDrive::new(&format!("d{i}"), i + 1),
                hidden: if i == 2 {
                    hidden.clone()
                } else {
                    Rc::new(Cell::new(false))
                },
            })
            .collect();
        let store = store(drives, 2).await;
        let data = body(8, 100_000);
        put(&store, "k", &data).await;
        hidden.set(true);
        assert!(get(&store, "k").await.unwrap() == data);
        assert!(matches!(get(&store, "never").await, Err(Error::NoSuchKey)));
        assert!(matches!(
            store.head_bucket("nope").await,
            Err(Error::NoSuchBucket)
        ));
        let page = store.list_objects("bkt", &ListQuery::default()).await;
        assert_eq!(page.unwrap().objects.len(), 1);
        let names: Vec<String> = store
            .list_buckets()
            .await
            .unwrap()
            .into_iter()
            .map(|b| b.name)
            .collect();
        assert_eq!(names, ["bkt"]);
    });
}

/// Moves every entry of a drive folder into `aside` (or back): the folder stays, as a
/// mount point whose filesystem is gone does, but holds nothing.
fn move_entries(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("aside folder");
    for entry in std::fs::read_dir(from).expect("list drive folder") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        assert!(
            !target.exists(),
            "{} was written meanwhile",
            target.display()
        );
        std::fs::rename(entry.path(), target).expect("move entry");
    }
}

/// The same with real drive folders emptied while the store runs (before any drive
/// check could notice), then filled again.
#[test]
fn emptied_drive_folders_are_not_absence() {
    run(async {
        let root = tempfile::tempdir().expect("tempdir");
        let folders: Vec<PathBuf> = (0..4).map(|i| root.path().join(format!("d{i}"))).collect();
        let drives: Vec<DirDrive> = folders
            .iter()
            .map(|f| {
                std::fs::create_dir_all(f).expect("drive folder");
                DirDrive::open(f).expect("open drive")
            })
            .collect();
        let store = store(drives, 2).await;
        let data = body(9, 2 * MIB + 3);
        put(&store, "k", &data).await;
        let aside = |f: &PathBuf| f.with_extension("aside");
        for f in &folders[..3] {
            move_entries(f, &aside(f));
        }
        assert_all_unknowable(&store).await;
        for f in &folders[..3] {
            move_entries(&aside(f), f);
        }
        assert_all_back(&store, &data).await;
    });
}
