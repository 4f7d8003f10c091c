//! The audit log (`--audit-log FILE`, `--audit-webhook URL`): one JSON object per
//! request (`render.rs`), appended to FILE and POSTed to URL (`webhook.rs`).
//!
//! Shape: each shard encodes its records into its own buffer ([`AuditShard`]); a full
//! buffer, and every [`FLUSH_INTERVAL`] whatever it holds, is handed to the one writer
//! thread ([`AuditLog`]) through a bounded queue of [`QUEUE_BATCHES`] batches; the
//! thread appends batches to the file and posts them to the webhook, one after the
//! other (so a slow webhook holds the file back too, and the queue fills).
//!
//! Invariants:
//! - The request path never waits for the disk: a shard only encodes into memory and
//!   hands batches over with `try_send`. When the writer falls behind (a slow or full
//!   disk), the queue fills, the shard's buffer grows to [`SHARD_BUFFER_MAX_BYTES`], and
//!   then records are dropped and counted; each shard warns in the server log, once per
//!   flush interval at most, how many it dropped.
//! - A batch holds whole lines, so the file holds whole lines (one `write_all` per
//!   batch on a file opened for appending).
//! - At stop, every shard hands over what it holds (if the queue has room: a shard never
//!   waits for the disk, even then) and the writer drains the queue before the process
//!   exits ([`AuditLog::finish`]).

use std::cell::{Cell, RefCell};
use std::io::Write as _;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use crate::front::logs::webhook::Webhook;

/// Batches waiting for the writer thread, from every shard together.
pub const QUEUE_BATCHES: usize = 64;
/// A shard hands its buffer over once it holds this much.
pub const FLUSH_BYTES: usize = 64 << 10;
/// Most a shard's buffer may hold while the queue is full; records beyond are dropped.
pub const SHARD_BUFFER_MAX_BYTES: usize = 1 << 20;
/// How often a shard hands over whatever its buffer holds.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// The writer thread and the queue to it; one per process.
pub struct AuditLog {
    sender: SyncSender<String>,
    /// Told when the writer thread has written everything up to the end marker.
    done: Receiver<()>,
}

/// How long the process waits at exit for the writer to write what it was handed.
const FINISH_WAIT: Duration = Duration::from_secs(5);

impl AuditLog {
    /// Opens (creates, or appends to) `path`, checks the `webhook` URL, and starts the
    /// writer thread; `None` when neither is given.
    pub fn open(path: Option<&Path>, webhook: Option<&str>) -> Result<Option<Self>, String> {
        let mut targets = Vec::new();
        if let Some(path) = path {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("audit log {}: {e}", path.display()))?;
            targets.push(Target::File(file, path.display().to_string()));
        }
        if let Some(url) = webhook {
            targets.push(Target::Webhook(Webhook::parse(url)?));
        }
        if targets.is_empty() {
            return Ok(None);
        }
        let (sender, receiver) = sync_channel(QUEUE_BATCHES);
        let (done_sender, done) = sync_channel(1);
        std::thread::Builder::new()
            .name("shoal-audit".to_owned())
            .spawn(move || {
                write_batches(&mut targets, &receiver);
                let _ = done_sender.send(());
            })
            .map_err(|e| format!("cannot start the audit log writer: {e}"))?;
        Ok(Some(Self { sender, done }))
    }

    /// The queue, for the shards' [`AuditShard`]s.
    pub fn sender(&self) -> SyncSender<String> {
        self.sender.clone()
    }

    /// Waits (at most [`FINISH_WAIT`]) until every batch handed over so far is written;
    /// called once the shards have ended. An empty batch is the end marker (a shard
    /// never hands over an empty one).
    pub fn finish(self) {
        let deadline = std::time::Instant::now() + FINISH_WAIT;
        let mut marker = String::new();
        loop {
            match self.sender.try_send(marker) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) if std::time::Instant::now() < deadline => {
                    marker = back;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(_) => return,
            }
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if self.done.recv_timeout(left).is_err() {
            tracing::warn!(
                "audit log: the writer did not finish within {FINISH_WAIT:?}; its last records may be lost"
            );
        }
    }
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditLog")
    }
}

/// Where the writer thread puts batches: a file (with its name, for messages) or a
/// webhook.
enum Target {
    File(std::fs::File, String),
    Webhook(Webhook),
}

impl Target {
    fn write(&mut self, batch: &str) -> Result<(), String> {
        match self {
            Target::File(file, _) => file.write_all(batch.as_bytes()).map_err(|e| e.to_string()),
            Target::Webhook(hook) => hook.post(batch),
        }
    }

    fn name(&self) -> String {
        match self {
            Target::File(_, path) => path.clone(),
            Target::Webhook(hook) => hook.to_string(),
        }
    }
}

/// The writer thread: hands each batch to every target until the end marker (or until
/// every sender is gone). A target that fails is reported once per failing spell.
fn write_batches(targets: &mut [Target], batches: &Receiver<String>) {
    let mut failing = vec![false; targets.len()];
    while let Ok(batch) = batches.recv() {
        if batch.is_empty() {
            return; // the end marker
        }
        for (target, failing) in targets.iter_mut().zip(failing.iter_mut()) {
            let written = target.write(&batch);
            let name = target.name();
            match (written, *failing) {
                (Ok(()), true) => {
                    *failing = false;
                    tracing::info!(target = %name, "audit log: writing again");
                }
                (Err(e), false) => {
                    *failing = true;
                    tracing::error!(
                        target = %name,
                        error = %e,
                        "audit log: cannot write to {name} ({e}); its records are lost until it can"
                    );
                }
                _ => {}
            }
        }
    }
}

/// One shard's buffer of encoded records.
pub struct AuditShard {
    shard_index: usize,
    sender: SyncSender<String>,
    buffer: RefCell<String>,
    dropped: Cell<u64>,
}

impl std::fmt::Debug for AuditShard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditShard")
            .field("shard_index", &self.shard_index)
            .finish_non_exhaustive()
    }
}

impl AuditShard {
    pub fn new(shard_index: usize, sender: SyncSender<String>) -> Self {
        Self {
            shard_index,
            sender,
            buffer: RefCell::new(String::new()),
            dropped: Cell::new(0),
        }
    }

    /// Adds one record, encoded by `encode` into the buffer; drops it (counted) when the
    /// buffer is at its maximum.
    pub fn push(&self, encode: impl FnOnce(&mut String)) {
        let mut buffer = self.buffer.borrow_mut();
        if buffer.len() >= SHARD_BUFFER_MAX_BYTES {
            self.dropped.set(self.dropped.get() + 1);
            return;
        }
        encode(&mut buffer);
        if buffer.len() >= FLUSH_BYTES {
            self.hand_over(&mut buffer);
        }
    }

    /// Hands over whatever the buffer holds and reports drops (the flush tick).
    pub fn flush(&self) {
        self.hand_over(&mut self.buffer.borrow_mut());
        let dropped = self.dropped.replace(0);
        if dropped > 0 {
            tracing::warn!(
                shard = self.shard_index,
                dropped,
                "audit log: dropped {dropped} record(s): the writer is behind (slow or full disk?)"
            );
        }
    }

    fn hand_over(&self, buffer: &mut String) {
        if buffer.is_empty() {
            return;
        }
        let batch = std::mem::take(buffer);
        match self.sender.try_send(batch) {
            Ok(()) => {}
            // Kept for the next try; `push` stops growing it at its maximum.
            Err(TrySendError::Full(batch) | TrySendError::Disconnected(batch)) => *buffer = batch,
        }
    }
}

impl Drop for AuditShard {
    /// The shard ends: what it holds goes to the writer (which drains before exit).
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records reach the file as whole lines after a flush and at finish; a shard whose
    /// queue is stuck drops beyond its maximum instead of growing or waiting.
    #[test]
    fn records_reach_the_file_and_overflow_drops() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(Some(&path), None).unwrap().unwrap();
        let shard = AuditShard::new(0, log.sender());
        shard.push(|out| out.push_str("{\"a\":1}\n"));
        shard.flush();
        shard.push(|out| out.push_str("{\"a\":2}\n"));
        drop(shard);
        log.finish();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"a\":1}\n{\"a\":2}\n"
        );

        let (sender, _receiver) = sync_channel(0); // nobody receives: always full
        let stuck = AuditShard::new(1, sender);
        let line = "x".repeat(1000) + "\n";
        for _ in 0..(SHARD_BUFFER_MAX_BYTES / line.len() + 50) {
            stuck.push(|out| out.push_str(&line));
        }
        assert!(stuck.buffer.borrow().len() < SHARD_BUFFER_MAX_BYTES + line.len());
        assert!(stuck.dropped.get() >= 49);
        drop(stuck); // never waits, even on a stuck queue
    }
}
