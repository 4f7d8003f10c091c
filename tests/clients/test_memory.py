"""Bounded memory for writes (issue 11, item 5) against the real server: PUTs take a
grant of the shard's memory budget (`--request-memory-per-shard-mib`) for each staging
buffer as their body fills it, so many concurrent large PUTs raise the server's peak
RSS by about the budget, not by a few MiB per PUT; a PUT that finds the budget spent
waits (up to 2 s per buffer) and is answered 503 SlowDown, which boto3 retries until
it succeeds; and every acknowledged object reads back exactly."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

import conftest
from s3util import signed_headers
from test_metrics import samples, signed_get, value

BUDGET_MIB = 16
PUT_BYTES = 8 << 20
# Concurrent boto3 uploads: unbudgeted (~5 MiB each before this change) they would
# raise RSS by far more than the bound below.
UPLOADS = 32
# One PUT staging buffer's grant with 4 drives: a 1 MiB stripe over 2 data drives,
# plus 8 KiB.
BUFFER_BYTES = (512 + 8) << 10
# Raw PUTs that send part of their body (64 KiB: one staging buffer) and hold it for
# HOLD_S while the uploads wait, then hang up. Together they hold all the budget a
# buffer can have (31 buffers of 16 MiB; what is left is less than one), so every
# upload that starts meanwhile waits its 2 s and is answered SlowDown whatever the
# machine's speed; afterwards the uploads share the whole budget.
HOLDERS = (BUDGET_MIB << 20) // BUFFER_BYTES
HOLD_S = 5.0
# How long the holders' grants may take to show in the metrics (published each second).
GRANTED_TIMEOUT_S = 30
# Peak RSS may exceed the RSS before the load by the budget plus this (connections'
# head buffers, response buffers, allocator slack).
RSS_SLACK_BYTES = 24 << 20
PHASE_TIMEOUT_S = 120


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) << 10
    raise AssertionError(f"no {field}")


def signed_put_head(srv, path: str, length: int) -> bytes:
    headers = {"Host": f"127.0.0.1:{srv.port}", "Content-Length": str(length)}
    _, signed = signed_headers(srv, "PUT", path, headers=headers, payload_hash="UNSIGNED-PAYLOAD")
    lines = [f"PUT {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in signed.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def wait_for_budget(srv, holds, what: str) -> None:
    """Waits until the node's budget use (bytes granted now) satisfies `holds`."""
    deadline = time.monotonic() + GRANTED_TIMEOUT_S
    used = 0.0
    while time.monotonic() < deadline:
        metrics = samples(signed_get(srv, "/minio/v2/metrics/node").text)
        used = value(metrics, "shoal_node_memory_budget_used_bytes")
        if holds(used):
            return
        time.sleep(0.2)
    raise AssertionError(f"budget use {used:.0f} bytes: expected {what}")


def test_concurrent_large_puts_stay_within_the_budget(tmp_path):
    """Many concurrent 8 MiB PUTs with a 16 MiB budget: peak RSS grows by at most the
    budget plus slack, PUTs that find it spent get 503 SlowDown and succeed on retry,
    every acknowledged object reads back exactly, and a PUT cut off mid-body leaves
    nothing and returns its grant."""
    srv = conftest.start_server(tmp_path, "http",
                                ("--request-memory-per-shard-mib", str(BUDGET_MIB)), shards=1)
    holders: list[socket.socket] = []
    try:
        pid = srv.process.proc.pid
        s3 = srv.client(Config(retries={"max_attempts": 1}))
        s3.create_bucket(Bucket="mem")
        warm = os.urandom(PUT_BYTES)
        s3.put_object(Bucket="mem", Key="warm", Body=warm)
        assert s3.get_object(Bucket="mem", Key="warm")["Body"].read() == warm
        time.sleep(0.5)
        rss_before = status_kib(pid, "VmRSS")

        # Holders take the budget: their bodies stop after the first 64 KiB.
        held_start = os.urandom(64 << 10)
        for i in range(HOLDERS):
            sock = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
            sock.sendall(signed_put_head(srv, f"/mem/held-{i}", PUT_BYTES) + held_start)
            holders.append(sock)
        wait_for_budget(srv, lambda used: used >= HOLDERS * BUFFER_BYTES, "the holders' grants")

        refusals: list[str] = []
        lock = threading.Lock()

        def record(response=None, **_):
            if response is not None:
                code = response[1].get("Error", {}).get("Code")
                if code:
                    with lock:
                        refusals.append(code)

        bodies = {f"up-{i}": os.urandom(PUT_BYTES) for i in range(UPLOADS)}

        def upload(key: str) -> str:
            client = srv.client(Config(retries={"max_attempts": 12, "mode": "standard"},
                                       read_timeout=60))
            client.meta.events.register("needs-retry.s3.PutObject", record)
            return client.put_object(Bucket="mem", Key=key, Body=bodies[key])["ETag"]

        with ThreadPoolExecutor(max_workers=UPLOADS) as pool:
            futures = {key: pool.submit(upload, key) for key in bodies}
            time.sleep(HOLD_S)
            for sock in holders:
                sock.close()
            etags = {key: f.result(timeout=PHASE_TIMEOUT_S) for key, f in futures.items()}
        peak = status_kib(pid, "VmHWM")

        growth = peak - rss_before
        print(f"peak RSS growth under load: {growth >> 20} MiB; refusals: {len(refusals)}")
        bound = (BUDGET_MIB << 20) + RSS_SLACK_BYTES
        assert growth <= bound, f"peak RSS grew {growth >> 20} MiB (bound {bound >> 20} MiB)"
        assert "SlowDown" in refusals, refusals
        assert set(refusals) == {"SlowDown"}, refusals

        check = srv.client(Config(retries={"max_attempts": 12, "mode": "standard"}))
        for key, body in bodies.items():
            assert etags[key] == f'"{hashlib.md5(body).hexdigest()}"', key
            got = check.get_object(Bucket="mem", Key=key)["Body"].read()
            assert got == body, key
        for i in range(HOLDERS):
            with pytest.raises(ClientError) as cut:
                check.head_object(Bucket="mem", Key=f"held-{i}")
            assert cut.value.response["Error"]["Code"] == "404", i
        wait_for_budget(srv, lambda used: used == 0, "every grant returned")
    finally:
        for sock in holders:
            sock.close()
        assert srv.process.stop() == 0, srv.process.describe()
