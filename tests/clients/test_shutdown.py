"""Stopping a server under load (issue 11, two-phase shutdown): SIGTERM while many
clients write leaves no panic in the log, exits 0 within the grace, and every write
the server acknowledged is there, byte for byte, after a restart on the same drives.

Writers use keys of their own, so the model is exact: an acknowledged key must read
back as the bytes last acknowledged for it. The heavy test runs in one mode only."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import pytest
from botocore.config import Config

from conftest import start_server

MIB = 1 << 20
WRITERS = 12
# Each writer stops after this many objects or when the server stops answering.
OBJECTS_PER_WRITER_MAX = 400
LOAD_BEFORE_STOP_S = 1.5
SIZES = (0, 4096, 300_000, MIB + 17, 3 * MIB)
CLIENT = Config(retries={"max_attempts": 1, "mode": "standard"}, max_pool_connections=WRITERS,
                connect_timeout=5, read_timeout=30)


def writer(srv, bucket: str, index: int, acked: dict, stop: threading.Event) -> None:
    """Writes (and overwrites) its own keys until told to stop or refused; records
    what was acknowledged."""
    s3 = srv.client(config=CLIENT)
    for n in range(OBJECTS_PER_WRITER_MAX):
        if stop.is_set():
            return
        key = f"w{index}/k{n % 7}"
        body = os.urandom(SIZES[(index + n) % len(SIZES)])
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=body)
        except Exception:  # the server is stopping: refused or cut, never acknowledged
            return
        acked[key] = hashlib.md5(body).hexdigest()


@pytest.mark.parametrize("shards", [3])
def test_stop_under_load_loses_no_acknowledged_write(tmp_path: Path, shards: int):
    """SIGTERM in the middle of 12 writers on a 3-shard server: exit 0, no panic, and
    every acknowledged PUT reads back after a restart."""
    srv = start_server(tmp_path, "http", shards=shards)
    bucket = "stop-under-load"
    srv.client().create_bucket(Bucket=bucket)
    acked: dict[str, str] = {}
    stop = threading.Event()
    threads = [threading.Thread(target=writer, args=(srv, bucket, i, acked, stop), daemon=True)
               for i in range(WRITERS)]
    for t in threads:
        t.start()
    time.sleep(LOAD_BEFORE_STOP_S)
    started = time.monotonic()
    code = srv.process.stop()
    stop_s = time.monotonic() - started
    stop.set()
    for t in threads:
        t.join(60)
        assert not t.is_alive(), "a writer did not end within 60 s of the stop"
    log = srv.process.stderr_path.read_text(errors="replace")
    assert code == 0, f"shoal did not exit 0 on SIGTERM under load\n{log}"
    assert "panicked" not in log and "internal error" not in log, log
    assert stop_s < 20, f"stopping took {stop_s:.1f}s (grace is 10 s)"
    assert acked, "no write was acknowledged before the stop: the load never ran"

    again = start_server(tmp_path, "http", shards=shards)
    try:
        s3 = again.client()
        for key, md5 in sorted(acked.items()):
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            assert hashlib.md5(body).hexdigest() == md5, f"{key}: not the acknowledged bytes"
    finally:
        assert again.process.stop() == 0
