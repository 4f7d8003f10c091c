//! The log output's writer: events go to stderr through one writer thread, so a shard
//! that logs never waits for stderr (a pipe whose reader is slow, a full journal).
//!
//! Invariants: an event's line is handed to the writer thread whole, with `try_send`
//! into a queue of [`QUEUE_LINES`] lines; when the queue is full the line is dropped and
//! counted, and the writer says how many were dropped before its next line. The writer
//! writes what it finds queued in one go, then rests [`BATCH_PAUSE`]. ERROR
//! events are written at once instead (rare, and the one that reports a panic must be
//! out before the process aborts). At exit [`LogQueue::finish`] waits (bounded) until
//! every queued line is written.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;

/// Lines waiting for the writer thread.
pub const QUEUE_LINES: usize = 4096;
/// Longest wait at exit for the queued lines.
const FINISH_WAIT: Duration = Duration::from_secs(2);

/// Shared by the log output (which queues lines) and `main` (which finishes it).
#[derive(Clone)]
pub struct LogQueue {
    inner: Arc<Inner>,
}

struct Inner {
    sender: SyncSender<Vec<u8>>,
    dropped: Arc<AtomicU64>,
    done: Mutex<Receiver<()>>,
}

impl LogQueue {
    /// Starts the writer thread; `json` says how to word the "lines dropped" notice.
    pub fn start(json: bool) -> Result<Self, String> {
        let (sender, lines) = sync_channel::<Vec<u8>>(QUEUE_LINES);
        let (done_sender, done) = sync_channel(1);
        let dropped = Arc::new(AtomicU64::new(0));
        let counted = dropped.clone();
        std::thread::Builder::new()
            .name("shoal-log".to_owned())
            .spawn(move || {
                write_lines(&lines, &counted, json);
                let _ = done_sender.send(());
            })
            .map_err(|e| format!("cannot start the log writer: {e}"))?;
        Ok(Self {
            inner: Arc::new(Inner {
                sender,
                dropped,
                done: Mutex::new(done),
            }),
        })
    }

    /// Queues `count` whole lines (`lines`, shard-rendered request lines) without
    /// waiting; a full queue drops and counts them.
    pub fn push_lines(&self, lines: Vec<u8>, count: u64) {
        if lines.is_empty() {
            return; // the end marker is an empty line
        }
        if self.inner.sender.try_send(lines).is_err() {
            self.inner.dropped.fetch_add(count, Ordering::Relaxed);
        }
    }

    /// Waits (at most [`FINISH_WAIT`]) until the lines queued so far are written. An
    /// empty line is the end marker (an event's line is never empty).
    pub fn finish(&self) {
        let deadline = Instant::now() + FINISH_WAIT;
        while let Err(TrySendError::Full(_)) = self.inner.sender.try_send(Vec::new()) {
            if Instant::now() >= deadline {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let done = self
            .inner
            .done
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let _ = done.recv_timeout(left);
    }
}

/// How long the writer rests after writing what it found queued: lines queued meanwhile
/// go out together in one write, and a shard that queues a line while the writer rests
/// does not have to wake it (a futex call per line otherwise).
const BATCH_PAUSE: Duration = Duration::from_millis(5);
/// The writer's buffer: a batch larger than this goes out in several writes.
const BATCH_BYTES: usize = 64 << 10;

fn write_lines(lines: &Receiver<Vec<u8>>, dropped: &AtomicU64, json: bool) {
    let mut out = std::io::BufWriter::with_capacity(BATCH_BYTES, std::io::stderr());
    while let Ok(first) = lines.recv() {
        let mut next = Some(first);
        while let Some(line) = next {
            if line.is_empty() {
                let _ = out.flush();
                return;
            }
            let missed = dropped.swap(0, Ordering::Relaxed);
            if missed > 0 {
                let _ = out.write_all(dropped_notice(missed, json).as_bytes());
            }
            let _ = out.write_all(&line);
            next = lines.try_recv().ok();
        }
        let _ = out.flush();
        std::thread::sleep(BATCH_PAUSE);
    }
    let _ = out.flush();
}

fn dropped_notice(missed: u64, json: bool) -> String {
    if json {
        format!(
            "{{\"level\":\"WARN\",\"message\":\"{missed} log line(s) dropped: stderr is slower than the server logs\",\"dropped\":{missed}}}\n"
        )
    } else {
        format!("WARN {missed} log line(s) dropped: stderr is slower than the server logs\n")
    }
}

/// One event's writer: collects its line, then queues it (or writes it at once).
pub enum EventWriter<'a> {
    Queued(&'a LogQueue, Vec<u8>),
    Direct(std::io::Stderr),
}

impl Write for EventWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        match self {
            EventWriter::Queued(_, line) => {
                line.extend_from_slice(bytes);
                Ok(bytes.len())
            }
            EventWriter::Direct(stderr) => stderr.write(bytes),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            EventWriter::Queued(..) => Ok(()),
            EventWriter::Direct(stderr) => stderr.flush(),
        }
    }
}

impl Drop for EventWriter<'_> {
    fn drop(&mut self) {
        if let EventWriter::Queued(queue, line) = self
            && !line.is_empty()
            && queue.inner.sender.try_send(std::mem::take(line)).is_err()
        {
            queue.inner.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl<'a> MakeWriter<'a> for LogQueue {
    type Writer = EventWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        EventWriter::Queued(self, Vec::with_capacity(256))
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        if *meta.level() == tracing::Level::ERROR {
            EventWriter::Direct(std::io::stderr())
        } else {
            self.make_writer()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A full queue drops and counts lines instead of waiting.
    #[test]
    fn full_queue_drops_and_counts() {
        let (sender, _lines) = sync_channel(1);
        let (_, done) = sync_channel(1);
        let queue = LogQueue {
            inner: Arc::new(Inner {
                sender,
                dropped: Arc::new(AtomicU64::new(0)),
                done: Mutex::new(done),
            }),
        };
        for _ in 0..3 {
            let mut writer = queue.make_writer();
            writer.write_all(b"line\n").unwrap();
        }
        assert_eq!(queue.inner.dropped.load(Ordering::Relaxed), 2);
    }
}
