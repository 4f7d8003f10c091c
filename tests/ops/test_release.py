"""The release artefacts work as shipped: scripts/release.sh makes one static binary
with ISA-L inside that serves S3 from a bare folder, and scripts/image.sh wraps it in a
FROM scratch OCI image that serves S3 from a container (podman, no daemon).

The release build is LTO'd: about 4 minutes from a cold target on 2 cores. These tests
run when SHOAL_OPS_RELEASE=1, which tests/ops/run.sh sets unless told 0.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import (
    REPO_ROOT, ROOT_PASSWORD, ROOT_USER, check_s3_round_trip, env_flag, free_port, run,
    wait_for_http,
)

pytestmark = pytest.mark.skipif(
    not env_flag("SHOAL_OPS_RELEASE"), reason="SHOAL_OPS_RELEASE=0: no static release binary"
)
VERSION_LINE = re.compile(r"^shoal (\S+) \(commit ([^,]+), (\w+), (\S+)\)$")
STOP_TIMEOUT_S = 20
# podman's container runtime: Debian 12's crun refuses hosts whose cgroups are a v1/v2
# hybrid (this one); runc runs on both.
PODMAN = ["podman", "--runtime", "runc"]


@pytest.fixture(scope="module")
def release() -> dict:
    """Runs scripts/release.sh once; returns its binary and what it printed."""
    done = run([str(REPO_ROOT / "scripts/release.sh")], timeout_s=3600)
    output = done.stdout + done.stderr
    found = re.search(r"^release: binary (\S+)$", output, re.M)
    assert found, output
    return {"binary": Path(found.group(1)), "output": output}


def test_release_binary_is_static_with_isal(release):
    """`file` and `ldd` call the binary static, it holds ISA-L's GFNI/AVX2 encoders, and
    its version names the release profile and the musl target."""
    binary = release["binary"]
    assert "static" in run(["file", "-b", str(binary)]).stdout
    ldd = run(["ldd", str(binary)], check=False)
    assert "not a dynamic executable" in ldd.stdout + ldd.stderr or "statically linked" in ldd.stdout
    symbols = run(["nm", "--defined-only", str(binary)]).stdout
    for symbol in ("ec_encode_data", "ec_init_tables", "gf_gen_cauchy1_matrix", "ec_encode_data_avx2"):
        assert re.search(rf" T {symbol}$", symbols, re.M), f"ISA-L symbol {symbol} missing"
    version = VERSION_LINE.match(run([str(binary), "--version"]).stdout.strip())
    assert version and version.group(3) == "release" and version.group(4) == "x86_64-unknown-linux-musl"
    assert "release: ldd:" in release["output"] and "release: size" in release["output"]


def test_release_build_again_compiles_nothing(release):
    """build.rs re-runs only when git state changes: building the same tree again
    compiles nothing, not even the root crate (no LTO link of minutes)."""
    again = run([str(REPO_ROOT / "scripts/release.sh")], timeout_s=600)
    output = again.stdout + again.stderr
    assert "Compiling" not in output, output
    assert f"release: binary {release['binary']}" in output


def test_static_binary_serves_s3_from_a_folder(release, tmp_path):
    """The static binary starts on four fresh folders, refuses anonymous access (403),
    stores and returns an object for a signed client, and stops cleanly on SIGTERM."""
    port = free_port()
    drives = [str(tmp_path / f"drive{i}") for i in range(1, 5)]
    env = {**os.environ, "SHOAL_ROOT_USER": ROOT_USER, "SHOAL_ROOT_PASSWORD": ROOT_PASSWORD}
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [str(release["binary"]), "server", "--address", f"127.0.0.1:{port}", "--shards", "2", *drives],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        endpoint = f"http://127.0.0.1:{port}"
        wait_for_http(endpoint + "/")
        check_s3_round_trip(endpoint, tmp_path)
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=STOP_TIMEOUT_S)
    assert code == 0, (tmp_path / "server.log").read_text()


def image_config(image: str) -> dict:
    done = run(["buildah", "inspect", "--type", "image", image])
    return json.loads(done.stdout)["OCIv1"]["config"]


def image_files(image: str) -> list[str]:
    """Every path in the image's root filesystem."""
    container = run(["buildah", "from", "--pull-never", image]).stdout.strip()
    try:
        root = Path(run(["buildah", "mount", container]).stdout.strip())
        return sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    finally:
        run(["buildah", "rm", container])


@pytest.fixture(scope="module")
def image(release) -> str:
    name = "localhost/shoal:ops-test"
    env = {**os.environ, "SHOAL_BIN": str(release["binary"]), "SHOAL_IMAGE": name}
    run([str(REPO_ROOT / "scripts/image.sh")], env=env, timeout_s=600)
    yield name
    run(["buildah", "rmi", name], check=False)


def test_image_holds_only_the_binary_and_says_what_it_is(release, image):
    """The image is the static binary and an empty /data; it runs `/shoal server /data`
    as user 1000, exposes 9000, declares /data a volume, and its labels carry the
    binary's version and commit and the licence."""
    assert image_files(image) == ["data", "shoal"]
    config = image_config(image)
    assert config["Entrypoint"] == ["/shoal"] and config["Cmd"] == ["server", "/data"]
    assert config["User"] == "1000:1000"
    assert "9000/tcp" in config["ExposedPorts"] and "/data" in config["Volumes"]
    version = VERSION_LINE.match(run([str(release["binary"]), "--version"]).stdout.strip())
    labels = config["Labels"]
    assert labels["org.opencontainers.image.version"] == version.group(1)
    assert labels["org.opencontainers.image.revision"] == version.group(2)
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"


def hard_limit(flag: str) -> str:
    value = run(["bash", "-c", f"ulimit -H{flag}"]).stdout.strip()
    return f"{value}:{value}"


def test_container_serves_s3(image, tmp_path):
    """A container of the image, started with its own entrypoint and default arguments,
    serves S3 on its published port: 403 for anonymous, a signed round trip works."""
    port = free_port()
    name = f"shoal-ops-test-{os.getpid()}"
    # Limits the host allows without CAP_SYS_RESOURCE (podman's defaults exceed them here).
    limits = ["--ulimit", f"nofile={hard_limit('n')}", "--ulimit", "nproc=4096:4096"]
    run([
        *PODMAN, "run", "--rm", "-d", "--name", name, *limits, "-p", f"127.0.0.1:{port}:9000",
        "-e", f"SHOAL_ROOT_USER={ROOT_USER}", "-e", f"SHOAL_ROOT_PASSWORD={ROOT_PASSWORD}", image,
    ], timeout_s=120)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        wait_for_http(endpoint + "/")
        check_s3_round_trip(endpoint, tmp_path)
        logs = run([*PODMAN, "logs", name]).stdout + run([*PODMAN, "logs", name]).stderr
        assert "drives:   /data" in logs, logs
    finally:
        stopped = time.monotonic()
        run([*PODMAN, "stop", "-t", str(STOP_TIMEOUT_S), name], check=False, timeout_s=60)
    # Stopped by SIGTERM and a drain, not by the SIGKILL after the timeout.
    assert time.monotonic() - stopped < STOP_TIMEOUT_S
