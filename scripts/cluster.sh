#!/usr/bin/env bash
# A Shoal cluster on one machine, to try cluster mode and to test it with real
# processes: N nodes, node I listening on the loopback address 127.0.0.I (all on one
# port), each with D drive folders DIR/nI/d1..dD, every node started with the same
# drive list (one http://127.0.0.I:PORT/DIR/nI/dK endpoint per drive, in node order).
#
#   scripts/cluster.sh up DIR [--nodes N] [--drives D] [--base-port P] [--shards S]
#                             [--wait-s T] [-- SERVER_FLAG...]
#   scripts/cluster.sh stop-node DIR I    SIGTERM (and SIGCONT, for a stopped node);
#                                         SIGKILL (and exit 1) if still there after 20 s
#   scripts/cluster.sh start-node DIR I [-- SERVER_FLAG...]
#                                         starts it again with the same arguments (and
#                                         these flags, for this start only, e.g.
#                                         --format-new-drives after replacing a drive)
#                                         and waits until it answers /minio/health/live
#   scripts/cluster.sh status DIR         each node's pid and health answers
#   scripts/cluster.sh down DIR           stops every node, by the pids in DIR only
#
# `up` defaults: 4 nodes x 4 drives, port 9101, 1 shard per node, and waits up to 60 s
# (--wait-s) until every node answers 200 on /minio/health/cluster (every erasure set
# has write quorum); on failure it prints the nodes' log tails, stops what it started
# and exits 1. Flags after `--` go to every `shoal server` (e.g. --member-deadline 2s).
# `up` on a DIR used before starts the same cluster again over its drives; its
# settings are kept in DIR/cluster.conf and a flag that differs is refused.
#
# Files in DIR: env (shell lines to source: SHOAL_ENDPOINTS, one S3 URL per node,
# space-separated, and the AWS_* variables for node 1; credentials made once per DIR,
# mode 0600), nI.pid, nI.started (its start time, so a reused pid is never taken for
# it), nI.log (node I's output, appended across starts), cluster.conf.
# The binary is $SHOAL_BIN, else target/debug/shoal, else `shoal` on PATH. Needs curl
# and setsid. Bad arguments exit 2.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
# How long a node may take to exit after SIGTERM (the server drains for at most 10 s
# and its shards meet within 5 s more), and after SIGKILL.
STOP_S=20
KILL_S=5
# How long start-node waits for /minio/health/live.
LIVE_S=30
REGION=us-east-1

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
}

fail_usage() {
    echo "cluster.sh: $*" >&2
    echo "usage: scripts/cluster.sh up|stop-node|start-node|status|down DIR ... (--help)" >&2
    exit 2
}

die() {
    echo "cluster.sh: $*" >&2
    exit 1
}

# An integer in [min, max], else a usage error naming the flag.
number() {
    local name="$1" value="$2" min="$3" max="$4"
    if [[ ! $value =~ ^[0-9]{1,6}$ ]] || ((10#$value < min || 10#$value > max)); then
        fail_usage "$name must be a number from $min to $max, not '$value'"
    fi
    echo $((10#$value))
}

# DIR as an absolute path without symlinks: it goes into URLs, so only safe characters.
absolute_dir() {
    local dir="$1" create="$2"
    [[ -n $dir ]] || fail_usage "no DIR given"
    if [[ $create == 1 ]]; then
        mkdir -p -- "$dir" || die "cannot create $dir"
    fi
    [[ -d $dir ]] || fail_usage "$dir is not a folder"
    dir="$(cd -- "$dir" && pwd -P)"
    [[ $dir =~ ^/[A-Za-z0-9._/-]+$ && $dir != / ]] \
        || fail_usage "$dir: use a folder path of letters, digits and . _ - / only (it goes into URLs)"
    echo "$dir"
}

pick_binary() {
    if [[ -n ${SHOAL_BIN:-} ]]; then
        [[ -x $SHOAL_BIN ]] || fail_usage "SHOAL_BIN=$SHOAL_BIN is not an executable file"
        echo "$SHOAL_BIN"
    elif [[ -x $root/target/debug/shoal ]]; then
        echo "$root/target/debug/shoal"
    elif command -v shoal >/dev/null; then
        command -v shoal
    else
        fail_usage "no shoal binary: build one (cargo build --bin shoal) or set SHOAL_BIN"
    fi
}

# ---- state kept in DIR ----------------------------------------------------------

load_conf() {
    local dir="$1"
    [[ -f $dir/cluster.conf ]] || fail_usage "$dir has no cluster.conf: start it with \`up\` first"
    # shellcheck source=/dev/null
    source "$dir/cluster.conf"
}

save_conf() {
    local dir="$1"
    {
        echo "# Written by scripts/cluster.sh up; read by its other commands."
        printf 'nodes=%q\ndrives=%q\nport=%q\nshards=%q\n' "$nodes" "$drives" "$port" "$shards"
        printf 'server_args=('
        ((${#server_args[@]} == 0)) || printf ' %q' "${server_args[@]}"
        printf ' )\n'
    } >"$dir/cluster.conf"
}

# One value from DIR/env (written by write_env; values hold no quotes or spaces).
env_value() {
    local file="$1" name="$2"
    sed -n "s/^export $name=//p" "$file" | head -n 1
}

random_text() {
    head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'
}

# Credentials: made on the first `up` of DIR, then read back from DIR/env.
load_credentials() {
    local dir="$1"
    if [[ -f $dir/env ]]; then
        user="$(env_value "$dir/env" AWS_ACCESS_KEY_ID)"
        password="$(env_value "$dir/env" AWS_SECRET_ACCESS_KEY)"
        [[ -n $user && -n $password ]] || die "$dir/env has no credentials: remove it or use a new DIR"
    else
        user="shoal$(random_text 6)"
        password="$(random_text 20)"
    fi
}

write_env() {
    local dir="$1" i urls=()
    for ((i = 1; i <= nodes; i++)); do
        urls+=("http://127.0.0.$i:$port")
    done
    (
        umask 077
        cat >"$dir/env" <<EOF
# The Shoal cluster in $dir (scripts/cluster.sh): \`. $dir/env\`, then S3 clients
# reach node 1; every node in SHOAL_ENDPOINTS serves any request.
export SHOAL_ENDPOINTS='${urls[*]}'
export AWS_ACCESS_KEY_ID=$user
export AWS_SECRET_ACCESS_KEY=$password
export AWS_ENDPOINT_URL=${urls[0]}
export AWS_DEFAULT_REGION=$REGION
export AWS_REGION=$REGION
EOF
    )
}

# ---- processes --------------------------------------------------------------------

# The start time of live process PID (clock ticks after boot: with the pid, it names
# one process for ever); nothing for a process gone or a zombie nobody reaped yet.
start_time() {
    local stat fields
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 0
    read -ra fields <<<"${stat##*) }"  # from field 3 (state) on
    [[ ${fields[0]} != Z ]] && echo "${fields[19]}"
    return 0
}

alive() {
    [[ -n $(start_time "$1") ]]
}

# Node I's pid while the process cluster.sh started as node I still runs, else nothing
# (and the stale nI.pid / nI.started are removed). The pid and its start time, written
# at launch, identify it: a reused pid is never signalled. Not the command line, which
# reads empty while the process execs.
node_pid() {
    local dir="$1" i="$2" pid started
    pid="$(cat "$dir/n$i.pid" 2>/dev/null || true)"
    started="$(cat "$dir/n$i.started" 2>/dev/null || true)"
    if [[ $pid =~ ^[0-9]+$ && -n $started && $(start_time "$pid") == "$started" ]]; then
        echo "$pid"
        return 0
    fi
    rm -f -- "$dir/n$i.pid" "$dir/n$i.started"
}

endpoints() {
    local dir="$1" i k
    for ((i = 1; i <= nodes; i++)); do
        for ((k = 1; k <= drives; k++)); do
            echo "http://127.0.0.$i:$port$dir/n$i/d$k"
        done
    done
}

launch_node() {
    local dir="$1" i="$2" bin="$3" k list
    for ((k = 1; k <= drives; k++)); do
        mkdir -p -- "$dir/n$i/d$k"
    done
    mapfile -t list < <(endpoints "$dir")
    echo "=== cluster.sh: node $i starting at $(date -u +%FT%TZ) ===" >>"$dir/n$i.log"
    # setsid: the node leaves this terminal's session, so ^C or a closed terminal later
    # does not reach it; it execs in place (this script is no group leader), so $! is
    # the server's own pid.
    SHOAL_ROOT_USER="$user" SHOAL_ROOT_PASSWORD="$password" setsid "$bin" server \
        --address "127.0.0.$i:$port" --shards "$shards" "${server_args[@]}" "${list[@]}" \
        </dev/null >>"$dir/n$i.log" 2>&1 &
    # The start time is the fork's, kept across exec; read before anything can reap it.
    start_time "$!" >"$dir/n$i.started"
    echo "$!" >"$dir/n$i.pid"
}

# The HTTP status of GET http://127.0.0.I:PORT/PATH, or 000 when it does not answer.
http_status() {
    local i="$1" path="$2"
    curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.$i:$port$path" || true
}

log_tails() {
    local dir="$1" i
    shift
    for i in "$@"; do
        echo "--- last lines of $dir/n$i.log ---" >&2
        tail -n 15 "$dir/n$i.log" >&2 || true
    done
}

# Waits until every node in the list answers `status` on `path`; returns 1 after
# `wait_s`, or at once when a node's process is gone.
wait_nodes() {
    local dir="$1" path="$2" status="$3" wait_s="$4" i pending
    shift 4
    local deadline=$((SECONDS + wait_s))
    pending=("$@")
    while ((${#pending[@]} > 0)); do
        local still=()
        for i in "${pending[@]}"; do
            if [[ -z $(node_pid "$dir" "$i") ]]; then
                echo "cluster.sh: node $i exited while starting" >&2
                log_tails "$dir" "$i"
                return 1
            fi
            [[ $(http_status "$i" "$path") == "$status" ]] || still+=("$i")
        done
        pending=("${still[@]}")
        ((${#pending[@]} == 0)) && return 0
        if ((SECONDS >= deadline)); then
            echo "cluster.sh: after ${wait_s}s, node(s) ${pending[*]} still do not answer $status on $path" >&2
            log_tails "$dir" "$@"
            return 1
        fi
        sleep 0.2
    done
}

# SIGTERM to the given nodes (SIGCONT too, so a stopped node acts on it), then SIGKILL
# to those still there after STOP_S.
stop_nodes() {
    local dir="$1" i pid
    shift
    local pids=()
    for i in "$@"; do
        pid="$(node_pid "$dir" "$i")"
        if [[ -z $pid ]]; then
            echo "node $i: not running"
            continue
        fi
        kill -TERM "$pid" 2>/dev/null || true
        kill -CONT "$pid" 2>/dev/null || true
        pids+=("$i:$pid")
    done
    local entry deadline=$((SECONDS + STOP_S)) killed=0
    for entry in "${pids[@]}"; do
        i="${entry%%:*}" pid="${entry#*:}"
        while alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
        if alive "$pid"; then
            echo "node $i: still running ${STOP_S}s after SIGTERM: SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
            killed=1
            local kill_deadline=$((SECONDS + KILL_S))
            while alive "$pid" && ((SECONDS < kill_deadline)); do sleep 0.1; done
            alive "$pid" && die "node $i (pid $pid) survived SIGKILL for ${KILL_S}s"
        fi
        rm -f -- "$dir/n$i.pid" "$dir/n$i.started"
        echo "node $i: stopped (pid $pid)"
    done
    return $killed
}

# ---- commands ---------------------------------------------------------------------

# Parses `up`'s flags over the values saved in DIR (if any); a flag that changes a
# saved value is refused, since the drives were formatted for that layout.
parse_up_flags() {
    local -A saved=([nodes]="$nodes" [drives]="$drives" [port]="$port" [shards]="$shards")
    while (($# > 0)); do
        case "$1" in
            --nodes) (($# >= 2)) || fail_usage "--nodes needs a value"; nodes="$(number --nodes "$2" 1 254)"; shift 2 ;;
            --drives) (($# >= 2)) || fail_usage "--drives needs a value"; drives="$(number --drives "$2" 1 64)"; shift 2 ;;
            --base-port) (($# >= 2)) || fail_usage "--base-port needs a value"; port="$(number --base-port "$2" 1 65535)"; shift 2 ;;
            --shards) (($# >= 2)) || fail_usage "--shards needs a value"; shards="$(number --shards "$2" 1 1024)"; shift 2 ;;
            --wait-s) (($# >= 2)) || fail_usage "--wait-s needs a value"; wait_s="$(number --wait-s "$2" 1 3600)"; shift 2 ;;
            --) shift; server_args=("$@"); break ;;
            *) fail_usage "up: unknown argument '$1'" ;;
        esac
    done
    if [[ -n ${saved[nodes]} ]]; then
        local name
        for name in nodes drives port shards; do
            if [[ ${!name} != "${saved[$name]}" ]]; then
                fail_usage "$dir was made with $name=${saved[$name]}, not ${!name}: use a new DIR (or \`down\` and remove it)"
            fi
        done
    fi
}

cmd_up() {
    dir="$(absolute_dir "${1:-}" 1)"
    shift
    nodes="" drives="" port="" shards="" server_args=() wait_s=60
    [[ -f $dir/cluster.conf ]] && load_conf "$dir"
    parse_up_flags "$@"
    nodes="${nodes:-4}" drives="${drives:-4}" port="${port:-9101}" shards="${shards:-1}"
    local bin i running=()
    bin="$(pick_binary)"
    for ((i = 1; i <= nodes; i++)); do
        [[ -n $(node_pid "$dir" "$i") ]] && running+=("$i")
    done
    ((${#running[@]} == 0)) || die "node(s) ${running[*]} of $dir already run: \`down\` first"

    local list layout
    mapfile -t list < <(endpoints "$dir")
    layout="$("$bin" debug layout "${list[@]}" --address "127.0.0.1:$port" 2>&1)" \
        || fail_usage "shoal refuses this layout: $layout"
    save_conf "$dir"
    load_credentials "$dir"
    write_env "$dir"
    echo "${layout%%$'\n'*}"
    for ((i = 1; i <= nodes; i++)); do
        launch_node "$dir" "$i" "$bin"
    done
    local all
    mapfile -t all < <(seq 1 "$nodes")
    if ! wait_nodes "$dir" /minio/health/cluster 200 "$wait_s" "${all[@]}"; then
        echo "cluster.sh: up failed; stopping the nodes it started (logs stay in $dir)" >&2
        stop_nodes "$dir" "${all[@]}" >&2 || true
        exit 1
    fi
    echo "cluster of $nodes nodes up in ${SECONDS}s: every node answers 200 on /minio/health/cluster"
    echo "  . $dir/env    # SHOAL_ENDPOINTS and AWS_* for node 1"
}

# DIR and node I of a command that acts on one node.
node_args() {
    (($# == 2)) || fail_usage "$cmd takes DIR and a node number"
    dir="$(absolute_dir "$1" 0)"
    load_conf "$dir"
    node="$(number node "$2" 1 "$nodes")"
}

cmd_stop_node() {
    node_args "$@"
    stop_nodes "$dir" "$node"
}

cmd_start_node() {
    local extra=()
    if (($# > 2)); then
        [[ $3 == -- ]] || fail_usage "start-node: unknown argument '$3'"
        extra=("${@:4}")
    fi
    node_args "${@:1:2}"
    server_args+=("${extra[@]}")
    [[ -z $(node_pid "$dir" "$node") ]] || die "node $node already runs (pid $(node_pid "$dir" "$node"))"
    local bin
    bin="$(pick_binary)"
    load_credentials "$dir"
    launch_node "$dir" "$node" "$bin"
    wait_nodes "$dir" /minio/health/live 200 "$LIVE_S" "$node" || exit 1
    echo "node $node: started (pid $(node_pid "$dir" "$node")), answers /minio/health/live"
}

cmd_status() {
    (($# == 1)) || fail_usage "status takes DIR"
    dir="$(absolute_dir "$1" 0)"
    load_conf "$dir"
    local i pid
    for ((i = 1; i <= nodes; i++)); do
        pid="$(node_pid "$dir" "$i")"
        if [[ -z $pid ]]; then
            echo "node $i 127.0.0.$i:$port: not running"
        else
            echo "node $i 127.0.0.$i:$port: pid $pid, live $(http_status "$i" /minio/health/live)," \
                "cluster $(http_status "$i" /minio/health/cluster)"
        fi
    done
}

cmd_down() {
    (($# == 1)) || fail_usage "down takes DIR"
    dir="$(absolute_dir "$1" 0)"
    load_conf "$dir"
    local all
    mapfile -t all < <(seq 1 "$nodes")
    stop_nodes "$dir" "${all[@]}" || true
}

cmd="${1:-}"
(($# > 0)) && shift
case "$cmd" in
    up) cmd_up "$@" ;;
    stop-node) cmd_stop_node "$@" ;;
    start-node) cmd_start_node "$@" ;;
    status) cmd_status "$@" ;;
    down) cmd_down "$@" ;;
    -h | --help | help) usage ;;
    "") fail_usage "no command given" ;;
    *) fail_usage "unknown command '$cmd'" ;;
esac
