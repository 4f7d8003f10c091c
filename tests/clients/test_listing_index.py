"""The per-drive listing index (issue 15, item 3) against the real server: listings are
exact after a clean stop (the index is saved with its marker and loaded), after kill -9
(no marker: the index is rebuilt from the records in the background, and listings walk
the records until then), and across shards (each drive's index lives on one shard; the
others reach it by message).

The model is exact: one client writes, overwrites and deletes, and every listing (all
pages, with and without the `/` delimiter) must equal what the model holds."""

from __future__ import annotations

import time
from pathlib import Path

from botocore.config import Config

from conftest import start_server

BUCKET = "idx"
SHARDS = 3
# How long a rebuild of a few hundred keys may take to show its run files.
REBUILD_TIMEOUT_S = 30
REBUILT_RUN = "run.0000000000000000"


def drives(tmp_path: Path) -> list[Path]:
    return sorted(tmp_path.glob("drive*"))


def index_dir(drive: Path) -> Path:
    return drive / ".shoal" / "index"


def listed(s3, delimiter: str | None = None, page: int = 37) -> tuple[list[str], list[str]]:
    """Every key and common prefix of the bucket, page by page (ListObjectsV2)."""
    keys: list[str] = []
    prefixes: list[str] = []
    args = {"Bucket": BUCKET, "MaxKeys": page}
    if delimiter:
        args["Delimiter"] = delimiter
    for _ in range(1000):
        out = s3.list_objects_v2(**args)
        keys += [o["Key"] for o in out.get("Contents", [])]
        prefixes += [p["Prefix"] for p in out.get("CommonPrefixes", [])]
        if not out["IsTruncated"]:
            return keys, prefixes
        args["ContinuationToken"] = out["NextContinuationToken"]
    raise AssertionError("listing did not end within 1000 pages")


def check_listings(s3, model: dict[str, int], when: str) -> None:
    """Flat and delimited listings equal the model, with the sizes it holds."""
    keys, prefixes = listed(s3)
    assert keys == sorted(model), f"{when}: flat listing differs from the model"
    assert prefixes == []
    top_keys = sorted(k for k in model if "/" not in k)
    top_prefixes = sorted({k.split("/", 1)[0] + "/" for k in model if "/" in k})
    keys, prefixes = listed(s3, "/")
    assert (keys, prefixes) == (top_keys, top_prefixes), f"{when}: delimited listing differs"
    sizes = {}
    args = {"Bucket": BUCKET}
    while True:
        out = s3.list_objects_v2(**args)
        sizes.update({o["Key"]: o["Size"] for o in out.get("Contents", [])})
        if not out["IsTruncated"]:
            break
        args["ContinuationToken"] = out["NextContinuationToken"]
    assert sizes == model, f"{when}: listed sizes differ from the model"


def write_round(s3, model: dict[str, int], round_no: int) -> None:
    """Puts, overwrites and deletes a few hundred keys in folders and at the top."""
    for i in range(120):
        key = f"d{i % 6}/k{(i * 7 + round_no) % 90:03d}" if i % 5 else f"top{i % 30:02d}"
        size = (i * 13 + round_no) % 50
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x" * size)
        model[key] = size
    for key in sorted(model)[round_no::9]:
        s3.delete_object(Bucket=BUCKET, Key=key)
        del model[key]


def wait_for_rebuilt_runs(tmp_path: Path) -> None:
    """Until every drive holds the bucket's rebuilt run (a bounded while)."""
    deadline = time.monotonic() + REBUILD_TIMEOUT_S
    bucket_hex = BUCKET.encode().hex()
    while time.monotonic() < deadline:
        if all((index_dir(d) / bucket_hex / REBUILT_RUN).exists() for d in drives(tmp_path)):
            return
        time.sleep(0.1)
    raise AssertionError(f"no rebuilt index run on every drive within {REBUILD_TIMEOUT_S} s")


def test_listings_stay_exact_across_clean_and_unclean_restarts(tmp_path: Path):
    """Saved at a clean stop and loaded at start; thrown away after kill -9 and rebuilt
    from the records; every listing in between equals the model."""
    config = Config(retries={"max_attempts": 2, "mode": "standard"})
    srv = start_server(tmp_path, "http", shards=SHARDS)
    model: dict[str, int] = {}
    try:
        s3 = srv.client(config)
        s3.create_bucket(Bucket=BUCKET)
        write_round(s3, model, 0)
        check_listings(s3, model, "first run")
        assert not any((index_dir(d) / "CLEAN").exists() for d in drives(tmp_path)), \
            "a running server's index is not marked clean"
    finally:
        assert srv.process.stop() == 0
    for drive in drives(tmp_path):
        assert (index_dir(drive) / "CLEAN").exists(), f"{drive}: index not saved at the stop"

    srv = start_server(tmp_path, "http", shards=SHARDS)
    try:
        s3 = srv.client(config)
        check_listings(s3, model, "after a clean restart")
        assert not any((index_dir(d) / "CLEAN").exists() for d in drives(tmp_path)), \
            "the marker stays while the index may change"
        write_round(s3, model, 1)
        check_listings(s3, model, "after writes on the loaded index")
    finally:
        srv.process.proc.kill()
        srv.process.proc.wait()

    srv = start_server(tmp_path, "http", shards=SHARDS)
    try:
        s3 = srv.client(config)
        # Listed from the records while the index rebuilds, then from the index.
        check_listings(s3, model, "right after kill -9")
        write_round(s3, model, 2)
        wait_for_rebuilt_runs(tmp_path)
        check_listings(s3, model, "after the rebuild")
    finally:
        assert srv.process.stop() == 0

    srv = start_server(tmp_path, "http", shards=SHARDS)
    try:
        check_listings(srv.client(config), model, "after the last clean restart")
    finally:
        assert srv.process.stop() == 0
