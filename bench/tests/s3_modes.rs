//! End-to-end: every S3 mode of shoal-bench against a live `shoal server` for about two
//! seconds with small objects; the counts must add up and failures must show as errors,
//! never as throughput.
//!
//! Needs the server binary: `cargo build --bin shoal` (found at `../target/debug/shoal`
//! from this crate, or at `$SHOAL_BIN`). Each test starts its own server on a free port
//! with its own drives and stops it with SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use clap::Parser;
use shoal_bench::driver::{RunResult, execute};
use shoal_bench::record::OpKind;
use shoal_bench::report::OpSummary;
use shoal_bench::s3::Client;
use shoal_bench::signer::Credentials;
use shoal_bench::workload::{Args, Mode};

const USER: &str = "benchuser";
const PASSWORD: &str = "benchsecret";

struct Server {
    child: Child,
    address: String,
    _drives: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let binary = std::env::var_os("SHOAL_BIN").map_or_else(
            || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug/shoal"),
            PathBuf::from,
        );
        assert!(
            binary.exists(),
            "{} missing: run `cargo build --bin shoal`",
            binary.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address = format!("127.0.0.1:{port}");
        let drives = tempfile::tempdir().unwrap();
        let mut child = Command::new(binary)
            .args(["server", "--address", &address, "--shards", "2"])
            .args((1..=4).map(|i| drives.path().join(format!("d{i}"))))
            .env("SHOAL_ROOT_USER", USER)
            .env("SHOAL_ROOT_PASSWORD", PASSWORD)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        loop {
            let line = lines
                .next()
                .expect("server exited before its banner")
                .unwrap();
            if line.starts_with("Shoal ") {
                break;
            }
        }
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            address,
            _drives: drives,
        }
    }

    fn args(&self, bucket: &str, extra: &[&str]) -> Args {
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: Args,
        }
        let base = [
            "test",
            "--host",
            &self.address,
            "--access-key",
            USER,
            "--secret-key",
            PASSWORD,
            "--bucket",
            bucket,
            "--duration",
            "2s",
            "--concurrent",
            "4",
            "--obj.size",
            "4KiB",
            "--objects",
            "24",
        ];
        Cli::parse_from(base.iter().chain(extra)).args
    }

    fn client(&self, bucket: &str) -> Client {
        let credentials = Credentials {
            access_key: USER.to_owned(),
            secret_key: PASSWORD.to_owned(),
            region: "us-east-1".to_owned(),
        };
        let address = self.address.parse().unwrap();
        Client::new(
            vec![address],
            vec![self.address.clone()],
            credentials,
            bucket.to_owned(),
            false,
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
    }
}

fn block_on<T>(future: impl Future<Output = T>) -> T {
    monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .build()
        .unwrap()
        .block_on(future)
}

fn op(result: &RunResult, kind: OpKind) -> OpSummary {
    let summary = result.summary.as_ref().expect("a summary");
    summary
        .operations
        .iter()
        .find(|o| o.kind == Some(kind))
        .cloned()
        .unwrap_or_default()
}

/// A run that must have gone cleanly: no fatal error, no failed operation.
fn clean_run(server: &Server, mode: Mode, bucket: &str, extra: &[&str]) -> RunResult {
    let result = execute(mode, &server.args(bucket, extra)).unwrap();
    assert_eq!(result.fatal, None, "{mode:?}");
    let total = &result.summary.as_ref().unwrap().total;
    assert_eq!(total.errors, 0, "{mode:?}: {:?}", total.first_errors);
    assert!(total.requests > 0, "{mode:?} did nothing");
    result
}

/// In both payload modes the server accepts every PUT, and with --noclear the bucket
/// then lists exactly the objects the run says it put; without it, cleanup empties it.
#[test]
fn put_counts_match_listing_in_both_payload_modes() {
    let server = Server::start();
    for (bucket, payload) in [
        ("put-streaming", None),
        ("put-unsigned", Some("--disable-sha256-payload")),
    ] {
        let mut extra = vec!["--noclear"];
        extra.extend(payload);
        let result = clean_run(&server, Mode::Put, bucket, &extra);
        let put = op(&result, OpKind::Put);
        let prefix = format!("{}/", result.summary.as_ref().unwrap().run_prefix);
        let listed = block_on(server.client(bucket).list_all(&prefix)).unwrap();
        assert_eq!(listed.len() as u64, put.requests, "{bucket}");
        assert_eq!(put.bytes, put.requests * 4096);
    }
    let result = clean_run(&server, Mode::Put, "put-cleared", &[]);
    let prefix = format!("{}/", result.summary.as_ref().unwrap().run_prefix);
    assert!(
        block_on(server.client("put-cleared").list_all(&prefix))
            .unwrap()
            .is_empty()
    );
}

/// GET bytes are the object size times the GETs, and STAT moves no bytes.
#[test]
fn get_and_stat_counts_add_up() {
    let server = Server::start();
    let get = op(&clean_run(&server, Mode::Get, "get", &[]), OpKind::Get);
    assert_eq!(get.bytes, get.requests * 4096);
    assert_eq!(get.objects, get.requests);
    let stat = op(&clean_run(&server, Mode::Stat, "stat", &[]), OpKind::Stat);
    assert_eq!((stat.bytes, stat.objects), (0, stat.requests));
}

/// Each LIST sees exactly its worker's share of the prepared objects, and DELETE removes
/// every prepared object exactly once, in DeleteObjects batches.
#[test]
fn list_and_delete_counts_add_up() {
    let server = Server::start();
    let list = op(
        &clean_run(&server, Mode::List, "list", &["--max-keys", "2"]),
        OpKind::List,
    );
    assert_eq!(
        list.objects,
        list.requests * 6,
        "24 objects over 4 workers, paged by 2"
    );
    let result = clean_run(
        &server,
        Mode::Delete,
        "delete",
        &["--batch", "5", "--noclear"],
    );
    let delete = op(&result, OpKind::Delete);
    assert_eq!(delete.objects, 24);
    let prefix = format!("{}/", result.summary.as_ref().unwrap().run_prefix);
    assert!(
        block_on(server.client("delete").list_all(&prefix))
            .unwrap()
            .is_empty()
    );
}

/// mixed issues all four operations with no error (reads never race their deletes).
#[test]
fn mixed_runs_every_operation() {
    let server = Server::start();
    let result = clean_run(&server, Mode::Mixed, "mixed", &["--put-distrib", "15"]);
    for kind in [OpKind::Get, OpKind::Stat, OpKind::Put, OpKind::Delete] {
        assert!(op(&result, kind).requests > 0, "{kind:?}");
    }
}

/// A wrong secret key is reported as errors (put) or a fatal prepare error (get), and
/// never as throughput.
#[test]
fn wrong_secret_is_errors_not_throughput() {
    let server = Server::start();
    let mut args = server.args("wrong", &[]);
    args.secret_key = "not-the-secret".to_owned();
    let result = execute(Mode::Put, &args).unwrap();
    let summary = result.summary.as_ref().unwrap();
    assert!(summary.total.errors > 0);
    assert_eq!(summary.total.errors, summary.total.requests);
    assert_eq!((summary.total.bytes, summary.total.objects), (0, 0));
    assert!(
        summary.total.throughput.average_mib_s == 0.0
            && summary.total.throughput.median_obj_s == 0.0
    );
    assert!(
        summary.total.first_errors[0].contains("SignatureDoesNotMatch"),
        "{:?}",
        summary.total.first_errors
    );
    let result = execute(Mode::Get, &args).unwrap();
    assert!(result.summary.is_none());
    assert!(result.fatal.unwrap().contains("SignatureDoesNotMatch"));
}
