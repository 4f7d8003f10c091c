# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154 # bench_name, root and figures come from the caller; bench and work go back to it
# Shell functions shared by the one-core benchmarks (scripts/bench_compare.sh and
# scripts/bench_garage.sh), so both measure the same way: servers on cpu0, the client
# (`shoal-bench`, 16 concurrent) on cpu1, drives on a real disk, the server's CPU over
# the measured phase only (`--server-pid`), medians over interleaved reps.
#
# Sourced, never run. The caller sets `bench_name` (its name in messages) and `root`
# (the repository), runs under `set -euo pipefail`, and keeps every figure of every run
# in the file named by `figures`, one line each: key server rep ops_s cpu_us objects_s
# errors (or "key server rep failed").

# Exits with status 2 unless every tool named is installed and there are 2 cores.
bench_require() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "$bench_name: needs $tool" >&2; exit 2; }
    done
    if (($(nproc) < 2)); then
        echo "$bench_name: needs 2 cores (server cpu0, client cpu1)" >&2
        exit 2
    fi
}

# Sets `bench` to the client: $SHOAL_BENCH, else target/release/shoal-bench (built if
# missing).
bench_client() {
    bench="${SHOAL_BENCH:-$root/target/release/shoal-bench}"
    if [[ -z ${SHOAL_BENCH:-} && ! -x $bench ]]; then
        echo "== building shoal-bench (release)"
        (cd "$root" && cargo build --release --quiet -p shoal-bench --bin shoal-bench)
    fi
}

# Sets `work` to a new folder named $1.XXXXXX under $BENCH_DIR (default target/), which
# must be on a real disk (tmpfs would hide the drive cost) with $2 GiB free.
bench_workdir() {
    local prefix=$1 need_gib=$2
    local base="${BENCH_DIR:-$root/target}"
    mkdir -p "$base"
    if [[ $(stat -f -c %T "$base") == tmpfs ]]; then
        echo "$bench_name: $base is tmpfs; set BENCH_DIR to a folder on a real disk" >&2
        exit 2
    fi
    local free_kib
    free_kib="$(df -Pk "$base" | awk 'NR == 2 { print $4 }')"
    if ((free_kib < need_gib * 1024 * 1024)); then
        echo "$bench_name: under $need_gib GiB free in $base; set BENCH_DIR elsewhere" >&2
        exit 2
    fi
    work="$(mktemp -d "$base/$prefix.XXXXXX")"
}

# Waits (10 s at most) until 127.0.0.1:$1 accepts connections; fails with the log $3
# when process $2 ($4 names it) exits or the time is up.
bench_wait_port() {
    local port=$1 pid=$2 log=$3 what=$4
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return; fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "$bench_name: the $what server did not start:" >&2
    cat "$log" >&2
    exit 1
}

# Stops process $1 if it runs: SIGTERM, then SIGKILL if it still runs after 30 s
# (its data is thrown away: a clean shutdown is not what is measured).
bench_stop_pid() {
    local p=$1
    if [[ -n $p ]] && kill -0 "$p" 2>/dev/null; then
        kill -TERM "$p"
        for _ in $(seq 300); do
            kill -0 "$p" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    fi
}

# Appends the figures of the run saved in $4 (shoal-bench --benchdata JSON) as key $1,
# server $2, rep $3 to $figures; no server figures (the pid could not be read) counts
# as a failed run.
bench_figures() {
    local key=$1 name=$2 rep=$3 json=$4
    jq -r --arg key "$key" --arg name "$name" --arg rep "$rep" \
        'if .server == null or .server.window_secs <= 0 then "\($key) \($name) \($rep) failed"
         else [$key, $name, $rep, .server.requests / .server.window_secs,
          .server.cpu_per_request_us, .server.objects / .server.window_secs,
          .total.errors] | map(tostring) | join(" ") end' "$json" >>"$figures" ||
        echo "$key $name $rep failed" >>"$figures"
}

# The median of column $3 of the lines of key $1 and server $2 (failed runs left out).
median() {
    awk -v key="$1" -v name="$2" -v col="$3" \
        '$1 == key && $2 == name && $4 != "failed" { print $col }' "$figures" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR == 0) print "nan";
              else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# $2 over $1, or "-" when either is missing.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "nan" || b == "nan" || a == 0) print "-"; else printf "%.2f", b / a }'; }
# $1 with $2 decimals, or "-" when missing.
num() { awk -v v="$1" -v d="$2" 'BEGIN { if (v == "nan") print "-"; else printf "%.*f", d, v }'; }

# Prints the spread of op/s over the reps (min..max, and max over min - 1) of each key
# in $1 (space-separated) and server in $2, for the noise.
bench_spread() {
    local key name
    for key in $1; do
        for name in $2; do
            awk -v key="$key" -v name="$name" '$1 == key && $2 == name && $4 != "failed" { print $4 }' "$figures" |
                sort -g | awk -v key="$key" -v name="$name" 'NR == 1 { lo = $1 } { hi = $1 }
                    END { if (NR) printf "  %-9s %-8s %.1f..%.1f (%.1f%%)\n", key, name, lo, hi, (lo > 0 ? (hi - lo) * 100 / lo : 0) }'
        done
    done
}

# Starts the LIST server of $1 (slot "$1_list", fresh drives) and fills its bucket
# list-10k with $list_keys keys of 1 KiB (128 uploads at once: small PUTs wait on
# fsync), signing with access key $2 and secret $3. The caller defines start_server.
bench_fill_list() {
    local name=$1 access=$2 secret_key=$3
    echo "   filling the $list_keys-key bucket of $name ($((SECONDS - start_s)) s)"
    start_server "${name}_list" list
    if ! timeout 900 taskset -c 1 "$bench" list --host "127.0.0.1:${port[${name}_list]}" \
        --access-key "$access" --secret-key "$secret_key" --bucket list-10k --concurrent 128 \
        --duration 1s --noclear --objects "$list_keys" --obj.size 1KiB \
        >"$out/list-fill-$name.txt" 2>&1; then
        echo "$bench_name: filling the LIST bucket of $name failed:" >&2
        tail -5 "$out/list-fill-$name.txt" >&2
        exit 1
    fi
}

# Starts Shoal binary $1 as slot $2: `--shards 1` on cpu0, drives $3/drive1..4, log $4,
# root credentials $5 and $6, at port[$2]; sets pid[$2] and waits for the port.
bench_start_shoal() {
    local bin=$1 slot=$2 drives=$3 log=$4
    # A port something else serves (another bench, a helper's server) is skipped.
    # shellcheck disable=SC2004 # port is the caller's associative array, keyed by name
    while (exec 3<>"/dev/tcp/127.0.0.1/${port[$slot]}") 2>/dev/null; do
        port[$slot]=$((port[$slot] + 1))
    done
    SHOAL_ROOT_USER=$5 SHOAL_ROOT_PASSWORD=$6 taskset -c 0 "$bin" server \
        --address "127.0.0.1:${port[$slot]}" --shards 1 "$drives"/drive{1..4} >"$log" 2>&1 &
    # shellcheck disable=SC2004 # pid is the caller's associative array, keyed by name
    pid[$slot]=$!
    bench_wait_port "${port[$slot]}" "${pid[$slot]}" "$log" "$slot"
}

# Prints the runs in $figures that failed or had errors; $1 names the second column
# (build, server).
bench_report_failures() {
    local bad
    bad="$(awk '$4 == "failed" || $7 > 0' "$figures")"
    if [[ -n $bad ]]; then
        echo
        echo "Runs that failed or had errors (key $1 rep ... errors):"
        echo "$bad"
    fi
}
