"""A real Prometheus (Debian's) scrapes a real Shoal with the configuration and bearer
token `shoal admin prometheus generate` prints: the target comes up (`up == 1` through
Prometheus' HTTP API) and `minio_s3_requests_total` grows with load. Both processes
listen on 127.0.0.1, keep their data in the test's temp folder, and are stopped by PID."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from conftest import ROOT_PASSWORD, ROOT_USER, free_port, run, s3, shoal_bin, wait_for_http

WAIT_S = 60


def query(prometheus: str, expr: str) -> list:
    """The result vector of an instant query (empty while there is no data)."""
    url = f"{prometheus}/api/v1/query?query={urllib.parse.quote(expr)}"
    with urllib.request.urlopen(url, timeout=5) as response:
        answer = json.load(response)
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def wait_for(prometheus: str, expr: str, accept) -> float:
    """Polls `expr` until `accept(value)` holds (at most WAIT_S); returns the value."""
    deadline = time.monotonic() + WAIT_S
    last = None
    while time.monotonic() < deadline:
        try:
            result = query(prometheus, expr)
        except OSError:
            result = []
        if result:
            last = float(result[0]["value"][1])
            if accept(last):
                return last
        time.sleep(0.5)
    pytest.fail(f"{expr} never satisfied the check within {WAIT_S} s (last value {last})")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus is not installed")
def test_prometheus_scrapes_shoal_with_a_generated_token(tmp_path):
    """Prometheus sees the target up with the generated bearer token and the S3 request
    count growing after a burst of signed requests."""
    port, prom_port = free_port(), free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = {"PATH": "/usr/bin:/bin", "SHOAL_ROOT_USER": ROOT_USER, "SHOAL_ROOT_PASSWORD": ROOT_PASSWORD}
    drives = [str(tmp_path / f"drive{i}") for i in range(1, 5)]
    log = open(tmp_path / "shoal.log", "wb")
    server = subprocess.Popen(
        [str(shoal_bin()), "server", "--address", f"127.0.0.1:{port}", "--shards", "2", *drives],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    prometheus = None
    try:
        wait_for_http(endpoint + "/minio/health/live")
        generated = run([str(shoal_bin()), "admin", "prometheus", "generate", "--endpoint", endpoint],
                        env=env).stdout
        config = tmp_path / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n" + generated)
        run(["promtool", "check", "config", str(config)])
        prometheus = subprocess.Popen(
            ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prom_port}"],
            stdout=open(tmp_path / "prometheus.log", "wb"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        api = f"http://127.0.0.1:{prom_port}"
        wait_for(api, 'up{job="shoal-job"}', lambda v: v == 1)
        status, body = s3("PUT", endpoint + "/prom-bucket")
        assert status == 200, (status, body)
        expr = 'sum(minio_s3_requests_total{api="ListObjectsV2"}) or vector(0)'
        before = wait_for(api, expr, lambda v: True)
        for _ in range(20):
            status, _ = s3("GET", endpoint + "/prom-bucket?list-type=2")
            assert status == 200
        wait_for(api, expr, lambda v: v >= before + 20)
    finally:
        if prometheus is not None:
            stop(prometheus)
        stop(server)
        log.close()
