//! Shared helpers for the store suites: building stores over simulated or real drives,
//! deterministic object bodies, and drive damage done through the `Drive` trait itself
//! so the same damage applies to both backends.
#![allow(dead_code)]

use std::future::Future;

use shoal_io::{Clock, DirDrive, Drive, Env, SimClock, SimDrive};
use shoal_shards::{PutOptions, SliceSource, Store, StoreConfig};

pub const MIB: usize = 1 << 20;

/// Runs a future on a fresh shard runtime (io_uring when available).
pub fn run<F: Future>(future: F) -> F::Output {
    let (mut runtime, _) =
        shoal_io::build_runtime(&shoal_io::RuntimeConfig::default()).expect("runtime");
    runtime.block_on(future)
}

/// Deterministic, incompressible bytes for (seed, len).
pub fn body(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// A backend the suite can build stores on.
pub trait Backend {
    type D: Drive;
    fn drives(&mut self, count: usize) -> Vec<Self::D>;
}

pub struct Sim {
    pub made: Vec<SimDrive>,
}

impl Backend for Sim {
    type D = SimDrive;
    fn drives(&mut self, count: usize) -> Vec<SimDrive> {
        self.made = (0..count)
            .map(|i| SimDrive::new(&format!("d{i}"), i as u64 + 1))
            .collect();
        self.made.clone()
    }
}

pub struct Dir {
    pub root: tempfile::TempDir,
}

impl Default for Dir {
    fn default() -> Self {
        Self::new()
    }
}

impl Dir {
    pub fn new() -> Self {
        Self {
            root: tempfile::tempdir().expect("tempdir"),
        }
    }
}

impl Backend for Dir {
    type D = DirDrive;
    fn drives(&mut self, count: usize) -> Vec<DirDrive> {
        self.root = tempfile::tempdir().expect("tempdir");
        (0..count)
            .map(|i| {
                let dir = self.root.path().join(format!("d{i}"));
                std::fs::create_dir_all(&dir).expect("drive folder");
                DirDrive::open(&dir).expect("open drive")
            })
            .collect()
    }
}

pub type TestStore<D> = Store<D, SimClock>;

/// A store of `drives` drives with `parity` parity chunks and bucket "bkt".
pub async fn store<D: Drive>(drives: Vec<D>, parity: usize) -> TestStore<D> {
    let config = StoreConfig {
        parity_chunks: Some(parity),
        ..StoreConfig::default()
    };
    let store = Store::open(drives, SimClock::new(1_700_000_000_000_000_000), 42, config)
        .await
        .expect("open store");
    store.make_bucket("bkt").await.expect("make bucket");
    store
}

/// Puts `data` at `key` in bucket "bkt" (its length declared); the store's answer.
pub async fn try_put<D: Drive, C: Clock, E: Env>(
    store: &Store<D, C, E>,
    key: &str,
    data: &[u8],
) -> shoal_shards::Result<()> {
    let options = PutOptions {
        size_bytes: Some(data.len() as u64),
        ..PutOptions::default()
    };
    store
        .put_object("bkt", key, &options, &mut SliceSource(data))
        .await
        .map(|_| ())
}

/// `try_put`, which must succeed.
pub async fn put<D: Drive>(store: &TestStore<D>, key: &str, data: &[u8]) {
    try_put(store, key, data).await.expect("put");
}

pub async fn get<D: Drive>(store: &TestStore<D>, key: &str) -> shoal_shards::Result<Vec<u8>> {
    store.get_object("bkt", key, None).await?.read_all().await
}

/// Every file under `dir` on a drive (relative paths), depth first.
pub async fn files_under<D: Drive>(drive: &D, dir: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = drive.list_dir(&d).await else {
            continue;
        };
        for e in entries {
            let path = if d.is_empty() {
                e.name.clone()
            } else {
                format!("{d}/{}", e.name)
            };
            if e.is_dir {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// How a drive is damaged.
#[derive(Debug, Clone, Copy)]
pub enum Damage {
    /// Every file and folder removed, format record included.
    Emptied,
    /// One byte flipped in every object file (metadata and chunk data).
    Flipped,
    /// Every object file cut to half its length.
    Truncated,
    /// Every object file deleted.
    Deleted,
}

pub async fn damage<D: Drive>(drive: &D, how: Damage, seed: u64) {
    if let Damage::Emptied = how {
        for e in drive.list_dir("").await.unwrap_or_default() {
            let _ = if e.is_dir {
                drive.remove_dir_all(&e.name).await
            } else {
                drive.remove_file(&e.name).await
            };
        }
        return;
    }
    for (i, path) in files_under(drive, "bkt").await.into_iter().enumerate() {
        let bytes = drive.read_file(&path).await.expect("read for damage");
        match how {
            Damage::Flipped if !bytes.is_empty() => {
                let mut bad = bytes.clone();
                let at = (seed as usize).wrapping_mul(31).wrapping_add(i * 7919) % bad.len();
                bad[at] ^= 0x5A;
                drive.write_file_atomic(&path, &bad).await.expect("flip");
            }
            Damage::Truncated => {
                drive
                    .write_file_atomic(&path, &bytes[..bytes.len() / 2])
                    .await
                    .expect("truncate");
            }
            Damage::Deleted => drive.remove_file(&path).await.expect("delete"),
            _ => {}
        }
    }
}
