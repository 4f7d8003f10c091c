//! A crash-test workload: many concurrent puts and overwrites with self-describing
//! bodies, and a verifier that checks what survived. Used by `shoal debug stress` /
//! `shoal debug verify` and the `kill -9` test.
//!
//! Keys `key-0 … key-(n-1)` are split among writers (writer w owns keys with
//! `i % writers == w`), so each key has one writer and its generations only grow. Each
//! acknowledged put is reported as `ack KEY GEN` after the store returned, so the
//! verifier can demand: every key holds a complete body of a generation at least its
//! last acknowledged one, and at most one more (the put in flight at the kill).

use std::cell::Cell;
use std::io::Write;
use std::rc::Rc;

use shoal_io::{Clock, Drive};

use crate::error::{Error, Result};
use crate::object::put::{PutOptions, SliceSource};
use crate::object::store::Store;

pub const STRESS_BUCKET: &str = "stress";

/// Body sizes cycle through inline, one-stripe and multi-stripe objects.
const SIZES: [usize; 4] = [100, 70_000, (1 << 20) + 3, 2_500_000];

/// The body of generation `generation` of `key`: a header then deterministic bytes.
pub fn stress_body(key: &str, generation: u64) -> Vec<u8> {
    let len = SIZES[(generation as usize + key.len()) % SIZES.len()];
    let mut out = format!("{key}|{generation}|{len}|").into_bytes();
    let mut state = shoal_erasure::bitrot::crc64_nvme(&out) | 1;
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.push((state >> 32) as u8);
    }
    out.truncate(len);
    out
}

/// Parses the generation out of a body and checks every byte; `None` if it is not
/// exactly a body `stress_body` produces for `key`.
pub fn check_body(key: &str, bytes: &[u8]) -> Option<u64> {
    let head = &bytes[..bytes.len().min(key.len() + 32)];
    let mut bars = head
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'|')
        .map(|(i, _)| i);
    let (first, second) = (bars.next()?, bars.next()?);
    if &bytes[..first] != key.as_bytes() {
        return None;
    }
    let generation = std::str::from_utf8(&bytes[first + 1..second])
        .ok()?
        .parse()
        .ok()?;
    (stress_body(key, generation) == bytes).then_some(generation)
}

/// Runs `writers` concurrent writers over `keys` keys until `puts_max` puts were
/// acknowledged, printing `ack KEY GEN` lines to stdout.
/// Generations start after `generation_base`, so a restarted run keeps them growing.
pub async fn run_stress<D: Drive, C: Clock>(
    store: &Store<D, C>,
    keys: usize,
    writers: usize,
    puts_max: u64,
    generation_base: u64,
) -> Result<()> {
    match store.make_bucket(STRESS_BUCKET).await {
        Ok(()) | Err(Error::BucketAlreadyOwnedByYou) => {}
        Err(e) => return Err(e),
    }
    let acked = Rc::new(Cell::new(0u64));
    let tasks = (0..writers).map(|w| {
        let acked = acked.clone();
        async move {
            let mut generation = generation_base + 1;
            while acked.get() < puts_max {
                for i in (w..keys).step_by(writers) {
                    let key = format!("key-{i}");
                    let data = stress_body(&key, generation);
                    let options = PutOptions {
                        size_bytes: Some(data.len() as u64),
                        ..PutOptions::default()
                    };
                    store
                        .put_object(STRESS_BUCKET, &key, &options, &mut SliceSource(&data))
                        .await?;
                    say(&format!("ack {key} {generation}"));
                    acked.set(acked.get() + 1);
                }
                generation += 1;
            }
            Ok::<(), Error>(())
        }
    });
    for result in futures_util::future::join_all(tasks).await {
        result?;
    }
    Ok(())
}

/// Reads every key back; prints `KEY GEN` (or `KEY missing`) and fails on any key whose
/// bytes are not exactly one generation's body.
pub async fn run_verify<D: Drive, C: Clock>(store: &Store<D, C>, keys: usize) -> Result<()> {
    let mut bad = Vec::new();
    for i in 0..keys {
        let key = format!("key-{i}");
        match store.get_object(STRESS_BUCKET, &key, None).await {
            Ok(reader) => {
                let bytes = reader.read_all().await?;
                match check_body(&key, &bytes) {
                    Some(generation) => say(&format!("{key} {generation}")),
                    None => bad.push(format!(
                        "{key}: {} bytes that are no generation's body",
                        bytes.len()
                    )),
                }
            }
            Err(Error::NoSuchKey | Error::NoSuchBucket) => say(&format!("{key} missing")),
            Err(e) => bad.push(format!("{key}: {e}")),
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(Error::DataUnavailable(bad.join("; ")))
    }
}

/// One line to stdout, flushed; a closed stdout is not an error worth dying for.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bodies are recognised exactly; a flipped byte or a truncation is not a body.
    #[test]
    fn bodies_check() {
        for generation in 1..6 {
            let body = stress_body("key-7", generation);
            assert_eq!(check_body("key-7", &body), Some(generation));
            assert_eq!(check_body("key-8", &body), None);
            let mut bad = body.clone();
            *bad.last_mut().unwrap() ^= 1;
            assert_eq!(check_body("key-7", &bad), None);
            assert_eq!(check_body("key-7", &body[..body.len() - 1]), None);
        }
    }
}
