//! Multipart uploads with one member of the set hung (its drive never answers for
//! anything under the uploads' folder): every request that reaches the hung member
//! through the upload verbs still answers, correctly, within a few member deadlines.

use crate::common;

use std::future::Future;
use std::time::{Duration, Instant};

use common::*;
use shoal_io::{FaultRule, SimClock, SimDrive, SimFaults};
use shoal_shards::object::multipart::{UploadOptions, UploadsQuery};
use shoal_shards::{Error, PutOptions, SliceSource, Store, StoreConfig};

const DEADLINE: Duration = Duration::from_millis(200);
/// A request may wait out the deadline once per fan-out it makes (at most three
/// here), plus scheduling slack on a busy machine.
const REQUEST_MAX: Duration = Duration::from_millis(4 * 200 + 1500);
/// Past this the request is taken to hang: the test fails instead of waiting forever.
const HANG: Duration = Duration::from_secs(30);

async fn hung_store() -> (TestStore<SimDrive>, Vec<SimDrive>) {
    let drives: Vec<SimDrive> = (0..6)
        .map(|i: u64| SimDrive::new(&format!("d{i}"), i + 1))
        .collect();
    let config = StoreConfig {
        parity_chunks: Some(2),
        stripe_size_bytes: 16 << 10,
        member_deadline: DEADLINE,
        ..StoreConfig::default()
    };
    let clock = SimClock::new(1_700_000_000_000_000_000);
    let store = Store::open(drives.clone(), clock, 11, config)
        .await
        .expect("open store");
    store.make_bucket("bkt").await.expect("bucket");
    (store, drives)
}

/// Runs one request; it must answer within `REQUEST_MAX`.
async fn timed<T>(what: &str, request: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let answer = monoio::time::timeout(HANG, request)
        .await
        .unwrap_or_else(|_| panic!("{what} hangs with one member hung"));
    let took = started.elapsed();
    assert!(took <= REQUEST_MAX, "{what} took {took:?}");
    answer
}

/// Create, upload a part, list parts and uploads, and abort on a 4+2 set whose member
/// holding the key's first position hangs on everything multipart: each answers
/// within the bound, with what a healthy set would answer.
#[test]
fn multipart_requests_answer_with_a_member_hung() {
    run(async {
        let (store, drives) = hung_store().await;
        let hang = SimFaults {
            hang: FaultRule::PathContains(".shoal/multipart".into()),
            ..SimFaults::default()
        };
        for drive in &drives {
            drive.set_faults(SimFaults::default());
        }
        drives[0].set_faults(hang);
        let upload = timed(
            "create",
            store.create_multipart_upload("bkt", "k", &UploadOptions::default()),
        )
        .await
        .expect("create");
        let id = upload.upload_id.as_str();
        let data = body(1, 40_000);
        let options = PutOptions {
            size_bytes: Some(data.len() as u64),
            ..PutOptions::default()
        };
        let part = timed(
            "upload part",
            store.upload_part(("bkt", "k", id), 1, &options, &mut SliceSource(&data)),
        )
        .await
        .expect("upload part");
        let page = timed("list parts", store.list_parts(("bkt", "k", id), 0, 100))
            .await
            .expect("list parts");
        assert_eq!(page.parts, vec![part]);
        let query = UploadsQuery {
            max_uploads: 100,
            ..UploadsQuery::default()
        };
        let uploads = timed("list uploads", store.list_multipart_uploads("bkt", &query))
            .await
            .expect("list uploads");
        assert_eq!(uploads.uploads, vec![upload.clone()]);
        timed("abort", store.abort_multipart_upload("bkt", "k", id))
            .await
            .expect("abort");
        let gone = timed(
            "list parts after abort",
            store.list_parts(("bkt", "k", id), 0, 1),
        )
        .await;
        assert!(matches!(gone, Err(Error::NoSuchUpload)), "{gone:?}");
        drives[0].set_faults(SimFaults::default());
    });
}
