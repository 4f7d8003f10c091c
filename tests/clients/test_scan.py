"""The background scanner of the real server: objects damaged on disk that no client
reads (a chunk file deleted, a metadata record removed, chunk bytes flipped) are found
and reported by its Prometheus counters (and `shoal admin info`) within a bounded time,
exactly those objects;
a healthy deployment scanned deeply reports nothing; its pace changes at run time."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time

import requests

from conftest import ROOT_PASSWORD, ROOT_USER, clean_env, shoal_binary, start_server
from test_admin_sets import admin_info
from test_drive_truth import drive_folders, part_file

BUCKET = "scanned"
# Chunks larger than the inline limit (128 KiB): the data lives in part files.
SIZE = 600_000
WAIT_S = 30
FAST_SCAN = ("--scan-objects-per-second", "2000", "--scan-cycle-pause", "1s",
             "--scan-deep-every", "0")


def scan_figures(srv) -> dict[str, float]:
    """Each `shoal_scan_*` family summed over the shards that scan."""
    text = requests.get(srv.endpoint + "/minio/v2/metrics/node", timeout=10).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("shoal_scan_"):
            series, value = line.rsplit(" ", 1)
            name = series.split("{", 1)[0]
            out[name] = out.get(name, 0.0) + float(value)
    return out


def wait_for(srv, what: str, check) -> dict[str, float]:
    """Polls the scanner's figures until `check` holds (at most WAIT_S)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        figures = scan_figures(srv)
        if check(figures):
            return figures
        assert time.monotonic() < deadline, f"{what}: {figures}\n{srv.process.describe()}"
        time.sleep(0.2)


def damaged_keys(srv) -> set[str]:
    """The keys the scanner's log lines name as damaged."""
    lines = [l for l in srv.process.log_lines if "scanner: object damaged" in l]
    return {m.group(1) for l in lines if (m := re.search(r'key="?([\w.-]+)', l))}


def test_scanner_reports_damage_nobody_reads(tmp_path):
    """With a fast, always-deep scan: cycles over healthy objects find nothing; then a
    deleted chunk file, a removed metadata record and flipped chunk bytes, on objects
    no client reads, are counted by `shoal_scan_damaged_total` within seconds, and the
    log names exactly those keys."""
    srv = start_server(tmp_path, "http", FAST_SCAN,
                       env_extra={"SHOAL_PROMETHEUS_AUTH_TYPE": "public"})
    try:
        s3 = srv.client()
        s3.create_bucket(Bucket=BUCKET)
        for i in range(8):
            s3.put_object(Bucket=BUCKET, Key=f"obj{i}", Body=os.urandom(SIZE))
        start = scan_figures(srv)
        healthy = wait_for(srv, "two deep cycles over the objects", lambda f: (
            f.get("shoal_scan_deep_cycles_total", 0) >= start.get("shoal_scan_cycles_total", 0) + 2
            and f.get("shoal_scan_objects_total", 0) >= 16))
        assert healthy["shoal_scan_damaged_total"] == 0, healthy
        assert healthy["shoal_scan_deep_read_bytes_total"] >= 8 * SIZE, healthy
        drives = drive_folders(tmp_path)
        part_file(drives[1], BUCKET, "obj3").unlink()
        (drives[0] / BUCKET / "obj5" / "_meta").unlink()
        rotten = part_file(drives[3], BUCKET, "obj6")
        data = bytearray(rotten.read_bytes())
        data[len(data) // 2] ^= 0xFF
        rotten.write_bytes(bytes(data))
        found = wait_for(srv, "the damage counted", lambda f: f["shoal_scan_damaged_total"] >= 3)
        assert found["shoal_scan_unverified_total"] == 0, found
        # `shoal admin info` tells the same story.
        info = json.loads(admin_info(srv, "--json"))["scan"]
        assert info["shards_scanning"] >= 1 and info["damaged_found"] >= 3, info
        assert info["objects_scanned"] >= 16 and info["deep_cycles_completed"] >= 2, info
        assert info["last_deep_finished_unix_s"] > time.time() - 600, info
        text = admin_info(srv)
        assert re.search(r"scanner: \d+ shard\(s\) scanning; since start \d+ object\(s\) "
                         r"checked, [1-9]\d* damaged", text), text
        deadline = time.monotonic() + WAIT_S
        while damaged_keys(srv) != {"obj3", "obj5", "obj6"} and time.monotonic() < deadline:
            time.sleep(0.2)
        assert damaged_keys(srv) == {"obj3", "obj5", "obj6"}, srv.process.describe()
    finally:
        assert srv.process.stop() == 0, srv.process.describe()


def test_scan_pace_is_a_run_time_setting(tmp_path):
    """`shoal admin config set scan-objects-per-second 0` pauses the scanner (its
    object count stops moving) and a rate brings it back."""
    srv = start_server(tmp_path, "http", FAST_SCAN,
                       env_extra={"SHOAL_PROMETHEUS_AUTH_TYPE": "public"})
    env = clean_env(AWS_ENDPOINT_URL=srv.endpoint, SHOAL_ROOT_USER=ROOT_USER,
                    SHOAL_ROOT_PASSWORD=ROOT_PASSWORD)

    def config(*args: str) -> str:
        done = subprocess.run([str(shoal_binary()), "admin", "config", *args], env=env,
                              capture_output=True, text=True, timeout=10)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    try:
        s3 = srv.client()
        s3.create_bucket(Bucket=BUCKET)
        for i in range(4):
            s3.put_object(Bucket=BUCKET, Key=f"obj{i}", Body=b"x" * 1000)
        wait_for(srv, "scanning", lambda f: f.get("shoal_scan_objects_total", 0) >= 8)
        assert config("set", "scan-objects-per-second", "0") == "scan-objects-per-second = 0"
        time.sleep(1.5)  # the object in progress, if any, finishes
        paused = scan_figures(srv)["shoal_scan_objects_total"]
        time.sleep(3)
        assert scan_figures(srv)["shoal_scan_objects_total"] == paused
        config("set", "scan-objects-per-second", "500")
        wait_for(srv, "scanning again",
                 lambda f: f["shoal_scan_objects_total"] >= paused + 4)
    finally:
        assert srv.process.stop() == 0, srv.process.describe()


def test_index_audit_rebuilds_an_index_that_misses_a_key(tmp_path):
    """One drive's listing index put back, between two clean stops, to what it was
    before a key was written: the key's records are whole on every drive (nothing for
    the object scan to find), but that drive's index lacks it. The index audit finds
    it within seconds (counted, logged, in `shoal admin info`), rebuilds that index
    from the records, and finds nothing more; listings hold every key throughout."""
    keys = [f"k{i:02}" for i in range(30)]
    srv = start_server(tmp_path, "http", FAST_SCAN,
                       env_extra={"SHOAL_PROMETHEUS_AUTH_TYPE": "public"})
    try:
        s3 = srv.client()
        s3.create_bucket(Bucket=BUCKET)
        for key in keys:
            s3.put_object(Bucket=BUCKET, Key=key, Body=b"x" * 100)
    finally:
        assert srv.process.stop() == 0, srv.process.describe()
    drive = drive_folders(tmp_path)[2]
    saved = tmp_path / "index-before-late"
    shutil.copytree(drive / ".shoal" / "index", saved)

    srv = start_server(tmp_path, "http", FAST_SCAN,
                       env_extra={"SHOAL_PROMETHEUS_AUTH_TYPE": "public"})
    try:
        srv.client().put_object(Bucket=BUCKET, Key="late", Body=b"y" * 10)
    finally:
        assert srv.process.stop() == 0, srv.process.describe()
    shutil.rmtree(drive / ".shoal" / "index")
    shutil.copytree(saved, drive / ".shoal" / "index")

    srv = start_server(tmp_path, "http", FAST_SCAN,
                       env_extra={"SHOAL_PROMETHEUS_AUTH_TYPE": "public"})
    try:
        s3 = srv.client()
        found = wait_for(srv, "the index that misses a key found",
                         lambda f: f.get("shoal_scan_index_mismatches_total", 0) >= 1)
        assert found["shoal_scan_index_mismatches_total"] == 1, found
        assert found["shoal_scan_damaged_total"] == 0, found
        lines = [l for l in srv.process.log_lines if "listing index disagrees" in l]
        assert len(lines) == 1 and "late" in lines[0] and "drive3" in lines[0], lines
        listed = s3.list_objects_v2(Bucket=BUCKET)
        assert [o["Key"] for o in listed["Contents"]] == sorted(keys + ["late"])
        # Rebuilt: later passes compare every key on every drive and find nothing.
        audited = found["shoal_scan_index_keys_total"]
        after = wait_for(srv, "two more passes over every drive", lambda f: (
            f["shoal_scan_index_keys_total"] >= audited + 2 * 4 * (len(keys) + 1)))
        assert after["shoal_scan_index_mismatches_total"] == 1, after
        info = json.loads(admin_info(srv, "--json"))["scan"]
        assert info["index_mismatches"] == 1 and info["index_keys_audited"] > 0, info
        assert re.search(r"listing indexes: since start \d+ key\(s\) compared with their "
                         r"records, 1 index\(es\) found wrong", admin_info(srv)), admin_info(srv)
    finally:
        assert srv.process.stop() == 0, srv.process.describe()
