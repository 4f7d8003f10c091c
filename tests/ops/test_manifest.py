"""The licence and toolchain promises of the manifests, as cargo itself reads them."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from conftest import REPO_ROOT, env_flag, run

# SHA-256 of the Apache License 2.0 text as the ASF publishes it (LICENSE-2.0.txt).
APACHE_2_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"
# The crate whose SDK dependencies need a newer toolchain than the product.
SDK_TEST_CRATE = "shoal-client-tests"


def workspace_packages() -> list[dict]:
    done = run(["cargo", "metadata", "--no-deps", "--format-version", "1", "--locked"], cwd=REPO_ROOT)
    return json.loads(done.stdout)["packages"]


def version_tuple(text: str) -> tuple[int, ...]:
    parts = [int(p) for p in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def test_license_is_the_apache_2_text():
    """LICENSE is the Apache-2.0 text, byte for byte, as every manifest declares."""
    text = (REPO_ROOT / "LICENSE").read_bytes()
    assert hashlib.sha256(text).hexdigest() == APACHE_2_SHA256
    debian_copy = Path("/usr/share/common-licenses/Apache-2.0")
    if debian_copy.exists():
        assert text == debian_copy.read_bytes()


def test_every_crate_declares_licence_and_rust_version():
    """cargo sees Apache-2.0 and a rust-version on every workspace crate, the same one
    everywhere except the SDK test crate, whose dependencies need a newer one."""
    packages = workspace_packages()
    assert len(packages) >= 8
    product = {p["name"]: p["rust_version"] for p in packages if p["name"] != SDK_TEST_CRATE}
    for package in packages:
        assert package["license"] == "Apache-2.0", package["name"]
        assert package["rust_version"], f"{package['name']} has no rust-version"
    assert len(set(product.values())) == 1, product
    floor = version_tuple(product["shoal"])
    # Edition 2024 needs 1.85; the code uses Duration::from_mins (stable since 1.91).
    assert floor >= (1, 91, 0), product["shoal"]
    sdk = next(p for p in packages if p["name"] == SDK_TEST_CRATE)
    assert version_tuple(sdk["rust_version"]) >= floor


@pytest.mark.skipif(not env_flag("SHOAL_OPS_MSRV"), reason="SHOAL_OPS_MSRV=1 builds with another toolchain (minutes)")
def test_workspace_builds_with_the_declared_rust_version():
    """The toolchain named by rust-version really checks every product crate and its tests."""
    version = next(p for p in workspace_packages() if p["name"] == "shoal")["rust_version"]
    toolchain = version if version.count(".") == 2 else version + ".0"
    run(["rustup", "toolchain", "install", toolchain, "--profile", "minimal"], timeout_s=600)
    run(
        [
            "nice", "cargo", f"+{toolchain}", "check", "--locked", "--workspace",
            "--exclude", SDK_TEST_CRATE, "--all-targets",
        ],
        cwd=REPO_ROOT, timeout_s=3600, env={**os.environ, "RUSTFLAGS": ""},
    )
