//! `shoal debug complete-bench`: how long CompleteMultipartUpload takes for an upload
//! of many parts, on real drives, without HTTP. Completing writes metadata only, so the
//! time depends on the part count, not the part sizes: the parts are small (the part
//! size minimum is lowered for this run) to make a 10,000-part upload quick to build.

use std::time::Instant;

use futures_util::future::join_all;
use shoal_io::{Clock, Drive};

use crate::error::{Error, Result};
use crate::object::condition::WriteCondition;
use crate::object::get::ByteRange;
use crate::object::multipart::{CompletePart, UploadOptions};
use crate::object::put::{PutOptions, SliceSource};
use crate::object::store::Store;

const BUCKET: &str = "complete-bench";
/// Parts uploaded at once.
const UPLOADS_IN_FLIGHT: usize = 32;

/// Builds `runs` uploads of `parts` parts of `part_bytes` each, completes each, checks
/// the object, and prints the times (and their median).
pub async fn run_complete_bench<D: Drive, C: Clock>(
    store: &Store<D, C>,
    parts: u32,
    part_bytes: usize,
    runs: usize,
) -> Result<()> {
    match store.make_bucket(BUCKET).await {
        Ok(()) | Err(Error::BucketAlreadyOwnedByYou) => {}
        Err(e) => return Err(e),
    }
    let mut complete_ms = Vec::with_capacity(runs);
    for run in 1..=runs {
        let key = format!("run-{run}");
        let upload = store
            .create_multipart_upload(BUCKET, &key, &UploadOptions::default())
            .await?;
        let started = Instant::now();
        let mut done: Vec<CompletePart> = Vec::with_capacity(parts as usize);
        let numbers: Vec<u32> = (1..=parts).collect();
        for batch in numbers.chunks(UPLOADS_IN_FLIGHT) {
            let uploads = batch.iter().map(|&number| {
                let body = part_body(number, part_bytes);
                let (key, id) = (&key, &upload.upload_id);
                async move {
                    let options = PutOptions {
                        size_bytes: Some(body.len() as u64),
                        ..PutOptions::default()
                    };
                    store
                        .upload_part((BUCKET, key, id), number, &options, &mut SliceSource(&body))
                        .await
                }
            });
            for part in join_all(uploads).await {
                let part = part?;
                done.push(CompletePart {
                    number: part.number,
                    etag: hex::encode(part.md5),
                    checksum: None,
                });
            }
        }
        let upload_secs = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let info = store
            .complete_multipart_upload(
                (BUCKET, &key, &upload.upload_id),
                &done,
                None,
                &WriteCondition::Always,
            )
            .await?;
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        complete_ms.push(elapsed_ms);
        verify(store, &key, parts, part_bytes).await?;
        println!(
            "run {run}: {parts} parts of {part_bytes} B uploaded in {upload_secs:.1} s \
             ({:.0} parts/s); CompleteMultipartUpload took {elapsed_ms:.1} ms (ETag {})",
            f64::from(parts) / upload_secs,
            info.etag
        );
        store.delete_object(BUCKET, &key).await?;
    }
    complete_ms.sort_by(f64::total_cmp);
    println!(
        "CompleteMultipartUpload of {parts} parts: median {:.1} ms over {runs} run(s)",
        complete_ms[complete_ms.len() / 2]
    );
    Ok(())
}

fn part_body(number: u32, len: usize) -> Vec<u8> {
    let mut body = vec![0u8; len];
    for (i, byte) in body.iter_mut().enumerate() {
        *byte = (number as usize).wrapping_mul(31).wrapping_add(i) as u8;
    }
    body
}

/// The completed object has every part, and its first and last bytes are right.
async fn verify<D: Drive, C: Clock>(
    store: &Store<D, C>,
    key: &str,
    parts: u32,
    part_bytes: usize,
) -> Result<()> {
    let info = store.head_object(BUCKET, key).await?;
    let size = u64::from(parts) * part_bytes as u64;
    if info.parts.len() != parts as usize || info.size_bytes != size {
        return Err(Error::DataUnavailable(format!(
            "completed object has {} parts and {} bytes, expected {parts} and {size}",
            info.parts.len(),
            info.size_bytes
        )));
    }
    for (number, offset) in [(1, 0), (parts, size - part_bytes as u64)] {
        let range = ByteRange::FromTo {
            first: offset,
            last: offset + part_bytes as u64 - 1,
        };
        let bytes = store
            .get_object(BUCKET, key, Some(range))
            .await?
            .read_all()
            .await?;
        if bytes != part_body(number, part_bytes) {
            return Err(Error::DataUnavailable(format!(
                "part {number} reads back wrong"
            )));
        }
    }
    Ok(())
}
