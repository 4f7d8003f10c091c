"""Object keys that look like file paths (`.`/`..` segments, backslashes), as boto3
sends them: S3 accepts any UTF-8 key, so each is stored, read, copied, tagged, listed
and deleted as exactly the key it is, never as the key its path would resolve to, and
nothing appears outside the bucket's folder on any drive."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import DRIVES
from s3util import assert_absent, client_error

pytestmark = pytest.mark.above_transport

# Each key with the key it would alias if it were taken as a path (also stored, so an
# alias shows as one object overwriting the other).
PATH_LIKE_KEYS = [
    "a/../b", "./x", "..", "a\\b", "a/./b", ".", "x/..", "../../escape", "a/..",
    "..\\..\\evil", "%2E%2E", ".../...", "b", "x", "a/b", "a", "escape",
]


def drive_folders(server) -> list[Path]:
    """The server's drive folders: the last arguments of its command line (start_server)."""
    return [Path(arg) for arg in server.process.proc.args[-DRIVES:]]


def everything_outside(server, bucket: str) -> set[str]:
    """Every path under the drives' parent folder except those inside a bucket folder or
    `.shoal` of a drive: what a key escaping its bucket would add to."""
    drives = drive_folders(server)
    parent = drives[0].parent
    found = set()
    for root, dirs, files in os.walk(parent):
        here = Path(root)
        if here in drives:
            # Inside a drive only its top-level names count (buckets and .shoal).
            found.update(str(here / name) for name in dirs + files)
            dirs.clear()
            continue
        found.update(str(here / name) for name in files)
    return found


def test_path_like_keys_are_keys(server, s3, bucket):
    """PUT, GET, HEAD, CopyObject, tagging, ListObjectsV2 (plain and delimited) and
    DeleteObject/DeleteObjects treat each path-like key as itself, with its own bytes,
    and no file appears outside the bucket on any drive."""
    before = everything_outside(server, bucket)
    bodies = {key: f"body of {key!r}".encode() for key in PATH_LIKE_KEYS}
    for key, body in bodies.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    for key, body in bodies.items():
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body, key
        assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(body), key

    listed = s3.list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in listed["Contents"]] == sorted(PATH_LIKE_KEYS)
    page = s3.list_objects_v2(Bucket=bucket, Prefix="a/", Delimiter="/")
    assert [o["Key"] for o in page["Contents"]] == ["a/..", "a/b"]
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["a/../", "a/./"]

    s3.copy_object(Bucket=bucket, Key="./copy", CopySource={"Bucket": bucket, "Key": "a/../b"})
    assert s3.get_object(Bucket=bucket, Key="./copy")["Body"].read() == bodies["a/../b"]
    assert_absent(s3, bucket, "copy")
    s3.put_object_tagging(Bucket=bucket, Key="..", Tagging={"TagSet": [{"Key": "t", "Value": "v"}]})
    assert s3.get_object_tagging(Bucket=bucket, Key="..")["TagSet"] == [{"Key": "t", "Value": "v"}]
    assert s3.get_object(Bucket=bucket, Key="..")["Body"].read() == bodies[".."]

    assert everything_outside(server, bucket) == before

    half = PATH_LIKE_KEYS[::2]
    for key in half:
        s3.delete_object(Bucket=bucket, Key=key)
    rest = [k for k in PATH_LIKE_KEYS if k not in half] + ["./copy"]
    deleted = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in rest]})
    assert sorted(d["Key"] for d in deleted["Deleted"]) == sorted(rest)
    assert deleted.get("Errors", []) == []
    for key in PATH_LIKE_KEYS:
        with client_error(404, "NoSuchKey"):
            s3.get_object(Bucket=bucket, Key=key)
    assert s3.list_objects_v2(Bucket=bucket).get("Contents", []) == []
    assert everything_outside(server, bucket) == before
