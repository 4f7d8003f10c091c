//! `multipart`, as warp has it: one object uploaded in `--parts` parts of
//! `--part.size`, then read back part by part (`GET ?partNumber=N`) for `--duration`.
//!
//! ```text
//! shard 0: CreateMultipartUpload | barrier | every worker uploads its part numbers
//! (worker w: w+1, w+1+concurrent, ...), each UploadPart measured | barrier |
//! shard 0: CompleteMultipartUpload of every part, measured on its own
//! ```
//!
//! The UploadParts are reported as their own operation kind over the upload phase's
//! time window, and the CompleteMultipartUpload as a single latency with its part
//! count (the figure "Complete of 10,000 parts"). Unlike warp, the object lives under
//! the run's prefix so cleanup removes it with the rest; an upload that never completed
//! is aborted at cleanup (even with --noclear: an incomplete upload holds storage and
//! is of no use to anyone).

use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::client::s3xml::CompletedPart;
use crate::load::operation::{Done, finish};
use crate::load::pacing::Pacer;
use crate::load::shared::{MultipartState, PHASE_UPLOAD, ShardContext, ShardResult, fail};
use crate::report::record::{OpKind, Record};

/// The upload phase of the multipart mode (see the file header); a failure aborts the
/// run through `fail`, with every shard still passing both barriers.
pub(crate) async fn upload(context: &ShardContext, result: &mut ShardResult) {
    let shared = &context.shared;
    let key = shared.multipart_key();
    if context.shard == 0 && !shared.aborted() {
        match context.client.create_multipart_upload(&key).await {
            Ok(upload_id) => lock(context).upload_id = Some(upload_id),
            Err(error) => fail(
                shared,
                result,
                format!("CreateMultipartUpload {key}: {error}"),
            ),
        }
        shared.phase.store(PHASE_UPLOAD, Ordering::Relaxed);
        shared
            .upload_start_ns
            .store(shared.now_ns(), Ordering::Relaxed);
    }
    shared.barrier.wait();
    if !shared.aborted() {
        let upload_id = lock(context).upload_id.clone().expect("created before");
        let (records, parts, error) = upload_parts(context, &key, &upload_id).await;
        result.records.extend(records);
        lock(context).parts.extend(parts);
        if let Some(error) = error {
            fail(shared, result, format!("UploadPart: {error}"));
        }
    }
    shared.barrier.wait();
    if context.shard == 0 {
        shared
            .upload_end_ns
            .store(shared.now_ns(), Ordering::Relaxed);
        if !shared.aborted() {
            complete(context, &key, result).await;
        }
    }
}

fn lock(context: &ShardContext) -> std::sync::MutexGuard<'_, MultipartState> {
    context
        .shared
        .multipart
        .lock()
        .expect("no shard panics while holding the multipart state")
}

/// This shard's workers upload their part numbers; returns the records, the parts
/// uploaded and the first error.
async fn upload_parts(
    context: &ShardContext,
    key: &str,
    upload_id: &str,
) -> (Vec<Record>, Vec<CompletedPart>, Option<String>) {
    let tasks: Vec<_> = context
        .workers
        .iter()
        .map(|&worker| {
            let shared = std::sync::Arc::clone(&context.shared);
            let (client, bodies) = (
                std::rc::Rc::clone(&context.client),
                std::rc::Rc::clone(&context.bodies),
            );
            let (key, upload_id, shard) = (key.to_owned(), upload_id.to_owned(), context.shard);
            monoio::spawn(async move {
                let args = &shared.args;
                let mut pacer = Pacer::new(args.rps_limit, args.concurrent, worker, Instant::now());
                let (mut records, mut parts) = (Vec::new(), Vec::new());
                for part_number in (worker + 1..=args.parts).step_by(args.concurrent) {
                    if let Some(pacer) = &mut pacer {
                        monoio::time::sleep(pacer.delay(Instant::now())).await;
                    }
                    let part_number = part_number as u32;
                    let body = bodies.for_object(&format!("{key}#{part_number}"), args.part_size);
                    let payload = body.payload(args.part_size);
                    let start = Instant::now();
                    let outcome = client
                        .upload_part(&key, &upload_id, part_number, &payload)
                        .await;
                    let etag = outcome.as_ref().ok().and_then(|o| o.etag.clone());
                    let error = outcome.as_ref().err().cloned();
                    let done = Done {
                        kind: OpKind::UploadPart,
                        result: outcome,
                        bytes: payload.data.len() as u64,
                        objects: 1,
                    };
                    let record = finish(&shared, worker, start, done);
                    shared.live[shard].add(&record);
                    records.push(record);
                    if let Some(error) = error {
                        return (records, parts, Some(format!("part {part_number}: {error}")));
                    }
                    parts.push(CompletedPart {
                        part_number,
                        etag: etag.expect("upload_part fails without an ETag"),
                        checksum: payload.checksum.as_ref().map(|(_, v)| v.to_string()),
                    });
                }
                (records, parts, None)
            })
        })
        .collect();
    let (mut records, mut parts, mut first_error) = (Vec::new(), Vec::new(), None);
    for task in tasks {
        let (task_records, task_parts, error) = task.await;
        records.extend(task_records);
        parts.extend(task_parts);
        first_error = first_error.or(error);
    }
    (records, parts, first_error)
}

/// CompleteMultipartUpload of every part, recorded as one operation.
async fn complete(context: &ShardContext, key: &str, result: &mut ShardResult) {
    let shared = &context.shared;
    let (upload_id, mut parts) = {
        let mut state = lock(context);
        let upload_id = state.upload_id.clone().expect("created before");
        (upload_id, std::mem::take(&mut state.parts))
    };
    parts.sort_unstable_by_key(|part| part.part_number);
    assert_eq!(
        parts.len(),
        shared.args.parts,
        "every part uploaded or aborted"
    );
    let start = Instant::now();
    let outcome = context
        .client
        .complete_multipart_upload(key, &upload_id, &parts)
        .await;
    let error = outcome.as_ref().err().cloned();
    let done = Done {
        kind: OpKind::Complete,
        result: outcome,
        bytes: 0,
        objects: parts.len() as u32,
    };
    result.records.push(finish(shared, 0, start, done));
    match error {
        None => lock(context).completed = true,
        Some(error) => fail(
            shared,
            result,
            format!("CompleteMultipartUpload of {} parts: {error}", parts.len()),
        ),
    }
}

/// Aborts the run's upload if it was created and never completed.
pub(crate) async fn abort_incomplete(context: &ShardContext) -> Result<(), String> {
    let upload_id = {
        let state = lock(context);
        match (&state.upload_id, state.completed) {
            (Some(upload_id), false) => upload_id.clone(),
            _ => return Ok(()),
        }
    };
    let key = context.shared.multipart_key();
    context
        .client
        .abort_multipart_upload(&key, &upload_id)
        .await
        .map(|_| ())
        .map_err(|e| format!("AbortMultipartUpload {key}: {e}"))
}
