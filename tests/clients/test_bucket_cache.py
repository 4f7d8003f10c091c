"""Bucket answers cached per shard stay true across shards: the server runs with two
shards (conftest.SHARDS), each new client opens a new connection, and SO_REUSEPORT
spreads those over the shards, so warming, changing and checking on fresh connections
in a bounded loop reaches every shard with near certainty (1 - 2**-ROUNDS per shard)."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

import conftest

pytestmark = pytest.mark.above_transport

# Fresh connections per step: enough that each of two shards is hit with near certainty.
ROUNDS = 12


def error_code(call) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"]


def test_delete_bucket_seen_by_every_shard(server):
    """After DeleteBucket answers, a PUT or GET into the bucket on any shard gets
    NoSuchBucket, even on shards that had just found the bucket (and cached it)."""
    assert conftest.SHARDS >= 2
    name = f"cache-del-{uuid.uuid4().hex[:12]}"
    server.client().create_bucket(Bucket=name)
    for i in range(ROUNDS):
        fresh = server.client()
        fresh.put_object(Bucket=name, Key=f"warm{i}", Body=b"x")
        fresh.delete_object(Bucket=name, Key=f"warm{i}")
    server.client().delete_bucket(Bucket=name)
    for i in range(ROUNDS):
        fresh = server.client()
        code = error_code(lambda: fresh.put_object(Bucket=name, Key=f"late{i}", Body=b"x"))
        assert code == "NoSuchBucket", f"PUT round {i}: {code}"
        code = error_code(lambda: fresh.get_object(Bucket=name, Key=f"late{i}"))
        assert code == "NoSuchBucket", f"GET round {i}: {code}"
    assert all(b["Name"] != name for b in server.client().list_buckets()["Buckets"])


def test_create_bucket_seen_by_every_shard(server):
    """After CreateBucket answers, every shard serves the bucket at once, even shards
    that had just answered NoSuchBucket for it (and cached that)."""
    name = f"cache-new-{uuid.uuid4().hex[:12]}"
    for i in range(ROUNDS):
        fresh = server.client()
        code = error_code(lambda: fresh.get_object(Bucket=name, Key="k"))
        assert code == "NoSuchBucket", f"round {i}: {code}"
    server.client().create_bucket(Bucket=name)
    for i in range(ROUNDS):
        fresh = server.client()
        fresh.put_object(Bucket=name, Key=f"k{i}", Body=b"v")
        listed = fresh.list_objects_v2(Bucket=name)
        assert listed["KeyCount"] == i + 1, f"round {i}: {listed['KeyCount']}"
    client = server.client()
    for i in range(ROUNDS):
        client.delete_object(Bucket=name, Key=f"k{i}")
    client.delete_bucket(Bucket=name)
