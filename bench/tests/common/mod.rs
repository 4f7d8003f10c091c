//! What the end-to-end tests share: the `shoal` server binary (built fresh, or
//! `$SHOAL_BIN`), a server on a free port with its own drives (optionally HTTPS with a
//! self-signed certificate), and helpers to run modes against it.
//!
//! The server binary: `$SHOAL_BIN` when set (it must exist); otherwise the tests run
//! `cargo build -p shoal --bin shoal` into the target folder they were built in, once
//! per test binary, so a stale server is never tested. Cargo has released its lock by
//! the time tests run, and an up-to-date build takes about a second.
#![allow(dead_code)] // each test binary uses its own subset

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use clap::Parser;
use shoal_bench::client::s3::{Client, ClientSettings};
use shoal_bench::client::signer::Credentials;
use shoal_bench::load::args::{Args, Mode};
use shoal_bench::load::driver::{RunResult, execute};
use shoal_bench::report::record::OpKind;
use shoal_bench::report::summary::OpSummary;

pub const USER: &str = "benchuser";
pub const PASSWORD: &str = "benchsecret";

/// The server binary to test (see the file header).
pub fn shoal_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| match std::env::var_os("SHOAL_BIN") {
            Some(path) => {
                let path = PathBuf::from(path);
                assert!(
                    path.is_file(),
                    "SHOAL_BIN={} is not a file: build the server (`cargo build --bin shoal`) \
                     or unset SHOAL_BIN to have the tests build it",
                    path.display()
                );
                path
            }
            None => build_shoal(),
        })
        .clone()
}

/// Builds the server into the target folder of this test binary (same profile).
fn build_shoal() -> PathBuf {
    // This binary is <target>/<profile dir>/deps/<test>-<hash>.
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("tests run from <target>/<profile>/deps");
    let target_dir = profile_dir.parent().expect("a target folder");
    let profile = profile_dir
        .file_name()
        .and_then(|name| name.to_str())
        .expect("a profile folder");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args(["build", "--quiet", "-p", "shoal", "--bin", "shoal"])
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target_dir);
    if profile != "debug" {
        build.args(["--profile", profile]);
    }
    let status = build.status().expect("run cargo");
    assert!(
        status.success(),
        "building the shoal server failed ({status}); build it yourself and set SHOAL_BIN"
    );
    let binary = profile_dir.join("shoal");
    assert!(
        binary.is_file(),
        "{} missing after the build",
        binary.display()
    );
    binary
}

pub struct Server {
    child: Child,
    pub address: String,
    /// The self-signed certificate (PEM) of an HTTPS server.
    pub cert: Option<PathBuf>,
    _root: tempfile::TempDir,
}

impl Server {
    pub fn start() -> Server {
        Server::start_with(false)
    }

    /// An HTTPS server with a certificate for 127.0.0.1 and localhost.
    pub fn start_tls() -> Server {
        Server::start_with(true)
    }

    fn start_with(tls: bool) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address = format!("127.0.0.1:{port}");
        let root = tempfile::tempdir().unwrap();
        let mut command = Command::new(shoal_binary());
        command.args(["server", "--address", &address, "--shards", "2"]);
        let cert = tls.then(|| {
            let certs = root.path().join("certs");
            make_self_signed_cert(&certs);
            command.arg("--certs-dir").arg(&certs);
            certs.join("public.crt")
        });
        let mut child = command
            .args((1..=4).map(|i| root.path().join(format!("d{i}"))))
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
            cert,
            _root: root,
        }
    }

    /// The server's process id (for --server-pid).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Mode flags for this server: 4 workers, 2 s, 4 KiB objects, 24 prepared.
    pub fn args(&self, bucket: &str, extra: &[&str]) -> Args {
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: Args,
        }
        let mut flags = vec!["test".to_owned()];
        flags.extend(self.flags(bucket).iter().map(|f| (*f).to_owned()));
        flags.extend(extra.iter().map(|f| (*f).to_owned()));
        Cli::parse_from(flags).args
    }

    /// The flags of [`Server::args`], for running the binary.
    pub fn flags<'a>(&'a self, bucket: &'a str) -> Vec<&'a str> {
        let mut flags = vec![
            "--host",
            self.address.as_str(),
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
        if self.cert.is_some() {
            flags.push("--tls");
        }
        flags
    }

    /// A plain-HTTP client of this server.
    pub fn client(&self, bucket: &str) -> Client {
        assert!(self.cert.is_none(), "the helper client speaks HTTP");
        Client::new(ClientSettings {
            addresses: vec![self.address.parse().unwrap()],
            host_names: vec![self.address.clone()],
            tls: None,
            credentials: Credentials {
                access_key: USER.to_owned(),
                secret_key: PASSWORD.to_owned(),
                region: "us-east-1".to_owned(),
            },
            bucket: bucket.to_owned(),
            unsigned_payload: false,
            checksum: None,
        })
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

/// Writes public.crt / private.key (P-256) for 127.0.0.1 and localhost with openssl.
pub fn make_self_signed_cert(folder: &Path) {
    std::fs::create_dir_all(folder).unwrap();
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(folder.join("private.key"))
        .arg("-out")
        .arg(folder.join("public.crt"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("the TLS tests need the openssl command (Debian: openssl)");
    assert!(status.success(), "openssl could not make a certificate");
}

pub fn block_on<T>(future: impl Future<Output = T>) -> T {
    monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .build()
        .unwrap()
        .block_on(future)
}

pub fn op(result: &RunResult, kind: OpKind) -> OpSummary {
    let summary = result.summary.as_ref().expect("a summary");
    summary
        .operations
        .iter()
        .find(|o| o.kind == Some(kind))
        .cloned()
        .unwrap_or_default()
}

/// A run that must have gone cleanly: no fatal error, no failed operation.
pub fn clean_run(server: &Server, mode: Mode, bucket: &str, extra: &[&str]) -> RunResult {
    let result = execute(mode, &server.args(bucket, extra)).unwrap();
    assert_eq!(result.fatal, None, "{mode:?}");
    let total = &result.summary.as_ref().unwrap().total;
    assert_eq!(total.errors, 0, "{mode:?}: {:?}", total.first_errors);
    assert!(total.requests > 0, "{mode:?} did nothing");
    result
}
