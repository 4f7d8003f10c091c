#!/usr/bin/env bash
# Before/after benchmark of two `shoal` server builds on one machine, in one run (issue
# 11's "Done when", with issue 15's method): each server gets one core (`--shards 1`,
# pinned to cpu0) and 4 fresh drive folders under a temporary folder on a real disk;
# the client (`shoal-bench`, 16 concurrent, one client shard) runs on cpu1. Each rep
# starts both servers side by side on fresh drives (the one not measured is idle),
# interleaves the workloads (for each workload: OLD then NEW; NEW first in even reps),
# then stops both and removes their drives (this bounds disk use). The server's CPU is
# read from /proc/PID/stat at the start and end of each measured phase (`--server-pid`), so
# prepare and cleanup are not counted. Prints one table of medians over the reps:
# ops/s and server CPU per op of each build with new/old ratios, each workload's CPU per
# op as a multiple of the same build's refused anonymous request (403), LIST pages/s
# and keys/s over a 10,000-key listing, and the server's peak RSS (VmHWM) under 256
# concurrent 10 MiB PUTs (once per build, after the reps, on a fresh server).
#
#   scripts/bench_compare.sh OLD_BIN NEW_BIN [--quick] [--only KEY,KEY,...]
#
# --only runs just those workloads (keys: anon head_4k get_4k put_4k get_10m put_10m
# list_10k rss); "anon" is always run, as the 403 floor of the x403 column.
# Default: 3 reps of 10 s per workload (PUT 10 MiB: 6 s, for disk space), 15 to 18
# minutes on 2 busy cores; --quick: 1 rep of 3 s, about 5 minutes. Needs jq, taskset,
# 2 cores and 10 GiB free on the drives' disk (at most about 8 GB is used at once).
# The client is $SHOAL_BENCH, else target/release/shoal-bench (built if missing).
# Drives go under $BENCH_DIR (default: a folder in target/, which is on a real disk;
# tmpfs is refused: it would hide the drive cost); per-run JSON and the server logs are
# kept under it in results/.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
bench_name=bench_compare.sh
# shellcheck source=scripts/lib/bench_common.sh
source "$root/scripts/lib/bench_common.sh"
usage() { sed -n '2,27p' "$0"; }
quick=0
only=""
bins=()
while (($#)); do
    arg=$1
    shift
    case "$arg" in
        --quick) quick=1 ;;
        --only)
            (($#)) || { echo "bench_compare.sh: --only needs a list of workloads" >&2; exit 2; }
            only=",anon,$1,"
            shift
            ;;
        -h | --help) usage; exit 0 ;;
        -*) echo "bench_compare.sh: unknown flag $arg" >&2; exit 2 ;;
        *) bins+=("$arg") ;;
    esac
done
if ((${#bins[@]} != 2)); then usage >&2; exit 2; fi
for bin in "${bins[@]}"; do
    [[ -x $bin ]] || { echo "bench_compare.sh: $bin is not an executable" >&2; exit 2; }
done
bench_require jq taskset timeout

if [[ $quick == 1 ]]; then
    reps=1 duration=3 duration_put_10m=3 objects_4k=500 objects_10m=16
else
    reps=3 duration=10 duration_put_10m=6 objects_4k=500 objects_10m=32
fi
list_keys=10000
run_timeout_s=300 # one shoal-bench run: prepare (10,000 keys at worst) + run + margin

bench_client
bench_workdir bench-compare 10
out="$work/results"
mkdir -p "$out"

names=(old new)
# A slot is one running server: old/new for the reps, old_list/new_list for LIST.
declare -A bin_of=([old]="${bins[0]}" [new]="${bins[1]}" [old_list]="${bins[0]}" [new_list]="${bins[1]}")
declare -A pid port
user=benchadmin secret="benchsecret-$RANDOM$RANDOM"
next_port=$((20000 + RANDOM % 20000))

# Starts build $1 on fresh drives $work/$1-$2; sets pid[$1] and port[$1].
start_server() {
    local name=$1 tag=$2
    port[$name]=$next_port
    next_port=$((next_port + 1))
    mkdir -p "$work/$name-$tag"
    bench_start_shoal "${bin_of[$name]}" "$name" "$work/$name-$tag" \
        "$out/server-$name-$tag.log" "$user" "$secret"
}

# Stops build $1 (SIGTERM, then waits) and removes its drives.
stop_server() {
    local name=$1
    bench_stop_pid "${pid[$name]:-}"
    pid[$name]=""
    rm -rf "$work/$name"-*/
}
stop_all() { for name in "${names[@]}"; do stop_server "$name"; done; }
# Without `set -u` there: a failed start must not leave the other servers running.
trap 'set +u; stop_all; stop_server old_list; stop_server new_list' EXIT
trap 'exit 130' INT TERM

echo "== old: ${bins[0]}, new: ${bins[1]}"
echo "== servers on cpu0 (--shards 1), client on cpu1; $reps rep(s) of ${duration}s; drives under $work"

# key | mode | flags. The key names the row; "anon" is the 403 floor. Small objects stay
# (--noclear: deleting thousands costs minutes, and the drives go after the rep); 10 MiB
# ones are removed after their run, to bound disk use.
suite=(
    "anon|anonymous|--noclear"
    "head_4k|stat|--obj.size 4KiB --objects $objects_4k --noclear"
    "get_4k|get|--obj.size 4KiB --objects $objects_4k --noclear"
    "put_4k|put|--obj.size 4KiB --noclear"
    "get_10m|get|--obj.size 10MiB --objects $objects_10m"
    "put_10m|put|--obj.size 10MiB --duration ${duration_put_10m}s"
    "list_10k|list|--list.pages --list.existing --objects $list_keys --max-keys 1000"
)
# Whether workload $1 is to run (all of them without --only).
wanted() { [[ -z $only || $only == *",$1,"* ]]; }
for key in ${only//,/ }; do
    case "$key" in
        anon | head_4k | get_4k | put_4k | get_10m | put_10m | list_10k | rss) ;;
        *) echo "bench_compare.sh: unknown workload $key in --only" >&2; exit 2 ;;
    esac
done
selected=()
for entry in "${suite[@]}"; do
    if wanted "${entry%%|*}"; then selected+=("$entry"); fi
done
suite=("${selected[@]}")

# Every figure of every run, one line each: key build rep ops_s cpu_us objects_s errors.
figures="$out/figures.tsv"
: >"$figures"

# One workload on one build; appends its figures (or "failed") to $figures. LIST runs
# on the build's list server, over the bucket filled once.
run_one() {
    local key=$1 mode=$2 flags=$3 name=$4 rep=$5
    local file="$out/$key-$name-r$rep" slot=$name bucket="${key//_/-}-r$rep"
    if [[ $key == list_10k ]]; then slot="${name}_list" bucket=list-10k; fi
    # shellcheck disable=SC2086 # flags are words
    if ! timeout "$run_timeout_s" taskset -c 1 "$bench" "$mode" \
        --host "127.0.0.1:${port[$slot]}" --access-key "$user" --secret-key "$secret" \
        --bucket "$bucket" --concurrent 16 --shards 1 --duration "${duration}s" \
        --server-pid "${pid[$slot]}" --benchdata "$file" $flags \
        >"$file.txt" 2>&1; then
        echo "   $key $name rep $rep: FAILED (see $file.txt)"
        echo "$key $name $rep failed" >>"$figures"
        return
    fi
    bench_figures "$key" "$name" "$rep" "$file.json"
}

# Peak RSS of one build under 256 concurrent 10 MiB PUTs: the peak is reset first
# (clear_refs 5), so it is this load's and not an earlier workload's.
rss_one() {
    local name=$1 rep=$2
    local file="$out/rss-$name-r$rep"
    if ! echo 5 >"/proc/${pid[$name]}/clear_refs"; then
        echo "   rss $name rep $rep: cannot reset the peak; it is the process's lifetime peak"
    fi
    if ! timeout "$run_timeout_s" taskset -c 1 "$bench" put \
        --host "127.0.0.1:${port[$name]}" --access-key "$user" --secret-key "$secret" \
        --bucket "rss-r$rep" --concurrent 256 --shards 1 --duration 1s --noclear \
        --obj.size 10MiB --benchdata "$file" >"$file.txt" 2>&1; then
        echo "   rss $name rep $rep: FAILED (see $file.txt)"
        echo "rss $name $rep failed" >>"$figures"
        return
    fi
    local kib errors
    kib="$(awk '/^VmHWM:/ { print $2 }' "/proc/${pid[$name]}/status")"
    errors="$(jq -r '.total.errors' "$file.json")"
    echo "rss $name $rep $((kib / 1024)) 0 0 $errors" >>"$figures"
}

start_s=$SECONDS
# The LIST servers: one per build for the whole run, each bucket filled once with
# $list_keys keys of 1 KiB (128 uploads at once: small PUTs wait on fsync).
for name in "${names[@]}"; do
    wanted list_10k || break
    bench_fill_list "$name" "$user" "$secret"
done
for rep in $(seq "$reps"); do
    for name in "${names[@]}"; do start_server "$name" "r$rep"; done
    # Odd reps run old first, even reps new first: the second run of a pair may meet
    # the writeback of the first one's writes, and no build should always be second.
    order=(old new)
    if ((rep % 2 == 0)); then order=(new old); fi
    for entry in "${suite[@]}"; do
        IFS='|' read -r key mode flags <<<"$entry"
        for name in "${order[@]}"; do
            echo "   rep $rep/$reps: $key on $name ($((SECONDS - start_s)) s)"
            run_one "$key" "$mode" "$flags" "$name" "$rep"
        done
    done
    stop_all
done
# Peak memory is no noisy rate: once per build, each on its own fresh server, so the
# 2.5 GiB of uploads of one are gone before the other's.
for name in "${names[@]}"; do
    wanted rss || break
    echo "   rss (256 x 10 MiB PUT) on $name ($((SECONDS - start_s)) s)"
    start_server "$name" rss
    rss_one "$name" 1
    stop_server "$name"
done

anon_old="$(median anon old 5)" anon_new="$(median anon new 5)"
label() {
    case "$1" in
        anon) echo "403 anonymous HEAD" ;; head_4k) echo "HEAD 4 KiB" ;;
        get_4k) echo "GET 4 KiB" ;; put_4k) echo "PUT 4 KiB" ;;
        get_10m) echo "GET 10 MiB" ;; put_10m) echo "PUT 10 MiB" ;;
        list_10k) echo "LIST 10,000 keys (pages)" ;;
    esac
}
echo
echo "Medians of $reps interleaved rep(s), ${duration} s each; server: 1 core (cpu0), client: cpu1, 16 concurrent."
echo "CPU/op: server CPU-seconds per request over the measured phase; x403: CPU/op over the same build's refused anonymous HEAD."
echo
printf "%-26s %10s %10s %7s | %11s %11s %7s | %8s %8s\n" \
    workload "old op/s" "new op/s" new/old "old CPU/op" "new CPU/op" new/old "old x403" "new x403"
row() {
    local label=$1 old_ops=$2 new_ops=$3 old_us=$4 new_us=$5 unit=$6
    printf "%-26s %10s %10s %7s | %9s%s %9s%s %7s | %8s %8s\n" "$label" \
        "$(num "$old_ops" 1)" "$(num "$new_ops" 1)" "$(ratio "$old_ops" "$new_ops")" \
        "$(num "$old_us" 1)" "$unit" "$(num "$new_us" 1)" "$unit" "$(ratio "$old_us" "$new_us")" \
        "$(ratio "$anon_old" "$old_us")" "$(ratio "$anon_new" "$new_us")"
}
for entry in "${suite[@]}"; do
    key="${entry%%|*}"
    row "$(label "$key")" "$(median "$key" old 4)" "$(median "$key" new 4)" \
        "$(median "$key" old 5)" "$(median "$key" new 5)" us
done
if wanted list_10k; then
    # LIST per key: keys/s, and CPU per key (the page's CPU over its keys).
    list_keys_old="$(median list_10k old 6)" list_keys_new="$(median list_10k new 6)"
    per_key() { awk -v us="$1" -v pages="$2" -v keys="$3" 'BEGIN { if (us == "nan" || keys == "nan" || keys == 0) print "nan"; else print us * pages / keys }'; }
    row "LIST 10,000 keys (keys)" "$list_keys_old" "$list_keys_new" \
        "$(per_key "$(median list_10k old 5)" "$(median list_10k old 4)" "$list_keys_old")" \
        "$(per_key "$(median list_10k new 5)" "$(median list_10k new 4)" "$list_keys_new")" us
fi
if wanted rss; then
    rss_old="$(median rss old 4)" rss_new="$(median rss new 4)"
    printf "%-26s %10s %10s %7s\n" "peak RSS, 256 x 10 MiB PUT" "$(num "$rss_old" 0) MiB" \
        "$(num "$rss_new" 0) MiB" "$(ratio "$rss_old" "$rss_new")"
fi
echo
echo "Spread of op/s over the reps (min..max, and max over min - 1), for the noise:"
bench_spread "anon head_4k get_4k put_4k get_10m put_10m list_10k" "${names[*]}"
bench_report_failures build
echo
echo "Per-run reports and JSON: $out (total $((SECONDS - start_s)) s)"
