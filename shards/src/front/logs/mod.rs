//! Where a shard's finished requests are written down: the request log (one event per
//! request on the `shoal::request` target, on when the filter enables it:
//! `--log-requests`), `shoal admin trace` subscribers (`admin/trace.rs`), and the audit
//! log (`audit.rs`). Fed by the shard's `Observer` with each `RequestRecord`.
//!
//! Invariants: with the request log off, no trace subscriber and no audit log, a
//! finished request costs a disabled event's interest check and one relaxed load;
//! nothing is formatted or allocated. Nothing here waits: the audit log and the trace
//! hand over with `try_send`, the request log writes through the process's log output.

pub mod audit;
pub mod render;
pub mod webhook;

use std::sync::Arc;

use shoal_io::{Clock, SystemClock};

use crate::front::admin::node::Node;
use crate::front::admin::trace::{TraceFormat, TraceTap};
use crate::front::observe::RequestRecord;

/// The target of the request log (enabled or disabled by the log filter).
pub const REQUEST_TARGET: &str = "shoal::request";

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

    /// Hands the audit buffer over (the shard's flush tick, and its stop).
    pub fn flush(&self) {
        if let Some(audit) = &self.audit {
            audit.flush();
        }
    }

    pub fn has_audit(&self) -> bool {
        self.audit.is_some()
    }
}
