"""Streaming all the way: the server's memory does not grow with object size."""

from __future__ import annotations

import os
import shutil

import pytest

from conftest import start_server

MIB = 1 << 20


def peak_rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc status")


def put_and_get(client, bucket: str, key: str, path, size: int) -> None:
    with open(path, "rb") as body:
        client.put_object(Bucket=bucket, Key=key, Body=body)
    received = 0
    for chunk in client.get_object(Bucket=bucket, Key=key)["Body"].iter_chunks(MIB):
        received += len(chunk)
    assert received == size


@pytest.fixture
def lone_server(tmp_path):
    """A server of its own, so its peak memory reflects only this test."""
    srv = start_server(tmp_path, "http")
    yield srv
    assert srv.process.stop() == 0
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_memory_does_not_grow_with_object_size(lone_server, tmp_path):
    """PUT and GET of an 8 MiB and then a 96 MiB object: the server's peak resident
    memory after the big one stays within a few stripes of the small one's, and far
    below the object size (objects are never buffered whole)."""
    client = lone_server.client()
    client.create_bucket(Bucket="stream")
    pid = lone_server.process.proc.pid
    small, big = 8 * MIB, 96 * MIB
    for name, size in (("small.bin", small), ("big.bin", big)):
        with open(tmp_path / name, "wb") as out:
            out.write(os.urandom(size))
    put_and_get(client, "stream", "small", tmp_path / "small.bin", small)
    after_small = peak_rss_bytes(pid)
    put_and_get(client, "stream", "big", tmp_path / "big.bin", big)
    after_big = peak_rss_bytes(pid)
    growth = after_big - after_small
    assert growth < 16 * MIB, f"peak RSS grew {growth / MIB:.1f} MiB for a 12x bigger object"
    assert after_big < big / 2, f"peak RSS {after_big / MIB:.1f} MiB for a {big // MIB} MiB object"
