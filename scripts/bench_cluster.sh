#!/usr/bin/env bash
# One node against a 4-node cluster on this machine, in one run (issue 12's "Done
# when"): what going through the peer wire costs per request and per byte.
#
# Both sides get the same server cores and the same erasure layout: one node with 16
# drives (one set of 16, 12+4, --shards 1) and 4 nodes × 4 drives on 127.0.0.1–4
# (scripts/cluster.sh: one set of 16, 12+4, --shards 1 each), every server process
# pinned to cpu0 (`taskset -c 0`); the client (`shoal-bench`, 16 concurrent) runs on
# cpu1 and spreads its requests over the cluster's nodes round robin, as a load
# balancer would. Server CPU is the sum of every server process's utime+stime
# (/proc/PID/stat) over each measured run. Reps interleave the two sides (1 node
# first in odd reps); the table shows medians: ops/s, MiB/s, server CPU per op, and
# the 4-node/1-node ratios. With 12 of 16 chunks on other nodes, a byte written or read
# in the cluster crosses the wire about 3/4 of the time; the CPU-per-op difference is
# the wire's cost (framing, checksums, copies, loopback TCP) plus four runtimes sharing
# one core.
#
#   scripts/bench_cluster.sh [--quick]
#
# Default: 3 reps of 8 s per workload (about 12 minutes); --quick: 1 rep of 3 s. Needs
# jq, taskset, curl and 2 cores. The server is $SHOAL_BIN, else target/release/shoal;
# the client $SHOAL_BENCH, else target/release/shoal-bench (both built if missing).
# Drives go under $BENCH_DIR (default: a folder in target/, on a real disk).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
usage() { sed -n '2,23p' "$0"; }
quick=0
while (($#)); do
    case "$1" in
        --quick) quick=1 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "bench_cluster.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
for tool in jq taskset curl timeout; do
    command -v "$tool" >/dev/null || { echo "bench_cluster.sh: needs $tool" >&2; exit 2; }
done
if (($(nproc) < 2)); then echo "bench_cluster.sh: needs 2 cores" >&2; exit 2; fi
if [[ $quick == 1 ]]; then reps=1 duration=3; else reps=3 duration=8; fi

bin="${SHOAL_BIN:-$root/target/release/shoal}"
bench="${SHOAL_BENCH:-$root/target/release/shoal-bench}"
if [[ ! -x $bin || ! -x $bench ]]; then
    echo "== building shoal and shoal-bench (release)"
    (cd "$root" && cargo build --release --quiet -p shoal --bin shoal &&
        cargo build --release --quiet -p shoal-bench --bin shoal-bench)
fi
base="${BENCH_DIR:-$root/target}"
mkdir -p "$base"
work="$(mktemp -d "$base/bench-cluster.XXXXXX")"
out="$work/results"
mkdir -p "$out"
port=9131
user=benchadmin
secret="bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
single_pid=""

cleanup() {
    if [[ -n $single_pid ]]; then kill "$single_pid" 2>/dev/null || true; fi
    if [[ -f $work/cluster/env ]]; then
        SHOAL_BIN="$bin" "$root/scripts/cluster.sh" down "$work/cluster" >/dev/null 2>&1 || true
    fi
    rm -rf "$work/one" "$work/cluster"
}
trap cleanup EXIT

# Sum of utime+stime, in clock ticks, of the pids given.
cpu_ticks() {
    local total=0 pid fields
    for pid in "$@"; do
        fields="$(cut -d')' -f2 "/proc/$pid/stat")"
        total=$((total + $(awk '{ print $12 + $13 }' <<<"$fields")))
    done
    echo "$total"
}

start_single() {
    rm -rf "$work/one"
    SHOAL_ROOT_USER=$user SHOAL_ROOT_PASSWORD=$secret setsid taskset -c 0 "$bin" server \
        --shards 1 --parity 4 --address "127.0.0.1:$port" "$work/one/d{01...16}" \
        >"$out/single.log" 2>&1 </dev/null &
    single_pid=$!
    for _ in $(seq 100); do
        curl -fs -o /dev/null "http://127.0.0.1:$port/minio/health/cluster" && return
        sleep 0.2
    done
    echo "bench_cluster.sh: the single node did not start:" >&2
    tail -5 "$out/single.log" >&2
    exit 1
}

stop_single() {
    kill "$single_pid"
    wait "$single_pid" 2>/dev/null || true
    single_pid=""
}

start_cluster() {
    rm -rf "$work/cluster"
    mkdir -p "$work/cluster"
    if ! SHOAL_BIN="$bin" taskset -c 0 "$root/scripts/cluster.sh" up "$work/cluster" \
        --base-port "$port" --shards 1 >"$out/cluster-up.log" 2>&1; then
        echo "bench_cluster.sh: the cluster did not start:" >&2
        tail -20 "$out/cluster-up.log" >&2
        exit 1
    fi
}

cluster_pids() { cat "$work/cluster"/n*.pid; }

# run SIDE KEY MODE FLAGS REP: one shoal-bench run against SIDE; appends a figures line.
run() {
    local side=$1 key=$2 mode=$3 flags=$4 rep=$5 hosts pids access password
    if [[ $side == one ]]; then
        hosts="127.0.0.1:$port" pids=("$single_pid") access=$user password=$secret
    else
        hosts="127.0.0.{1...4}:$port"
        mapfile -t pids < <(cluster_pids)
        # shellcheck disable=SC1091 # written by cluster.sh
        access="$(. "$work/cluster/env" && echo "$AWS_ACCESS_KEY_ID")"
        # shellcheck disable=SC1091
        password="$(. "$work/cluster/env" && echo "$AWS_SECRET_ACCESS_KEY")"
    fi
    local file="$out/$key-$side-r$rep" before after
    before="$(cpu_ticks "${pids[@]}")"
    # shellcheck disable=SC2086 # flags are words
    if ! timeout 300 taskset -c 1 "$bench" "$mode" --host "$hosts" --access-key "$access" \
        --secret-key "$password" --bucket "b-${key//_/-}-r$rep" --concurrent 16 --shards 1 \
        --duration "${duration}s" --benchdata "$file" $flags >"$file.txt" 2>&1; then
        echo "   $key $side rep $rep: FAILED (see $file.txt)"
        return
    fi
    after="$(cpu_ticks "${pids[@]}")"
    jq -r --arg key "$key" --arg side "$side" --arg cpu "$((after - before))" \
        '[$key, $side, .total.throughput.average_obj_s, .total.throughput.average_mib_s,
          (($cpu | tonumber) * 10000 / ([.total.requests, 1] | max)), .total.errors]
         | map(tostring) | join(" ")' "$file.json" >>"$out/figures"
}

suite=(
    "put_4k|put|--obj.size 4KiB"
    "get_4k|get|--obj.size 4KiB --objects 500"
    "put_1m|put|--obj.size 1MiB"
    "get_1m|get|--obj.size 1MiB --objects 64"
)

: >"$out/figures"
for rep in $(seq "$reps"); do
    sides=(one cluster)
    if ((rep % 2 == 0)); then sides=(cluster one); fi
    for side in "${sides[@]}"; do
        echo "== rep $rep: $side"
        if [[ $side == one ]]; then start_single; else start_cluster; fi
        for entry in "${suite[@]}"; do
            IFS='|' read -r key mode flags <<<"$entry"
            run "$side" "$key" "$mode" "$flags" "$rep"
        done
        if [[ $side == one ]]; then
            stop_single
        else
            SHOAL_BIN="$bin" "$root/scripts/cluster.sh" down "$work/cluster" >/dev/null
        fi
    done
done

# Medians per workload and side, then the table.
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
field() { awk -v k="$1" -v s="$2" -v f="$3" '$1 == k && $2 == s { print $f }' "$out/figures" | median; }
printf '\n%-8s %12s %12s %8s %12s %12s %8s %14s\n' workload "1 node op/s" "4 nodes op/s" ratio \
    "1 node µs/op" "4 nodes µs/op" ratio "wire µs/op"
for entry in "${suite[@]}"; do
    key="${entry%%|*}"
    one_ops="$(field "$key" one 3)" four_ops="$(field "$key" cluster 3)"
    one_cpu="$(field "$key" one 5)" four_cpu="$(field "$key" cluster 5)"
    awk -v k="$key" -v a="$one_ops" -v b="$four_ops" -v c="$one_cpu" -v d="$four_cpu" 'BEGIN {
        printf "%-8s %12.1f %12.1f %8.2f %12.0f %12.0f %8.2f %14.0f\n",
            k, a, b, (a > 0 ? b / a : 0), c, d, (c > 0 ? d / c : 0), d - c }'
done
echo
echo "Server CPU per op is the sum over every server process (µs). For the 1 MiB rows,"
echo "wire µs/op ÷ 768 KiB (3/4 of the chunks cross the wire) is the wire's cost per KiB."
echo "Raw figures: $out/figures (kept; the drives are removed)."
trap - EXIT
cleanup
