//! Conditional writes: create-only-if-absent and replace-only-this-version, evaluated
//! atomically under the key's owner-shard lock.

use crate::common;

use std::rc::Rc;

use common::*;
use shoal_io::{SimClock, SimDrive};
use shoal_shards::set::shard_lock::{KeyLocker, mailboxes, serve_lock_requests};
use shoal_shards::{
    BucketGeneration, Error, PutOptions, SliceSource, Store, StoreConfig, WriteCondition,
};

fn options(data: &[u8], condition: WriteCondition) -> PutOptions {
    PutOptions {
        size_bytes: Some(data.len() as u64),
        condition,
        ..PutOptions::default()
    }
}

/// Each condition allows or refuses puts and deletes exactly as S3 defines.
#[test]
fn conditions_on_one_store() {
    run(async {
        let store = store(Sim { made: vec![] }.drives(4), 2).await;
        let create = WriteCondition::IfNoneMatchAny;
        let first = store
            .put_object(
                "bkt",
                "k",
                &options(b"one", create.clone()),
                &mut SliceSource(b"one"),
            )
            .await
            .unwrap();
        let again = store
            .put_object(
                "bkt",
                "k",
                &options(b"two", create),
                &mut SliceSource(b"two"),
            )
            .await;
        assert!(matches!(again, Err(Error::PreconditionFailed)), "{again:?}");
        let stale = WriteCondition::IfMatch("0123".into());
        let r = store
            .put_object(
                "bkt",
                "k",
                &options(b"two", stale.clone()),
                &mut SliceSource(b"two"),
            )
            .await;
        assert!(matches!(r, Err(Error::PreconditionFailed)));
        let current = WriteCondition::IfMatch(first.etag.clone());
        let second = store
            .put_object(
                "bkt",
                "k",
                &options(b"two", current.clone()),
                &mut SliceSource(b"two"),
            )
            .await
            .unwrap();
        assert_eq!(get(&store, "k").await.unwrap(), b"two");
        // If-Match on an absent key is NoSuchKey; on delete, a stale ETag refuses.
        let r = store
            .put_object(
                "bkt",
                "nope",
                &options(b"x", current.clone()),
                &mut SliceSource(b"x"),
            )
            .await;
        assert!(matches!(r, Err(Error::NoSuchKey)));
        assert!(matches!(
            store.delete_object_if("bkt", "k", &current).await,
            Err(Error::PreconditionFailed)
        ));
        assert!(
            store
                .delete_object_if("bkt", "k", &WriteCondition::IfMatch(second.etag))
                .await
                .unwrap()
        );
        assert!(matches!(get(&store, "k").await, Err(Error::NoSuchKey)));
        // A refused multi-stripe put leaves no staging behind.
        put(&store, "big", &body(1, 3 * MIB)).await;
        let big = body(2, 3 * MIB);
        let r = store
            .put_object(
                "bkt",
                "big",
                &options(&big, WriteCondition::IfNoneMatchAny),
                &mut SliceSource(&big),
            )
            .await;
        assert!(matches!(r, Err(Error::PreconditionFailed)));
        for d in store.drives() {
            assert!(files_under(d, ".shoal/tmp").await.is_empty());
        }
    });
}

/// 32 creators of one key, spread over two shards sharing the drives: exactly one
/// wins, every other gets PreconditionFailed, and the object holds the winner's bytes.
#[test]
fn racing_creators_across_shards() {
    run(async {
        let drives: Vec<SimDrive> = (0..4)
            .map(|i| SimDrive::new(&format!("d{i}"), i + 1))
            .collect();
        let (senders, receivers) = mailboxes(2);
        let generation = BucketGeneration::new();
        let mut stores = Vec::new();
        for (shard, receiver) in receivers.into_iter().enumerate() {
            let config = StoreConfig {
                parity_chunks: Some(2),
                ..StoreConfig::default()
            };
            let store = Store::open(drives.clone(), SimClock::new(1), shard as u64 + 7, config)
                .await
                .unwrap()
                .with_locker(KeyLocker::sharded(shard, senders.clone()))
                .with_bucket_generation(generation.clone());
            monoio::spawn(serve_lock_requests(
                shoal_io::MonoioEnv,
                store.locker_local(),
                receiver,
            ));
            stores.push(Rc::new(store));
        }
        stores[0].make_bucket("bkt").await.unwrap();
        let mut tasks = Vec::new();
        for writer in 0..32u64 {
            let store = stores[(writer % 2) as usize].clone();
            tasks.push(monoio::spawn(async move {
                let data = body(writer, 200_000 + writer as usize);
                let opts = options(&data, WriteCondition::IfNoneMatchAny);
                (
                    writer,
                    store
                        .put_object("bkt", "lock", &opts, &mut SliceSource(&data))
                        .await,
                )
            }));
        }
        let mut winners = Vec::new();
        for task in tasks {
            match task.await {
                (writer, Ok(_)) => winners.push(writer),
                (_, Err(Error::PreconditionFailed)) => {}
                (writer, Err(e)) => panic!("writer {writer}: {e}"),
            }
        }
        assert_eq!(winners.len(), 1, "winners: {winners:?}");
        let got = stores[1]
            .get_object("bkt", "lock", None)
            .await
            .unwrap()
            .read_all()
            .await
            .unwrap();
        assert_eq!(got, body(winners[0], 200_000 + winners[0] as usize));
    });
}

/// An overwrite gets a later modification time than the version it replaced even when
/// the clock stepped backwards (DESIGN.md §4), so the newest write always wins.
#[test]
fn overwrite_is_later_even_if_the_clock_goes_back() {
    run(async {
        let clock = Rc::new(SimClock::new(5_000_000_000_000));
        let drives: Vec<SimDrive> = (0..4)
            .map(|i| SimDrive::new(&format!("d{i}"), i + 1))
            .collect();
        let config = StoreConfig {
            parity_chunks: Some(2),
            ..StoreConfig::default()
        };
        let store = Store::open(drives, clock.clone(), 9, config).await.unwrap();
        store.make_bucket("bkt").await.unwrap();
        let first = store
            .put_object(
                "bkt",
                "k",
                &options(b"old", WriteCondition::Always),
                &mut SliceSource(b"old"),
            )
            .await
            .unwrap();
        clock.set(1_000); // far in the past
        let second = store
            .put_object(
                "bkt",
                "k",
                &options(b"new", WriteCondition::Always),
                &mut SliceSource(b"new"),
            )
            .await
            .unwrap();
        assert!(second.mod_time_unix_nanos > first.mod_time_unix_nanos);
        let read = store
            .get_object("bkt", "k", None)
            .await
            .unwrap()
            .read_all()
            .await
            .unwrap();
        assert_eq!(read, b"new");
    });
}
