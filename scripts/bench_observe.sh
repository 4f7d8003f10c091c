#!/usr/bin/env bash
# What observing requests costs (issue 14's bench): server CPU per 4 KiB and 10 MiB GET
# of the same commit built with and without its request metrics, logs and traces, in
# one run of scripts/bench_compare.sh each:
#   1. bare (`--features no-observe`: `Observer::request_ended` records nothing and
#      members keep no verb latency figures)
#      against the shipped build (metrics, per-drive verb timing);
#   2. bare against the shipped build with `--log-requests` on (one log line per
#      request, written by the log thread to the server's stderr file).
# The refused anonymous request (403) runs too, as bench_compare's floor. Prints both
# tables and the CPU/op ratios new/old; the target is ≤ 1.03.
#
#   scripts/bench_observe.sh [--quick]
#
# Builds two release binaries of the working tree under target/bench-observe/ (about
# 5 minutes the first time), then 3 reps of 10 s per workload (--quick: 1 rep of 3 s).
# Needs what bench_compare.sh needs (jq, taskset, 2 cores, 10 GiB free).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
quick=()
for arg in "$@"; do
    case "$arg" in
        --quick) quick=(--quick) ;;
        -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "bench_observe.sh: unknown argument $arg" >&2; exit 2 ;;
    esac
done

out="$root/target/bench-observe"
mkdir -p "$out"
cd "$root"
echo "== building the shipped server and the bare one (release)"
cargo build --release --quiet --bin shoal
cp target/release/shoal "$out/shoal-observed"
cargo build --release --quiet --bin shoal --features no-observe
cp target/release/shoal "$out/shoal-bare"
# Leave target/release/shoal as shipped.
cargo build --release --quiet --bin shoal
# The shipped build with the request log on: bench_compare runs `BIN server ARGS`.
cat >"$out/shoal-logged" <<EOF
#!/usr/bin/env bash
exec "$out/shoal-observed" "\$1" --log-requests "\${@:2}"
EOF
chmod +x "$out/shoal-logged"

workloads=get_4k,get_10m
echo
echo "## 1. metrics: old = bare, new = shipped"
scripts/bench_compare.sh "$out/shoal-bare" "$out/shoal-observed" "${quick[@]}" --only "$workloads" |
    tee "$out/metrics.txt"
echo
echo "## 2. metrics and request log: old = bare, new = shipped with --log-requests"
scripts/bench_compare.sh "$out/shoal-bare" "$out/shoal-logged" "${quick[@]}" --only "$workloads" |
    tee "$out/logged.txt"
echo
echo "== CPU/op new/old (target ≤ 1.03):"
for file in metrics logged; do
    awk -v run="$file" '/^(GET 4 KiB|GET 10 MiB|403 anonymous HEAD)/ {
        split($0, side, "|"); n = split(side[2], f, " "); printf "  %-8s %-20s %s\n", run, substr($0, 1, 20), f[n] }' \
        "$out/$file.txt"
done
