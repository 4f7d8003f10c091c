#!/usr/bin/env bash
# Runs the whole-store deterministic simulation over more seeds than CI does (CI: 1,000).
#
#   scripts/sim.sh [SEEDS] [START]     e.g. scripts/sim.sh 20000
#
# A failure prints its seed and the command that reruns exactly that seed
# (SHOAL_SEED=N ...); SIM_DEBUG=1 with it logs every operation and each drive's copy.
set -euo pipefail
cd "$(dirname "$0")/.."
SHOAL_SEEDS="${1:-5000}" SHOAL_SEED_START="${2:-0}" \
    cargo test -p shoal-shards --test sim_store -- --nocapture seeded_store_simulation
