//! The request counters of one shard: requests, errors, cancels and statuses per API,
//! time-to-first-byte and duration buckets per API, traffic and refusals.
//!
//! Invariants: plain `Cell`s owned by one shard (no atomics, no sharing); one flat table
//! whose layout ([`Family`]) is fixed at compile time, so recording a request is a few
//! index computations and additions, never an allocation, and a snapshot is a copy of
//! the table that merges with another shard's by adding element by element.

use std::cell::Cell;
use std::time::Duration;

use crate::front::observe::{API_COUNT, Api, Refusal, RequestRecord};

/// Upper bounds of the latency buckets, in microseconds (Prometheus' `le`, in seconds
/// when rendered); one more bucket counts what is above the last (`+Inf`).
pub const LATENCY_BOUNDS_MICROS: [u64; 13] = [
    1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000, 10_000_000,
];
/// Buckets per API: one per bound and the `+Inf` one.
pub const LATENCY_BUCKETS: usize = LATENCY_BOUNDS_MICROS.len() + 1;

/// HTTP statuses counted by code; any other counts as `other`.
pub const STATUSES: [u16; 25] = [
    200, 201, 204, 206, 301, 302, 304, 307, 400, 401, 403, 404, 405, 408, 409, 411, 412, 413, 416,
    431, 500, 501, 502, 503, 504,
];
/// Status slots per API: the codes above and `other`.
pub const STATUS_SLOTS: usize = STATUSES.len() + 1;

/// Refusal classes, in the order of their slots.
pub const REFUSALS: [Refusal; 4] = [
    Refusal::Auth,
    Refusal::Timestamp,
    Refusal::Header,
    Refusal::Invalid,
];

/// One family of counters: `len` cells from `offset` in the table.
#[derive(Clone, Copy, Debug)]
pub struct Family {
    pub offset: usize,
    pub len: usize,
}

impl Family {
    const fn after(previous: Family, len: usize) -> Family {
        Family {
            offset: previous.offset + previous.len,
            len,
        }
    }

    pub fn at(self, index: usize) -> usize {
        assert!(
            index < self.len,
            "index {index} outside a family of {}",
            self.len
        );
        self.offset + index
    }
}

pub const REQUESTS: Family = Family {
    offset: 0,
    len: API_COUNT,
};
pub const ERRORS_4XX: Family = Family::after(REQUESTS, API_COUNT);
pub const ERRORS_5XX: Family = Family::after(ERRORS_4XX, API_COUNT);
pub const CANCELED: Family = Family::after(ERRORS_5XX, API_COUNT);
/// A gauge: requests of each API being served now (sums across shards like a counter).
pub const INFLIGHT: Family = Family::after(CANCELED, API_COUNT);
pub const STATUS: Family = Family::after(INFLIGHT, API_COUNT * STATUS_SLOTS);
/// Per API, requests by bucket (not cumulative; rendering accumulates).
pub const TTFB: Family = Family::after(STATUS, API_COUNT * LATENCY_BUCKETS);
pub const DURATION: Family = Family::after(TTFB, API_COUNT * LATENCY_BUCKETS);
pub const DURATION_SUM_MICROS: Family = Family::after(DURATION, API_COUNT);
pub const RECEIVED_BYTES: Family = Family::after(DURATION_SUM_MICROS, 1);
pub const SENT_BYTES: Family = Family::after(RECEIVED_BYTES, 1);
pub const REFUSED: Family = Family::after(SENT_BYTES, REFUSALS.len());
/// Requests answered 503 SlowDown because the memory budget stayed full.
pub const SLOWDOWN: Family = Family::after(REFUSED, 1);
/// Connections closed at admission: shard full, client over its share.
pub const CONNECTIONS_REJECTED: Family = Family::after(SLOWDOWN, 2);
/// Cells in the table.
pub const CELLS: usize = CONNECTIONS_REJECTED.offset + CONNECTIONS_REJECTED.len;

/// The slot of `status` in [`STATUSES`] (the last slot is `other`).
pub fn status_slot(status: u16) -> usize {
    STATUSES
        .iter()
        .position(|s| *s == status)
        .unwrap_or(STATUSES.len())
}

/// The bucket of a latency: the first bound it does not exceed.
pub fn latency_bucket(latency: Duration) -> usize {
    let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
    LATENCY_BOUNDS_MICROS
        .iter()
        .position(|bound| micros <= *bound)
        .unwrap_or(LATENCY_BOUNDS_MICROS.len())
}

/// The counters of one shard.
pub struct RequestMetrics {
    cells: Box<[Cell<u64>]>,
}

impl Default for RequestMetrics {
    fn default() -> Self {
        Self {
            cells: (0..CELLS).map(|_| Cell::new(0)).collect(),
        }
    }
}

impl RequestMetrics {
    fn add(&self, cell: usize, amount: u64) {
        let cell = &self.cells[cell];
        cell.set(cell.get().wrapping_add(amount));
    }

    /// Counts a finished request.
    pub fn record(&self, record: &RequestRecord<'_>) {
        let api = record.api.index();
        self.add(REQUESTS.at(api), 1);
        match record.status {
            400..=499 => self.add(ERRORS_4XX.at(api), 1),
            500..=599 => self.add(ERRORS_5XX.at(api), 1),
            _ => {}
        }
        if record.canceled {
            self.add(CANCELED.at(api), 1);
        }
        if record.status != 0 {
            self.add(
                STATUS.at(api * STATUS_SLOTS + status_slot(record.status)),
                1,
            );
        }
        if let Some(ttfb) = record.ttfb {
            self.add(TTFB.at(api * LATENCY_BUCKETS + latency_bucket(ttfb)), 1);
        }
        let duration = record.duration;
        self.add(
            DURATION.at(api * LATENCY_BUCKETS + latency_bucket(duration)),
            1,
        );
        let micros = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
        self.add(DURATION_SUM_MICROS.at(api), micros);
        self.add(RECEIVED_BYTES.offset, record.received_bytes);
        self.add(SENT_BYTES.offset, record.sent_bytes);
        if let Some(refusal) = record.refusal {
            let slot = REFUSALS.iter().position(|r| *r == refusal).unwrap_or(0);
            self.add(REFUSED.at(slot), 1);
        }
    }

    /// Counts a request of `api` in flight until the guard is dropped.
    pub fn in_flight(&self, api: Api) -> InFlightApi<'_> {
        let cell = &self.cells[INFLIGHT.at(api.index())];
        cell.set(cell.get() + 1);
        InFlightApi { cell }
    }

    /// A request answered 503 SlowDown because the memory budget stayed full.
    pub fn slowdown(&self) {
        self.add(SLOWDOWN.offset, 1);
    }

    /// A connection closed at admission: `client_limit` when the client was over its
    /// share, else the shard was full.
    pub fn connection_rejected(&self, client_limit: bool) {
        self.add(CONNECTIONS_REJECTED.at(usize::from(client_limit)), 1);
    }

    /// A copy of every cell, in the table's layout.
    pub fn snapshot(&self) -> Box<[u64]> {
        self.cells.iter().map(Cell::get).collect()
    }
}

/// A request of one API in flight; the gauge goes down when it is dropped (unwind too).
pub struct InFlightApi<'a> {
    cell: &'a Cell<u64>,
}

impl Drop for InFlightApi<'_> {
    fn drop(&mut self) {
        self.cell.set(self.cell.get().saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::front::observe::Exchange;
    use shoal_http::Operation;

    fn record(api: Api, status: u16, duration_ms: u64) -> RequestRecord<'static> {
        let start = monoio::time::Instant::now();
        let exchange = Exchange::begin(start, 100);
        let mut record = RequestRecord::new("id", &exchange, start);
        record.api = api;
        record.status = status;
        record.duration = Duration::from_millis(duration_ms);
        record.ttfb = Some(Duration::from_millis(duration_ms / 2));
        record.sent_bytes = 500;
        record
    }

    /// A request lands in its API's request, status, error and latency cells.
    #[test]
    fn a_request_is_counted_in_its_cells() {
        let metrics = RequestMetrics::default();
        let get = Api::of(&Operation::GetObject);
        metrics.record(&record(get, 404, 30));
        metrics.record(&record(get, 200, 3));
        let cells = metrics.snapshot();
        let api = get.index();
        assert_eq!(cells[REQUESTS.at(api)], 2);
        assert_eq!(cells[ERRORS_4XX.at(api)], 1);
        assert_eq!(cells[ERRORS_5XX.at(api)], 0);
        assert_eq!(cells[STATUS.at(api * STATUS_SLOTS + status_slot(404))], 1);
        assert_eq!(cells[STATUS.at(api * STATUS_SLOTS + status_slot(200))], 1);
        assert_eq!(
            cells[DURATION.at(api * LATENCY_BUCKETS + 5)],
            1,
            "30 ms ≤ 50 ms"
        );
        assert_eq!(
            cells[DURATION.at(api * LATENCY_BUCKETS + 2)],
            1,
            "3 ms ≤ 5 ms"
        );
        assert_eq!(cells[DURATION_SUM_MICROS.at(api)], 33_000);
        assert_eq!(cells[SENT_BYTES.offset], 1000);
        assert_eq!(cells[RECEIVED_BYTES.offset], 200);
    }

    /// Bucket and status slots cover every value, with overflow slots at the end.
    #[test]
    fn slots_cover_every_value() {
        assert_eq!(latency_bucket(Duration::ZERO), 0);
        assert_eq!(latency_bucket(Duration::from_millis(1)), 0);
        assert_eq!(latency_bucket(Duration::from_secs(11)), LATENCY_BUCKETS - 1);
        assert_eq!(latency_bucket(Duration::MAX), LATENCY_BUCKETS - 1);
        assert_eq!(status_slot(599), STATUSES.len());
        assert_eq!(status_slot(200), 0);
    }

    /// The in-flight gauge follows its guards.
    #[test]
    fn in_flight_follows_guards() {
        let metrics = RequestMetrics::default();
        let put = Api::of(&Operation::PutObject);
        let guard = metrics.in_flight(put);
        assert_eq!(metrics.snapshot()[INFLIGHT.at(put.index())], 1);
        drop(guard);
        assert_eq!(metrics.snapshot()[INFLIGHT.at(put.index())], 0);
    }
}
