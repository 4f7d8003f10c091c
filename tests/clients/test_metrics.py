"""Prometheus metrics and health probes of the real server, as an operator meets them:
scraped with a SigV4 signature (botocore's signer) and with the bearer token that
`shoal admin prometheus generate` prints, refused without credentials; series that move
with load; /minio/health/ready turning 503 when drives are lost beyond write quorum.
Each test runs its own server (they count requests and damage drives)."""

from __future__ import annotations

import errno
import os
import re
import socket
import struct
import subprocess
import time
import uuid

import pytest
import requests
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import (
    REGION, ROOT_PASSWORD, ROOT_USER, ServerProcess, clean_env, free_port, shoal_binary, start_server,
)
from test_drive_truth import drive_folders, move_entries, part_file

WAIT_S = 15


def signed_get(srv, path: str) -> requests.Response:
    """GET `path` signed with SigV4 by the root credentials (botocore's S3 signer)."""
    url = srv.endpoint + path
    request = AWSRequest(method="GET", url=url)
    S3SigV4Auth(Credentials(ROOT_USER, ROOT_PASSWORD), "s3", REGION).add_auth(request)
    return requests.get(url, headers=dict(request.headers), timeout=10)


def generated_token(srv) -> str:
    """The bearer token of `shoal admin prometheus generate` for this server."""
    out = subprocess.run(
        [str(shoal_binary()), "admin", "prometheus", "generate", "--endpoint", srv.endpoint],
        env=clean_env(SHOAL_ROOT_USER=ROOT_USER, SHOAL_ROOT_PASSWORD=ROOT_PASSWORD),
        capture_output=True, text=True, timeout=10, check=True,
    ).stdout
    assert f"targets: ['127.0.0.1:{srv.port}']" in out, out
    assert "metrics_path: /minio/v2/metrics/cluster" in out, out
    return re.search(r"bearer_token: (\S+)", out).group(1)


def samples(text: str) -> dict[str, float]:
    """`series -> value` of an exposition (series with their labels, as printed)."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            out[series] = float(value)
    return out


def value(metrics: dict[str, float], name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for series, v in metrics.items():
        if series.split("{")[0] != name:
            continue
        if all(f'{k}="{val}"' in series for k, val in labels.items()):
            total += v
    return total


def scrape(srv, token: str) -> dict[str, float]:
    r = requests.get(srv.endpoint + "/minio/v2/metrics/node",
                     headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return samples(r.text)


def test_metrics_need_credentials_and_accept_sigv4_and_the_generated_token(tmp_path):
    """Anonymous, wrong-token and wrong-key scrapes get 403 AccessDenied; a SigV4
    signature or the generated token get the exposition, on both paths."""
    srv = start_server(tmp_path, "http")
    try:
        for path in ("/minio/v2/metrics/node", "/minio/v2/metrics/cluster"):
            r = requests.get(srv.endpoint + path, timeout=10)
            assert r.status_code == 403 and "<Code>AccessDenied</Code>" in r.text, r.text
            r = requests.get(srv.endpoint + path, headers={"Authorization": "Bearer abc.def.ghi"},
                             timeout=10)
            assert r.status_code == 403, r.text
            r = signed_get(srv, path)
            assert r.status_code == 200, r.text
            assert 'minio_node_drive_online_total{server="127.0.0.1:' in r.text
        token = generated_token(srv)
        metrics = scrape(srv, token)
        assert value(metrics, "minio_node_drive_total") == 4
        assert value(metrics, "minio_cluster_health_status") == 1
        assert value(metrics, "minio_software_version_info") == 1
        # A token signed with another secret is refused.
        forged = subprocess.run(
            [str(shoal_binary()), "admin", "prometheus", "generate", "--endpoint", srv.endpoint],
            env=clean_env(SHOAL_ROOT_USER=ROOT_USER, SHOAL_ROOT_PASSWORD="not-the-secret"),
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout
        bad = re.search(r"bearer_token: (\S+)", forged).group(1)
        r = requests.get(srv.endpoint + "/minio/v2/metrics/node",
                         headers={"Authorization": f"Bearer {bad}"}, timeout=10)
        assert r.status_code == 403, r.text
    finally:
        assert srv.process.stop() == 0


def test_series_move_with_load(tmp_path):
    """PUTs and GETs raise their API's request count and the traffic counters; a GET
    of a missing key counts as a 404 and a 4xx error; a bad signature as an auth
    refusal; and the reserved bucket name `minio` is refused by CreateBucket."""
    srv = start_server(tmp_path, "http")
    try:
        token = generated_token(srv)
        s3 = srv.client(Config(retries={"total_max_attempts": 1}))
        bucket = f"m-{uuid.uuid4().hex[:12]}"
        s3.create_bucket(Bucket=bucket)
        before = scrape(srv, token)
        body = b"x" * 100_000
        for i in range(5):
            s3.put_object(Bucket=bucket, Key=f"k{i}", Body=body)
        for i in range(3):
            assert s3.get_object(Bucket=bucket, Key=f"k{i}")["Body"].read() == body
        with pytest.raises(ClientError) as missing:
            s3.get_object(Bucket=bucket, Key="no-such-key")
        assert missing.value.response["Error"]["Code"] == "NoSuchKey"
        with pytest.raises(ClientError):
            srv.client(Config(retries={"total_max_attempts": 1}),
                       secret_key="wrong-secret").list_buckets()
        with pytest.raises(ClientError) as reserved:
            s3.create_bucket(Bucket="minio")
        assert reserved.value.response["Error"]["Code"] == "InvalidBucketName"
        # Shards publish their counters once a second: after that, every request is in.
        time.sleep(1.5)
        after = scrape(srv, token)
        delta = lambda name, **labels: value(after, name, **labels) - value(before, name, **labels)
        assert delta("minio_s3_requests_total", api="PutObject") == 5
        assert delta("minio_s3_requests_total", api="GetObject") == 4
        assert delta("shoal_s3_requests_status_total", api="GetObject", status="200") == 3
        assert delta("shoal_s3_requests_status_total", api="GetObject", status="404") == 1
        assert delta("minio_s3_requests_4xx_errors_total", api="GetObject") == 1
        assert delta("minio_s3_requests_rejected_auth_total") >= 1
        assert delta("minio_s3_traffic_received_bytes") >= 5 * len(body)
        assert delta("minio_s3_traffic_sent_bytes") >= 3 * len(body)
        assert delta("shoal_s3_requests_duration_seconds_count", api="PutObject") == 5
        assert value(after, "shoal_s3_requests_duration_seconds_bucket", api="PutObject", le="+Inf") \
            == value(after, "shoal_s3_requests_duration_seconds_count", api="PutObject")
        assert delta("shoal_node_shard_requests_total") >= 9
        assert value(after, "minio_node_drive_free_bytes") > 0
        timeouts = [k for k in after if k.startswith("minio_node_drive_errors_timeout{")]
        assert len(timeouts) == 4 and value(after, "minio_node_drive_errors_timeout") == 0
    finally:
        assert srv.process.stop() == 0


def test_drive_latency_has_the_verbs_a_load_used(tmp_path):
    """After PUTs and GETs of objects larger than inline, each drive has a mean latency
    above zero for the verbs they used (metadata reads, staged appends, commits, chunk
    record reads), and no I/O or availability errors."""
    srv = start_server(tmp_path, "http")
    try:
        token = generated_token(srv)
        s3 = srv.client(Config(retries={"total_max_attempts": 1}))
        s3.create_bucket(Bucket="lat")
        body = os.urandom(3 * 1024 * 1024 + 5)
        for i in range(3):
            s3.put_object(Bucket="lat", Key=f"k{i}", Body=body)
            assert s3.get_object(Bucket="lat", Key=f"k{i}")["Body"].read() == body
        time.sleep(1.5)
        metrics = scrape(srv, token)
        for drive in drive_folders(tmp_path):
            # Writes ask every drive; reads only as many as they need.
            for verb in ("StageBegin", "StageAppend", "StageFinish", "Commit"):
                series = f'minio_node_drive_latency_us{{server="127.0.0.1:{srv.port}",' \
                         f'drive="{drive}",api="{verb}"}}'
                assert metrics.get(series, 0) > 0, f"{series} missing or 0"
        assert value(metrics, "minio_node_drive_latency_us", api="ReadMeta") > 0
        assert value(metrics, "minio_node_drive_latency_us", api="ReadRecords") > 0
        assert value(metrics, "minio_node_drive_latency_us", api="OpenRecords") > 0
        assert value(metrics, "minio_node_drive_errors_ioerror") == 0
        assert value(metrics, "minio_node_drive_errors_availability") == 0
        assert value(metrics, "shoal_node_drive_bitrot_errors_total") == 0
        assert value(metrics, "minio_s3_requests_waiting_total") == 0
    finally:
        assert srv.process.stop() == 0


def flip_byte(path, offset: int) -> bytes:
    """Flips one byte of a file in place (as a failing disk would); returns the file's
    bytes before."""
    data = path.read_bytes()
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(bytes([data[offset] ^ 0xFF]))
    return data


def test_bitrot_counts_on_the_corrupted_drive_only(tmp_path):
    """A byte flipped inside a chunk record on one drive is served around (GET stays
    byte-exact) and, when that chunk is read, counted by
    shoal_node_drive_bitrot_errors_total on that drive and no other."""
    srv = start_server(tmp_path, "http")
    try:
        token = generated_token(srv)
        s3 = srv.client(Config(retries={"total_max_attempts": 1}))
        s3.create_bucket(Bucket="rot")
        body = os.urandom(3 * 1024 * 1024 + 5)
        s3.put_object(Bucket="rot", Key="k", Body=body)
        drives = drive_folders(tmp_path)
        counted = 0
        for damaged in drives:
            before = scrape(srv, token)
            path = part_file(damaged, "rot", "k")
            # Offset 100: inside stripe 0's chunk, after its 8-byte CRC.
            original = flip_byte(path, 100)
            try:
                assert s3.get_object(Bucket="rot", Key="k")["Body"].read() == body
            finally:
                path.write_bytes(original)
            time.sleep(1.5)
            after = scrape(srv, token)
            grew = {str(d): value(after, "shoal_node_drive_bitrot_errors_total", drive=str(d))
                    - value(before, "shoal_node_drive_bitrot_errors_total", drive=str(d))
                    for d in drives}
            # Only data chunks are read while they are good: a parity drive is not read.
            assert all(g == 0 for d, g in grew.items() if d != str(damaged)), grew
            assert grew[str(damaged)] in (0, 1), grew
            counted += int(grew[str(damaged)])
        assert counted == 2, "2+2: the two data-chunk drives were read and counted"
    finally:
        assert srv.process.stop() == 0


def test_a_client_leaving_mid_body_counts_as_canceled(tmp_path):
    """A client that reads a few bytes of a large GET and closes its socket is counted
    in minio_s3_requests_canceled_total for GetObject."""
    srv = start_server(tmp_path, "http")
    try:
        token = generated_token(srv)
        s3 = srv.client()
        s3.create_bucket(Bucket="cancels")
        s3.put_object(Bucket="cancels", Key="big", Body=b"z" * (16 << 20))
        url = s3.generate_presigned_url("get_object", Params={"Bucket": "cancels", "Key": "big"})
        before = value(scrape(srv, token), "minio_s3_requests_canceled_total", api="GetObject")
        target = url.split(f"127.0.0.1:{srv.port}", 1)[1]
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
            sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n\r\n".encode())
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        deadline = time.monotonic() + WAIT_S
        while True:
            canceled = value(scrape(srv, token), "minio_s3_requests_canceled_total", api="GetObject")
            if canceled > before or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert canceled == before + 1
    finally:
        assert srv.process.stop() == 0


def status_of(srv, path: str, method: str = "GET") -> int:
    return requests.request(method, srv.endpoint + path, timeout=10).status_code


def wait_for_status(srv, path: str, expected: int) -> float:
    """Seconds until `path` answered `expected` (fails after WAIT_S)."""
    started = time.monotonic()
    while status_of(srv, path) != expected:
        assert time.monotonic() - started < WAIT_S, f"{path} never answered {expected}"
        time.sleep(0.2)
    return time.monotonic() - started


def test_health_probes_follow_the_drives(tmp_path):
    """live and ready answer 200 without credentials (GET and HEAD); with 2 of 4 drives
    gone (write quorum is 3) ready answers 503 within seconds while live stays 200, and
    ready is 200 again once the drives are back."""
    srv = start_server(tmp_path, "http")
    try:
        for method in ("GET", "HEAD"):
            assert status_of(srv, "/minio/health/live", method) == 200
            assert status_of(srv, "/minio/health/ready", method) == 200
        assert status_of(srv, "/minio/health/ready?maintenance=true") == 501
        gone = drive_folders(tmp_path)[2:]
        for d in gone:
            move_entries(d, d.with_name(d.name + ".away"))
        try:
            waited = wait_for_status(srv, "/minio/health/ready", 503)
            assert waited < 10, f"ready turned 503 only after {waited:.1f}s"
            assert status_of(srv, "/minio/health/live") == 200
        finally:
            for d in gone:
                move_entries(d.with_name(d.name + ".away"), d)
        wait_for_status(srv, "/minio/health/ready", 200)
    finally:
        assert srv.process.stop() == 0


def hang_format_record(drive) -> None:
    """Makes every read of the drive's format record block: the record's name becomes a
    FIFO with no writer (as a read of a hung device would block)."""
    record = drive / ".shoal" / "format"
    os.rename(record, record.with_name("format.real"))
    os.mkfifo(record.with_name("format.fifo"))
    os.link(record.with_name("format.fifo"), record)


def release_format_record(drive) -> None:
    """Puts the real record back, then opens and closes the FIFO's write end so every
    read blocked on it returns (empty)."""
    record = drive / ".shoal" / "format"
    os.replace(record.with_name("format.real"), record)
    fifo = record.with_name("format.fifo")
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError as e:
        assert e.errno == errno.ENXIO, e  # no reader was blocked
    fifo.unlink()


def test_hung_drives_beyond_quorum_turn_ready_503(tmp_path):
    """With reads of 2 of 4 drives hanging (not failing), ready answers 503 within
    seconds and the drives report `hung`, while S3 reads of the other drives' data and
    live keep answering; once the reads return, ready is 200 again."""
    srv = start_server(tmp_path, "http")
    try:
        token = generated_token(srv)
        hung = drive_folders(tmp_path)[:2]
        for d in hung:
            hang_format_record(d)
        try:
            waited = wait_for_status(srv, "/minio/health/ready", 503)
            assert waited < 10, f"ready turned 503 only after {waited:.1f}s"
            assert status_of(srv, "/minio/health/live") == 200
            metrics = scrape(srv, token)
            assert value(metrics, "shoal_node_drive_state", state="hung") == 2
            assert value(metrics, "minio_cluster_health_status") == 0
        finally:
            for d in hung:
                release_format_record(d)
        wait_for_status(srv, "/minio/health/ready", 200)
    finally:
        assert srv.process.stop() == 0


def test_public_metrics_need_no_credentials(tmp_path):
    """With SHOAL_PROMETHEUS_AUTH_TYPE=public (MinIO's setting) an anonymous scrape gets
    the exposition; S3 itself still refuses anonymous requests."""
    port = free_port()
    drives = [str(tmp_path / f"drive{i}") for i in range(1, 5)]
    env = clean_env(SHOAL_ROOT_USER=ROOT_USER, SHOAL_ROOT_PASSWORD=ROOT_PASSWORD,
                    SHOAL_PROMETHEUS_AUTH_TYPE="public")
    process = ServerProcess(["server", "--address", f"127.0.0.1:{port}", "--shards", "1", *drives],
                            env, cwd=tmp_path, log_dir=tmp_path / "logs")
    try:
        process.wait_ready(port)
        r = requests.get(f"http://127.0.0.1:{port}/minio/v2/metrics/cluster", timeout=10)
        assert r.status_code == 200, r.text
        assert "minio_node_drive_total{" in r.text
        assert requests.get(f"http://127.0.0.1:{port}/", timeout=10).status_code == 403
    finally:
        assert process.stop() == 0
