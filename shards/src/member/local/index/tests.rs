//! The index against a `BTreeMap` model, one suite on the simulated drive and on a
//! real folder; runs on disk, damage, the clean marker, rebuilds and interleavings.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::pin::pin;
use std::time::Duration;

use futures_util::poll;
use proptest::prelude::*;
use shoal_io::{Drive, SimDrive, SimExecutor};

use super::entry::tests::summary_strategy;
use super::run::{RunWriter, decode_run};
use super::*;

type Model = BTreeMap<String, KeySummary>;

const BUCKET: &str = "bkt";

#[derive(Debug, Clone)]
enum Op {
    Apply(String, Option<KeySummary>),
    Flush,
    /// Merge runs when a bucket has more than this many.
    Compact(usize),
    /// Save, drop the index, open it again.
    Reopen,
    Batch {
        after: String,
        /// From `after` on (inclusive) instead of strictly after it.
        from: bool,
        prefix: String,
        limit: usize,
    },
}

fn summary(n: u64) -> KeySummary {
    KeySummary {
        chunk_index: usize::try_from(n % 4).expect("under 4"),
        data_chunks: 2,
        parity_chunks: 2,
        rotation: 1,
        version_id: [u8::try_from(n % 251).expect("under 251"); 16],
        mod_time_unix_nanos: n,
        meta_generation: 1,
        size_bytes: n * 10,
        etag: format!("\"etag{n}\""),
        checksum_algorithm: None,
        tombstone: n.is_multiple_of(7),
    }
}

fn model_batch(
    model: &Model,
    start: Start<'_>,
    prefix: &str,
    limit: usize,
) -> Vec<(String, KeySummary)> {
    let lower = match start {
        Start::After(after) => Bound::Excluded(after),
        Start::From(from) => Bound::Included(from),
    };
    model
        .range::<str, _>((lower, Bound::Unbounded))
        .filter(|(k, _)| k.starts_with(prefix))
        .take(limit)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn tiny_config(entries_max: usize) -> IndexConfig {
    IndexConfig {
        bucket_memtable_entries_max: entries_max,
        bucket_memtable_bytes_max: 64 << 10,
        drive_memtable_bytes_max: 256 << 10,
    }
}

/// Runs `ops` against the index and the model; `Err` names the first difference.
async fn run_ops<D: Drive>(drive: &D, config: IndexConfig, ops: &[Op]) -> Result<(), String> {
    let mut index = DriveIndex::<D>::empty(config);
    let mut model = Model::new();
    for (step, op) in ops.iter().enumerate() {
        match op {
            Op::Apply(key, entry) => {
                index.apply(BUCKET, key, entry.clone());
                match entry {
                    Some(s) => model.insert(key.clone(), s.clone()),
                    None => model.remove(key),
                };
            }
            Op::Flush => index
                .flush(drive)
                .await
                .map_err(|e| format!("flush: {e}"))?,
            Op::Compact(runs_max) => index
                .compact(drive, *runs_max)
                .await
                .map_err(|e| format!("compact: {e}"))?,
            Op::Reopen => {
                index.save(drive).await.map_err(|e| format!("save: {e}"))?;
                drop(index);
                let (opened, how) = DriveIndex::open(drive, config)
                    .await
                    .map_err(|e| format!("open: {e}"))?;
                if how != Opened::Clean {
                    return Err(format!("step {step}: reopened as {how:?}"));
                }
                index = opened;
            }
            Op::Batch {
                after,
                from,
                prefix,
                limit,
            } => {
                let start = if *from {
                    Start::From(after)
                } else {
                    Start::After(after)
                };
                let got = index
                    .batch(drive, BUCKET, start, prefix, *limit)
                    .await
                    .map_err(|e| format!("batch: {e}"))?;
                let want = model_batch(&model, start, prefix, *limit);
                if got != want {
                    return Err(format!(
                        "step {step}: batch {start:?} prefix {prefix:?} limit {limit}: \
                         got {:?}, want {:?}",
                        got.iter().map(|(k, _)| k).collect::<Vec<_>>(),
                        want.iter().map(|(k, _)| k).collect::<Vec<_>>()
                    ));
                }
            }
        }
    }
    Ok(())
}

fn key_strategy() -> impl Strategy<Value = String> {
    "[ab/]{1,4}"
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (key_strategy(), proptest::option::weighted(0.75, summary_strategy()))
            .prop_map(|(k, e)| Op::Apply(k, e)),
        1 => Just(Op::Flush),
        1 => (1usize..4).prop_map(Op::Compact),
        1 => Just(Op::Reopen),
        3 => ("[ab/]{0,3}", any::<bool>(), "[ab/]{0,2}", 1usize..6)
            .prop_map(|(after, from, prefix, limit)| Op::Batch { after, from, prefix, limit }),
    ]
}

fn run_on_sim(config: IndexConfig, ops: &[Op]) -> Result<(), String> {
    let executor = SimExecutor::new(7);
    let drive = SimDrive::new("index", 7);
    executor.block_on(run_ops(&drive, config, ops))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Random applies, flushes, reopenings and batches on the simulated drive agree
    /// with a map of each key's newest summary.
    #[test]
    fn index_matches_model_on_sim(
        entries_max in 1usize..6,
        ops in proptest::collection::vec(op_strategy(), 1..120),
    ) {
        let result = run_on_sim(tiny_config(entries_max), &ops);
        prop_assert!(result.is_ok(), "{}", result.unwrap_err());
    }
}

/// A fixed long sequence from a small generator: the same suite for both drives.
fn fixed_ops(seed: u64, count: usize) -> Vec<Op> {
    let mut state = seed;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        state >> 33
    };
    let alphabet = ["a", "b", "/", "ab", "é"];
    let key = |n: &mut dyn FnMut() -> u64, len: u64| -> String {
        (0..len).map(|_| alphabet[(n() % 5) as usize]).collect()
    };
    let mut ops = Vec::new();
    for i in 0..count {
        let roll = next() % 100;
        let len = 1 + next() % 5;
        let op = match roll {
            0..=69 => {
                let k = key(&mut next, len);
                let entry = (next() % 4 != 0).then(|| summary(i as u64));
                Op::Apply(k, entry)
            }
            70..=72 => Op::Flush,
            73..=74 => Op::Compact(1 + (next() % 3) as usize),
            75..=76 => Op::Reopen,
            _ => Op::Batch {
                after: key(&mut next, len % 3),
                from: next() % 2 == 0,
                prefix: key(&mut next, len % 2),
                limit: 1 + (next() % 40) as usize,
            },
        };
        ops.push(op);
    }
    ops
}

/// The fixed sequence agrees with the model on the simulated drive.
#[test]
fn fixed_sequence_on_sim() {
    run_on_sim(tiny_config(16), &fixed_ops(1, 3000)).unwrap();
}

/// The same sequence agrees with the model on a real folder (O_DIRECT where the
/// filesystem takes it).
#[test]
fn fixed_sequence_on_folder() {
    let folder = tempfile::tempdir().expect("tempdir");
    let drive = shoal_io::DirDrive::open(folder.path()).expect("drive");
    let mut runtime = shoal_io::build_runtime(&shoal_io::RuntimeConfig::default())
        .expect("runtime")
        .0;
    runtime
        .block_on(run_ops(&drive, tiny_config(16), &fixed_ops(1, 3000)))
        .unwrap();
}

/// Runs `body` on a fresh simulated drive.
fn on_sim<F, T>(body: impl FnOnce(SimDrive) -> F) -> T
where
    F: std::future::Future<Output = T>,
{
    let executor = SimExecutor::new(3);
    let drive = SimDrive::new("index", 3).with_env(executor.env());
    executor.block_on(body(drive))
}

/// A run written through the drive decodes to what was pushed, across many blocks;
/// any damaged byte is refused, never a panic.
#[test]
fn run_round_trip_and_damage() {
    on_sim(|drive| async move {
        let entries: Vec<(String, Option<KeySummary>)> = (0..3000u64)
            .map(|n| (format!("key/{n:06}"), (n % 5 != 0).then(|| summary(n))))
            .collect();
        let mut writer = RunWriter::create(&drive, ".shoal/tmp/r".to_owned())
            .await
            .unwrap();
        for (key, entry) in &entries {
            writer.push(key, entry.as_ref()).await.unwrap();
        }
        writer.finish("runs/r").await.unwrap();
        let bytes = drive.file_bytes("runs/r").unwrap();
        assert_eq!(decode_run(&bytes).unwrap(), entries);
        let run = Run::open(&drive, "runs/r".to_owned(), 1).await.unwrap();
        assert!(run.blocks.len() > 3, "several blocks: {}", run.blocks.len());
        for at in (0..bytes.len()).step_by(97) {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x10;
            assert!(decode_run(&damaged).is_err(), "flip at {at} accepted");
        }
        for len in (0..bytes.len()).step_by(301) {
            assert!(
                decode_run(&bytes[..len]).is_err(),
                "truncation to {len} accepted"
            );
        }
        drive.corrupt_file("runs/r", 5000);
        let block = run.block_after("key/000100");
        let read = run.read_block(&drive, block).await;
        assert!(matches!(read, Err(IndexError::Corrupt(_))), "{read:?}");
    });
}

/// An empty run is a valid file with no blocks.
#[test]
fn empty_run_is_valid() {
    on_sim(|drive| async move {
        let writer = RunWriter::create(&drive, ".shoal/tmp/e".to_owned())
            .await
            .unwrap();
        writer.finish("runs/e").await.unwrap();
        assert_eq!(
            decode_run(&drive.file_bytes("runs/e").unwrap()).unwrap(),
            vec![]
        );
    });
}

/// After `save`, `open` finds the marker, removes it, and answers the same batches;
/// without the marker it throws the index away and calls every bucket not ready.
#[test]
fn open_after_save_and_without_marker() {
    on_sim(|drive| async move {
        let config = tiny_config(4);
        let index = DriveIndex::<SimDrive>::empty(config);
        for n in 0..50u64 {
            index.apply(BUCKET, &format!("k{n:03}"), Some(summary(n)));
            index.apply("other", &format!("o{n:03}"), Some(summary(n)));
        }
        index.apply(BUCKET, "k010", None);
        index.flush(&drive).await.unwrap();
        let before = index
            .batch(&drive, BUCKET, Start::After(""), "k", 1000)
            .await
            .unwrap();
        assert_eq!(before.len(), 49);
        index.save(&drive).await.unwrap();
        drop(index);
        let (index, how) = DriveIndex::open(&drive, config).await.unwrap();
        assert_eq!(how, Opened::Clean);
        assert!(
            drive.file_bytes(CLEAN_PATH).is_none(),
            "marker removed on open"
        );
        assert_eq!(
            index
                .batch(&drive, BUCKET, Start::After(""), "k", 1000)
                .await
                .unwrap(),
            before
        );
        assert_eq!(
            index
                .batch(&drive, "other", Start::After("o040"), "", 1000)
                .await
                .unwrap()
                .len(),
            9
        );
        drop(index);
        // No marker now (a crash after the open above): the index is thrown away.
        let (index, how) = DriveIndex::<SimDrive>::open(&drive, config).await.unwrap();
        assert_eq!(how, Opened::NeedsRebuild);
        assert!(!index.is_ready(BUCKET));
        assert!(matches!(
            index.batch(&drive, BUCKET, Start::After(""), "", 10).await,
            Err(IndexError::NotReady)
        ));
        assert!(drive.list_dir(INDEX_DIR).await.is_err(), "runs thrown away");
    });
}

/// A rebuild's run is the oldest layer: applies made while it streams win over it, and
/// the bucket is ready after; a save then records it as ready.
#[test]
fn rebuild_is_oldest_layer() {
    on_sim(|drive| async move {
        let config = tiny_config(3);
        let (index, how) = DriveIndex::<SimDrive>::open(&drive, config).await.unwrap();
        assert_eq!(how, Opened::NeedsRebuild);
        let mut rebuild = index.begin_rebuild(&drive, BUCKET).await.unwrap();
        // What the walk of the records yields, and what writes apply meanwhile.
        let mut walked = Model::new();
        let mut applied: BTreeMap<String, Option<KeySummary>> = BTreeMap::new();
        for n in 0..100u64 {
            let key = format!("k{n:03}");
            rebuild.push(&key, &summary(n)).await.unwrap();
            walked.insert(key, summary(n));
            if n % 10 == 0 {
                // Writes during the rebuild, to keys the walk has or has not passed.
                let newer = format!("k{:03}", (n * 7) % 100);
                index.apply(BUCKET, &newer, Some(summary(1000 + n)));
                applied.insert(newer, Some(summary(1000 + n)));
                index.apply(BUCKET, &format!("k{:03}", n + 1), None);
                applied.insert(format!("k{:03}", n + 1), None);
            }
        }
        let mut model = walked;
        for (key, entry) in applied {
            match entry {
                Some(s) => model.insert(key, s),
                None => model.remove(&key),
            };
        }
        index.flush(&drive).await.unwrap();
        rebuild.finish(&index).await.unwrap();
        assert!(index.is_ready(BUCKET));
        let got = index
            .batch(&drive, BUCKET, Start::After(""), "", 1000)
            .await
            .unwrap();
        assert_eq!(got, model_batch(&model, Start::After(""), "", 1000));
        index.save(&drive).await.unwrap();
        drop(index);
        let (index, how) = DriveIndex::<SimDrive>::open(&drive, config).await.unwrap();
        assert_eq!(how, Opened::Clean);
        assert!(index.is_ready(BUCKET) && !index.is_ready("never-rebuilt"));
        let got = index
            .batch(&drive, BUCKET, Start::After(""), "", 1000)
            .await
            .unwrap();
        assert_eq!(got, model_batch(&model, Start::After(""), "", 1000));
    });
}

/// A batch that waits on a run read sees the applies, the freeze and the flush made
/// meanwhile: its answer is the index as it is when the batch returns.
#[test]
fn batch_sees_changes_made_while_it_waits() {
    on_sim(|drive| async move {
        drive.set_base_latency(Duration::from_millis(1));
        let config = tiny_config(5);
        let index = DriveIndex::<SimDrive>::empty(config);
        let mut model = Model::new();
        for n in 0..40u64 {
            index.apply(BUCKET, &format!("k{n:03}"), Some(summary(n)));
            model.insert(format!("k{n:03}"), summary(n));
        }
        index.flush(&drive).await.unwrap();
        let mut batch = pin!(index.batch(&drive, BUCKET, Start::After("k004"), "k", 10));
        assert!(
            poll!(batch.as_mut()).is_pending(),
            "the batch waits on a read"
        );
        // Meanwhile: a delete and an insert within the page, then enough applies to
        // freeze the live memtable, and its flush.
        index.apply(BUCKET, "k006", None);
        model.remove("k006");
        index.apply(BUCKET, "k0055", Some(summary(55)));
        model.insert("k0055".to_owned(), summary(55));
        for n in 100..104u64 {
            index.apply(BUCKET, &format!("k{n:03}"), Some(summary(n)));
            model.insert(format!("k{n:03}"), summary(n));
        }
        index.apply(BUCKET, "k008", None);
        model.remove("k008");
        assert!(index.flush_needed(), "the live memtable froze");
        index.flush(&drive).await.unwrap();
        let got = batch.await.unwrap();
        assert_eq!(got, model_batch(&model, Start::After("k004"), "k", 10));
    });
}

/// Memtables stay within the drive's bound when the caller flushes whenever the index
/// says it is over budget.
#[test]
fn memtables_stay_within_the_drive_bound() {
    on_sim(|drive| async move {
        let config = IndexConfig {
            bucket_memtable_entries_max: 1 << 20,
            bucket_memtable_bytes_max: 1 << 30,
            drive_memtable_bytes_max: 16 << 10,
        };
        let index = DriveIndex::<SimDrive>::empty(config);
        let entry_max = layers::entry_cost_bytes(&"x".repeat(40), Some(&summary(1)));
        for n in 0..2000u64 {
            let bucket = format!("b{}", n % 5);
            index.apply(&bucket, &format!("{n:040}"), Some(summary(n)));
            assert!(index.memtable_bytes() <= config.drive_memtable_bytes_max + entry_max);
            if index.over_budget() {
                index.flush(&drive).await.unwrap();
                assert!(!index.over_budget());
            }
        }
        let got = index
            .batch(&drive, "b3", Start::After(""), "", 1000)
            .await
            .unwrap();
        assert_eq!(got.len(), 400);
    });
}

/// The run format is frozen: a small run (a summary with a checksum algorithm, a
/// tombstone summary, a key with no record, a multi-byte key sharing a prefix) encodes
/// to these bytes and decodes back. The fuzzer's seeds (`fuzz/make_seeds.py`) are
/// these bytes too.
#[test]
fn golden_run() {
    let entries: Vec<(String, Option<KeySummary>)> = vec![
        (
            "photos/a.jpg".to_owned(),
            Some(KeySummary {
                checksum_algorithm: Some(crate::record::checksum::ChecksumAlgorithm::Crc32c),
                ..summary(3)
            }),
        ),
        ("photos/b".to_owned(), None),
        ("photos/é".to_owned(), Some(summary(7))),
    ];
    on_sim(|drive| async move {
        let mut writer = RunWriter::create(&drive, ".shoal/tmp/g".to_owned())
            .await
            .unwrap();
        for (key, entry) in &entries {
            writer.push(key, entry.as_ref()).await.unwrap();
        }
        writer.finish("g").await.unwrap();
        let bytes = drive.file_bytes("g").unwrap();
        assert_eq!(hex::encode(&bytes), GOLDEN_RUN);
        assert_eq!(
            decode_run(&hex::decode(GOLDEN_RUN).unwrap()).unwrap(),
            entries
        );
    });
    let seeds = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/corpus/index_run");
    let seed = |name: &str| std::fs::read(format!("{seeds}/{name}")).expect("seed");
    assert_eq!(
        hex::encode(seed("run")),
        GOLDEN_RUN,
        "make_seeds.py is stale"
    );
    let ready = std::collections::BTreeSet::from(["bkt".to_owned()]);
    assert_eq!(
        decode_clean(&seed("clean_marker")),
        Ok((false, ready.clone()))
    );
    assert_eq!(
        decode_clean(&encode_clean(false, &ready)),
        Ok((false, ready))
    );
}

/// The golden run's bytes, by part (run.rs's table).
const GOLDEN_RUN: &str = concat!(
    // header, 64 bytes
    "53484f414c4944580100000001000000a0000000000000001e000000012e433a",
    "0300000000000000b3d1328e0000000000000000000000000000000000000000",
    // block at 64, 96 bytes
    "010003000000000c70686f746f732f612e6a7067090302020103030303030303",
    "03030303030303030303011e0722657461673322070162000702c3a903030202",
    "01070707070707070707070707070707070701460722657461673722f68daa2e",
    // footer at 160, 30 bytes
    "400000000000000060000000030000000c0070686f746f732f612e6a7067",
);
