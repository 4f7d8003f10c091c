//! Where the server's events go: one line each on stderr, as text (default) or JSON
//! (`--log-format json`), filtered by `SHOAL_LOG` (tracing's `EnvFilter` directives,
//! default `info`). The request log is the `shoal::request` target, switched on and off
//! by a directive of its own, so it costs a disabled event (one load of a cached
//! interest) while off.
//!
//! Invariants: the filter in force is always the operator's directives plus the request
//! log's directive, so turning the request log on or off never loses the operator's
//! filter, and changing the filter at run time (`shoal admin config set`) never turns
//! the request log on or off. The banner is not an event: it stays plain text on stdout.

use std::io::IsTerminal;
use std::sync::Mutex;

use crate::log_queue::LogQueue;
use shoal_shards::front::logs::REQUEST_TARGET;
use shoal_shards::front::settings::LogControl;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

/// The filter when `SHOAL_LOG` is unset or empty.
const DEFAULT_FILTER: &str = "info";

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines: time, level, target, message, fields.
    Text,
    /// One JSON object per line (fields at the top level).
    Json,
}

/// The operator's directives and the request log's switch; the filter is made of both.
struct Filter {
    directives: String,
    request_log: bool,
}

impl Filter {
    fn build(&self) -> Result<EnvFilter, String> {
        let level = if self.request_log { "info" } else { "off" };
        let text = format!("{},{REQUEST_TARGET}={level}", self.directives);
        EnvFilter::builder()
            .parse(&text)
            .map_err(|e| format!("log filter {:?}: {e}", self.directives))
    }
}

/// Changes the filter in force while the server runs.
pub struct Logging {
    filter: Mutex<Filter>,
    handle: reload::Handle<EnvFilter, Registry>,
    /// Where request lines rendered by the shards go (the same writer as events).
    queue: LogQueue,
    json: bool,
}

/// Installs the process's event output (stderr through the writer thread of
/// `log_queue.rs`); returns its run-time controls and the queue, to finish at exit.
pub fn init(format: LogFormat, request_log: bool) -> Result<(Logging, LogQueue), String> {
    let directives = match std::env::var("SHOAL_LOG") {
        Ok(text) if !text.trim().is_empty() => text.trim().to_owned(),
        _ => DEFAULT_FILTER.to_owned(),
    };
    let filter = Filter {
        directives,
        request_log,
    };
    let (layer, handle) =
        reload::Layer::new(filter.build().map_err(|e| format!("SHOAL_LOG: {e}"))?);
    let queue = LogQueue::start(format == LogFormat::Json)?;
    let text = (format == LogFormat::Text).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(queue.clone())
            .with_ansi(std::io::stderr().is_terminal())
    });
    let json = (format == LogFormat::Json).then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_writer(queue.clone())
    });
    tracing_subscriber::registry()
        .with(layer)
        .with(text)
        .with(json)
        .try_init()
        .map_err(|e| format!("cannot install the log output: {e}"))?;
    let logging = Logging {
        filter: Mutex::new(filter),
        handle,
        queue: queue.clone(),
        json: format == LogFormat::Json,
    };
    Ok((logging, queue))
}

impl Logging {
    /// Builds the filter `change` leaves and puts it in force; on error nothing changes.
    fn change(&self, change: impl FnOnce(&mut Filter)) -> Result<(), String> {
        let mut filter = self
            .filter
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut next = Filter {
            directives: filter.directives.clone(),
            request_log: filter.request_log,
        };
        change(&mut next);
        let built = next.build()?;
        self.handle
            .reload(built)
            .map_err(|e| format!("cannot change the log filter: {e}"))?;
        *filter = next;
        Ok(())
    }

    fn read<T>(&self, read: impl FnOnce(&Filter) -> T) -> T {
        read(
            &self
                .filter
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

impl LogControl for Logging {
    fn filter(&self) -> String {
        self.read(|f| f.directives.clone())
    }

    fn set_filter(&self, directives: &str) -> Result<(), String> {
        let directives = directives.trim();
        if directives.is_empty() {
            return Err(
                "the log filter must not be empty (e.g. info, or debug,shoal_shards=trace)"
                    .to_owned(),
            );
        }
        self.change(|f| directives.clone_into(&mut f.directives))
    }

    fn request_log(&self) -> bool {
        self.read(|f| f.request_log)
    }

    fn set_request_log(&self, on: bool) -> Result<(), String> {
        self.change(|f| f.request_log = on)
    }

    fn json(&self) -> bool {
        self.json
    }

    fn direct_request_lines(&self) -> bool {
        true
    }

    fn write_request_lines(&self, lines: Vec<u8>, count: u64) {
        self.queue.push_lines(lines, count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A filter that does not parse is refused with its text in the message.
    #[test]
    fn bad_directives_are_refused() {
        let bad = Filter {
            directives: "info,shoal=loud".to_owned(),
            request_log: false,
        };
        let error = bad.build().unwrap_err();
        assert!(error.contains("shoal=loud"), "{error}");
        let good = Filter {
            directives: "warn,shoal_shards=trace".to_owned(),
            request_log: true,
        };
        assert!(good.build().is_ok());
    }
}
