#!/usr/bin/env bash
# LIST page latency against bucket size (issue 15 item 3: a page's p99 in a large bucket
# within 1.5x of that in a 1,000-key bucket). One server (`--shards 1`, pinned to cpu0, 4
# drive folders on a real disk) holds one bucket per size, filled with 1 KiB objects by
# the client (`shoal-bench`, cpu1). Each bucket is then walked page by page
# (`list --list.pages --list.existing`, 1,000 keys a page) by one worker, so a page never
# waits behind another, for the duration, and again in every rep; the sizes take turns
# within a rep. Prints, per size, the medians over the reps of page p50 and p99 and of
# the server's CPU per page, and each p99 over the smallest size's.
#
#   scripts/bench_list_scale.sh BIN [--sizes N,N,...] [--reps N] [--duration S]
#
# Defaults: sizes 1000,10000,100000; 3 reps of 10 s. Filling costs what small PUTs cost
# (about 1,700 a second on one shard here), and disk: a folder and a record file per key
# on each of the 4 drives, about 33 KiB a key, so 1,000,000 keys need about 33 GB and
# ten minutes; the script refuses sizes that do not fit on the disk. Needs jq, taskset
# and 2 cores. The client is $SHOAL_BENCH, else target/release/shoal-bench (built if
# missing); drives go under $BENCH_DIR (default target/), removed at the end.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
bench_name=bench_list_scale.sh
# shellcheck source=scripts/lib/bench_common.sh
source "$root/scripts/lib/bench_common.sh"
usage() { sed -n '2,19p' "$0"; }
sizes="1000,10000,100000"
reps=3
duration=10
bin=""
while (($#)); do
    arg=$1
    shift
    case "$arg" in
        --sizes | --reps | --duration)
            (($#)) || { echo "$bench_name: $arg needs a value" >&2; exit 2; }
            case "$arg" in
                --sizes) sizes=$1 ;;
                --reps) reps=$1 ;;
                --duration) duration=$1 ;;
            esac
            shift
            ;;
        -h | --help) usage; exit 0 ;;
        -*) echo "$bench_name: unknown flag $arg" >&2; exit 2 ;;
        *) bin=$arg ;;
    esac
done
[[ -x $bin ]] || { usage >&2; exit 2; }
IFS=, read -r -a size_list <<<"$sizes"
for size in "${size_list[@]}"; do
    [[ $size =~ ^[1-9][0-9]*$ ]] || { echo "$bench_name: bad size $size" >&2; exit 2; }
done
bench_require jq taskset timeout
bench_client
total_keys=0
for size in "${size_list[@]}"; do total_keys=$((total_keys + size)); done
# 33 KiB a key, plus 2 GiB of slack.
bench_workdir bench-list-scale $((total_keys * 33 / 1024 / 1024 + 2))
out="$work/results"
mkdir -p "$out"
figures="$out/figures.tsv"
: >"$figures"
user=bench-list secret=bench-list-secret-1234
declare -A port=([server]=19400) pid=()
trap 'set +u; bench_stop_pid "${pid[server]:-}"; rm -rf "$work"/drives' EXIT
trap 'exit 130' INT TERM
start_s=$SECONDS

mkdir -p "$work/drives"
bench_start_shoal "$bin" server "$work/drives" "$out/server.log" "$user" "$secret"
echo "== $bin on cpu0 (--shards 1), client on cpu1; sizes $sizes; $reps rep(s) of ${duration}s"
echo "== drives under $work/drives"
for size in "${size_list[@]}"; do
    echo "   filling list-$size ($((SECONDS - start_s)) s)"
    if ! timeout 3600 taskset -c 1 "$bench" list --host "127.0.0.1:${port[server]}" \
        --access-key "$user" --secret-key "$secret" --bucket "list-$size" --concurrent 128 \
        --duration 1s --noclear --objects "$size" --obj.size 1KiB \
        >"$out/fill-$size.txt" 2>&1; then
        echo "$bench_name: filling list-$size failed:" >&2
        tail -5 "$out/fill-$size.txt" >&2
        exit 1
    fi
done

# One walk of bucket list-$1 for the duration, rep $2: page p50, p99 (ms) and server
# CPU per page (us) appended to $figures as "size rep p50 p99 cpu".
walk_pages() {
    local size=$1 rep=$2 file="$out/list-$1-r$2"
    if ! timeout $((duration * 3 + 60)) taskset -c 1 "$bench" list \
        --host "127.0.0.1:${port[server]}" --access-key "$user" --secret-key "$secret" \
        --bucket "list-$size" --concurrent 1 --shards 1 --duration "${duration}s" \
        --list.pages --list.existing --objects "$size" --max-keys 1000 \
        --server-pid "${pid[server]}" --benchdata "$file" >"$file.txt" 2>&1; then
        echo "   list-$size rep $rep: FAILED (see $file.txt)"
        return
    fi
    jq -r --arg size "$size" --arg rep "$rep" \
        '[$size, $rep, .total.latency.p50_ms, .total.latency.p99_ms,
          (.server.cpu_per_request_us // "nan"), .total.errors] | map(tostring) | join(" ")' \
        "$file.json" >>"$figures"
}

for rep in $(seq "$reps"); do
    for size in "${size_list[@]}"; do
        echo "   rep $rep/$reps: list-$size ($((SECONDS - start_s)) s)"
        walk_pages "$size" "$rep"
    done
done

# The median of column $2 of size $1's lines.
col_median() {
    awk -v size="$1" -v col="$2" '$1 == size { print $col }' "$figures" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR == 0) print "nan";
              else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
echo
echo "Medians of $reps rep(s), ${duration} s each; pages of 1,000 keys, one worker."
printf '%-12s %12s %12s %16s %14s\n' keys "page p50 ms" "page p99 ms" "CPU/page us" "p99 / first"
first_p99=""
for size in "${size_list[@]}"; do
    p50="$(col_median "$size" 3)" p99="$(col_median "$size" 4)" cpu="$(col_median "$size" 5)"
    [[ -n $first_p99 ]] || first_p99=$p99
    printf '%-12s %12s %12s %16s %14s\n' "$size" "$(num "$p50" 2)" "$(num "$p99" 2)" \
        "$(num "$cpu" 0)" "$(ratio "$first_p99" "$p99")"
done
bad="$(awk '$6 != "0"' "$figures")"
if [[ -n $bad ]]; then
    echo
    echo "Runs with errors (size rep p50 p99 cpu errors):"
    echo "$bad"
fi
echo
echo "Per-run reports and JSON: $out (total $((SECONDS - start_s)) s)"
