#!/usr/bin/env bash
# The default test run (CI's): formatting, lints, every Rust test (unit, store suites on
# real and simulated drives, kill -9 crash test, AWS SDK, bench client end to end), the
# client suite (boto3, AWS CLI, curl) against the real binary, the ops checks, and each
# fuzz target briefly. Installs missing prerequisites first. Aim: under about 25 minutes
# on a 2-core machine; each phase prints how long it took.
#
# What the default run leaves to scripts/test-long.sh: repetitions (the client suite's
# `above_transport` modules, S3 semantics such as listing, tags, copies and keys, over
# https and epoll as well as http; fuzzing for 60 s instead of 10 per target; the
# simulations over 5,000 seeds instead of 300-1,000) and the release packaging, the
# one check only the long run makes: the ops checks' static musl binary and OCI image
# (SHOAL_OPS_RELEASE=1, an LTO build of ~4-5 min that tests no code the debug build
# does not).
#
# One build serves every phase: `cargo test --workspace` builds target/debug/shoal (test
# profile, the workspace's features), and the bench and SDK tests, the client suite and
# the ops checks all drive that binary through SHOAL_BIN. Left to build their own, the
# bench tests ran `cargo build -p shoal`, which compiled the workspace and a score of
# dependencies again in another profile and feature set (3-5 min on 2 cores).
#   SHOAL_CLIENT_MODES   lean (default) | all          see tests/clients/conftest.py
#   SHOAL_OPS_RELEASE    0 (default) | 1               see tests/ops/run.sh
#   SHOAL_FUZZ_SECONDS   seconds per fuzz target (default 10)
set -euo pipefail
cd "$(dirname "$0")/.."

started_s=$(date +%s)
phase_s=$started_s
phase() {
    local now_s
    now_s=$(date +%s)
    echo "test.sh: $1 took $((now_s - phase_s)) s (total $((now_s - started_s)) s)"
    phase_s=$now_s
}

scripts/deps.sh
cargo fmt --all -- --check
phase "deps and fmt"
cargo clippy --workspace --all-targets --quiet -- -D warnings
phase "clippy"
cargo test --workspace --no-run
phase "build of the tests"
SHOAL_BIN="$PWD/target/debug/shoal" cargo test --workspace
phase "Rust tests"
SHOAL_BIN="$PWD/target/debug/shoal" tests/clients/run.sh
phase "client suite"
# Packaging with the real tools (systemd, Kubernetes, Prometheus, Grafana); the static
# release binary and its image only with SHOAL_OPS_RELEASE=1.
SHOAL_OPS_RELEASE="${SHOAL_OPS_RELEASE:-0}" SHOAL_BIN="$PWD/target/debug/shoal" tests/ops/run.sh
phase "ops checks"
# Every fuzz target for a bounded time from the committed corpus (nightly + cargo-fuzz).
scripts/fuzz.sh "${SHOAL_FUZZ_SECONDS:-10}"
phase "fuzzing"
