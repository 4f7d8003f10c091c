//! `heal`: heals, on demand, every object of one bucket (or of every bucket) under a
//! prefix, one object at a time with the store's own `heal_object` (the same repair
//! the drain task runs: under the key's lock, from verified chunks only, never over a
//! newer version), and streams what it does as JSON lines (chunked): one line per
//! object that was not found whole (`{"object": …, "outcome": …}`), a progress line
//! (`{"progress": …}`) at most every `PROGRESS_INTERVAL`, and a last line with
//! `"done": true` and the totals. `shoal admin heal` is its client.
//!
//! Query: `bucket` (none: every bucket), `prefix`, `deep` (verify every chunk of every
//! member even when the records agree), `dry-run` (judge and report, change nothing).
//!
//! Which objects: those a listing shows (the latest version of every key whose
//! metadata has read quorum). A key left on fewer drives than read quorum is not
//! listed; the background scanner, which walks every member, finds those.
//!
//! Bounds: at most `LINES_BYTES_MAX` of lines wait to be sent; one object at a time
//! on the shard that took the request, so the work
//! yields to that shard's requests between objects; it stops, after the object it is
//! healing, when the client goes away (a line cannot be written) or the shard stops.

use std::time::{Duration, Instant};

use monoio::io::{AsyncReadRent, AsyncWriteRent};
use shoal_http::{S3Error, S3ErrorCode};

use crate::front::handler::{Call, RequestBody};
use crate::front::json::JsonObject;
use crate::front::s3::error::to_s3;
use crate::object::heal::{HealOptions, HealOutcome, HealReport};
use crate::object::list::ListQuery;

/// Longest time between two progress lines.
pub const PROGRESS_INTERVAL: Duration = Duration::from_millis(500);
/// Longest silence while one object heals (an empty line is sent).
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
/// Most bytes of object lines held before they are sent (many damaged objects healed
/// within one progress interval go out early instead of piling up).
const LINES_BYTES_MAX: usize = 64 << 10;
/// Keys asked of one listing page.
const PAGE_KEYS: usize = 1000;

/// What the client asked.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct HealRequest {
    pub bucket: Option<String>,
    pub prefix: String,
    pub options: HealOptions,
}

/// Reads the query; unknown names and values are refused (nothing is ignored).
pub fn parse_query(query: &[(String, String)]) -> Result<HealRequest, S3Error> {
    let mut request = HealRequest::default();
    for (name, value) in query {
        match name.as_str() {
            "bucket" if !value.is_empty() => request.bucket = Some(value.clone()),
            "bucket" => {}
            "prefix" => request.prefix.clone_from(value),
            "deep" => request.options.deep = flag(name, value)?,
            "dry-run" => request.options.dry_run = flag(name, value)?,
            _ => {
                return Err(invalid(format!(
                    "heal takes bucket, prefix, deep and dry-run, not {name:?}"
                )));
            }
        }
    }
    if request.bucket.is_none() && !request.prefix.is_empty() {
        return Err(invalid("a prefix needs a bucket".to_owned()));
    }
    Ok(request)
}

fn flag(name: &str, value: &str) -> Result<bool, S3Error> {
    match value {
        "true" | "" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(format!("{name} {value:?}: use true or false"))),
    }
}

fn invalid(message: String) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidArgument, message)
}

/// Counts of one heal run.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    checked: u64,
    healthy: u64,
    healed: u64,
    damaged: u64,
    partial: u64,
    unreadable: u64,
    /// Objects gone or deleted by the time they were looked at.
    gone: u64,
    /// Heals that failed outright (a quorum error, a lock lost).
    failed: u64,
    bytes_written: u64,
}

impl Tally {
    /// Counts one object; the outcome's name when the object was not found whole.
    fn note(&mut self, result: &crate::error::Result<HealReport>) -> Option<&'static str> {
        self.checked += 1;
        let Ok(report) = result else {
            self.failed += 1;
            return Some("failed");
        };
        self.bytes_written += report.bytes_written;
        let (count, name) = match report.outcome {
            HealOutcome::Healthy => (&mut self.healthy, None),
            HealOutcome::Absent | HealOutcome::Deleted => (&mut self.gone, None),
            HealOutcome::Healed => (&mut self.healed, Some("healed")),
            HealOutcome::Damaged => (&mut self.damaged, Some("damaged")),
            HealOutcome::Partial => (&mut self.partial, Some("partial")),
            HealOutcome::Unreadable => (&mut self.unreadable, Some("unreadable")),
        };
        *count += 1;
        name
    }

    fn write(&self, doc: &mut JsonObject<'_>) {
        doc.number("checked", self.checked)
            .number("healthy", self.healthy)
            .number("healed", self.healed)
            .number("damaged", self.damaged)
            .number("partial", self.partial)
            .number("unreadable", self.unreadable)
            .number("gone", self.gone)
            .number("failed", self.failed)
            .number("bytes_written", self.bytes_written);
    }
}

/// Heals what the query names and streams the progress (see the module's text).
pub async fn stream<S: AsyncReadRent + AsyncWriteRent>(
    call: &Call<'_>,
    body: &mut RequestBody<'_, S>,
) -> Result<bool, S3Error> {
    let request = parse_query(&call.route.query)?;
    body.discard(0).await?;
    let ctx = call.ctx;
    let buckets = match &request.bucket {
        Some(bucket) => {
            ctx.store.head_bucket(bucket).await.map_err(|e| to_s3(&e))?;
            vec![bucket.clone()]
        }
        None => (ctx.store.list_buckets().await.map_err(|e| to_s3(&e))?)
            .into_iter()
            .map(|b| b.name)
            .collect(),
    };
    super::start_stream(call, body, "application/x-ndjson").await?;

    let mut tally = Tally::default();
    let mut sent_at = Instant::now();
    let mut lines = String::new();
    let mut stopped = false;
    'buckets: for bucket in &buckets {
        let mut query = ListQuery {
            prefix: request.prefix.clone(),
            max_keys: PAGE_KEYS,
            ..ListQuery::default()
        };
        loop {
            let page = match ctx.store.list_objects(bucket, &query).await {
                Ok(page) => page,
                Err(error) => {
                    line(&mut lines, |doc| {
                        doc.string("bucket", bucket)
                            .string("error", &format!("listing failed: {error}"));
                    });
                    tally.failed += 1;
                    break;
                }
            };
            for object in &page.objects {
                if ctx.stopping() {
                    stopped = true;
                    break 'buckets;
                }
                let healing = ctx.store.heal_object(bucket, &object.key, request.options);
                let Some(result) = keep_alive_while(body, healing).await else {
                    return Ok(false);
                };
                if let Some(outcome) = tally.note(&result) {
                    line(&mut lines, |doc| {
                        doc.string("bucket", bucket)
                            .string("object", &object.key)
                            .string("outcome", outcome);
                        if let Err(error) = &result {
                            doc.string("error", &error.to_string());
                        }
                    });
                }
                if sent_at.elapsed() >= PROGRESS_INTERVAL || lines.len() >= LINES_BYTES_MAX {
                    progress(&mut lines, &tally, bucket, &object.key);
                    if !write_chunk(body, &mut lines).await {
                        return Ok(false);
                    }
                    sent_at = Instant::now();
                }
            }
            match page.next_start_after {
                Some(next) if page.is_truncated => query.start_after = next,
                _ => break,
            }
        }
    }
    line(&mut lines, |doc| {
        doc.boolean("done", true)
            .boolean("stopped", stopped)
            .boolean("dry_run", request.options.dry_run)
            .boolean("deep", request.options.deep);
        tally.write(doc);
    });
    if write_chunk(body, &mut lines).await {
        super::end_stream(body).await;
    }
    Ok(false)
}

/// Awaits `work`, sending an empty line every `KEEPALIVE_INTERVAL` meanwhile (one big
/// object may take longer to heal than a client waits for a byte); `None` when the
/// client went away meanwhile. The work is always finished, never dropped half way.
async fn keep_alive_while<S: AsyncReadRent + AsyncWriteRent, T>(
    body: &mut RequestBody<'_, S>,
    work: impl std::future::Future<Output = T>,
) -> Option<T> {
    let mut work = std::pin::pin!(work);
    let mut reading = true;
    loop {
        monoio::select! {
            done = &mut work => return reading.then_some(done),
            () = monoio::time::sleep(KEEPALIVE_INTERVAL) => {
                if reading && !write_chunk(body, &mut "\n".to_owned()).await {
                    reading = false;
                }
            }
        }
    }
}

/// Appends one JSON line.
fn line(lines: &mut String, fill: impl FnOnce(&mut JsonObject<'_>)) {
    let mut doc = JsonObject::new(lines);
    fill(&mut doc);
    doc.finish();
    lines.push('\n');
}

fn progress(lines: &mut String, tally: &Tally, bucket: &str, key: &str) {
    line(lines, |doc| {
        doc.object("progress", |p| {
            tally.write(p);
            p.string("bucket", bucket).string("key", key);
        });
    });
}

/// Sends `lines` as one chunk and empties it; whether the client still reads.
async fn write_chunk<S: AsyncReadRent + AsyncWriteRent>(
    body: &mut RequestBody<'_, S>,
    lines: &mut String,
) -> bool {
    if lines.is_empty() {
        return true;
    }
    let reading = super::write_chunk(body, lines.as_bytes()).await;
    lines.clear();
    reading
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        (pairs.iter())
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// The query's names and values are read exactly; anything else is refused.
    #[test]
    fn the_query_is_read_exactly() {
        let request = parse_query(&query(&[
            ("bucket", "b"),
            ("prefix", "p/"),
            ("deep", "true"),
            ("dry-run", "false"),
        ]))
        .expect("valid");
        assert_eq!(request.bucket.as_deref(), Some("b"));
        assert_eq!(request.prefix, "p/");
        assert!(request.options.deep && !request.options.dry_run);
        assert_eq!(parse_query(&[]).expect("all"), HealRequest::default());
        for bad in [
            &[("deep", "yes")][..],
            &[("recursive", "true")][..],
            &[("prefix", "p/")][..],
        ] {
            let refused = parse_query(&query(bad)).expect_err("refused");
            assert_eq!(refused.code(), S3ErrorCode::InvalidArgument, "{bad:?}");
        }
    }
}
