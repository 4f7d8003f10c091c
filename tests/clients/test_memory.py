"""Bounded memory for writes (issue 11, item 5) against the real server: PUTs take a
grant of the shard's memory budget (`--request-memory-per-shard-mib`) for each staging
buffer as their body fills it, so many concurrent large PUTs raise the server's peak
RSS by about the budget, not by a few MiB per PUT; a PUT that finds the budget spent
waits (up to 2 s per buffer) and is answered 503 SlowDown, which boto3 retries until
it succeeds; and every acknowledged object reads back exactly."""

from __future__ import annotations

import hashlib
import os
import select
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from botocore.config import Config

import conftest
from s3util import parse_raw_response, read_until_complete, signed_headers

BUDGET_MIB = 16
PUT_BYTES = 8 << 20
# Concurrent boto3 uploads: unbudgeted (~5 MiB each before this change) they would
# raise RSS by far more than the bound below.
UPLOADS = 32
# Raw PUTs that send part of their body (64 KiB: one staging buffer of ~520 KiB with 4
# drives) and hold it for HOLD_S while the uploads compete for the rest; when they send
# the rest they compete too, so each ends 200 or 503 SlowDown.
HOLDERS = 8
HOLD_S = 3.5
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


def finish_holder(sock: socket.socket, body: bytes, sent: int) -> int:
    """Sends the rest of a holder's body (unless it was already answered) and returns
    the response status."""
    answered, _, _ = select.select([sock], [], [], 0)
    if not answered:
        try:
            sock.sendall(body[sent:])
        except OSError:
            pass  # answered and closed meanwhile: its response is still there to read
    status, _, body = parse_raw_response(read_until_complete(sock))
    if status not in (200, 503):
        print(body[:400])
    return status


def test_concurrent_large_puts_stay_within_the_budget(tmp_path):
    """Many concurrent 8 MiB PUTs with a 16 MiB budget: peak RSS grows by at most the
    budget plus slack, excess PUTs get 503 SlowDown and succeed on retry, and every
    acknowledged object reads back exactly."""
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

        # Holders take the budget: their bodies arrive slowly (above the minimum rate).
        held_body = os.urandom(PUT_BYTES)
        for i in range(HOLDERS):
            sock = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
            sock.sendall(signed_put_head(srv, f"/mem/held-{i}", PUT_BYTES) + held_body[:64 << 10])
            holders.append(sock)

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

        with ThreadPoolExecutor(max_workers=UPLOADS + HOLDERS) as pool:
            futures = {key: pool.submit(upload, key) for key in bodies}
            time.sleep(HOLD_S)
            finishing = [pool.submit(finish_holder, sock, held_body, 64 << 10)
                         for sock in holders]
            holder_status = [f.result(timeout=PHASE_TIMEOUT_S) for f in finishing]
            etags = {key: f.result(timeout=PHASE_TIMEOUT_S) for key, f in futures.items()}
        peak = status_kib(pid, "VmHWM")

        growth = peak - rss_before
        print(f"peak RSS growth under load: {growth >> 20} MiB; refusals: {len(refusals)}")
        bound = (BUDGET_MIB << 20) + RSS_SLACK_BYTES
        assert growth <= bound, f"peak RSS grew {growth >> 20} MiB (bound {bound >> 20} MiB)"
        assert set(holder_status) <= {200, 503}, holder_status
        assert "SlowDown" in refusals, refusals
        assert set(refusals) == {"SlowDown"}, refusals

        check = srv.client(Config(retries={"max_attempts": 12, "mode": "standard"}))
        for key, body in bodies.items():
            assert etags[key] == f'"{hashlib.md5(body).hexdigest()}"', key
            got = check.get_object(Bucket="mem", Key=key)["Body"].read()
            assert got == body, key
        for i, status in enumerate(holder_status):
            if status == 200:
                got = check.get_object(Bucket="mem", Key=f"held-{i}")["Body"].read()
                assert got == held_body, i
    finally:
        for sock in holders:
            sock.close()
        assert srv.process.stop() == 0, srv.process.describe()
