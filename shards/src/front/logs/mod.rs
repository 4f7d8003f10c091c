//! Where a shard's finished requests are written down: the request log (one event per
//! request on the `shoal::request` target, on when the filter enables it:
//! `--log-requests`), `shoal admin trace` subscribers (`admin/trace.rs`), and the audit
//! log (`audit.rs`). Fed by the shard's `Observer` with each `RequestRecord`.
//!
//! Invariants: with the request log off, no trace subscriber and no audit log, a
//! finished request costs a disabled event's interest check and one relaxed load;
//! nothing is formatted or allocated. Nothing here waits: the audit log and the trace
//! hand over with `try_send`, the request log writes through the process's log output.
//! The request log stays a `tracing` target (so `SHOAL_LOG` and `admin config set
//! log-requests` switch it), but when the binary gives a direct path
//! (`LogControl::write_request_lines`) the shard renders its lines itself
//! (`render::request_line`, the same shape `tracing` prints) into a per-shard buffer
//! handed over at [`REQUEST_LINES_BATCH_BYTES`] and on the shard's flush tick: no
//! allocation per request, no wake-up of the writer thread per request.

pub mod audit;
pub mod render;
pub mod webhook;

use std::sync::Arc;

use shoal_io::{Clock, SystemClock};

use crate::front::admin::node::Node;
use crate::front::admin::trace::{TraceFormat, TraceTap};
use crate::front::observe::RequestRecord;
use crate::front::settings::LogControl;

/// The target of the request log (enabled or disabled by the log filter).
pub const REQUEST_TARGET: &str = "shoal::request";
/// A shard hands its request lines over once they fill this much (else each tick).
pub const REQUEST_LINES_BATCH_BYTES: usize = 32 << 10;

/// A shard's request lines not yet handed to the log output.
#[derive(Default)]
struct PendingLines {
    bytes: String,
    count: u64,
}

/// One shard's writers of finished requests.
#[derive(Default)]
pub struct RequestLogs {
    shard_index: usize,
    /// The node's trace hub, and this shard's copy of its subscribers.
    node: Option<Arc<Node>>,
    tap: TraceTap,
    audit: Option<audit::AuditShard>,
    /// Shown in audit records of requests that passed the signature gate.
    access_key: String,
    /// Request lines rendered here, for the log output's direct path.
    pending: std::cell::RefCell<PendingLines>,
}

impl RequestLogs {
    pub fn new(shard_index: usize, access_key: String) -> Self {
        Self {
            shard_index,
            access_key,
            ..Self::default()
        }
    }

    #[must_use]
    pub fn with_node(mut self, node: Arc<Node>) -> Self {
        self.node = Some(node);
        self
    }

    #[must_use]
    pub fn with_audit(mut self, audit: Option<audit::AuditShard>) -> Self {
        self.audit = audit;
        self
    }

    /// Writes `record` wherever it is wanted.
    pub fn record(&self, record: &RequestRecord<'_>) {
        if tracing::enabled!(target: REQUEST_TARGET, tracing::Level::INFO) {
            self.log_request(record);
        }
        self.offer_trace_and_audit(record);
    }

    /// The request log's line for `record`: rendered here when the log output has a
    /// direct path, else one `tracing` event.
    fn log_request(&self, record: &RequestRecord<'_>) {
        if let Some(log) = self.log_control() {
            let full = {
                let mut pending = self.pending.borrow_mut();
                let now = SystemClock.now_unix_nanos();
                render::request_line(
                    record,
                    self.shard_index,
                    now,
                    log.json(),
                    &mut pending.bytes,
                );
                pending.count += 1;
                pending.bytes.len() >= REQUEST_LINES_BATCH_BYTES
            };
            if full {
                self.hand_over_lines(log);
            }
            return;
        }
        tracing::info!(
            target: REQUEST_TARGET,
            shard = self.shard_index,
            request_id = record.request_id,
            api = record.api.name(),
            bucket = record.bucket,
            key = record.key,
            status = record.status,
            rx = record.received_bytes,
            tx = record.sent_bytes,
            // Whole microseconds, so the number prints short (0.359, not 0.35899…).
            duration_ms = record.duration.as_micros() as f64 / 1000.0,
            client = %record.client.map_or_else(|| "-".to_owned(), |ip| ip.to_string()),
            canceled = record.canceled,
            "request"
        );
    }

    /// The log output, when it takes request lines directly.
    fn log_control(&self) -> Option<&Arc<dyn LogControl>> {
        let log = self.node.as_ref()?.settings.log_control()?;
        log.direct_request_lines().then_some(log)
    }

    /// Hands the pending request lines to the log output.
    fn hand_over_lines(&self, log: &Arc<dyn LogControl>) {
        let PendingLines { bytes, count } = std::mem::take(&mut *self.pending.borrow_mut());
        if count > 0 {
            log.write_request_lines(bytes.into_bytes(), count);
        }
    }

    fn offer_trace_and_audit(&self, record: &RequestRecord<'_>) {
        if let Some(node) = &self.node {
            node.trace.offer(
                &self.tap,
                record.api.name(),
                record.status,
                record.bucket,
                |format| {
                    let mut line = String::with_capacity(256);
                    let now = SystemClock.now_unix_nanos();
                    match format {
                        TraceFormat::Text => render::trace_line(record, now, &mut line),
                        TraceFormat::Json => {
                            render::audit_line(record, now, &self.access_key, &mut line);
                        }
                    }
                    line
                },
            );
        }
        if let Some(audit) = &self.audit {
            let now = SystemClock.now_unix_nanos();
            audit.push(|out| render::audit_line(record, now, &self.access_key, out));
        }
    }

    /// Hands the audit buffer and the pending request lines over (the shard's flush
    /// tick, and its stop).
    pub fn flush(&self) {
        if let Some(log) = self.log_control() {
            self.hand_over_lines(log);
        }
        if let Some(audit) = &self.audit {
            audit.flush();
        }
    }

    /// Whether this shard has buffers to hand over on a tick (audit records, or
    /// request lines it may render).
    pub fn needs_flush_tick(&self) -> bool {
        self.audit.is_some() || self.log_control().is_some()
    }
}
