"""The fill of a replaced drive with the real binary (issue 13, item 3): one drive
folder of a stopped server emptied (a new, blank drive in its place), the server
started with --format-new-drives formats it into the deployment and fills it from the
other drives in the background, reporting true progress in `shoal admin info`; killed
with SIGKILL mid-fill, the next start resumes where the fill's record says (the count
done does not go back to 0); at the end the offline auditor finds every version
healthy on all four drives and every object reads back equal."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time

from conftest import ROOT_PASSWORD, ROOT_USER, clean_env, shoal_binary, start_server
from test_admin_sets import admin_info
from test_audit import audit
from test_heal import drive_folders

WAIT_S = 60
# The scanner paused, so what heals the new drive is the fill alone.
QUIET = ("--scan-objects-per-second", "0")
# 5 objects/s: the ~80 keys take ~16 s, so a SIGKILL lands mid-fill, after the
# fill saved its record at least once (every 10 s, and at each bucket's end).
SLOW = ("--fill-objects-per-second", "5")
PART = 5 * 1024 * 1024


def write_objects(s3) -> dict[tuple[str, str], bytes]:
    """Small (inline) objects, multi-stripe ones and a multipart one, in two buckets."""
    bodies: dict[tuple[str, str], bytes] = {}
    for bucket in ("fill-a", "fill-b"):
        s3.create_bucket(Bucket=bucket)
    for i in range(50):
        bodies[("fill-a", f"small/{i:03}")] = os.urandom(100 + i)
    for i in range(6):
        bodies[("fill-a", f"large/{i}")] = os.urandom(2 * 1024 * 1024 + 1000 * i)
    for i in range(20):
        bodies[("fill-b", f"k{i:02}")] = os.urandom(300_000 if i % 4 == 0 else 5000)
    for (bucket, key), data in bodies.items():
        s3.put_object(Bucket=bucket, Key=key, Body=data)
    parts = [os.urandom(PART), os.urandom(PART), os.urandom(1_000_000)]
    upload = s3.create_multipart_upload(Bucket="fill-b", Key="multi")["UploadId"]
    done = []
    for number, data in enumerate(parts, start=1):
        etag = s3.upload_part(Bucket="fill-b", Key="multi", UploadId=upload,
                              PartNumber=number, Body=data)["ETag"]
        done.append({"PartNumber": number, "ETag": etag})
    s3.complete_multipart_upload(Bucket="fill-b", Key="multi", UploadId=upload,
                                 MultipartUpload={"Parts": done})
    bodies[("fill-b", "multi")] = b"".join(parts)
    return bodies


def fills(srv) -> list[dict]:
    return json.loads(admin_info(srv, "--json"))["fills"]


def wait_fill(srv, what: str, check) -> dict:
    """Polls the one fill in `info` until `check` holds (at most WAIT_S)."""
    deadline = time.monotonic() + WAIT_S
    seen = None
    while time.monotonic() < deadline:
        now = fills(srv)
        if now:
            seen = now[0]
            if check(seen):
                return seen
        time.sleep(0.2)
    raise AssertionError(f"{what}: last seen {seen}\n{srv.process.describe()}")


def kill_9(srv) -> None:
    srv.process.proc.kill()
    srv.process.proc.wait()
    srv.process._stderr.close()


def config_set(srv, key: str, value: str) -> None:
    env = clean_env(AWS_ENDPOINT_URL=srv.endpoint, SHOAL_ROOT_USER=ROOT_USER,
                    SHOAL_ROOT_PASSWORD=ROOT_PASSWORD)
    done = subprocess.run([str(shoal_binary()), "admin", "config", "set", key, value],
                          env=env, capture_output=True, text=True, timeout=10)
    assert done.returncode == 0, done.stderr


def test_replaced_drive_is_filled_resumably_with_true_progress(tmp_path):
    """Empty drive 2, start with --format-new-drives and a slow fill: `info` counts
    every key and byte left before filling and then shows them moving; SIGKILL
    mid-fill, start again: the fill resumes from its saved count (not 0) with the same
    exact total, finishes once sped up at run time, and the drives audit healthy."""
    srv = start_server(tmp_path, "http", QUIET + SLOW)
    try:
        bodies = write_objects(srv.client())
    finally:
        assert srv.process.stop() == 0, srv.process.describe()
    total_objects = len(bodies)
    total_bytes = sum(len(b) for b in bodies.values())
    drives = drive_folders(tmp_path)
    for entry in drives[1].iterdir():
        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()

    srv = start_server(tmp_path, "http", QUIET + SLOW + ("--format-new-drives",))
    try:
        assert (drives[1] / ".shoal/fill").is_file()
        first = wait_fill(srv, "filling, past the first save",
                          lambda f: f["state"] == "filling" and f["objects_done"] >= 55)
        assert first["drive"] == str(drives[1]), first
        assert first["objects_total"] == total_objects, first
        assert first["bytes_total"] == total_bytes, first
        assert first["objects_done"] < total_objects, "the SIGKILL must land mid-fill"
        assert first["objects_per_second"] > 0 and "eta_seconds" in first, first
        text = admin_info(srv)
        assert re.search(rf"fill {re.escape(str(drives[1]))}: filling; \d+ of "
                         rf"{total_objects} object\(s\) done", text), text
        kill_9(srv)
    except BaseException:
        kill_9(srv)
        raise

    srv = start_server(tmp_path, "http", QUIET + SLOW)
    try:
        resumed = wait_fill(srv, "resumed", lambda f: f["state"] == "filling")
        # Saved at most 10 s (50 keys) before the kill, and never more than was done.
        assert 0 < resumed["objects_done"] < total_objects, (first, resumed)
        assert resumed["objects_total"] == total_objects, resumed
        assert resumed["bytes_total"] == total_bytes, resumed
        config_set(srv, "fill-objects-per-second", "1000")
        end = wait_fill(srv, "done", lambda f: f["state"] == "done")
        assert (end["objects_done"], end["objects_left"]) == (total_objects, 0), end
        assert (end["bytes_done"], end["bytes_left"]) == (total_bytes, 0), end
        assert end["objects_failed"] == 0, end
        assert any("fill of a replaced drive: done" in line
                   for line in srv.process.log_lines), srv.process.describe()
    finally:
        assert srv.process.stop() == 0, srv.process.describe()

    code, versions, summary = audit(*drives)
    assert summary["summary"] == {"healthy": total_objects, "degraded": 0,
                                  "unreadable": 0}, (code, summary)
    assert code == 0

    # Filled: a restart runs no fill, and every object reads back whole.
    srv = start_server(tmp_path, "http", QUIET)
    try:
        assert fills(srv) == []
        s3 = srv.client()
        for (bucket, key), data in bodies.items():
            assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data, key
    finally:
        assert srv.process.stop() == 0, srv.process.describe()
