"""boto3 with its default configuration against every implemented bucket and object
operation: bodies of edge sizes byte for byte, metadata and content headers, every
checksum algorithm (as headers over HTTP, as aws-chunked trailers over HTTPS), ranges,
conditional GETs and presigned URLs used with curl."""

from __future__ import annotations

import datetime
import random
import subprocess
import time

import pytest
from botocore.config import Config

from s3util import (checksum_of, client_error, etag_of, md5_b64)

MiB = 1024 * 1024


def body_of(size: int, seed: int = 7) -> bytes:
    """Deterministic bytes covering all 256 values (not text, not zeros)."""
    return random.Random(seed + size).randbytes(size)


def header(response: dict, name: str) -> str | None:
    return response["ResponseMetadata"]["HTTPHeaders"].get(name.lower())


def sent_headers(s3, operation: str) -> list[dict]:
    """Records the headers of every `operation` request the client sends from now on."""
    sent: list[dict] = []

    def capture(request, **_):
        sent.append({k.lower(): (v.decode() if isinstance(v, bytes) else v)
                     for k, v in request.headers.items()})

    s3.meta.events.register(f"before-send.s3.{operation}", capture)
    return sent


# ---- buckets ----------------------------------------------------------------------------

def test_bucket_lifecycle(s3):
    """CreateBucket, HeadBucket, ListBuckets, GetBucketLocation and DeleteBucket agree."""
    name = f"life-{int(time.time() * 1000) % 10**9}-{random.randrange(10**6)}"
    s3.create_bucket(Bucket=name)
    head = s3.head_bucket(Bucket=name)
    assert head["ResponseMetadata"]["HTTPStatusCode"] == 200
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert name in names
    created = next(b for b in s3.list_buckets()["Buckets"] if b["Name"] == name)["CreationDate"]
    assert abs((datetime.datetime.now(datetime.timezone.utc) - created).total_seconds()) < 300
    location = s3.get_bucket_location(Bucket=name)
    # AWS answers an empty LocationConstraint for us-east-1.
    assert location.get("LocationConstraint") in (None, ""), location
    s3.delete_bucket(Bucket=name)
    with client_error(404, "404"):
        s3.head_bucket(Bucket=name)
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


# ---- bodies -----------------------------------------------------------------------------

@pytest.mark.parametrize("size", [0, 1, MiB - 1, MiB, MiB + 1, 17 * MiB],
                         ids=["0", "1", "1MiB-1", "1MiB", "1MiB+1", "17MiB"])
def test_put_get_exact_bytes(s3, bucket, size):
    """A single PutObject of this size reads back byte for byte with the right ETag and length."""
    data = body_of(size)
    put = s3.put_object(Bucket=bucket, Key=f"obj-{size}", Body=data)
    assert put["ETag"] == etag_of(data)
    got = s3.get_object(Bucket=bucket, Key=f"obj-{size}")
    read = got["Body"].read()
    assert got["ContentLength"] == size
    assert len(read) == size and read == data, f"body differs (got {len(read)} bytes)"
    assert got["ETag"] == etag_of(data)
    head = s3.head_object(Bucket=bucket, Key=f"obj-{size}")
    assert head["ContentLength"] == size and head["ETag"] == etag_of(data)


def test_overwrite_replaces_and_delete_removes(s3, bucket):
    """A second PUT replaces the object; DeleteObject removes it and is idempotent."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"first")
    s3.put_object(Bucket=bucket, Key="k", Body=b"second, longer")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"second, longer"
    assert s3.delete_object(Bucket=bucket, Key="k")["ResponseMetadata"]["HTTPStatusCode"] == 204
    with client_error(404, "NoSuchKey"):
        s3.get_object(Bucket=bucket, Key="k")
    assert s3.delete_object(Bucket=bucket, Key="k")["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_put_with_correct_content_md5(s3, bucket):
    """A PUT carrying the right Content-MD5 is accepted."""
    data = body_of(1000)
    s3.put_object(Bucket=bucket, Key="md5", Body=data, ContentMD5=md5_b64(data))
    assert s3.get_object(Bucket=bucket, Key="md5")["Body"].read() == data


# ---- metadata ---------------------------------------------------------------------------

def test_metadata_and_content_headers_round_trip(s3, bucket):
    """User metadata and the six stored content headers come back on HEAD and GET."""
    expires = datetime.datetime(2031, 5, 17, 8, 30, 0, tzinfo=datetime.timezone.utc)
    s3.put_object(
        Bucket=bucket, Key="meta", Body=b"\x1f\x8b not really gzip",
        Metadata={"color": "blue", "Mixed-Case": "Value With Spaces", "empty": ""},
        ContentType="application/x-shoal-test",
        CacheControl="max-age=60, private",
        ContentDisposition='attachment; filename="report.bin"',
        ContentEncoding="gzip",
        ContentLanguage="de-CH",
        Expires=expires,
    )
    for response in (s3.head_object(Bucket=bucket, Key="meta"),
                     s3.get_object(Bucket=bucket, Key="meta")):
        # S3 lowercases user metadata names.
        assert response["Metadata"] == {"color": "blue", "mixed-case": "Value With Spaces",
                                        "empty": ""}, response["Metadata"]
        assert response["ContentType"] == "application/x-shoal-test"
        assert response["CacheControl"] == "max-age=60, private"
        assert response["ContentDisposition"] == 'attachment; filename="report.bin"'
        # Over HTTPS boto3 sent "gzip,aws-chunked": only the user's encoding is stored.
        assert response["ContentEncoding"] == "gzip"
        assert response["ContentLanguage"] == "de-CH"
        assert header(response, "expires") == "Sat, 17 May 2031 08:30:00 GMT"


def test_default_content_type(s3, bucket):
    """An object put without Content-Type is served as binary/octet-stream (AWS default)."""
    s3.put_object(Bucket=bucket, Key="untyped", Body=b"x")
    assert s3.head_object(Bucket=bucket, Key="untyped")["ContentType"] in (
        "binary/octet-stream", "application/octet-stream")


def test_response_overrides(s3, bucket):
    """response-* query parameters replace the stored headers in a GET's response."""
    s3.put_object(Bucket=bucket, Key="ov", Body=b"override me", ContentType="text/plain")
    got = s3.get_object(
        Bucket=bucket, Key="ov",
        ResponseContentType="application/json",
        ResponseContentLanguage="fr",
        ResponseExpires=datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
        ResponseCacheControl="no-cache",
        ResponseContentDisposition="inline",
        ResponseContentEncoding="identity",
    )
    assert got["Body"].read() == b"override me"
    assert got["ContentType"] == "application/json"
    assert got["ContentLanguage"] == "fr"
    assert got["CacheControl"] == "no-cache"
    assert got["ContentDisposition"] == "inline"
    assert got["ContentEncoding"] == "identity"
    assert header(got, "expires") == "Wed, 02 Jan 2030 03:04:05 GMT"
    assert s3.head_object(Bucket=bucket, Key="ov")["ContentType"] == "text/plain"


# ---- checksums --------------------------------------------------------------------------

ALGORITHMS = ["CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_checksum_round_trip(server, s3, bucket, algorithm):
    """PutObject with ChecksumAlgorithm stores the checksum and GET/HEAD with
    ChecksumMode=ENABLED return it; over HTTPS it travelled as an aws-chunked trailer."""
    sent = sent_headers(s3, "PutObject")
    data = body_of(300_000, seed=len(algorithm))
    s3.put_object(Bucket=bucket, Key="sum", Body=data, ChecksumAlgorithm=algorithm)
    field = f"Checksum{algorithm}"
    expected = checksum_of(algorithm, data)
    request = sent[-1]
    name = f"x-amz-checksum-{algorithm.lower()}"
    if server.https:
        # The streaming path: body framed as aws-chunked, checksum in the trailer.
        assert "aws-chunked" in request.get("content-encoding", ""), request
        assert request.get("x-amz-trailer") == name, request
        assert request.get("x-amz-content-sha256") == "STREAMING-UNSIGNED-PAYLOAD-TRAILER", request
    else:
        assert request.get(name) == expected, request
    got = s3.get_object(Bucket=bucket, Key="sum", ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    assert got.get(field) == expected, got["ResponseMetadata"]["HTTPHeaders"]
    head = s3.head_object(Bucket=bucket, Key="sum", ChecksumMode="ENABLED")
    assert head.get(field) == expected, head["ResponseMetadata"]["HTTPHeaders"]


def test_default_put_sends_a_checksum_that_is_stored(server, s3, bucket):
    """boto3's default PUT (CRC32 since botocore 1.36) is accepted and its CRC32 is kept."""
    sent = sent_headers(s3, "PutObject")
    data = body_of(5000)
    s3.put_object(Bucket=bucket, Key="default", Body=data)
    if server.https:
        assert sent[-1].get("x-amz-trailer") == "x-amz-checksum-crc32", sent[-1]
    got = s3.get_object(Bucket=bucket, Key="default", ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    assert got.get("ChecksumCRC32") == checksum_of("CRC32", data)


def test_get_object_attributes(s3, bucket):
    """GetObjectAttributes reports ETag, size, storage class and the stored checksum."""
    data = body_of(4321)
    s3.put_object(Bucket=bucket, Key="attrs", Body=data, ChecksumAlgorithm="SHA256")
    attrs = s3.get_object_attributes(
        Bucket=bucket, Key="attrs",
        ObjectAttributes=["ETag", "ObjectSize", "StorageClass", "Checksum"])
    assert attrs["ObjectSize"] == 4321
    # AWS sends this ETag without quotes; accept either spelling, compare the hash.
    assert attrs["ETag"].strip('"') == etag_of(data).strip('"')
    assert attrs["StorageClass"] == "STANDARD"
    assert attrs["Checksum"]["ChecksumSHA256"] == checksum_of("SHA256", data)
    assert "LastModified" in attrs


# ---- ranges -----------------------------------------------------------------------------

RANGE_BODY = body_of(1000, seed=99)


@pytest.mark.parametrize("spec,start,end", [
    ("bytes=0-0", 0, 0),            # first byte
    ("bytes=10-19", 10, 19),
    ("bytes=-100", 900, 999),       # suffix
    ("bytes=990-", 990, 999),       # open-ended
    ("bytes=500-5000", 500, 999),   # beyond the end: clamped
    ("bytes=-5000", 0, 999),        # suffix longer than the object: whole object
    ("bytes=999-999", 999, 999),    # last byte
])
def test_range_get(s3, bucket, spec, start, end):
    """A satisfiable Range answers 206 with exactly those bytes and a Content-Range."""
    s3.put_object(Bucket=bucket, Key="r", Body=RANGE_BODY)
    got = s3.get_object(Bucket=bucket, Key="r", Range=spec)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["Body"].read() == RANGE_BODY[start:end + 1]
    assert got["ContentRange"] == f"bytes {start}-{end}/1000"
    assert got["ContentLength"] == end - start + 1


@pytest.mark.parametrize("spec", ["bytes=1000-", "bytes=1000-2000", "bytes=5000-6000"])
def test_range_unsatisfiable(s3, bucket, spec):
    """A Range that starts at or past the end answers 416 InvalidRange."""
    s3.put_object(Bucket=bucket, Key="r", Body=RANGE_BODY)
    with client_error(416, "InvalidRange"):
        s3.get_object(Bucket=bucket, Key="r", Range=spec)


def test_range_on_empty_object(s3, bucket):
    """Any byte range of an empty object is unsatisfiable (416), as on AWS."""
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    with client_error(416, "InvalidRange"):
        s3.get_object(Bucket=bucket, Key="empty", Range="bytes=0-0")


# ---- conditional GETs -------------------------------------------------------------------

def test_conditional_get(s3, bucket):
    """If-Match / If-None-Match / If-Modified-Since / If-Unmodified-Since give 200, 304
    or 412 exactly as S3 does."""
    s3.put_object(Bucket=bucket, Key="c", Body=b"conditional")
    head = s3.head_object(Bucket=bucket, Key="c")
    etag, modified = head["ETag"], head["LastModified"]
    past = modified - datetime.timedelta(days=1)
    future = modified + datetime.timedelta(days=1)

    def ok(**conditions):
        got = s3.get_object(Bucket=bucket, Key="c", **conditions)
        assert got["Body"].read() == b"conditional", conditions

    ok(IfMatch=etag)
    ok(IfNoneMatch='"0123456789abcdef0123456789abcdef"')
    ok(IfModifiedSince=past)
    ok(IfUnmodifiedSince=future)
    ok(IfMatch="*")
    with client_error(412, "PreconditionFailed"):
        s3.get_object(Bucket=bucket, Key="c", IfMatch='"0123456789abcdef0123456789abcdef"')
    with client_error(412, "PreconditionFailed"):
        s3.get_object(Bucket=bucket, Key="c", IfUnmodifiedSince=past)
    with client_error(304, "304"):
        s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    with client_error(304, "304"):
        s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=future)
    # RFC 7232 precedence, as S3 documents it: If-Match true + If-Unmodified-Since false
    # → 200; If-None-Match false + If-Modified-Since true → 304.
    ok(IfMatch=etag, IfUnmodifiedSince=past)
    with client_error(304, "304"):
        s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag, IfModifiedSince=past)
    # HEAD honours the same headers.
    with client_error(412, "412"):
        s3.head_object(Bucket=bucket, Key="c", IfMatch='"ffffffffffffffffffffffffffffffff"')
    with client_error(304, "304"):
        s3.head_object(Bucket=bucket, Key="c", IfNoneMatch=etag)


# ---- DeleteObjects, versions ------------------------------------------------------------

def test_delete_objects(s3, bucket):
    """DeleteObjects removes the listed keys, reports missing ones as deleted, and Quiet
    mode reports nothing."""
    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"del/{i}", Body=b"x")
    done = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "del/0"}, {"Key": "del/1"}, {"Key": "del/never-existed"}]})
    assert sorted(d["Key"] for d in done.get("Deleted", [])) == [
        "del/0", "del/1", "del/never-existed"], done
    assert not done.get("Errors"), done
    quiet = s3.delete_objects(Bucket=bucket, Delete={"Quiet": True, "Objects": [
        {"Key": "del/2"}, {"Key": "del/3"}]})
    assert not quiet.get("Deleted") and not quiet.get("Errors"), quiet
    left = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert left == ["del/4"]


def test_list_object_versions(s3, bucket):
    """ListObjectVersions lists each object once with VersionId "null" and IsLatest."""
    s3.put_object(Bucket=bucket, Key="v/a", Body=b"a")
    s3.put_object(Bucket=bucket, Key="v/b", Body=b"bb")
    versions = s3.list_object_versions(Bucket=bucket)
    got = [(v["Key"], v["VersionId"], v["IsLatest"], v["Size"]) for v in versions["Versions"]]
    assert got == [("v/a", "null", True, 1), ("v/b", "null", True, 2)], versions
    assert not versions.get("DeleteMarkers")


# ---- presigned URLs with curl -----------------------------------------------------------

def curl(server, *args: str) -> tuple[int, bytes]:
    """Runs curl; returns (HTTP status, body)."""
    result = subprocess.run(
        ["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", *server.curl_tls_args(), *args],
        capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr.decode()
    body, _, status = result.stdout.rpartition(b"\n")
    return int(status), body


@pytest.fixture
def presigner(server):
    """A client that presigns with SigV4 (boto3's default presign is SigV2)."""
    return server.client(Config(signature_version="s3v4"))


def test_presigned_get_and_put_with_curl(server, s3, presigner, bucket, tmp_path):
    """A SigV4 presigned PUT uploads with curl and a presigned GET downloads the same bytes."""
    data = body_of(70_000)
    upload = tmp_path / "up.bin"
    upload.write_bytes(data)
    put_url = presigner.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "pre/signed"}, ExpiresIn=300)
    assert "X-Amz-Signature=" in put_url
    status, body = curl(server, "-T", str(upload), put_url)
    assert status == 200, body
    get_url = presigner.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "pre/signed"}, ExpiresIn=300)
    status, body = curl(server, get_url)
    assert status == 200 and body == data, (status, body[:300])
    assert s3.get_object(Bucket=bucket, Key="pre/signed")["Body"].read() == data


def test_presigned_get_with_response_override(server, s3, presigner, bucket):
    """response-* parameters inside a presigned GET are honoured by the server."""
    s3.put_object(Bucket=bucket, Key="pre/ov", Body=b"hello")
    url = presigner.generate_presigned_url(
        "get_object", ExpiresIn=300,
        Params={"Bucket": bucket, "Key": "pre/ov", "ResponseContentType": "text/x-test"})
    result = subprocess.run(["curl", "-sS", "-D", "-", *server.curl_tls_args(), url],
                            capture_output=True, timeout=30)
    assert b"content-type: text/x-test" in result.stdout.lower(), result.stdout
