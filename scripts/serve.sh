#!/usr/bin/env bash
# Starts a local Shoal server: installs build prerequisites if missing, builds the
# release binary, and runs `shoal server` with four drives under ./shoal-data/.
# Extra arguments go to `shoal server` (e.g. --address 127.0.0.1:9100 --shards 2).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/deps.sh"
cargo build --release --bin shoal --manifest-path "$root/Cargo.toml"
exec "$root/target/release/shoal" server "$@"
