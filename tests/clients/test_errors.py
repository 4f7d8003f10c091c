"""Error answers, each with its exact S3 code and HTTP status. boto3 sends what it can;
what it refuses to send (wrong clock, lying payload hash, garbage XML, a 6 GiB
Content-Length) goes out by hand, signed with botocore's own SigV4 signer. After every
refused PUT the key must not exist."""

from __future__ import annotations

import datetime
import hashlib
import time

import pytest
import requests
from botocore.config import Config

from s3util import (assert_absent, assert_raw_error, client_error, error_code, md5_b64,
                    open_socket, parse_raw_response, path_of, raw, raw_socket_exchange,
                    read_until_complete, signed_headers)

NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"})


@pytest.fixture
def s3_once(server):
    """boto3 without retries, so a refused request is seen once and fast."""
    return server.client(NO_RETRY)


def test_no_such_bucket(server, s3):
    """Object and bucket operations on a missing bucket answer 404 NoSuchBucket."""
    with client_error(404, "NoSuchBucket"):
        s3.get_object(Bucket="no-such-bucket-here", Key="k")
    with client_error(404, "NoSuchBucket"):
        s3.put_object(Bucket="no-such-bucket-here", Key="k", Body=b"x")
    with client_error(404, "NoSuchBucket"):
        s3.list_objects_v2(Bucket="no-such-bucket-here")
    with client_error(404, "NoSuchBucket"):
        s3.delete_bucket(Bucket="no-such-bucket-here")
    with client_error(404, "404"):
        s3.head_bucket(Bucket="no-such-bucket-here")


def test_no_such_key(s3, bucket):
    """GET of a missing key answers 404 NoSuchKey; HEAD answers a bare 404."""
    with client_error(404, "NoSuchKey"):
        s3.get_object(Bucket=bucket, Key="missing")
    with client_error(404, "404"):
        s3.head_object(Bucket=bucket, Key="missing")
    with client_error(404, "NoSuchKey"):
        s3.get_object_attributes(Bucket=bucket, Key="missing", ObjectAttributes=["ETag"])


def test_bucket_not_empty(s3, bucket):
    """DeleteBucket on a bucket with an object answers 409 BucketNotEmpty and keeps it."""
    s3.put_object(Bucket=bucket, Key="keep", Body=b"x")
    with client_error(409, "BucketNotEmpty"):
        s3.delete_bucket(Bucket=bucket)
    assert s3.get_object(Bucket=bucket, Key="keep")["Body"].read() == b"x"


def test_bucket_already_owned_by_you(s3, bucket):
    """Creating a bucket that exists and is ours answers 409 BucketAlreadyOwnedByYou."""
    with client_error(409, "BucketAlreadyOwnedByYou"):
        s3.create_bucket(Bucket=bucket)


@pytest.mark.parametrize("name", ["ab", "a" * 64, "UpperCase", "under_score", "-leading",
                                  "trailing-", "192.168.1.1", "double..dot", "xn--punycode"])
def test_invalid_bucket_name(s3, name):
    """A bucket name breaking S3's naming rules answers 400 InvalidBucketName."""
    with client_error(400, "InvalidBucketName"):
        s3.create_bucket(Bucket=name)


def test_invalid_range(s3, bucket):
    """A Range past the end answers 416 InvalidRange."""
    s3.put_object(Bucket=bucket, Key="small", Body=b"0123456789")
    with client_error(416, "InvalidRange"):
        s3.get_object(Bucket=bucket, Key="small", Range="bytes=10-20")


def put_refused(server, s3_once, bucket: str, key: str, status: int, code: str) -> None:
    """PUTs `key` with boto3 (which sends Expect: 100-continue) and expects the S3 error,
    over every transport (test_refused_put_answers_without_100_continue pins why)."""
    with client_error(status, code):
        s3_once.put_object(Bucket=bucket, Key=key, Body=b"no")


def test_key_too_long(server, s3, s3_once, bucket):
    """A 1025-byte key answers 400 KeyTooLongError; a 1024-byte key is fine."""
    longest = "k" * 1024
    s3.put_object(Bucket=bucket, Key=longest, Body=b"ok")
    assert s3.get_object(Bucket=bucket, Key=longest)["Body"].read() == b"ok"
    too_long = "k" * 1025
    put_refused(server, s3_once, bucket, too_long, 400, "KeyTooLongError")
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == [longest]


def test_nul_key_is_refused(server, s3, s3_once, bucket):
    """The one key S3 allows that Shoal refuses by design, a key with NUL (DESIGN.md §5),
    answers 400 InvalidArgument and stores nothing; path-like keys are stored
    (test_keys.py)."""
    put_refused(server, s3_once, bucket, "nul\x00key", 400, "InvalidArgument")
    listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    assert listed == [], listed


@pytest.mark.parametrize("target,status,code", [
    ("key-too-long", 400, "KeyTooLongError"),
    ("nul-key", 400, "InvalidArgument"),
    ("no-such-bucket", 404, "NoSuchBucket"),
])
def test_refused_put_answers_without_100_continue(server, bucket, target, status, code):
    """A PUT with Expect: 100-continue that can be refused from its head gets the final
    error at once, not a 100 Continue inviting a body the server will not read."""
    path = {"key-too-long": path_of(bucket, "k" * 1025),
            "nul-key": path_of(bucket, "nul\x00key"),
            "no-such-bucket": "/no-such-bucket-here/key"}[target]
    _, headers = signed_headers(server, "PUT", path, payload_hash="UNSIGNED-PAYLOAD",
                                headers={"Content-Length": "100000", "Expect": "100-continue"})
    host = server.endpoint.split("://", 1)[1]
    lines = [f"PUT {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() != "host"]
    sock = open_socket(server)
    try:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        answer = read_until_complete(sock)  # no body sent: only a final answer completes
    finally:
        sock.close()
    assert answer.split(b"\r\n", 1)[0] != b"HTTP/1.1 100 Continue", answer[:400]
    got_status, _, body = parse_raw_response(answer)
    assert (got_status, _code(body)) == (status, code), answer[:500]


def test_signature_does_not_match(server, bucket):
    """A request signed with the wrong secret answers 403 SignatureDoesNotMatch and
    stores nothing."""
    wrong = server.client(NO_RETRY, secret_key="not-the-right-secret")
    with client_error(403, "SignatureDoesNotMatch"):
        wrong.put_object(Bucket=bucket, Key="forged", Body=b"x")
    with client_error(403, "SignatureDoesNotMatch"):
        wrong.list_objects_v2(Bucket=bucket)
    assert_absent(server.client(), bucket, "forged")


def test_invalid_access_key_id(server, bucket):
    """A request from an unknown access key answers 403 InvalidAccessKeyId."""
    stranger = server.client(NO_RETRY, access_key="NOBODYKNOWSME", secret_key="whatever-secret")
    with client_error(403, "InvalidAccessKeyId"):
        stranger.put_object(Bucket=bucket, Key="stranger", Body=b"x")
    assert_absent(server.client(), bucket, "stranger")


@pytest.mark.parametrize("minutes", [20, -20])
def test_request_time_too_skewed(server, s3, bucket, minutes):
    """A correctly signed request dated 20 minutes off answers 403 RequestTimeTooSkewed
    (botocore would silently correct its clock and retry, so this goes out by hand)."""
    response = raw(server, "PUT", path_of(bucket, "skewed"), body=b"late",
                   skew=datetime.timedelta(minutes=minutes))
    assert_raw_error(response, 403, "RequestTimeTooSkewed")
    assert_absent(s3, bucket, "skewed")


def test_hand_signed_request_is_accepted(server, s3, bucket):
    """Control for the hand-built cases: the same signer with honest inputs succeeds."""
    data = b"signed by hand"
    response = raw(server, "PUT", path_of(bucket, "by/hand"), body=data,
                   headers={"Content-MD5": md5_b64(data)})
    assert response.status_code == 200, response.content
    assert s3.get_object(Bucket=bucket, Key="by/hand")["Body"].read() == data


def test_expired_presigned_url(server, s3, bucket):
    """A presigned GET or PUT used after its expiry answers 403 AccessDenied."""
    s3.put_object(Bucket=bucket, Key="soon-gone", Body=b"x")
    presigner = server.client(Config(signature_version="s3v4"))
    get_url = presigner.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "soon-gone"}, ExpiresIn=1)
    put_url = presigner.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "too-late"}, ExpiresIn=1)
    time.sleep(2.2)
    assert_raw_error(requests.get(get_url, verify=server.verify, timeout=10), 403, "AccessDenied")
    assert_raw_error(requests.put(put_url, data=b"x", verify=server.verify, timeout=10),
                     403, "AccessDenied")
    assert_absent(s3, bucket, "too-late")


def test_bad_digest(s3_once, s3, bucket):
    """A Content-MD5 of other bytes answers 400 BadDigest and stores nothing."""
    with client_error(400, "BadDigest"):
        s3_once.put_object(Bucket=bucket, Key="bad-md5", Body=b"the real body",
                           ContentMD5=md5_b64(b"some other body"))
    assert_absent(s3, bucket, "bad-md5")


def test_invalid_digest(server, s3, bucket):
    """A Content-MD5 that is not base64 of 16 bytes answers 400 InvalidDigest."""
    response = raw(server, "PUT", path_of(bucket, "bad-md5-form"), body=b"body",
                   headers={"Content-MD5": "not-an-md5"})
    assert_raw_error(response, 400, "InvalidDigest")
    assert_absent(s3, bucket, "bad-md5-form")


def test_content_sha256_mismatch(server, s3, bucket):
    """An x-amz-content-sha256 of other bytes (correctly signed) answers 400
    XAmzContentSHA256Mismatch and stores nothing."""
    response = raw(server, "PUT", path_of(bucket, "lying-hash"), body=b"what is sent",
                   payload_hash=hashlib.sha256(b"what was promised").hexdigest())
    assert_raw_error(response, 400, "XAmzContentSHA256Mismatch")
    assert_absent(s3, bucket, "lying-hash")


def test_wrong_checksum_header(s3_once, s3, bucket):
    """An x-amz-checksum-crc32 of other bytes answers 400 BadDigest and stores nothing."""
    with client_error(400, "BadDigest"):
        s3_once.put_object(Bucket=bucket, Key="bad-crc", Body=b"payload",
                           ChecksumCRC32="AAAAAA==")
    assert_absent(s3, bucket, "bad-crc")


def test_malformed_xml(server, s3, bucket):
    """DeleteObjects with a garbage body answers 400 MalformedXML and deletes nothing."""
    s3.put_object(Bucket=bucket, Key="survivor", Body=b"x")
    body = b"<Delete><Object><Key>survivor</Key></Object>"  # truncated
    for garbage in (body, b"this is not xml at all", b""):
        response = raw(server, "POST", f"/{bucket}", "delete=", body=garbage,
                       headers={"Content-MD5": md5_b64(garbage)})
        assert_raw_error(response, 400, "MalformedXML")
    assert s3.get_object(Bucket=bucket, Key="survivor")["Body"].read() == b"x"


def test_entity_too_large_refused_before_body(server, s3, bucket):
    """A PUT declaring Content-Length 6 GiB is answered 400 EntityTooLarge at once,
    without the server waiting for the body, and nothing is stored."""
    path = path_of(bucket, "huge")
    size = 6 * 1024 ** 3
    _, headers = signed_headers(server, "PUT", path,
                                headers={"Content-Length": str(size)},
                                payload_hash="UNSIGNED-PAYLOAD")
    host = server.endpoint.split("://", 1)[1]
    lines = [f"PUT {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() != "host"]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    started = time.monotonic()
    answer = raw_socket_exchange(server, head, body_prefix=b"\0" * 65536, timeout_s=10)
    elapsed = time.monotonic() - started
    assert answer, f"no answer in {elapsed:.1f}s to a 6 GiB Content-Length (server waits for the body)"
    status, response_headers, body = parse_raw_response(answer)
    assert (status, _code(body)) == (400, "EntityTooLarge"), (status, response_headers, body)
    assert elapsed < 5, f"answer took {elapsed:.1f}s"
    assert_absent(s3, bucket, "huge")


def _code(body: bytes) -> str | None:
    class _R:
        content = body
    return error_code(_R)


def test_not_implemented(s3_once, bucket):
    """Operations Shoal does not implement answer 501 NotImplemented, not a wrong success."""
    with client_error(501, "NotImplemented"):
        s3_once.put_bucket_versioning(Bucket=bucket,
                                      VersioningConfiguration={"Status": "Enabled"})
    with client_error(501, "NotImplemented"):
        s3_once.get_bucket_policy(Bucket=bucket)
    with client_error(501, "NotImplemented"):
        s3_once.get_bucket_lifecycle_configuration(Bucket=bucket)


def test_error_body_names_the_request(server, bucket):
    """An error body carries Code, Message, Resource and the same RequestId as the header."""
    response = raw(server, "GET", path_of(bucket, "absent/key"))
    assert_raw_error(response, 404, "NoSuchKey")
    text = response.text
    assert "<Message>" in text and f"/{bucket}/absent/key" in text, text
    assert response.headers["x-amz-request-id"] in text, (response.headers, text)
    assert response.headers.get("content-type", "").startswith("application/xml"), response.headers
