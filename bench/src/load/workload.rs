//! One client shard's life in an S3 mode: prepare, (multipart: upload), run, clean up
//! (what the shards share is in `shared.rs`).
//!
//! Shape: `--shards` threads, each with its own monoio runtime, S3 client and
//! connections; worker `w` of `--concurrent` runs on shard `w % shards`. Shards meet
//! only at phase barriers (between phases, never on the request path):
//!
//! ```text
//! shard 0 creates the bucket | barrier | every shard uploads what its workers need
//! (multipart: shard 0 creates the upload | barrier | every shard uploads its parts |
//! barrier | shard 0 completes) | barrier | every worker loops until the deadline (or
//! --autoterm) | barrier | shard 0 removes the run's objects (unless --noclear)
//! ```
//!
//! Invariants: every object this run writes is under `<run prefix>/`, a random prefix
//! per run, and each worker writes under `<run prefix>/w<worker>/`; a failed prepare
//! makes every shard skip the run but still pass each barrier (no deadlock), and the
//! cleanup still removes what was uploaded. The only locks are taken between phases
//! (the multipart state); during the run shards share atomics only.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::SmallRng;

use crate::client::payload::{Bodies, ObjectBody};
use crate::load::args::{Args, Mode};
use crate::load::multipart;
use crate::load::shared::{
    KeyPool, Object, PHASE_CLEANUP, PHASE_RUN, ShardContext, ShardResult, Shared, fail, object_size,
};
use crate::load::worker::Worker;
use crate::report::record::Record;

/// Starts the shards' threads; the caller joins them.
pub fn spawn_shards(shared: &Arc<Shared>) -> Vec<std::thread::JoinHandle<ShardResult>> {
    (0..shared.args.shards)
        .map(|shard| {
            let shared = Arc::clone(shared);
            std::thread::Builder::new()
                .name(format!("bench-shard-{shard}"))
                .spawn(move || {
                    let mut runtime = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
                        .enable_timer()
                        .build()
                        .expect("monoio runtime");
                    runtime.block_on(shard_main(shared, shard))
                })
                .expect("spawn shard thread")
        })
        .collect()
}

/// Upload bodies of one shard: one per object, or (`--same-bytes`) one shared body.
fn bodies(args: &Args, mode: Mode, shard: usize) -> Bodies {
    let checksum = args.checksum.map(|c| c.algorithm);
    if args.same_bytes {
        let size_bytes = args.body_bytes(mode);
        Bodies::same(ObjectBody::random(
            size_bytes,
            0x5EED ^ shard as u64,
            args.md5,
            checksum,
        ))
    } else {
        Bodies::unique(0x5EED, args.md5, checksum)
    }
}

/// One shard: the phases in order, meeting the other shards at each barrier.
async fn shard_main(shared: Arc<Shared>, shard: usize) -> ShardResult {
    let args = &shared.args;
    let context = ShardContext {
        client: Rc::new(shared.client()),
        bodies: Rc::new(bodies(args, shared.mode, shard)),
        workers: (shard..args.concurrent).step_by(args.shards).collect(),
        shared: Arc::clone(&shared),
        shard,
    };
    let mut result = ShardResult::default();
    if shard == 0
        && let Err(error) = context.client.create_bucket().await
    {
        let message = format!("create bucket {}: {error}", args.bucket);
        // `put` goes on (the bucket may exist and the user lack CreateBucket): its
        // PUTs then report what is wrong, as errors of the run.
        if shared.mode == Mode::Put {
            result.warnings.push(message);
        } else {
            fail(&shared, &mut result, message);
        }
    }
    shared.barrier.wait();
    let pool = if shared.mode == Mode::Multipart {
        multipart::upload(&context, &mut result).await;
        KeyPool::default()
    } else if shared.aborted() {
        KeyPool::default()
    } else {
        prepare(&context).await.unwrap_or_else(|error| {
            fail(&shared, &mut result, format!("prepare: {error}"));
            KeyPool::default()
        })
    };
    shared.barrier.wait();
    if !shared.aborted() {
        if shard == 0 {
            shared.phase.store(PHASE_RUN, Ordering::Relaxed);
            shared
                .run_start_ns
                .store(shared.now_ns(), Ordering::Relaxed);
            shared.read_server_cpu(&shared.server_cpu_start_ticks);
        }
        let records = run(&context, pool).await;
        result.records.extend(records);
    }
    shared.barrier.wait();
    if shard == 0 {
        shared.run_end_ns.store(shared.now_ns(), Ordering::Relaxed);
        shared.read_server_cpu(&shared.server_cpu_end_ticks);
        shared.phase.store(PHASE_CLEANUP, Ordering::Relaxed);
        cleanup(&context, &mut result).await;
    }
    result
}

/// Uploads the objects this shard's workers need: object `n` belongs to worker
/// `n % concurrent` and lives under that worker's prefix.
async fn prepare(context: &ShardContext) -> Result<KeyPool, String> {
    let shared = &context.shared;
    let objects = shared.args.objects_to_prepare(shared.mode);
    let mut tasks = Vec::new();
    for &worker in &context.workers {
        let mut rng = SmallRng::seed_from_u64(0xB0D1 ^ worker as u64);
        let planned: Vec<Object> = (worker..objects)
            .step_by(shared.args.concurrent)
            .map(|n| Object {
                key: format!("{}{n}.rnd", shared.worker_prefix(worker)),
                size: object_size(&shared.args, &mut rng),
            })
            .collect();
        let (client, bodies) = (Rc::clone(&context.client), Rc::clone(&context.bodies));
        tasks.push(monoio::spawn(async move {
            for object in &planned {
                let body = bodies.for_object(&object.key, object.size);
                client
                    .put_object(&object.key, &body.payload(object.size))
                    .await
                    .map_err(|e| format!("{}: {e}", object.key))?;
            }
            Ok::<Vec<Object>, String>(planned)
        }));
    }
    let pool = KeyPool::default();
    let mut first_error = None;
    for task in tasks {
        match task.await {
            Ok(objects) => pool.extend(objects),
            Err(error) => first_error = first_error.or(Some(error)),
        }
    }
    first_error.map_or(Ok(pool), Err)
}

/// The measured phase: every worker of this shard loops until the deadline.
async fn run(context: &ShardContext, pool: KeyPool) -> Vec<Record> {
    let deadline = Instant::now() + context.shared.args.duration;
    let records = Rc::new(RefCell::new(Vec::new()));
    let pool = Rc::new(pool);
    let tasks: Vec<_> = context
        .workers
        .iter()
        .map(|&index| {
            let worker = Worker::new(context, index, Rc::clone(&pool), Rc::clone(&records));
            monoio::spawn(worker.run(deadline))
        })
        .collect();
    for task in tasks {
        task.await;
    }
    Rc::try_unwrap(records)
        .map(RefCell::into_inner)
        .unwrap_or_default()
}

/// Removes the run's objects (unless --noclear) and an upload left incomplete.
async fn cleanup(context: &ShardContext, result: &mut ShardResult) {
    let shared = &context.shared;
    if let Err(error) = multipart::abort_incomplete(context).await {
        result.warnings.push(format!("cleanup: {error}"));
    }
    if shared.args.noclear {
        return;
    }
    let prefix = format!("{}/", shared.run_prefix);
    let removed = async {
        let keys = context.client.list_all(&prefix).await?;
        for batch in keys.chunks(1000) {
            context.client.delete_objects(batch).await?;
        }
        Ok::<(), String>(())
    };
    if let Err(error) = removed.await {
        result.warnings.push(format!("cleanup: {error}"));
    }
}
