//! End-to-end: every S3 mode of shoal-bench against a live `shoal server` for about two
//! seconds with small objects; the counts must add up and failures must show as errors,
//! never as throughput.
//!
//! The server binary is built by the tests (or taken from `$SHOAL_BIN`, see
//! `common/mod.rs`). Each test starts its own server on a free port with its own drives
//! and stops it with SIGTERM.

mod common;

use common::{Server, block_on, clean_run, op};
use shoal_bench::load::args::Mode;
use shoal_bench::load::driver::execute;
use shoal_bench::report::record::OpKind;

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

/// Unsigned HEADs are each refused with 403 by a real server (a 200 or 404 would be an
/// error), and --server-pid reports the server's CPU for exactly those requests; a pid
/// that cannot be read is refused before any request.
#[test]
fn anonymous_heads_are_refused_and_their_server_cpu_measured() {
    let server = Server::start();
    let pid = server.pid().to_string();
    let result = clean_run(&server, Mode::Anonymous, "anon", &["--server-pid", &pid]);
    let anonymous = op(&result, OpKind::Anonymous);
    let summary = result.summary.as_ref().unwrap();
    assert_eq!(anonymous.requests, summary.total.requests);
    let cost = summary.server.as_ref().expect("server figures");
    assert_eq!(cost.pid, server.pid());
    assert_eq!(cost.requests, anonymous.requests);
    assert!(
        cost.cpu_secs > 0.0 && cost.cpu_per_request_us > 0.0,
        "{cost:?}"
    );
    let report = shoal_bench::report::summary::render(summary);
    assert!(report.contains("us of CPU per request"), "{report}");
    let error = execute(
        Mode::Stat,
        &server.args("anon", &["--server-pid", "4294967295"]),
    );
    assert!(error.err().unwrap().contains("--server-pid"));
}

/// With --list.pages every worker walks the whole listing of the run's 24 objects page
/// by page: pages of 5 keys, each walk's fifth page holding the last 4, none missing.
/// With --list.existing a later run walks that bucket without uploading, and a bucket
/// that does not hold --objects keys makes walks fail.
#[test]
fn list_pages_walk_every_object_page_by_page() {
    let server = Server::start();
    let check_pages = |result: &shoal_bench::load::driver::RunResult| {
        let pages: Vec<u32> = result
            .records
            .iter()
            .filter(|r| r.kind == OpKind::List && r.worker == 0)
            .map(|r| r.objects)
            .collect();
        assert!(pages.len() >= 5, "at least one whole walk: {pages:?}");
        for (index, &keys) in pages.iter().enumerate() {
            assert_eq!(keys, if index % 5 == 4 { 4 } else { 5 }, "{pages:?}");
        }
        let list = op(result, OpKind::List);
        assert!(
            list.objects > list.requests,
            "objects are keys, requests pages"
        );
    };
    let extra = ["--list.pages", "--max-keys", "5", "--noclear"];
    check_pages(&clean_run(&server, Mode::List, "list-pages", &extra));
    let existing = ["--list.pages", "--list.existing", "--max-keys", "5"];
    check_pages(&clean_run(&server, Mode::List, "list-pages", &existing));
    let mut wrong = existing.to_vec();
    wrong.extend(["--objects", "25"]);
    let result = execute(Mode::List, &server.args("list-pages", &wrong)).unwrap();
    assert!(op(&result, OpKind::List).errors > 0);
}
