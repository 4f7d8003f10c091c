"""A cluster of real `shoal server` processes for the cluster tests, run through
scripts/cluster.sh exactly as a user runs it (up, stop-node, start-node, down), plus
what only a test does to a node: kill -9, SIGSTOP/SIGCONT, and a network partition.

A partition cuts a node off from its peers while clients still reach it (the case
where a minority node could serve stale data): each node runs in a cgroup of its own
(a wrapper script joins it before exec'ing the server, so every socket the node ever
opens belongs to it), and an iptables chain of ours drops, on loopback, what one
node's sockets send to the others' port and what theirs send to it. Needs root,
a writable cgroup v2 hierarchy and iptables with the cgroup match; `partition_support`
says why not otherwise. Rules and cgroups are removed in `finally` blocks.

Invariants: only processes whose pids cluster.sh wrote are signalled; every wait is
bounded in time.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests
from botocore.config import Config

from conftest import REGION, REPO_ROOT, clean_env, new_s3_client, shoal_binary

CLUSTER_SH = REPO_ROOT / "scripts" / "cluster.sh"
# Bounds on the script's commands: `up` waits itself (--wait-s), stop-node at most 25 s.
SCRIPT_TIMEOUT_S = 150
# What a binary from before cluster mode says when given the cluster form.
NOT_SERVED = "serving a cluster is not implemented yet"


def free_cluster_port(nodes: int) -> int:
    """A port free on each of 127.0.0.1..nodes (the nodes share it)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if all(_bindable(f"127.0.0.{i}", port) for i in range(2, nodes + 1)):
            return port
    raise AssertionError("no port free on every loopback address after 50 tries")


def _bindable(host: str, port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
            return True
        except OSError:
            return False


def cgroup2_root() -> Path | None:
    """Where the cgroup v2 hierarchy is mounted (alone, or beside v1 as `unified`)."""
    for line in Path("/proc/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) > 2 and fields[2] == "cgroup2":
            return Path(fields[1])
    return None


def partition_support() -> str | None:
    """None when partitions can be made here, else the reason they cannot."""
    if os.geteuid() != 0:
        return "partitions need root (iptables rules on lo, cgroups)"
    if shutil.which("iptables") is None:
        return "iptables is not installed (scripts/deps.sh installs it)"
    if cgroup2_root() is None:
        return "no cgroup v2 hierarchy to tell nodes' sockets apart"
    probe = subprocess.run(["iptables", "-w", "5", "-S", "OUTPUT"], capture_output=True, text=True,
                           timeout=30)
    if probe.returncode != 0:
        return f"iptables is unusable here: {probe.stderr.strip()}"
    return None


class Cluster:
    """The cluster in `folder`, driven through scripts/cluster.sh."""

    def __init__(self, folder: Path, nodes: int = 4, drives: int = 4, shards: int = 1,
                 server_args: tuple[str, ...] = (), cgroups: bool = False):
        self.folder = folder
        self.nodes = nodes
        self.drives = drives
        self.shards = shards
        self.server_args = server_args
        self.port = free_cluster_port(nodes)
        self.cgroup: Path | None = None
        self.binary = str(shoal_binary())
        if cgroups:
            self.cgroup = cgroup2_root() / f"shoal-test-{uuid.uuid4().hex[:10]}"
            self.binary = str(self._cgroup_wrapper())
        self.env: dict[str, str] = {}

    # ---- the script --------------------------------------------------------------

    def script(self, *args: str, check: bool = True, timeout_s: float = SCRIPT_TIMEOUT_S):
        """Runs scripts/cluster.sh with this cluster's binary; returns the result."""
        env = clean_env(SHOAL_BIN=self.binary)
        result = subprocess.run([str(CLUSTER_SH), *args], capture_output=True, text=True,
                                env=env, timeout=timeout_s)
        if check:
            assert result.returncode == 0, (
                f"cluster.sh {' '.join(args)} exited {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}\n{self.describe()}")
        return result

    def up(self, wait_s: int = 90) -> None:
        args = ["up", str(self.folder), "--nodes", str(self.nodes), "--drives", str(self.drives),
                "--base-port", str(self.port), "--shards", str(self.shards),
                "--wait-s", str(wait_s)]
        if self.server_args:
            args += ["--", *self.server_args]
        result = self.script(*args, check=False, timeout_s=wait_s + 60)
        if result.returncode != 0 and NOT_SERVED in self.log(1):
            pytest.skip(f"this shoal binary does not serve clusters: {NOT_SERVED}")
        assert result.returncode == 0, (
            f"cluster.sh up exited {result.returncode}\nstdout:\n{result.stdout}\n"
            f"stderr:\n{result.stderr}\n{self.describe()}")
        self.env = read_env(self.folder / "env")

    def stop_node(self, i: int) -> None:
        self.script("stop-node", str(self.folder), str(i))

    def start_node(self, i: int, *extra_args: str) -> None:
        """Starts node I again; `extra_args` go to its server for this start only."""
        extra = ("--", *extra_args) if extra_args else ()
        self.script("start-node", str(self.folder), str(i), *extra)

    def down(self) -> None:
        """Stops every node; the cgroups go with them."""
        try:
            self.script("down", str(self.folder), check=False)
        finally:
            self._remove_cgroups()

    # ---- what only a test does -------------------------------------------------------

    def pid(self, i: int) -> int | None:
        """Node I's pid from the file cluster.sh wrote, when that process still runs."""
        path = self.folder / f"n{i}.pid"
        if not path.exists():
            return None
        pid = int(path.read_text())
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0]
        except (OSError, IndexError):
            return None
        return None if state == "Z" else pid

    def kill9(self, i: int) -> None:
        """SIGKILL to node I; returns once the process is gone."""
        pid = self.pid(i)
        assert pid is not None, f"node {i} is not running\n{self.describe()}"
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while self.pid(i) is not None:
            assert time.monotonic() < deadline, f"node {i} (pid {pid}) survived SIGKILL for 10 s"
            time.sleep(0.05)

    def pause(self, i: int) -> None:
        os.kill(self._running_pid(i), signal.SIGSTOP)

    def resume(self, i: int) -> None:
        os.kill(self._running_pid(i), signal.SIGCONT)

    def _running_pid(self, i: int) -> int:
        pid = self.pid(i)
        assert pid is not None, f"node {i} is not running\n{self.describe()}"
        return pid

    # ---- clients --------------------------------------------------------------------

    def endpoint(self, i: int) -> str:
        return f"http://127.0.0.{i}:{self.port}"

    def client(self, i: int, read_timeout_s: float = 30, attempts: int = 1):
        """A boto3 client for node I with the credentials of DIR/env; no retries unless
        asked, so each call is one request the test can judge."""
        config = Config(retries={"total_max_attempts": attempts}, connect_timeout=5,
                        read_timeout=read_timeout_s, max_pool_connections=16)
        return new_s3_client(
            endpoint_url=self.endpoint(i), region_name=REGION,
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"], config=config)

    def health(self, i: int, path: str = "/minio/health/cluster") -> int:
        """The status node I answers on a health path, 0 when it does not answer."""
        try:
            return requests.get(self.endpoint(i) + path, timeout=3).status_code
        except requests.RequestException:
            return 0

    def wait_health(self, i: int, status: int, within_s: float,
                    path: str = "/minio/health/cluster") -> float:
        """Seconds until node I answers `status` on `path`; fails after `within_s`."""
        started = time.monotonic()
        while (got := self.health(i, path)) != status:
            waited = time.monotonic() - started
            assert waited < within_s, (
                f"node {i} still answers {got} on {path} after {waited:.1f}s, not {status}\n"
                f"{self.describe()}")
            time.sleep(0.2)
        return time.monotonic() - started

    def log(self, i: int) -> str:
        path = self.folder / f"n{i}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def describe(self, lines: int = 25) -> str:
        parts = []
        for i in range(1, self.nodes + 1):
            tail = "\n".join(self.log(i).splitlines()[-lines:])
            parts.append(f"--- node {i} (pid {self.pid(i)}) last lines of n{i}.log ---\n{tail}")
        return "\n".join(parts)

    # ---- partitions -------------------------------------------------------------------

    def _cgroup_wrapper(self) -> Path:
        """A SHOAL_BIN that moves `shoal server` into its node's cgroup, then execs it."""
        assert self.cgroup is not None
        self.cgroup.mkdir()
        for i in range(1, self.nodes + 1):
            (self.cgroup / f"n{i}").mkdir()
        wrapper = self.folder.parent / f"{self.folder.name}-shoal-in-cgroup.sh"
        real = str(shoal_binary())
        wrapper.write_text(
            "#!/bin/sh\n"
            "# Test wrapper (clusterutil.py): `shoal server` joins the cgroup of its node,\n"
            "# named by --address 127.0.0.I:PORT, so partitions can match its sockets.\n"
            'if [ "$1" = server ]; then\n'
            '    prev=""\n'
            '    for arg in "$@"; do\n'
            '        [ "$prev" = --address ] && node="${arg#127.0.0.}" && node="${node%%:*}"\n'
            '        prev="$arg"\n'
            "    done\n"
            f'    echo $$ > "{self.cgroup}/n$node/cgroup.procs" || exit 97\n'
            "fi\n"
            f'exec "{real}" "$@"\n')
        wrapper.chmod(0o755)
        return wrapper

    def _remove_cgroups(self) -> None:
        if self.cgroup is None or not self.cgroup.exists():
            return
        for i in range(1, self.nodes + 1):
            leaf = self.cgroup / f"n{i}"
            deadline = time.monotonic() + 10
            while leaf.exists():
                try:
                    leaf.rmdir()
                except OSError:  # a process still exiting holds it
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
        self.cgroup.rmdir()

    def partition(self, i: int) -> Partition:
        """Node I's partition from the other nodes: `cut()` / `join()`, or a context."""
        assert self.cgroup is not None, "make the Cluster with cgroups=True to partition it"
        return Partition(self, i)


class Partition:
    """iptables rules in a chain of our own, jumped to from OUTPUT on lo: sockets of
    node I's cgroup may not send to the other nodes' port, the other nodes' sockets not
    to node I's. Clients (this test process) are in neither cgroup and still reach every
    node. Exiting the context removes the chain and the jump, whatever happened."""

    def __init__(self, cluster: Cluster, i: int):
        self.cluster = cluster
        self.node = i
        self.chain = f"SHOAL-{uuid.uuid4().hex[:8]}"
        self.active = False

    def _rules(self) -> list[list[str]]:
        c = self.cluster
        cgroup = c.cgroup.relative_to(cgroup2_root())
        rules = []
        for j in range(1, c.nodes + 1):
            if j == self.node:
                continue
            rules.append(["-m", "cgroup", "--path", f"{cgroup}/n{self.node}",
                          "-d", f"127.0.0.{j}", "-p", "tcp", "--dport", str(c.port)])
            rules.append(["-m", "cgroup", "--path", f"{cgroup}/n{j}",
                          "-d", f"127.0.0.{self.node}", "-p", "tcp", "--dport", str(c.port)])
        return rules

    def cut(self) -> None:
        """Adds the rules; on any failure, removes what was added."""
        assert not self.active, "already cut"
        iptables("-N", self.chain)
        self.active = True
        try:
            for rule in self._rules():
                iptables("-A", self.chain, *rule, "-j", "DROP")
            iptables("-I", "OUTPUT", "-o", "lo", "-j", self.chain)
        except BaseException:
            self.join()
            raise

    def join(self) -> None:
        """Removes the jump and the chain; does nothing when not cut."""
        if not self.active:
            return
        iptables("-D", "OUTPUT", "-o", "lo", "-j", self.chain, check=False)
        iptables("-F", self.chain, check=False)
        iptables("-X", self.chain, check=False)
        self.active = False

    def __enter__(self) -> Partition:
        self.cut()
        return self

    def __exit__(self, *exc) -> None:
        self.join()


def iptables(*args: str, check: bool = True) -> None:
    result = subprocess.run(["iptables", "-w", "5", *args], capture_output=True, text=True,
                            timeout=30)
    if check:
        assert result.returncode == 0, f"iptables {' '.join(args)}: {result.stderr}"


def read_env(path: Path) -> dict[str, str]:
    """The variables of DIR/env, read as a shell reads them (by sourcing it)."""
    out = subprocess.run(["bash", "-c", f'. "{path}" && env -0'], capture_output=True,
                         check=True, timeout=30, env={"PATH": os.environ.get("PATH", "")})
    pairs = (item.split("=", 1) for item in out.stdout.decode().split("\0") if "=" in item)
    return {k: v for k, v in pairs if k.startswith(("AWS_", "SHOAL_"))}
