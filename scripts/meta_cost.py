#!/usr/bin/env python3
"""Cost per request of HEAD and GET 4 KiB against the refused anonymous request (403),
counted rather than timed, so it can be compared on a noisy shared machine (issue 15
item 2).

Starts `BIN server --shards 1` on 4 fresh drive folders (on the disk of --dir, never
tmpfs), PUTs one 4 KiB object, then runs three phases of N requests each, one client
connection kept alive (boto3 for the signed ones): `403` (an anonymous HEAD of the
object), `head` and `get` (4 KiB). Per phase it reports, divided by N:

- `--tool callgrind`: the server runs under `valgrind --tool=callgrind`; instructions
  per request come from one dump per phase (`callgrind_control -z` before, `-d` after;
  the files are kept in --dir for `callgrind_annotate --inclusive=yes`). Same binary,
  same inputs: the same count, whatever else runs on the machine.
- `--tool strace`: `strace -f -c` attached to the server for each phase; syscalls per
  request of every thread (the shard's `io_uring_enter` included; what the ring does
  inside the kernel is not a syscall and is not counted).
- `--tool cpu`: server CPU-seconds per request from /proc/PID/stat (user + system,
  every thread: io_uring's io-wq workers are the server's threads; noisy, a machine's
  figure), context switches per request summed over the server's threads (a count: an
  operation io_uring hands to an io-wq worker wakes it), and the io-wq worker threads
  (`iou-wrk-*`) alive after the phase.

    scripts/meta_cost.py target/release/shoal --tool callgrind --requests 300
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
from botocore.config import Config

USER, SECRET = "metacost", "metacost-secret-key"
BUCKET, KEY = "meta", "k4"
BODY = os.urandom(4096)
START_TIMEOUT_S = 600  # under valgrind a debug build takes minutes to start
PHASES = ("403", "head", "get")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the server did not start")


def server_pid(proc: subprocess.Popen) -> int:
    """The server's pid (valgrind runs the program in its own process)."""
    return proc.pid


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks


def io_workers(pid: int) -> int:
    return sum(
        1
        for task in Path(f"/proc/{pid}/task").iterdir()
        if (task / "comm").read_text().startswith("iou-wrk")
    )


def context_switches(pid: int) -> dict[int, int]:
    """Per live thread: its voluntary and involuntary context switches so far. A drive
    operation io_uring hands to an io-wq worker wakes that worker: a switch there and
    one when it sleeps again, which no syscall count shows."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "status").read_text()
        except OSError:
            continue
        out[int(task.name)] = sum(
            int(m) for m in re.findall(r"^(?:non)?voluntary_ctxt_switches:\s+(\d+)", text, re.M)
        )
    return out


def switches_between(before: dict[int, int], after: dict[int, int]) -> int:
    return sum(n - before.get(tid, 0) for tid, n in after.items())


def run_phase(name: str, count: int, s3, port: int) -> None:
    if name == "403":
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for _ in range(count):
            conn.request("HEAD", f"/{BUCKET}/{KEY}")
            response = conn.getresponse()
            response.read()
            assert response.status == 403, response.status
            if response.getheader("connection", "").lower() == "close":
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.close()
    elif name == "head":
        for _ in range(count):
            assert s3.head_object(Bucket=BUCKET, Key=KEY)["ContentLength"] == len(BODY)
    else:
        for _ in range(count):
            assert s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read() == BODY


def strace_phase(pid: int, out: Path, work) -> dict[str, int]:
    tracer = subprocess.Popen(
        ["strace", "-f", "-c", "-o", str(out), "-p", str(pid)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)  # attached to every thread
    work()
    tracer.send_signal(signal.SIGINT)
    tracer.wait(30)
    counts = {}
    for line in out.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
            calls = int(parts[3])
            counts[parts[-1]] = calls
    return counts


def callgrind_instructions(dump: Path) -> int:
    for line in dump.read_text(errors="replace").splitlines():
        if line.startswith("summary:") or line.startswith("totals:"):
            return int(line.split()[1])
    raise SystemExit(f"no totals in {dump}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bin")
    parser.add_argument("--tool", choices=("callgrind", "strace", "cpu"), default="cpu")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--dir", default=None, help="where drives and dumps go")
    args = parser.parse_args()
    base = Path(args.dir or tempfile.mkdtemp(prefix="meta-cost-", dir="target")).resolve()
    base.mkdir(parents=True, exist_ok=True)
    drives = [base / f"drive{i}" for i in range(1, 5)]
    for d in drives:
        shutil.rmtree(d, ignore_errors=True)
    port = free_port()
    cmd = [args.bin, "server", "--address", f"127.0.0.1:{port}", "--shards", "1",
           *map(str, drives)]
    if args.tool == "callgrind":
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={base}/cg.out",
               "--dump-instr=no", *cmd]
    env = dict(os.environ, SHOAL_ROOT_USER=USER, SHOAL_ROOT_PASSWORD=SECRET)
    log = open(base / "server.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log, cwd=base)
    try:
        wait_ready(port, proc)
        pid = server_pid(proc)
        s3 = boto3.client(
            "s3", endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id=USER,
            aws_secret_access_key=SECRET, region_name="us-east-1",
            config=Config(retries={"max_attempts": 1}, read_timeout=120,
                          s3={"addressing_style": "path"}),
        )
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key=KEY, Body=BODY)
        for name in PHASES:  # warm: caches, connections, page cache
            run_phase(name, 20, s3, port)
        n = args.requests
        print(f"{'phase':6} {'per request':>14}")
        results = {}
        for name in PHASES:
            work = lambda name=name: run_phase(name, n, s3, port)  # noqa: E731
            if args.tool == "callgrind":
                subprocess.run(["callgrind_control", "-z", str(pid)], check=True,
                               stdout=subprocess.DEVNULL)
                work()
                before = set(base.glob("cg.out.*"))
                subprocess.run(["callgrind_control", "-d", name, str(pid)], check=True,
                               stdout=subprocess.DEVNULL)
                time.sleep(1)
                dump = sorted(set(base.glob("cg.out.*")) - before)[-1]
                dump.rename(base / f"cg.{name}")
                results[name] = callgrind_instructions(base / f"cg.{name}") / n
                print(f"{name:6} {results[name]:14,.0f} instructions")
            elif args.tool == "strace":
                counts = strace_phase(pid, base / f"strace.{name}", work)
                results[name] = sum(counts.values()) / n
                top = ", ".join(f"{k} {v / n:.2f}" for k, v in
                                sorted(counts.items(), key=lambda kv: -kv[1])[:8])
                print(f"{name:6} {results[name]:14.2f} syscalls ({top})")
            else:
                start, switches = cpu_ticks(pid), context_switches(pid)
                work()
                ticks = cpu_ticks(pid) - start
                switched = switches_between(switches, context_switches(pid)) / n
                results[name] = ticks / os.sysconf("SC_CLK_TCK") / n * 1e6
                print(f"{name:6} {results[name]:14.1f} us CPU, {switched:.2f} context "
                      f"switches, io-wq threads now {io_workers(pid)}")
        if results.get("403"):
            print("ratios to 403: " + ", ".join(
                f"{k} {v / results['403']:.2f}x" for k, v in results.items()))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


if __name__ == "__main__":
    sys.exit(main())
