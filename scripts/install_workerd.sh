#!/usr/bin/env bash
# Installs the pinned workerd from npm into the runtimes cache (EDGEKIT_RUNTIMES_CACHE, default
# ~/.cache/edgekit-runtimes) unless it is already there, and prints the binary's path on stdout.
# Exits non-zero, with npm's last lines on stderr, when it cannot. The one place the workerd pin and
# its install live: scripts/runtime_smoke.sh, scripts/zk_workerd_smoke.sh, .ci/run and the workerd
# tests (tests/workerd/) use it.
#
#   WORKERD="$(bash scripts/install_workerd.sh)" || exit 1
#   bash scripts/install_workerd.sh --version     # print the pin only
set -uo pipefail

WORKERD_VERSION=1.20261117.1
[ "${1:-}" = "--version" ] && { echo "$WORKERD_VERSION"; exit 0; }

CACHE="${EDGEKIT_RUNTIMES_CACHE:-$HOME/.cache/edgekit-runtimes}"
WORKERD="$CACHE/node_modules/.bin/workerd"

installed() { # the pinned version answers on this machine
  [ "$(node -p "require(process.argv[1]).version" "$CACHE/node_modules/workerd/package.json" 2>/dev/null)" \
    = "$WORKERD_VERSION" ] && "$WORKERD" --version >/dev/null 2>&1
}

# shellcheck source=scripts/_npm_install.sh
. "$(dirname "${BASH_SOURCE[0]}")/_npm_install.sh"
npm_install_pinned "workerd@$WORKERD_VERSION" installed
echo "$WORKERD"
