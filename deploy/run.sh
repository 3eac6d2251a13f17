#!/usr/bin/env bash
# The README's run command. On a fresh Debian 12 machine, as root:
#
#   deploy/run.sh
#
# installs only the build dependencies that are missing, builds in build/
# and runs `repoexfil serve` in the foreground on 0.0.0.0:8080 with the
# defaults (no alert sink configured: alerts are logged as JSON lines on
# stderr). Arguments are passed on to `serve` (deploy/run.sh --workers 4);
# every setting can also come from its REPOEXFIL_* environment variable
# (docs/http.md has the table). Stop it with Ctrl-C or SIGTERM: it drains
# in-flight batches and exits 0.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=SCRIPTDIR/install-deps.sh
. "$ROOT/deploy/install-deps.sh"
rx_install_deps build

# Configuring the tree also configures tests/ (cmocka and python3 are
# required there), so those two are needed even to build the binary.
extra=()
dpkg-query -W -f='${Status}' libcmocka-dev 2>/dev/null |
    grep -q 'install ok installed' || extra+=(libcmocka-dev)
command -v python3 >/dev/null 2>&1 || extra+=(python3)
if [ ${#extra[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "run.sh: missing packages and not root: ${extra[*]}" >&2
        exit 1
    fi
    echo "installing: ${extra[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${extra[@]}" >/dev/null
fi

cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$ROOT/build" --target repoexfil -j "$(nproc 2>/dev/null || echo 2)"

exec "$ROOT/build/repoexfil" serve "$@"
