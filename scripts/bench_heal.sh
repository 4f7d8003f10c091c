#!/usr/bin/env bash
# Heal throughput and what a running heal costs foreground requests (issue 13's bench),
# in one run. One server (`--shards 1` pinned to cpu0, 4 drive folders on a real disk,
# 2 data + 2 parity, the background scanner paused so only the measured heal repairs)
# is filled with 1 MiB objects. Then, for each heal budget (the default 64 MiB/s, and
# unlimited) and each rep, the server is stopped, the first drive's copy of the filled
# bucket removed (its format and bucket records stay: a drive that lost its object
# tree), the server started again at that budget, warmed up by a short GET run that
# is not counted, and measured:
#   1. heal alone: `shoal admin heal` for --window seconds, no foreground load: chunk
#      bytes rebuilt (written) and moved (read + written, what the budget bounds) per
#      second and per server CPU-second (/proc/PID/stat), from
#      shoal_node_heal_bytes_total;
#   2. impact: shoal-bench GET and PUT of 1 MiB objects (16 concurrent, client on
#      cpu1) for --duration seconds without a heal and with one running (started 1 s
#      before the workload, stopped after it), the two in alternating order (rep 1
#      alone first, rep 2 heal first, ...: ABBA, so neither is always the first after
#      the restart): op/s and p99 latency, and the heal's rebuilt MiB/s meanwhile.
# Prints medians over the reps, and the ratios with/without a heal as the median of
# the per-pair ratios (each pair ran back to back) with their range.
#
#   scripts/bench_heal.sh [--reps N] [--duration S] [--window S] [--objects N] [--debug]
#
# Default: 3 reps, 4 s workloads, 4 s heal windows, 1,024 x 1 MiB objects (2 GiB on
# the drives): about 5 minutes on 2 cores, release or debug. Longer: e.g. --reps 7
# --duration 15 --window 15 --objects 4096 (8 GiB; the heal must outlast each rep's
# runs: the table says when it did not). Binaries: target/release/shoal and shoal-bench (built if missing), or
# target/debug with --debug, or $SHOAL_BIN and $SHOAL_BENCH. Needs jq, curl, taskset,
# 2 cores and 4 GiB free on the drives' disk. Drives go under $BENCH_DIR (default: a
# folder in target/; tmpfs is refused); per-run reports and the server log are kept
# in its results/.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
usage() { sed -n '2,34p' "$0"; }
reps=3 duration=4 window=4 objects=1024 profile=release
while (($# > 0)); do
    case "$1" in
        --reps) reps=$2; shift ;;
        --duration) duration=$2; shift ;;
        --window) window=$2; shift ;;
        --objects) objects=$2; shift ;;
        --debug) profile=debug ;;
        -h | --help) usage; exit 0 ;;
        *) echo "bench_heal.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
for value in "$reps" "$duration" "$window" "$objects"; do
    [[ $value =~ ^[1-9][0-9]*$ ]] || { echo "bench_heal.sh: not a positive number: $value" >&2; exit 2; }
done
for tool in jq curl taskset timeout; do
    command -v "$tool" >/dev/null || { echo "bench_heal.sh: needs $tool" >&2; exit 2; }
done
if (($(nproc) < 2)); then echo "bench_heal.sh: needs 2 cores (server cpu0, client cpu1)" >&2; exit 2; fi

heal_default=$((64 << 20))
run_timeout_s=$((duration + 120)) # one shoal-bench run: prepare + run + margin
get_objects=32

shoal="${SHOAL_BIN:-$root/target/$profile/shoal}"
bench="${SHOAL_BENCH:-$root/target/$profile/shoal-bench}"
if [[ ! -x $shoal || ! -x $bench ]]; then
    echo "== building shoal and shoal-bench ($profile)"
    flags=()
    if [[ $profile == release ]]; then flags+=(--release); fi
    (cd "$root" && cargo build "${flags[@]}" --quiet -p shoal --bin shoal -p shoal-bench --bin shoal-bench)
fi

base="${BENCH_DIR:-$root/target}"
mkdir -p "$base"
if [[ $(stat -f -c %T "$base") == tmpfs ]]; then
    echo "bench_heal.sh: $base is tmpfs; set BENCH_DIR to a folder on a real disk" >&2
    exit 2
fi
free_kib="$(df -Pk "$base" | awk 'NR == 2 { print $4 }')"
if ((free_kib < 4 * 1024 * 1024)); then
    echo "bench_heal.sh: under 4 GiB free in $base; set BENCH_DIR elsewhere" >&2
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

# Stops the server, removes the first drive's objects of the filled bucket, starts it
# again with byte rate $1.
damage_and_start() {
    stop_server
    find "${drives[0]}/heal-big" -mindepth 1 -delete
    start_server "$1"
}

# Healing's chunk bytes so far, "read written" (published once a second).
heal_bytes() {
    curl -s "$endpoint/minio/v2/metrics/node" | awk '
        /^shoal_node_heal_bytes_total\{/ && /direction="read"/ { r = $NF }
        /^shoal_node_heal_bytes_total\{/ && /direction="written"/ { w = $NF }
        END { printf "%d %d\n", r, w }'
}

# Waits until no heal has moved a byte for over a second (a heal's server side ends
# at the first progress line it cannot send after its client went away), at most
# 10 s; prints the counters then.
heal_bytes_settled() {
    local last now
    last="$(heal_bytes)"
    for _ in $(seq 8); do
        sleep 1.2
        now="$(heal_bytes)"
        if [[ $now == "$last" ]]; then break; fi
        last=$now
    done
    echo "$last"
}

# Every figure, one line each: name rep value.
figures="$out/figures.tsv"
: >"$figures"
note() { echo "$1 $2 $3" >>"$figures"; }

# Prefixes each line read with the time and the server's CPU-seconds (clock ticks).
stamp() {
    local line f
    while IFS= read -r line; do
        read -r -a f <"/proc/$pid/stat" 2>/dev/null || f=()
        printf '%s %s %s\n' "$EPOCHREALTIME" "$((${f[13]:-0} + ${f[14]:-0}))" "$line"
    done
}

# Starts `shoal admin heal` of the filled bucket in the background, its lines stamped
# into $1 (the progress lines, at most 500 ms apart, carry the bytes rebuilt so far).
start_heal() {
    SHOAL_ROOT_USER=$user SHOAL_ROOT_PASSWORD=$secret AWS_ENDPOINT_URL=$endpoint \
        "$shoal" admin heal heal-big --json > >(stamp >"$1") 2>>"$out/admin.log" &
    healer=$!
}

# Stops the heal whose stamped lines are in $1 (counters before it: $2); notes its
# figures as $3_* for rep $4: rebuilt MiB per second and per server CPU-second
# between its first and last progress lines, moved in proportion (the counters'
# read + written over written), and whether it outlasted its window.
end_heal() {
    local lines=$1 before=$2 label=$3 rep=$4 running=0
    if kill -0 "$healer" 2>/dev/null; then running=1; fi
    stop_healer
    local after
    after="$(heal_bytes_settled)"
    read -r r0 w0 <<<"$before"
    read -r r1 w1 <<<"$after"
    awk -v r="$((r1 - r0))" -v w="$((w1 - w0))" -v ticks="$ticks" -v l="$label" -v rep="$rep" '
        /"progress"/ && match($0, /"bytes_written":[0-9]+/) {
            b = substr($0, RSTART + 16, RLENGTH - 16)
            if (n++ == 0) { t0 = $1; c0 = $2; b0 = b }
            t1 = $1; c1 = $2; b1 = b
        }
        END {
            if (n < 2 || t1 <= t0) { printf "%s_progress_lines %s %d\n", l, rep, n; exit }
            mib = 1048576; s = t1 - t0; c = (c1 - c0) / ticks; if (c <= 0) c = 1e-9
            moved = (w > 0) ? (r + w) / w : 0
            printf "%s_rebuilt_mib_s %s %.2f\n%s_moved_mib_s %s %.2f\n", l, rep, (b1 - b0) / mib / s, l, rep, moved * (b1 - b0) / mib / s
            printf "%s_rebuilt_mib_cpu_s %s %.2f\n%s_cpu_share %s %.2f\n", l, rep, (b1 - b0) / mib / c, l, rep, c / s
        }' "$lines" >>"$figures"
    note "${label}_outlasted" "$rep" "$running"
}

# One shoal-bench run; prints "ops_s p99_ms errors" (or "failed").
load() {
    local mode=$1 file=$2 seconds=$3
    local flags=(--obj.size 1MiB)
    if [[ $mode == get ]]; then flags+=(--objects "$get_objects"); fi
    if ! timeout "$run_timeout_s" taskset -c 1 "$bench" "$mode" --host "127.0.0.1:$port" \
        --access-key "$user" --secret-key "$secret" --bucket "fg-$mode" --concurrent 16 \
        --shards 1 --duration "${seconds}s" --benchdata "$file" \
        "${flags[@]}" >"$file.txt" 2>&1; then
        echo failed
        return
    fi
    jq -r '[.operations[0].throughput.average_obj_s, .operations[0].latency.p99_ms,
            .total.errors] | map(tostring) | join(" ")' "$file.json" 2>/dev/null || echo failed
}

# Heal alone at budget $1 for rep $2: --window seconds.
heal_alone() {
    local label=$1 rep=$2 before file="$out/heal-alone-$1-r$2.txt"
    before="$(heal_bytes_settled)"
    start_heal "$file"
    sleep "$window"
    end_heal "$file" "$before" "alone_$label" "$rep"
}

# Foreground workload $1 at budget $2 for rep $3, without ($4 = alone) or with a heal.
foreground() {
    local mode=$1 label=$2 rep=$3 with=$4 result before
    local name="$mode-$label-$with-r$rep"
    if [[ $with == healing ]]; then
        before="$(heal_bytes_settled)"
        start_heal "$out/heal-$name.txt"
        sleep 1
    fi
    result="$(load "$mode" "$out/$name" "$duration")"
    if [[ $with == healing ]]; then
        end_heal "$out/heal-$name.txt" "$before" "${mode}_${label}_heal" "$rep"
    fi
    if [[ $result == failed ]]; then
        echo "   $name: FAILED (see $out/$name.txt)"
        note "${mode}_${label}_failed" "$rep" 1
        return
    fi
    read -r ops p99 errors <<<"$result"
    note "${mode}_${label}_ops_$with" "$rep" "$ops"
    note "${mode}_${label}_p99_$with" "$rep" "$p99"
    note "${mode}_${label}_errors" "$rep" "$errors"
}

start_s=$SECONDS
echo "== server $shoal on cpu0 (--shards 1), client on cpu1; drives under $work"
start_server 0
echo "   filling: $objects x 1 MiB"
if ! timeout 1800 taskset -c 1 "$bench" get --host "127.0.0.1:$port" --access-key "$user" \
    --secret-key "$secret" --bucket heal-big --concurrent 16 --duration 1s \
    --noclear --objects "$objects" --obj.size 1MiB >"$out/fill.txt" 2>&1; then
    echo "bench_heal.sh: filling failed:" >&2
    tail -5 "$out/fill.txt" >&2
    exit 1
fi
echo "   filled ($((SECONDS - start_s)) s); drives hold $(du -sh "$work" | cut -f1)"

for rep in $(seq "$reps"); do
    for label in default unlimited; do
        rate=0
        if [[ $label == default ]]; then rate=$heal_default; fi
        echo "   rep $rep/$reps, heal budget $label: restart, heal alone, GET and PUT pairs ($((SECONDS - start_s)) s)"
        damage_and_start "$rate"
        load get "$out/warmup-$label-r$rep" 2 >/dev/null
        heal_alone "$label" "$rep"
        order="alone healing"
        if ((rep % 2 == 0)); then order="healing alone"; fi
        for mode in get put; do
            for with in $order; do
                foreground "$mode" "$label" "$rep" "$with"
            done
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
# Per rep, figure $2 over figure $1 (both present): "median [min-max]".
pair_ratios() {
    awk -v a="$1" -v b="$2" '$1 == a { x[$2] = $3 } $1 == b { y[$2] = $3 }
        END { for (r in x) if ((r in y) && x[r] > 0) print y[r] / x[r] }' "$figures" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR == 0) { print "-"; exit }
              m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
              printf "%.2f [%.2f-%.2f]", m, v[1], v[NR] }'
}
num() { awk -v v="$1" 'BEGIN { if (v == "nan") print "-"; else printf "%.1f", v }'; }
outlasted() { awk -v name="$1" '$1 == name { n++; s += $3 } END { printf "%d of %d", s, n }' "$figures"; }
budget_name() { if [[ $1 == default ]]; then echo "default (64 MiB/s)"; else echo "unlimited (0)"; fi; }

echo
echo "Medians of $reps rep(s); $(basename "$(dirname "$shoal")") build ($shoal)."
echo "Server: 1 shard on cpu0, 4 drives (2 data + 2 parity) under $base; client on cpu1."
echo "Before each rep: one drive's copy of $objects x 1 MiB objects removed, server restarted;"
echo "healed by \`shoal admin heal\`. Rebuilt: chunk bytes written to that drive; moved: read +"
echo "written (what --heal-bytes-per-second bounds). Server CPU: CPU-seconds per second."
echo
echo "Heal alone (no foreground load), ${window} s windows:"
printf "%-20s %13s %11s %17s %10s %s\n" "heal budget" "rebuilt MiB/s" "moved MiB/s" "rebuilt MiB/CPU-s" "server CPU" "heal outlasted the window"
for label in default unlimited; do
    printf "%-20s %13s %11s %17s %10s %s\n" "$(budget_name "$label")" \
        "$(num "$(median "alone_${label}_rebuilt_mib_s")")" "$(num "$(median "alone_${label}_moved_mib_s")")" \
        "$(num "$(median "alone_${label}_rebuilt_mib_cpu_s")")" "$(median "alone_${label}_cpu_share")" \
        "$(outlasted "alone_${label}_outlasted")"
done
echo
echo "Foreground 1 MiB requests (16 concurrent, ${duration} s) without and with a heal running."
echo "Ratio: heal / alone, median of the $reps back-to-back pairs [min-max]; heal MiB/s: rebuilt meanwhile."
printf "%-9s %-10s %9s %9s %-17s | %9s %9s %-17s | %12s %s\n" workload budget "op/s alone" "op/s heal" "ratio" \
    "p99 alone" "p99 heal" "ratio" "heal MiB/s" "heal outlasted"
for label in default unlimited; do
    for mode in get put; do
        key="${mode}_${label}"
        printf "%-9s %-10s %10s %9s %-17s | %6s ms %6s ms %-17s | %12s %s\n" \
            "${mode^^}" "$label" "$(num "$(median "${key}_ops_alone")")" "$(num "$(median "${key}_ops_healing")")" \
            "$(pair_ratios "${key}_ops_alone" "${key}_ops_healing")" \
            "$(num "$(median "${key}_p99_alone")")" "$(num "$(median "${key}_p99_healing")")" \
            "$(pair_ratios "${key}_p99_alone" "${key}_p99_healing")" \
            "$(num "$(median "${key}_heal_rebuilt_mib_s")")" "$(outlasted "${key}_heal_outlasted")"
    done
done
bad="$(awk '$1 ~ /_failed$/ || ($1 ~ /_errors$/ && $3 > 0) || $1 ~ /_progress_lines$/' "$figures")"
if [[ -n $bad ]]; then
    echo
    echo "Runs that failed or had errors:"
    echo "$bad"
fi
echo
echo "Per-run reports: $out (total $((SECONDS - start_s)) s)"
