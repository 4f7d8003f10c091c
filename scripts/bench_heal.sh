#!/usr/bin/env bash
# Heal throughput and what a running heal costs foreground requests (issue 13's bench),
# in one run. One release server (`--shards 1` pinned to cpu0, 4 drive folders on a
# real disk, the background scanner paused so only the measured heal repairs) is filled
# with 1 MiB and 4 KiB objects; then, for each measurement, the server is stopped, the
# first drive's copy of the filled buckets removed (its format and bucket records stay,
# as a drive that lost its object tree), the server started again and healed with
# `shoal admin heal` (one object at a time on the shard that takes it):
#   1. throughput: the heal unlimited (--heal-bytes-per-second 0) until done, and at
#      the default (64 MiB/s) for a bounded window: chunk bytes rebuilt (written) and
#      moved (read + written) per second and per server CPU-second (/proc/PID/stat),
#      from shoal_node_heal_bytes_total;
#   2. impact: shoal-bench GET and PUT of 1 MiB objects (16 concurrent, client on
#      cpu1, server CPU per request with --server-pid) without and with a heal running
#      (started 1 s before the workload; the heal client is stopped after it), with the
#      budget at its default and unlimited: ops/s and p99 latency, with/without.
# Prints one table of medians over the reps.
#
#   scripts/bench_heal.sh [--quick]
#
# Default: 3 reps, 1,536 x 1 MiB + 4,000 x 4 KiB objects (~1.5 GiB), workloads of 8 s,
# the default-budget heal window 20 s: about 15 minutes. --quick: 1 rep, 512 x 1 MiB
# + 1,000 x 4 KiB, 4 s workloads, a 10 s window: about 4 minutes. Needs jq, curl,
# taskset, 2 cores and 8 GiB free on the drives' disk (about 4 GB used at most). The
# binaries are target/release/shoal and shoal-bench ($SHOAL_BIN, $SHOAL_BENCH), built
# if missing. Drives go under $BENCH_DIR (default: a folder in target/; tmpfs is
# refused); the per-run reports and the server log are kept in its results/.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
usage() { sed -n '2,28p' "$0"; }
quick=0
for arg in "$@"; do
    case "$arg" in
        --quick) quick=1 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "bench_heal.sh: unknown argument $arg" >&2; exit 2 ;;
    esac
done
for tool in jq curl taskset timeout; do
    command -v "$tool" >/dev/null || { echo "bench_heal.sh: needs $tool" >&2; exit 2; }
done
if (($(nproc) < 2)); then echo "bench_heal.sh: needs 2 cores (server cpu0, client cpu1)" >&2; exit 2; fi

if [[ $quick == 1 ]]; then
    reps=1 big=512 small=1000 duration=4 window=10
else
    reps=3 big=1536 small=4000 duration=8 window=20
fi
heal_default=$((64 << 20))
heal_timeout_s=600 # one unlimited heal of everything, at worst
run_timeout_s=300  # one shoal-bench run: prepare + run + margin

shoal="${SHOAL_BIN:-$root/target/release/shoal}"
bench="${SHOAL_BENCH:-$root/target/release/shoal-bench}"
if [[ ! -x $shoal || ! -x $bench ]]; then
    echo "== building shoal and shoal-bench (release)"
    (cd "$root" && cargo build --release --quiet -p shoal --bin shoal -p shoal-bench --bin shoal-bench)
fi

base="${BENCH_DIR:-$root/target}"
mkdir -p "$base"
if [[ $(stat -f -c %T "$base") == tmpfs ]]; then
    echo "bench_heal.sh: $base is tmpfs; set BENCH_DIR to a folder on a real disk" >&2
    exit 2
fi
free_kib="$(df -Pk "$base" | awk 'NR == 2 { print $4 }')"
if ((free_kib < 8 * 1024 * 1024)); then
    echo "bench_heal.sh: under 8 GiB free in $base; set BENCH_DIR elsewhere" >&2
    exit 2
fi
work="$(mktemp -d "$base/bench-heal.XXXXXX")"
out="$work/results"
mkdir -p "$out"
drives=("$work"/drive{1..4})
user=benchadmin secret="benchsecret-$RANDOM$RANDOM"
port=$((20000 + RANDOM % 20000))
endpoint="http://127.0.0.1:$port"
ticks="$(getconf CLK_TCK)"
pid=""
healer=""

# Starts the server with healing's byte rate $1 (bytes per second, 0: unlimited).
start_server() {
    SHOAL_ROOT_USER=$user SHOAL_ROOT_PASSWORD=$secret SHOAL_PROMETHEUS_AUTH_TYPE=public \
        taskset -c 0 "$shoal" server --address "127.0.0.1:$port" --shards 1 \
        --scan-objects-per-second 0 --heal-bytes-per-second "$1" "${drives[@]}" \
        >>"$out/server.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return; fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "bench_heal.sh: the server did not start:" >&2
    tail -20 "$out/server.log" >&2
    exit 1
}

stop_healer() {
    if [[ -n $healer ]] && kill -0 "$healer" 2>/dev/null; then
        kill -TERM "$healer" 2>/dev/null || true
    fi
    if [[ -n $healer ]]; then wait "$healer" 2>/dev/null || true; fi
    healer=""
}

stop_server() {
    stop_healer
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        wait "$pid" 2>/dev/null || true
    fi
    pid=""
}
trap 'stop_server; rm -rf "${drives[@]}"' EXIT
trap 'exit 130' INT TERM

# Stops the server, removes the first drive's objects of the filled buckets, starts
# it again with byte rate $1.
damage_and_start() {
    stop_server
    for bucket in heal-big heal-small; do
        find "${drives[0]}/$bucket" -mindepth 1 -delete
    done
    start_server "$1"
}

admin() {
    SHOAL_ROOT_USER=$user SHOAL_ROOT_PASSWORD=$secret AWS_ENDPOINT_URL=$endpoint \
        "$shoal" admin "$@"
}

# Server CPU-seconds so far (user + system).
cpu_s() { awk -v t="$ticks" '{ printf "%.3f", ($14 + $15) / t }' "/proc/$pid/stat"; }

# Healing's chunk bytes so far: "read written" (published once a second).
heal_bytes() {
    curl -s "$endpoint/minio/v2/metrics/node" | awk '
        /^shoal_node_heal_bytes_total\{/ && /direction="read"/ { r = $NF }
        /^shoal_node_heal_bytes_total\{/ && /direction="written"/ { w = $NF }
        END { printf "%d %d\n", r, w }'
}

# Every figure, one line each: name rep value.
figures="$out/figures.tsv"
: >"$figures"
note() { echo "$1 $2 $3" >>"$figures"; }

# One shoal-bench run; prints "ops_s p99_ms cpu_us errors" (or "failed").
load() {
    local mode=$1 file=$2
    local flags=(--obj.size 1MiB)
    if [[ $mode == get ]]; then flags+=(--objects 64 --noclear); fi
    if ! timeout "$run_timeout_s" taskset -c 1 "$bench" "$mode" --host "127.0.0.1:$port" \
        --access-key "$user" --secret-key "$secret" --bucket "fg-$mode" --concurrent 16 \
        --shards 1 --duration "${duration}s" --server-pid "$pid" --benchdata "$file" \
        "${flags[@]}" >"$file.txt" 2>&1; then
        echo failed
        return
    fi
    jq -r '[.operations[0].throughput.average_obj_s, .operations[0].latency.p99_ms,
            (.server.cpu_per_request_us // 0), .total.errors] | map(tostring) | join(" ")' \
        "$file.json" 2>/dev/null || echo failed
}

# Heal throughput at rate $1 (label $2) for rep $3: until done, or for $window s.
throughput() {
    local rate=$1 label=$2 rep=$3
    damage_and_start "$rate"
    sleep 1
    local before cpu0 t0 after cpu1 t1
    before="$(heal_bytes)" cpu0="$(cpu_s)" t0="$(date +%s.%N)"
    admin heal --json >"$out/heal-$label-r$rep.json" 2>&1 &
    healer=$!
    if [[ $rate == 0 ]]; then
        local waited=0
        while kill -0 "$healer" 2>/dev/null && ((waited < heal_timeout_s * 10)); do
            sleep 0.1
            waited=$((waited + 1))
        done
    else
        sleep "$window"
    fi
    cpu1="$(cpu_s)" t1="$(date +%s.%N)"
    stop_healer
    sleep 1.2 # the metrics are published once a second
    after="$(heal_bytes)"
    read -r r0 w0 <<<"$before"
    read -r r1 w1 <<<"$after"
    awk -v r="$((r1 - r0))" -v w="$((w1 - w0))" -v s="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
        -v c="$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { print b - a }')" -v l="$label" -v rep="$rep" \
        'BEGIN { mib = 1048576; if (s <= 0) s = 1e-9; if (c <= 0) c = 1e-9;
                 printf "%s_rebuilt_mib_s %s %.2f\n%s_moved_mib_s %s %.2f\n", l, rep, w / mib / s, l, rep, (r + w) / mib / s
                 printf "%s_rebuilt_mib_cpu_s %s %.2f\n%s_cpu_share %s %.2f\n", l, rep, w / mib / c, l, rep, c / s
                 printf "%s_secs %s %.1f\n%s_rebuilt_mib %s %.1f\n", l, rep, s, l, rep, w / mib }' >>"$figures"
}

# Foreground workload $1 at rate $2 (label $3) for rep $4: without, then with a heal.
impact() {
    local mode=$1 rate=$2 label=$3 rep=$4
    damage_and_start "$rate"
    local base_run heal_run running=no
    base_run="$(load "$mode" "$out/$mode-$label-alone-r$rep")"
    admin heal --json >"$out/heal-$mode-$label-r$rep.json" 2>&1 &
    healer=$!
    sleep 1
    heal_run="$(load "$mode" "$out/$mode-$label-healing-r$rep")"
    if kill -0 "$healer" 2>/dev/null; then running=yes; fi
    stop_healer
    if [[ $base_run == failed || $heal_run == failed ]]; then
        echo "   $mode ($label) rep $rep: FAILED (see $out/$mode-$label-*-r$rep.txt)"
        note "${mode}_${label}_failed" "$rep" 1
        return
    fi
    read -r ops0 p990 cpu0 err0 <<<"$base_run"
    read -r ops1 p991 cpu1 err1 <<<"$heal_run"
    note "${mode}_${label}_ops_alone" "$rep" "$ops0"
    note "${mode}_${label}_ops_healing" "$rep" "$ops1"
    note "${mode}_${label}_p99_alone" "$rep" "$p990"
    note "${mode}_${label}_p99_healing" "$rep" "$p991"
    note "${mode}_${label}_errors" "$rep" "$((err0 + err1))"
    note "${mode}_${label}_heal_outlasted" "$rep" "$([[ $running == yes ]] && echo 1 || echo 0)"
}

start_s=$SECONDS
echo "== server $shoal on cpu0 (--shards 1), client on cpu1; drives under $work"
start_server 0
echo "   filling: $big x 1 MiB and $small x 4 KiB ($((SECONDS - start_s)) s)"
fill() {
    local bucket=$1 count=$2 size=$3 concurrent=$4
    if ! timeout 1800 taskset -c 1 "$bench" get --host "127.0.0.1:$port" --access-key "$user" \
        --secret-key "$secret" --bucket "$bucket" --concurrent "$concurrent" --duration 1s \
        --noclear --objects "$count" --obj.size "$size" >"$out/fill-$bucket.txt" 2>&1; then
        echo "bench_heal.sh: filling $bucket failed:" >&2
        tail -5 "$out/fill-$bucket.txt" >&2
        exit 1
    fi
}
fill heal-big "$big" 1MiB 16
fill heal-small "$small" 4KiB 128
echo "   filled ($((SECONDS - start_s)) s); drives hold $(du -sh "$work" | cut -f1)"

for rep in $(seq "$reps"); do
    echo "   rep $rep/$reps: heal unlimited to the end ($((SECONDS - start_s)) s)"
    throughput 0 unlimited "$rep"
    echo "   rep $rep/$reps: heal at the default for ${window}s ($((SECONDS - start_s)) s)"
    throughput "$heal_default" default "$rep"
    for label in default unlimited; do
        rate=0
        if [[ $label == default ]]; then rate=$heal_default; fi
        for mode in get put; do
            echo "   rep $rep/$reps: $mode without and with a heal ($label) ($((SECONDS - start_s)) s)"
            impact "$mode" "$rate" "$label" "$rep"
        done
    done
done
stop_server

# The median of the figures named $1 ("nan" when none).
median() {
    awk -v name="$1" '$1 == name { print $3 }' "$figures" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR == 0) print "nan";
              else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "nan" || b == "nan" || a == 0) print "-"; else printf "%.2f", b / a }'; }
num() { awk -v v="$1" 'BEGIN { if (v == "nan") print "-"; else printf "%.1f", v }'; }

echo
echo "Medians of $reps rep(s). Server: 1 shard on cpu0, 4 drives (2 data + 2 parity) under $base;"
echo "one drive's copy of $big x 1 MiB + $small x 4 KiB objects removed, then healed by \`shoal admin heal\`."
echo "Rebuilt: chunk bytes written to the drive; moved: read + written (what --heal-bytes-per-second bounds)."
echo
printf "%-22s %12s %12s %14s %10s %10s %12s\n" "heal budget" "rebuilt MiB/s" "moved MiB/s" "rebuilt MiB/CPU-s" "server CPU" "seconds" "rebuilt MiB"
for label in unlimited default; do
    printf "%-22s %12s %12s %14s %10s %10s %12s\n" \
        "$([[ $label == default ]] && echo "default (64 MiB/s)" || echo "unlimited (0)")" \
        "$(median "${label}_rebuilt_mib_s")" "$(median "${label}_moved_mib_s")" \
        "$(median "${label}_rebuilt_mib_cpu_s")" "$(median "${label}_cpu_share")" \
        "$(median "${label}_secs")" "$(median "${label}_rebuilt_mib")"
done
echo
echo "Foreground 1 MiB requests (16 concurrent, ${duration} s) without and with a heal running:"
printf "%-12s %-10s %10s %10s %7s | %10s %10s %7s | %s\n" workload budget "op/s alone" "op/s heal" ratio \
    "p99 alone" "p99 heal" ratio "heal outlasted the run"
for label in default unlimited; do
    for mode in get put; do
        key="${mode}_${label}"
        ops0="$(median "${key}_ops_alone")" ops1="$(median "${key}_ops_healing")"
        p0="$(median "${key}_p99_alone")" p1="$(median "${key}_p99_healing")"
        outlasted="$(awk -v name="${key}_heal_outlasted" '$1 == name { n++; s += $3 } END { printf "%d of %d", s, n }' "$figures")"
        printf "%-12s %-10s %10s %10s %7s | %8s ms %7s ms %7s | %s\n" \
            "${mode^^} 1 MiB" "$label" "$(num "$ops0")" "$(num "$ops1")" "$(ratio "$ops0" "$ops1")" \
            "$(num "$p0")" "$(num "$p1")" "$(ratio "$p0" "$p1")" "$outlasted"
    done
done
bad="$(awk '$1 ~ /_failed$/ || ($1 ~ /_errors$/ && $3 > 0)' "$figures")"
if [[ -n $bad ]]; then
    echo
    echo "Runs that failed or had errors:"
    echo "$bad"
fi
echo
echo "Per-run reports: $out (total $((SECONDS - start_s)) s)"
