"""Drives that change under a running server (issue 10, B8): a drive folder removed, or
a drive's filesystem unmounted, goes offline with one log line naming it, requests keep
working within quorum (2 data + 2 parity: one drive may be missing), nothing is ever
written at the drive's path (which is then the root disk), the drive comes back when
its filesystem does, and a restart with a drive missing starts degraded with a message
naming it, or refuses beyond quorum."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import ROOT_PASSWORD, ROOT_USER, ServerProcess, clean_env, free_port, start_server

LOG_WAIT_S = 15
MODES = ["http", "epoll"]
MIB = 1 << 20


def wait_for_line(srv, text: str, after: int = 0) -> str:
    """The first log line (stderr, from index `after`) containing `text`, waiting up to
    LOG_WAIT_S (the server checks its drives every 2 s)."""
    deadline = time.monotonic() + LOG_WAIT_S
    while time.monotonic() < deadline:
        for line in srv.process.log_lines[after:]:
            if text in line:
                return line
        time.sleep(0.1)
    raise AssertionError(f"no line with {text!r} within {LOG_WAIT_S}s\n{srv.process.describe()}")


def tree(folder: Path) -> list[str]:
    """Everything under `folder` (empty if it does not exist)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def put_and_check(s3, bucket: str, objects: dict[str, bytes], key: str, size: int) -> None:
    """PUTs a new object, then GETs every object written so far and compares bytes."""
    objects[key] = os.urandom(size)
    s3.put_object(Bucket=bucket, Key=key, Body=objects[key])
    for name, body in objects.items():
        assert s3.get_object(Bucket=bucket, Key=name)["Body"].read() == body, name


@contextmanager
def serving(tmp: Path, mode: str):
    """A server on tmp/drive1..4, stopped whatever happens (a failing test leaks no
    process); when the body succeeded, it must also exit 0 on SIGTERM."""
    srv = start_server(tmp, mode)
    succeeded = False
    try:
        yield srv
        succeeded = True
    finally:
        code = srv.process.stop()
    if succeeded:
        assert code == 0, f"shoal did not exit 0 on SIGTERM\n{srv.process.describe()}"


def start_expecting_refusal(tmp: Path, mode: str) -> str:
    """Starts the server on tmp/drive1..4, expects it to exit non-zero; its stderr."""
    port = free_port()
    drives = [str(tmp / f"drive{i}") for i in range(1, 5)]
    env = clean_env(SHOAL_ROOT_USER=ROOT_USER, SHOAL_ROOT_PASSWORD=ROOT_PASSWORD)
    if mode == "epoll":
        env["MONOIO_FORCE_LEGACY_DRIVER"] = "1"
    process = ServerProcess(["server", "--address", f"127.0.0.1:{port}", "--shards", "2", *drives],
                            env, cwd=tmp, log_dir=tmp / "logs")
    try:
        code = process.proc.wait(30)
    except subprocess.TimeoutExpired:
        process.stop()
        raise AssertionError(f"shoal started with 2 of 4 drives\n{process.describe()}")
    assert code != 0, process.describe()
    return process.stderr


@pytest.mark.parametrize("mode", MODES)
def test_removed_drive_folder(tmp_path, mode):
    """`rm -rf` of one drive folder of 4 while serving: the drive goes offline with a log
    line, PUT/GET keep working, the folder is not created again and a folder made again
    in its place gets nothing; a restart starts degraded naming the drive, and one more
    missing drive is refused with a message naming both."""
    drive2 = tmp_path / "drive2"
    bucket = f"t-{uuid.uuid4().hex[:12]}"
    objects: dict[str, bytes] = {}
    with serving(tmp_path, mode) as srv:
        s3 = srv.client()
        s3.create_bucket(Bucket=bucket)
        put_and_check(s3, bucket, objects, "before", 3 * MIB)

        shutil.rmtree(drive2)
        put_and_check(s3, bucket, objects, "right-after", 3 * MIB)  # before the check
        line = wait_for_line(srv, f"drive {drive2} is OFFLINE")
        assert "removed" in line, line
        put_and_check(s3, bucket, objects, "offline-big", 3 * MIB)
        put_and_check(s3, bucket, objects, "offline-small", 100)
        assert not drive2.exists(), f"something created the removed drive folder: {tree(drive2)}"

        drive2.mkdir()  # an empty folder in its place: not the drive, so never written
        for i in range(3):
            put_and_check(s3, bucket, objects, f"recreated-{i}", MIB + i)
        time.sleep(2.5)  # at least one more drive check
        put_and_check(s3, bucket, objects, "recreated-late", 1000)
        assert tree(drive2) == [], "written into the folder made in the drive's place"
        assert sum("OFFLINE" in line for line in srv.process.log_lines) == 1, srv.process.stderr

    # Restart with the empty folder, then with no folder: degraded, naming the drive.
    for why in ("has no .shoal/format", "does not exist"):
        if why == "does not exist":
            drive2.rmdir()
        with serving(tmp_path, mode) as srv:
            offline = [line for line in srv.process.lines if "OFFLINE:" in line]
            assert len(offline) == 1 and str(drive2) in offline[0] and why in offline[0], \
                srv.process.stdout
            put_and_check(srv.client(), bucket, objects, f"restarted-{len(objects)}", 2 * MIB)
    assert not drive2.exists(), "the restart created the missing drive folder"

    shutil.rmtree(tmp_path / "drive3")
    message = start_expecting_refusal(tmp_path, mode)
    assert "2 of 4 drives online" in message, message
    assert str(drive2) in message and str(tmp_path / "drive3") in message, message


def run_ok(*args: str) -> bool:
    return subprocess.run(list(args), capture_output=True).returncode == 0


def every_shard_sees_it_back():
    """Each shard checks its drives' identity on its own every 2 s
    (`DRIVE_CHECK_INTERVAL`), and only shard 0 logs the change: a request served by
    another shard right after the log line may still find the drive offline there."""
    time.sleep(2.5)


@pytest.mark.parametrize("mode", MODES)
def test_unmounted_drive_filesystem(tmp_path, mode):
    """A drive's filesystem (a tmpfs, bind-mounted at the drive folder) unmounted with
    `umount -l` while serving: no write lands in the bare mount point on the root disk,
    the drive goes offline with a log line, requests continue; mounted again, it comes
    back online with a log line and is written again. The same after a restart that
    found it unmounted (started degraded)."""
    disk, drive2 = tmp_path / "disk2", tmp_path / "drive2"
    disk.mkdir()
    drive2.mkdir()
    if os.geteuid() != 0 or not run_ok("mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(disk)):
        pytest.skip("mounting is not permitted here (needs root and mount -t tmpfs)")
    mounted = [disk]
    try:
        assert run_ok("mount", "--bind", str(disk), str(drive2))
        mounted.append(drive2)
        bucket = f"t-{uuid.uuid4().hex[:12]}"
        objects: dict[str, bytes] = {}
        with serving(tmp_path, mode) as srv:
            s3 = srv.client()
            s3.create_bucket(Bucket=bucket)
            put_and_check(s3, bucket, objects, "before", 3 * MIB)

            assert run_ok("umount", "-l", str(drive2))
            mounted.remove(drive2)
            put_and_check(s3, bucket, objects, "right-after", 3 * MIB)  # before the check
            assert tree(drive2) == [], "a write landed in the bare mount point"
            line = wait_for_line(srv, f"drive {drive2} is OFFLINE")
            assert "another filesystem" in line, line
            put_and_check(s3, bucket, objects, "offline-big", 3 * MIB)
            put_and_check(s3, bucket, objects, "offline-small", 100)
            assert tree(drive2) == [], "a write landed in the bare mount point"

            after = len(srv.process.log_lines)
            assert run_ok("mount", "--bind", str(disk), str(drive2))
            mounted.append(drive2)
            wait_for_line(srv, f"drive {drive2} is back ONLINE", after)
            every_shard_sees_it_back()
            put_and_check(s3, bucket, objects, "back", 100)
            assert (disk / bucket / "back" / "_meta").is_file(), tree(disk)

        # A restart while it is unmounted starts degraded; mounted again, it comes back.
        assert run_ok("umount", "-l", str(drive2))
        mounted.remove(drive2)
        with serving(tmp_path, mode) as srv:
            offline = [line for line in srv.process.lines if "OFFLINE:" in line]
            assert len(offline) == 1 and str(drive2) in offline[0], srv.process.stdout
            s3 = srv.client()
            put_and_check(s3, bucket, objects, "restarted", 2 * MIB)
            assert tree(drive2) == [], "a write landed in the bare mount point"
            after = len(srv.process.log_lines)
            assert run_ok("mount", "--bind", str(disk), str(drive2))
            mounted.append(drive2)
            wait_for_line(srv, f"drive {drive2} is back ONLINE", after)
            every_shard_sees_it_back()
            put_and_check(s3, bucket, objects, "back-after-restart", 100)
            assert (disk / bucket / "back-after-restart" / "_meta").is_file(), tree(disk)
    finally:
        for target in reversed(mounted):
            run_ok("umount", "-l", str(target))
