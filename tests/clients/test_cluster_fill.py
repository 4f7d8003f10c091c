"""The fill of a replaced drive in a 4-node cluster of real nodes (issue 13, item 3):
node 2 stopped, one of its drive folders emptied (a new drive in its place), node 2
started again with --format-new-drives and a slow fill. Its `admin info` tells true,
monotonic progress; a SIGKILL mid-fill and a restart resume the fill where its record
says; writes, deletes and a new bucket meanwhile are neither lost nor brought back;
every object reads back byte for byte through every node during and after; and the
offline auditor over all eight drives of the stopped cluster finds every version
healthy."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import pytest
from botocore.exceptions import ClientError

from clusterutil import Cluster
from conftest import clean_env, shoal_binary
from test_audit import audit

# The scanner paused, so what brings the new drive its objects is the fill alone.
QUIET = ("--scan-objects-per-second", "0")
# 3 objects/s over ~60 keys: ~20 s, long enough to watch it, write and read meanwhile,
# kill it and resume it (then it is sped up).
SLOW = ("--fill-objects-per-second", "3")
PART = 5 * 1024 * 1024
WAIT_S = 60
NODE = 2


def write_objects(s3) -> dict[tuple[str, str], bytes]:
    """Inline, multi-stripe and multipart objects in two buckets."""
    bodies: dict[tuple[str, str], bytes] = {}
    for bucket in ("cf-a", "cf-b"):
        s3.create_bucket(Bucket=bucket)
    for i in range(30):
        bodies[("cf-a", f"small/{i:03}")] = os.urandom(200 + i)
    for i in range(4):
        bodies[("cf-a", f"large/{i}")] = os.urandom(2 * 1024 * 1024 + 777 * i)
    for i in range(20):
        bodies[("cf-b", f"k{i:02}")] = os.urandom(300_000 if i % 5 == 0 else 3000)
    for (bucket, key), data in bodies.items():
        s3.put_object(Bucket=bucket, Key=key, Body=data)
    parts = [os.urandom(PART), os.urandom(1_500_000)]
    upload = s3.create_multipart_upload(Bucket="cf-b", Key="multi")["UploadId"]
    done = []
    for number, data in enumerate(parts, start=1):
        etag = s3.upload_part(Bucket="cf-b", Key="multi", UploadId=upload,
                              PartNumber=number, Body=data)["ETag"]
        done.append({"PartNumber": number, "ETag": etag})
    s3.complete_multipart_upload(Bucket="cf-b", Key="multi", UploadId=upload,
                                 MultipartUpload={"Parts": done})
    bodies[("cf-b", "multi")] = b"".join(parts)
    return bodies


def admin(c: Cluster, node: int, *args: str) -> str:
    env = clean_env(AWS_ENDPOINT_URL=c.endpoint(node),
                    AWS_ACCESS_KEY_ID=c.env["AWS_ACCESS_KEY_ID"],
                    AWS_SECRET_ACCESS_KEY=c.env["AWS_SECRET_ACCESS_KEY"])
    done = subprocess.run([str(shoal_binary()), "admin", *args], env=env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def fills(c: Cluster, node: int) -> list[dict]:
    return json.loads(admin(c, node, "info", "--json"))["fills"]


class Watch:
    """Every fill entry node NODE's `info` showed, checked as it comes: one fill, of
    the new drive; done counts that never go back (across a SIGKILL too); left equal
    to total minus done; an ETA that agrees with what is left and the rate."""

    def __init__(self, c: Cluster, drive: str):
        self.c = c
        self.drive = drive
        self.seen: list[dict] = []

    def poll(self) -> dict | None:
        now = fills(self.c, NODE)
        if not now:
            return None
        assert len(now) == 1, now
        fill = now[0]
        assert fill["drive"] == self.drive, fill
        assert fill["objects_left"] == fill["objects_total"] - fill["objects_done"], fill
        assert fill["bytes_left"] == fill["bytes_total"] - fill["bytes_done"], fill
        if self.seen:
            last = self.seen[-1]
            for field in ("objects_done", "bytes_done", "bytes_written"):
                assert fill[field] >= last[field], (field, last, fill)
        if fill["state"] == "filling" and fill["objects_per_second"] > 0:
            eta = fill.get("eta_seconds")
            assert eta is not None, fill
            by_objects = fill["objects_left"] / fill["objects_per_second"]
            if fill["bytes_per_second"] > 0:
                by_bytes = fill["bytes_left"] / fill["bytes_per_second"]
            else:
                by_bytes = by_objects
            assert min(by_objects, by_bytes) - 1 <= eta <= max(by_objects, by_bytes) + 1, fill
        self.seen.append(fill)
        return fill

    def until(self, what: str, check, within_s: float = WAIT_S) -> dict:
        deadline = time.monotonic() + within_s
        fill = None
        while time.monotonic() < deadline:
            fill = self.poll()
            if fill is not None and check(fill):
                return fill
            time.sleep(0.25)
        raise AssertionError(f"{what}: last seen {fill}\n{self.c.describe()}")


def read_all(c: Cluster, bodies: dict[tuple[str, str], bytes], nodes) -> None:
    for node in nodes:
        s3 = c.client(node)
        for (bucket, key), data in bodies.items():
            got = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            assert got == data, (node, bucket, key, len(got), len(data))


def on_drive(drive, bucket: str, key: str) -> bool:
    return (drive / bucket / key / "_meta").is_file()


def test_replaced_drive_in_a_cluster_is_filled_resumably_and_truthfully(tmp_path):
    """Node 2's drive 1 emptied and node 2 started with --format-new-drives fills the
    drive from the set's members on all nodes: `info` counts every key and byte first
    and reports done, left, rate and ETA consistently and never backwards (across a
    SIGKILL and restart, which resumes and does not start from zero); a PUT meanwhile
    lands on the new drive at once, an object deleted meanwhile stays deleted, a bucket
    made meanwhile is whole; every object reads back equal through every node during
    and after; the auditor over all 8 drives finds every version healthy."""
    folder = tmp_path / "c"
    c = Cluster(folder, nodes=4, drives=2, server_args=QUIET)
    new_drive = folder / f"n{NODE}" / "d1"
    try:
        c.up()
        s3 = c.client(1)
        bodies = write_objects(s3)
        total_objects = len(bodies)
        total_bytes = sum(len(b) for b in bodies.values())
        # A bucket the fill will find gone when it gets there.
        s3.create_bucket(Bucket="cf-z")
        s3.put_object(Bucket="cf-z", Key="z0", Body=b"doomed")

        c.stop_node(NODE)
        shutil.rmtree(new_drive)
        new_drive.mkdir()
        c.start_node(NODE, "--format-new-drives", *SLOW)
        assert (new_drive / ".shoal" / "fill").is_file()
        watch = Watch(c, str(new_drive))

        first = watch.until("filling", lambda f: f["state"] == "filling"
                            and f["objects_done"] >= 3)
        assert first["objects_total"] == total_objects + 1, first
        assert first["bytes_total"] == total_bytes + len(b"doomed"), first

        # Meanwhile: a PUT into a bucket the fill passed lands on the new drive at
        # once; a key ahead of the fill is deleted; a new bucket gets objects.
        put_key = "0-put-during-fill"
        put_body = os.urandom(1_200_000)
        c.client(3).put_object(Bucket="cf-a", Key=put_key, Body=put_body)
        assert on_drive(new_drive, "cf-a", put_key), "a PUT during the fill missed the new drive"
        # A bucket the fill has not reached yet (its record not yet on the new drive).
        c.client(1).put_object(Bucket="cf-b", Key=put_key, Body=put_body)
        assert on_drive(new_drive, "cf-b", put_key), "a PUT ahead of the fill missed the new drive"
        bodies[("cf-b", put_key)] = put_body
        deleted = ("cf-b", "k19")
        c.client(4).delete_object(Bucket=deleted[0], Key=deleted[1])
        del bodies[deleted]
        bodies[("cf-a", put_key)] = put_body
        c.client(2).delete_object(Bucket="cf-z", Key="z0")
        c.client(2).delete_bucket(Bucket="cf-z")
        c.client(1).create_bucket(Bucket="cf-c")
        for i in range(3):
            data = os.urandom(100_000 * (i + 1))
            c.client(1 + i).put_object(Bucket="cf-c", Key=f"new{i}", Body=data)
            bodies[("cf-c", f"new{i}")] = data
            assert on_drive(new_drive, "cf-c", f"new{i}")
        read_all(c, bodies, nodes=(2, 3))

        # Past at least one save of the record (every second), then SIGKILL.
        before = watch.until("mid-fill", lambda f: f["objects_done"] >= 15)
        assert before["objects_done"] < total_objects, "the SIGKILL must land mid-fill"
        assert before["objects_per_second"] > 0 and "eta_seconds" in before, before
        time.sleep(1.5)
        before = watch.poll()
        assert before is not None and before["state"] == "filling", before
        c.kill9(NODE)
        c.start_node(NODE, *SLOW)
        resumed = watch.until("resumed", lambda f: f["state"] == "filling")
        assert 0 < resumed["objects_done"] < total_objects, (before, resumed)
        # Counted again from the saved place: less the key deleted ahead of it, plus
        # the PUT ahead of it and the bucket made meanwhile (their keys were whole
        # already; healing them is a no-op, but they are the set's keys).
        assert resumed["objects_total"] == total_objects - 1 + 3 + 1, resumed
        read_all(c, bodies, nodes=(2, 4))

        admin(c, NODE, "config", "set", "fill-objects-per-second", "1000")
        end = watch.until("done", lambda f: f["state"] == "done")
        assert (end["objects_left"], end["bytes_left"]) == (0, 0), end
        assert end["objects_failed"] == 0, end
        # Each key of the set once, as counted at the restart.
        assert end["objects_done"] == resumed["objects_total"], (resumed, end)
        assert "fill of a replaced drive: done" in c.log(NODE), c.describe()
        read_all(c, bodies, nodes=(1, 2, 3, 4))
        with pytest.raises(ClientError) as gone:
            c.client(NODE).head_object(Bucket=deleted[0], Key=deleted[1])
        assert gone.value.response["Error"]["Code"] in ("404", "NoSuchKey"), gone.value.response
        for node in (1, NODE):
            names = {b["Name"] for b in c.client(node).list_buckets()["Buckets"]}
            assert names == {"cf-a", "cf-b", "cf-c"}, (node, names)

        # Filled: a restart runs no fill.
        c.stop_node(NODE)
        c.start_node(NODE)
        assert fills(c, NODE) == []
    finally:
        c.down()

    drives = sorted(folder.glob("n*/d*"))
    assert len(drives) == 8, drives
    code, versions, summary = audit(*drives)
    found = [(v["bucket"], v["key"]) for v in versions]
    assert len(found) == len(set(found)) and set(found) == set(bodies), sorted(found)
    assert code == 0 and {v["state"] for v in versions} == {"healthy"}, (versions, summary)
    full = {v["chunks_total"] for v in versions}
    assert all(v["chunks_ok"] == v["chunks_total"] for v in versions), full


def test_fill_waits_while_its_peers_are_down_and_never_ends_early(tmp_path):
    """A 4-node cluster of one drive per node (one set, 2+2): node 2's drive replaced
    and filling slowly, then every other node killed. The new drive's own walk answers
    at once and holds nothing; a fill that believed it would skip every key left and
    call itself done; one that gave up on each key no quorum can decide would count
    them all failed. It waits instead, saying so (state `waiting`, no rate, no ETA),
    and once the peers are back it fills the rest with none failed: every object
    reads back equal and the auditor finds all four drives healthy."""
    folder = tmp_path / "c"
    c = Cluster(folder, nodes=4, drives=1, server_args=QUIET)
    new_drive = folder / f"n{NODE}" / "d1"
    peers = (1, 3, 4)
    try:
        c.up()
        s3 = c.client(1)
        bodies = {}
        for bucket in ("cw-a", "cw-b"):
            s3.create_bucket(Bucket=bucket)
            for i in range(20):
                data = os.urandom(1500 + 100 * i if i % 3 else 1_100_000)
                s3.put_object(Bucket=bucket, Key=f"k{i:02}", Body=data)
                bodies[(bucket, f"k{i:02}")] = data
        c.stop_node(NODE)
        shutil.rmtree(new_drive)
        new_drive.mkdir()
        c.start_node(NODE, "--format-new-drives", *SLOW)
        watch = Watch(c, str(new_drive))
        watch.until("filling", lambda f: f["state"] == "filling" and f["objects_done"] >= 6)

        for peer in peers:
            c.kill9(peer)
        alone = watch.until("waiting without its peers", lambda f: f["state"] == "waiting",
                            within_s=20)
        time.sleep(4)
        still = watch.poll()
        assert still is not None and still["state"] == "waiting", still
        assert still["objects_done"] < len(bodies), (alone, still)
        # Nothing moves: no rate, no ETA (not the last rate's).
        assert still["objects_per_second"] == 0 and "eta_seconds" not in still, still
        assert (new_drive / ".shoal" / "fill").is_file()

        for peer in peers:
            c.start_node(peer)
        admin(c, NODE, "config", "set", "fill-objects-per-second", "1000")
        end = watch.until("done", lambda f: f["state"] == "done")
        assert end["objects_left"] == 0, end
        assert end["objects_done"] == len(bodies), end
        assert end["objects_failed"] == 0, end
        # What reads queued for healing meanwhile is drained (the scanner is paused).
        deadline = time.monotonic() + 30
        while True:
            info = json.loads(admin(c, NODE, "info", "--json"))
            if info["heal_backlog"] == 0:
                break
            assert time.monotonic() < deadline, info["heal"]
            time.sleep(0.5)
        read_all(c, bodies, nodes=(NODE, 3))
    finally:
        c.down()

    drives = sorted(folder.glob("n*/d*"))
    code, versions, summary = audit(*drives)
    assert {(v["bucket"], v["key"]) for v in versions} == set(bodies), summary
    assert code == 0 and {v["state"] for v in versions} == {"healthy"}, (versions, summary)


def test_a_replaced_node_started_with_its_peers_is_not_formatted_unasked(tmp_path):
    """The whole cluster stopped, node 2's only drive replaced by an empty one, and
    every node started at once (as after a maintenance window): node 2's peers are
    starting too, yet their drives tell it the deployment holds buckets, so its blank
    drive is not taken for a new pool's and formatted without a fill. It stays
    offline, saying why, until started with --format-new-drives; then it is filled
    and every object reads back through it."""
    folder = tmp_path / "c"
    c = Cluster(folder, nodes=4, drives=1, server_args=QUIET)
    new_drive = folder / f"n{NODE}" / "d1"
    try:
        c.up()
        s3 = c.client(1)
        s3.create_bucket(Bucket="rn-a")
        bodies = {f"k{i}": os.urandom(1000 + i) for i in range(6)}
        for key, data in bodies.items():
            s3.put_object(Bucket="rn-a", Key=key, Body=data)
        c.down()
        shutil.rmtree(new_drive)
        new_drive.mkdir()
        c.up()
        assert not (new_drive / ".shoal" / "format").exists(), c.describe()
        assert "while the deployment holds buckets" in c.log(NODE), c.describe()
        c.stop_node(NODE)
        c.start_node(NODE, "--format-new-drives")
        assert (new_drive / ".shoal" / "fill").is_file()
        deadline = time.monotonic() + WAIT_S
        while [f["state"] for f in fills(c, NODE)] != ["done"]:
            assert time.monotonic() < deadline, fills(c, NODE)
            time.sleep(0.5)
        s3 = c.client(NODE)
        for key, data in bodies.items():
            assert s3.get_object(Bucket="rn-a", Key=key)["Body"].read() == data
            assert on_drive(new_drive, "rn-a", key)
    finally:
        c.down()
