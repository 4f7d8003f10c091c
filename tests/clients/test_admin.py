"""`shoal admin` against a running server, as an operator runs it: `info` shows the
version and the drives; a wrong secret is a clear error and a non-zero exit; `config
set` changes what the server does (the request log turns on and off); `trace` prints a
request made while it runs; over HTTPS it trusts the given CA bundle only. Runs over
plain HTTP but for the HTTPS test."""

from __future__ import annotations

import json
import re
import subprocess
import time

import pytest

from conftest import clean_env, make_self_signed_cert, shoal_binary, start_server

TIMEOUT_S = 30


@pytest.fixture
def admin_server(tmp_path):
    srv = start_server(tmp_path, "http")
    yield srv
    assert srv.process.stop() == 0, srv.process.describe()


def admin(srv, *args: str, secret: str | None = None, check: bool = True,
          timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess:
    """Runs `shoal admin ARGS` with the server's endpoint and credentials taken from the
    environment, as the README shows."""
    env = clean_env(AWS_ENDPOINT_URL=srv.endpoint, SHOAL_ROOT_USER=srv.access_key,
                    SHOAL_ROOT_PASSWORD=secret or srv.secret_key)
    done = subprocess.run([str(shoal_binary()), "admin", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)
    if check:
        assert done.returncode == 0, f"shoal admin {' '.join(args)}: {done.returncode}\n{done.stderr}"
    return done


def test_info_shows_version_drives_and_sets(admin_server, tmp_path):
    """`info` names the version and commit, every drive online with its space, the
    set's quorums, and each shard; `--json` is the same as a document."""
    version = subprocess.run([str(shoal_binary()), "--version"], capture_output=True,
                             text=True, timeout=TIMEOUT_S).stdout.split(" ", 1)[1].strip()
    shown = admin(admin_server, "info").stdout
    assert version in shown, shown
    for i in range(1, 5):
        assert re.search(rf"drive{i}\s+online, [\d.]+ \w+ free of [\d.]+ \w+", shown), shown
    assert "set 0: 4/4 drives online, 2 data + 2 parity, read quorum 2, write quorum 3" in shown
    assert "shard 0:" in shown and "shard 1:" in shown, shown
    document = json.loads(admin(admin_server, "info", "--json").stdout)
    assert document["version"] == version
    assert [d["state"] for d in document["drives"]] == ["online"] * 4, document
    assert all(d["total_bytes"] >= d["free_bytes"] > 0 for d in document["drives"]), document
    assert document["sets"][0]["writable"] is True


def test_wrong_secret_is_refused_clearly(admin_server):
    """A wrong secret key gets the server's 403 SignatureDoesNotMatch, a hint about the
    root credentials, and a non-zero exit; no server means a connection error."""
    done = admin(admin_server, "info", secret="not-the-secret", check=False)
    assert done.returncode != 0, done.stdout
    assert "403 SignatureDoesNotMatch" in done.stderr and "root credentials" in done.stderr, \
        done.stderr
    assert done.stdout == ""
    env = clean_env(SHOAL_ROOT_USER="a", SHOAL_ROOT_PASSWORD="b")
    nobody = subprocess.run([str(shoal_binary()), "admin", "info", "--endpoint",
                             "http://127.0.0.1:9"], env=env, capture_output=True, text=True,
                            timeout=TIMEOUT_S)
    assert nobody.returncode != 0 and "cannot connect" in nobody.stderr, nobody.stderr


def request_lines(srv) -> int:
    return sum("shoal::request" in line for line in srv.process.log_lines)


def test_config_set_turns_the_request_log_on_and_off(admin_server):
    """`config set log-requests on` makes the server log each request, `off` stops it;
    an unknown key is refused by name and changes nothing."""
    s3 = admin_server.client()
    assert admin(admin_server, "config", "get").stdout.splitlines() == [
        "fill-objects-per-second = 500", "heal-bytes-per-second = 67108864",
        "log-filter = info", "log-requests = off", "scan-cycle-pause = 1m",
        "scan-deep-bytes-per-second = 16777216", "scan-deep-every = 7d",
        "scan-objects-per-second = 50"]
    s3.list_buckets()
    assert request_lines(admin_server) == 0
    assert admin(admin_server, "config", "set", "log-requests", "on").stdout.strip() == \
        "log-requests = on"
    s3.list_buckets()
    deadline = time.monotonic() + 5
    while request_lines(admin_server) == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    on = request_lines(admin_server)
    assert on >= 1, admin_server.process.stderr
    admin(admin_server, "config", "set", "log-requests", "off")
    s3.list_buckets()
    s3.list_buckets()
    time.sleep(0.5)
    # The `config set ... off` request itself may be logged; nothing after it.
    assert request_lines(admin_server) <= on + 1, admin_server.process.stderr
    refused = admin(admin_server, "config", "set", "region", "eu-west-1", check=False)
    assert refused.returncode != 0 and '"region" cannot be changed' in refused.stderr, \
        refused.stderr
    bad = admin(admin_server, "config", "set", "log-filter", "info,shoal=loud", check=False)
    assert bad.returncode != 0 and "log filter" in bad.stderr, bad.stderr
    assert admin(admin_server, "config", "get", "log-filter").stdout.strip() == "log-filter = info"


def test_trace_prints_requests_made_while_it_runs(admin_server):
    """`trace --count 1 --api PutObject` prints the PUT made while it runs (and not the
    requests of other APIs), then exits 0; `--json` prints the audit fields."""
    s3 = admin_server.client()
    s3.create_bucket(Bucket="traced")
    env = clean_env(AWS_ENDPOINT_URL=admin_server.endpoint, SHOAL_ROOT_USER=admin_server.access_key,
                    SHOAL_ROOT_PASSWORD=admin_server.secret_key)
    for args in (["--api", "PutObject"], ["--api", "PutObject", "--json"]):
        trace = subprocess.Popen([str(shoal_binary()), "admin", "trace", "--count", "1", *args],
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            # The subscription is in place once the trace request shows in info.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                document = json.loads(admin(admin_server, "info", "--json").stdout)
                if sum(s["requests_in_flight"] for s in document["shards"]) >= 1:
                    break
                time.sleep(0.2)
            s3.list_objects_v2(Bucket="traced")
            put = s3.put_object(Bucket="traced", Key="seen", Body=b"z" * 10)
            out, err = trace.communicate(timeout=TIMEOUT_S)
        finally:
            if trace.poll() is None:
                trace.kill()
                trace.wait()
        assert trace.returncode == 0, err
        lines = [line for line in out.splitlines() if line]
        assert len(lines) == 1, out
        request_id = put["ResponseMetadata"]["RequestId"]
        if "--json" in args:
            entry = json.loads(lines[0])
            assert entry["requestID"] == request_id and entry["api"]["name"] == "PutObject"
            assert entry["api"]["object"] == "seen" and entry["api"]["statusCode"] == 200
        else:
            assert request_id in lines[0] and "PutObject" in lines[0], lines[0]
            assert '"traced/seen"' in lines[0] and " 200 " in lines[0], lines[0]


def test_admin_over_https(tmp_path):
    """Against an HTTPS server, `shoal admin info` trusts the CA bundle given in
    AWS_CA_BUNDLE (the banner's own hint) and refuses a certificate it cannot verify."""
    srv = start_server(tmp_path, "https")
    try:
        env = clean_env(AWS_ENDPOINT_URL=srv.endpoint, SHOAL_ROOT_USER=srv.access_key,
                        SHOAL_ROOT_PASSWORD=srv.secret_key, AWS_CA_BUNDLE=srv.cert_path)
        shown = subprocess.run([str(shoal_binary()), "admin", "info"], env=env,
                               capture_output=True, text=True, timeout=TIMEOUT_S)
        assert shown.returncode == 0, shown.stderr
        assert "set 0: 4/4 drives online" in shown.stdout, shown.stdout
        other_ca = make_self_signed_cert(tmp_path / "other")
        env["AWS_CA_BUNDLE"] = str(other_ca)
        refused = subprocess.run([str(shoal_binary()), "admin", "info"], env=env,
                                 capture_output=True, text=True, timeout=TIMEOUT_S)
        assert refused.returncode != 0, refused.stdout
        assert "certificate" in refused.stderr.lower(), refused.stderr
    finally:
        assert srv.process.stop() == 0, srv.process.describe()
