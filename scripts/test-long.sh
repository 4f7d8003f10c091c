#!/usr/bin/env bash
# The long run: what scripts/test.sh runs, plus the repetitions the default run leaves
# out, for before a release or after a change to the transport, the simulation or the
# packaging. Each part is a default check run more, except the release packaging, which
# only this run builds:
#   - the client suite's `above_transport` modules in https and epoll too
#     (SHOAL_CLIENT_MODES=all; the default runs them over http only): about +3 min;
#   - the ops checks' static release binary and OCI image (SHOAL_OPS_RELEASE=1: an LTO
#     build for musl, about 4-5 min from a cold target on 2 cores);
#   - every fuzz target for SHOAL_FUZZ_SECONDS (default here 60 s instead of 10);
#   - the store, crash and cluster simulations over SHOAL_SIM_SEEDS seeds (default
#     5000; the default run does 1,000 / 300 / 500) and the many-seed write-fault
#     sweep that is #[ignore]d in the default run.
# About an hour on this 2-core machine (not yet timed end to end; the parts are). Any
# variable above may be set to override; SHOAL_OPS_MSRV=1 adds the MSRV build.
#
#   scripts/test-long.sh
set -euo pipefail
cd "$(dirname "$0")/.."

seeds="${SHOAL_SIM_SEEDS:-5000}"
SHOAL_CLIENT_MODES="${SHOAL_CLIENT_MODES:-all}" \
    SHOAL_OPS_RELEASE="${SHOAL_OPS_RELEASE:-1}" \
    SHOAL_FUZZ_SECONDS="${SHOAL_FUZZ_SECONDS:-60}" \
    scripts/test.sh
scripts/sim.sh "$seeds"
SHOAL_SEEDS="$seeds" cargo test -p shoal-shards --test suites -- \
    sim_cluster::seeded lease_fencing::racing
SHOAL_SEEDS="$((seeds / 25))" cargo test -p shoal-shards --test suites -- \
    --ignored sim_faults::random_write_faults_many_seeds
