//! The S3 front over simulated members: the real connection and handler code
//! (`front::conn::serve`, SigV4 gate, routing, aws-chunked bodies, XML errors) of one
//! shard, listening on loopback, over a 4+2 store of `SimDrive`s, driven by
//! `shoal-bench`'s S3 client (signed requests, streaming bodies). Each test makes the
//! members misbehave in one controlled way and checks what a client sees: statuses,
//! error documents, ETags and the exact bytes.
//!
//! The shard and the client share one monoio runtime on the test's thread (a
//! `SimDrive` is single-threaded); the test reaches the drives through its own handles.
//! Member latency and hangs pass on monoio's timer (real time), so bounds are wall-clock.

use crate::common;

use std::rc::Rc;
use std::time::{Duration, Instant};

use common::{MIB, files_under, run};
use shoal_bench::client::conn::Response;
use shoal_bench::client::payload::ObjectBody;
use shoal_bench::client::s3::{Client, ClientSettings, Request, RequestBody};
use shoal_bench::client::s3xml::{CompletedPart, parse_list_page, tag_text};
use shoal_bench::client::signer;
use shoal_http::RouteConfig;
use shoal_io::{AnyDrive, FaultRule, SimDrive, SimFaults, SystemClock};
use shoal_shards::front::admission::{Admission, Verdict};
use shoal_shards::front::conn::{self, ConnLimits};
use shoal_shards::front::handler::{Credentials, ShardContext};
use shoal_shards::{Store, StoreConfig};

const ACCESS_KEY: &str = "simfront";
const SECRET_KEY: &str = "simfront-secret-key";
const REGION: &str = "us-east-1";
const BUCKET: &str = "bkt";
/// Members of the one set: 4 data + 2 parity chunks; read and write quorum are 4.
const MEMBERS: usize = 6;
const PARITY: usize = 2;
/// How long the test waits for any one request before calling it hung.
const TEST_BOUND: Duration = Duration::from_secs(30);

/// One shard's front over simulated members, and a client of it.
struct SimFront {
    ctx: Rc<ShardContext>,
    /// The members' drives, as the test reaches them to inject faults.
    drives: Vec<SimDrive>,
    client: Client,
}

/// Starts the front over `MEMBERS` fresh simulated drives with `member_deadline`, and
/// creates the bucket through S3.
async fn start(member_deadline: Duration) -> SimFront {
    let drives: Vec<SimDrive> = (0..MEMBERS)
        .map(|i| SimDrive::new(&format!("m{i}"), i as u64 + 1))
        .collect();
    let config = StoreConfig {
        parity_chunks: Some(PARITY),
        member_deadline,
        ..StoreConfig::default()
    };
    let members = drives.iter().cloned().map(AnyDrive::from).collect();
    let store = Store::open(members, SystemClock, 7, config)
        .await
        .expect("open the store");
    let credentials = Credentials {
        access_key_id: ACCESS_KEY.to_owned(),
        secret_access_key: SECRET_KEY.to_owned(),
    };
    let ctx = ShardContext::new(
        store,
        credentials,
        REGION.to_owned(),
        RouteConfig::default(),
        0,
    );
    let ctx = Rc::new(ctx);
    let listener = monoio::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let address = listener.local_addr().expect("listener address");
    monoio::spawn(accept_connections(Rc::clone(&ctx), listener));
    let client = Client::new(ClientSettings {
        addresses: vec![address],
        host_names: vec![address.to_string()],
        tls: None,
        credentials: signer::Credentials {
            access_key: ACCESS_KEY.to_owned(),
            secret_key: SECRET_KEY.to_owned(),
            region: REGION.to_owned(),
        },
        bucket: BUCKET.to_owned(),
        unsigned_payload: false,
        checksum: None,
    });
    client.create_bucket().await.expect("CreateBucket");
    SimFront {
        ctx,
        drives,
        client,
    }
}

/// What `server.rs` does per accepted connection: admit it, then serve it in its own
/// task, isolated from panics. Ends when accepting fails (the test is over).
async fn accept_connections(ctx: Rc<ShardContext>, listener: monoio::net::TcpListener) {
    let admission = Admission::new(64, 0);
    while let Ok((stream, peer)) = listener.accept().await {
        let Verdict::Admit(slot) = admission.admit(peer.ip()) else {
            continue;
        };
        let ctx = Rc::clone(&ctx);
        monoio::spawn(async move {
            let accepted_at = monoio::time::Instant::now();
            let connection = conn::serve(&ctx, stream, ConnLimits::default(), accepted_at, slot);
            conn::isolate(0, connection).await;
        });
    }
}

/// A request's response and how long it took.
struct Answer {
    response: Response,
    took: Duration,
}

impl Answer {
    fn status(&self) -> u16 {
        self.response.status
    }

    fn body(&self) -> &[u8] {
        &self.response.body
    }

    fn etag(&self) -> String {
        self.response.etag.clone().unwrap_or_default()
    }

    /// Status and body, for failure messages.
    fn show(&self) -> String {
        format!(
            "{} {}",
            self.response.status,
            String::from_utf8_lossy(&self.response.body)
        )
    }
}

impl SimFront {
    /// Sends `request`; fails the test if no response comes within `TEST_BOUND`.
    async fn send(&self, what: &str, mut request: Request<'_>) -> Answer {
        request.expect.keep_body = true;
        request.expect.keep_etag = true;
        let started = Instant::now();
        let response = monoio::time::timeout(TEST_BOUND, self.client.exchange(request))
            .await
            .unwrap_or_else(|_| panic!("{what}: no response within {TEST_BOUND:?}"))
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        Answer {
            response,
            took: started.elapsed(),
        }
    }

    async fn put(&self, key: &str, body: &ObjectBody) -> Answer {
        let payload = body.whole();
        let mut request = Request::new("PUT", key);
        request.body = RequestBody::Object(&payload);
        self.send(&format!("PUT {key}"), request).await
    }

    async fn get(&self, key: &str) -> Answer {
        self.send(&format!("GET {key}"), Request::new("GET", key))
            .await
    }

    /// GET of the inclusive byte range `first..=last`.
    async fn get_range(&self, key: &str, first: usize, last: usize) -> Answer {
        let range = format!("bytes={first}-{last}");
        let mut request = Request::new("GET", key);
        request.headers.push("range", &range);
        self.send(&format!("GET {key} {range}"), request).await
    }

    async fn head(&self, key: &str) -> Answer {
        let mut request = Request::new("HEAD", key);
        request.expect.head_request = true;
        self.send(&format!("HEAD {key}"), request).await
    }

    async fn delete(&self, key: &str) -> Answer {
        self.send(&format!("DELETE {key}"), Request::new("DELETE", key))
            .await
    }

    /// ListObjectsV2 of the whole bucket (one page).
    async fn list(&self) -> Answer {
        let mut request = Request::new("GET", "");
        request.query = &[("list-type", "2")];
        self.send("ListObjectsV2", request).await
    }

    async fn listed_keys(&self) -> Vec<String> {
        let listed = self.list().await;
        assert_eq!(listed.status(), 200, "{}", listed.show());
        parse_list_page(listed.body())
            .expect("a ListBucketResult")
            .keys
    }

    /// Asks every member whether it is still the drive it was formatted as, as the
    /// server's drive watch does every 2 s.
    async fn check_drives(&self) {
        self.ctx.store.check_drives().await;
    }

    /// Sets `faults` on the members at `indices`.
    fn set_faults(&self, indices: &[usize], faults: &SimFaults) {
        for &index in indices {
            self.drives[index].set_faults(faults.clone());
        }
    }
}

/// Incompressible bytes of `size` from `seed`, as the client uploads them.
fn object(size: usize, seed: u64) -> ObjectBody {
    ObjectBody::random(size, seed, false, None)
}

/// The response is `status` with exactly `expected` as its body.
fn assert_bytes(answer: &Answer, status: u16, expected: &[u8], what: &str) {
    assert_eq!(
        answer.status(),
        status,
        "{what}: {}",
        String::from_utf8_lossy(&answer.body()[..answer.body().len().min(512)])
    );
    assert_eq!(answer.body().len(), expected.len(), "{what}: length");
    assert!(answer.body() == expected, "{what}: the bytes differ");
}

/// The response is the S3 error document of `code` with `status`, for `resource`
/// (HEAD: the status alone, as HEAD responses carry no body).
fn assert_s3_error(answer: &Answer, status: u16, code: &str, resource: &str) {
    assert_eq!(answer.status(), status, "{}", answer.show());
    if answer.body().is_empty() {
        return;
    }
    let text = String::from_utf8_lossy(answer.body());
    assert!(text.starts_with("<?xml"), "not an XML document: {text}");
    assert_eq!(
        tag_text(answer.body(), "Code").as_deref(),
        Some(code),
        "{text}"
    );
    assert_eq!(
        tag_text(answer.body(), "Resource").as_deref(),
        Some(resource),
        "{text}"
    );
    let message = tag_text(answer.body(), "Message").unwrap_or_default();
    assert!(!message.is_empty(), "no message: {text}");
    let request_id = tag_text(answer.body(), "RequestId").unwrap_or_default();
    assert!(!request_id.is_empty(), "no request id: {text}");
}

fn assert_within(what: &str, answer: &Answer, bound: Duration) {
    eprintln!("{what}: {} in {:?}", answer.status(), answer.took);
    assert!(
        answer.took <= bound,
        "{what} took {:?}, more than {bound:?}",
        answer.took
    );
}

/// With every member healthy, the S3 operations a client uses round-trip through the
/// real connection code: PUT (inline and streamed, aws-chunked), GET, HEAD, ranged GET
/// across stripe boundaries, LIST, DELETE and a multipart upload, bytes exact.
#[test]
fn healthy_set_round_trips_every_operation() {
    run(async {
        let front = start(StoreConfig::default().member_deadline).await;
        let small = object(1000, 1);
        let large = object(3 * MIB + 12_345, 2);
        for (key, body) in [("dir/small", &small), ("dir/large", &large)] {
            let put = front.put(key, body).await;
            assert_eq!(put.status(), 200, "{}", put.show());
            let got = front.get(key).await;
            assert_bytes(&got, 200, &body.data, &format!("GET {key}"));
            assert_eq!(got.etag(), put.etag(), "GET {key}: ETag");
            let head = front.head(key).await;
            assert_eq!(head.status(), 200, "{}", head.show());
            assert_eq!(head.etag(), put.etag(), "HEAD {key}: ETag");
            assert!(head.body().is_empty(), "HEAD {key} sent a body");
        }
        let len = large.data.len();
        for (first, last) in [(0, 0), (MIB - 10, MIB + 10), (len / 3, len / 3 + 5000)] {
            let got = front.get_range("dir/large", first, last).await;
            let what = format!("GET dir/large bytes={first}-{last}");
            assert_bytes(&got, 206, &large.data[first..=last], &what);
        }
        let past_end = front.get_range("dir/large", len, len + 10).await;
        assert_s3_error(&past_end, 416, "InvalidRange", "/bkt/dir/large");

        let parts = [object(5 * MIB, 3), object(MIB + 17, 4)];
        let upload_id = front
            .client
            .create_multipart_upload("mpu")
            .await
            .expect("CreateMultipartUpload");
        let mut completed = Vec::new();
        for (number, part) in (1..).zip(&parts) {
            let uploaded = front
                .client
                .upload_part("mpu", &upload_id, number, &part.whole())
                .await
                .expect("UploadPart");
            completed.push(CompletedPart {
                part_number: number,
                etag: uploaded.etag.expect("part ETag"),
                checksum: None,
            });
        }
        front
            .client
            .complete_multipart_upload("mpu", &upload_id, &completed)
            .await
            .expect("CompleteMultipartUpload");
        let whole: Vec<u8> = parts.iter().flat_map(|p| p.data.iter().copied()).collect();
        let got = front.get("mpu").await;
        assert_bytes(&got, 200, &whole, "GET mpu");
        assert!(
            got.etag().ends_with("-2\""),
            "multipart ETag {}",
            got.etag()
        );

        assert_eq!(front.listed_keys().await, ["dir/large", "dir/small", "mpu"]);
        for key in ["dir/small", "dir/large", "mpu"] {
            let deleted = front.delete(key).await;
            assert_eq!(deleted.status(), 204, "{}", deleted.show());
            let gone = front.get(key).await;
            assert_s3_error(&gone, 404, "NoSuchKey", &format!("/bkt/{key}"));
        }
        assert!(front.listed_keys().await.is_empty());
    });
}

/// Bitrot on any one member (every object file of it, metadata and chunk data) changes
/// nothing a client sees: GET answers 200 with the exact bytes and the same ETag,
/// whichever member rotted (so data chunks are hit, not only parity).
#[test]
fn one_rotten_member_still_serves_exact_bytes() {
    run(async {
        let front = start(StoreConfig::default().member_deadline).await;
        let objects = [
            ("inline", object(1000, 5)),
            ("striped", object(2 * MIB + 1, 6)),
        ];
        let mut etags = Vec::new();
        for (key, body) in &objects {
            let put = front.put(key, body).await;
            assert_eq!(put.status(), 200, "{}", put.show());
            etags.push(put.etag());
        }
        for (index, drive) in front.drives.iter().enumerate() {
            let files = files_under(drive, BUCKET).await;
            assert!(!files.is_empty(), "member {index} holds no object file");
            // Flipping the same bit twice restores the file: rot, read, heal by hand.
            let flip = || {
                for path in &files {
                    let len = drive.file_bytes(path).expect("file").len() as u64;
                    drive.corrupt_file(path, len / 2);
                }
            };
            flip();
            for ((key, body), etag) in objects.iter().zip(&etags) {
                let what = format!("GET {key} with member {index} rotten");
                let got = front.get(key).await;
                assert_bytes(&got, 200, &body.data, &what);
                assert_eq!(&got.etag(), etag, "{what}: ETag");
                let head = front.head(key).await;
                assert_eq!(&head.etag(), etag, "HEAD {key}, member {index} rotten");
            }
            flip();
        }
    });
}

/// Two members that never answer cost a request a member deadline or so, never a
/// hang: with a 500 ms deadline, PUT, GET (of an older object and of the new one),
/// HEAD and LIST each answer correctly within four deadlines.
#[test]
fn two_hung_members_cost_a_deadline_not_a_hang() {
    const DEADLINE: Duration = Duration::from_millis(500);
    const REQUEST_MAX: Duration = Duration::from_secs(2);
    run(async {
        let front = start(DEADLINE).await;
        let older = object(2 * MIB + 3, 7);
        let put = front.put("older", &older).await;
        assert_eq!(put.status(), 200, "{}", put.show());
        let hang = SimFaults {
            hang: FaultRule::Always,
            ..SimFaults::default()
        };
        front.set_faults(&[1, 4], &hang);

        let got = front.get("older").await;
        assert_within("GET older, two members hung", &got, REQUEST_MAX);
        assert_bytes(&got, 200, &older.data, "GET older");
        for (key, body) in [
            ("new-small", object(1000, 8)),
            ("new-large", object(3 * MIB, 9)),
        ] {
            let put = front.put(key, &body).await;
            assert_within(&format!("PUT {key}, two members hung"), &put, REQUEST_MAX);
            assert_eq!(put.status(), 200, "{}", put.show());
            let head = front.head(key).await;
            assert_within(&format!("HEAD {key}"), &head, REQUEST_MAX);
            assert_eq!(head.etag(), put.etag());
            let got = front.get(key).await;
            assert_within(&format!("GET {key}"), &got, REQUEST_MAX);
            assert_bytes(&got, 200, &body.data, &format!("GET {key}"));
        }
        let listed = front.list().await;
        assert_within("LIST, two members hung", &listed, REQUEST_MAX);
        let keys = parse_list_page(listed.body())
            .expect("a ListBucketResult")
            .keys;
        assert_eq!(keys, ["new-large", "new-small", "older"]);
        front.set_faults(&[1, 4], &SimFaults::default());
    });
}

/// Three of six members unmounted (one beyond parity): a PUT answers 503
/// ServiceUnavailable with its XML error document and leaves nothing visible, and a GET
/// of an older object answers 503 too (read quorum is 4). Once the members are back,
/// the older object reads exactly and the failed key does not exist.
#[test]
fn three_lost_members_answer_503_and_leave_nothing_visible() {
    run(async {
        let front = start(StoreConfig::default().member_deadline).await;
        let older = object(MIB + 5, 10);
        let put = front.put("older", &older).await;
        assert_eq!(put.status(), 200, "{}", put.show());
        for drive in &front.drives[..3] {
            drive.unmount();
        }
        front.check_drives().await;

        for (key, size) in [("failed-small", 1000), ("failed-large", 2 * MIB)] {
            let put = front.put(key, &object(size, 11)).await;
            assert_s3_error(&put, 503, "ServiceUnavailable", &format!("/bkt/{key}"));
        }
        let got = front.get("older").await;
        assert_s3_error(&got, 503, "ServiceUnavailable", "/bkt/older");
        let head = front.head("older").await;
        assert_eq!(head.status(), 503, "{}", head.show());
        let listed = front.list().await;
        assert_s3_error(&listed, 503, "ServiceUnavailable", "/bkt");

        for drive in &front.drives[..3] {
            drive.mount();
        }
        front.check_drives().await;
        let got = front.get("older").await;
        assert_bytes(
            &got,
            200,
            &older.data,
            "GET older after the members came back",
        );
        for key in ["failed-small", "failed-large"] {
            let gone = front.get(key).await;
            assert_s3_error(&gone, 404, "NoSuchKey", &format!("/bkt/{key}"));
        }
        assert_eq!(front.listed_keys().await, ["older"]);
    });
}

/// Every drive out of space: a PUT, an UploadPart and a CreateMultipartUpload answer
/// 507 XMinioStorageFull (not a 503 that invites retries, nor a generic 500), a new key
/// stays absent and an overwritten key keeps its previous version; once space is back,
/// the PUT succeeds.
#[test]
fn full_drives_answer_storage_full_and_leave_nothing_visible() {
    run(async {
        let front = start(StoreConfig::default().member_deadline).await;
        let previous = object(MIB + 9, 12);
        let put = front.put("kept", &previous).await;
        assert_eq!(put.status(), 200, "{}", put.show());
        let full = SimFaults {
            no_space_after_bytes: Some(0),
            ..SimFaults::default()
        };
        let upload_id = front
            .client
            .create_multipart_upload("mpu")
            .await
            .expect("CreateMultipartUpload");
        let all: Vec<usize> = (0..MEMBERS).collect();
        front.set_faults(&all, &full);

        let part = object(5 * MIB, 15);
        let payload = part.whole();
        let mut upload_part = Request::new("PUT", "mpu");
        let query = [("partNumber", "1"), ("uploadId", upload_id.as_str())];
        upload_part.query = &query;
        upload_part.body = RequestBody::Object(&payload);
        let uploaded = front.send("UploadPart on full drives", upload_part).await;
        assert_s3_error(&uploaded, 507, "XMinioStorageFull", "/bkt/mpu");
        let mut create = Request::new("POST", "other-mpu");
        create.query = &[("uploads", "")];
        let created = front
            .send("CreateMultipartUpload on full drives", create)
            .await;
        assert_s3_error(&created, 507, "XMinioStorageFull", "/bkt/other-mpu");

        for (key, size) in [("new-small", 1000), ("new-large", 2 * MIB), ("kept", 3000)] {
            let put = front.put(key, &object(size, 13)).await;
            assert_s3_error(&put, 507, "XMinioStorageFull", &format!("/bkt/{key}"));
        }
        for key in ["new-small", "new-large"] {
            let gone = front.get(key).await;
            assert_s3_error(&gone, 404, "NoSuchKey", &format!("/bkt/{key}"));
        }
        let kept = front.get("kept").await;
        assert_bytes(
            &kept,
            200,
            &previous.data,
            "GET kept after a failed overwrite",
        );
        assert_eq!(kept.etag(), put.etag());
        assert_eq!(front.listed_keys().await, ["kept"]);

        front.set_faults(&all, &SimFaults::default());
        let again = object(2 * MIB, 14);
        let put = front.put("new-large", &again).await;
        assert_eq!(put.status(), 200, "{}", put.show());
        assert_bytes(
            &front.get("new-large").await,
            200,
            &again.data,
            "GET new-large",
        );
    });
}
