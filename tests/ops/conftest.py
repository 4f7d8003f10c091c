"""Helpers shared by the operations checks: where the repository and binaries are, a free
loopback port, S3 requests signed by curl's own SigV4 (a real client, no SDK), and waits
bounded in time.

Every server these checks start listens on 127.0.0.1 only and is stopped by its PID (or
its container name) in a `finally`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ROOT_USER = "shoalopsadmin"
ROOT_PASSWORD = "shoal-ops-secret-0123456789"
REGION = "us-east-1"
START_TIMEOUT_S = 30


def env_flag(name: str) -> bool:
    return os.environ.get(name, "0") == "1"


def shoal_bin() -> Path:
    """The binary run.sh chose ($SHOAL_BIN): any build of this checkout."""
    path = Path(os.environ.get("SHOAL_BIN", REPO_ROOT / "target/debug/shoal"))
    assert path.is_file(), f"no shoal binary at {path}: run tests/ops/run.sh"
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(args: list[str], timeout_s: float = 120, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """Runs a command, text output captured; on failure the assertion shows both streams."""
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s, **kwargs)
    if check:
        assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def s3(method: str, url: str, *extra: str) -> tuple[int, str]:
    """One S3 request signed with SigV4 by curl itself; returns (status, body)."""
    done = run(
        [
            "curl", "-s", "--max-time", "10", "-X", method,
            "--aws-sigv4", f"aws:amz:{REGION}:s3", "--user", f"{ROOT_USER}:{ROOT_PASSWORD}",
            # Shoal requires the payload hash header; curl does not add it for us.
            "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD",
            "-w", "\n%{http_code}", *extra, url,
        ]
    )
    body, _, status = done.stdout.rpartition("\n")
    return int(status), body


def anonymous_get(url: str) -> tuple[int, str]:
    done = run(["curl", "-s", "--max-time", "5", "-w", "\n%{http_code}", url], check=False)
    body, _, status = done.stdout.rpartition("\n")
    return int(status or 0), body


def wait_for_http(url: str, timeout_s: float = START_TIMEOUT_S) -> None:
    """Waits until something answers HTTP at `url` (any status), at most `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status, _ = anonymous_get(url)
        if status:
            return
        time.sleep(0.2)
    pytest.fail(f"nothing answered at {url} within {timeout_s} s")


def check_s3_round_trip(endpoint: str, tmp_path: Path) -> None:
    """Anonymous access is refused; a signed client creates a bucket, writes an object and
    reads back the same bytes."""
    status, body = anonymous_get(endpoint + "/")
    assert status == 403 and "AccessDenied" in body, (status, body)
    status, body = s3("PUT", endpoint + "/ops-bucket")
    assert status == 200, (status, body)
    payload = tmp_path / "payload.bin"
    payload.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    status, body = s3("PUT", endpoint + "/ops-bucket/dir/object.bin", "--data-binary", f"@{payload}")
    assert status == 200, (status, body)
    fetched = tmp_path / "fetched.bin"
    status, _ = s3("GET", endpoint + "/ops-bucket/dir/object.bin", "-o", str(fetched))
    assert status == 200
    assert fetched.read_bytes() == payload.read_bytes(), "object read back differs"
