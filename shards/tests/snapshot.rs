//! One version per request, and buckets that do not lose or resurrect writes (issue
//! 10, A2 and A4): a read streams the version it opened to the end while the key is
//! overwritten or deleted; a bucket delete and streaming writes into the bucket exclude
//! each other, across shards; replaced data is removed after the grace period and at
//! start.

use crate::common;

use std::rc::Rc;
use std::time::Duration;

use common::*;
use shoal_io::{Clock, DirDrive, Drive, SimClock, SimDrive};
use shoal_shards::member::local::index::owner::mailboxes as index_mailboxes;
use shoal_shards::object::multipart::{CompletePart, UploadOptions};
use shoal_shards::object::trash::{TRASH_DIR, TRASH_GRACE};
use shoal_shards::set::shard_lock::{KeyLocker, mailboxes, serve_lock_requests};
use shoal_shards::{
    BodySource, BucketGeneration, Error, ListQuery, PutOptions, SliceSource, Store, StoreConfig,
};

/// A body that arrives slowly, like a client on a slow link: `piece_bytes` at a time,
/// with a pause before each.
struct SlowSource {
    data: Vec<u8>,
    at: usize,
    piece_bytes: usize,
    pause: Duration,
}

impl BodySource for SlowSource {
    async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        monoio::time::sleep(self.pause).await;
        let n = buf
            .len()
            .min(self.piece_bytes)
            .min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fn sized(data: &[u8]) -> PutOptions {
    PutOptions {
        size_bytes: Some(data.len() as u64),
        ..PutOptions::default()
    }
}

/// Two shards' stores over the same four simulated drives, locks served across them.
async fn two_shards() -> (Vec<SimDrive>, Vec<Rc<TestStore<SimDrive>>>) {
    let drives: Vec<SimDrive> = (0..4)
        .map(|i| SimDrive::new(&format!("d{i}"), i + 1))
        .collect();
    let (senders, receivers) = mailboxes(2);
    // Each drive's listing index on one shard, the other reaching it by mailbox.
    let (index_senders, index_inboxes) = index_mailboxes(drives.len(), 2);
    // One per node, as the server shares it: bucket changes reach both shards' caches.
    let generation = BucketGeneration::new();
    let mut stores = Vec::new();
    for (shard, (receiver, owned)) in receivers.into_iter().zip(index_inboxes).enumerate() {
        let config = StoreConfig {
            parity_chunks: Some(2),
            clean_tmp_at_open: shard == 0,
            listing_index: false,
            ..StoreConfig::default()
        };
        let store = Store::open(drives.clone(), SimClock::new(1), shard as u64 + 3, config)
            .await
            .unwrap()
            .with_locker(KeyLocker::sharded(shard, senders.clone()))
            .with_bucket_generation(generation.clone());
        store
            .share_listing_indexes(shard, 2, &index_senders, owned)
            .await;
        monoio::spawn(serve_lock_requests(
            shoal_io::MonoioEnv,
            store.locker_local(),
            receiver,
        ));
        stores.push(Rc::new(store));
    }
    (drives, stores)
}

const RACE_BUCKET: &str = "race";
const RACE_WRITERS: u64 = 8;

/// When a round's DeleteBucket runs.
#[derive(Debug, Clone, Copy)]
enum DeleteAt {
    /// This long after the PUTs started (before, during or after their streams).
    After(Duration),
    /// Once every PUT answered (the delete must lose).
    PutsDone,
}

/// One round: streaming PUTs on both shards, and a DeleteBucket at `at`. Returns
/// whether the delete won.
async fn race_round(stores: &[Rc<TestStore<SimDrive>>], round: u64, at: DeleteAt) -> bool {
    stores[0].make_bucket(RACE_BUCKET).await.unwrap();
    let mut writers = Vec::new();
    for w in 0..RACE_WRITERS {
        let store = stores[(w % 2) as usize].clone();
        writers.push(monoio::spawn(async move {
            let data = body(round * 100 + w, 2 * MIB + 4096 * w as usize);
            let mut source = SlowSource {
                data: data.clone(),
                at: 0,
                piece_bytes: 64 << 10,
                pause: Duration::from_millis(1),
            };
            let key = format!("k{w}");
            let put = store
                .put_object(RACE_BUCKET, &key, &sized(&data), &mut source)
                .await;
            (key, data, put)
        }));
    }
    let deleter = stores[(round % 2) as usize].clone();
    let mut outcomes = Vec::new();
    let deleted = match at {
        DeleteAt::After(delay) => {
            monoio::time::sleep(delay).await;
            deleter.delete_bucket(RACE_BUCKET).await
        }
        DeleteAt::PutsDone => {
            for writer in writers.drain(..) {
                outcomes.push(writer.await);
            }
            deleter.delete_bucket(RACE_BUCKET).await
        }
    };
    for writer in writers {
        outcomes.push(writer.await);
    }
    match deleted {
        Ok(()) => {
            for (key, _, put) in &outcomes {
                assert!(
                    matches!(put, Err(Error::NoSuchBucket)),
                    "round {round}: {key} answered {put:?} although the bucket was deleted"
                );
            }
            true
        }
        Err(Error::BucketNotEmpty) => {
            for (key, data, put) in &outcomes {
                assert!(put.is_ok(), "round {round}: {key}: {put:?}");
                let got = stores[1]
                    .get_object(RACE_BUCKET, key, None)
                    .await
                    .unwrap()
                    .read_all()
                    .await
                    .unwrap();
                assert!(got == *data, "round {round}: {key} reads back other bytes");
                stores[0].delete_object(RACE_BUCKET, key).await.unwrap();
            }
            stores[1].delete_bucket(RACE_BUCKET).await.unwrap();
            false
        }
        Err(e) => panic!("round {round}: DeleteBucket answered {e}"),
    }
}

/// A bucket made again under the name of a deleted one holds nothing: no object is
/// listed or readable, and no file of the old bucket is left on any drive.
async fn assert_made_again_empty(stores: &[Rc<TestStore<SimDrive>>], drives: &[SimDrive]) {
    stores[1].make_bucket(RACE_BUCKET).await.unwrap();
    let listed = stores[0]
        .list_objects(RACE_BUCKET, &ListQuery::default())
        .await
        .unwrap();
    assert!(
        listed.objects.is_empty(),
        "resurrected: {:?}",
        listed.objects
    );
    for w in 0..RACE_WRITERS {
        let got = stores[0].head_object(RACE_BUCKET, &format!("k{w}")).await;
        assert!(matches!(got, Err(Error::NoSuchKey)), "k{w}: {got:?}");
    }
    for drive in drives {
        assert_eq!(files_under(drive, RACE_BUCKET).await, Vec::<String>::new());
        assert_eq!(files_under(drive, ".shoal/tmp").await, Vec::<String>::new());
    }
    stores[1].delete_bucket(RACE_BUCKET).await.unwrap();
}

/// Streaming PUTs on two shards race DeleteBucket: every PUT either fails NoSuchBucket
/// and leaves nothing, or succeeds and the delete answers BucketNotEmpty; a bucket made
/// again is empty. The delays put the delete before, during and after the streams.
#[test]
fn delete_bucket_excludes_streaming_puts() {
    run(async {
        let (drives, stores) = two_shards().await;
        let ms = Duration::from_millis;
        let rounds = [
            DeleteAt::After(ms(0)),
            DeleteAt::After(ms(5)),
            DeleteAt::After(ms(15)),
            DeleteAt::After(ms(30)),
            DeleteAt::PutsDone,
        ];
        let mut deletes_won = 0;
        for (round, at) in rounds.into_iter().enumerate() {
            let won = race_round(&stores, round as u64, at).await;
            if won {
                deletes_won += 1;
                assert_made_again_empty(&stores, &drives).await;
            }
            assert!(
                !(won && matches!(at, DeleteAt::PutsDone)),
                "deleted a full bucket"
            );
        }
        // The streams last over 40 ms: the early deletes land while they run.
        assert!(deletes_won >= 2, "only {deletes_won} deletes won");
    });
}

/// Small parts so a multipart object has many part files cheaply.
const PART_BYTES: usize = 200 << 10;
const PARTS: u32 = 5;

async fn snapshot_store<D: Drive>(drives: Vec<D>, clock: SimClock) -> TestStore<D> {
    let config = StoreConfig {
        parity_chunks: Some(2),
        stripe_size_bytes: 32 << 10,
        part_size_min_bytes: PART_BYTES as u64,
        ..StoreConfig::default()
    };
    Store::open(drives, clock, 5, config)
        .await
        .expect("open store")
}

/// Uploads a multipart object of `PARTS` parts; returns its bytes.
async fn multipart_object<D: Drive>(store: &TestStore<D>, key: &str, seed: u64) -> Vec<u8> {
    let id = store
        .create_multipart_upload("bkt", key, &UploadOptions::default())
        .await
        .unwrap()
        .upload_id;
    let mut whole = Vec::new();
    let mut done = Vec::new();
    for n in 1..=PARTS {
        let data = body(
            seed * 10 + u64::from(n),
            PART_BYTES + usize::try_from(n).unwrap(),
        );
        let part = store
            .upload_part(("bkt", key, &id), n, &sized(&data), &mut SliceSource(&data))
            .await
            .unwrap();
        done.push(CompletePart {
            number: n,
            etag: hex::encode(part.md5),
            checksum: None,
        });
        whole.extend_from_slice(&data);
    }
    store
        .complete_multipart_upload(
            ("bkt", key, &id),
            &done,
            None,
            &shoal_shards::WriteCondition::Always,
        )
        .await
        .unwrap();
    whole
}

#[derive(Debug, Clone, Copy)]
enum Replace {
    Overwrite,
    Delete,
}

/// Opens a reader, reads its first piece, replaces the key, and reads on: the reader
/// returns exactly the version it opened.
async fn read_through<D: Drive>(store: &TestStore<D>, replace: Replace, seed: u64) {
    let key = format!("big-{replace:?}");
    let expected = multipart_object(store, &key, seed).await;
    let mut reader = store.get_object("bkt", &key, None).await.unwrap();
    let mut got = reader.next().await.unwrap().unwrap().to_vec();
    match replace {
        Replace::Overwrite => put(store, &key, &body(seed + 1, 100_000)).await,
        Replace::Delete => assert!(store.delete_object("bkt", &key).await.unwrap()),
    }
    while let Some(piece) = reader.next().await.unwrap() {
        got.extend_from_slice(piece);
    }
    assert!(
        got == expected,
        "{replace:?}: the reader returned other bytes"
    );
}

/// Trash entries on a drive (replaced versions' folders).
async fn trash_entries<D: Drive>(drive: &D) -> usize {
    drive.list_dir(TRASH_DIR).await.map_or(0, |e| e.len())
}

/// A GET of a multipart object that has started streams the version it started with
/// to the end, through an overwrite and through a delete of the key; the replaced data
/// is removed by the sweep once the grace period is over, and at start (`reopen` gives
/// the same drives again).
async fn reads_finish_their_version<D: Drive>(drives: Vec<D>, reopen: impl FnOnce() -> Vec<D>) {
    let store = snapshot_store(drives, SimClock::new(1_700_000_000_000_000_000)).await;
    store.make_bucket("bkt").await.unwrap();
    read_through(&store, Replace::Overwrite, 1).await;
    read_through(&store, Replace::Delete, 2).await;
    for drive in store.drives() {
        assert_eq!(trash_entries(drive).await, 2, "both replaced versions wait");
    }
    let grace_nanos = u64::try_from(TRASH_GRACE.as_nanos()).unwrap();
    assert_eq!(store.sweep_trash(grace_nanos).await, 0, "still in grace");
    let clock = store.clock();
    clock.set(clock.now_unix_nanos() + grace_nanos);
    assert_eq!(store.sweep_trash(grace_nanos).await, 2 * 4);
    for drive in store.drives() {
        assert_eq!(trash_entries(drive).await, 0);
    }
    // Replaced again, then a restart: no reader can exist, the trash goes at open.
    read_through(&store, Replace::Overwrite, 3).await;
    for drive in store.drives() {
        assert!(trash_entries(drive).await > 0);
    }
    let now = store.clock().now_unix_nanos();
    drop(store);
    let reopened = snapshot_store(reopen(), SimClock::new(now)).await;
    for drive in reopened.drives() {
        assert_eq!(trash_entries(drive).await, 0);
    }
}

#[test]
fn reads_finish_their_version_sim() {
    let mut sim = Sim { made: Vec::new() };
    let drives = sim.drives(4);
    run(reads_finish_their_version(drives, || sim.made.clone()));
}

#[test]
fn reads_finish_their_version_dir() {
    let mut dir = Dir::new();
    let drives = dir.drives(4);
    let root = dir.root.path().to_owned();
    let reopen = move || {
        (0..4)
            .map(|i| DirDrive::open(&root.join(format!("d{i}"))).expect("reopen drive"))
            .collect()
    };
    run(reads_finish_their_version(drives, reopen));
}
