//! End-to-end: warp's flags against a live `shoal server` — TLS (verified and
//! --insecure), random sizes and ranges, Content-MD5 and flexible checksums (the server
//! verifies both, so a wrong value would show as errors), --autoterm, --rps-limit and
//! --baseline ratios. Runs are about two seconds with small objects.
//!
//! The server binary is built by the tests (or taken from `$SHOAL_BIN`, see
//! `common/mod.rs`).

mod common;

use std::process::Command;

use common::{Server, block_on, clean_run, op};
use shoal_bench::load::args::Mode;
use shoal_bench::report::record::OpKind;

fn bench_binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_shoal-bench"))
}

/// Over HTTPS, `--tls --insecure` runs cleanly against a self-signed certificate;
/// plain `--tls` succeeds when the certificate is trusted (SSL_CERT_FILE) and fails
/// in the handshake when another one is.
#[test]
fn tls_verified_and_insecure() {
    let server = Server::start_tls();
    let put = clean_run(&server, Mode::Put, "tls-insecure", &["--insecure"]);
    assert!(put.summary.unwrap().tls);
    let cert = server.cert.clone().unwrap();
    let run = |bucket: &str, ca_file: &std::path::Path| {
        bench_binary()
            .arg("stat")
            .args(server.flags(bucket))
            .args(["--duration", "1s"])
            .env("SSL_CERT_FILE", ca_file)
            .env_remove("SSL_CERT_DIR")
            .output()
            .unwrap()
    };
    let trusted = run("tls-verified", &cert);
    assert!(
        trusted.status.success(),
        "{}",
        String::from_utf8_lossy(&trusted.stderr)
    );
    let other = tempfile::tempdir().unwrap();
    common::make_self_signed_cert(other.path());
    let untrusted = run("tls-untrusted", &other.path().join("public.crt"));
    assert!(!untrusted.status.success());
    let stderr = String::from_utf8_lossy(&untrusted.stderr);
    assert!(stderr.contains("invalid peer certificate"), "{stderr}");
}

/// With --obj.randsize, PUT sizes vary up to --obj.size (and listing agrees with the
/// count); GETs of random sizes and of random ranges receive exactly what they asked.
#[test]
fn random_sizes_and_ranges() {
    let server = Server::start();
    let flags = ["--obj.randsize", "--obj.size", "64KiB", "--noclear"];
    let result = clean_run(&server, Mode::Put, "randsize", &flags);
    let put = op(&result, OpKind::Put);
    assert!(
        put.bytes < put.requests * 65_536,
        "sizes vary: {}",
        put.bytes
    );
    assert!(put.bytes >= put.requests * 256, "sizes stay in the span");
    let summary = result.summary.unwrap();
    let listed = block_on(
        server
            .client("randsize")
            .list_all(&format!("{}/", summary.run_prefix)),
    );
    assert_eq!(listed.unwrap().len() as u64, put.requests);
    let get = op(
        &clean_run(&server, Mode::Get, "randsize-get", &flags[..3]),
        OpKind::Get,
    );
    assert!(get.bytes > 0 && get.bytes < get.requests * 65_536);
    let ranged = clean_run(
        &server,
        Mode::Get,
        "range",
        &["--range", "--obj.size", "64KiB"],
    );
    let get = op(&ranged, OpKind::Get);
    assert!(get.bytes > 0 && get.bytes < get.requests * 65_536);
    assert!(ranged.summary.unwrap().range);
}

/// The server accepts every upload carrying Content-MD5 and each checksum algorithm,
/// as a signed trailer (aws-chunked) and as a header (unsigned payload), objects over
/// several aws-chunked chunks included; it verifies them, so the values are right.
#[test]
fn md5_and_checksums_are_accepted() {
    let server = Server::start();
    let cases = [
        ("CRC32C", None),
        ("CRC32", Some("--disable-sha256-payload")),
        ("CRC64NVME", None),
        ("SHA1", Some("--disable-sha256-payload")),
        ("SHA256", None),
    ];
    for (index, (checksum, payload)) in cases.iter().enumerate() {
        let bucket = format!("checksum-{index}");
        let mut flags = vec!["--checksum", checksum, "--md5", "--obj.size", "200KiB"];
        flags.extend(payload);
        let result = clean_run(&server, Mode::Put, &bucket, &flags);
        assert_eq!(result.summary.unwrap().checksum.as_deref(), Some(*checksum));
    }
    // Random sizes: checksums and MD5 of each prefix, computed per request.
    let flags = [
        "--checksum",
        "crc32c",
        "--md5",
        "--obj.randsize",
        "--obj.size",
        "200KiB",
    ];
    clean_run(&server, Mode::Mixed, "checksum-mixed", &flags);
}

/// --autoterm ends a steady run long before --duration, and says so.
#[test]
fn autoterm_ends_a_stable_run_early() {
    let server = Server::start();
    let flags = [
        "--duration",
        "60s",
        "--autoterm",
        "--autoterm.dur",
        "2s",
        "--autoterm.pct",
        "40",
    ];
    let result = clean_run(&server, Mode::Stat, "autoterm", &flags);
    let summary = result.summary.unwrap();
    let ended = summary.autoterm_secs.expect("ended by --autoterm");
    assert!(ended < 30.0 && summary.duration_secs < 30.0, "{ended}");
}

/// --rps-limit caps the total rate over all workers.
#[test]
fn rps_limit_caps_the_rate() {
    let server = Server::start();
    let flags = ["--rps-limit", "20", "--duration", "3s"];
    let stat = op(&clean_run(&server, Mode::Stat, "rps", &flags), OpKind::Stat);
    // 3 s at 20 per second, workers staggered over one interval: 60, give or take.
    assert!((50..=64).contains(&stat.requests), "{}", stat.requests);
}

/// With --baseline, the GET report carries its ratios to the loopback stream and to
/// the request/response rate, in the summary and in the printed report.
#[test]
fn baseline_ratios_in_reports() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("baseline.json");
    let status = bench_binary()
        .args([
            "baseline",
            "--seconds",
            "0.05",
            "--sizes",
            "4KiB",
            "--direct-size",
            "4MiB",
        ])
        .arg("--dir")
        .arg(dir.path())
        .arg("--json")
        .arg(&baseline)
        .status()
        .unwrap();
    assert!(status.success());
    let result = clean_run(
        &server,
        Mode::Get,
        "ratios",
        &["--baseline", baseline.to_str().unwrap()],
    );
    let get = op(&result, OpKind::Get);
    let ceilings: Vec<&str> = get
        .baseline_ratios
        .iter()
        .map(|r| r.ceiling.as_str())
        .collect();
    assert_eq!(
        ceilings,
        [
            "loopback TCP stream",
            "loopback request/response, GET 4 KiB, 1 conn"
        ]
    );
    assert!(get.baseline_ratios.iter().all(|r| r.ratio > 0.0));
    let report = shoal_bench::report::summary::render(result.summary.as_ref().unwrap());
    assert!(report.contains("x loopback TCP stream"), "{report}");
}

/// multipart end to end: every part uploaded and measured, the Complete measured on
/// its own, then every GET of a part receives exactly the part.
#[test]
fn multipart_end_to_end() {
    let server = Server::start();
    let flags = ["--parts", "12", "--part.size", "5MiB", "--concurrent", "3"];
    let args = server.args("multipart", &flags);
    let result = shoal_bench::load::driver::execute(Mode::Multipart, &args).unwrap();
    assert_eq!(result.fatal, None);
    let parts = op(&result, OpKind::UploadPart);
    assert_eq!((parts.requests, parts.errors), (12, 0));
    assert_eq!(parts.bytes, 12 * (5 << 20));
    let complete = op(&result, OpKind::Complete);
    assert_eq!(
        (complete.requests, complete.errors, complete.objects),
        (1, 0, 12)
    );
    let get = op(&result, OpKind::Get);
    assert!(get.requests > 0);
    assert_eq!((get.errors, get.bytes), (0, get.requests * (5 << 20)));
    let summary = result.summary.unwrap();
    assert!(summary.multipart.unwrap().complete_ms.is_some());
}
