#!/usr/bin/env bash
# The whole test suite: formatting, lints, then every test of every crate.
# Build prerequisites (Debian): nasm autoconf automake libtool pkg-config clang libclang-dev.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace
