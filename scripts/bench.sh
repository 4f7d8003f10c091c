#!/usr/bin/env bash
# The standard Shoal benchmark: builds release binaries, measures this machine's
# ceilings with `shoal-bench baseline` (before the server starts, on all cores; the
# drive figures in DRIVE_DIR), starts a local `shoal server` (4 drives under DRIVE_DIR,
# default a temporary folder), runs the suite (10 MiB GET and PUT, 4 KiB GET and PUT,
# mixed, stat, list over 10k keys) with `--baseline`, and prints one table with each
# figure and its ratios to the baseline. Server and client are pinned to separate
# cores when there are at least two. The server is stopped with SIGTERM on exit.
#
#   scripts/bench.sh [DRIVE_DIR] [--quick]
#
# --quick: shorter runs and fewer objects (about 2 minutes instead of about 10).
# Per-run JSON/CSV (--benchdata) and the logs go to $BENCH_OUT (default: a folder
# under DRIVE_DIR). Needs jq and taskset.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
quick=0
drive_dir=""
for arg in "$@"; do
    case "$arg" in
        --quick) quick=1 ;;
        -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
        -*) echo "bench.sh: unknown flag $arg" >&2; exit 2 ;;
        *) drive_dir="$arg" ;;
    esac
done
for tool in jq taskset; do
    command -v "$tool" >/dev/null || { echo "bench.sh: needs $tool" >&2; exit 2; }
done

if [[ $quick == 1 ]]; then
    duration=4s baseline_secs=0.3 direct_size=256MiB
    objects_10m=16 objects_4k=500 objects_mixed=500 list_keys=2000
else
    duration=15s baseline_secs=1 direct_size=1GiB
    objects_10m=64 objects_4k=2000 objects_mixed=2000 list_keys=10000
fi

created_dir=0
if [[ -z $drive_dir ]]; then
    drive_dir="$(mktemp -d "${TMPDIR:-/tmp}/shoal-bench.XXXXXX")"
    created_dir=1
fi
mkdir -p "$drive_dir"
drive_dir="$(cd "$drive_dir" && pwd)"
out="${BENCH_OUT:-$drive_dir/results}"
mkdir -p "$out"

echo "== building release binaries"
cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p shoal -p shoal-bench --bins
target_dir="${CARGO_TARGET_DIR:-$root/target}"
shoal="$target_dir/release/shoal"
bench="$target_dir/release/shoal-bench"

# Pinning: the server gets the first half of the cores, the client the rest.
cores="$(nproc)"
if ((cores >= 2)); then
    half=$((cores / 2))
    server_cpus="0-$((half - 1))" client_cpus="$half-$((cores - 1))"
    server_shards=$half client_shards=$((cores - half))
    server_pin=(taskset -c "$server_cpus") client_pin=(taskset -c "$client_cpus")
    pinning="server on cpu $server_cpus ($server_shards shards), client on cpu $client_cpus ($client_shards shards)"
else
    server_shards=1 client_shards=1 server_pin=() client_pin=()
    pinning="not pinned (1 core): server and client share it"
fi

port=$((20000 + RANDOM % 20000))
user=benchadmin secret=benchsecret-$RANDOM$RANDOM
server_pid=""
stop_server() {
    if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid"
        wait "$server_pid" || true
    fi
    if [[ $created_dir == 1 && -z ${BENCH_OUT:-} ]]; then
        rm -rf "$drive_dir"/drive{1..4}
    fi
}
trap stop_server EXIT
trap 'exit 130' INT TERM

# Before the server starts, unpinned: a loopback exchange has two sides, as the suite's
# server and client have, and nothing else competes for the cores.
echo "== baseline (${baseline_secs}s per figure; drive figures in $drive_dir)"
"$bench" baseline --seconds "$baseline_secs" --sizes 4KiB,1MiB,10MiB \
    --dir "$drive_dir" --direct-size "$direct_size" --json "$out/baseline.json" \
    | tee "$out/baseline.txt"
figure() { jq -r --arg key "$1" '.figures[] | select(.key == $key) | .gbps * 100 | round / 100' "$out/baseline.json"; }
direct_io="$(jq -r 'if .direct_io then .direct_io | "\(if .o_direct then "O_DIRECT" else "buffered (O_DIRECT refused)" end) write \(.write_gbps * 100 | round / 100) GB/s, read \(.read_gbps * 100 | round / 100) GB/s" else "not measured" end' "$out/baseline.json")"

echo "== starting shoal server on 127.0.0.1:$port, drives $drive_dir/drive{1..4}"
echo "   pinning: $pinning"
SHOAL_ROOT_USER=$user SHOAL_ROOT_PASSWORD=$secret "${server_pin[@]}" "$shoal" server \
    --address "127.0.0.1:$port" --shards "$server_shards" \
    "$drive_dir"/drive{1..4} >"$out/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    kill -0 "$server_pid" 2>/dev/null || { echo "bench.sh: server exited:" >&2; cat "$out/server.log" >&2; exit 1; }
    sleep 0.1
done

common=(--host "127.0.0.1:$port" --access-key "$user" --secret-key "$secret"
    --duration "$duration" --shards "$client_shards" --baseline "$out/baseline.json")
# name | mode | flags
suite=(
    "GET 10MiB|get|--obj.size 10MiB --concurrent 8 --objects $objects_10m"
    "PUT 10MiB|put|--obj.size 10MiB --concurrent 8"
    "GET 4KiB|get|--obj.size 4KiB --concurrent 20 --objects $objects_4k"
    "PUT 4KiB|put|--obj.size 4KiB --concurrent 20"
    "MIXED 1MiB|mixed|--obj.size 1MiB --concurrent 20 --objects $objects_mixed"
    "STAT 4KiB|stat|--obj.size 4KiB --concurrent 20 --objects $objects_4k"
    "LIST ${list_keys} keys|list|--obj.size 1KiB --concurrent 4 --objects $list_keys"
)
rows=()
for entry in "${suite[@]}"; do
    IFS='|' read -r name mode flags <<<"$entry"
    file="$out/$(echo "$name" | tr ' A-Z' '_a-z')"
    echo "== $name: shoal-bench $mode $flags --duration $duration"
    # shellcheck disable=SC2086 # flags are words on purpose
    if ! "${client_pin[@]}" "$bench" "$mode" "${common[@]}" $flags --benchdata "$file" \
        >"$file.txt" 2>"$file.log"; then
        echo "   failed (see $file.log):" >&2
        tail -5 "$file.log" >&2
        rows+=("$name|failed|||||")
        continue
    fi
    rows+=("$name|$(jq -r '
        .total as $t
        | .obj_size_bytes as $size
        | (.operations | max_by(.requests)) as $op
        | [ (if $t.bytes > 0 then "\($t.throughput.average_mib_s * 100 | round / 100) MiB/s"
             else "\($t.throughput.average_obj_s | round) obj/s" end),
            "\($t.throughput.average_obj_s | round)",
            "\($op.latency.p50_ms * 1000 | round / 1000)",
            "\($op.latency.p99_ms * 1000 | round / 1000)",
            "\($t.errors)",
            ([$op.baseline_ratios[]
              # The stream ceiling says nothing of small objects: round trips do.
              | select(.ceiling != "loopback TCP stream" or $size >= 1048576)
              | "\(.ratio * 1000 | round / 1000)x \(.ceiling
                  | sub("loopback TCP stream"; "TCP stream")
                  | sub("loopback request/response, "; "")
                  | sub(", 1 conn"; " round trip"))"]
             | if length > 0 then join(", ") else "-" end) ]
        | join("|")' "$file.json")")
done

echo
echo "== shoal-bench suite: $(date -u +%Y-%m-%dT%H:%MZ), $(uname -srm), $cores cores, $pinning"
echo "   server: shoal server --shards $server_shards, 4 drives in $drive_dir; client: --shards $client_shards, $duration per run"
echo "   baseline: loopback TCP $(figure loopback_tcp) GB/s, memcpy $(figure memcpy) GB/s, SHA-256 $(figure sha256) GB/s, MD5 $(figure md5) GB/s (1 core); drive: $direct_io"
printf '%-16s %16s %10s %10s %10s %7s  %s\n' figure value "obj/s" "p50 ms" "p99 ms" errors "ratio to baseline"
for row in "${rows[@]}"; do
    IFS='|' read -r name value ops p50 p99 errors ratio <<<"$row"
    printf '%-16s %16s %10s %10s %10s %7s  %s\n' "$name" "$value" "$ops" "$p50" "$p99" "$errors" "$ratio"
done
echo "   (latency and ratios: of the run's most frequent operation; ratios: MiB/s against the"
echo "    loopback TCP stream (objects of 1 MiB or more), obj/s against loopback round trips of"
echo "    the same shape at the nearest size on one connection: the ceilings of any S3 server"
echo "    on loopback; per-run JSON, CSV and reports in $out)"
