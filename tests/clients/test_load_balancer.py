"""The shipped load balancer configurations in front of a real Shoal node, as an
operator runs them: deploy/render.py renders deploy/haproxy/haproxy.cfg and
deploy/nginx/shoal.conf for a node on a loopback port, the real haproxy / nginx binary
serves it, and boto3 talks S3 through the proxy (SigV4 over the proxy's Host, a 20 MiB
multipart upload streamed through, LIST, a presigned GET). HAProxy's health check on
/minio/health/ready takes the node out when it cannot serve (drives beyond write
quorum, or stopped) and back when it can. In front of a 4-node cluster
(scripts/cluster.sh) HAProxy spreads requests over the nodes and takes a killed node
out while S3 goes on through the others. Skipped only when the proxy's binary is
absent (scripts/deps.sh installs both)."""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from clusterutil import Cluster
from conftest import (REGION, REPO_ROOT, ROOT_PASSWORD, ROOT_USER, START_TIMEOUT_S, ServerProcess,
                      clean_env, free_port, new_s3_client)
from test_drive_truth import move_entries

RENDER = REPO_ROOT / "deploy" / "render.py"
HAPROXY = shutil.which("haproxy")
NGINX = shutil.which("nginx")
MIB = 1 << 20
# Slack on top of what a configuration promises, for a loaded test machine.
SLACK_S = 4


def render(kind: str, listen: str, servers: list[str]) -> str:
    """The shipped configuration of `kind`, rendered by deploy/render.py."""
    args = [sys.executable, str(RENDER), kind, "--listen", listen]
    for server in servers:
        args += ["--server", server]
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=30).stdout


class Node:
    """One `shoal server` on a fixed loopback port over fixed drives, so it can be
    stopped and started again as the same node."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.port = free_port()
        self.drives = [tmp / f"drive{i}" for i in range(1, 5)]
        self.process: ServerProcess | None = None

    def start(self) -> None:
        args = ["server", "--address", f"127.0.0.1:{self.port}", "--shards", "2",
                "--connections-per-client-max", "0", *map(str, self.drives)]
        env = clean_env(SHOAL_ROOT_USER=ROOT_USER, SHOAL_ROOT_PASSWORD=ROOT_PASSWORD)
        self.process = ServerProcess(args, env, cwd=self.tmp, log_dir=self.tmp / "logs")
        self.process.wait_ready(self.port)

    def stop(self) -> None:
        if self.process is not None and self.process.proc.poll() is None:
            assert self.process.stop() == 0, self.process.describe()


class Proxy:
    """A proxy process we started (and stop by its pid): its output goes to a file."""

    def __init__(self, args: list[str], tmp: Path, port: int):
        self.log_path = tmp / "proxy.log"
        self._log = open(self.log_path, "wb")
        self.port = port
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert self.proc.poll() is None, f"proxy exited at start:\n{self.log()}"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                assert time.monotonic() < deadline, f"proxy never listened:\n{self.log()}"
                time.sleep(0.05)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_log(self, pattern: str, after: int, within_s: float) -> float:
        """Seconds until `pattern` appears in the log past offset `after`."""
        started = time.monotonic()
        while not re.search(pattern, self.log()[after:]):
            waited = time.monotonic() - started
            assert waited < within_s, f"no {pattern!r} within {within_s}s:\n{self.log()[after:]}"
            time.sleep(0.1)
        return time.monotonic() - started

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def s3_client(endpoint: str, access_key: str = ROOT_USER, secret_key: str = ROOT_PASSWORD):
    """boto3 with the default configuration, pointed at the proxy."""
    return new_s3_client(
        endpoint_url=endpoint, region_name=REGION, aws_access_key_id=access_key,
        aws_secret_access_key=secret_key, config=Config(retries={"total_max_attempts": 1}))


def wait_s3(endpoint: str, within_s: float,
            credentials: tuple[str, str] = (ROOT_USER, ROOT_PASSWORD)) -> float:
    """Seconds until an S3 request through the proxy succeeds."""
    started = time.monotonic()
    s3 = s3_client(endpoint, *credentials)
    while True:
        try:
            s3.list_buckets()
            return time.monotonic() - started
        except Exception as error:  # the proxy's own 502/503 while the node is out
            waited = time.monotonic() - started
            assert waited < within_s, f"S3 through {endpoint} still failing after {waited:.1f}s: {error}"
            time.sleep(0.2)


def exercise(endpoint: str, credentials: tuple[str, str] = (ROOT_USER, ROOT_PASSWORD)
             ) -> tuple[str, str, bytes]:
    """PUT, GET, LIST, a presigned GET and a 20 MiB multipart upload through the proxy;
    returns (bucket, key, bytes) of an object to read back later."""
    s3 = s3_client(endpoint, *credentials)
    bucket = f"lb-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="small", Body=b"through the proxy")
    assert s3.get_object(Bucket=bucket, Key="small")["Body"].read() == b"through the proxy"

    big = os.urandom(20 * MIB)
    transfer = TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB)
    s3.upload_fileobj(io.BytesIO(big), bucket, "big", Config=transfer)
    head = s3.head_object(Bucket=bucket, Key="big")
    assert head["ContentLength"] == len(big)
    assert head["ETag"].strip('"').endswith("-3"), head["ETag"]
    got = s3.get_object(Bucket=bucket, Key="big")["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(big).digest()

    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["big", "small"]
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "small"})
    assert requests.get(url, timeout=30).content == b"through the proxy"
    return bucket, "small", b"through the proxy"


def haproxy_timing(config: str) -> tuple[float, int, int]:
    """(check interval in s, fall, rise) of the rendered configuration's default-server."""
    line = re.search(r"^\s*default-server\b.*$", config, re.M).group(0)
    inter = re.search(r"\binter (\d+)s\b", line)
    fall = re.search(r"\bfall (\d+)\b", line)
    rise = re.search(r"\brise (\d+)\b", line)
    assert inter and fall and rise, line
    return float(inter.group(1)), int(fall.group(1)), int(rise.group(1))


@pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed (scripts/deps.sh installs it)")
def test_haproxy_serves_s3_and_follows_the_ready_check(tmp_path):
    """Through the shipped HAProxy configuration S3 works end to end (SigV4 intact, a
    multipart upload streamed); when the node's drives fall below write quorum, or the
    node stops, HAProxy's check on /minio/health/ready marks it DOWN within its
    interval × fall and HAProxy answers 503 itself; when the node is back it is UP
    within interval × rise and serves the objects written before."""
    node = Node(tmp_path)
    node.start()
    listen = free_port()
    config = render("haproxy", f"127.0.0.1:{listen}", [f"127.0.0.1:{node.port}"])
    (tmp_path / "haproxy.cfg").write_text(config)
    inter_s, fall, rise = haproxy_timing(config)
    down_within_s = inter_s * (fall + 1) + SLACK_S
    up_within_s = inter_s * (rise + 1) + SLACK_S
    subprocess.run([HAPROXY, "-c", "-f", str(tmp_path / "haproxy.cfg")], check=True,
                   capture_output=True, timeout=30)
    proxy = Proxy([HAPROXY, "-db", "-f", str(tmp_path / "haproxy.cfg")], tmp_path, listen)
    try:
        wait_s3(proxy.endpoint, up_within_s)
        bucket, key, body = exercise(proxy.endpoint)

        # Alive but unable to take writes: only the health check can tell.
        mark = len(proxy.log())
        gone = node.drives[2:]
        for d in gone:
            move_entries(d, d.with_name(d.name + ".away"))
        try:
            waited = proxy.wait_log(r"shoal/node1 is DOWN", mark, down_within_s + 2)
            print(f"HAProxy marked the unready node DOWN after {waited:.1f}s")
            r = requests.get(f"{proxy.endpoint}/{bucket}/{key}", timeout=10)
            assert r.status_code == 503 and "No server is available" in r.text, r.text
        finally:
            for d in gone:
                move_entries(d.with_name(d.name + ".away"), d)
        mark = len(proxy.log())
        proxy.wait_log(r"shoal/node1 is UP", mark, up_within_s + 4)
        assert s3_client(proxy.endpoint).get_object(Bucket=bucket, Key=key)["Body"].read() == body

        # Stopped: down by the check, back when it starts again on the same drives.
        mark = len(proxy.log())
        node.stop()
        waited = proxy.wait_log(r"shoal/node1 is DOWN", mark, down_within_s)
        print(f"HAProxy marked the stopped node DOWN after {waited:.1f}s")
        assert requests.get(f"{proxy.endpoint}/{bucket}/{key}", timeout=10).status_code == 503
        mark = len(proxy.log())
        node.start()
        waited = proxy.wait_log(r"shoal/node1 is UP", mark, up_within_s)
        print(f"HAProxy marked the restarted node UP after {waited:.1f}s")
        assert s3_client(proxy.endpoint).get_object(Bucket=bucket, Key=key)["Body"].read() == body
    finally:
        proxy.stop()
        node.stop()


def nodes_served(log: str) -> set[str]:
    """The backend servers HAProxy's request log lines name (`shoal/nodeI`)."""
    return set(re.findall(r" shoal/(node\d+) ", log))


@pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed (scripts/deps.sh installs it)")
def test_haproxy_in_front_of_a_cluster_takes_a_killed_node_out(tmp_path):
    """The shipped HAProxy configuration rendered for a 4-node cluster (scripts/cluster.sh)
    is one S3 endpoint: requests spread over every node and objects written through one
    node read through the others; with a node killed (-9) HAProxy marks it DOWN within
    its interval × fall and S3 through the proxy goes on (PUT, GET, LIST) on the others;
    started again, the node is UP within interval × rise and serves again."""
    cluster = Cluster(tmp_path / "c", server_args=("--connections-per-client-max", "0"))
    cluster.up()
    credentials = (cluster.env["AWS_ACCESS_KEY_ID"], cluster.env["AWS_SECRET_ACCESS_KEY"])
    listen = free_port()
    nodes = [f"127.0.0.{i}:{cluster.port}" for i in range(1, cluster.nodes + 1)]
    config = render("haproxy", f"127.0.0.1:{listen}", nodes)
    (tmp_path / "haproxy.cfg").write_text(config)
    inter_s, fall, rise = haproxy_timing(config)
    proxy = None
    try:
        proxy = Proxy([HAPROXY, "-db", "-f", str(tmp_path / "haproxy.cfg")], tmp_path, listen)
        wait_s3(proxy.endpoint, inter_s * (rise + 1) + SLACK_S, credentials)
        bucket, key, body = exercise(proxy.endpoint, credentials)
        s3 = s3_client(proxy.endpoint, *credentials)
        for n in range(16):
            s3.put_object(Bucket=bucket, Key=f"spread/{n}", Body=b"%d" % n)
        served = nodes_served(proxy.log())
        assert served == {f"node{i}" for i in range(1, cluster.nodes + 1)}, served

        mark = len(proxy.log())
        cluster.kill9(3)
        waited = proxy.wait_log(r"shoal/node3 is DOWN", mark, inter_s * (fall + 1) + SLACK_S)
        print(f"HAProxy marked the killed node DOWN after {waited:.1f}s")
        mark = len(proxy.log())
        for n in range(16):
            s3.put_object(Bucket=bucket, Key=f"while-down/{n}", Body=b"d%d" % n)
            assert s3.get_object(Bucket=bucket, Key=f"spread/{n}")["Body"].read() == b"%d" % n
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
        listed = s3.list_objects_v2(Bucket=bucket, Prefix="while-down/")["KeyCount"]
        assert listed == 16, listed
        assert "node3" not in nodes_served(proxy.log()[mark:])

        mark = len(proxy.log())
        cluster.start_node(3)
        waited = proxy.wait_log(r"shoal/node3 is UP", mark, inter_s * (rise + 1) + SLACK_S + 30)
        print(f"HAProxy marked the restarted node UP after {waited:.1f}s")
        mark = len(proxy.log())
        for n in range(16):
            assert s3.get_object(Bucket=bucket, Key=f"while-down/{n}")["Body"].read() == b"d%d" % n
        assert "node3" in nodes_served(proxy.log()[mark:]), proxy.log()[mark:]
    finally:
        if proxy is not None:
            proxy.stop()
        cluster.down()


def nginx_main_config(tmp: Path, site: Path) -> Path:
    """A minimal nginx.conf that includes the rendered site file, with every path of
    its own under `tmp` (so it runs unprivileged and touches nothing of the system)."""
    temp = {name: tmp / "nginx" / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for folder in temp.values():
        folder.mkdir(parents=True, exist_ok=True)
    main = tmp / "nginx.conf"
    main.write_text(
        "worker_processes 1;\ndaemon off;\n"
        f"pid {tmp / 'nginx.pid'};\nerror_log stderr warn;\n"
        "events { worker_connections 1024; }\n"
        "http {\n    access_log off;\n"
        f"    client_body_temp_path {temp['body']};\n    proxy_temp_path {temp['proxy']};\n"
        f"    fastcgi_temp_path {temp['fastcgi']};\n    uwsgi_temp_path {temp['uwsgi']};\n"
        f"    scgi_temp_path {temp['scgi']};\n    include {site};\n}}\n"
    )
    return main


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (scripts/deps.sh installs it)")
def test_nginx_serves_s3_and_streams_through(tmp_path):
    """Through the shipped nginx configuration S3 works end to end (SigV4 over the
    client's Host with its port, a multipart upload streamed with no body limit); with
    the node stopped nginx answers 502 (open-source nginx has passive checks only),
    and once the node is back the objects written before are served."""
    node = Node(tmp_path)
    node.start()
    listen = free_port()
    site = tmp_path / "shoal.conf"
    site.write_text(render("nginx", f"127.0.0.1:{listen}", [f"127.0.0.1:{node.port}"]))
    main = nginx_main_config(tmp_path, site)
    prefix = str(tmp_path) + "/"
    subprocess.run([NGINX, "-t", "-c", str(main), "-p", prefix], check=True,
                   capture_output=True, timeout=30)
    proxy = Proxy([NGINX, "-c", str(main), "-p", prefix], tmp_path, listen)
    try:
        wait_s3(proxy.endpoint, 10)
        bucket, key, body = exercise(proxy.endpoint)
        node.stop()
        assert requests.get(f"{proxy.endpoint}/{bucket}/{key}", timeout=10).status_code == 502
        node.start()
        wait_s3(proxy.endpoint, 10)
        assert s3_client(proxy.endpoint).get_object(Bucket=bucket, Key=key)["Body"].read() == body
    finally:
        proxy.stop()
        node.stop()


def test_shipped_configs_render_and_refuse_bad_addresses(tmp_path):
    """The render step replaces exactly the tagged lines (one server line per node,
    the options of the shipped line kept) and refuses an address that could inject
    configuration; the shipped files pass the real tools' syntax checks when present."""
    servers = ["127.0.0.1:9101", "127.0.0.1:9102", "127.0.0.1:9103"]
    haproxy = render("haproxy", "127.0.0.1:9000", servers)
    lines = [line.split("#")[0].split() for line in haproxy.splitlines() if "shoal:server" in line]
    assert [w[:3] for w in lines] == [["server", f"node{i}", s] for i, s in enumerate(servers, 1)]
    assert "bind 127.0.0.1:9000" in haproxy
    nginx = render("nginx", "9000", servers)
    lines = [line.split("#")[0].strip() for line in nginx.splitlines() if "shoal:server" in line]
    assert lines == [f"server {s} max_fails=2 fail_timeout=10s;" for s in servers]
    assert re.search(r"^\s*listen 9000;", nginx, re.M)
    shipped = (REPO_ROOT / "deploy" / "nginx" / "shoal.conf").read_text()
    untagged = [line for line in shipped.splitlines() if "# shoal:" not in line]
    assert untagged == [line for line in nginx.splitlines() if "# shoal:" not in line]
    for bad in ("1.2.3.4:80;evil", "x y:1", "a:80\nserver b:1", "a:80\n"):
        result = subprocess.run([sys.executable, str(RENDER), "nginx", "--listen", "9000",
                                 "--server", bad], capture_output=True, text=True, timeout=30)
        assert result.returncode == 2 and "is not HOST:PORT" in result.stderr, result
    if HAPROXY:
        subprocess.run([HAPROXY, "-c", "-f", str(REPO_ROOT / "deploy" / "haproxy" / "haproxy.cfg")],
                       check=True, capture_output=True, timeout=30)
    if NGINX:
        main = nginx_main_config(tmp_path, REPO_ROOT / "deploy" / "nginx" / "shoal.conf")
        subprocess.run([NGINX, "-t", "-c", str(main), "-p", str(tmp_path) + "/"], check=True,
                       capture_output=True, timeout=30)
