//! End to end with the official AWS SDK for Rust: every test starts the real `shoal`
//! binary on a free port with four fresh drives, drives it over HTTP with `aws-sdk-s3`
//! (path style, static credentials, region us-east-1), and stops it with SIGTERM, which
//! must end it with exit status 0.
//!
//! The binary is `$SHOAL_BIN` if set, else the newer of `../target/{release,debug}/shoal`
//! next to this crate, else it is built once with `cargo build --bin shoal` from the
//! workspace root (so a plain `cargo test -p shoal-client-tests` works from a clean tree;
//! cargo releases its build lock before running tests, so the nested build does not
//! deadlock). An existing binary is used as it is, never rebuilt: after changing the
//! server, run `cargo build --bin shoal` (or set `SHOAL_BIN`) before these tests.
//!
//! The SDK picks the request body encoding itself: an in-memory body gets its checksum as
//! a header, a streaming body (`ByteStream::from_path`) is sent `aws-chunked` with the
//! checksum in a trailer. Both paths are exercised below.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_s3::config::{
    BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents,
};
use aws_sdk_s3::error::{BoxError, ProvideErrorMetadata as _, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::operation::head_bucket::HeadBucketError;
use aws_sdk_s3::operation::head_object::HeadObjectError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, Delete, ObjectAttributes, ObjectIdentifier,
};
use aws_smithy_http_client::tls;
use md5::{Digest as _, Md5};
use rand::{RngCore as _, SeedableRng as _};

const ROOT_USER: &str = "shoal-sdk-test";
const ROOT_PASSWORD: &str = "shoal-sdk-test-secret";
const REGION: &str = "us-east-1";
const DRIVES: usize = 4;
const START_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
const MIB: usize = 1024 * 1024;

/// One running `shoal server` with its own temp drives; SIGTERM on drop.
struct Server {
    child: Child,
    endpoint: String,
    /// Drives and captured stdout/stderr; removed after the server has stopped.
    root: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let root = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let drives: Vec<PathBuf> = (0..DRIVES)
            .map(|i| root.path().join(format!("drive{i}")))
            .collect();
        let child = Command::new(shoal_bin())
            .args(["server", "--address", &format!("127.0.0.1:{port}")])
            .args(["--shards", "2"])
            .args(&drives)
            .env("SHOAL_ROOT_USER", ROOT_USER)
            .env("SHOAL_ROOT_PASSWORD", ROOT_PASSWORD)
            // Files, not pipes: nobody has to drain them, and they survive for diagnosis.
            .stdout(File::create(root.path().join("stdout.log")).unwrap())
            .stderr(File::create(root.path().join("stderr.log")).unwrap())
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn shoal server");
        let mut server = Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            root,
        };
        server.wait_for_banner();
        server
    }

    /// The server prints its banner (first line "Shoal ...") once every shard listens.
    fn wait_for_banner(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let stdout = std::fs::read_to_string(self.root.path().join("stdout.log"));
            if stdout.is_ok_and(|s| s.starts_with("Shoal ") && s.contains('\n')) {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("shoal exited before ready ({status}):\n{}", self.logs());
            }
            assert!(
                Instant::now() < deadline,
                "no banner in {START_TIMEOUT:?}:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn logs(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.root.path().join(name));
        format!(
            "--- stdout\n{}\n--- stderr\n{}",
            read("stdout.log").unwrap_or_default(),
            read("stderr.log").unwrap_or_default()
        )
    }

    fn client(&self) -> Client {
        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new(
                ROOT_USER,
                ROOT_PASSWORD,
                None,
                None,
                "shoal-test",
            ))
            .force_path_style(true)
            .http_client(http_client)
            .build();
        Client::from_conf(config)
    }

    /// A client with a bucket already created.
    async fn client_with_bucket(&self, bucket: &str) -> Client {
        let client = self.client();
        client.create_bucket().bucket(bucket).send().await.unwrap();
        client
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id().cast_signed());
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + STOP_TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break Some(status);
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // A second panic while a test is already failing would abort and hide the first.
        if std::thread::panicking() {
            return;
        }
        match status {
            Some(status) => assert!(
                status.success(),
                "shoal did not exit 0 on SIGTERM ({status}):\n{}",
                self.logs()
            ),
            None => panic!(
                "shoal still running {STOP_TIMEOUT:?} after SIGTERM:\n{}",
                self.logs()
            ),
        }
    }
}

/// A port nobody listens on right now (the kernel's pick); a race with another process
/// taking it before the server binds is possible but has not been seen.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn shoal_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("SHOAL_BIN") {
            return PathBuf::from(bin);
        }
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let newest = ["release", "debug"]
            .iter()
            .map(|profile| workspace.join("target").join(profile).join("shoal"))
            .filter_map(|bin| Some((bin.metadata().ok()?.modified().ok()?, bin)))
            .max();
        if let Some((_, bin)) = newest {
            return bin;
        }
        build_shoal(workspace)
    })
    .clone()
}

fn build_shoal(workspace: &Path) -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--bin", "shoal"])
        .current_dir(workspace)
        .status()
        .expect("run cargo build --bin shoal");
    assert!(status.success(), "cargo build --bin shoal failed: {status}");
    workspace.join("target/debug/shoal")
}

/// The headers of the last request the SDK transmitted, so a test can check which body
/// encoding the SDK chose rather than assume it.
#[derive(Debug, Clone, Default)]
struct SentHeaders(Arc<Mutex<Vec<(String, String)>>>);

impl SentHeaders {
    fn get(&self, name: &str) -> Option<String> {
        let headers = self.0.lock().unwrap();
        let mut found = headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name));
        found.next().map(|(_, v)| v.clone())
    }
}

impl Intercept for SentHeaders {
    fn name(&self) -> &'static str {
        "SentHeaders"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let mut headers = self.0.lock().unwrap();
        headers.clear();
        let sent = context.request().headers().iter();
        headers.extend(sent.map(|(n, v)| (n.to_owned(), v.to_owned())));
        Ok(())
    }
}

/// Deterministic pseudo-random bytes: a failure reproduces with the same data.
fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut bytes = vec![0; len];
    rand::rngs::SmallRng::seed_from_u64(seed).fill_bytes(&mut bytes);
    bytes
}

fn quoted_md5_hex(bytes: &[u8]) -> String {
    format!("\"{}\"", hex::encode(Md5::digest(bytes)))
}

/// The HTTP status of a failed call, if it got as far as a response.
fn status_of<E>(err: &SdkError<E>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

async fn put(client: &Client, bucket: &str, key: &str, body: &[u8]) {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
}

async fn get_bytes(client: &Client, bucket: &str, key: &str) -> Vec<u8> {
    let out = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("get {key}: {e:?}"));
    out.body.collect().await.unwrap().to_vec()
}

async fn list_keys(client: &Client, bucket: &str) -> Vec<String> {
    let out = client
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    out.contents()
        .iter()
        .map(|o| o.key().unwrap().to_owned())
        .collect()
}

/// Proves a bucket can be created, seen by head/list, deleted, and is then a typed 404.
#[tokio::test]
async fn bucket_create_head_list_delete() {
    let server = Server::start();
    let client = server.client_with_bucket("lifecycle").await;

    client
        .head_bucket()
        .bucket("lifecycle")
        .send()
        .await
        .unwrap();
    let buckets = client.list_buckets().send().await.unwrap();
    let names: Vec<&str> = buckets.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["lifecycle"]);

    client
        .delete_bucket()
        .bucket("lifecycle")
        .send()
        .await
        .unwrap();
    let err = client
        .head_bucket()
        .bucket("lifecycle")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), Some(404));
    assert!(
        matches!(err.into_service_error(), HeadBucketError::NotFound(_)),
        "head_bucket on a deleted bucket"
    );
}

/// Proves empty, small and 3 MiB random bodies come back byte for byte, whole and ranged.
#[tokio::test]
async fn put_then_get_whole_and_range() {
    let server = Server::start();
    let client = server.client_with_bucket("bytes").await;
    let large = random_bytes(3 * MIB, 1);
    let cases: [(&str, &[u8]); 3] = [
        ("empty", b""),
        ("small", b"hello, shoal"),
        ("large", &large),
    ];
    for (key, body) in cases {
        put(&client, "bytes", key, body).await;
        assert_eq!(get_bytes(&client, "bytes", key).await, body, "{key}");
    }

    // A range that straddles the 1 MiB mark, so it spans more than one stripe block.
    let (first, last) = (MIB - 1000, MIB + 2999);
    let out = client
        .get_object()
        .bucket("bytes")
        .key("large")
        .range(format!("bytes={first}-{last}"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.content_length(), Some(4000));
    assert_eq!(
        out.content_range(),
        Some(format!("bytes {first}-{last}/{}", large.len()).as_str())
    );
    let ranged = out.body.collect().await.unwrap().to_vec();
    assert_eq!(ranged, &large[first..=last]);

    // A suffix range: the last 10 bytes.
    let out = client
        .get_object()
        .bucket("bytes")
        .key("large")
        .range("bytes=-10")
        .send()
        .await
        .unwrap();
    let tail = out.body.collect().await.unwrap().to_vec();
    assert_eq!(tail, &large[large.len() - 10..]);
}

/// Proves head and get return the stored length, user metadata, content type and MD5 ETag.
#[tokio::test]
async fn head_returns_length_metadata_and_md5_etag() {
    let server = Server::start();
    let client = server.client_with_bucket("meta").await;
    let body = random_bytes(100_000, 2);
    let put_out = client
        .put_object()
        .bucket("meta")
        .key("doc.json")
        .content_type("application/json")
        .metadata("colour", "blue")
        .metadata("owner", "shoal-tests")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(put_out.e_tag(), Some(quoted_md5_hex(&body).as_str()));

    let head = client
        .head_object()
        .bucket("meta")
        .key("doc.json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.content_length(),
        Some(i64::try_from(body.len()).unwrap())
    );
    assert_eq!(head.content_type(), Some("application/json"));
    assert_eq!(head.e_tag(), Some(quoted_md5_hex(&body).as_str()));
    let metadata = head.metadata().expect("user metadata");
    assert_eq!(metadata.get("colour").map(String::as_str), Some("blue"));
    assert_eq!(
        metadata.get("owner").map(String::as_str),
        Some("shoal-tests")
    );
    assert_eq!(metadata.len(), 2, "{metadata:?}");

    let get = client
        .get_object()
        .bucket("meta")
        .key("doc.json")
        .send()
        .await
        .unwrap();
    assert_eq!(get.content_type(), Some("application/json"));
    assert_eq!(get.e_tag(), Some(quoted_md5_hex(&body).as_str()));
    assert_eq!(get.metadata(), Some(metadata));
}

/// Proves CRC32 and CRC64NVME checksums sent as headers are stored and returned on request.
#[tokio::test]
async fn put_with_checksum_header_round_trips_the_checksum() {
    let server = Server::start();
    let client = server.client_with_bucket("sums").await;
    let body = random_bytes(200_000, 3);
    for algorithm in [ChecksumAlgorithm::Crc32, ChecksumAlgorithm::Crc64Nvme] {
        let key = format!("in-memory-{algorithm}");
        let sent_headers = SentHeaders::default();
        let put_out = client
            .put_object()
            .bucket("sums")
            .key(&key)
            .checksum_algorithm(algorithm.clone())
            .body(ByteStream::from(body.clone()))
            .customize()
            .interceptor(sent_headers.clone())
            .send()
            .await
            .unwrap();
        let header = format!("x-amz-checksum-{}", algorithm.as_str().to_lowercase());
        assert!(
            sent_headers.get(&header).is_some(),
            "{key}: no {header} sent"
        );
        assert_eq!(sent_headers.get("x-amz-trailer"), None, "{key}");
        // Computed here from the bytes, not taken from another server answer.
        let expected = Some(expected_checksum(&algorithm, &body));
        assert_eq!(
            sent_headers.get(&header),
            expected,
            "{key}: the SDK's own value"
        );
        assert_eq!(checksum_of_put(&put_out, &algorithm), expected, "{key}");
        assert_eq!(
            stored_checksum(&client, "sums", &key, &algorithm).await,
            expected,
            "{key}"
        );
        assert_eq!(get_bytes(&client, "sums", &key).await, body, "{key}");
    }
}

/// Proves streaming bodies, which the SDK sends aws-chunked with a checksum trailer, land intact.
#[tokio::test]
async fn streaming_put_sends_aws_chunked_with_trailer() {
    let server = Server::start();
    let client = server.client_with_bucket("chunked").await;
    let body = random_bytes(3 * MIB + 17, 4);
    let path = server.root.path().join("upload.bin");
    File::create(&path).unwrap().write_all(&body).unwrap();

    // None: the SDK's default request checksum (CRC32 under WhenSupported).
    for algorithm in [None, Some(ChecksumAlgorithm::Crc64Nvme)] {
        let key = format!("streamed-{algorithm:?}");
        let sent_headers = SentHeaders::default();
        let put_out = client
            .put_object()
            .bucket("chunked")
            .key(&key)
            .set_checksum_algorithm(algorithm.clone())
            .body(ByteStream::from_path(&path).await.unwrap())
            .customize()
            .interceptor(sent_headers.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{key}: {e:?}"));
        assert_eq!(put_out.e_tag(), Some(quoted_md5_hex(&body).as_str()));
        let algorithm = algorithm.unwrap_or(ChecksumAlgorithm::Crc32);
        let trailer = format!("x-amz-checksum-{}", algorithm.as_str().to_lowercase());
        assert_eq!(sent_headers.get("x-amz-trailer"), Some(trailer), "{key}");
        let encoding = sent_headers.get("content-encoding").unwrap_or_default();
        assert!(encoding.contains("aws-chunked"), "{key}: {encoding:?}");
        assert_eq!(
            sent_headers.get("x-amz-decoded-content-length"),
            Some(body.len().to_string()),
            "{key}"
        );
        let expected = Some(expected_checksum(&algorithm, &body));
        assert_eq!(checksum_of_put(&put_out, &algorithm), expected, "{key}");
        assert_eq!(
            stored_checksum(&client, "chunked", &key, &algorithm).await,
            expected,
            "{key}"
        );
        assert_eq!(get_bytes(&client, "chunked", &key).await, body, "{key}");
    }
}

/// The S3 checksum of `body` (big-endian CRC, base64), computed in the test.
fn expected_checksum(algorithm: &ChecksumAlgorithm, body: &[u8]) -> String {
    use crc_fast::{CrcAlgorithm, checksum};
    let bytes = match algorithm {
        ChecksumAlgorithm::Crc32 => (checksum(CrcAlgorithm::Crc32IsoHdlc, body) as u32)
            .to_be_bytes()
            .to_vec(),
        ChecksumAlgorithm::Crc64Nvme => checksum(CrcAlgorithm::Crc64Nvme, body)
            .to_be_bytes()
            .to_vec(),
        other => panic!("no test uses {other}"),
    };
    base64(&bytes)
}

/// Standard padded base64 (kept here: this crate uses no Shoal code).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for group in bytes.chunks(3) {
        let n = group
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            out.push(if i <= group.len() {
                char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize])
            } else {
                '='
            });
        }
    }
    out
}

fn checksum_of_put(
    out: &aws_sdk_s3::operation::put_object::PutObjectOutput,
    algorithm: &ChecksumAlgorithm,
) -> Option<String> {
    match algorithm {
        ChecksumAlgorithm::Crc32 => out.checksum_crc32().map(str::to_owned),
        ChecksumAlgorithm::Crc64Nvme => out.checksum_crc64_nvme().map(str::to_owned),
        other => panic!("no test uses {other}"),
    }
}

/// The checksum the server returns on HEAD with `x-amz-checksum-mode: ENABLED`.
async fn stored_checksum(
    client: &Client,
    bucket: &str,
    key: &str,
    algorithm: &ChecksumAlgorithm,
) -> Option<String> {
    let out = client
        .head_object()
        .bucket(bucket)
        .key(key)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    match algorithm {
        ChecksumAlgorithm::Crc32 => out.checksum_crc32().map(str::to_owned),
        ChecksumAlgorithm::Crc64Nvme => out.checksum_crc64_nvme().map(str::to_owned),
        other => panic!("no test uses {other}"),
    }
}

/// Proves ListObjectsV2 groups by prefix/delimiter and pages 5 keys 2 at a time via tokens.
#[tokio::test]
async fn list_objects_v2_prefix_delimiter_and_pagination() {
    let server = Server::start();
    let client = server.client_with_bucket("listing").await;
    let keys = ["a/1", "a/2", "a/b/3", "c", "d/4"];
    for key in keys {
        put(&client, "listing", key, key.as_bytes()).await;
    }

    let out = client
        .list_objects_v2()
        .bucket("listing")
        .prefix("a/")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let contents: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    let prefixes: Vec<&str> = out
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(contents, ["a/1", "a/2"]);
    assert_eq!(prefixes, ["a/b/"]);

    let out = client
        .list_objects_v2()
        .bucket("listing")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let contents: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    let prefixes: Vec<&str> = out
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(contents, ["c"]);
    assert_eq!(prefixes, ["a/", "d/"]);

    let mut pages: Vec<Vec<String>> = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = client
            .list_objects_v2()
            .bucket("listing")
            .max_keys(2)
            .set_continuation_token(token.take())
            .send()
            .await
            .unwrap();
        let page: Vec<String> = out
            .contents()
            .iter()
            .map(|o| o.key().unwrap().to_owned())
            .collect();
        assert_eq!(out.key_count(), Some(i32::try_from(page.len()).unwrap()));
        pages.push(page);
        assert!(pages.len() <= keys.len(), "pagination does not end");
        if out.is_truncated() != Some(true) {
            assert!(out.next_continuation_token().is_none());
            break;
        }
        token = Some(out.next_continuation_token().expect("token").to_owned());
    }
    assert_eq!(
        pages,
        [vec!["a/1", "a/2"], vec!["a/b/3", "c"], vec!["d/4"]],
        "pages of max_keys 2"
    );
}

/// Proves DeleteObject and DeleteObjects remove keys, and deleting a missing key succeeds.
#[tokio::test]
async fn delete_object_and_delete_objects() {
    let server = Server::start();
    let client = server.client_with_bucket("deletes").await;
    for key in ["one", "two", "three", "four"] {
        put(&client, "deletes", key, key.as_bytes()).await;
    }

    client
        .delete_object()
        .bucket("deletes")
        .key("one")
        .send()
        .await
        .unwrap();
    assert_eq!(
        list_keys(&client, "deletes").await,
        ["four", "three", "two"]
    );

    let identifiers = ["two", "three", "never-written"]
        .map(|key| ObjectIdentifier::builder().key(key).build().unwrap());
    let out = client
        .delete_objects()
        .bucket("deletes")
        .delete(
            Delete::builder()
                .set_objects(Some(identifiers.to_vec()))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let mut deleted: Vec<&str> = out.deleted().iter().filter_map(|d| d.key()).collect();
    deleted.sort_unstable();
    assert_eq!(deleted, ["never-written", "three", "two"]);
    assert!(out.errors().is_empty(), "{:?}", out.errors());
    assert_eq!(list_keys(&client, "deletes").await, ["four"]);

    // S3 answers 204 for a key that is not there.
    client
        .delete_object()
        .bucket("deletes")
        .key("one")
        .send()
        .await
        .unwrap();
}

/// Proves S3 error responses decode into the SDK's typed errors with the right status.
#[tokio::test]
async fn errors_map_to_typed_sdk_errors() {
    let server = Server::start();
    let client = server.client_with_bucket("errors").await;

    let err = client
        .get_object()
        .bucket("errors")
        .key("missing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), Some(404));
    let err = err.into_service_error();
    assert!(matches!(err, GetObjectError::NoSuchKey(_)), "{err:?}");

    let err = client
        .head_object()
        .bucket("errors")
        .key("missing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), Some(404));
    let err = err.into_service_error();
    assert!(matches!(err, HeadObjectError::NotFound(_)), "{err:?}");

    let err = client
        .head_bucket()
        .bucket("no-such-bucket")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), Some(404));
    let err = err.into_service_error();
    assert!(matches!(err, HeadBucketError::NotFound(_)), "{err:?}");

    let err = client
        .get_object()
        .bucket("no-such-bucket")
        .key("k")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), Some(404));
    assert_eq!(err.code(), Some("NoSuchBucket"), "{err:?}");

    put(&client, "errors", "k", b"v").await;
    let err = client
        .delete_bucket()
        .bucket("errors")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), Some(409));
    assert_eq!(err.code(), Some("BucketNotEmpty"), "{err:?}");

    let err = client
        .list_parts()
        .bucket("errors")
        .key("k")
        .upload_id("00000000000000000000000000000000")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), Some(404));
    assert_eq!(err.code(), Some("NoSuchUpload"), "{err:?}");

    let err = client
        .get_bucket_policy()
        .bucket("errors")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), Some(501));
    assert_eq!(err.code(), Some("NotImplemented"), "{err:?}");

    let err = client
        .get_object()
        .bucket("errors")
        .key("k")
        .range("bytes=5-9")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), Some(416));
    assert_eq!(err.code(), Some("InvalidRange"), "{err:?}");
}

/// Proves a multipart upload through the SDK: parts sent with CRC32 checksums, listed,
/// completed into an object whose bytes, ETag (`md5-of-md5s-N`), composite checksum
/// and per-part GETs are right; tags set on the upload arrive on the object.
#[tokio::test]
async fn multipart_upload_round_trip() {
    use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
    let server = Server::start();
    let client = server.client_with_bucket("mpu").await;
    let created = client
        .create_multipart_upload()
        .bucket("mpu")
        .key("big")
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .tagging("team=ml")
        .send()
        .await
        .unwrap();
    let upload_id = created.upload_id().unwrap().to_owned();
    let parts = [random_bytes(5 << 20, 1), random_bytes(1234, 2)];
    let mut completed = Vec::new();
    let mut md5s = Vec::new();
    let mut crcs = Vec::new();
    for (i, data) in parts.iter().enumerate() {
        let number = i32::try_from(i + 1).unwrap();
        let out = client
            .upload_part()
            .bucket("mpu")
            .key("big")
            .upload_id(&upload_id)
            .part_number(number)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
        assert_eq!(out.e_tag(), Some(quoted_md5_hex(data).as_str()));
        let crc = out.checksum_crc32().unwrap().to_owned();
        assert_eq!(crc, expected_checksum(&ChecksumAlgorithm::Crc32, data));
        md5s.extend_from_slice(&Md5::digest(data));
        crcs.extend_from_slice(&crc32(data));
        completed.push(
            CompletedPart::builder()
                .part_number(number)
                .e_tag(out.e_tag().unwrap())
                .checksum_crc32(crc)
                .build(),
        );
    }
    let listed = client
        .list_parts()
        .bucket("mpu")
        .key("big")
        .upload_id(&upload_id)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.parts().len(), 2);
    let done = client
        .complete_multipart_upload()
        .bucket("mpu")
        .key("big")
        .upload_id(&upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(completed))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let etag = format!("\"{}-2\"", hex::encode(Md5::digest(&md5s)));
    assert_eq!(done.e_tag(), Some(etag.as_str()));
    let composite = format!("{}-2", base64(&crc32(&crcs)));
    assert_eq!(done.checksum_crc32(), Some(composite.as_str()));
    assert_eq!(get_bytes(&client, "mpu", "big").await, parts.concat());
    let second = client
        .get_object()
        .bucket("mpu")
        .key("big")
        .part_number(2)
        .send()
        .await
        .unwrap();
    assert_eq!(second.parts_count(), Some(2));
    assert_eq!(second.content_length(), Some(1234));
    let bytes = second.body.collect().await.unwrap().into_bytes();
    assert_eq!(&bytes[..], &parts[1][..]);
    let tags = client
        .get_object_tagging()
        .bucket("mpu")
        .key("big")
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tag_set().len(), 1);
    assert_eq!(tags.tag_set()[0].key(), "team");
}

fn crc32(bytes: &[u8]) -> [u8; 4] {
    (crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32IsoHdlc, bytes) as u32).to_be_bytes()
}

/// Proves a request signed with the wrong secret is refused with SignatureDoesNotMatch.
#[tokio::test]
async fn wrong_secret_is_refused() {
    let server = Server::start();
    let good = server.client_with_bucket("auth").await;
    let bad = Client::from_conf(
        good.config()
            .to_builder()
            .credentials_provider(Credentials::new(
                ROOT_USER,
                "not-the-password",
                None,
                None,
                "shoal-test",
            ))
            .build(),
    );
    let err = bad
        .list_objects_v2()
        .bucket("auth")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), Some(403));
    assert_eq!(err.code(), Some("SignatureDoesNotMatch"), "{err:?}");
}

/// Proves keys with spaces, `+`, `%`, `?`, `#`, `=`, `&`, `~` and non-ASCII round-trip
/// through put, get, list and DeleteObjects exactly as the client spelled them.
#[tokio::test]
async fn keys_with_reserved_and_unicode_characters_round_trip() {
    let server = Server::start();
    let client = server.client_with_bucket("odd-keys").await;
    let mut keys = [
        "with space",
        "plus+sign",
        "percent%20literal",
        "question?mark#hash",
        "a=b&c=d~e",
        "unicode-\u{fc}-\u{65e5}\u{672c}",
        "deep/nested/path/file.txt",
        "trailing-slash/",
    ];
    for key in keys {
        put(&client, "odd-keys", key, key.as_bytes()).await;
        assert_eq!(get_bytes(&client, "odd-keys", key).await, key.as_bytes());
    }
    keys.sort_unstable();
    assert_eq!(list_keys(&client, "odd-keys").await, keys);

    let identifiers = keys.map(|key| ObjectIdentifier::builder().key(key).build().unwrap());
    let delete = Delete::builder().set_objects(Some(identifiers.to_vec()));
    let out = client
        .delete_objects()
        .bucket("odd-keys")
        .delete(delete.build().unwrap())
        .send()
        .await
        .unwrap();
    assert!(out.errors().is_empty(), "{:?}", out.errors());
    assert_eq!(out.deleted().len(), keys.len());
    assert!(list_keys(&client, "odd-keys").await.is_empty());
}

/// Proves ListObjects (v1) pages with markers and ListObjectVersions reports the one
/// "null" version of each key in an unversioned bucket.
#[tokio::test]
async fn list_objects_v1_markers_and_list_object_versions() {
    let server = Server::start();
    let client = server.client_with_bucket("list-v1").await;
    let keys = ["k1", "k2", "k3", "k4", "k5"];
    for key in keys {
        put(&client, "list-v1", key, key.as_bytes()).await;
    }

    let mut listed = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..keys.len() {
        let out = client
            .list_objects()
            .bucket("list-v1")
            .max_keys(2)
            .set_marker(marker.take())
            .send()
            .await
            .unwrap();
        listed.extend(out.contents().iter().map(|o| o.key().unwrap().to_owned()));
        if out.is_truncated() != Some(true) {
            break;
        }
        // Without a delimiter S3 need not send NextMarker: the last key is the marker.
        marker = listed.last().cloned();
    }
    assert_eq!(listed, keys);

    let out = client
        .list_object_versions()
        .bucket("list-v1")
        .send()
        .await
        .unwrap();
    let versions: Vec<(&str, Option<&str>, Option<bool>)> = out
        .versions()
        .iter()
        .map(|v| (v.key().unwrap(), v.version_id(), v.is_latest()))
        .collect();
    let expected: Vec<_> = keys
        .iter()
        .map(|&k| (k, Some("null"), Some(true)))
        .collect();
    assert_eq!(versions, expected);
}

/// Proves GetObjectAttributes reports the size, ETag and stored CRC64NVME checksum.
#[tokio::test]
async fn get_object_attributes_reports_size_etag_checksum() {
    let server = Server::start();
    let client = server.client_with_bucket("attrs").await;
    let body = random_bytes(12_345, 5);
    let put_out = client
        .put_object()
        .bucket("attrs")
        .key("k")
        .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    let out = client
        .get_object_attributes()
        .bucket("attrs")
        .key("k")
        .object_attributes(ObjectAttributes::ObjectSize)
        .object_attributes(ObjectAttributes::Etag)
        .object_attributes(ObjectAttributes::Checksum)
        .send()
        .await
        .unwrap();
    assert_eq!(out.object_size(), Some(12_345));
    // S3 sends this ETag without the quotes it puts on the ETag header.
    let md5_hex = hex::encode(Md5::digest(&body));
    assert_eq!(
        out.e_tag().map(|e| e.trim_matches('"')),
        Some(md5_hex.as_str())
    );
    let checksum = out.checksum().expect("Checksum element");
    let expected = expected_checksum(&ChecksumAlgorithm::Crc64Nvme, &body);
    assert_eq!(checksum.checksum_crc64_nvme(), Some(expected.as_str()));
    assert_eq!(put_out.checksum_crc64_nvme(), Some(expected.as_str()));
}
