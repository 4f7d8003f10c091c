#!/usr/bin/env bash
# Shoal against Garage 2.5.0 on one machine, in one run (issue 15's "Done when"), with
# bench_compare.sh's method: each server gets one core (pinned to cpu0) and fresh data
# folders under a folder on a real disk; the client (`shoal-bench`, 16 concurrent, one
# client shard, a unique incompressible body per object: Garage deduplicates identical
# blocks) runs on cpu1. Three servers are measured: Shoal (`--shards 1`, 4 drives) and
# Garage single-node (replication_factor 1, LMDB metadata, region us-east-1 as
# shoal-bench signs) twice: without fsync (metadata_fsync and data_fsync false, its
# defaults) and with both. Each rep starts all three side by side on fresh data (the
# ones not measured are idle) and interleaves the workloads (for each workload: every
# server, in an order reversed on even reps), then stops them; their data goes to a
# trash folder removed when the script exits. The server's CPU is read from
# /proc/PID/stat over the measured phase (`--server-pid`). LIST runs on one server per
# kind, filled once with 10,000 keys.
# In the first rep, each workload on each server is followed by a short syscall phase:
# `perf stat -e raw_syscalls:sys_enter` attached to the server for a window inside the
# measured phase of a separate run, divided by the operations of that window (run rate
# times window). Syscalls that io_uring performs without a syscall are not counted, as
# they are not made. Prints one table of medians: ops/s (LIST: keys/s), Shoal over each
# Garage, server CPU per op (LIST: per key), Garage over Shoal, and syscalls per op.
#
#   scripts/bench_garage.sh [--quick] [--reps N] [--only KEY,KEY,...]
#
# --only runs just those workloads (keys: put_10m get_10m put_4k get_4k head_4k
# list_10k). Default: 3 reps of 10 s per workload (PUT 10 MiB: 6 s), about 13 minutes
# on 2 busy cores, then minutes to remove the data on a disk mounted with discard;
# --quick: 1 rep of 3 s, about 5 minutes. Needs jq, taskset, perf (else no syscall
# column), 2 cores and 10 GiB free on the data's disk.
# Shoal is $SHOAL_BIN (default target/release/shoal; build it with `cargo build
# --release --bin shoal`); the client is $SHOAL_BENCH, else target/release/shoal-bench
# (built if missing). Garage is $GARAGE_BIN, else target/garage-2.5.0/bin/garage, which
# is built from crates.io with `cargo install --locked` when missing (15-40 minutes on
# 2 cores). Garage logs at $GARAGE_LOG (default warn: Shoal logs no request either).
# Data goes under $BENCH_DIR (default target/; tmpfs is refused: it would hide the drive
# cost); per-run JSON, perf counts and server logs are kept under it in results/.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
bench_name=bench_garage.sh
# shellcheck source=scripts/lib/bench_common.sh
source "$root/scripts/lib/bench_common.sh"
usage() { awk 'NR > 1 { if (!/^#/) exit; print }' "$0"; }

garage_version=2.5.0
quick=0
reps=""
only=""
while (($#)); do
    arg=$1
    shift
    case "$arg" in
        --quick) quick=1 ;;
        --reps)
            [[ ${1:-} =~ ^[1-9][0-9]?$ ]] || { echo "$bench_name: --reps needs a count (1-99)" >&2; exit 2; }
            reps=$1
            shift
            ;;
        --only)
            (($#)) || { echo "$bench_name: --only needs a list of workloads" >&2; exit 2; }
            only=",$1,"
            shift
            ;;
        -h | --help) usage; exit 0 ;;
        *) echo "$bench_name: unknown argument $arg" >&2; exit 2 ;;
    esac
done
bench_require jq taskset timeout
for key in ${only//,/ }; do
    case "$key" in
        head_4k | get_4k | put_4k | get_10m | put_10m | list_10k) ;;
        *) echo "$bench_name: unknown workload $key in --only" >&2; exit 2 ;;
    esac
done

if [[ $quick == 1 ]]; then
    reps=${reps:-1} duration=3 duration_put_10m=3 objects_4k=500 objects_10m=16
else
    reps=${reps:-3} duration=10 duration_put_10m=6 objects_4k=500 objects_10m=32
fi
list_keys=10000
run_timeout_s=300 # one shoal-bench run: prepare (10,000 keys at worst) + run + margin
# The syscall phase: a run of sys_duration_s, counted over sys_window_s from just after
# its measured phase starts (shoal-bench says "running" within 100 ms of it).
sys_duration_s=4 sys_window_s=2

shoal="${SHOAL_BIN:-$root/target/release/shoal}"
[[ -x $shoal ]] || { echo "$bench_name: no Shoal at $shoal: cargo build --release --bin shoal, or set SHOAL_BIN" >&2; exit 2; }

# Garage: $GARAGE_BIN, or the one built into target/ (built now when missing).
garage="${GARAGE_BIN:-$root/target/garage-$garage_version/bin/garage}"
if [[ ! -x $garage ]]; then
    if [[ -n ${GARAGE_BIN:-} ]]; then echo "$bench_name: GARAGE_BIN=$garage is not an executable" >&2; exit 2; fi
    bench_require cargo
    echo "== building Garage $garage_version from crates.io into target/garage-$garage_version (15-40 minutes on 2 cores)"
    nice -n 10 cargo install garage --version "$garage_version" --locked \
        --root "$root/target/garage-$garage_version"
fi
garage_said="$("$garage" --version 2>&1 | head -1)"
if [[ $garage_said != *"$garage_version"* ]]; then
    echo "$bench_name: warning: $garage says \"$garage_said\", not $garage_version"
fi

# perf counts syscalls; without it (or without the permission) the column stays empty.
syscalls_on=0
if command -v perf >/dev/null &&
    perf stat -e raw_syscalls:sys_enter -x, -- true >/dev/null 2>&1; then
    syscalls_on=1
else
    echo "$bench_name: warning: perf cannot count raw_syscalls:sys_enter; no syscall column"
fi

bench_client
bench_workdir bench-garage 10
out="$work/results"
mkdir -p "$out"

names=(shoal gnofsync gfsync)
declare -A pid port
access_key="GK$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')"
secret_key="$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
rpc_secret="$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
next_port=$((20000 + RANDOM % 20000))
client_pid=""

# Starts Shoal on 4 fresh drives in folder $2 for slot $1.
start_shoal() {
    local slot=$1 dir=$2
    bench_start_shoal "$shoal" "$slot" "$dir" "$dir.log" "$access_key" "$secret_key"
}

# Starts a single-node Garage with fresh data in folder $2 for slot $1, fsync on when $3
# is true. `--single-node` applies its layout and `--default-access-key` imports the
# bench key, allowed to create buckets, before the S3 port opens.
start_garage() {
    local slot=$1 dir=$2 fsync=$3
    local conf="$dir/garage.toml" rpc_port=$next_port
    next_port=$((next_port + 1))
    cat >"$conf" <<EOF
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "lmdb"
metadata_fsync = $fsync
data_fsync = $fsync
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$rpc_port"
rpc_public_addr = "127.0.0.1:$rpc_port"
rpc_secret = "$rpc_secret"

[s3_api]
s3_region = "us-east-1"
api_bind_addr = "127.0.0.1:${port[$slot]}"
root_domain = ".s3.garage.localhost"
EOF
    GARAGE_DEFAULT_ACCESS_KEY=$access_key GARAGE_DEFAULT_SECRET_KEY=$secret_key \
        RUST_LOG="${GARAGE_LOG:-warn}" taskset -c 0 "$garage" -c "$conf" server \
        --single-node --default-access-key >"$dir.log" 2>&1 &
    pid[$slot]=$!
    bench_wait_port "${port[$slot]}" "${pid[$slot]}" "$dir.log" "$slot"
}

# Starts the server of slot $1 (shoal, gnofsync, gfsync, or one of them + _list) on
# fresh data in $work/$1-$2; sets pid[$1] and port[$1].
start_server() {
    local slot=$1 tag=$2
    local dir="$work/$slot-$tag"
    port[$slot]=$next_port
    next_port=$((next_port + 1))
    mkdir -p "$dir"
    case "${slot%_list}" in
        shoal) start_shoal "$slot" "$dir" ;;
        gnofsync) start_garage "$slot" "$dir" false ;;
        gfsync) start_garage "$slot" "$dir" true ;;
    esac
}

# Stops the server of slot $1 and moves its data to the trash, removed on exit: on a
# disk mounted with `discard` every unlink waits on the device, and removing a rep's
# tens of thousands of small files takes minutes that would delay the next rep and
# load the disk under it.
stop_server() {
    local slot=$1
    bench_stop_pid "${pid[$slot]:-}"
    pid[$slot]=""
    mkdir -p "$work/trash"
    local dir
    for dir in "$work/$slot"-*/; do
        if [[ -d $dir ]]; then mv "$dir" "$work/trash/$(basename "$dir")-$RANDOM$RANDOM"; fi
    done
    mv -f "$work/$slot"-*.log "$out/" 2>/dev/null || true
}
stop_all() { for name in "${names[@]}"; do stop_server "$name"; done; }
cleanup() {
    bench_stop_pid "$client_pid"
    stop_all
    for name in "${names[@]}"; do stop_server "${name}_list"; done
    if [[ -d $work/trash ]]; then
        echo "== removing the servers' data ($work/trash)"
        rm -rf "$work/trash"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== $(date -u '+%F %T UTC'), commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== Shoal: $shoal; Garage: $garage ($garage_said); client: $bench"
echo "== servers on cpu0, client on cpu1 (16 concurrent); $reps rep(s) of ${duration}s; data under $work"

# key | mode | flags, as bench_compare.sh: small objects stay (--noclear: the data goes
# after the rep), 10 MiB ones are removed after their run, to bound disk use.
suite=(
    "head_4k|stat|--obj.size 4KiB --objects $objects_4k --noclear"
    "get_4k|get|--obj.size 4KiB --objects $objects_4k --noclear"
    "put_4k|put|--obj.size 4KiB --noclear"
    "get_10m|get|--obj.size 10MiB --objects $objects_10m"
    "put_10m|put|--obj.size 10MiB --duration ${duration_put_10m}s"
    "list_10k|list|--list.pages --list.existing --objects $list_keys --max-keys 1000"
)
# Whether workload $1 is to run (all of them without --only).
wanted() { [[ -z $only || $only == *",$1,"* ]]; }
selected=()
for entry in "${suite[@]}"; do
    if wanted "${entry%%|*}"; then selected+=("$entry"); fi
done
suite=("${selected[@]}")

figures="$out/figures.tsv"
syscalls="$out/syscalls.tsv" # key server syscalls-per-op new-threads (LIST: per key)
: >"$figures"
: >"$syscalls"

# Runs shoal-bench mode $2 with flags $3 against slot $4, bucket $5, results in file $6;
# extra flags after $6 come last (a flag given twice takes its last value).
bench_run() {
    local mode=$1 flags=$2 slot=$3 bucket=$4 file=$5
    shift 5
    # shellcheck disable=SC2086 # flags are words
    timeout "$run_timeout_s" taskset -c 1 "$bench" "$mode" \
        --host "127.0.0.1:${port[$slot]}" --access-key "$access_key" --secret-key "$secret_key" \
        --bucket "$bucket" --concurrent 16 --shards 1 --duration "${duration}s" \
        --server-pid "${pid[$slot]}" --benchdata "$file" $flags "$@" >"$file.txt" 2>&1
}

# The slot and bucket of workload $1 on server $2 in rep (or phase) $3.
slot_of() { if [[ $1 == list_10k ]]; then echo "${2}_list"; else echo "$2"; fi; }
bucket_of() { if [[ $1 == list_10k ]]; then echo list-10k; else echo "${1//_/-}-$3"; fi; }

# One measured run of workload $1 ($2: mode, $3: flags) on server $4 in rep $5.
run_one() {
    local key=$1 mode=$2 flags=$3 name=$4 rep=$5
    local file="$out/$key-$name-r$rep"
    if ! bench_run "$mode" "$flags" "$(slot_of "$key" "$name")" "$(bucket_of "$key" "$name" "r$rep")" "$file"; then
        echo "   $key $name rep $rep: FAILED (see $file.txt)"
        echo "$key $name $rep failed" >>"$figures"
        return
    fi
    bench_figures "$key" "$name" "$rep" "$file.json"
}

# The syscall phase of workload $1 ($2: mode, $3: flags) on server $4: a separate run,
# with perf attached to the server over a window inside its measured phase. Appends
# "key server syscalls-per-op new-threads" (LIST: per key) to $syscalls, "-" when it
# failed; new-threads counts the server's threads started in the window, not counted.
sys_one() {
    local key=$1 mode=$2 flags=$3 name=$4
    local file="$out/$key-$name-sys" slot
    slot="$(slot_of "$key" "$name")"
    bench_run "$mode" "$flags" "$slot" "$(bucket_of "$key" "$name" sys)" "$file" \
        --duration "${sys_duration_s}s" &
    client_pid=$!
    local waited=0 count="" t0 t1
    while ((waited < run_timeout_s * 10)) && ! grep -q ': running$' "$file.txt" 2>/dev/null; do
        kill -0 "$client_pid" 2>/dev/null || break
        sleep 0.1
        waited=$((waited + 1))
    done
    local -A threads_before=()
    local threads_new=0 thread
    if grep -q ': running$' "$file.txt" 2>/dev/null; then
        sleep 0.3
        for thread in "/proc/${pid[$slot]}/task"/*; do threads_before[$thread]=1; done
        t0=$EPOCHREALTIME
        timeout 30 perf stat -e raw_syscalls:sys_enter -x, -o "$file.perf" -p "${pid[$slot]}" \
            -- sleep "$sys_window_s" 2>/dev/null || true
        t1=$EPOCHREALTIME
        # perf -p counts the threads there when it starts: later ones are missed.
        for thread in "/proc/${pid[$slot]}/task"/*; do
            [[ -n ${threads_before[$thread]:-} ]] || threads_new=$((threads_new + 1))
        done
        count="$(awk -F, '/raw_syscalls:sys_enter/ { print $1 }' "$file.perf" 2>/dev/null)"
    fi
    local status=0
    wait "$client_pid" || status=$?
    client_pid=""
    if [[ $status != 0 || ! $count =~ ^[0-9]+$ ]]; then
        echo "   $key $name syscalls: FAILED (see $file.txt, $file.perf)"
        echo "$key $name -" >>"$syscalls"
        return
    fi
    # Operations in the window: the run's rate (LIST: keys) times the window.
    local what=requests
    if [[ $key == list_10k ]]; then what=objects; fi
    jq -r --arg key "$key" --arg name "$name" --argjson count "$count" --arg new "$threads_new" \
        --argjson secs "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
        "if .server == null or .server.window_secs <= 0 or .server.$what == 0 then \"\\(\$key) \\(\$name) -\"
         else \"\\(\$key) \\(\$name) \\(\$count / (.server.$what / .server.window_secs * \$secs)) \\(\$new)\" end" \
        "$file.json" >>"$syscalls" || echo "$key $name -" >>"$syscalls"
}

start_s=$SECONDS
# The LIST servers: one per kind for the whole run, each bucket filled once with
# $list_keys keys of 1 KiB (128 uploads at once: small PUTs wait on fsync).
for name in "${names[@]}"; do
    wanted list_10k || break
    bench_fill_list "$name" "$access_key" "$secret_key"
done
for rep in $(seq "$reps"); do
    for name in "${names[@]}"; do start_server "$name" "r$rep"; done
    # Reversed order in even reps: a run may meet the writeback of the one before it,
    # and no server should always come after the same one.
    order=("${names[@]}")
    if ((rep % 2 == 0)); then order=(gfsync gnofsync shoal); fi
    for entry in "${suite[@]}"; do
        IFS='|' read -r key mode flags <<<"$entry"
        for name in "${order[@]}"; do
            echo "   rep $rep/$reps: $key on $name ($((SECONDS - start_s)) s)"
            run_one "$key" "$mode" "$flags" "$name" "$rep"
            if [[ $rep == 1 && $syscalls_on == 1 ]]; then
                echo "   syscalls: $key on $name ($((SECONDS - start_s)) s)"
                sys_one "$key" "$mode" "$flags" "$name"
            fi
        done
    done
    stop_all
done

# The syscalls per op of workload $1 on server $2, 3 significant digits; "+" after it
# when threads started during the count (a lower bound).
sys_of() {
    awk -v key="$1" -v name="$2" '$1 == key && $2 == name { v = $3; n = $4 }
        END { if (v == "" || v == "-") print "-";
              else printf "%s%s", (v >= 100 ? sprintf("%.0f", v) : v >= 10 ? sprintf("%.1f", v) : v >= 1 ? sprintf("%.2f", v) : sprintf("%.3g", v)), (n > 0 ? "+" : "") }' "$syscalls"
}
# Microseconds $1 as "12.3us" or, from 1 ms, "12.34ms".
dur() { awk -v v="$1" 'BEGIN { if (v == "nan") print "-"; else if (v >= 1000) printf "%.2fms", v / 1000; else printf "%.1fus", v }'; }
# CPU per key of a LIST: the page's CPU over its keys.
per_key() { awk -v us="$1" -v pages="$2" -v keys="$3" 'BEGIN { if (us == "nan" || keys == "nan" || keys == 0) print "nan"; else print us * pages / keys }'; }
label() {
    case "$1" in
        put_10m) echo "PUT 10 MiB" ;; get_10m) echo "GET 10 MiB" ;;
        put_4k) echo "PUT 4 KiB" ;; get_4k) echo "GET 4 KiB" ;;
        head_4k) echo "HEAD 4 KiB" ;; list_10k) echo "LIST 10,000 keys (keys)" ;;
    esac
}
echo
echo "Medians of $reps interleaved rep(s), ${duration} s each; each server on 1 core (cpu0), client on cpu1, 16 concurrent."
echo "S/G: Shoal's ops/s over Garage's (no fsync / fsync); G/S: Garage's CPU per op over Shoal's (> 1: Shoal is cheaper)."
echo "CPU/op: server CPU per request over the measured phase; sys/op: syscalls per request (perf, one ${sys_window_s} s window in rep 1;"
echo "+: the server started threads in that window, whose syscalls are not counted). LIST: per key."
echo
printf "%-24s | %9s %9s %9s %5s %5s | %9s %9s %9s %5s %5s | %7s %7s %7s\n" \
    "" "ops/s" "" "" "S/G" "S/G" "CPU/op" "" "" "G/S" "G/S" "sys/op" "" ""
printf "%-24s | %9s %9s %9s %5s %5s | %9s %9s %9s %5s %5s | %7s %7s %7s\n" \
    workload Shoal "G nofsync" "G fsync" nofs fsync Shoal "G nofsync" "G fsync" nofs fsync \
    Shoal "G nofs" "G fs"
row() {
    local key=$1
    local -A ops us sys
    local name
    for name in "${names[@]}"; do
        if [[ $key == list_10k ]]; then
            ops[$name]="$(median "$key" "$name" 6)"
            us[$name]="$(per_key "$(median "$key" "$name" 5)" "$(median "$key" "$name" 4)" "${ops[$name]}")"
        else
            ops[$name]="$(median "$key" "$name" 4)"
            us[$name]="$(median "$key" "$name" 5)"
        fi
        sys[$name]="$(sys_of "$key" "$name")"
    done
    printf "%-24s | %9s %9s %9s %5s %5s | %9s %9s %9s %5s %5s | %7s %7s %7s\n" "$(label "$key")" \
        "$(num "${ops[shoal]}" 1)" "$(num "${ops[gnofsync]}" 1)" "$(num "${ops[gfsync]}" 1)" \
        "$(ratio "${ops[gnofsync]}" "${ops[shoal]}")" "$(ratio "${ops[gfsync]}" "${ops[shoal]}")" \
        "$(dur "${us[shoal]}")" "$(dur "${us[gnofsync]}")" "$(dur "${us[gfsync]}")" \
        "$(ratio "${us[shoal]}" "${us[gnofsync]}")" "$(ratio "${us[shoal]}" "${us[gfsync]}")" \
        "${sys[shoal]}" "${sys[gnofsync]}" "${sys[gfsync]}"
}
for key in put_10m get_10m put_4k get_4k head_4k list_10k; do
    if wanted "$key"; then row "$key"; fi
done
echo
echo "Spread of op/s over the reps (min..max, and max over min - 1), for the noise:"
bench_spread "put_10m get_10m put_4k get_4k head_4k list_10k" "${names[*]}"
bench_report_failures server
echo
echo "== done $(date -u '+%F %T UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "Per-run reports, JSON, perf counts and server logs: $out (total $((SECONDS - start_s)) s)"
