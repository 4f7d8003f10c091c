"""scripts/cluster.sh as a user meets it when things are not right: `--help` says how to
use it; bad arguments exit 2 with a message and start nothing; an `up` whose node
cannot start (its port is taken) exits 1 naming the node with its log tail and leaves
no process behind; a DIR keeps its layout; and a pid file naming a process that is not
that node (a reused pid) is never signalled. The happy path (up, stop-node,
start-node, down with real nodes) is what test_cluster.py runs on."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from clusterutil import CLUSTER_SH, free_cluster_port
from conftest import clean_env, shoal_binary


def run(*args: str, binary: str | None = None) -> subprocess.CompletedProcess:
    env = clean_env(SHOAL_BIN=binary or str(shoal_binary()))
    return subprocess.run([str(CLUSTER_SH), *args], capture_output=True, text=True, env=env,
                          timeout=120)


def processes_naming(folder: Path) -> list[int]:
    """Pids of live processes whose command line mentions `folder`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(") ", 1)[1][0]
        except (OSError, IndexError):
            continue
        if str(folder) in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def test_help_names_every_command():
    """`--help` exits 0 and shows each command and the defaults."""
    result = run("--help")
    assert result.returncode == 0, result.stderr
    for word in ("up DIR", "stop-node DIR I", "start-node DIR I", "down DIR", "status DIR",
                 "--nodes N", "--drives D", "--base-port P", "--shards S", "9101"):
        assert word in result.stdout, (word, result.stdout)


@pytest.mark.parametrize("args, message", [
    ([], "no command given"),
    (["launch"], "unknown command 'launch'"),
    (["up", "{dir}", "--nodes", "0"], "--nodes must be a number from 1 to 254, not '0'"),
    (["up", "{dir}", "--nodes", "255"], "--nodes must be a number from 1 to 254"),
    (["up", "{dir}", "--drives", "four"], "--drives must be a number from 1 to 64, not 'four'"),
    (["up", "{dir}", "--base-port", "70000"], "--base-port must be a number from 1 to 65535"),
    (["up", "{dir}", "--shards", "-1"], "--shards must be a number"),
    (["up", "{dir}", "--nodes"], "--nodes needs a value"),
    (["up", "{dir}", "--color"], "up: unknown argument '--color'"),
    (["up", "{dir}/has space"], "use a folder path of letters, digits"),
    (["stop-node", "{dir}", "1"], "has no cluster.conf"),
    (["start-node", "{dir}"], "start-node takes DIR and a node number"),
    (["start-node", "{dir}", "1", "--format-new-drives"],
     "start-node: unknown argument '--format-new-drives'"),
    (["down"], "down takes DIR"),
    (["status", "{dir}/missing"], "is not a folder"),
])
def test_bad_arguments_exit_2_and_start_nothing(tmp_path, args, message):
    """Each bad command line exits 2 with a message saying what is wrong, and leaves no
    process and no pid file."""
    folder = tmp_path / "c"
    folder.mkdir()
    result = run(*(a.replace("{dir}", str(folder)) for a in args))
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert message in result.stderr, result.stderr
    assert "usage: scripts/cluster.sh" in result.stderr
    assert not list(folder.rglob("*.pid"))
    assert processes_naming(folder) == []


def test_a_missing_binary_is_a_usage_error(tmp_path):
    """SHOAL_BIN naming no executable exits 2 before anything starts."""
    result = run("up", str(tmp_path), binary=str(tmp_path / "no-such-shoal"))
    assert result.returncode == 2 and "is not an executable file" in result.stderr, result


def test_up_that_cannot_start_a_node_fails_and_leaves_nothing(tmp_path):
    """With node 1's address taken by another listener, `up` exits 1 within its wait,
    names node 1 and shows its log tail, and stops every node it started; the DIR then
    keeps its layout (a different --nodes is refused) and `status` / `down` work on it."""
    folder = tmp_path / "c"
    port = free_cluster_port(4)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        started = time.monotonic()
        result = run("up", str(folder), "--base-port", str(port), "--wait-s", "30")
        took_s = time.monotonic() - started
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "node 1" in result.stderr and f"--- last lines of {folder}/n1.log ---" in result.stderr
    assert took_s < 30 + 25 + 10, f"up took {took_s:.0f}s"
    assert processes_naming(folder) == [], "up left nodes running"
    assert not list(folder.glob("n*.pid"))

    refused = run("up", str(folder), "--nodes", "3")
    assert refused.returncode == 2 and "was made with nodes=4, not 3" in refused.stderr, refused
    status = run("status", str(folder))
    assert status.returncode == 0 and status.stdout.count("not running") == 4, status
    down = run("down", str(folder))
    assert down.returncode == 0 and down.stdout.count("not running") == 4, down


def test_a_pid_file_naming_another_process_is_never_signalled(tmp_path):
    """A pid file whose pid now belongs to some other process (a reused pid) is treated
    as stale: `stop-node` and `down` leave that process alone and remove the file."""
    folder = tmp_path / "c"
    port = free_cluster_port(4)
    with socket.socket() as squatter:  # an `up` that fails, to get a DIR with its settings
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        assert run("up", str(folder), "--base-port", str(port), "--wait-s", "30").returncode == 1
    bystander = subprocess.Popen(["sleep", "120"], start_new_session=True)
    try:
        for command in (["stop-node", str(folder), "2"], ["down", str(folder)]):
            (folder / "n2.pid").write_text(f"{bystander.pid}\n")
            (folder / "n2.started").write_text("12345\n")  # an older process's start time
            result = run(*command)
            assert result.returncode == 0, result
            assert "node 2: not running" in result.stdout, result.stdout
            assert bystander.poll() is None, f"{command[0]} signalled a process not its node"
            assert not (folder / "n2.pid").exists() and not (folder / "n2.started").exists()
    finally:
        os.kill(bystander.pid, signal.SIGKILL)
        bystander.wait()
