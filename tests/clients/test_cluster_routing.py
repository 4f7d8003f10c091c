"""Owner-shard routing between nodes (DESIGN §6, issue 12 item 2), as an operator can
see it: two real `shoal server` nodes of 3 shards each, driven with boto3 through both
nodes (PUTs small and multi-stripe, GETs, a listing, deletes, a multipart upload), then
each node's `shoal_node_peer_verbs_total` says that every verb a peer sent it that
names a key, bucket, upload or lock was served by that name's owner shard, and none by
another shard (without routing, shard i of one node talks to shard i of the other, so
about two verbs in three would land on a shard that does not own their key)."""

from __future__ import annotations

import os
import random
import time
import uuid

import requests
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from clusterutil import Cluster
from conftest import REGION

MIB = 1 << 20


def scrape(cluster: Cluster, node: int) -> dict[str, float]:
    """Node `node`'s metrics, signed with the cluster's root credentials."""
    url = cluster.endpoint(node) + "/minio/v2/metrics/node"
    request = AWSRequest(method="GET", url=url)
    credentials = Credentials(cluster.env["AWS_ACCESS_KEY_ID"],
                              cluster.env["AWS_SECRET_ACCESS_KEY"])
    S3SigV4Auth(credentials, "s3", REGION).add_auth(request)
    r = requests.get(url, headers=dict(request.headers), timeout=10)
    assert r.status_code == 200, r.text
    out = {}
    for line in r.text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            out[series] = float(value)
    return out


def peer_verbs(metrics: dict[str, float], shard: str) -> float:
    """The node's `shoal_node_peer_verbs_total{shard=...}`; -1 when it has none."""
    found = [v for series, v in metrics.items()
             if series.startswith("shoal_node_peer_verbs_total{") and f'shard="{shard}"' in series]
    assert len(found) <= 1, found
    return found[0] if found else -1.0


def test_peer_verbs_reach_the_owner_shard_of_each_key(tmp_path):
    c = Cluster(tmp_path / "c", nodes=2, drives=2, shards=3)
    try:
        c.up()
        s3 = [c.client(1), c.client(2)]
        bucket = f"r-{uuid.uuid4().hex[:12]}"
        s3[0].create_bucket(Bucket=bucket)
        rng = random.Random(12)
        bodies = {}
        for i in range(30):
            size = [0, 100, 4096, 200_000, 2 * MIB + 17][i % 5]
            key = f"dir{i % 3}/key-{i}"
            bodies[key] = rng.randbytes(size)
            s3[i % 2].put_object(Bucket=bucket, Key=key, Body=bodies[key])
        for key, body in bodies.items():
            for client in s3:
                got = client.get_object(Bucket=bucket, Key=key)["Body"].read()
                assert got == body, key
        for client in s3:
            listed = client.list_objects_v2(Bucket=bucket)
            assert [o["Key"] for o in listed["Contents"]] == sorted(bodies)
        for key in sorted(bodies)[:6]:
            s3[1].delete_object(Bucket=bucket, Key=key)
        upload = s3[0].create_multipart_upload(Bucket=bucket, Key="mpu")["UploadId"]
        parts = []
        for number in (1, 2):
            body = os.urandom(5 * MIB) if number == 1 else b"tail"
            etag = s3[number - 1].upload_part(Bucket=bucket, Key="mpu", UploadId=upload,
                                              PartNumber=number, Body=body)["ETag"]
            parts.append({"PartNumber": number, "ETag": etag})
        s3[1].complete_multipart_upload(Bucket=bucket, Key="mpu", UploadId=upload,
                                        MultipartUpload={"Parts": parts})
        assert s3[1].head_object(Bucket=bucket, Key="mpu")["ContentLength"] == 5 * MIB + 4

        time.sleep(2.5)  # each shard publishes its counters once a second
        for node in (1, 2):
            metrics = scrape(c, node)
            owner, other = peer_verbs(metrics, "owner"), peer_verbs(metrics, "other")
            assert owner >= 60, (node, owner, other, c.describe())
            assert other == 0, (
                f"node {node} served {other:.0f} peer verbs on a shard that does not own "
                f"what they name ({owner:.0f} on the owner)")
            assert peer_verbs(metrics, "any") > 0, "staging verbs name nothing"
    finally:
        c.down()
