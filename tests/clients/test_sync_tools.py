"""Tools that mirror directory trees into a bucket: `aws s3 sync` and rclone. They list,
compare sizes, times and ETags, switch to multipart above their cut-offs and delete what
is gone; a bucket that answers any of those wrongly makes them copy too much, too little
or the wrong bytes. Each test runs in one transport mode only (they are the slow ones)."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from test_cli import run_aws

MIB = 1 << 20
CLI_PART_BYTES = 8 * MIB  # the CLI's default multipart_threshold and multipart_chunksize
HOUR_S = 3600


def data(size_bytes: int, seed: int) -> bytes:
    return random.Random(seed * 104729 + size_bytes).randbytes(size_bytes)


def only_in_mode(server, mode: str) -> None:
    if server.mode != mode:
        pytest.skip(f"heavy test: runs in {mode} mode only")


def expected_etag(body: bytes, part_bytes: int) -> str:
    """The ETag a client that goes multipart at `part_bytes` and up, in chunks of that
    size, gets: the plain MD5 below it, else the multipart ETag (both the CLI and rclone
    switch at size >= threshold)."""
    if len(body) < part_bytes:
        return f'"{hashlib.md5(body).hexdigest()}"'
    parts = [body[i:i + part_bytes] for i in range(0, len(body), part_bytes)]
    joined = b"".join(hashlib.md5(p).digest() for p in parts)
    return f'"{hashlib.md5(joined).hexdigest()}-{len(parts)}"'


def write_tree(root: Path, files: dict[str, bytes], mtime_s: float | None = None) -> None:
    for rel, body in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        if mtime_s is not None:
            os.utime(path, (mtime_s, mtime_s))


def read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def bucket_contents(s3, bucket: str, prefix: str) -> dict[str, dict]:
    """Every key under `prefix` (prefix removed) with its listed ETag and size."""
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            found[obj["Key"][len(prefix):]] = {"ETag": obj["ETag"], "Size": obj["Size"]}
    return found


def assert_bucket_holds(s3, bucket: str, prefix: str, files: dict[str, bytes]) -> None:
    """The bucket holds exactly `files` under `prefix`: same keys, sizes, CLI ETags and
    bytes (each object read back)."""
    listed = bucket_contents(s3, bucket, prefix)
    assert sorted(listed) == sorted(files)
    for rel, body in files.items():
        assert listed[rel] == {"ETag": expected_etag(body, CLI_PART_BYTES), "Size": len(body)}, rel
        got = s3.get_object(Bucket=bucket, Key=prefix + rel)["Body"].read()
        assert got == body, f"{rel}: {len(got)} bytes read back, {len(body)} sent"


def sync_changes_nothing(aws_cli, server, local: Path, remote: str) -> None:
    """A repeated sync finds nothing to do: sizes match and every remote LastModified is
    not older than its local file."""
    again = run_aws(aws_cli, server, "s3", "sync", "--no-progress", "--delete", str(local), remote)
    assert again.stdout.strip() == "", f"a second sync copied again:\n{again.stdout}"


def test_aws_s3_sync_tree_up_down_and_delete(aws_cli, server, s3, bucket, tmp_path):
    """`aws s3 sync` copies a nested tree of empty, small and multipart-sized files up and
    back down exactly, then after local edits `sync --delete` leaves the bucket holding
    exactly the new tree; repeated syncs copy nothing."""
    only_in_mode(server, "epoll")
    files = {
        "top.txt": data(1000, 1),
        "empty.bin": b"",
        "a/big1.bin": data(9 * MIB + 1, 2),
        "a/b/big2.bin": data(17 * MIB + 3, 3),
        "a/b/c/deep.bin": data(100_000, 4),
        "a/b/empty2": b"",
        "dir with spaces/ünïcode file.txt": data(5000, 5),
    }
    local, remote, prefix = tmp_path / "tree", f"s3://{bucket}/tree/", "tree/"
    # An hour old, so no local file can look newer than its upload (sync compares times).
    write_tree(local, files, mtime_s=time.time() - HOUR_S)
    run_aws(aws_cli, server, "s3", "sync", "--only-show-errors", str(local), remote)
    assert_bucket_holds(s3, bucket, prefix, files)
    sync_changes_nothing(aws_cli, server, local, remote)

    down = tmp_path / "down"
    run_aws(aws_cli, server, "s3", "sync", "--only-show-errors", remote, str(down))
    assert read_tree(down) == files

    changed = {
        "top.txt": data(1000, 6),          # same size, newer: sync goes by the time
        "a/big1.bin": data(12 * MIB, 7),   # new size, still multipart
        "new/n.bin": data(9 * MIB, 8),
        "a/new-small.txt": b"fresh",
    }
    for gone in ("a/b/c/deep.bin", "empty.bin"):
        (local / gone).unlink()
        del files[gone]
    write_tree(local, changed)
    files.update(changed)
    run_aws(aws_cli, server, "s3", "sync", "--only-show-errors", "--delete", str(local), remote)
    assert_bucket_holds(s3, bucket, prefix, files)
    sync_changes_nothing(aws_cli, server, local, remote)


# ---- rclone --------------------------------------------------------------------------------

RCLONE_PART_BYTES = 5 * MIB


def rclone(server, tmp_path: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Runs rclone with a remote `shoal:` configured from the environment only."""
    binary = shutil.which("rclone")
    if binary is None:
        pytest.skip("rclone is not installed (CI installs the Debian package `rclone`)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RCLONE_"))}
    env.update(
        RCLONE_CONFIG=str(tmp_path / "rclone.conf"),  # never the developer's config
        RCLONE_CONFIG_SHOAL_TYPE="s3",
        RCLONE_CONFIG_SHOAL_PROVIDER="Other",
        RCLONE_CONFIG_SHOAL_ENDPOINT=server.endpoint,
        RCLONE_CONFIG_SHOAL_ACCESS_KEY_ID=server.access_key,
        RCLONE_CONFIG_SHOAL_SECRET_ACCESS_KEY=server.secret_key,
        RCLONE_CONFIG_SHOAL_REGION="us-east-1",
        RCLONE_CONFIG_SHOAL_FORCE_PATH_STYLE="true",
    )
    tls = ["--ca-cert", server.cert_path] if server.cert_path else []
    result = subprocess.run([binary, *tls, "--retries", "1", "--low-level-retries", "1", *args],
                            env=env, capture_output=True, text=True, timeout=180)
    if check:
        assert result.returncode == 0, (
            f"rclone {' '.join(args)} exited {result.returncode}\n"
            f"stdout: {result.stdout}\nstderr: {result.stderr}")
    return result


def test_rclone_copy_and_check(server, s3, bucket, tmp_path):
    """rclone copies a tree up (files over its 5 MiB cut-off as multipart uploads of 5 MiB
    chunks), `rclone check` passes on hashes and on downloaded bytes, and fails naming the
    file once a remote object's bytes are changed."""
    only_in_mode(server, "https")
    files = {
        "big.bin": data(12 * MIB + 5, 11),
        "sub/edge.bin": data(RCLONE_PART_BYTES + 1, 12),
        "sub/deeper/small.txt": data(777, 13),
        "sub/empty": b"",
    }
    local, remote = tmp_path / "tree", f"shoal:{bucket}/r"
    write_tree(local, files)
    cutoff = ["--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M"]
    rclone(server, tmp_path, "copy", *cutoff, str(local), remote)

    listed = bucket_contents(s3, bucket, "r/")
    assert sorted(listed) == sorted(files)
    assert listed["big.bin"]["ETag"] == expected_etag(files["big.bin"], RCLONE_PART_BYTES)
    assert listed["big.bin"]["ETag"].endswith('-3"'), "rclone did not upload big.bin in parts"
    assert listed["sub/edge.bin"]["ETag"].endswith('-2"'), listed["sub/edge.bin"]

    rclone(server, tmp_path, "check", str(local), remote)
    rclone(server, tmp_path, "check", "--download", str(local), remote)

    altered = bytearray(files["big.bin"])
    altered[7 * MIB] ^= 0xFF
    s3.put_object(Bucket=bucket, Key="r/big.bin", Body=bytes(altered))
    failed = rclone(server, tmp_path, "check", str(local), remote, check=False)
    assert failed.returncode != 0, f"rclone check missed the altered object:\n{failed.stderr}"
    assert "big.bin" in failed.stderr and "1 differences found" in failed.stderr, failed.stderr
