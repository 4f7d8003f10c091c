//! The few settings an operator may change while the server runs (`shoal admin config
//! get|set`), one process-wide object every shard holds an `Arc` of.
//!
//! Invariants: a change is validated before anything changes, and is then in force on
//! every shard (the log filter is the process's; nothing is copied per shard). Every
//! other key is refused by name, so a client is never told a setting changed when it
//! did not. Settings are read only by admin requests, never on the request path
//! (the scanner's and the fills' pace are read by their tasks, healing's byte rate by
//! each heal, from atomics).

use std::sync::Arc;
use std::time::Duration;

use crate::object::fill::FillPace;
use crate::object::heal::HealPace;
use crate::object::scan::ScanPace;

/// The process's log output as the binary set it up (`src/logging.rs`).
pub trait LogControl: Send + Sync {
    /// The operator's filter directives (`SHOAL_LOG` syntax).
    fn filter(&self) -> String;
    fn set_filter(&self, directives: &str) -> Result<(), String>;
    /// Whether one line per request is logged.
    fn request_log(&self) -> bool;
    fn set_request_log(&self, on: bool) -> Result<(), String>;
    /// Whether the output is JSON objects (`--log-format json`), else text lines.
    fn json(&self) -> bool {
        false
    }
    /// Whether the output takes request lines the shards render themselves
    /// (`write_request_lines`); else each request line is a `tracing` event.
    fn direct_request_lines(&self) -> bool {
        false
    }
    /// Hands `count` request lines rendered by a shard (`lines`, each ending in a
    /// newline, in the output's format) to the log output, without waiting (a full
    /// output drops and counts them).
    fn write_request_lines(&self, lines: Vec<u8>, count: u64) {
        let _ = (lines, count);
    }
}

/// The keys `config get` shows and `config set` takes, with what each means.
pub const KEYS: &[(&str, &str)] = &[
    (
        "log-filter",
        "log filter directives, as SHOAL_LOG (e.g. info, or debug,shoal_shards=trace)",
    ),
    (
        "log-requests",
        "one log line per request: on or off (as --log-requests)",
    ),
    (
        "scan-objects-per-second",
        "objects each scanning shard checks per second at most; 0 pauses the scanner",
    ),
    (
        "scan-deep-bytes-per-second",
        "chunk bytes each scanning shard reads per second at most in a deep cycle",
    ),
    (
        "scan-deep-every",
        "a cycle is deep (reads every chunk) this long after the last deep one (e.g. 7d, 0: every cycle, off: never)",
    ),
    (
        "scan-cycle-pause",
        "pause between two scanner cycles (e.g. 60s)",
    ),
    (
        "heal-bytes-per-second",
        "chunk bytes each shard's healing reads and writes per second at most; 0: unlimited",
    ),
    (
        "fill-objects-per-second",
        "objects each fill of a replaced drive heals per second at most; 0 pauses fills",
    ),
];

/// What can change at run time; shared by every shard.
#[derive(Clone, Default)]
pub struct Settings {
    log: Option<Arc<dyn LogControl>>,
    /// The background scanner's budget and cycles (`object/scan/pace.rs`).
    scan: ScanPace,
    /// Healing's byte rate per shard (`object/heal/pace.rs`).
    heal: HealPace,
    /// The pace of replaced drives' fills (`object/fill/`).
    fill: FillPace,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("log", &self.log.as_ref().map(|log| log.filter()))
            .field("scan", &self.scan)
            .field("heal", &self.heal)
            .field("fill", &self.fill)
            .finish()
    }
}

impl Settings {
    pub fn new(log: Arc<dyn LogControl>) -> Self {
        Self {
            log: Some(log),
            scan: ScanPace::default(),
            heal: HealPace::default(),
            fill: FillPace::default(),
        }
    }

    /// Healing starts with `heal` (from `shoal server`'s flags).
    #[must_use]
    pub fn with_heal(mut self, heal: HealPace) -> Self {
        self.heal = heal;
        self
    }

    /// Healing's byte rate, shared by every shard's store.
    pub fn heal(&self) -> &HealPace {
        &self.heal
    }

    /// The scanner starts with `scan` (from `shoal server`'s flags).
    #[must_use]
    pub fn with_scan(mut self, scan: ScanPace) -> Self {
        self.scan = scan;
        self
    }

    /// Fills of replaced drives start with `fill` (from `shoal server`'s flags).
    #[must_use]
    pub fn with_fill(mut self, fill: FillPace) -> Self {
        self.fill = fill;
        self
    }

    /// The fills' pace, shared by every shard.
    pub fn fill(&self) -> &FillPace {
        &self.fill
    }

    /// The scanner's pace, shared by every shard's scanner.
    pub fn scan(&self) -> &ScanPace {
        &self.scan
    }

    /// Every key with its value, in [`KEYS`] order.
    pub fn get_all(&self) -> Vec<(&'static str, String)> {
        KEYS.iter()
            .filter_map(|(key, _)| Some((*key, self.get(key).ok()?)))
            .collect()
    }

    /// The value of `key`; an unknown key is an error naming the known ones.
    pub fn get(&self, key: &str) -> Result<String, String> {
        if let Some(value) = self.get_scan(key) {
            return Ok(value);
        }
        if key == "heal-bytes-per-second" {
            return Ok(self.heal.bytes_per_second().to_string());
        }
        if key == "fill-objects-per-second" {
            return Ok(self.fill.objects_per_second().to_string());
        }
        let log = self.log()?;
        match key {
            "log-filter" => Ok(log.filter()),
            "log-requests" => Ok(on_off(log.request_log()).to_owned()),
            _ => Err(unknown(key)),
        }
    }

    /// Sets `key` to `value`; on error nothing changed.
    pub fn set(&self, key: &str, value: &str) -> Result<(), String> {
        if key.starts_with("scan-") {
            return self.set_scan(key, value);
        }
        if key == "heal-bytes-per-second" {
            self.heal.set_bytes_per_second(parse_count(value)?);
            return Ok(());
        }
        if key == "fill-objects-per-second" {
            self.fill.set_objects_per_second(parse_count(value)?);
            return Ok(());
        }
        let log = self.log()?;
        match key {
            "log-filter" => log.set_filter(value),
            "log-requests" => log.set_request_log(parse_on_off(value)?),
            _ => Err(unknown(key)),
        }
    }

    fn get_scan(&self, key: &str) -> Option<String> {
        let scan = &self.scan;
        Some(match key {
            "scan-objects-per-second" => scan.objects_per_second().to_string(),
            "scan-deep-bytes-per-second" => scan.deep_bytes_per_second().to_string(),
            "scan-deep-every" => scan
                .deep_every()
                .map_or_else(|| "off".to_owned(), format_duration),
            "scan-cycle-pause" => format_duration(scan.cycle_pause()),
            _ => return None,
        })
    }

    fn set_scan(&self, key: &str, value: &str) -> Result<(), String> {
        let scan = &self.scan;
        match key {
            "scan-objects-per-second" => scan.set_objects_per_second(parse_count(value)?),
            "scan-deep-bytes-per-second" => scan.set_deep_bytes_per_second(parse_count(value)?),
            "scan-deep-every" if value.trim().eq_ignore_ascii_case("off") => {
                scan.set_deep_every(None);
            }
            "scan-deep-every" => scan.set_deep_every(Some(parse_duration(value)?)),
            "scan-cycle-pause" => scan.set_cycle_pause(parse_duration(value)?),
            _ => return Err(unknown(key)),
        }
        Ok(())
    }

    /// The process's log output, if the binary set one up.
    pub fn log_control(&self) -> Option<&Arc<dyn LogControl>> {
        self.log.as_ref()
    }

    fn log(&self) -> Result<&Arc<dyn LogControl>, String> {
        self.log
            .as_ref()
            .ok_or_else(|| "this server runs without run-time log control".to_owned())
    }
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

fn parse_on_off(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "1" | "yes" => Ok(true),
        "off" | "false" | "0" | "no" => Ok(false),
        _ => Err(format!("{value:?}: use on or off")),
    }
}

fn parse_count(value: &str) -> Result<u64, String> {
    value
        .trim()
        .parse()
        .map_err(|_| format!("{value:?}: use a whole number"))
}

/// `90s`, `30m`, `24h`, `7d` or plain seconds.
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    let value = value.trim();
    let (digits, unit_secs) = match value.char_indices().last() {
        Some((at, 's')) => (&value[..at], 1),
        Some((at, 'm')) => (&value[..at], 60),
        Some((at, 'h')) => (&value[..at], 3600),
        Some((at, 'd')) => (&value[..at], 86_400),
        _ => (value, 1),
    };
    let count: u64 = digits
        .parse()
        .map_err(|_| format!("{value:?}: use a duration such as 90s, 30m, 24h or 7d"))?;
    count
        .checked_mul(unit_secs)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{value:?}: too long"))
}

fn format_duration(duration: Duration) -> String {
    crate::front::server::humanize(duration)
}

fn unknown(key: &str) -> String {
    let known: Vec<&str> = KEYS.iter().map(|(k, _)| *k).collect();
    format!(
        "{key:?} cannot be changed while the server runs (or does not exist); run-time \
         settings: {}; everything else is a flag of `shoal server`",
        known.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct FakeLog(Mutex<(String, bool)>);

    impl LogControl for FakeLog {
        fn filter(&self) -> String {
            self.0.lock().unwrap().0.clone()
        }
        fn set_filter(&self, directives: &str) -> Result<(), String> {
            self.0.lock().unwrap().0 = directives.to_owned();
            Ok(())
        }
        fn request_log(&self) -> bool {
            self.0.lock().unwrap().1
        }
        fn set_request_log(&self, on: bool) -> Result<(), String> {
            self.0.lock().unwrap().1 = on;
            Ok(())
        }
    }

    /// Known keys round-trip; an unknown key or a bad on/off value is refused by name
    /// and changes nothing.
    #[test]
    fn keys_are_checked() {
        let settings = Settings::new(Arc::new(FakeLog::default()));
        settings.set("log-requests", "ON").unwrap();
        assert_eq!(settings.get("log-requests").unwrap(), "on");
        settings.set("log-filter", "debug").unwrap();
        assert_eq!(settings.get_all()[0], ("log-filter", "debug".to_owned()));
        let error = settings.set("region", "eu").unwrap_err();
        assert!(
            error.contains("\"region\"") && error.contains("log-requests"),
            "{error}"
        );
        let error = settings.set("log-requests", "maybe").unwrap_err();
        assert!(error.contains("on or off"), "{error}");
        assert_eq!(settings.get("log-requests").unwrap(), "on");
        assert!(settings.get("nope").is_err());
    }

    /// The scanner's keys change the shared pace (also without log control); bad
    /// values are refused and change nothing.
    #[test]
    fn scan_keys_change_the_pace() {
        let settings = Settings::default();
        settings.set("scan-objects-per-second", "250").unwrap();
        assert_eq!(settings.scan().objects_per_second(), 250);
        settings.set("scan-deep-every", "3d").unwrap();
        assert_eq!(settings.get("scan-deep-every").unwrap(), "3d");
        settings.set("scan-deep-every", "off").unwrap();
        assert_eq!(settings.scan().deep_every(), None);
        settings.set("scan-cycle-pause", "90s").unwrap();
        assert_eq!(settings.get("scan-cycle-pause").unwrap(), "90s");
        assert!(settings.set("scan-objects-per-second", "fast").is_err());
        assert!(settings.set("scan-cycle-pause", "soon").is_err());
        assert!(settings.set("scan-speed", "1").is_err());
        assert_eq!(settings.scan().objects_per_second(), 250);
        assert_eq!(settings.get_all().len(), 5, "log keys need log control");
    }

    /// Healing's byte rate changes the shared pace every store holds; 0 is unlimited;
    /// a bad value changes nothing.
    #[test]
    fn heal_rate_changes_the_shared_pace() {
        let settings = Settings::default();
        let store_side = settings.heal().clone();
        assert_eq!(
            settings.get("heal-bytes-per-second").unwrap(),
            (64u64 << 20).to_string()
        );
        settings.set("heal-bytes-per-second", "1048576").unwrap();
        assert_eq!(store_side.bytes_per_second(), 1 << 20);
        settings.set("heal-bytes-per-second", "0").unwrap();
        assert_eq!(settings.get("heal-bytes-per-second").unwrap(), "0");
        assert!(settings.set("heal-bytes-per-second", "-1").is_err());
        assert_eq!(store_side.bytes_per_second(), 0);
    }

    /// The fill's key changes the shared fill pace; a bad value changes nothing.
    #[test]
    fn fill_key_changes_the_pace() {
        let settings = Settings::default();
        assert_eq!(settings.get("fill-objects-per-second").unwrap(), "500");
        settings.set("fill-objects-per-second", "20").unwrap();
        assert_eq!(settings.fill().objects_per_second(), 20);
        assert!(settings.set("fill-objects-per-second", "lots").is_err());
        assert_eq!(settings.get("fill-objects-per-second").unwrap(), "20");
    }
}
