"""What the real server answers when its drive folders change under it: chunk files
swapped or copied between objects and drives are never served as data, and with 3 of
4 drive folders gone every request answers 503 (never "does not exist") until they
come back. Each test runs its own server, since it damages the drives."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import DRIVES, start_server

SIZE = 3 * 1024 * 1024 + 5


def drive_folders(tmp: Path) -> list[Path]:
    """The server's drive folders, in command-line order (start_server)."""
    return [tmp / f"drive{i}" for i in range(1, DRIVES + 1)]


def part_file(drive: Path, bucket: str, key: str) -> Path:
    """The single part file of a plain object on one drive."""
    found = list((drive / bucket / key).glob("_d*/part.1"))
    assert len(found) == 1, f"{drive}: {found}"
    return found[0]


def put_file(path: Path, data: bytes) -> None:
    """Replaces a file's content (a new file renamed over it, as a copy tool would)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def test_swapped_and_copied_chunk_files_are_not_served(tmp_path):
    """Part files swapped between two drives of one object, or another object's part
    file copied over this one's, are rebuilt around: GET is byte-exact."""
    srv = start_server(tmp_path, "http")
    try:
        s3 = srv.client()
        s3.create_bucket(Bucket="mis")
        a, b = os.urandom(SIZE), os.urandom(SIZE)
        s3.put_object(Bucket="mis", Key="a", Body=a)
        s3.put_object(Bucket="mis", Key="b", Body=b)
        drives = drive_folders(tmp_path)
        paths = [part_file(d, "mis", "a") for d in drives]
        files = [p.read_bytes() for p in paths]
        # Every pair of neighbours: one of them holds two data chunks.
        for i in range(DRIVES):
            j = (i + 1) % DRIVES
            put_file(paths[i], files[j])
            put_file(paths[j], files[i])
            got = s3.get_object(Bucket="mis", Key="a")["Body"].read()
            assert got == a, f"drives {i + 1} and {j + 1} swapped: wrong bytes served"
            put_file(paths[i], files[i])
            put_file(paths[j], files[j])
        for d in drives[:2]:
            put_file(part_file(d, "mis", "a"), part_file(d, "mis", "b").read_bytes())
        got = s3.get_object(Bucket="mis", Key="a")["Body"].read()
        assert got == a, "b's part files on two drives: wrong bytes served"
        assert s3.get_object(Bucket="mis", Key="b")["Body"].read() == b
    finally:
        assert srv.process.stop() == 0


def assert_503(call, *args, **kwargs) -> None:
    """The call fails with HTTP 503 (ServiceUnavailable when the response has a body)."""
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    err = caught.value.response
    status = err["ResponseMetadata"].get("HTTPStatusCode")
    code = err.get("Error", {}).get("Code")
    assert status == 503 and code in ("ServiceUnavailable", "503"), (
        f"{call.__name__}: expected 503 ServiceUnavailable, got {status} {code}: {err}"
    )


def move_entries(src: Path, dst: Path) -> None:
    """Moves everything inside a drive folder to `dst` (or back): the folder stays, as
    the mount point of a filesystem that went away does."""
    dst.mkdir(exist_ok=True)
    for entry in list(src.iterdir()):
        target = dst / entry.name
        assert not target.exists(), f"{target} was written while the drive was gone"
        entry.rename(target)


def test_three_of_four_drives_gone_answers_503_until_they_return(tmp_path):
    """With 3 of 4 drive folders emptied at runtime, every bucket and object request
    answers 503, never NoSuchBucket/NoSuchKey or an empty list; once they are back,
    the same requests succeed and nothing the refused ones named exists."""
    srv = start_server(tmp_path, "http")
    try:
        s3 = srv.client(Config(retries={"total_max_attempts": 1}))
        s3.create_bucket(Bucket="bqx")
        data = os.urandom(SIZE)
        s3.put_object(Bucket="bqx", Key="k", Body=data)
        gone = drive_folders(tmp_path)[1:]
        for d in gone:
            move_entries(d, d.with_name(d.name + ".away"))
        try:
            assert_503(s3.head_bucket, Bucket="bqx")
            assert_503(s3.head_object, Bucket="bqx", Key="k")
            assert_503(s3.get_object, Bucket="bqx", Key="k")
            assert_503(s3.get_object, Bucket="bqx", Key="never-written")
            assert_503(s3.list_objects_v2, Bucket="bqx")
            assert_503(s3.list_objects, Bucket="bqx")
            assert_503(s3.list_buckets)
            assert_503(s3.delete_object, Bucket="bqx", Key="k")
            assert_503(s3.put_object, Bucket="bqx", Key="new", Body=b"hello")
            assert_503(s3.create_bucket, Bucket="bqy")
            assert_503(s3.delete_bucket, Bucket="bqx")
        finally:
            for d in gone:
                move_entries(d.with_name(d.name + ".away"), d)
        # A drive check may have taken them offline meanwhile: back within seconds.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                s3.head_bucket(Bucket="bqx")
                break
            except ClientError:
                time.sleep(0.25)
        s3.head_bucket(Bucket="bqx")
        assert s3.get_object(Bucket="bqx", Key="k")["Body"].read() == data
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="bqx").get("Contents", [])]
        assert keys == ["k"]
        names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
        assert names == ["bqx"]
        with pytest.raises(ClientError) as caught:
            s3.head_object(Bucket="bqx", Key="new")
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    finally:
        assert srv.process.stop() == 0
        shutil.rmtree(tmp_path, ignore_errors=True)
