"""Multipart uploads as real clients drive them: the AWS CLI's and boto3's managed
transfers (which switch to multipart on their own above a size), then the low-level
calls one by one: part order and replacement, the Complete refusals, ListParts and
ListMultipartUploads paging, the multipart ETag and checksums recomputed here from the
bytes, GET/HEAD by part number, UploadPartCopy, lost part files on the drives, and racing
conditional completes.

Every expected ETag and checksum is computed locally from the bytes sent, never read
back from the server and compared with itself. The heaviest tests run in one transport
mode only (each in a different one), to keep the three-mode suite short."""

from __future__ import annotations

import base64
import hashlib
import io
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from conftest import DRIVES, REGION
from s3util import assert_absent, assert_raw_error, checksum_of, client_error, path_of, raw
from test_cli import run_aws

MIB = 1 << 20
PART_MIN_BYTES = 5 * MIB


def data(size_bytes: int, seed: int = 11) -> bytes:
    return random.Random(seed * 7919 + size_bytes).randbytes(size_bytes)


def only_in_mode(server, mode: str) -> None:
    """Heavy tests run against one transport only; the others skip with the reason."""
    if server.mode != mode:
        pytest.skip(f"heavy test: runs in {mode} mode only")


def multipart_etag(parts: list[bytes]) -> str:
    """S3's ETag of a completed upload: hex(md5(md5(part 1) ‖ … ‖ md5(part N)))-N, quoted."""
    joined = b"".join(hashlib.md5(p).digest() for p in parts)
    return f'"{hashlib.md5(joined).hexdigest()}-{len(parts)}"'


def chunks(body: bytes, size_bytes: int) -> list[bytes]:
    return [body[i:i + size_bytes] for i in range(0, len(body), size_bytes)]


def upload(s3, bucket: str, key: str, parts: list[bytes], **create) -> tuple[str, list[dict]]:
    """Creates an upload and uploads `parts` as parts 1..N; returns (upload id, the
    Complete list)."""
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, **create)["UploadId"]
    completed = []
    for number, body in enumerate(parts, start=1):
        etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number,
                              Body=body)["ETag"]
        completed.append({"PartNumber": number, "ETag": etag})
    return upload_id, completed


def complete(s3, bucket: str, key: str, upload_id: str, parts: list[dict], **extra) -> dict:
    return s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                        MultipartUpload={"Parts": parts}, **extra)


def read(s3, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


# ---- managed transfers -------------------------------------------------------------------

def test_cli_cp_200_mib_round_trip(aws_cli, server, s3, bucket, tmp_path):
    """`aws s3 cp` sends a 200 MiB file as 25 parts of 8 MiB (its defaults) and gets it
    back byte for byte; the ETag is the multipart ETag of those 8 MiB chunks."""
    only_in_mode(server, "http")
    up = tmp_path / "up.bin"
    up.write_bytes(data(200 * MIB))
    run_aws(aws_cli, server, "s3", "cp", "--only-show-errors", str(up), f"s3://{bucket}/big/up.bin")

    head = s3.head_object(Bucket=bucket, Key="big/up.bin")
    assert head["ContentLength"] == 200 * MIB
    assert head["ETag"] == multipart_etag(chunks(up.read_bytes(), 8 * MIB)), head["ETag"]
    assert head["ETag"].endswith('-25"')

    down = tmp_path / "down.bin"
    run_aws(aws_cli, server, "s3", "cp", "--only-show-errors", f"s3://{bucket}/big/up.bin", str(down))
    assert down.stat().st_size == up.stat().st_size
    assert hashlib.sha256(down.read_bytes()).digest() == hashlib.sha256(up.read_bytes()).digest()


def test_boto3_concurrent_transfer(server, s3, bucket, tmp_path):
    """boto3's managed transfer with 8 threads and 6 MiB parts moves 64 MiB up (upload_file
    and upload_fileobj) and down (download_file, ranged GETs in parallel) byte for byte."""
    config = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=6 * MIB,
                            max_concurrency=8)
    client = server.client(Config(max_pool_connections=16))
    body = data(64 * MIB + 12345)
    up = tmp_path / "up.bin"
    up.write_bytes(body)

    client.upload_file(str(up), bucket, "t/file", Config=config)
    head = s3.head_object(Bucket=bucket, Key="t/file")
    assert head["ContentLength"] == len(body)
    assert head["ETag"] == multipart_etag(chunks(body, 6 * MIB)), head["ETag"]

    down = tmp_path / "down.bin"
    client.download_file(bucket, "t/file", str(down), Config=config)
    assert down.read_bytes() == body

    other = data(17 * MIB + 1, seed=12)
    client.upload_fileobj(io.BytesIO(other), bucket, "t/fileobj", Config=config)
    assert s3.head_object(Bucket=bucket, Key="t/fileobj")["ETag"] == multipart_etag(chunks(other, 6 * MIB))
    assert read(s3, bucket, "t/fileobj") == other


# ---- parts and Complete ------------------------------------------------------------------

def test_parts_in_any_order_and_last_upload_wins(s3, bucket):
    """Parts uploaded out of order assemble in part-number order; re-uploading a part
    number replaces it (the old ETag is then refused), and the object and its ETag are
    made of the replacement."""
    p1, p2_old = data(PART_MIN_BYTES, 1), data(PART_MIN_BYTES, 2)
    p2_new, p3 = data(PART_MIN_BYTES + 7, 3), data(999, 4)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="ooo")["UploadId"]
    etags = {}
    for number, body in ((3, p3), (2, p2_old), (1, p1), (2, p2_new)):
        etags[number] = s3.upload_part(Bucket=bucket, Key="ooo", UploadId=upload_id,
                                       PartNumber=number, Body=body)["ETag"]
    assert etags[2] == f'"{hashlib.md5(p2_new).hexdigest()}"'

    listed = s3.list_parts(Bucket=bucket, Key="ooo", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in listed] == [
        (1, etags[1], len(p1)), (2, etags[2], len(p2_new)), (3, etags[3], len(p3))]

    old_list = [{"PartNumber": 1, "ETag": etags[1]},
                {"PartNumber": 2, "ETag": f'"{hashlib.md5(p2_old).hexdigest()}"'},
                {"PartNumber": 3, "ETag": etags[3]}]
    with client_error(400, "InvalidPart"):
        complete(s3, bucket, "ooo", upload_id, old_list)

    parts = [{"PartNumber": n, "ETag": etags[n]} for n in (1, 2, 3)]
    result = complete(s3, bucket, "ooo", upload_id, parts)
    assert result["ETag"] == multipart_etag([p1, p2_new, p3])
    assert read(s3, bucket, "ooo") == p1 + p2_new + p3


def test_etag_size_and_parts_count_of_completed_object(s3, bucket):
    """The Complete answer, HEAD, ListObjectsV2 and GetObjectAttributes agree on the
    locally computed multipart ETag, the size and the part count; a subset of the uploaded
    parts (1 and 3 of 3) makes the object, and only those bytes."""
    parts = [data(PART_MIN_BYTES + 1, 21), data(2 * MIB, 22), data(3, 23)]
    upload_id, completed = upload(s3, bucket, "e/tag", parts)
    used = [completed[0], completed[2]]
    expected = multipart_etag([parts[0], parts[2]])
    assert complete(s3, bucket, "e/tag", upload_id, used)["ETag"] == expected

    head = s3.head_object(Bucket=bucket, Key="e/tag")
    assert (head["ETag"], head["ContentLength"]) == (expected, len(parts[0]) + len(parts[2]))
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="e/")["Contents"]
    assert [(o["Key"], o["ETag"], o["Size"]) for o in listed] == [("e/tag", expected, head["ContentLength"])]
    attrs = s3.get_object_attributes(Bucket=bucket, Key="e/tag",
                                     ObjectAttributes=["ETag", "ObjectParts", "ObjectSize"])
    assert attrs["ObjectParts"]["TotalPartsCount"] == 2, attrs
    assert attrs["ObjectSize"] == head["ContentLength"]
    assert read(s3, bucket, "e/tag") == parts[0] + parts[2]


def test_complete_refusals_leave_the_upload_intact(s3, bucket):
    """A wrong ETag or a part never uploaded is InvalidPart, a descending list is
    InvalidPartOrder, a non-last part under 5 MiB is EntityTooSmall; none creates the
    object, and the upload still completes afterwards."""
    small, big, last = data(MIB, 31), data(PART_MIN_BYTES, 32), data(10, 33)
    upload_id, _ = upload(s3, bucket, "r", [small, big, last])
    etag = [f'"{hashlib.md5(b).hexdigest()}"' for b in (small, big, last)]

    def part(number: int) -> dict:
        return {"PartNumber": number, "ETag": etag[number - 1]}

    with client_error(400, "InvalidPart"):
        complete(s3, bucket, "r", upload_id, [part(2), {"PartNumber": 3, "ETag": etag[0]}])
    with client_error(400, "InvalidPart"):
        complete(s3, bucket, "r", upload_id, [part(2), part(3), {"PartNumber": 4, "ETag": etag[2]}])
    with client_error(400, "InvalidPartOrder"):
        complete(s3, bucket, "r", upload_id, [part(3), part(2)])
    with client_error(400, "InvalidPartOrder"):
        complete(s3, bucket, "r", upload_id, [part(2), part(2)])
    with client_error(400, "EntityTooSmall"):
        complete(s3, bucket, "r", upload_id, [part(1), part(2), part(3)])
    assert_absent(s3, bucket, "r")

    numbers = [p["PartNumber"] for p in s3.list_parts(Bucket=bucket, Key="r", UploadId=upload_id)["Parts"]]
    assert numbers == [1, 2, 3]
    complete(s3, bucket, "r", upload_id, [part(2), part(3)])
    assert read(s3, bucket, "r") == big + last


def test_unknown_aborted_and_completed_uploads(s3, bucket):
    """Upload ids that never existed, belong to another key, were aborted or were
    completed are NoSuchUpload for every upload call; aborting a completed upload leaves
    its object alone."""
    never = ["0" * 32, "not-an-upload-id", "../../etc"]
    other_key = s3.create_multipart_upload(Bucket=bucket, Key="other")["UploadId"]
    aborted, _ = upload(s3, bucket, "k", [b"aborted part"])
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=aborted)
    done, parts = upload(s3, bucket, "k", [b"completed"])
    complete(s3, bucket, "k", done, parts)
    one_part = [{"PartNumber": 1, "ETag": f'"{hashlib.md5(b"x").hexdigest()}"'}]

    for upload_id in [*never, other_key, aborted, done]:
        with client_error(404, "NoSuchUpload"):
            s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"x")
        with client_error(404, "NoSuchUpload"):
            complete(s3, bucket, "k", upload_id, one_part)
        with client_error(404, "NoSuchUpload"):
            s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)
        with client_error(404, "NoSuchUpload"):
            s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id)
    assert read(s3, bucket, "k") == b"completed"
    uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [("other", other_key)]


@pytest.mark.parametrize("number", [0, 10001, -1])
def test_part_number_out_of_range(server, s3, bucket, number):
    """Part numbers outside 1..10000 are InvalidArgument on UploadPart."""
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="n")["UploadId"]
    response = raw(server, "PUT", path_of(bucket, "n"), f"partNumber={number}&uploadId={upload_id}", b"x")
    assert_raw_error(response, 400, "InvalidArgument")
    assert s3.list_parts(Bucket=bucket, Key="n", UploadId=upload_id).get("Parts", []) == []


def test_list_parts_pages_through_2500_parts(server, bucket):
    """ListParts returns 2,500 parts in pages of at most 1,000, continued exactly by
    NextPartNumberMarker, and honours MaxParts and PartNumberMarker anywhere in the list."""
    only_in_mode(server, "epoll")
    s3 = server.client(Config(max_pool_connections=16, retries={"max_attempts": 1}))
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="many")["UploadId"]

    def body(number: int) -> bytes:
        return b"part %05d" % number  # 10 bytes, distinct per part

    def send(number: int) -> str:
        return s3.upload_part(Bucket=bucket, Key="many", UploadId=upload_id, PartNumber=number,
                              Body=body(number))["ETag"]

    numbers = range(1, 2501)
    with ThreadPoolExecutor(16) as pool:
        etags = dict(zip(numbers, pool.map(send, numbers)))
    try:
        seen, marker, pages = [], 0, 0
        while True:
            page = s3.list_parts(Bucket=bucket, Key="many", UploadId=upload_id, PartNumberMarker=marker)
            parts = page["Parts"]
            pages += 1
            assert len(parts) == min(1000, 2500 - marker), (marker, len(parts))
            seen += [(p["PartNumber"], p["ETag"], p["Size"]) for p in parts]
            if not page["IsTruncated"]:
                break
            assert page["NextPartNumberMarker"] == parts[-1]["PartNumber"]
            marker = page["NextPartNumberMarker"]
        assert pages == 3
        assert seen == [(n, f'"{hashlib.md5(body(n)).hexdigest()}"', 10) for n in numbers]
        assert all(etags[n] == e for n, e, _ in seen)

        middle = s3.list_parts(Bucket=bucket, Key="many", UploadId=upload_id,
                               PartNumberMarker=1234, MaxParts=7)
        assert [p["PartNumber"] for p in middle["Parts"]] == list(range(1235, 1242))
        assert middle["IsTruncated"] and middle["NextPartNumberMarker"] == 1241
        tail = s3.list_parts(Bucket=bucket, Key="many", UploadId=upload_id,
                             PartNumberMarker=2498, MaxParts=2)
        assert [p["PartNumber"] for p in tail["Parts"]] == [2499, 2500]
        assert not tail["IsTruncated"]
    finally:
        s3.abort_multipart_upload(Bucket=bucket, Key="many", UploadId=upload_id)
    with client_error(404, "NoSuchUpload"):
        s3.list_parts(Bucket=bucket, Key="many", UploadId=upload_id)


UPLOAD_KEYS = ["a/1", "a/2", "a/2", "b/x/1", "b/y", "c", "d/"]


@pytest.fixture
def uploads_in_progress(s3, bucket):
    """One upload per UPLOAD_KEYS entry (two for a/2), as sorted (key, upload id) pairs;
    all aborted afterwards, which must leave none listed."""
    started = [(k, s3.create_multipart_upload(Bucket=bucket, Key=k)["UploadId"]) for k in UPLOAD_KEYS]
    yield sorted(started)
    for key, upload_id in started:
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_list_multipart_uploads(s3, bucket, uploads_in_progress):
    """ListMultipartUploads lists uploads in progress by key then age, filters by Prefix,
    rolls up at Delimiter, starts after KeyMarker (and UploadIdMarker within that key),
    and pages with MaxUploads to exactly the unpaged answer."""
    expected = uploads_in_progress
    everything = s3.list_multipart_uploads(Bucket=bucket)
    assert [(u["Key"], u["UploadId"]) for u in everything["Uploads"]] == expected
    assert not everything["IsTruncated"]

    under_a = s3.list_multipart_uploads(Bucket=bucket, Prefix="a/")["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in under_a] == expected[:3]

    rolled = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [u["Key"] for u in rolled.get("Uploads", [])] == ["c"]
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["a/", "b/", "d/"]
    nested = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/", Prefix="b/")
    assert [u["Key"] for u in nested.get("Uploads", [])] == ["b/y"]
    assert [p["Prefix"] for p in nested["CommonPrefixes"]] == ["b/x/"]

    after_a2 = s3.list_multipart_uploads(Bucket=bucket, KeyMarker="a/2")["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in after_a2] == expected[3:]
    inside_a2 = s3.list_multipart_uploads(Bucket=bucket, KeyMarker="a/2",
                                          UploadIdMarker=expected[1][1])["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in inside_a2] == expected[2:]

    assert paged_uploads(s3, bucket, max_uploads=2) == (expected, [])


def test_list_multipart_uploads_pages_with_delimiter(s3, bucket, uploads_in_progress):
    """Paging a delimited listing one entry at a time through NextKeyMarker and
    NextUploadIdMarker returns each common prefix once, as the unpaged listing does."""

    def of_key(key: str) -> list[tuple[str, str]]:
        return [u for u in uploads_in_progress if u[0] == key]

    assert paged_uploads(s3, bucket, max_uploads=1, Delimiter="/") == (of_key("c"), ["a/", "b/", "d/"])
    nested = paged_uploads(s3, bucket, max_uploads=1, Delimiter="/", Prefix="b/")
    assert nested == (of_key("b/y"), ["b/x/"])


def paged_uploads(s3, bucket: str, max_uploads: int, **query) -> tuple[list, list]:
    """Every upload and common prefix, following NextKeyMarker/NextUploadIdMarker pages."""
    uploads, prefixes, markers = [], [], {}
    for _ in range(100):
        page = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=max_uploads, **query, **markers)
        got = page.get("Uploads", []) + page.get("CommonPrefixes", [])
        assert 0 < len(got) <= max_uploads, page
        uploads += [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])]
        prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        if not page["IsTruncated"]:
            return uploads, prefixes
        markers = {"KeyMarker": page["NextKeyMarker"], "UploadIdMarker": page.get("NextUploadIdMarker", "")}
    raise AssertionError(f"ListMultipartUploads never stopped paging: {uploads} {prefixes}")


# ---- checksums -----------------------------------------------------------------------------

def composite_checksum(algorithm: str, parts: list[bytes]) -> str:
    """S3's COMPOSITE checksum: the checksum of the binary part checksums, then -N."""
    joined = b"".join(base64.b64decode(checksum_of(algorithm, p)) for p in parts)
    return f"{checksum_of(algorithm, joined)}-{len(parts)}"


CHECKSUM_CASES = [
    ("CRC32", None, "COMPOSITE"),
    ("CRC32C", None, "COMPOSITE"),
    ("SHA1", None, "COMPOSITE"),
    ("SHA256", None, "COMPOSITE"),
    ("CRC64NVME", None, "FULL_OBJECT"),
    ("CRC32", "FULL_OBJECT", "FULL_OBJECT"),
    ("CRC32C", "FULL_OBJECT", "FULL_OBJECT"),
]


@pytest.mark.parametrize("algorithm,asked,kind", CHECKSUM_CASES)
def test_upload_checksums(s3, bucket, algorithm, asked, kind):
    """Each part's checksum and the object's (COMPOSITE: checksum of part checksums with
    -N; FULL_OBJECT: the checksum of all the bytes) equal what is computed here, in the
    Complete answer, ListParts and HEAD; a wrong part checksum in Complete is InvalidPart."""
    member = f"Checksum{algorithm}"
    parts = [data(PART_MIN_BYTES, 41), data(123_457, 42)]
    create = {"ChecksumAlgorithm": algorithm} | ({"ChecksumType": asked} if asked else {})
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="sum", **create)["UploadId"]
    completed = []
    for number, body in enumerate(parts, start=1):
        sent = s3.upload_part(Bucket=bucket, Key="sum", UploadId=upload_id, PartNumber=number,
                              Body=body, ChecksumAlgorithm=algorithm)
        assert sent[member] == checksum_of(algorithm, body), (number, sent)
        completed.append({"PartNumber": number, "ETag": sent["ETag"], member: sent[member]})
    listed = s3.list_parts(Bucket=bucket, Key="sum", UploadId=upload_id)["Parts"]
    assert [p.get(member) for p in listed] == [c[member] for c in completed]

    wrong = [completed[0], dict(completed[1], **{member: checksum_of(algorithm, b"other")})]
    with client_error(400, "InvalidPart"):
        complete(s3, bucket, "sum", upload_id, wrong)

    expected = (composite_checksum(algorithm, parts) if kind == "COMPOSITE"
                else checksum_of(algorithm, b"".join(parts)))
    result = complete(s3, bucket, "sum", upload_id, completed)
    assert (result.get(member), result.get("ChecksumType")) == (expected, kind), result
    head = s3.head_object(Bucket=bucket, Key="sum", ChecksumMode="ENABLED")
    assert (head.get(member), head.get("ChecksumType")) == (expected, kind), head
    assert read(s3, bucket, "sum") == b"".join(parts)


def test_full_object_checksum_checked_on_complete(s3, bucket):
    """A FULL_OBJECT CRC32 upload completes only when the whole-object checksum sent with
    Complete matches the bytes: a wrong one is BadDigest and creates nothing."""
    parts = [data(PART_MIN_BYTES, 51), data(77, 52)]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="full", ChecksumAlgorithm="CRC32",
                                           ChecksumType="FULL_OBJECT")["UploadId"]
    completed = []
    for number, body in enumerate(parts, start=1):
        sent = s3.upload_part(Bucket=bucket, Key="full", UploadId=upload_id, PartNumber=number,
                              Body=body, ChecksumAlgorithm="CRC32")
        completed.append({"PartNumber": number, "ETag": sent["ETag"], "ChecksumCRC32": sent["ChecksumCRC32"]})
    whole = checksum_of("CRC32", b"".join(parts))
    with client_error(400, "BadDigest"):
        complete(s3, bucket, "full", upload_id, completed, ChecksumType="FULL_OBJECT",
                 ChecksumCRC32=checksum_of("CRC32", b"not it"))
    assert_absent(s3, bucket, "full")
    result = complete(s3, bucket, "full", upload_id, completed, ChecksumType="FULL_OBJECT",
                      ChecksumCRC32=whole)
    assert result["ChecksumCRC32"] == whole
    assert read(s3, bucket, "full") == b"".join(parts)


def upload_with_checksums(s3, bucket: str, key: str, parts: list[bytes], algorithm: str,
                          asked: str | None) -> tuple[str, list[dict]]:
    """Creates an upload with `algorithm` (and type `asked`), uploads `parts` with their
    checksums; returns (upload id, the Complete list with each part's checksum)."""
    member = f"Checksum{algorithm}"
    create = {"ChecksumAlgorithm": algorithm} | ({"ChecksumType": asked} if asked else {})
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, **create)["UploadId"]
    completed = []
    for number, body in enumerate(parts, start=1):
        sent = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number,
                              Body=body, ChecksumAlgorithm=algorithm)
        completed.append({"PartNumber": number, "ETag": sent["ETag"], member: sent[member]})
    return upload_id, completed


@pytest.mark.parametrize("algorithm,asked,kind", CHECKSUM_CASES)
def test_complete_checks_the_object_checksum_it_is_sent(s3, bucket, algorithm, asked, kind):
    """Complete with the object's checksum header (COMPOSITE: `<base64>-N`; FULL_OBJECT:
    the checksum of all bytes), its checksum type and object size succeeds; a wrong
    value or part count is BadDigest, another type or size InvalidRequest, and each
    refusal leaves the upload to complete. GET/HEAD by part number with checksum mode
    then carry that part's checksum (botocore checks the part's bytes against it)."""
    member = f"Checksum{algorithm}"
    parts = [data(PART_MIN_BYTES, 71), data(PART_MIN_BYTES + 1, 72), data(4321, 73)]
    upload_id, completed = upload_with_checksums(s3, bucket, "obj", parts, algorithm, asked)
    composite = kind == "COMPOSITE"
    expected = (composite_checksum(algorithm, parts) if composite
                else checksum_of(algorithm, b"".join(parts)))
    size = sum(map(len, parts))
    other_kind = "FULL_OBJECT" if composite else "COMPOSITE"
    wrong_value = checksum_of(algorithm, b"other") + ("-3" if composite else "")
    refusals = [
        ({member: wrong_value}, 400, "BadDigest"),
        ({member: expected.split("-")[0] + "-2"}, 400, "BadDigest"),
        ({member: expected, "ChecksumType": other_kind}, 400, "InvalidRequest"),
        ({member: expected, "MpuObjectSize": size + 1}, 400, "InvalidRequest"),
    ]
    for extra, status, code in refusals:
        with client_error(status, code):
            complete(s3, bucket, "obj", upload_id, completed, **extra)
        assert_absent(s3, bucket, "obj")
    result = complete(s3, bucket, "obj", upload_id, completed, ChecksumType=kind,
                      MpuObjectSize=size, **{member: expected})
    assert (result.get(member), result.get("ChecksumType")) == (expected, kind), result

    for number, body in enumerate(parts, start=1):
        head = s3.head_object(Bucket=bucket, Key="obj", PartNumber=number, ChecksumMode="ENABLED")
        assert head.get(member) == checksum_of(algorithm, body), (number, head)
        got = s3.get_object(Bucket=bucket, Key="obj", PartNumber=number, ChecksumMode="ENABLED")
        assert got.get(member) == checksum_of(algorithm, body), (number, got)
        assert got["Body"].read() == body
    whole = s3.head_object(Bucket=bucket, Key="obj", ChecksumMode="ENABLED")
    assert (whole.get(member), whole.get("ChecksumType")) == (expected, kind), whole


def test_complete_refuses_a_checksum_it_cannot_check(s3, bucket):
    """A Complete naming another algorithm than the upload's, or one Shoal does not
    implement, is refused (400 InvalidRequest / 501 NotImplemented), never ignored."""
    parts = [data(1000, 74)]
    upload_id, completed = upload_with_checksums(s3, bucket, "other", parts, "CRC32", None)
    with client_error(400, "InvalidRequest"):
        complete(s3, bucket, "other", upload_id, completed,
                 ChecksumSHA256=checksum_of("SHA256", parts[0]))
    with client_error(501, "NotImplemented"):
        complete(s3, bucket, "other", upload_id, completed, ChecksumSHA512="AAAA")
    assert_absent(s3, bucket, "other")
    complete(s3, bucket, "other", upload_id, completed)
    assert read(s3, bucket, "other") == parts[0]


@pytest.mark.parametrize("algorithm,kind", [("CRC32", "COMPOSITE"), ("SHA256", "COMPOSITE"),
                                            ("CRC64NVME", "FULL_OBJECT")])
def test_cli_cp_with_checksum_algorithm(aws_cli, server, s3, bucket, tmp_path, algorithm, kind):
    """`aws s3 cp --checksum-algorithm` uploads a 20 MiB file as 8 MiB parts with that
    checksum; the object's checksum is the COMPOSITE or FULL_OBJECT value computed here,
    each part read by number carries its own, and the file comes back byte for byte."""
    only_in_mode(server, "https")
    member = f"Checksum{algorithm}"
    up = tmp_path / "up.bin"
    up.write_bytes(data(20 * MIB + 7, 75))
    target = f"s3://{bucket}/cli/{algorithm}"
    run_aws(aws_cli, server, "s3", "cp", "--only-show-errors", "--checksum-algorithm", algorithm,
            str(up), target)
    parts = chunks(up.read_bytes(), 8 * MIB)
    expected = (composite_checksum(algorithm, parts) if kind == "COMPOSITE"
                else checksum_of(algorithm, up.read_bytes()))
    head = s3.head_object(Bucket=bucket, Key=f"cli/{algorithm}", ChecksumMode="ENABLED")
    assert (head.get(member), head.get("ChecksumType")) == (expected, kind), head
    for number, body in enumerate(parts, start=1):
        got = s3.get_object(Bucket=bucket, Key=f"cli/{algorithm}", PartNumber=number,
                            ChecksumMode="ENABLED")
        assert got.get(member) == checksum_of(algorithm, body), (number, got)
        assert got["Body"].read() == body
    down = tmp_path / "down.bin"
    run_aws(aws_cli, server, "s3", "cp", "--only-show-errors", target, str(down))
    assert down.read_bytes() == up.read_bytes()


# ---- retried Complete ----------------------------------------------------------------------------

def test_retried_complete_answers_the_same_object(s3, bucket):
    """Calling Complete again for an upload that completed (a client retrying after a
    timeout) answers 200 with the same ETag, checksum and other fields; a different
    parts list, or a retry after the key was overwritten, is 404 NoSuchUpload."""
    parts = [data(PART_MIN_BYTES, 91), data(999, 92)]
    upload_id, completed = upload_with_checksums(s3, bucket, "again", parts, "CRC32C", None)
    first = complete(s3, bucket, "again", upload_id, completed)
    fields = lambda r: {k: v for k, v in r.items() if k != "ResponseMetadata"}  # noqa: E731
    assert first["ETag"] == multipart_etag(parts)
    for _ in range(2):
        again = complete(s3, bucket, "again", upload_id, completed, IfNoneMatch="*")
        assert fields(again) == fields(first)
    assert read(s3, bucket, "again") == b"".join(parts)
    with client_error(404, "NoSuchUpload"):
        complete(s3, bucket, "again", upload_id, completed[:1])
    s3.put_object(Bucket=bucket, Key="again", Body=b"newer")
    with client_error(404, "NoSuchUpload"):
        complete(s3, bucket, "again", upload_id, completed)
    assert read(s3, bucket, "again") == b"newer"


# ---- reading parts, copying parts --------------------------------------------------------------

def test_get_and_head_by_part_number(s3, bucket):
    """GET/HEAD with PartNumber return that part's bytes as a 206 with its Content-Range
    and the part count; a part beyond the last is 416 InvalidPartNumber; a plain object
    is one part."""
    parts = [data(PART_MIN_BYTES + 3, 61), data(PART_MIN_BYTES, 62), data(1000, 63)]
    upload_id, completed = upload(s3, bucket, "pn", parts)
    complete(s3, bucket, "pn", upload_id, completed)
    total, start = sum(map(len, parts)), 0
    for number, body in enumerate(parts, start=1):
        got = s3.get_object(Bucket=bucket, Key="pn", PartNumber=number)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert got["ContentRange"] == f"bytes {start}-{start + len(body) - 1}/{total}"
        assert (got["PartsCount"], got["ContentLength"]) == (3, len(body))
        assert got["ETag"] == multipart_etag(parts)
        assert got["Body"].read() == body
        head = s3.head_object(Bucket=bucket, Key="pn", PartNumber=number)
        status = head["ResponseMetadata"]["HTTPStatusCode"]
        assert (status, head["ContentLength"], head["PartsCount"]) == (206, len(body), 3)
        start += len(body)
    with client_error(416, "InvalidPartNumber"):
        s3.get_object(Bucket=bucket, Key="pn", PartNumber=4)
    with client_error(416, "416"):
        s3.head_object(Bucket=bucket, Key="pn", PartNumber=4)

    s3.put_object(Bucket=bucket, Key="plain", Body=b"one part only")
    assert s3.get_object(Bucket=bucket, Key="plain", PartNumber=1)["Body"].read() == b"one part only"
    with client_error(416, "InvalidPartNumber"):
        s3.get_object(Bucket=bucket, Key="plain", PartNumber=2)


def test_upload_part_copy(s3, bucket):
    """UploadPartCopy copies a byte range (here across the source's own part boundary) or a
    whole object into parts; failing copy-source conditions are 412 and add no part."""
    source_parts = [data(PART_MIN_BYTES, 71), data(2 * MIB, 72)]
    source_id, source_list = upload(s3, bucket, "src", source_parts)
    complete(s3, bucket, "src", source_id, source_list)
    source = b"".join(source_parts)
    source_etag = multipart_etag(source_parts)
    plain = data(300_000, 73)
    s3.put_object(Bucket=bucket, Key="plain src", Body=plain)

    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    first, last = MIB - 17, MIB - 17 + PART_MIN_BYTES - 1
    with client_error(412, "PreconditionFailed"):
        s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=upload_id, PartNumber=1,
                            CopySource={"Bucket": bucket, "Key": "src"}, CopySourceIfMatch='"0123"')
    with client_error(412, "PreconditionFailed"):
        s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=upload_id, PartNumber=1,
                            CopySource={"Bucket": bucket, "Key": "src"}, CopySourceIfNoneMatch=source_etag)
    assert s3.list_parts(Bucket=bucket, Key="dst", UploadId=upload_id).get("Parts", []) == []

    ranged = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=upload_id, PartNumber=1,
                                 CopySource={"Bucket": bucket, "Key": "src"},
                                 CopySourceRange=f"bytes={first}-{last}", CopySourceIfMatch=source_etag)
    assert ranged["CopyPartResult"]["ETag"] == f'"{hashlib.md5(source[first:last + 1]).hexdigest()}"'
    whole = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=upload_id, PartNumber=2,
                                CopySource={"Bucket": bucket, "Key": "plain src"})
    assert whole["CopyPartResult"]["ETag"] == f'"{hashlib.md5(plain).hexdigest()}"'
    tail = s3.upload_part(Bucket=bucket, Key="dst", UploadId=upload_id, PartNumber=3, Body=b"tail")

    parts = [{"PartNumber": 1, "ETag": ranged["CopyPartResult"]["ETag"]},
             {"PartNumber": 2, "ETag": whole["CopyPartResult"]["ETag"]},
             {"PartNumber": 3, "ETag": tail["ETag"]}]
    with client_error(400, "EntityTooSmall"):  # the whole 300 kB source is a non-last part
        complete(s3, bucket, "dst", upload_id, parts)
    result = complete(s3, bucket, "dst", upload_id, [parts[0], parts[2]])
    expected = [source[first:last + 1], b"tail"]
    assert result["ETag"] == multipart_etag(expected)
    assert read(s3, bucket, "dst") == b"".join(expected)


def test_upload_part_copy_answers_the_part_checksum(s3, bucket):
    """UploadPartCopy into an upload created with SHA256 answers the copied part's
    checksum (computed here from the bytes), and a Complete listing it composes the
    object's COMPOSITE checksum from it."""
    source = data(PART_MIN_BYTES + 10, 76)
    s3.put_object(Bucket=bucket, Key="csrc", Body=source)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="cdst",
                                           ChecksumAlgorithm="SHA256")["UploadId"]
    copied = s3.upload_part_copy(Bucket=bucket, Key="cdst", UploadId=upload_id, PartNumber=1,
                                 CopySource={"Bucket": bucket, "Key": "csrc"})["CopyPartResult"]
    assert copied.get("ChecksumSHA256") == checksum_of("SHA256", source), copied
    tail = s3.upload_part(Bucket=bucket, Key="cdst", UploadId=upload_id, PartNumber=2,
                          Body=b"tail", ChecksumAlgorithm="SHA256")
    parts = [{"PartNumber": 1, "ETag": copied["ETag"], "ChecksumSHA256": copied["ChecksumSHA256"]},
             {"PartNumber": 2, "ETag": tail["ETag"], "ChecksumSHA256": tail["ChecksumSHA256"]}]
    result = complete(s3, bucket, "cdst", upload_id, parts)
    assert result["ChecksumSHA256"] == composite_checksum("SHA256", [source, b"tail"])


# ---- drives ------------------------------------------------------------------------------------

def drive_folders(server) -> list[Path]:
    """The server's drive folders: the last arguments of its command line (start_server)."""
    return [Path(arg) for arg in server.process.proc.args[-DRIVES:]]


def part_files(server, bucket: str, upload_id: str, number: int) -> list[Path]:
    """The file of part `number` on each drive; asserts every drive holds exactly one, so
    the test notices if the on-drive layout it relies on changes."""
    found = []
    for drive in drive_folders(server):
        folder = drive / ".shoal" / "multipart" / bucket / upload_id
        files = sorted(folder.glob(f"p{number:05d}-*"))
        assert len(files) == 1, f"{folder}: {sorted(p.name for p in folder.glob('*'))}"
        found += files
    return found


def test_lost_part_files_before_complete(server, s3, bucket):
    """With 2 data + 2 parity drives, a part whose files are gone from any 2 drives is
    still rebuilt exactly after Complete; gone from 3 drives, Complete is InvalidPart and
    no object appears."""
    parts = [data(PART_MIN_BYTES + 5, 81), data(3 * MIB + 1, 82)]
    upload_id, completed = upload(s3, bucket, "lost2", parts)
    for path in part_files(server, bucket, upload_id, 1)[:2] + part_files(server, bucket, upload_id, 2)[2:]:
        path.unlink()
    complete(s3, bucket, "lost2", upload_id, completed)
    assert read(s3, bucket, "lost2") == b"".join(parts)
    assert s3.get_object(Bucket=bucket, Key="lost2", PartNumber=2)["Body"].read() == parts[1]

    upload_id, completed = upload(s3, bucket, "lost3", parts)
    for path in part_files(server, bucket, upload_id, 2)[1:]:
        path.unlink()
    with client_error(400, "InvalidPart"):
        complete(s3, bucket, "lost3", upload_id, completed)
    with client_error(404, "NoSuchKey"):
        s3.get_object(Bucket=bucket, Key="lost3")
    assert_absent(s3, bucket, "lost3")
    s3.abort_multipart_upload(Bucket=bucket, Key="lost3", UploadId=upload_id)


# ---- conditional completes -----------------------------------------------------------------------

def test_conditional_complete(s3, bucket):
    """If-None-Match: * completes only onto an absent key and If-Match only onto that
    ETag; a refused Complete is 412, keeps the old object and leaves the upload usable."""
    old = s3.put_object(Bucket=bucket, Key="c", Body=b"old")["ETag"]
    body = data(1000, 91)
    upload_id, completed = upload(s3, bucket, "c", [body])
    with client_error(412, "PreconditionFailed"):
        complete(s3, bucket, "c", upload_id, completed, IfNoneMatch="*")
    with client_error(412, "PreconditionFailed"):
        complete(s3, bucket, "c", upload_id, completed, IfMatch='"0123456789abcdef0123456789abcdef"')
    assert read(s3, bucket, "c") == b"old"
    complete(s3, bucket, "c", upload_id, completed, IfMatch=old)
    assert read(s3, bucket, "c") == body

    fresh_id, fresh = upload(s3, bucket, "fresh", [body])
    complete(s3, bucket, "fresh", fresh_id, fresh, IfNoneMatch="*")
    assert s3.head_object(Bucket=bucket, Key="fresh")["ETag"] == multipart_etag([body])


def separate_clients(server, count: int) -> list:
    """`count` boto3 clients, each with its own connection pool, made from one session
    (so the service model is loaded once, not `count` times)."""
    session = boto3.session.Session()
    return [session.client("s3", endpoint_url=server.endpoint, region_name=REGION,
                           aws_access_key_id=server.access_key,
                           aws_secret_access_key=server.secret_key, verify=server.verify)
            for _ in range(count)]


def test_racing_conditional_completes_exactly_one_wins(server, s3, bucket):
    """32 uploads of one key completed at once with If-None-Match: *, each from its own
    client: exactly one succeeds, the rest are 412 (or 409 while the winner commits), the
    key holds the winner's bytes, and each loser's upload is still there to abort."""
    bodies = [data(100_000, 1000 + i) for i in range(32)]
    prepared = [upload(s3, bucket, "race", [body]) for body in bodies]
    clients = separate_clients(server, len(bodies))
    results: dict[int, str] = {}
    start = threading.Barrier(len(bodies))

    def finish(i: int) -> None:
        upload_id, parts = prepared[i]
        start.wait()
        try:
            complete(clients[i], bucket, "race", upload_id, parts, IfNoneMatch="*")
            results[i] = "ok"
        except clients[i].exceptions.ClientError as e:
            results[i] = e.response["Error"]["Code"]

    threads = [threading.Thread(target=finish, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [i for i, r in results.items() if r == "ok"]
    assert len(winners) == 1, results
    assert set(results.values()) <= {"ok", "PreconditionFailed", "ConditionalRequestConflict"}, results
    assert read(s3, bucket, "race") == bodies[winners[0]]
    assert s3.head_object(Bucket=bucket, Key="race")["ETag"] == multipart_etag([bodies[winners[0]]])
    for i, (upload_id, _) in enumerate(prepared):
        if i != winners[0]:
            s3.abort_multipart_upload(Bucket=bucket, Key="race", UploadId=upload_id)
