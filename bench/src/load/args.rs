//! The S3 modes and the flags they share, with warp's names and defaults (`warp put
//! --help` and friends); the mode and the few flags warp lacks are marked as ours
//! (`anonymous`, `--shards`, `--baseline`, `--list.pages`, `--server-pid`). [`Args::check`] refuses combinations that make no sense before any
//! connection is made.

use std::path::PathBuf;
use std::time::Duration;

use crate::client::payload::{ChecksumChoice, parse_checksum};
use crate::units::{parse_duration, parse_size_bytes};

/// Largest `--concurrent`.
pub const WORKERS_MAX: usize = 10_000;
/// S3's limits on multipart uploads: part numbers, and the smallest part but the last.
pub const PARTS_MAX: usize = 10_000;
pub const PART_MIN_BYTES: usize = 5 << 20;

/// Which mode runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Put,
    Get,
    Stat,
    Delete,
    List,
    Mixed,
    Multipart,
    /// Ours: unsigned HEADs that must be refused with 403.
    Anonymous,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Put => "put",
            Mode::Get => "get",
            Mode::Stat => "stat",
            Mode::Delete => "delete",
            Mode::List => "list",
            Mode::Mixed => "mixed",
            Mode::Multipart => "multipart",
            Mode::Anonymous => "anonymous",
        }
    }

    /// Objects uploaded before the run when `--objects` is not given (warp's defaults).
    fn default_objects(self) -> usize {
        match self {
            Mode::Put | Mode::Multipart | Mode::Anonymous => 0,
            Mode::Get | Mode::Stat | Mode::Mixed => 2500,
            Mode::List => 10_000,
            Mode::Delete => 25_000,
        }
    }
}

/// Flags shared by the S3 modes; names and defaults as warp's. A flag given twice takes
/// its last value, so scripts can override a common set of flags.
#[derive(clap::Args, Clone, Debug)]
#[command(args_override_self = true)]
#[allow(clippy::struct_excessive_bools)] // one bool per warp switch
pub struct Args {
    /// Hosts: comma list, `{a...b}` ranges; requests go round-robin.
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub host: String,
    #[arg(long = "access-key", default_value = "")]
    pub access_key: String,
    #[arg(long = "secret-key", default_value = "")]
    pub secret_key: String,
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    #[arg(long, default_value = "warp-benchmark-bucket")]
    pub bucket: String,
    /// Use TLS (HTTPS); the server's certificate is verified against the system roots
    /// (SSL_CERT_FILE / SSL_CERT_DIR, else the distribution's bundle).
    #[arg(long)]
    pub tls: bool,
    /// With --tls: accept any server certificate (self-signed, wrong name, expired).
    #[arg(long)]
    pub insecure: bool,
    /// Concurrent operations (workers).
    #[arg(long, default_value_t = 20)]
    pub concurrent: usize,
    /// How long the measured phase runs, e.g. 10s, 1m, 5m.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub duration: Duration,
    /// End the measured phase early once throughput is stable (see --autoterm.dur/.pct).
    #[arg(long)]
    pub autoterm: bool,
    /// --autoterm: how long throughput must have been stable.
    #[arg(long = "autoterm.dur", default_value = "10s", value_parser = parse_duration)]
    pub autoterm_dur: Duration,
    /// --autoterm: how far (percent) each fifth of that window may stray from its mean.
    #[arg(long = "autoterm.pct", default_value_t = 7.5)]
    pub autoterm_pct: f64,
    /// Object size, e.g. 10MiB, 4KiB, 1MB.
    #[arg(long = "obj.size", default_value = "10MiB", value_parser = parse_size_bytes)]
    pub obj_size: usize,
    /// Random object sizes up to --obj.size, log-uniform over its 8 lower doublings.
    #[arg(long = "obj.randsize")]
    pub obj_randsize: bool,
    /// Objects uploaded before the run (get, stat, list, delete, mixed).
    #[arg(long)]
    pub objects: Option<usize>,
    /// get: GET a random byte range of each object instead of all of it.
    #[arg(long)]
    pub range: bool,
    /// Leave the run's objects in the bucket.
    #[arg(long)]
    pub noclear: bool,
    /// Send one body (prefixes of it) with every upload, as older shoal-bench did,
    /// instead of bytes of its own per object; a deduplicating server stores it once.
    #[arg(long = "same-bytes")]
    pub same_bytes: bool,
    /// Send object bodies as UNSIGNED-PAYLOAD instead of aws-chunked signed.
    #[arg(long = "disable-sha256-payload")]
    pub disable_sha256_payload: bool,
    /// Send Content-MD5 with every upload.
    #[arg(long)]
    pub md5: bool,
    /// Send a flexible checksum with every upload: CRC32, CRC32C (-FO: full object for
    /// multipart), CRC64NVME, SHA1 or SHA256; a signed trailer with aws-chunked bodies,
    /// a header with --disable-sha256-payload.
    #[arg(long, value_parser = parse_checksum)]
    pub checksum: Option<ChecksumChoice>,
    /// Cap on requests per second over all workers (0: none); each worker paces itself
    /// at its share, without shared locks.
    #[arg(long = "rps-limit", default_value_t = 0.0)]
    pub rps_limit: f64,
    /// Write every operation to FILE.csv and a summary to FILE.json.
    #[arg(long)]
    pub benchdata: Option<PathBuf>,
    /// Ours: a `shoal-bench baseline --json` file; the report gives each throughput as a
    /// ratio to this machine's ceilings.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Ours: client shards, threads each with its own runtime and connections.
    #[arg(long, default_value_t = 1)]
    pub shards: usize,
    /// Keys per ListObjectsV2 page (list).
    #[arg(long = "max-keys", default_value_t = 1000)]
    pub max_keys: usize,
    /// Ours, list: each operation is one page of one walk over all the run's objects
    /// (every worker walks the whole listing, page after page), instead of a walk of the
    /// worker's own prefix: operations are pages and objects are keys.
    #[arg(long = "list.pages")]
    pub list_pages: bool,
    /// Ours, list with --list.pages: upload nothing and walk the whole bucket, which
    /// must hold exactly --objects keys (filled before, e.g. by a run with --noclear), so
    /// repeated runs list one bucket filled once.
    #[arg(long = "list.existing")]
    pub list_existing: bool,
    /// Ours: the server's process id on this machine; its CPU time (/proc/PID/stat) is
    /// read at the start and end of the measured phase and reported per request.
    #[arg(long = "server-pid")]
    pub server_pid: Option<u32>,
    /// Keys per DeleteObjects request (delete).
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// mixed: share of GETs.
    #[arg(long = "get-distrib", default_value_t = 45)]
    pub get_distrib: u32,
    /// mixed: share of STATs.
    #[arg(long = "stat-distrib", default_value_t = 30)]
    pub stat_distrib: u32,
    /// mixed: share of PUTs.
    #[arg(long = "put-distrib", default_value_t = 15)]
    pub put_distrib: u32,
    /// mixed: share of DELETEs.
    #[arg(long = "delete-distrib", default_value_t = 10)]
    pub delete_distrib: u32,
    /// multipart: parts uploaded (numbers 1..=parts) before the GETs.
    #[arg(long, default_value_t = 200)]
    pub parts: usize,
    /// multipart: size of each part (S3 refuses parts under 5 MiB but the last).
    #[arg(long = "part.size", default_value = "5MiB", value_parser = parse_size_bytes)]
    pub part_size: usize,
    /// multipart: name of the object (under the run's prefix).
    #[arg(long = "obj.name", default_value = "warp-multipart.bin")]
    pub obj_name: String,
}

impl Args {
    /// Objects prepare uploads: none for `put` and `multipart`, else `--objects`.
    pub fn objects(&self, mode: Mode) -> usize {
        if matches!(mode, Mode::Put | Mode::Multipart | Mode::Anonymous) {
            return 0;
        }
        self.objects.unwrap_or(mode.default_objects())
    }

    /// Objects prepare uploads: [`Args::objects`], none with --list.existing.
    pub fn objects_to_prepare(&self, mode: Mode) -> usize {
        if self.list_existing {
            0
        } else {
            self.objects(mode)
        }
    }

    /// The size of the bodies a mode uploads: parts for multipart, else objects.
    pub fn body_bytes(&self, mode: Mode) -> usize {
        if mode == Mode::Multipart {
            self.part_size
        } else {
            self.obj_size
        }
    }

    /// Refuses bad values and combinations; warnings (allowed but unusual) are returned.
    pub fn check(&self, mode: Mode) -> Result<Vec<String>, String> {
        if !(1..=WORKERS_MAX).contains(&self.concurrent) {
            return Err(format!("--concurrent must be in 1..={WORKERS_MAX}"));
        }
        if self.shards == 0 || self.shards > self.concurrent {
            return Err("--shards must be in 1..=--concurrent".to_owned());
        }
        if !(1..=1000).contains(&self.max_keys) || !(1..=1000).contains(&self.batch) {
            return Err("--max-keys and --batch must be in 1..=1000".to_owned());
        }
        let weights = self.get_distrib + self.stat_distrib + self.put_distrib + self.delete_distrib;
        if weights == 0 {
            return Err("the mixed distribution must not be all zero".to_owned());
        }
        if self.insecure && !self.tls {
            return Err("--insecure applies to --tls only".to_owned());
        }
        if self.autoterm_pct.is_nan() || self.autoterm_pct <= 0.0 || self.autoterm_pct >= 100.0 {
            return Err("--autoterm.pct must be in (0, 100)".to_owned());
        }
        if !self.rps_limit.is_finite() || self.rps_limit < 0.0 {
            return Err("--rps-limit must be 0 (none) or a positive rate".to_owned());
        }
        if self.range && !matches!(mode, Mode::Get) {
            return Err("--range applies to get only".to_owned());
        }
        if self.list_pages && mode != Mode::List {
            return Err("--list.pages applies to list only".to_owned());
        }
        if self.list_existing && !(self.list_pages && mode == Mode::List) {
            return Err("--list.existing applies to list with --list.pages only".to_owned());
        }
        if mode == Mode::Multipart {
            return self.check_multipart();
        }
        Ok(Vec::new())
    }

    fn check_multipart(&self) -> Result<Vec<String>, String> {
        if !(1..=PARTS_MAX).contains(&self.parts) {
            return Err(format!("--parts must be in 1..={PARTS_MAX}"));
        }
        if self.obj_randsize {
            return Err(
                "--obj.randsize does not apply to multipart (parts are --part.size)".to_owned(),
            );
        }
        if self.obj_name.is_empty() {
            return Err("--obj.name must not be empty".to_owned());
        }
        let mut warnings = Vec::new();
        if self.part_size < PART_MIN_BYTES && self.parts > 1 {
            warnings.push(format!(
                "--part.size {} is under S3's 5 MiB minimum: S3 servers refuse the upload at \
                 CompleteMultipartUpload (EntityTooSmall); warp refuses it outright",
                self.part_size
            ));
        }
        Ok(warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn parse(flags: &[&str]) -> Args {
        Cli::parse_from(std::iter::once("test").chain(flags.iter().copied())).args
    }

    /// warp's defaults hold when no flag is given.
    #[test]
    fn defaults_are_warps() {
        let args = parse(&[]);
        assert_eq!(args.concurrent, 20);
        assert_eq!(args.duration, Duration::from_mins(5));
        assert_eq!(args.obj_size, 10 << 20);
        assert_eq!(args.autoterm_dur, Duration::from_secs(10));
        assert!((args.autoterm_pct - 7.5).abs() < f64::EPSILON);
        assert_eq!((args.parts, args.part_size), (200, 5 << 20));
        assert_eq!(args.obj_name, "warp-multipart.bin");
        assert_eq!(args.objects(Mode::Get), 2500);
        assert_eq!(args.objects(Mode::Multipart), 0);
        // Bodies of their own per object unless asked for the old shared body.
        assert!(!args.same_bytes);
        assert!(parse(&["--same-bytes"]).same_bytes);
        assert!(args.check(Mode::Multipart).unwrap().is_empty());
    }

    /// Combinations that cannot mean anything are refused before any connection.
    #[test]
    fn refuses_meaningless_combinations() {
        assert!(parse(&["--insecure"]).check(Mode::Get).is_err());
        assert!(parse(&["--tls", "--insecure"]).check(Mode::Get).is_ok());
        assert!(parse(&["--range"]).check(Mode::Put).is_err());
        assert!(parse(&["--parts", "10001"]).check(Mode::Multipart).is_err());
        assert!(parse(&["--obj.randsize"]).check(Mode::Multipart).is_err());
        assert!(parse(&["--rps-limit=-1"]).check(Mode::Put).is_err());
        assert!(parse(&["--autoterm.pct", "0"]).check(Mode::Put).is_err());
        let twice = parse(&["--duration", "5s", "--duration", "7s"]);
        assert_eq!(
            twice.duration,
            Duration::from_secs(7),
            "the last value wins"
        );
        let small = parse(&["--part.size", "1MiB"])
            .check(Mode::Multipart)
            .unwrap();
        assert_eq!(small.len(), 1, "small parts are a warning, not an error");
        assert_eq!(
            parse(&["--checksum", "crc32c-fo"])
                .checksum
                .unwrap()
                .algorithm,
            crate::client::payload::ChecksumAlgorithm::Crc32c
        );
    }
}
