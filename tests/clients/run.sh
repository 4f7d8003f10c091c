#!/usr/bin/env bash
# Runs the Python client suite (boto3, AWS CLI, curl) against a freshly built shoal.
#   SHOAL_VENV  virtualenv to create or reuse (default: tests/clients/.venv)
#   SHOAL_BIN   binary under test; when set, nothing is built
# Extra arguments go to pytest (e.g. -k listing, -x).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${SHOAL_VENV:-$here/.venv}"

if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"

if [[ -z "${SHOAL_BIN:-}" ]]; then
    (cd "$repo" && cargo build --release --bin shoal)
    export SHOAL_BIN="$repo/target/release/shoal"
fi

# The venv's bin first, so tests find its `aws`.
export PATH="$venv/bin:$PATH"
cd "$here"
exec "$venv/bin/python" -m pytest -q -ra "$@"
