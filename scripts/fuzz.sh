#!/usr/bin/env bash
# Builds every cargo-fuzz target in fuzz/ and runs each for SECONDS_PER_TARGET
# (default 60) from the committed seed corpus; fails on the first crash, leak or
# timeout. Needs the nightly toolchain and cargo-fuzz; installs either if missing.
#   scripts/fuzz.sh [SECONDS_PER_TARGET]
# Inputs the fuzzer finds go to a scratch folder, never into fuzz/corpus (the committed
# seeds stay small); a crashing input is left in fuzz/artifacts/<target>/ — keep it as
# a regression case (fuzz/corpus/<target>/ and a unit test in the crate it broke).
# FUZZ_SANITIZER (default none) is passed to cargo-fuzz: `address` finds more in the
# unsafe code of dependencies, at 2-3x the build and run time.
set -euo pipefail
seconds="${1:-60}"
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [SECONDS_PER_TARGET]" >&2; exit 2; }
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo/fuzz"
sanitizer="${FUZZ_SANITIZER:-none}"

rustup run nightly rustc --version >/dev/null 2>&1 || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
started=$(date +%s)
cargo +nightly fuzz build --debug-assertions --sanitizer "$sanitizer"
echo "fuzz: built in $(( $(date +%s) - started )) s"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for target in $(cargo +nightly fuzz list); do
    mkdir -p "$scratch/$target" "corpus/$target"
    echo "fuzz: $target for ${seconds}s"
    # First folder: where new inputs go; the committed seeds are only read.
    if ! cargo +nightly fuzz run --debug-assertions --sanitizer "$sanitizer" "$target" \
        "$scratch/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$scratch/$target.log" 2>&1; then
        tail -n 60 "$scratch/$target.log" >&2
        echo "fuzz: $target FAILED (input in fuzz/artifacts/$target/)" >&2
        exit 1
    fi
    grep -E '^stat::number_of_executed_units|^#[0-9]+ +DONE' "$scratch/$target.log" || true
done
echo "fuzz: every target ran ${seconds}s clean; total $(( $(date +%s) - started )) s"
