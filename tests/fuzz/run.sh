#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for a bounded time
# (default 20 s; FUZZ_SECONDS=N to change) on a corpus seeded from
# tests/data and ../shared/datasets. Fails on any crash, leak or abort.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SECONDS_PER_TARGET=${FUZZ_SECONDS:-20}
BUILD="$ROOT/build/fuzz"
WORK=${FUZZ_WORK:-$BUILD/work}
DATASETS="$ROOT/../shared/datasets"

CC=clang cmake -S "$ROOT" -B "$BUILD" -DFUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"$(nproc)" >/dev/null

mkdir -p "$WORK"
seed() { # seed DIR: the corpus of one target, made once
    local dir=$1 kind=$2
    [ -d "$dir" ] && return 0
    mkdir -p "$dir"
    python3 - "$ROOT/tests/data/cases" "$DATASETS" "$dir" "$kind" <<'PY'
import glob, gzip, json, os, sys
cases, datasets, out, kind = sys.argv[1:5]
n = 0
def put(data):
    global n
    n += 1
    with open(os.path.join(out, "seed%05d" % n), "wb") as f:
        f.write(data)
types = {None: 0, "application/json": 1, "application/x-ndjson": 2,
         "application/xml": 3, "text/xml": 3, "text/plain": 4}
for path in sorted(glob.glob(os.path.join(cases, "*.json"))):
    for c in json.load(open(path)):
        body = c.get("body_text")
        if body is None:
            body = json.dumps(c.get("body"), separators=(",", ":"))
        body = body.encode()
        if kind == "ingest":
            put(bytes([types.get(c.get("content_type"), 0)]) + body)
        elif kind == "fastjson":
            for line in body.split(b"\n")[:5]:
                put(line)
        elif kind == "rules" and "rules" in c:
            put(json.dumps(c["rules"]).encode())
for path in sorted(glob.glob(os.path.join(datasets, "**", "*"), recursive=True)):
    if kind in ("fastjson", "ingest") and (path.endswith(".ndjson") or path.endswith(".ndjson.gz")):
        op = gzip.open if path.endswith(".gz") else open
        with op(path, "rb") as f:
            for i, line in enumerate(f):
                if i >= 40:
                    break
                put(line.rstrip(b"\n") if kind == "fastjson" else b"\x02" + line)
    if kind in ("xmlevent", "ingest") and path.endswith(".xml"):
        with open(path, "rb") as f:
            for i, line in enumerate(f):
                if i >= 40:
                    break
                put(line.rstrip(b"\n") if kind == "xmlevent" else b"\x03" + line)
if kind == "rules":
    put(b'{"threshold":1}')
    put(b'{"ci_system_regex":"(a+)+$","git_images":["git.exe"]}')
PY
}

status=0
for target in ingest fastjson rules xmlevent; do
    corpus="$WORK/corpus-$target"
    seed "$corpus" "$target"
    echo "fuzz_$target: ${SECONDS_PER_TARGET}s on $(ls "$corpus" | wc -l) seeds"
    if ! (cd "$WORK" && "$BUILD/tests/fuzz/fuzz_$target" -max_total_time="$SECONDS_PER_TARGET" \
        -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
        "$corpus" >"$WORK/fuzz_$target.log" 2>&1); then
        echo "fuzz_$target FAILED:"; tail -40 "$WORK/fuzz_$target.log"; status=1
    else
        grep -E "stat::number_of_executed_units|Done" "$WORK/fuzz_$target.log" | tail -2
    fi
done
exit $status
