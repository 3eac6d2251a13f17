#!/usr/bin/env bash
# The one test command: installs what is missing (Debian 12, as root),
# builds a plain and an ASan+UBSan build, and runs every test on both.
# Exits non-zero on any failure.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=../deploy/install-deps.sh
. "$ROOT/deploy/install-deps.sh"
rx_install_deps build test

JOBS=$(nproc 2>/dev/null || echo 2)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

status=0
for variant in plain asan; do
    dir="$ROOT/build/ci-$variant"
    san=OFF
    [ "$variant" = asan ] && san=ON
    echo "=== $variant build ($dir)"
    cmake -S "$ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DWERROR=ON -DSANITIZE=$san >/dev/null
    cmake --build "$dir" -j"$JOBS"
    echo "=== $variant tests"
    if ! (cd "$dir" && ctest --output-on-failure --timeout 900); then
        status=1
    fi
done

echo "=== valgrind run of the integration subset (tests/valgrind.sh)"
if ! "$ROOT/tests/valgrind.sh" "$ROOT/build/ci-plain"; then
    status=1
fi

echo "=== container build step (deploy/build.sh, as deploy/Dockerfile runs it)"
if ! "$ROOT/deploy/build.sh" "$ROOT/build/ci-deploy" "$ROOT/build/ci-deploy/prefix"; then
    status=1
fi

echo "=== fuzz targets (bounded, ${FUZZ_SECONDS:-15} s each)"
if ! FUZZ_SECONDS=${FUZZ_SECONDS:-15} "$ROOT/tests/fuzz/run.sh"; then
    status=1
fi

if [ $status -ne 0 ]; then
    echo "tests/run.sh: FAILED"
else
    echo "tests/run.sh: all tests passed in both builds"
fi
exit $status
