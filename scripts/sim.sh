#!/usr/bin/env bash
# Runs the whole-store deterministic simulation over more seeds than CI does (CI: 1,000,
# and 300 of the variant that crashes mid-load), both variants over the same seeds.
#
#   scripts/sim.sh [SEEDS] [START]     e.g. scripts/sim.sh 20000
#
# A failure prints its seed and the command that reruns exactly that seed
# (SHOAL_SEED=N ...); SIM_DEBUG=1 with it logs every operation and each drive's copy.
set -euo pipefail
cd "$(dirname "$0")/.."
SHOAL_SEEDS="${1:-5000}" SHOAL_SEED_START="${2:-0}" \
    cargo test -p shoal-shards --test suites -- --nocapture --test-threads 1 \
    seeded_store_simulation seeded_crash_simulation
