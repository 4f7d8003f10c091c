"""One version per request, as real clients meet it (issue 10, A2, A3, A4, A6): a GET's
headers, preconditions and bytes are of one version even while the key is overwritten;
a GET that has started streams its version to the end through an overwrite or delete;
an object that cannot be read is an error before any byte, and a failure after the
head is an error the client sees, never a short body taken as whole; DeleteBucket and
streaming PUTs into the bucket exclude each other on a 2-shard server.

Expected bytes and ETags are computed here from what was sent. The heavy tests run in
one transport mode only."""

from __future__ import annotations

import hashlib
import random
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError, IncompleteReadError, ResponseStreamingError
from urllib3.exceptions import ProtocolError

from conftest import DRIVES
from s3util import (assert_raw_error, client_error, error_code, open_socket, parse_raw_response,
                    path_of, raw, read_until_complete, signed_headers)

MIB = 1 << 20
PART_MIN_BYTES = 5 * MIB
NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"})


def data(size_bytes: int, seed: int) -> bytes:
    return random.Random(seed * 7919 + size_bytes).randbytes(size_bytes)


def md5_hex(body: bytes) -> str:
    return hashlib.md5(body).hexdigest()


def only_in_mode(server, mode: str) -> None:
    """Heavy tests run against one transport only; the others skip with the reason."""
    if server.mode != mode:
        pytest.skip(f"heavy test: runs in {mode} mode only")


def drive_folders(server) -> list[Path]:
    """The server's drive folders: the last arguments of its command line (start_server)."""
    return [Path(arg) for arg in server.process.proc.args[-DRIVES:]]


def part_files(server, bucket: str, key: str) -> list[Path]:
    """The data file of a plain object on each drive; asserts each drive holds one, so
    the test notices if the on-drive layout it relies on changes."""
    found = []
    for drive in drive_folders(server):
        files = sorted((drive / bucket / key).glob("_d*/part.1"))
        assert len(files) == 1, f"{drive}: {files}"
        found += files
    return found


# ---- A3: preconditions judged against the version served --------------------------------

def test_get_preconditions_judged_on_the_version_served(server, s3, bucket):
    """While a key flips between two versions, every GET with If-Match / If-None-Match
    that is answered 200 carries the headers and the bytes of one version, the one its
    condition was judged on: If-Match A never serves B, If-None-Match A never serves A."""
    only_in_mode(server, "http")
    version_a, version_b = data(300_000, 1), data(200_000, 2)
    etag_a = md5_hex(version_a)
    s3.put_object(Bucket=bucket, Key="flip", Body=version_a)
    stop = threading.Event()

    def flip():
        writer = server.client()
        while not stop.is_set():
            for body in (version_b, version_a):
                writer.put_object(Bucket=bucket, Key="flip", Body=body)

    flipper = threading.Thread(target=flip)
    flipper.start()
    served = {"if-match": 0, "if-none-match": 0}
    wrong = []
    try:
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            for header, expected in (("if-match", version_a), ("if-none-match", version_b)):
                got = raw(server, "GET", path_of(bucket, "flip"), headers={header: f'"{etag_a}"'})
                if got.status_code != 200:
                    assert got.status_code in (304, 412), (got.status_code, got.content[:300])
                    continue
                served[header] += 1
                header_etag = got.headers["ETag"].strip('"')
                if header_etag != md5_hex(expected) or got.content != expected:
                    wrong.append((header, header_etag, md5_hex(got.content)))
    finally:
        stop.set()
        flipper.join(30)
    assert not wrong, f"{len(wrong)} GETs served another version than judged: {wrong[:5]}"
    assert served["if-match"] > 0 and served["if-none-match"] > 0, served


# ---- A4: a started GET streams its version to the end ------------------------------------

@pytest.mark.parametrize("replace", ["overwrite", "delete"])
def test_started_get_streams_its_version_through(server, s3, bucket, replace):
    """A slow GET of a 6-part object, overwritten (or deleted) after its first bytes,
    returns the complete old bytes exactly; later GETs see the new state."""
    only_in_mode(server, "http")
    parts = [data(PART_MIN_BYTES, 40 + n) for n in range(6)]
    whole = b"".join(parts)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]
    done = []
    for number, body in enumerate(parts, start=1):
        etag = s3.upload_part(Bucket=bucket, Key="big", UploadId=upload_id,
                              PartNumber=number, Body=body)["ETag"]
        done.append({"PartNumber": number, "ETag": etag})
    s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=upload_id,
                                 MultipartUpload={"Parts": done})
    stream = s3.get_object(Bucket=bucket, Key="big")["Body"]
    received = [stream.read(64 << 10)]
    if replace == "overwrite":
        s3.put_object(Bucket=bucket, Key="big", Body=b"new")
    else:
        s3.delete_object(Bucket=bucket, Key="big")
    while chunk := stream.read(256 << 10):
        received.append(chunk)
        time.sleep(0.001)  # a slow reader: the server is still sending later parts
    got = b"".join(received)
    assert len(got) == len(whole) and md5_hex(got) == md5_hex(whole)
    if replace == "overwrite":
        assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == b"new"
    else:
        with client_error(404, "NoSuchKey"):
            s3.get_object(Bucket=bucket, Key="big")


# ---- A6: unreadable is an error, never 200 and a short body ------------------------------

def test_unreadable_object_is_503_before_any_byte(server, s3, bucket):
    """Chunk files gone from 3 of 4 drives (beyond the 2 parity): GET answers 503
    ServiceUnavailable instead of a status line and a short body, to boto3, requests and
    curl alike; HEAD still describes the object (its metadata is intact)."""
    body = data(3 * MIB + 5, 61)
    s3.put_object(Bucket=bucket, Key="gone", Body=body)
    for path in part_files(server, bucket, "gone")[:3]:
        path.unlink()
    with client_error(503, "ServiceUnavailable"):
        server.client(NO_RETRY).get_object(Bucket=bucket, Key="gone")
    assert_raw_error(raw(server, "GET", path_of(bucket, "gone")), 503, "ServiceUnavailable")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "gone"})
    curl = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                           *server.curl_tls_args(), url],
                          capture_output=True, text=True, timeout=60)
    assert curl.stdout == "503", (curl.returncode, curl.stdout, curl.stderr)
    assert s3.head_object(Bucket=bucket, Key="gone")["ContentLength"] == len(body)


def test_later_stripe_unreadable_aborts_the_body(server, s3, bucket):
    """A stripe after the first corrupt beyond parity: the head is already out, so the
    connection is cut short of its Content-Length and boto3, requests and curl each
    report an error; none takes the short body as the object."""
    body = data(3 * MIB + 5, 62)
    s3.put_object(Bucket=bucket, Key="late", Body=body)
    record_bytes = 8 + (1 * MIB) // 2  # CRC-64 + chunk: 1 MiB stripes over 2 data chunks
    for path in part_files(server, bucket, "late"):
        with open(path, "r+b") as f:
            f.seek(2 * record_bytes + 8 + 1000)  # inside stripe 2's chunk
            byte = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([byte[0] ^ 0xFF]))
    response = server.client(NO_RETRY).get_object(Bucket=bucket, Key="late")
    assert response["ContentLength"] == len(body)
    with pytest.raises((IncompleteReadError, ResponseStreamingError, ProtocolError)):
        response["Body"].read()
    url, headers = signed_headers(server, "GET", path_of(bucket, "late"))
    with server.session().get(url, headers=headers, stream=True, timeout=30) as got:
        assert got.status_code == 200
        with pytest.raises((requests.exceptions.ChunkedEncodingError,
                            requests.exceptions.ConnectionError)):
            _ = got.content
    presigned = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "late"})
    curl = subprocess.run(["curl", "-sS", "-o", "/dev/null", *server.curl_tls_args(), presigned],
                          capture_output=True, text=True, timeout=60)
    assert curl.returncode != 0, "curl took the short body as complete"


# ---- A2: DeleteBucket and streaming PUTs exclude each other ------------------------------

def slow_put(server, bucket: str, key: str, body: bytes, results: dict) -> None:
    """A hand-signed PUT whose body trickles in (32 pieces, 20 ms apart), like a client
    on a slow link; records the status and error code."""
    path = path_of(bucket, key)
    _, headers = signed_headers(server, "PUT", path, payload_hash="UNSIGNED-PAYLOAD",
                                headers={"Content-Length": str(len(body))})
    host = server.endpoint.split("://", 1)[1]
    lines = [f"PUT {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() != "host"]
    sock = open_socket(server, timeout_s=30)
    try:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        piece = len(body) // 32 + 1
        for start in range(0, len(body), piece):
            sock.sendall(body[start:start + piece])
            time.sleep(0.02)
        status, _, answer = parse_raw_response(read_until_complete(sock))
    finally:
        sock.close()
    results[key] = (status, _code(answer))


def _code(body: bytes) -> str | None:
    response = requests.Response()
    response._content = body
    return error_code(response)


def race_round(server, s3, name: str, delete_after_s: float | None) -> bool:
    """Six slow PUTs into a fresh bucket and one DeleteBucket `delete_after_s` in (None:
    once every PUT answered); checks the outcome and returns whether the delete won."""
    s3.create_bucket(Bucket=name)
    bodies = {f"k{i}": data(3 * MIB + i, 70 + i) for i in range(6)}
    results: dict = {}
    writers = [threading.Thread(target=slow_put, args=(server, name, key, body, results))
               for key, body in bodies.items()]
    for writer in writers:
        writer.start()
    if delete_after_s is None:
        for writer in writers:
            writer.join(60)
    else:
        time.sleep(delete_after_s)
    try:
        server.client(NO_RETRY).delete_bucket(Bucket=name)
        deleted = None
    except ClientError as e:
        deleted = e.response["Error"]["Code"]
    for writer in writers:
        writer.join(60)
    assert len(results) == len(bodies), results
    if deleted is None:
        assert all(r == (404, "NoSuchBucket") for r in results.values()), (
            f"DeleteBucket succeeded, yet PUTs answered {results}")
        return True
    assert deleted == "BucketNotEmpty", deleted
    assert all(r[0] == 200 for r in results.values()), results
    for key, body in bodies.items():
        assert s3.get_object(Bucket=name, Key=key)["Body"].read() == body
    s3.delete_objects(Bucket=name, Delete={"Objects": [{"Key": k} for k in bodies]})
    s3.delete_bucket(Bucket=name)
    return False


def test_delete_bucket_and_streaming_puts_exclude_each_other(server, s3):
    """On a 2-shard server, DeleteBucket lands while six PUTs stream (and once after
    they finished): a PUT that loses answers NoSuchBucket, a PUT that wins makes the
    delete answer BucketNotEmpty, and a bucket made again under the name is empty."""
    only_in_mode(server, "http")
    name = f"t-race-{uuid.uuid4().hex[:12]}"
    assert race_round(server, s3, name, 0.2), "the delete during the streams must win"
    s3.create_bucket(Bucket=name)
    assert s3.list_objects_v2(Bucket=name).get("KeyCount") == 0
    assert not s3.list_multipart_uploads(Bucket=name).get("Uploads")
    for i in range(6):
        with client_error(404, "404"):
            s3.head_object(Bucket=name, Key=f"k{i}")
    for drive in drive_folders(server):
        leftovers = [p for p in (drive / name).rglob("*") if p.is_file()]
        assert not leftovers, leftovers
    s3.delete_bucket(Bucket=name)
    assert not race_round(server, s3, name, None), "a delete after the PUTs must lose"
