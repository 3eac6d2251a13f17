#!/usr/bin/env bash
# tests/bench/run.sh: the performance benchmark (issue 5). One command, as
# root on Debian 12: installs what is missing, builds repoexfil (Release)
# and the baselines, prepares inputs from ../shared/datasets, measures
# repoexfil and its baselines side by side in this one run, and prints a
# table of rates per CPU-second, ratios and PASS/MISS per target.
#
# Not part of tests/run.sh: timings are noisy on a shared machine. Rates
# are per CPU-second of the measured process (utime+stime), so other load
# on the machine matters less than it would for wall-clock rates.
#
# Environment (all optional):
#   RX_DATASETS           datasets folder (default ../shared/datasets)
#   RX_BENCH_MAIN         main input, relative to RX_DATASETS (default
#                         otrf-security-datasets/sd_lsass_campaign_05_sysmon_all.ndjson.gz)
#   RX_BENCH_EXTRA        more inputs for the scan and allocation rows
#                         (default otrf-security-datasets/sd_all_eid1_3_22.ndjson.gz;
#                         empty for none)
#   RX_BENCH_WORKERS      --workers values to run the service with, the
#                         first one judged against the targets (default "2 1")
#   RX_BENCH_DURATION     seconds of each wrk load (default 10)
#   RX_BENCH_RUNS         runs of each one-shot measurement; the median
#                         counts (default 3)
#   RX_BENCH_SERVE_ARGS   more `repoexfil serve` flags for every server
#                         (e.g. "--connection-memory 16384")
#   RX_BENCH_PERF=1       also perf-record the service under each load and
#                         print its top symbols
#   RX_BENCH_KEEP=1       keep the temporary folder (inputs, logs)
#   RX_BENCH_NO_INSTALL=1 do not install packages
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/tests/bench"
cd "$ROOT"

DATASETS=${RX_DATASETS:-$ROOT/../shared/datasets}
MAIN_REL=${RX_BENCH_MAIN:-otrf-security-datasets/sd_lsass_campaign_05_sysmon_all.ndjson.gz}
EXTRA_REL=${RX_BENCH_EXTRA-otrf-security-datasets/sd_all_eid1_3_22.ndjson.gz}
WORKERS_LIST=${RX_BENCH_WORKERS:-2 1}
DURATION=${RX_BENCH_DURATION:-10}
RUNS=${RX_BENCH_RUNS:-3}
BATCH_EVENTS=1000
BIG_BYTES=16777216 # 16 MiB, the default --max-body-bytes

# A clean slate: no REPOEXFIL_* settings from the caller leak into servers.
while read -r v; do unset "$v"; done < <(compgen -e | grep '^REPOEXFIL_' || true)

say() { printf '%s\n' "bench: $*" >&2; }
die() { printf '%s\n' "bench: error: $*" >&2; exit 1; }

[ -d "$DATASETS" ] || die "no datasets folder at $DATASETS (set RX_DATASETS)"

# ---------------------------------------------------------------- cleanup
TMP=$(mktemp -d /tmp/rxbench.XXXXXX)
PIDS=()
POLICY_CREATED=
cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 50); do
            kill -0 "$p" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    [ -n "$POLICY_CREATED" ] && rm -f /usr/sbin/policy-rc.d
    if [ "${RX_BENCH_KEEP:-}" = 1 ]; then
        say "kept $TMP"
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- install
if [ "${RX_BENCH_NO_INSTALL:-}" != 1 ]; then
    # shellcheck source=../../deploy/install-deps.sh
    . "$ROOT/deploy/install-deps.sh"
    rx_install_deps build
    want=(wrk libsimdjson-dev g++ valgrind curl)
    command -v nginx >/dev/null 2>&1 || want+=(nginx-light)
    missing=()
    for p in "${want[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
            grep -q 'install ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        [ "$(id -u)" -eq 0 ] || die "missing packages and not root: ${missing[*]}"
        say "installing: ${missing[*]}"
        # The nginx package would start the system service on :80; the
        # benchmark runs its own nginx, so keep the service from starting.
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
            chmod 755 /usr/sbin/policy-rc.d
            POLICY_CREATED=1
        fi
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
        [ -n "$POLICY_CREATED" ] && rm -f /usr/sbin/policy-rc.d
        POLICY_CREATED=
    fi
fi
for c in wrk nginx g++ gcc curl cmake; do
    command -v "$c" >/dev/null 2>&1 || die "$c is not installed"
done
NGINX=$(command -v nginx)

# ---------------------------------------------------------------- build
BUILD="$ROOT/build/bench"
TOOLS="$BUILD/bench-tools"
say "building repoexfil (Release) in $BUILD"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >"$TMP/cmake.log" 2>&1 ||
    { cat "$TMP/cmake.log" >&2; die "cmake configure failed"; }
cmake --build "$BUILD" --target repoexfil -j"$(nproc)" >"$TMP/build.log" 2>&1 ||
    { tail -40 "$TMP/build.log" >&2; die "build failed"; }
BIN="$BUILD/repoexfil"
mkdir -p "$TOOLS"
say "building baselines in $TOOLS"
# shellcheck disable=SC2046
gcc -O3 -Wall -Wextra -o "$TOOLS/jansson_parse" "$HERE/jansson_parse.c" \
    $(pkg-config --cflags --libs jansson)
g++ -O3 -std=c++17 -Wall -Wextra -o "$TOOLS/simdjson_read" \
    "$HERE/simdjson_read.cpp" -lsimdjson
gcc -O2 -Wall -Wextra -shared -fPIC -o "$TOOLS/malloc_count.so" \
    "$HERE/malloc_count.c"

# ---------------------------------------------------------------- helpers
HZ=$(getconf CLK_TCK)

# unpack SRC DEST: a dataset file (gzip or not) as plain NDJSON, blank
# lines dropped.
unpack() {
    local src="$DATASETS/$1"
    [ -f "$src" ] || die "no dataset $src"
    case "$src" in
    *.gz) zcat "$src" ;;
    *) cat "$src" ;;
    esac | grep -v '^[[:space:]]*$' >"$2"
}

# Short names for the table.
short() { basename "$1" | sed -e 's/\.ndjson\(\.gz\)\{0,1\}$//' -e 's/^sd_//'; }

# run_cpu CMD...: runs CMD with stdout to $TMP/out; prints its CPU
# seconds (user+system, children included).
run_cpu() {
    local TIMEFORMAT='%3U %3S'
    { time "$@" >"$TMP/out" 2>"$TMP/err"; } 2>"$TMP/time" ||
        { cat "$TMP/err" >&2; die "failed: $*"; }
    awk '{ printf "%.3f", $1 + $2 }' "$TMP/time"
}

# median of the numbers on stdin
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# proc_cpu PID...: CPU seconds (utime+stime) of processes, all threads.
proc_cpu() {
    local t=0 p u
    for p in "$@"; do
        # Fields after the ")" that ends comm: utime is the 12th, stime the 13th.
        u=$(sed 's/.*) //' "/proc/$p/stat" | awk '{ print $12 + $13 }')
        t=$((t + u))
    done
    awk -v t="$t" -v hz="$HZ" 'BEGIN { printf "%.3f", t / hz }'
}

# children_of PID: the PIDs whose parent is PID.
children_of() {
    local f
    for f in /proc/[0-9]*/stat; do
        sed 's/.*) //' "$f" 2>/dev/null | awk -v pp="$1" -v f="$f" \
            '$2 == pp { split(f, a, "/"); print a[3] }'
    done
}

status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
verdict() { if ge "$1" "$2"; then echo PASS; else echo MISS; fi; }

# wrk_field KEY FILE: a value from the RXWRK line post.lua prints.
wrk_field() { grep -o "RXWRK .*" "$2" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'; }

# start_rx LOG ARGS...: starts a fresh `repoexfil serve` on a free loopback
# port; sets RX_PID and RX_PORT.
start_rx() {
    local log=$1
    shift
    # shellcheck disable=SC2086
    "$BIN" serve --listen 127.0.0.1:0 "$@" ${RX_BENCH_SERVE_ARGS:-} </dev/null >/dev/null 2>"$log" &
    RX_PID=$!
    PIDS+=("$RX_PID")
    RX_PORT=
    for _ in $(seq 200); do
        RX_PORT=$(grep -o '"msg":"listening".*' "$log" 2>/dev/null |
            grep -o '"port":[0-9]*' | sed -n '1s/.*://p' || true)
        [ -n "$RX_PORT" ] && break
        kill -0 "$RX_PID" 2>/dev/null || break
        sleep 0.05
    done
    [ -n "$RX_PORT" ] || { tail -5 "$log" >&2; die "repoexfil serve did not start"; }
}

# stop_pid PID: SIGTERM, wait (at most 30 s), then SIGKILL.
stop_pid() {
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq 300); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

free_port() {
    local p
    for _ in $(seq 100); do
        p=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return
        fi
    done
    die "no free port"
}

# load NAME PIDS CONNS BODYLIST URL: a warm-up, then DURATION seconds of
# wrk -t1 -cCONNS; leaves the wrk output in $TMP/wrk.NAME and the CPU
# seconds the PIDS used during the measured load in LOAD_CPU. With
# RX_BENCH_PERF=1 a further, unmeasured load runs under perf record, so
# perf's own cost never touches the measured numbers.
load() {
    local name=$1 pids=$2 conns=$3 list=$4 url=$5 c0 c1
    RX_BODIES="$list" wrk -t1 -c"$conns" -d2s -s "$HERE/post.lua" "$url" \
        >"$TMP/wrk.$name.warmup" 2>&1 || true
    # shellcheck disable=SC2086
    c0=$(proc_cpu $pids)
    RX_BODIES="$list" wrk -t1 -c"$conns" -d"${DURATION}s" -s "$HERE/post.lua" \
        "$url" >"$TMP/wrk.$name" 2>&1 || { cat "$TMP/wrk.$name" >&2; die "wrk failed"; }
    # shellcheck disable=SC2086
    c1=$(proc_cpu $pids)
    LOAD_CPU=$(calc "$c1 - $c0" 3)
    grep -q RXWRK "$TMP/wrk.$name" || { cat "$TMP/wrk.$name" >&2; die "wrk printed no RXWRK line"; }
    if [ "${RX_BENCH_PERF:-}" = 1 ] && command -v perf >/dev/null 2>&1; then
        RX_BODIES="$list" wrk -t1 -c"$conns" -d"${DURATION}s" -s "$HERE/post.lua" \
            "$url" >"$TMP/wrk.$name.perf" 2>&1 &
        local wrkpid=$!
        sleep 1
        # shellcheck disable=SC2086
        perf record -q -g -o "$TMP/perf.$name" -p "$(echo $pids | tr ' ' ',')" -- \
            sleep "$((DURATION > 4 ? DURATION - 3 : 1))" >/dev/null 2>&1 || true
        wait "$wrkpid" 2>/dev/null || true
        [ -s "$TMP/perf.$name" ] && PERF_NAMES+=("$name")
    fi
}
PERF_NAMES=()

# ---------------------------------------------------------------- inputs
say "preparing inputs in $TMP"
MAIN="$TMP/main.ndjson"
unpack "$MAIN_REL" "$MAIN"
MAIN_NAME=$(short "$MAIN_REL")
MAIN_LINES=$(wc -l <"$MAIN")
MAIN_BYTES=$(wc -c <"$MAIN")
INPUTS=("$MAIN")
NAMES=("$MAIN_NAME")
for rel in $EXTRA_REL; do
    f="$TMP/extra$((${#INPUTS[@]})).ndjson"
    unpack "$rel" "$f"
    INPUTS+=("$f")
    NAMES+=("$(short "$rel")")
done

# 1000-event batches of the main input (a short tail is left out).
mkdir -p "$TMP/batches"
split -l "$BATCH_EVENTS" -d -a 4 "$MAIN" "$TMP/batches/b"
: >"$TMP/batches.list"
for f in "$TMP"/batches/b*; do
    [ "$(wc -l <"$f")" -eq "$BATCH_EVENTS" ] && echo "$f" >>"$TMP/batches.list"
done
NBATCH=$(wc -l <"$TMP/batches.list")
[ "$NBATCH" -gt 0 ] || die "main input has fewer than $BATCH_EVENTS events"
# scan reads exactly what the batches hold, so the rates compare.
xargs cat <"$TMP/batches.list" >"$TMP/batched.ndjson"

# A 1-event body: the first process-creation event, else the first event.
ONE="$TMP/one.ndjson"
grep -m1 '"EventID":1[,}]' "$MAIN" >"$ONE" || head -1 "$MAIN" >"$ONE"
echo "$ONE" >"$TMP/one.list"

# The 16 MiB batch: whole lines of the main input (repeated if needed),
# at most BIG_BYTES in all.
BIG="$TMP/big.ndjson"
while cat "$MAIN"; do :; done 2>/dev/null |
    awk -v cap="$BIG_BYTES" '{ n += length($0) + 1; if (n > cap) exit; print }' >"$BIG" || true
BIG_SIZE=$(wc -c <"$BIG")
BIG_EVENTS=$(wc -l <"$BIG")

# ---------------------------------------------------------------- (1) scan
# events/CPU-s: repoexfil scan (the file given PASSES times, one batch),
# jansson json_loadb parse-only, simdjson On-Demand parse+read.
ROWS=()
row() { ROWS+=("$(printf '| %s | %s | %s | %s | %s | %s |' "$@")"); }
NOTES=()

scan_rate() { # FILE LINES: median events/CPU-s of `repoexfil scan`
    local f=$1 lines=$2 passes args=() i rates=() cpu got
    passes=$(((300000 + lines - 1) / lines))
    for ((i = 0; i < passes; i++)); do args+=("$f"); done
    for ((i = 0; i < RUNS; i++)); do
        cpu=$(run_cpu "$BIN" scan "${args[@]}")
        got=$(grep -o '"received":[0-9]*' "$TMP/out" | sed -n '1s/.*://p')
        [ "$got" = $((lines * passes)) ] || die "scan received $got events, expected $((lines * passes))"
        rates+=("$(calc "$got / ($cpu > 0 ? $cpu : 0.001)" 0)")
    done
    printf '%s\n' "${rates[@]}" | median
}

tool_rate() { # TOOL FILE LINES TARGET_EVENTS [MODE]
    local tool=$1 f=$2 lines=$3 passes i rates=() cpu got
    passes=$((($4 + lines - 1) / lines))
    for ((i = 0; i < RUNS; i++)); do
        cpu=$(run_cpu "$TOOLS/$tool" "$f" "$passes" ${5:+"$5"})
        got=$(grep -o 'events=[0-9]*' "$TMP/out" | cut -d= -f2)
        [ "$got" = $((lines * passes)) ] || die "$tool read $got events, expected $((lines * passes)): $(cat "$TMP/out")"
        rates+=("$(calc "$got / ($cpu > 0 ? $cpu : 0.001)" 0)")
    done
    printf '%s\n' "${rates[@]}" | median
}

declare -A SCAN_RATE
for i in "${!INPUTS[@]}"; do
    f=${INPUTS[$i]}
    name=${NAMES[$i]}
    [ "$i" -eq 0 ] && f="$TMP/batched.ndjson"
    lines=$(wc -l <"$f")
    bytes=$(wc -c <"$f")
    say "(1) scan vs baselines on $name ($lines events)"
    s=$(scan_rate "$f" "$lines")
    j=$(tool_rate jansson_parse "$f" "$lines" 50000)
    d=$(tool_rate simdjson_read "$f" "$lines" 1000000)
    m=$(tool_rate simdjson_read "$f" "$lines" 1000000 mem)
    SCAN_RATE[$name]=$s
    avg=$(calc "$bytes / $lines / 1024" 2)
    row "scan, $name ($lines ev, $avg KiB/ev): events/CPU-s" "$s" "jansson parse-only: $j" \
        "$(calc "$s / $j" 2)x" ">= 8x" "$(verdict "$(calc "$s / $j" 4)" 8)"
    row "scan, $name: events/CPU-s" "$s" "simdjson parse+read (file read each pass): $d" \
        "$(calc "$s / $d" 3)x" ">= 0.25x" "$(verdict "$(calc "$s / $d" 4)" 0.25)"
    row "scan, $name: events/CPU-s" "$s" "simdjson parse+read over memory (file read once): $m" \
        "$(calc "$s / $m" 3)x" "(info)" "-"
done
SCAN_MAIN=${SCAN_RATE[$MAIN_NAME]}

# ---------------------------------------------------------------- (2), (3)
NGX="$TMP/nginx"
mkdir -p "$NGX/body" "$NGX/logs"
NGX_PORT=$(free_port)
{
    [ "$(id -u)" -eq 0 ] && echo "user root;"
    cat <<EOF
worker_processes 1;
daemon off;
master_process on;
pid $NGX/nginx.pid;
error_log $NGX/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log $NGX/logs/access.log;
    client_body_temp_path $NGX/body;
    client_max_body_size 64m;
    keepalive_requests 1000000;
    keepalive_timeout 65;
    server {
        listen 127.0.0.1:$NGX_PORT;
        location / { return 200 "ok\n"; }
    }
}
EOF
} >"$NGX/nginx.conf"

declare -A RX_EV_CPU RX_EV_S RX_ONE_CPU RX_ONE_S RX_ONE_P50 RX_ONE_P99 RX_CPU_USE
PRIMARY_WORKERS=${WORKERS_LIST%% *}
for w in $WORKERS_LIST; do
    say "(2) POST /events, $BATCH_EVENTS-event batches, wrk -t1 -c4, --workers $w"
    start_rx "$TMP/rx.batch.w$w.log" --workers "$w"
    load "batch.w$w" "$RX_PID" 4 "$TMP/batches.list" "http://127.0.0.1:$RX_PORT/events"
    n=$(wrk_field requests "$TMP/wrk.batch.w$w")
    dur=$(wrk_field duration_us "$TMP/wrk.batch.w$w")
    bad=$(($(wrk_field status_errors "$TMP/wrk.batch.w$w") + $(wrk_field read_errors "$TMP/wrk.batch.w$w") + $(wrk_field timeouts "$TMP/wrk.batch.w$w")))
    [ "$bad" -eq 0 ] || NOTES+=("batch load --workers $w: $bad requests failed (non-2xx, read errors or timeouts)")
    RX_EV_CPU[$w]=$(calc "$n * $BATCH_EVENTS / $LOAD_CPU" 0)
    RX_EV_S[$w]=$(calc "$n * $BATCH_EVENTS * 1000000 / $dur" 0)
    RX_CPU_USE[batch$w]=$(calc "$LOAD_CPU * 1000000 / $dur" 2)
    stop_pid "$RX_PID"

    say "(3) POST /events, 1 event, wrk -t1 -c32, --workers $w"
    start_rx "$TMP/rx.one.w$w.log" --workers "$w"
    load "one.w$w" "$RX_PID" 32 "$TMP/one.list" "http://127.0.0.1:$RX_PORT/events"
    n=$(wrk_field requests "$TMP/wrk.one.w$w")
    dur=$(wrk_field duration_us "$TMP/wrk.one.w$w")
    bad=$(($(wrk_field status_errors "$TMP/wrk.one.w$w") + $(wrk_field read_errors "$TMP/wrk.one.w$w") + $(wrk_field timeouts "$TMP/wrk.one.w$w")))
    [ "$bad" -eq 0 ] || NOTES+=("1-event load --workers $w: $bad requests failed (non-2xx, read errors or timeouts)")
    RX_ONE_CPU[$w]=$(calc "$n / $LOAD_CPU" 0)
    RX_ONE_S[$w]=$(calc "$n * 1000000 / $dur" 0)
    RX_ONE_P50[$w]=$(calc "$(wrk_field p50_us "$TMP/wrk.one.w$w") / 1000" 2)
    RX_ONE_P99[$w]=$(calc "$(wrk_field p99_us "$TMP/wrk.one.w$w") / 1000" 2)
    RX_CPU_USE[one$w]=$(calc "$LOAD_CPU * 1000000 / $dur" 2)
    stop_pid "$RX_PID"
done

say "(3) nginx (worker_processes 1, static 200) on 127.0.0.1:$NGX_PORT, wrk -t1 -c32"
"$NGINX" -t -q -p "$NGX" -e "$NGX/logs/error.log" -c "$NGX/nginx.conf" 2>"$TMP/nginx-t.log" ||
    { cat "$TMP/nginx-t.log" >&2; die "nginx configuration test failed"; }
"$NGINX" -p "$NGX" -e "$NGX/logs/error.log" -c "$NGX/nginx.conf" </dev/null >/dev/null 2>&1 &
NGX_PID=$!
PIDS+=("$NGX_PID")
ok=
for _ in $(seq 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$NGX_PORT/"; then ok=1; break; fi
    kill -0 "$NGX_PID" 2>/dev/null || break
    sleep 0.05
done
[ -n "$ok" ] || { cat "$NGX/logs/error.log" >&2; die "nginx did not start"; }
NGX_PIDS="$NGX_PID $(children_of "$NGX_PID" | tr '\n' ' ')"
load nginx "$NGX_PIDS" 32 "$TMP/one.list" "http://127.0.0.1:$NGX_PORT/events"
n=$(wrk_field requests "$TMP/wrk.nginx")
dur=$(wrk_field duration_us "$TMP/wrk.nginx")
NGX_CPU_RATE=$(calc "$n / $LOAD_CPU" 0)
NGX_S=$(calc "$n * 1000000 / $dur" 0)
NGX_P50=$(calc "$(wrk_field p50_us "$TMP/wrk.nginx") / 1000" 2)
NGX_P99=$(calc "$(wrk_field p99_us "$TMP/wrk.nginx") / 1000" 2)
NGX_CPU_USE=$(calc "$LOAD_CPU * 1000000 / $dur" 2)
stop_pid "$NGX_PID"

for w in $WORKERS_LIST; do
    tag="--workers $w"
    judged=
    [ "$w" = "$PRIMARY_WORKERS" ] && judged=1
    r=$(calc "${RX_EV_CPU[$w]} / $SCAN_MAIN" 4)
    row "POST /events $BATCH_EVENTS-ev batches, c4, $tag: events/CPU-s (events/s; CPUs busy)" \
        "${RX_EV_CPU[$w]} (${RX_EV_S[$w]}/s; ${RX_CPU_USE[batch$w]})" "scan, $MAIN_NAME: $SCAN_MAIN" \
        "$(calc "$r" 2)x" ">= 0.8x" "$([ -n "$judged" ] && verdict "$r" 0.8 || echo "($(verdict "$r" 0.8))")"
    r=$(calc "${RX_ONE_CPU[$w]} / $NGX_CPU_RATE" 4)
    row "POST /events 1 event, c32, $tag: requests/CPU-s" "${RX_ONE_CPU[$w]}" \
        "nginx static 200: $NGX_CPU_RATE" "$(calc "$r" 2)x" ">= 0.6x" \
        "$([ -n "$judged" ] && verdict "$r" 0.6 || echo "($(verdict "$r" 0.6))")"
    row "POST /events 1 event, c32, $tag: requests/s; p50 / p99 ms; CPUs busy" \
        "${RX_ONE_S[$w]}/s; ${RX_ONE_P50[$w]} / ${RX_ONE_P99[$w]}; ${RX_CPU_USE[one$w]}" \
        "nginx: ${NGX_S}/s; $NGX_P50 / $NGX_P99; $NGX_CPU_USE" "$(calc "${RX_ONE_S[$w]} / $NGX_S" 2)x" "(info)" "-"
done

# ---------------------------------------------------------------- (4) RSS
say "(4) peak RSS for one $BIG_SIZE-byte batch ($BIG_EVENTS events), fresh server, --workers $PRIMARY_WORKERS"
start_rx "$TMP/rx.rss.log" --workers "$PRIMARY_WORKERS"
curl -s -o /dev/null "http://127.0.0.1:$RX_PORT/healthz"
sleep 0.3
IDLE_KB=$(status_kb "$RX_PID" VmRSS)
code=$(curl -s -o "$TMP/big.answer" -w '%{http_code}' -H 'Content-Type: application/x-ndjson' \
    --data-binary @"$BIG" "http://127.0.0.1:$RX_PORT/events")
[ "$code" = 200 ] || die "16 MiB batch answered $code: $(head -c 300 "$TMP/big.answer")"
HWM_KB=$(status_kb "$RX_PID" VmHWM)
stop_pid "$RX_PID"
LIMIT_KB=$((3 * BIG_SIZE / 1024 + IDLE_KB))
row "peak RSS (VmHWM), one $(calc "$BIG_SIZE / 1048576" 2) MiB batch" "$(calc "$HWM_KB / 1024" 1) MiB" \
    "3 x body + idle ($(calc "$IDLE_KB / 1024" 1) MiB) = $(calc "$LIMIT_KB / 1024" 1) MiB" \
    "$(calc "$HWM_KB / $LIMIT_KB" 2)x" "<= 1x" "$(verdict "$LIMIT_KB" "$HWM_KB")"

# ---------------------------------------------------------------- (5) allocations
# LD_PRELOAD counter: (allocs(2N) - allocs(N)) / N, allocs counting
# malloc, calloc, realloc and the aligned allocators.
allocs_of() { # counts file -> total allocation calls
    awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "allocs" || kv[1] == "reallocs") t += kv[2] } } END { print t + 0 }' "$1"
}
scan_allocs() { # FILE N
    head -n "$2" "$1" >"$TMP/alloc.ndjson"
    rm -f "$TMP/mc.txt"
    RX_MALLOC_COUNT_FILE="$TMP/mc.txt" LD_PRELOAD="$TOOLS/malloc_count.so" \
        "$BIN" scan "$TMP/alloc.ndjson" >/dev/null
    allocs_of "$TMP/mc.txt"
}
for i in "${!INPUTS[@]}"; do
    f=${INPUTS[$i]}
    name=${NAMES[$i]}
    lines=$(wc -l <"$f")
    N=$((lines / 2 < 10000 ? lines / 2 : 10000))
    say "(5) allocations per event, scan, $name, N=$N"
    a1=$(scan_allocs "$f" "$N")
    a2=$(scan_allocs "$f" $((2 * N)))
    per=$(calc "($a2 - $a1) / $N" 3)
    row "allocations/event, scan, $name (LD_PRELOAD counter)" "$per" \
        "allocs($((2 * N)) ev)=$a2, allocs($N ev)=$a1" "-" "~0 (< 0.01)" \
        "$(verdict 0.01 "$per")"
done

say "(5) allocations per event, service, 1000-event batches"
serve_allocs() { # K: total allocation calls of a server that answered K batches
    rm -f "$TMP/mc.txt"
    RX_MALLOC_COUNT_FILE="$TMP/mc.txt" LD_PRELOAD="$TOOLS/malloc_count.so" \
        start_rx "$TMP/rx.alloc.log" --workers "$PRIMARY_WORKERS"
    local k
    for ((k = 0; k < $1; k++)); do
        curl -s -o /dev/null -H 'Content-Type: application/x-ndjson' \
            --data-binary @"$(sed -n "$((k % NBATCH + 1))p" "$TMP/batches.list")" \
            "http://127.0.0.1:$RX_PORT/events"
    done
    stop_pid "$RX_PID"
    allocs_of "$TMP/mc.txt"
}
K=5
a1=$(serve_allocs $K)
a2=$(serve_allocs $((2 * K)))
per=$(calc "($a2 - $a1) / ($K * $BATCH_EVENTS)" 3)
row "allocations/event, POST /events, $BATCH_EVENTS-ev batches (LD_PRELOAD; per-request costs included)" "$per" \
    "allocs($((2 * K)) req)=$a2, allocs($K req)=$a1" "-" "~0 (< 0.1)" "$(verdict 0.1 "$per")"

if command -v valgrind >/dev/null 2>&1; then
    say "(5) valgrind cross-check, scan, $MAIN_NAME, 1000 and 2000 events"
    vg() {
        head -n "$1" "$MAIN" >"$TMP/vg.ndjson"
        valgrind --tool=memcheck --leak-check=no "$BIN" scan "$TMP/vg.ndjson" \
            2>&1 >/dev/null | grep -o 'total heap usage: [0-9,]* allocs' |
            tr -dc '0-9'
    }
    v1=$(vg 1000)
    v2=$(vg 2000)
    per=$(calc "($v2 - $v1) / 1000" 3)
    row "allocations/event, scan, $MAIN_NAME (valgrind memcheck)" "$per" \
        "allocs(2000 ev)=$v2, allocs(1000 ev)=$v1" "-" "~0 (< 0.01)" "$(verdict 0.01 "$per")"
fi

# ---------------------------------------------------------------- report
echo
echo "## repoexfil benchmark ($(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, $(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown))"
echo
echo "Main input: $MAIN_NAME ($MAIN_LINES events, $((MAIN_BYTES / 1048576)) MiB); batches: $NBATCH x $BATCH_EVENTS events;"
echo "1-event body: $(wc -c <"$ONE") bytes; big batch: $BIG_EVENTS events, $BIG_SIZE bytes."
echo "Rates are per CPU-second of the measured process (utime+stime, all threads); one-shot"
echo "rates are the median of $RUNS runs; wrk loads last ${DURATION}s after a 2 s warm-up."
echo "Targets are judged with --workers $PRIMARY_WORKERS; other worker counts are shown in parentheses."
[ -n "${RX_BENCH_SERVE_ARGS:-}" ] && echo "Every server also ran with: $RX_BENCH_SERVE_ARGS"
echo
echo "| measure | repoexfil | baseline | ratio | target | result |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
for n in "${NOTES[@]}"; do echo "note: $n"; done
if [ ${#PERF_NAMES[@]} -gt 0 ]; then
    for n in "${PERF_NAMES[@]}"; do
        echo
        echo "### perf: top symbols of the measured process under load '$n'"
        echo "by thread:"
        perf report -i "$TMP/perf.$n" --no-children --stdio --sort comm 2>/dev/null |
            awk '/^ +[0-9.]+%/ && n++ < 8' 
        echo "by symbol:"
        perf report -i "$TMP/perf.$n" --no-children --stdio --sort symbol 2>/dev/null |
            awk '/^ +[0-9.]+%/ && n++ < 25' 
    done
fi
