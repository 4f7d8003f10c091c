"""The first five minutes from the README: `shoal server` with no arguments and no
credentials in the environment creates ./shoal-data/drive1..4, generates credentials,
prints them once and they work; a restart says where they are stored instead; and a
second server on the same drives is refused. The banner's "Try it" lines work when
pasted into a shell as printed and touch nothing of the user's AWS setup. Runs once,
not per transport mode."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import time
from pathlib import Path

import boto3

from conftest import (ROOT_PASSWORD, ROOT_USER, ServerProcess, clean_env, free_port,
                      shoal_binary, start_server)


def start_default(cwd: Path, port: int) -> ServerProcess:
    process = ServerProcess(["server", "--address", f"127.0.0.1:{port}", "--shards", "2"],
                            clean_env(), cwd=cwd, log_dir=cwd.parent / "logs")
    process.wait_ready(port)
    return process


def generated_credentials(banner: str) -> tuple[str, str, Path]:
    access = re.search(r"^\s*AccessKey:\s*(\S+)\s*$", banner, re.M)
    secret = re.search(r"^\s*SecretKey:\s*(\S+)\s*$", banner, re.M)
    stored = re.search(r"stored with mode 0600 in (\S+) and the other drives", banner)
    assert access and secret and stored, f"no generated credentials in the banner:\n{banner}"
    return access.group(1), secret.group(1), Path(stored.group(1))


def client(port: int, access: str, secret: str):
    return boto3.session.Session().client(
        "s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
        aws_access_key_id=access, aws_secret_access_key=secret)


def try_it_lines(banner: str) -> list[str]:
    """The lines the banner offers to paste, as printed (after its "Try it" line)."""
    lines = banner.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("Try it")]
    assert starts, f"no Try it lines in the banner:\n{banner}"
    return [line.strip() for line in lines[starts[0] + 1:]]


def paste(lines: list[str], cwd: Path, home: Path, aws_cli: str,
          **env_extra: str) -> subprocess.CompletedProcess:
    """Runs `lines` in bash exactly as a user pasting them would (another folder, a HOME
    of its own, no AWS settings), stopping at the first failing line."""
    env = clean_env(HOME=str(home), PATH=f"{Path(aws_cli).parent}:{os.environ['PATH']}",
                    **env_extra)
    return subprocess.run(["bash", "-e", "-c", "\n".join(lines)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def stop(process: ServerProcess) -> None:
    code = process.stop()
    assert code == 0, f"shoal did not exit 0 on SIGTERM\n{process.describe()}"


def test_first_start_without_arguments(tmp_path, aws_cli):
    """No drives and no env credentials: ./shoal-data/drive1..4 appear, credentials are
    generated, printed once, stored 0600 on every drive, work, and survive a restart
    whose banner names the file but not the secret. Both banners' Try-it lines, pasted
    into a shell elsewhere, work and leave ~/.aws alone."""
    cwd = tmp_path / "fresh"
    cwd.mkdir()
    port = free_port()
    first = start_default(cwd, port)
    try:
        access, secret, stored = generated_credentials(first.stdout)
        assert len(access) >= 3 and len(secret) >= 8, (access, secret)
        for i in range(1, 5):
            assert (cwd / "shoal-data" / f"drive{i}").is_dir(), f"drive{i} missing"
        stored_abs = stored if stored.is_absolute() else cwd / stored
        assert stored_abs.is_file(), f"credentials file {stored} missing"
        relative = stored_abs.resolve().relative_to((cwd / "shoal-data" / "drive1").resolve())
        for i in range(1, 5):
            copy = cwd / "shoal-data" / f"drive{i}" / relative
            mode = stat.S_IMODE(copy.stat().st_mode)
            assert mode == 0o600, f"{copy} has mode {oct(mode)}"
        s3 = client(port, access, secret)
        s3.create_bucket(Bucket="readme")
        s3.put_object(Bucket="readme", Key="hello.txt", Body=b"hello shoal")
        home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
        home.mkdir()
        elsewhere.mkdir()
        pasted = paste(try_it_lines(first.stdout), elsewhere, home, aws_cli)
        assert pasted.returncode == 0, f"{pasted.stdout}\n{pasted.stderr}\n{first.stdout}"
        assert "demo" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
        assert not (home / ".aws").exists(), "pasting the banner changed ~/.aws"
        wrong = client(port, access, secret + "x")
        try:
            wrong.list_buckets()
            raise AssertionError("a wrong secret was accepted")
        except wrong.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == "SignatureDoesNotMatch", e.response
    finally:
        stop(first)

    second = start_default(cwd, port)
    try:
        banner = second.stdout
        assert secret not in banner, f"restart printed the secret again:\n{banner}"
        assert "AccessKey:" not in banner and "SecretKey:" not in banner, banner
        assert re.search(r"credentials: stored in \S+ \(mode 0600\)", banner), banner
        s3 = client(port, access, secret)
        got = s3.get_object(Bucket="readme", Key="hello.txt")["Body"].read()
        assert got == b"hello shoal"
        exports = [line for line in try_it_lines(banner) if line.startswith("export ")]
        pasted = paste(exports + ["aws s3 ls s3://readme"], tmp_path / "elsewhere",
                       tmp_path / "home", aws_cli)
        assert pasted.returncode == 0 and "hello.txt" in pasted.stdout, (
            f"{pasted.stdout}\n{pasted.stderr}\n{banner}")
    finally:
        stop(second)


def test_second_server_on_same_drives_is_refused(tmp_path):
    """A second `shoal server` on drives in use exits non-zero, naming the busy drive,
    and the first keeps serving."""
    cwd = tmp_path / "busy"
    cwd.mkdir()
    port = free_port()
    first = start_default(cwd, port)
    try:
        started = time.monotonic()
        second = subprocess.run(
            [str(shoal_binary()), "server", "--address", f"127.0.0.1:{free_port()}",
             "--shards", "1"],
            cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=30)
        assert second.returncode != 0, f"second server started:\n{second.stdout}\n{second.stderr}"
        assert "in use by another shoal process" in second.stderr, second.stderr
        assert second.stderr.count("in use") == 1, f"the message repeats itself: {second.stderr}"
        assert "drive1" in second.stderr, second.stderr
        assert time.monotonic() - started < 10
        access, secret, _ = generated_credentials(first.stdout)
        assert client(port, access, secret).list_buckets()["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert first.proc.poll() is None
    finally:
        stop(first)


def test_help_names_only_what_exists():
    """`--help` of every command points to nothing outside the binary and the README
    (it used to cite a DESIGN.md that is not in the repository)."""
    for command in [["--help"], ["server", "--help"], ["debug", "stress", "--help"],
                    ["debug", "verify", "--help"], ["debug", "complete-bench", "--help"],
                    ["admin", "--help"], ["admin", "info", "--help"],
                    ["admin", "config", "set", "--help"], ["admin", "trace", "--help"]]:
        shown = subprocess.run([str(shoal_binary()), *command], capture_output=True, text=True,
                               timeout=30)
        assert shown.returncode == 0, shown.stderr
        assert "DESIGN.md" not in shown.stdout, shown.stdout


def test_try_it_with_credentials_from_the_environment(tmp_path, aws_cli):
    """With SHOAL_ROOT_USER / SHOAL_ROOT_PASSWORD, the banner never prints the password,
    and its Try-it lines, pasted into a shell that has them, make the bucket."""
    srv = start_server(tmp_path / "env", "http")
    try:
        banner = srv.process.stdout
        assert ROOT_PASSWORD not in banner, banner
        home = tmp_path / "home"
        home.mkdir()
        pasted = paste(try_it_lines(banner), tmp_path, home, aws_cli,
                       SHOAL_ROOT_USER=ROOT_USER, SHOAL_ROOT_PASSWORD=ROOT_PASSWORD)
        assert pasted.returncode == 0, f"{pasted.stdout}\n{pasted.stderr}\n{banner}"
        assert "demo" in [b["Name"] for b in srv.client().list_buckets()["Buckets"]]
        assert not (home / ".aws").exists(), "pasting the banner changed ~/.aws"
    finally:
        stop(srv.process)
