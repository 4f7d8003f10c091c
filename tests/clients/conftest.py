"""Fixtures that start the real `shoal` binary and hand tests a ready endpoint.

One server per transport mode and per session: plain HTTP, HTTPS with a self-signed
certificate, and HTTP on the epoll fallback driver. Every test that takes the `server`
fixture (directly or through `s3` / `bucket`) runs once per mode, except that a module
marked `above_transport` (its subject is S3's answers, the same code over every
transport) runs over plain HTTP only unless SHOAL_CLIENT_MODES=all
(scripts/test-long.sh). Teardown stops the server with SIGTERM and fails the session
if it does not exit 0 within 15 s, so a shutdown regression is a test failure, not a
leaked process.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
import requests
from botocore.config import Config

REPO_ROOT = Path(__file__).resolve().parents[2]
ROOT_USER = "shoaltestadmin"
ROOT_PASSWORD = "shoal-test-secret-0123456789"
REGION = "us-east-1"
DRIVES = 4
SHARDS = 2
START_TIMEOUT_S = 30
STOP_TIMEOUT_S = 15
MODES = ["http", "https", "epoll"]
# "lean" (default): `above_transport` modules in http mode only; "all": every mode.
CLIENT_MODES = ("lean", "all")


def pytest_configure(config):
    """Isolate the clients from the developer's AWS setup: no profile, no env overrides,
    so "default configuration" means botocore's defaults."""
    for name in [k for k in os.environ if k.startswith("AWS_")]:
        del os.environ[name]
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    client_modes()  # a misspelt SHOAL_CLIENT_MODES stops the run before any test


def client_modes() -> str:
    chosen = os.environ.get("SHOAL_CLIENT_MODES", "lean")
    if chosen not in CLIENT_MODES:
        pytest.exit(f"SHOAL_CLIENT_MODES={chosen}: expected one of {', '.join(CLIENT_MODES)}", 2)
    return chosen


def pytest_report_header(config):
    if client_modes() == "all":
        return "client modes: all (every server test in http, https and epoll)"
    return ("client modes: lean (above_transport modules in http only; "
            "SHOAL_CLIENT_MODES=all runs them in every mode)")


def pytest_collection_modifyitems(config, items):
    """Drops the https and epoll runs of `above_transport` tests unless
    SHOAL_CLIENT_MODES=all. They test S3's semantics (listing pages, tags, copies,
    conditional writes, key names, cached bucket answers), which sit above the transport:
    http proves them, and the transport's own behaviour (bodies, chunked uploads,
    checksums, raw and refused requests, TLS, the epoll driver) stays in every mode in
    the other modules. Deselected, not skipped: nothing is set up for them."""
    if client_modes() == "all":
        return
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        mode = callspec.params.get("server") if callspec else None
        if mode not in (None, "http") and item.get_closest_marker("above_transport"):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def shoal_binary() -> Path:
    """The binary under test: $SHOAL_BIN, else the release build, else the debug build."""
    from_env = os.environ.get("SHOAL_BIN")
    if from_env:
        path = Path(from_env)
        assert path.is_file(), f"SHOAL_BIN={from_env} is not a file"
        return path
    for profile in ("release", "debug"):
        path = REPO_ROOT / "target" / profile / "shoal"
        if path.is_file():
            return path
    pytest.exit("no shoal binary: set SHOAL_BIN or run `cargo build --release --bin shoal`", 2)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_self_signed_cert(folder: Path) -> Path:
    """Writes public.crt / private.key for 127.0.0.1 and localhost; returns the cert path."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
            "-keyout", str(folder / "private.key"),
            "-out", str(folder / "public.crt"),
            "-days", "2",
            "-subj", "/CN=localhost",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return folder / "public.crt"


class ServerProcess:
    """A running `shoal server`: its stdout lines are collected on a thread so the banner
    can be waited for and parsed, and stderr goes to a file for failure messages."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path, log_dir: Path):
        log_dir.mkdir(parents=True, exist_ok=True)
        self.stderr_path = log_dir / f"stderr-{uuid.uuid4().hex[:8]}.log"
        self._stderr = open(self.stderr_path, "wb")
        self.lines: list[str] = []
        self._banner_done = threading.Event()
        self.proc = subprocess.Popen(
            [str(shoal_binary()), *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            # Its own session: signals aimed at the test runner's process group (^C,
            # a CI job's kill) reach the server only through teardown's SIGTERM.
            start_new_session=True,
        )
        threading.Thread(target=self._read_stdout, daemon=True).start()

    def _read_stdout(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            # The banner ends with the "Try it" lines; the last one makes a bucket.
            if line.lstrip().startswith(("aws s3 mb", "aws --endpoint-url")):
                self._banner_done.set()
        self._banner_done.set()

    @property
    def stdout(self) -> str:
        return "\n".join(self.lines)

    @property
    def stderr(self) -> str:
        if not self._stderr.closed:  # still running (after stop: all of it is written)
            self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    @property
    def log_lines(self) -> list[str]:
        """The server's log (its stderr) so far, one event per line."""
        return self.stderr.splitlines()

    def describe(self) -> str:
        return f"exit={self.proc.poll()}\n--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"

    def wait_ready(self, port: int) -> None:
        """Waits for the full banner (first line "Shoal ") and for the port to accept."""
        deadline = time.monotonic() + START_TIMEOUT_S
        self._banner_done.wait(START_TIMEOUT_S)
        assert self.lines and self.lines[0].startswith("Shoal "), (
            f"no banner from shoal within {START_TIMEOUT_S}s\n{self.describe()}"
        )
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"shoal exited early\n{self.describe()}"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"port {port} never accepted\n{self.describe()}")

    def stop(self) -> int:
        """SIGTERM, then the exit code; kills (and fails) after STOP_TIMEOUT_S."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"shoal ignored SIGTERM for {STOP_TIMEOUT_S}s\n{self.describe()}")
        finally:
            self._stderr.close()
        return code


def clean_env(**extra: str) -> dict[str, str]:
    """The parent environment without anything that would change the server or the
    AWS clients behind the test's back."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SHOAL_", "AWS_", "MONOIO_"))
    }
    env.update(extra)
    return env


_client_session: boto3.session.Session | None = None
_client_session_lock = threading.Lock()


def new_s3_client(**kwargs):
    """A new boto3 S3 client, with its own connection pool, made from one shared session:
    a new session loads botocore's service model again (about 0.15 s of CPU each, and the
    suite makes thousands of clients). Sessions are not thread-safe and clients are, so
    the lock covers only the making. The session is made on first use, after
    pytest_configure has cut the clients off from the developer's AWS setup."""
    global _client_session
    with _client_session_lock:
        if _client_session is None:
            _client_session = boto3.session.Session()
        return _client_session.client("s3", **kwargs)


@dataclass
class Server:
    """What a test needs to talk to one running server."""

    mode: str
    endpoint: str
    port: int
    access_key: str
    secret_key: str
    verify: str | bool
    cert_path: str | None
    process: ServerProcess
    _clients: dict = field(default_factory=dict)

    @property
    def https(self) -> bool:
        return self.endpoint.startswith("https://")

    def client(self, config: Config | None = None, access_key: str | None = None,
               secret_key: str | None = None):
        """A new boto3 S3 client; default configuration unless `config` is given."""
        return new_s3_client(
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            verify=self.verify,
            config=config,
        )

    def session(self) -> requests.Session:
        session = requests.Session()
        # Without this, REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE in the environment would
        # silently override session.verify (requests issue #3829).
        session.trust_env = False
        session.verify = self.verify
        return session

    def curl_tls_args(self) -> list[str]:
        return ["--cacert", self.cert_path] if self.cert_path else []


def start_server(tmp: Path, mode: str, extra_args: tuple[str, ...] = (),
                 shards: int = SHARDS, env_extra: dict[str, str] | None = None) -> Server:
    """A server over DRIVES drive folders under `tmp`, in one of the modes (http, https,
    epoll), with `shards` shards, the extra flags `extra_args` and environment
    `env_extra`."""
    port = free_port()
    drives = [str(tmp / f"drive{i}") for i in range(1, DRIVES + 1)]
    args = ["server", "--address", f"127.0.0.1:{port}", "--shards", str(shards), *extra_args]
    env = clean_env(SHOAL_ROOT_USER=ROOT_USER, SHOAL_ROOT_PASSWORD=ROOT_PASSWORD,
                    **(env_extra or {}))
    cert_path = None
    if mode == "https":
        cert_path = str(make_self_signed_cert(tmp / "certs"))
        args += ["--certs-dir", str(tmp / "certs")]
    if mode == "epoll":
        env["MONOIO_FORCE_LEGACY_DRIVER"] = "1"
    process = ServerProcess(args + drives, env, cwd=tmp, log_dir=tmp / "logs")
    process.wait_ready(port)
    scheme = "https" if mode == "https" else "http"
    return Server(
        mode=mode,
        endpoint=f"{scheme}://127.0.0.1:{port}",
        port=port,
        access_key=ROOT_USER,
        secret_key=ROOT_PASSWORD,
        verify=cert_path or True,
        cert_path=cert_path,
        process=process,
    )


@pytest.fixture(scope="session", params=MODES)
def server(request, tmp_path_factory) -> Server:
    """A running server with fresh drives, one per mode; stopped with SIGTERM → exit 0."""
    tmp = tmp_path_factory.mktemp(f"shoal-{request.param}")
    srv = start_server(tmp, request.param)
    yield srv
    code = srv.process.stop()
    assert code == 0, f"shoal did not exit 0 on SIGTERM\n{srv.process.describe()}"
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(autouse=True)
def server_survives(request):
    """After every test on a shared server, that server must still be running: a crash
    is reported against the test that caused it, with the server's output."""
    yield
    if "server" in request.fixturenames:
        srv = request.getfixturevalue("server")
        assert srv.process.proc.poll() is None, f"shoal died during this test\n{srv.process.describe()}"


@pytest.fixture(scope="session")
def s3(server):
    """A boto3 client with the default configuration, shared by the tests of one mode."""
    return server.client()


# Listing rounds a teardown may take: a bucket of at most this many thousand keys, or a
# key the server cannot delete, ends the teardown with an error instead of a hang.
EMPTY_ROUNDS_MAX = 50


def _empty_and_delete(s3, name: str) -> None:
    for _ in range(EMPTY_ROUNDS_MAX):
        listed = s3.list_objects_v2(Bucket=name)
        keys = [{"Key": o["Key"]} for o in listed.get("Contents", [])]
        if not keys:
            break
        for start in range(0, len(keys), 1000):
            s3.delete_objects(Bucket=name, Delete={"Objects": keys[start:start + 1000], "Quiet": True})
    else:
        raise AssertionError(f"bucket {name} still lists keys after {EMPTY_ROUNDS_MAX} rounds of deletes")
    s3.delete_bucket(Bucket=name)


@pytest.fixture
def bucket(s3):
    """A fresh, empty bucket, emptied and deleted after the test."""
    name = f"t-{uuid.uuid4().hex[:20]}"
    s3.create_bucket(Bucket=name)
    yield name
    _empty_and_delete(s3, name)


@pytest.fixture(scope="session")
def aws_cli() -> str:
    """The `aws` command of the environment running the tests (the venv's awscli)."""
    beside_python = Path(os.sys.executable).parent / "aws"
    found = str(beside_python) if beside_python.exists() else shutil.which("aws")
    assert found, "no `aws` command: pip install -r tests/clients/requirements.txt"
    return found
