//! `shoal debug audit DRIVE... [--json]`: the out-of-band auditor's command line. The
//! audit itself is `shoal_shards::tools::audit`; this file turns the arguments into
//! drive folders, opens them read-only, and prints what the audit finds: lines for
//! people, or one JSON object per version and a summary line with `--json`. Progress
//! goes to stderr, never stdout.
//!
//! Exit status: 0 every version healthy and every position of the pool given; 1 a
//! version degraded or unreadable, or a position of the pool without its drive; 2 bad
//! arguments, or no formatted drive among those given.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shoal_io::DirDrive;
use shoal_shards::tools::audit::{
    AuditSink, AuditStart, DriveReport, DriveState, GivenDrive, MemberFinding, Progress, Summary,
    VersionReport, VersionState,
};
use shoal_shards::topology::endpoints::{POOL_DRIVES_MAX, expand, parse_endpoint};

/// How often a progress line is written to stderr while the audit runs.
const PROGRESS_EVERY: Duration = Duration::from_secs(3);

/// Runs the audit of `args` (drive arguments as `shoal server` takes them).
pub fn run(args: &[String], json: bool) -> ExitCode {
    let paths = match drive_folders(args) {
        Ok(paths) => paths,
        Err(message) => return crate::usage_error(&message),
    };
    let (mut runtime, _) = match shoal_io::build_runtime(&shoal_io::RuntimeConfig::default()) {
        Ok(built) => built,
        Err(e) => return crate::usage_error(&format!("cannot start the runtime: {e}")),
    };
    let given: Vec<GivenDrive<DirDrive>> = paths.iter().map(|path| open(path)).collect();
    let in_use = locked_by_a_server(&given);
    let mut printer = Printer::new(json, in_use);
    let audited = runtime.block_on(shoal_shards::tools::audit::audit(given, &mut printer));
    match audited {
        Ok(summary) => printer.finish(&summary),
        Err(message) => {
            let _ = printer.out.flush();
            eprintln!("shoal: error: {message}");
            ExitCode::from(2)
        }
    }
}

/// The folders the arguments name: `{A...B}` ranges expanded, the path of an
/// `http(s)://host:port/path` endpoint taken as a folder of this machine (a cluster's
/// drives copied or mounted here), each folder once.
fn drive_folders(args: &[String]) -> Result<Vec<PathBuf>, String> {
    let mut folders: Vec<PathBuf> = Vec::new();
    for arg in args {
        for name in expand(arg, POOL_DRIVES_MAX).map_err(|e| e.0)? {
            let folder = if name.starts_with("http://") || name.starts_with("https://") {
                PathBuf::from(parse_endpoint(&name).map_err(|e| e.0)?.path)
            } else {
                PathBuf::from(name)
            };
            if !folders.contains(&folder) {
                folders.push(folder);
            }
        }
    }
    if folders.is_empty() {
        return Err("give the drive folders to audit".to_owned());
    }
    Ok(folders)
}

/// A drive folder opened to be read, creating nothing; or why it cannot be.
fn open(path: &Path) -> GivenDrive<DirDrive> {
    let drive = DirDrive::open_read_only(path).map_err(|e| match e {
        shoal_io::DriveError::NotFound => "its folder does not exist".to_owned(),
        e => format!("its folder cannot be opened: {e}"),
    });
    GivenDrive {
        path: path.display().to_string(),
        drive,
    }
}

/// The given drives a running server holds, each said on stderr: the audit goes on
/// (an operator may want a look anyway), but writes in flight will show as damage.
fn locked_by_a_server(given: &[GivenDrive<DirDrive>]) -> Vec<String> {
    let in_use: Vec<String> = (given.iter())
        .filter(|g| g.drive.as_ref().is_ok_and(DirDrive::locked_by_a_server))
        .map(|g| g.path.clone())
        .collect();
    for path in &in_use {
        eprintln!(
            "shoal: warning: drive {path} is in use by a running shoal process; stop it \
             for a true audit (writes in flight show as damage)"
        );
    }
    in_use
}

/// Writes the audit's findings as they come.
struct Printer {
    json: bool,
    out: std::io::BufWriter<std::io::Stdout>,
    drives: Vec<DriveReport>,
    /// Drives a running server holds (`locked_by_a_server`).
    in_use: Vec<String>,
    started: Instant,
    last_progress: Instant,
}

impl Printer {
    fn new(json: bool, in_use: Vec<String>) -> Self {
        let now = Instant::now();
        Self {
            json,
            out: std::io::BufWriter::new(std::io::stdout()),
            drives: Vec::new(),
            in_use,
            started: now,
            last_progress: now,
        }
    }

    /// Prints the summary; the exit status (module doc).
    fn finish(mut self, summary: &Summary) -> ExitCode {
        let gaps = self.drives.iter().filter(|d| d.state.is_gap()).count();
        if self.json {
            let drives: Vec<Value> = self.drives.iter().map(drive_json).collect();
            let line = json!({
                "summary": {
                    "healthy": summary.healthy,
                    "degraded": summary.degraded,
                    "unreadable": summary.unreadable,
                },
                "deleted": summary.deleted,
                "positions_without_drive": gaps,
                "drives": drives,
                "in_use_by_a_server": self.in_use,
            });
            let _ = writeln!(self.out, "{}", one_line(&line));
        } else {
            let _ = writeln!(
                self.out,
                "summary: {} healthy, {} degraded, {} unreadable ({} deleted keys with \
                 tombstones left); {gaps} position(s) of the pool without a drive",
                summary.healthy, summary.degraded, summary.unreadable, summary.deleted
            );
        }
        let _ = self.out.flush();
        if summary.degraded + summary.unreadable > 0 || gaps > 0 {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        }
    }
}

impl AuditSink for Printer {
    fn start(&mut self, start: &AuditStart<'_>) {
        self.drives = start.drives.to_vec();
        if self.json {
            return;
        }
        if let (Some(id), Some(layout)) = (start.deployment_id, start.layout) {
            let _ = writeln!(
                self.out,
                "deployment {}: {} set(s) of {}+{}",
                hex_id(&id),
                layout.set_count,
                layout.set.data_chunks,
                layout.set.parity_chunks
            );
        }
        for drive in start.drives {
            let in_use = if self.in_use.contains(&drive.path) {
                "  (IN USE by a running server)"
            } else {
                ""
            };
            let _ = writeln!(self.out, "{}{in_use}", drive_line(drive));
        }
    }

    fn version(&mut self, report: &VersionReport) {
        let line = if self.json {
            one_line(&version_json(report))
        } else {
            version_line(report)
        };
        let _ = writeln!(self.out, "{line}");
    }

    fn progress(&mut self, progress: &Progress<'_>) {
        if self.last_progress.elapsed() < PROGRESS_EVERY {
            return;
        }
        self.last_progress = Instant::now();
        eprintln!(
            "audit: set {} of {}, bucket {}: {} keys looked at in {} s",
            progress.set_index + 1,
            progress.set_count,
            progress.bucket,
            progress.keys_done,
            self.started.elapsed().as_secs()
        );
    }
}

fn hex_id(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut text, b| {
        let _ = write!(text, "{b:02x}");
        text
    })
}

/// A JSON value on one line: serde_json escapes quotes and control characters; U+2028
/// and U+2029 are escaped too, so that no line-splitting reader breaks a key in two.
fn one_line(value: &Value) -> String {
    value
        .to_string()
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

fn drive_json(drive: &DriveReport) -> Value {
    json!({
        "path": drive.path,
        "state": drive.state.as_str(),
        "set": drive.place.map(|(set, _)| set + 1),
        "drive": drive.place.map(|(_, drive)| drive + 1),
        "detail": drive.detail,
    })
}

fn drive_line(drive: &DriveReport) -> String {
    let place = drive.place.map_or(String::new(), |(set, index)| {
        format!(" (set {} drive {})", set + 1, index + 1)
    });
    let detail = if drive.state == DriveState::Ok {
        String::new()
    } else {
        format!(": {}", drive.detail)
    };
    format!(
        "drive {}{place} {}{detail}",
        drive.path.escape_debug(),
        drive.state.as_str()
    )
}

fn version_json(report: &VersionReport) -> Value {
    let problems: Vec<Value> = report.problems.iter().map(finding_json).collect();
    let mut line = json!({
        "bucket": report.bucket,
        "key": report.key,
        "version": report.version_id.map(|id| hex_id(&id)),
        "state": report.state.as_str(),
        "chunks_ok": report.chunks_ok,
        "chunks_total": report.chunks_total,
        "size": report.size_bytes,
        "set": report.set_index + 1,
        "stripes": report.stripes_total,
        "stripes_unreadable": report.stripes_unreadable,
        "problems": problems,
    });
    if !report.note.is_empty() {
        line["note"] = Value::from(report.note.as_str());
    }
    line
}

fn finding_json(finding: &MemberFinding) -> Value {
    json!({
        "drive": finding.drive,
        "set_drive": finding.set_drive + 1,
        "metadata": finding.metadata.as_str(),
        "chunks_ok": finding.chunks_ok,
        "chunks_missing": finding.chunks_missing,
        "chunks_corrupt": finding.chunks_corrupt,
        "chunks_unavailable": finding.chunks_unavailable,
    })
}

/// `STATE  bucket/key  version  chunks ok/total`, then one indented line per problem.
fn version_line(report: &VersionReport) -> String {
    let version = report.version_id.map_or("-".to_owned(), |id| hex_id(&id));
    let mut line = format!(
        "{:<10} {}/{}  version {version}  chunks {}/{}",
        report.state.as_str(),
        report.bucket,
        report.key.escape_debug(),
        report.chunks_ok,
        report.chunks_total
    );
    if report.state == VersionState::Unreadable && report.stripes_unreadable > 0 {
        let _ = write!(
            line,
            "  ({} of {} stripes unreadable)",
            report.stripes_unreadable, report.stripes_total
        );
    }
    if !report.note.is_empty() {
        let _ = write!(line, "  ({})", report.note);
    }
    for f in &report.problems {
        let _ = write!(
            line,
            "\n    set drive {} {}: metadata {}, chunks ok {} missing {} corrupt {} unavailable {}",
            f.set_drive + 1,
            f.drive.escape_debug(),
            f.metadata.as_str(),
            f.chunks_ok,
            f.chunks_missing,
            f.chunks_corrupt,
            f.chunks_unavailable
        );
    }
    line
}
