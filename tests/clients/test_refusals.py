"""Never say yes to what Shoal does not do, and never let a request take the server down:
header values that cannot be echoed, version ids, encryption and object-lock headers,
sub-resources and query parameters Shoal does not implement are refused with S3's code
and status, and change nothing; DeleteObjects demands and checks a body digest;
ListBuckets pages and filters as S3 does."""

from __future__ import annotations

import datetime
import uuid
import xml.etree.ElementTree as ET
from urllib.parse import quote

import pytest
from botocore.config import Config

from s3util import (S3_NS, assert_absent, assert_raw_error, checksum_of, client_error,
                    md5_b64, path_of, raw)

NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"})
BODY = b"the live object"


@pytest.fixture
def s3_once(server):
    """boto3 without retries, so a refused request is seen once and fast."""
    return server.client(NO_RETRY)


@pytest.fixture
def live(s3, bucket):
    """A bucket holding one object `live` with a tag; returns the bucket name."""
    s3.put_object(Bucket=bucket, Key="live", Body=BODY, Tagging="keep=yes")
    return bucket


def assert_live_unchanged(s3, bucket: str) -> None:
    """The object `live` still holds its bytes and its tag."""
    assert s3.get_object(Bucket=bucket, Key="live")["Body"].read() == BODY
    tags = s3.get_object_tagging(Bucket=bucket, Key="live")["TagSet"]
    assert tags == [{"Key": "keep", "Value": "yes"}], tags


# ---- C9: values echoed into response headers -----------------------------------------

OVERRIDES = ["response-content-type", "response-content-language", "response-expires",
             "response-cache-control", "response-content-disposition",
             "response-content-encoding"]


@pytest.mark.parametrize("value", ["text/plain\r\nX-Injected: 1", "a\nb", "a\rb", "a\x00b",
                                   "a\x1bb"], ids=["crlf", "lf", "cr", "nul", "esc"])
def test_response_overrides_with_control_bytes_are_refused(server, s3, s3_once, live, value):
    """A `response-*` override holding CR, LF or another control byte answers 400
    InvalidArgument (it used to abort the whole process), and the server keeps serving."""
    with client_error(400, "InvalidArgument"):
        s3_once.get_object(Bucket=live, Key="live", ResponseContentType=value)
    for override in OVERRIDES:
        response = raw(server, "GET", path_of(live, "live"), f"{override}={quote(value, safe='')}")
        assert_raw_error(response, 400, "InvalidArgument")
        assert "X-Injected" not in response.headers, response.headers
    assert server.process.proc.poll() is None, server.process.describe()
    got = s3.get_object(Bucket=live, Key="live", ResponseContentType="text/plain; charset=utf-8")
    assert got["ContentType"] == "text/plain; charset=utf-8"
    assert got["Body"].read() == BODY


# ---- D15: DeleteObjects needs a digest --------------------------------------------------

def delete_body(*keys: str) -> bytes:
    objects = "".join(f"<Object><Key>{k}</Key></Object>" for k in keys)
    return f"<Delete>{objects}</Delete>".encode()


def test_delete_objects_without_digest_is_refused(server, s3, live):
    """DeleteObjects without Content-MD5 or an x-amz-checksum-* header answers 400
    InvalidRequest, and a digest that does not match answers 400 BadDigest; neither
    deletes anything. With a right digest the key goes."""
    body = delete_body("live")
    response = raw(server, "POST", path_of(live), "delete", body)
    assert_raw_error(response, 400, "InvalidRequest")
    assert "Content-MD5" in response.text, response.text
    wrong = {"Content-MD5": md5_b64(b"another body")}
    assert_raw_error(raw(server, "POST", path_of(live), "delete", body, wrong), 400, "BadDigest")
    wrong = {"x-amz-checksum-crc32": checksum_of("CRC32", b"another body")}
    assert_raw_error(raw(server, "POST", path_of(live), "delete", body, wrong), 400, "BadDigest")
    assert_raw_error(raw(server, "POST", path_of(live), "delete", body,
                         {"Content-MD5": "not base64!"}), 400, "InvalidDigest")
    assert_live_unchanged(s3, live)
    for headers in [{"x-amz-checksum-sha256": checksum_of("SHA256", body)},
                    {"Content-MD5": md5_b64(body)}]:
        s3.put_object(Bucket=live, Key="live", Body=BODY)
        response = raw(server, "POST", path_of(live), "delete", body, headers)
        assert response.status_code == 200, response.text
        assert_absent(s3, live, "live")


# ---- D16: version ids -------------------------------------------------------------------

UNKNOWN_VERSION = "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrH"


def test_version_ids_other_than_null_are_refused(server, s3, s3_once, live):
    """`versionId=null` names the unversioned object; any other id answers 400
    InvalidArgument on every operation that takes one, and the live object is never
    read, copied, retagged or deleted in its place."""
    assert s3.get_object(Bucket=live, Key="live", VersionId="null")["Body"].read() == BODY
    assert s3.head_object(Bucket=live, Key="live", VersionId="null")["ContentLength"] == len(BODY)
    v = UNKNOWN_VERSION
    calls = [
        lambda: s3_once.get_object(Bucket=live, Key="live", VersionId=v),
        lambda: s3_once.delete_object(Bucket=live, Key="live", VersionId=v),
        lambda: s3_once.get_object_tagging(Bucket=live, Key="live", VersionId=v),
        lambda: s3_once.put_object_tagging(Bucket=live, Key="live", VersionId=v,
                                           Tagging={"TagSet": [{"Key": "k", "Value": "v"}]}),
        lambda: s3_once.delete_object_tagging(Bucket=live, Key="live", VersionId=v),
        lambda: s3_once.get_object_attributes(Bucket=live, Key="live", VersionId=v,
                                              ObjectAttributes=["ETag"]),
        lambda: s3_once.copy_object(Bucket=live, Key="copy",
                                    CopySource={"Bucket": live, "Key": "live", "VersionId": v}),
    ]
    for call in calls:
        with client_error(400, "InvalidArgument") as caught:
            call()
        assert caught.value.response["Error"]["Message"] == "Invalid version id specified"
    with client_error(400, "400"):
        s3_once.head_object(Bucket=live, Key="live", VersionId=v)
    assert_raw_error(raw(server, "GET", path_of(live, "live"), "versionId="), 400,
                     "InvalidArgument")
    assert_absent(s3, live, "copy")
    deleted = s3.delete_objects(Bucket=live, Delete={"Objects": [{"Key": "live", "VersionId": v}]})
    assert [e["Code"] for e in deleted.get("Errors", [])] == ["InvalidArgument"], deleted
    assert deleted["Errors"][0]["VersionId"] == v, deleted
    assert_live_unchanged(s3, live)
    versions = s3.list_object_versions(Bucket=live)["Versions"]
    assert [(o["Key"], o["VersionId"], o["IsLatest"]) for o in versions] == [("live", "null", True)]
    s3.delete_object(Bucket=live, Key="live", VersionId="null")
    assert_absent(s3, live, "live")


# ---- D23: ListBuckets ---------------------------------------------------------------------

def test_list_buckets_pages_and_filters(server, s3):
    """ListBuckets honours prefix, max-buckets (1..10000) and continuation-token, and
    echoes Prefix and the next ContinuationToken as S3 does."""
    prefix = f"lb-{uuid.uuid4().hex[:12]}-"
    names = [f"{prefix}{i}" for i in range(3)]
    for name in names:
        s3.create_bucket(Bucket=name)
    try:
        first = s3.list_buckets(Prefix=prefix, MaxBuckets=2)
        assert [b["Name"] for b in first["Buckets"]] == names[:2], first
        assert first["Prefix"] == prefix and first.get("ContinuationToken"), first
        second = s3.list_buckets(Prefix=prefix, MaxBuckets=2,
                                 ContinuationToken=first["ContinuationToken"])
        assert [b["Name"] for b in second["Buckets"]] == names[2:], second
        assert "ContinuationToken" not in second, second
        everything = [b["Name"] for b in s3.list_buckets(Prefix=prefix)["Buckets"]]
        assert everything == names
        for bad in ["0", "10001", "-1", "two"]:
            assert_raw_error(raw(server, "GET", "/", f"max-buckets={bad}"), 400,
                             "InvalidArgument")
    finally:
        for name in names:
            s3.delete_bucket(Bucket=name)


# ---- E24: encryption ------------------------------------------------------------------------

SSE_C = {"x-amz-server-side-encryption-customer-algorithm": "AES256",
         "x-amz-server-side-encryption-customer-key": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
         "x-amz-server-side-encryption-customer-key-MD5": "2c9pU8LoJq7/R6ljShGvDQ=="}


@pytest.mark.parametrize("sse", [{"ServerSideEncryption": "AES256"},
                                 {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "k1"},
                                 {"ServerSideEncryption": "aws:kms", "BucketKeyEnabled": True}],
                         ids=["sse-s3", "sse-kms", "bucket-key"])
def test_encryption_headers_are_not_implemented(server, s3, s3_once, live, sse):
    """Server-side encryption asked for on PUT, CopyObject or CreateMultipartUpload
    answers 501 NotImplemented and stores nothing (it used to store plaintext)."""
    with client_error(501, "NotImplemented"):
        s3_once.put_object(Bucket=live, Key="secret", Body=b"plaintext?", **sse)
    with client_error(501, "NotImplemented"):
        s3_once.copy_object(Bucket=live, Key="secret", CopySource={"Bucket": live, "Key": "live"},
                            **sse)
    with client_error(501, "NotImplemented"):
        s3_once.create_multipart_upload(Bucket=live, Key="secret", **sse)
    assert_absent(s3, live, "secret")
    assert s3.list_multipart_uploads(Bucket=live).get("Uploads", []) == []


def test_customer_keys_are_not_implemented(server, s3, live):
    """SSE-C key headers on PUT, GET, HEAD, UploadPart and a copy source answer 501, so
    an object is never stored unencrypted nor served to a client that sent no key."""
    assert_raw_error(raw(server, "PUT", path_of(live, "secret"), "", b"plaintext?", SSE_C),
                     501, "NotImplemented")
    assert_absent(s3, live, "secret")
    assert_raw_error(raw(server, "GET", path_of(live, "live"), "", b"", SSE_C), 501,
                     "NotImplemented")
    assert raw(server, "HEAD", path_of(live, "live"), "", b"", SSE_C).status_code == 501
    upload = s3.create_multipart_upload(Bucket=live, Key="mpu")["UploadId"]
    try:
        assert_raw_error(raw(server, "PUT", path_of(live, "mpu"),
                             f"partNumber=1&uploadId={upload}", b"part", SSE_C),
                         501, "NotImplemented")
        assert s3.list_parts(Bucket=live, Key="mpu", UploadId=upload).get("Parts", []) == []
    finally:
        s3.abort_multipart_upload(Bucket=live, Key="mpu", UploadId=upload)
    copy_sse_c = {k.replace("x-amz-", "x-amz-copy-source-"): v for k, v in SSE_C.items()}
    copy_sse_c["x-amz-copy-source"] = f"/{live}/live"
    assert_raw_error(raw(server, "PUT", path_of(live, "copy"), "", b"", copy_sse_c), 501,
                     "NotImplemented")
    assert_absent(s3, live, "copy")
    assert_live_unchanged(s3, live)


# ---- E25: object lock -------------------------------------------------------------------

def test_object_lock_is_refused(server, s3, s3_once, live):
    """Object-lock headers on PUT, CopyObject and CreateMultipartUpload answer 400
    InvalidRequest as S3 does for a bucket without object lock; CreateBucket with object
    lock enabled answers 501 and creates nothing."""
    until = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    locks = [{"ObjectLockMode": "GOVERNANCE", "ObjectLockRetainUntilDate": until},
             {"ObjectLockLegalHoldStatus": "ON"}]
    for lock in locks:
        with client_error(400, "InvalidRequest") as caught:
            s3_once.put_object(Bucket=live, Key="locked", Body=b"x", **lock)
        message = caught.value.response["Error"]["Message"]
        assert message == "Bucket is missing Object Lock Configuration", message
        with client_error(400, "InvalidRequest"):
            s3_once.copy_object(Bucket=live, Key="locked",
                                CopySource={"Bucket": live, "Key": "live"}, **lock)
        with client_error(400, "InvalidRequest"):
            s3_once.create_multipart_upload(Bucket=live, Key="locked", **lock)
    assert_absent(s3, live, "locked")
    assert s3.list_multipart_uploads(Bucket=live).get("Uploads", []) == []
    name = f"lock-{uuid.uuid4().hex[:12]}"
    with client_error(501, "NotImplemented"):
        s3_once.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    with client_error(404, "404"):
        s3.head_bucket(Bucket=name)


# ---- storage classes -----------------------------------------------------------------------

def test_storage_classes_other_than_standard_are_refused(s3, s3_once, live):
    """A storage class other than STANDARD answers 501 and stores nothing (never a
    STANDARD object under another name); a class S3 does not define is
    InvalidStorageClass; STANDARD is stored."""
    for kwargs in [{"StorageClass": "GLACIER"}, {"StorageClass": "REDUCED_REDUNDANCY"}]:
        with client_error(501, "NotImplemented"):
            s3_once.put_object(Bucket=live, Key="tiered", Body=b"x", **kwargs)
        with client_error(501, "NotImplemented"):
            s3_once.copy_object(Bucket=live, Key="tiered",
                                CopySource={"Bucket": live, "Key": "live"}, **kwargs)
        with client_error(501, "NotImplemented"):
            s3_once.create_multipart_upload(Bucket=live, Key="tiered", **kwargs)
    assert_absent(s3, live, "tiered")
    assert s3.list_multipart_uploads(Bucket=live).get("Uploads", []) == []
    s3_once.meta.events.register(
        "before-sign.s3.PutObject",
        lambda request, **_: request.headers.__setitem__("x-amz-storage-class", "COLD"))
    with client_error(400, "InvalidStorageClass"):
        s3_once.put_object(Bucket=live, Key="tiered", Body=b"x")
    assert_absent(s3, live, "tiered")
    s3.put_object(Bucket=live, Key="standard", Body=b"x", StorageClass="STANDARD")
    assert s3.get_object(Bucket=live, Key="standard")["Body"].read() == b"x"
    assert_live_unchanged(s3, live)


# ---- E26: sub-resources and query parameters -------------------------------------------------

BUCKET_SUBRESOURCES = ["accelerate", "acl", "analytics", "cors", "encryption", "events",
                       "intelligent-tiering", "inventory", "lifecycle", "logging", "metrics",
                       "notification", "object-lock", "ownershipControls", "policy",
                       "policyStatus", "publicAccessBlock", "replication", "requestPayment",
                       "website", "metadataTable"]
OBJECT_SUBRESOURCES = ["acl", "legal-hold", "retention", "restore", "select", "torrent"]
CONFIG_BODY = b"<Configuration><Anything>enabled</Anything></Configuration>"


def test_unimplemented_subresources_answer_501_and_change_nothing(server, s3, live):
    """Every sub-resource Shoal does not implement answers 501 NotImplemented for every
    method, on the bucket and on an object, and neither changes."""
    for name in BUCKET_SUBRESOURCES:
        for method in ["PUT", "DELETE", "POST"] if name == "acl" else ["GET", "PUT", "DELETE", "POST"]:
            body = CONFIG_BODY if method in ("PUT", "POST") else b""
            response = raw(server, method, path_of(live), name, body)
            assert_raw_error(response, 501, "NotImplemented")
    for name in OBJECT_SUBRESOURCES:
        for method in ["PUT", "DELETE", "POST"] if name == "acl" else ["GET", "PUT", "DELETE", "POST"]:
            body = CONFIG_BODY if method in ("PUT", "POST") else b""
            response = raw(server, method, path_of(live, "live"), name, body)
            assert_raw_error(response, 501, "NotImplemented")
    assert_raw_error(raw(server, "PUT", path_of(live), "versioning",
                         b"<VersioningConfiguration><Status>Enabled</Status>"
                         b"</VersioningConfiguration>"), 501, "NotImplemented")
    assert s3.get_bucket_versioning(Bucket=live).get("Status") is None
    assert_live_unchanged(s3, live)
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=live)["Contents"]] == ["live"]


def test_acls_read_as_the_owner_with_full_control(s3, s3_once, live):
    """GetBucketAcl and GetObjectAcl answer the one ACL Shoal enforces (the owner has
    full control, nobody else has a grant); a missing object or bucket is 404."""
    for acl in [s3.get_bucket_acl(Bucket=live), s3.get_object_acl(Bucket=live, Key="live")]:
        owner = acl["Owner"]["ID"]
        assert [(g["Grantee"]["ID"], g["Permission"]) for g in acl["Grants"]] == [
            (owner, "FULL_CONTROL")]
    with client_error(404, "NoSuchKey"):
        s3_once.get_object_acl(Bucket=live, Key="missing")
    with client_error(404, "NoSuchBucket"):
        s3_once.get_bucket_acl(Bucket=f"missing-{uuid.uuid4().hex[:12]}")


def test_minio_listener_is_not_a_listing(server, live):
    """MinIO's notification listener (`?events=`) answers 501, not a ListObjects page
    (which made minio-py poll hundreds of times a second)."""
    response = raw(server, "GET", path_of(live), "events=s3%3AObjectCreated%3A%2A&prefix=&suffix=")
    assert_raw_error(response, 501, "NotImplemented")


def test_unknown_query_parameters_answer_501(server, live):
    """A query parameter no served operation takes answers 501 naming it; parameters
    real clients add (`x-id`, listing and presigning parameters) keep working."""
    for method, path, query in [("GET", path_of(live), "list-type=2&frobnicate=1"),
                                ("DELETE", path_of(live, "live"), "frobnicate=1"),
                                ("GET", path_of(live, "live"), "list-type=2"),
                                ("GET", "/", "list-type=2")]:
        response = raw(server, method, path, query)
        assert_raw_error(response, 501, "NotImplemented")
    assert "frobnicate" in raw(server, "DELETE", path_of(live, "live"), "frobnicate=1").text
    # S3 ignores a cache buster on an object read, so Shoal answers the same bytes.
    busted = raw(server, "GET", path_of(live, "live"), "download=1")
    assert (busted.status_code, busted.content) == (200, BODY)
    got = raw(server, "GET", path_of(live, "live"), "x-id=GetObject&response-content-language=fr")
    assert (got.status_code, got.content, got.headers["Content-Language"]) == (200, BODY, "fr")
    listed = raw(server, "GET", path_of(live), "list-type=2&x-id=ListObjectsV2&fetch-owner=true")
    assert listed.status_code == 200, listed.text
    keys = [k.text for k in ET.fromstring(listed.content).iter(f"{S3_NS}Key")]
    assert keys == ["live"], listed.text


@pytest.mark.parametrize("args, says", [
    (["http://node{1...4}:9000/data{1...4}"], "cannot tell which node this is"),
    (["https://node1:9000/data1"], "cannot tell which node this is"),
    (["--address", "127.0.0.2:9000", "http://127.0.0.{1...4}:9000/data{1...4}"],
     "a cluster needs SHOAL_ROOT_USER and SHOAL_ROOT_PASSWORD"),
])
def test_cluster_drive_forms_are_refused_not_taken_as_folders(args, says, tmp_path):
    """A cluster list the server cannot serve is refused with a clear message (exit 2:
    which node it is, or what it parsed and what is missing) instead of creating a
    folder named like a URL. (Local folders with ranges are served:
    tests/cluster_layout.rs; clusters: test_cluster.py.)"""
    import os
    import subprocess
    from conftest import shoal_binary
    env = {k: v for k, v in os.environ.items()
           if k not in ("SHOAL_ROOT_USER", "SHOAL_ROOT_PASSWORD")}
    done = subprocess.run([str(shoal_binary()), "server", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=30, env=env)
    assert done.returncode == 2, done
    assert says in done.stderr, done.stderr
    assert not any(tmp_path.iterdir()), "nothing may be created"
