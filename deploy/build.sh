#!/usr/bin/env bash
# Builds the release binary: the one build recipe shared by deploy/Dockerfile
# (build stage), deploy/run.sh and tests/run.sh, so CI runs the very steps
# the container build runs.
#
#   deploy/build.sh BUILD_DIR [PREFIX]
#
# Configures the source tree this script belongs to into BUILD_DIR
# (CMAKE_BUILD_TYPE=Release), builds only the `repoexfil` target, checks that
# the result runs (`repoexfil --version`) and, when PREFIX is given, installs
# it stripped as PREFIX/bin/repoexfil. Needs what `rx_install_deps build`
# (deploy/install-deps.sh) installs; installs nothing itself.
#
# Environment: JOBS (parallel jobs, default: number of CPUs);
# RX_GIT_REVISION (the revision --version and GET /version report when the
# tree is not a git checkout, as in a container build).
set -euo pipefail

usage() {
    echo "usage: deploy/build.sh BUILD_DIR [PREFIX]" >&2
    exit 2
}
if [ $# -lt 1 ] || [ $# -gt 2 ] || [ -z "$1" ]; then
    usage
fi

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=$1
PREFIX=${2:-}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}

cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release \
    -DWERROR=OFF -DSANITIZE=OFF >/dev/null
cmake --build "$BUILD_DIR" --target repoexfil -j "$JOBS"

# A binary that cannot start (missing library, bad link) fails the build.
"$BUILD_DIR/repoexfil" --version

if [ -n "$PREFIX" ]; then
    install -d "$PREFIX/bin"
    install -m 0755 -s "$BUILD_DIR/repoexfil" "$PREFIX/bin/repoexfil"
    "$PREFIX/bin/repoexfil" --version >/dev/null
    echo "installed $PREFIX/bin/repoexfil"
fi
