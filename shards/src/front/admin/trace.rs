//! `shoal admin trace`: a live stream of the node's requests, one line per finished
//! request, filtered by API, minimum status and bucket.
//!
//! Shape: a trace request subscribes to the node's [`TraceHub`] with a bounded channel.
//! Every shard keeps its own copy of the subscriber list ([`TraceTap`]) and offers each
//! finished request to it; the trace request's shard streams what arrives as a chunked
//! response until the client goes away or the server stops.
//!
//! Invariants:
//! - With no subscriber, a finished request costs one relaxed load of the hub's
//!   generation and one compare: nothing is formatted, locked or sent. The hub's lock
//!   is taken only to subscribe, to unsubscribe, and by a shard refreshing its copy
//!   after either (a rare event).
//! - A subscriber never slows the request path: each shard's send is `try_send` into
//!   a bounded queue ([`QUEUE_LINES`]); when it is full the record is dropped and
//!   counted, and the stream tells its reader how many were dropped.
//! - A trace ends within [`TICK`] of its shard stopping, and a reader that vanished is
//!   noticed at the latest by the keep-alive line written every [`KEEPALIVE_TICKS`].

use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_channel::mpsc;
use futures_util::StreamExt;
use monoio::io::{AsyncReadRent, AsyncWriteRent};
use shoal_http::{S3Error, S3ErrorCode};

use crate::front::handler::{Call, RequestBody};

/// Lines one shard may queue for one subscriber before it drops records.
pub const QUEUE_LINES: usize = 256;
/// How often an idle trace checks that its shard still runs.
const TICK: Duration = Duration::from_secs(1);
/// Idle ticks between keep-alive lines (an empty line), which also reveal a reader gone.
const KEEPALIVE_TICKS: u32 = 5;
/// Most bytes one chunk of the stream carries.
const CHUNK_BYTES_MAX: usize = 64 << 10;

/// How a subscriber wants its lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceFormat {
    Text,
    Json,
}

/// Which requests a subscriber sees.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceFilter {
    /// The API name as AWS spells it (`GetObject`), compared ignoring case.
    pub api: Option<String>,
    pub status_min: u16,
    pub bucket: Option<String>,
}

impl TraceFilter {
    pub fn matches(&self, api: &str, status: u16, bucket: &str) -> bool {
        status >= self.status_min
            && self
                .api
                .as_deref()
                .is_none_or(|a| a.eq_ignore_ascii_case(api))
            && self.bucket.as_deref().is_none_or(|b| b == bucket)
    }
}

/// One trace request's registration.
#[derive(Debug)]
struct Subscription {
    id: u64,
    filter: TraceFilter,
    format: TraceFormat,
    sender: mpsc::Sender<String>,
    dropped: AtomicU64,
}

/// The node's subscribers; shared by every shard.
#[derive(Debug, Default)]
pub struct TraceHub {
    /// Bumped by every subscribe and unsubscribe; shards compare it with their copy's.
    generation: AtomicU64,
    next_id: AtomicU64,
    subscribers: Mutex<Vec<Arc<Subscription>>>,
}

impl TraceHub {
    fn subscribe(
        &self,
        filter: TraceFilter,
        format: TraceFormat,
    ) -> (Subscribed<'_>, mpsc::Receiver<String>) {
        let (sender, receiver) = mpsc::channel(QUEUE_LINES);
        let subscription = Arc::new(Subscription {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            filter,
            format,
            sender,
            dropped: AtomicU64::new(0),
        });
        let mut subscribers = self.lock();
        subscribers.push(subscription.clone());
        self.generation.fetch_add(1, Ordering::Release);
        drop(subscribers);
        (
            Subscribed {
                hub: self,
                subscription,
            },
            receiver,
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Subscription>>> {
        self.subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Offers one finished request to the subscribers through this shard's `tap`;
    /// `render` makes its line in the format asked (called only for a match).
    pub fn offer(
        &self,
        tap: &TraceTap,
        api: &str,
        status: u16,
        bucket: &str,
        render: impl Fn(TraceFormat) -> String,
    ) {
        let generation = self.generation.load(Ordering::Acquire);
        if generation != tap.generation.get() {
            self.refresh(tap, generation);
        }
        let mut taps = tap.subscribers.borrow_mut();
        for (subscription, sender) in taps.iter_mut() {
            if !subscription.filter.matches(api, status, bucket) {
                continue;
            }
            // A reader that is gone fails too: its unsubscribe follows.
            if let Err(e) = sender.try_send(render(subscription.format))
                && e.is_full()
            {
                subscription.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Makes `tap` a copy of the current subscribers (each with its own sender).
    fn refresh(&self, tap: &TraceTap, generation: u64) {
        let subscribers = self.lock();
        let copy = subscribers
            .iter()
            .map(|s| (s.clone(), s.sender.clone()))
            .collect();
        *tap.subscribers.borrow_mut() = copy;
        tap.generation.set(generation);
    }
}

/// A shard's copy of the subscriber list.
#[derive(Debug, Default)]
pub struct TraceTap {
    generation: Cell<u64>,
    subscribers: RefCell<Vec<(Arc<Subscription>, mpsc::Sender<String>)>>,
}

/// Unsubscribes when the trace request ends, however it ends.
struct Subscribed<'h> {
    hub: &'h TraceHub,
    subscription: Arc<Subscription>,
}

impl Drop for Subscribed<'_> {
    fn drop(&mut self) {
        let mut subscribers = self.hub.lock();
        subscribers.retain(|s| s.id != self.subscription.id);
        self.hub.generation.fetch_add(1, Ordering::Release);
    }
}

/// Parses the trace request's query: `api`, `status-min`, `bucket`, `format`.
pub fn parse_query(query: &[(String, String)]) -> Result<(TraceFilter, TraceFormat), S3Error> {
    let mut filter = TraceFilter::default();
    let mut format = TraceFormat::Text;
    for (name, value) in query {
        match name.as_str() {
            "api" => filter.api = Some(value.clone()),
            "bucket" => filter.bucket = Some(value.clone()),
            "status-min" => {
                filter.status_min = value.parse().map_err(|_| {
                    invalid(format!("status-min {value:?} is not a status (100..599)"))
                })?;
            }
            "format" => {
                format = match value.as_str() {
                    "text" => TraceFormat::Text,
                    "json" => TraceFormat::Json,
                    _ => return Err(invalid(format!("format {value:?}: use text or json"))),
                };
            }
            _ => {
                return Err(invalid(format!(
                    "trace takes api, status-min, bucket and format, not {name:?}"
                )));
            }
        }
    }
    Ok((filter, format))
}

fn invalid(message: String) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidArgument, message)
}

/// Streams matching requests to the client until it goes away or the shard stops.
pub async fn stream<S: AsyncReadRent + AsyncWriteRent>(
    call: &Call<'_>,
    body: &mut RequestBody<'_, S>,
) -> Result<bool, S3Error> {
    let (filter, format) = parse_query(&call.route.query)?;
    body.discard(0).await?;
    let ctx = call.ctx;
    let node = ctx.admin_node()?;
    let (subscribed, mut lines) = node.trace.subscribe(filter, format);
    let content_type = match format {
        TraceFormat::Text => "text/plain; charset=utf-8",
        TraceFormat::Json => "application/x-ndjson",
    };
    super::start_stream(call, body, content_type).await?;
    let mut idle_ticks = 0;
    while !ctx.stopping() {
        let next = monoio::select! {
            line = lines.next() => Some(line),
            () = monoio::time::sleep(TICK) => None,
        };
        let mut batch = String::new();
        match next {
            Some(Some(line)) => {
                idle_ticks = 0;
                note_dropped(&subscribed.subscription, format, &mut batch);
                batch.push_str(&line);
                while batch.len() < CHUNK_BYTES_MAX {
                    match lines.try_recv() {
                        Ok(line) => batch.push_str(&line),
                        Err(_) => break,
                    }
                }
            }
            Some(None) => break,
            None => {
                idle_ticks += 1;
                note_dropped(&subscribed.subscription, format, &mut batch);
                if batch.is_empty() && idle_ticks % KEEPALIVE_TICKS == 0 {
                    batch.push('\n');
                }
            }
        }
        if !batch.is_empty() && !super::write_chunk(body, batch.as_bytes()).await {
            return Ok(false);
        }
    }
    super::end_stream(body).await;
    Ok(false)
}

/// Tells the reader how many records it missed since the last time, if any.
fn note_dropped(subscription: &Subscription, format: TraceFormat, batch: &mut String) {
    let dropped = subscription.dropped.swap(0, Ordering::Relaxed);
    if dropped == 0 {
        return;
    }
    let _ = match format {
        TraceFormat::Text => writeln!(
            batch,
            "# {dropped} request(s) dropped: this trace reads slower than the server serves"
        ),
        TraceFormat::Json => writeln!(batch, "{{\"dropped\":{dropped}}}"),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Filters match on API (any case), minimum status and bucket together.
    #[test]
    fn filters_select_requests() {
        let all = TraceFilter::default();
        assert!(all.matches("GetObject", 200, "b"));
        let some = TraceFilter {
            api: Some("getobject".into()),
            status_min: 400,
            bucket: Some("b".into()),
        };
        assert!(some.matches("GetObject", 404, "b"));
        assert!(!some.matches("GetObject", 200, "b"));
        assert!(!some.matches("PutObject", 404, "b"));
        assert!(!some.matches("GetObject", 404, "c"));
    }

    /// The query is parsed strictly: a bad status or an unknown name is an error.
    #[test]
    fn query_is_checked() {
        let pairs = |items: &[(&str, &str)]| -> Vec<(String, String)> {
            items
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect()
        };
        let (filter, format) = parse_query(&pairs(&[
            ("api", "PutObject"),
            ("status-min", "500"),
            ("format", "json"),
        ]))
        .unwrap();
        assert_eq!(filter.status_min, 500);
        assert_eq!(format, TraceFormat::Json);
        assert!(parse_query(&pairs(&[("status-min", "lots")])).is_err());
        assert!(parse_query(&pairs(&[("colour", "red")])).is_err());
    }

    /// A subscriber gets matching records through a shard's tap; a full queue drops
    /// and counts instead of waiting; unsubscribing empties every tap at its next offer.
    #[test]
    fn hub_delivers_drops_and_unsubscribes() {
        let hub = TraceHub::default();
        let tap = TraceTap::default();
        hub.offer(&tap, "GetObject", 200, "b", |_| {
            unreachable!("no subscriber")
        });
        let (subscribed, mut lines) = hub.subscribe(TraceFilter::default(), TraceFormat::Text);
        hub.offer(&tap, "GetObject", 200, "b", |_| "one\n".to_owned());
        assert_eq!(lines.try_recv().ok().as_deref(), Some("one\n"));
        for _ in 0..QUEUE_LINES + 10 {
            hub.offer(&tap, "PutObject", 200, "b", |_| "x\n".to_owned());
        }
        assert!(subscribed.subscription.dropped.load(Ordering::Relaxed) >= 9);
        drop(subscribed);
        hub.offer(&tap, "GetObject", 200, "b", |_| {
            unreachable!("unsubscribed")
        });
        assert!(tap.subscribers.borrow().is_empty());
    }
}
