#!/usr/bin/env bash
# Operations checks (issue 14: build and packaging) with the real tools: LICENSE and
# rust-version (cargo metadata), the systemd unit (systemd-analyze verify), the
# Kubernetes manifests (kubernetes-validate), the Grafana dashboard (promtool parses
# every query; every metric is in docs/metrics.md), a real Prometheus scraping a real
# server with a generated bearer token (test_prometheus.py). Installs what is missing first:
# Debian packages and a Python venv.
#
#   SHOAL_OPS_RELEASE    1 (default): also build the static binary (scripts/release.sh:
#                        about 4 min from a cold target on 2 cores), serve S3 from it,
#                        build the OCI image (scripts/image.sh) and serve S3 from a
#                        container of it (podman); 0: skip those
#   SHOAL_OPS_MSRV=1     also build the workspace with the toolchain named by
#                        rust-version (rustup installs it)
#   SHOAL_BIN            debug or release binary for the unit check (default: built)
#   SHOAL_OPS_VENV       virtualenv to create or reuse (default: tests/ops/.venv)
# Extra arguments go to pytest (e.g. -k systemd).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${SHOAL_OPS_VENV:-$here/.venv}"

# systemd: systemd-analyze; util-linux: unshare; prometheus: promtool.
packages=(systemd util-linux file curl prometheus python3-venv)
export SHOAL_OPS_RELEASE="${SHOAL_OPS_RELEASE:-1}"
if [[ "$SHOAL_OPS_RELEASE" == 1 ]]; then
    # runc: Debian 12's crun refuses hosts with a hybrid cgroup v1/v2 layout.
    packages+=(musl-tools buildah podman runc)
fi
missing=()
for pkg in "${packages[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]} > 0)); then
    sudo=""
    [[ $(id -u) == 0 ]] || sudo="sudo"
    echo "ops: installing ${missing[*]}"
    $sudo apt-get update -qq
    # No recommends: prometheus would pull a node exporter and web assets.
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
fi

if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"

if [[ -z "${SHOAL_BIN:-}" ]]; then
    if [[ ! -x "$repo/target/debug/shoal" ]]; then
        (cd "$repo" && cargo build --bin shoal)
    fi
    export SHOAL_BIN="$repo/target/debug/shoal"
fi

export PATH="$venv/bin:$PATH"
cd "$here"
exec "$venv/bin/python" -m pytest -q -ra "$@"
