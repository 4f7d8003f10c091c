#!/usr/bin/env bash
# The whole test suite: formatting, lints, every Rust test (unit, store suites on real
# and simulated drives, kill -9 crash test, AWS SDK), then the client suite (boto3,
# AWS CLI, curl) against the real binary. Installs missing prerequisites first.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace
# `cargo test` built target/debug/shoal for the binary's own tests; the client suite
# drives that same build (building it again in another profile would cost minutes).
if [[ ! -x target/debug/shoal ]]; then
    cargo build --bin shoal
fi
SHOAL_BIN="$PWD/target/debug/shoal" tests/clients/run.sh
SHOAL_BIN="$PWD/target/debug/shoal" tests/ops/run.sh  # packaging with the real tools, incl. the static binary and image (~5 min)
# Every fuzz target for a bounded time from the committed corpus (nightly + cargo-fuzz).
scripts/fuzz.sh "${SHOAL_FUZZ_SECONDS:-10}"
