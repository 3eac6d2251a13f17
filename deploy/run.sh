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
# (the README has the table). Stop it with Ctrl-C or SIGTERM: it drains
# in-flight batches and exits 0.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=SCRIPTDIR/install-deps.sh
. "$ROOT/deploy/install-deps.sh"
rx_install_deps build

# The same build recipe as the Dockerfile and CI (deploy/build.sh).
"$ROOT/deploy/build.sh" "$ROOT/build"

exec "$ROOT/build/repoexfil" serve "$@"
