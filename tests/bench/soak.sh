#!/bin/sh
# Soak test (issue 6): a bounded mixed load on `repoexfil serve` over
# 127.0.0.1 with the server's RSS sampled; prints the least-squares RSS
# slope after warm-up and a verdict (SOAK PASS / SOAK FAIL, exit 0 / 1).
# Not part of CI.
#
#   tests/bench/soak.sh                    # 300 s against build/repoexfil
#   SOAK_SECONDS=60 REPOEXFIL_BIN=build-rel/repoexfil tests/bench/soak.sh
#
# Settings (environment): SOAK_SECONDS (300), SOAK_CLIENTS (4), SOAK_WARMUP
# (60, at most a fifth of the run), SOAK_SAMPLE (2 s), SOAK_MAX_SLOPE
# (1.0 MiB/min), REPOEXFIL_BIN, RX_DATASETS (../shared/datasets), SOAK_LOG
# (the server's stderr, /tmp/repoexfil-soak.log). See soak.py.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
: "${REPOEXFIL_BIN:=$src/build/repoexfil}"
: "${RX_DATASETS:=$(cd "$src/.." && pwd)/shared/datasets}"
export REPOEXFIL_BIN RX_DATASETS
if [ ! -x "$REPOEXFIL_BIN" ]; then
    echo "soak: no binary at $REPOEXFIL_BIN (build first, or set REPOEXFIL_BIN)" >&2
    exit 2
fi
# Bounded: the load stops after SOAK_SECONDS; the whole run after that plus
# a margin for start-up, the last answers and the drain.
limit=$(( ${SOAK_SECONDS:-300} + 300 ))
exec timeout "$limit" python3 "$here/soak.py"
