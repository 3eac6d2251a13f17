#!/bin/sh
# Valgrind run of a subset of the integration suite (issue 6): every start
# of the binary (the HTTP tests through rxharness.py, test_scan.py's `scan`
# runs) is wrapped in memcheck through REPOEXFIL_WRAPPER; RX_VALGRIND=1
# makes the tests allow more time (x30) and shrink their loads. Fails on a
# failed test, on any memcheck error, and on any definite or indirect leak
# (read from the per-process logs, --log-file=DIR/vg.%p). PCRE2 JIT code
# is suppressed (tests/valgrind.supp says why).
#
#   tests/valgrind.sh [BUILD_DIR] [TEST...]
#
# BUILD_DIR: a normal (not -DSANITIZE=ON) build; default build/ (or
# $REPOEXFIL_BIN). TEST: file names under tests/integration/ (default:
# test_http_routes.py test_http_cases.py test_hostile.py test_scan.py).
# Environment: RX_VALGRIND_LOGS (where the logs go; default a new
# temporary directory, kept when something fails), RX_TEST_DATA,
# RX_DATASETS.
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
build=${1:-}
[ $# -gt 0 ] && shift
if [ -n "$build" ]; then
    REPOEXFIL_BIN=$(cd "$build" && pwd)/repoexfil
fi
: "${REPOEXFIL_BIN:=$src/build/repoexfil}"
tests=${*:-test_http_routes.py test_http_cases.py test_hostile.py test_scan.py}

if ! command -v valgrind >/dev/null 2>&1; then
    echo "valgrind.sh: valgrind is not installed (apt-get install valgrind)" >&2
    exit 2
fi
if [ ! -x "$REPOEXFIL_BIN" ]; then
    echo "valgrind.sh: no binary at $REPOEXFIL_BIN" >&2
    exit 2
fi
if nm -D "$REPOEXFIL_BIN" 2>/dev/null | grep -q __asan_init; then
    echo "valgrind.sh: $REPOEXFIL_BIN is a sanitizer build; valgrind needs a normal one" >&2
    exit 2
fi

logs=${RX_VALGRIND_LOGS:-$(mktemp -d /tmp/rx-valgrind.XXXXXX)}
mkdir -p "$logs"
REPOEXFIL_WRAPPER="valgrind --error-exitcode=99 --leak-check=full \
--errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
--track-fds=no --num-callers=30 --suppressions=$here/valgrind.supp \
--log-file=$logs/vg.%p"
RX_VALGRIND=1
RX_SANITIZE=OFF
: "${RX_SOURCE_DIR:=$src}"
: "${RX_TEST_DATA:=$src/tests/data}"
: "${RX_DATASETS:=$(cd "$src/.." && pwd)/shared/datasets}"
export REPOEXFIL_BIN REPOEXFIL_WRAPPER RX_VALGRIND RX_SANITIZE \
    RX_SOURCE_DIR RX_TEST_DATA RX_DATASETS

start=$(date +%s)
failed=""
for t in $tests; do
    t0=$(date +%s)
    # Bounded: no test may take more than 15 minutes under valgrind.
    timeout 900 python3 "$src/tests/integration/$t" >"$logs/$t.out" 2>&1
    rc=$?
    tail -n 1 "$logs/$t.out" | sed "s/^/valgrind.sh: $t: /"
    echo "valgrind.sh: $t: exit $rc in $(( $(date +%s) - t0 )) s"
    if [ "$rc" -ne 0 ]; then
        failed="$failed $t"
        grep '^FAIL' "$logs/$t.out" | head -n 20
    fi
done

# Every process log: an error summary of 0 (leaks of the counted kinds are
# errors), no "definitely lost" / "indirectly lost" record.
n=0; bad=0; incomplete=0
for f in "$logs"/vg.*; do
    [ -e "$f" ] || continue
    n=$((n + 1))
    if ! grep -q 'ERROR SUMMARY:' "$f"; then
        # Killed (SIGKILL) before valgrind could finish: errors found so far
        # are still in the log.
        incomplete=$((incomplete + 1))
        if grep -q '^==[0-9]*== \(Invalid\|Conditional\|Use of\|Syscall param\|Mismatched\|Source and destination\|Argument\)' "$f"; then
            bad=$((bad + 1)); echo "valgrind.sh: errors in $f:"; sed -n '1,60p' "$f"
        fi
        continue
    fi
    if ! grep -q 'ERROR SUMMARY: 0 errors' "$f" ||
       grep -q 'definitely lost: [1-9]\|indirectly lost: [1-9]' "$f"; then
        bad=$((bad + 1))
        echo "valgrind.sh: report in $f:"
        sed -n '1,80p' "$f"
    fi
done
took=$(( $(date +%s) - start ))
echo "valgrind.sh: $n processes checked, $bad with a report, $incomplete killed before the summary; $took s"
if [ -n "$failed" ] || [ "$bad" -ne 0 ] || [ "$n" -eq 0 ]; then
    echo "valgrind.sh: FAIL (tests:${failed:- none}; logs in $logs)"
    exit 1
fi
[ -z "${RX_VALGRIND_LOGS:-}" ] && rm -rf "$logs"
echo "valgrind.sh: PASS"
exit 0
