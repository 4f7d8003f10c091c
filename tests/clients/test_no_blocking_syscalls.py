"""No blocking file syscall on a shard thread (issue 15 item 1): while boto3 drives a
bounded PUT/GET/HEAD/LIST/DELETE loop against the real binary, strace follows the
server and every drive operation of the shard thread must reach the kernel through
io_uring (`io_uring_enter`) or the helper pool, never as a direct `openat`, `statx`,
`read`, `write`, `fsync`, `rename`, `unlink`, `mkdir` or `getdents64` of its own.

Only drive files count: a path syscall whose path is not procfs (drives are reached
as `/proc/<pid>/fd/<root>/...`, which counts), or a descriptor syscall on a regular
file other than the server's log. Sockets, pipes, eventfds and procfs reads (the
shard's own CPU-time counters) are not drive I/O. Runs in io_uring mode only: in epoll
mode all drive I/O goes to the helper pool by design, which the drive suite checks."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from botocore.config import Config

from conftest import start_server

ROUNDS = 12
LOOP_TIMEOUT_S = 45
STRACE_ATTACH_S = 10
# A 4 KiB body lives inline in metadata; a 3 MiB one makes chunk files (create,
# write_at, sync, set_len, open, read_at).
SIZES = (4096, 3 << 20)
PATH_SYSCALLS = {
    "open", "openat", "openat2", "stat", "lstat", "newfstatat", "statx", "statfs",
    "rename", "renameat", "renameat2", "unlink", "unlinkat", "rmdir", "mkdir", "mkdirat",
}
FD_SYSCALLS = {
    "read", "pread64", "readv", "preadv", "preadv2", "write", "pwrite64", "writev",
    "pwritev", "pwritev2", "fsync", "fdatasync", "sync_file_range", "getdents64",
    "fstat", "fstatfs", "fallocate", "ftruncate",
}
LINE = re.compile(r"^(\d+)\s+(\w+)\((.*)$")
# `-y` decorates a descriptor argument with what it is: `15</path>`, `7<socket:[..]>`.
FD_ARG = re.compile(r"^-?\d+\w*<([^>]*)>")
PATH_ARG = re.compile(r'"([^"]*)"')
DRIVE_VIA_PROC = re.compile(r"^/proc/\d+/fd/\d+")
CLIENT = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5,
                read_timeout=30)


def shard_tid(pid: int) -> int:
    """Thread id of the one shard thread (`shoal-shard-0`). Its helper-pool threads
    inherit the name, but the shard makes them after it starts, so it has the lowest id."""
    tids = [
        int(task.name)
        for task in Path(f"/proc/{pid}/task").iterdir()
        if (task / "comm").read_text().strip() == "shoal-shard-0"
    ]
    assert tids, "no thread named shoal-shard-0"
    return min(tids)


def start_strace(pid: int, out: Path) -> subprocess.Popen:
    """strace on every thread of `pid`, returned once it is attached (it prints the
    attach of each thread on stderr)."""
    proc = subprocess.Popen(
        ["strace", "-f", "-qq", "-y", "-e", "trace=%file,%desc", "-o", str(out), "-p", str(pid)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + STRACE_ATTACH_S
    while time.monotonic() < deadline:
        status = Path(f"/proc/{pid}/status").read_text()
        if re.search(r"^TracerPid:\s+[1-9]", status, re.M):
            return proc
        assert proc.poll() is None, "strace exited: is ptrace allowed here?"
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"strace did not attach within {STRACE_ATTACH_S}s")


def drive_loop(srv) -> None:
    """A bounded loop of the operations users make, each checked."""
    s3 = srv.client(config=CLIENT)
    s3.create_bucket(Bucket="noblock")
    deadline = time.monotonic() + LOOP_TIMEOUT_S
    for n in range(ROUNDS):
        assert time.monotonic() < deadline, f"loop exceeded {LOOP_TIMEOUT_S}s at round {n}"
        size = SIZES[n % len(SIZES)]
        body = os.urandom(size)
        key = f"k{n}"
        s3.put_object(Bucket="noblock", Key=key, Body=body)
        assert s3.head_object(Bucket="noblock", Key=key)["ContentLength"] == size
        assert s3.get_object(Bucket="noblock", Key=key)["Body"].read() == body
        if n % 3 == 2:
            s3.delete_object(Bucket="noblock", Key=key)
    listed = s3.list_objects_v2(Bucket="noblock").get("KeyCount", 0)
    assert listed == ROUNDS - ROUNDS // 3


def is_drive_path(path: str) -> bool:
    """A path on a drive: anything but procfs, devices and the server's log, except
    the `/proc/<pid>/fd/<root>/...` form through which drives are reached."""
    if DRIVE_VIA_PROC.match(path):
        return True
    return not path.startswith(("/proc/", "/dev/", "/sys/")) and not path.endswith(".log")


def is_drive_call(name: str, args: str) -> bool:
    """Whether one traced syscall is a direct file syscall on a drive."""
    path = PATH_ARG.search(args)
    if name in PATH_SYSCALLS and path is not None and path.group(1):
        return is_drive_path(path.group(1))
    # A descriptor syscall, or a path syscall on a descriptor (`AT_EMPTY_PATH`).
    if name in FD_SYSCALLS or name in PATH_SYSCALLS:
        fd = FD_ARG.match(args)
        return fd is not None and fd.group(1).startswith("/") and is_drive_path(fd.group(1))
    return False


def blocking_calls(trace: str, tid: int) -> tuple[Counter, Counter, list[str]]:
    """(blocking drive syscalls, all syscalls, examples) of the shard thread."""
    blocking, seen, examples = Counter(), Counter(), []
    for line in trace.splitlines():
        match = LINE.match(line)
        if not match or int(match.group(1)) != tid:
            continue
        name, args = match.group(2), match.group(3)
        seen[name] += 1
        if is_drive_call(name, args):
            blocking[name] += 1
            if len(examples) < 10:
                examples.append(line[:200])
    return blocking, seen, examples


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_shard_thread_makes_no_blocking_file_syscall(tmp_path):
    """A shard thread serving PUT/GET/HEAD/LIST/DELETE makes its drive syscalls only
    through io_uring: strace sees `io_uring_enter` on it and no direct file syscall."""
    srv = start_server(tmp_path, "http", shards=1)
    trace_path = tmp_path / "strace.out"
    try:
        tid = shard_tid(srv.process.proc.pid)
        tracer = start_strace(srv.process.proc.pid, trace_path)
        try:
            drive_loop(srv)
        finally:
            tracer.send_signal(signal.SIGINT)
            tracer.wait(15)
    finally:
        assert srv.process.stop() == 0, srv.process.describe()
    blocking, seen, examples = blocking_calls(trace_path.read_text(), tid)
    # The trace covered the shard thread: its ring submissions are there.
    assert seen["io_uring_enter"] > 0, f"no io_uring_enter traced on the shard: {seen}"
    assert not blocking, (
        f"blocking file syscalls on the shard thread: {dict(blocking)}\n" + "\n".join(examples)
    )
