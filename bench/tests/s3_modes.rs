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
