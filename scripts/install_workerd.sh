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

if ! installed; then
  command -v npm >/dev/null 2>&1 || { echo "npm is not installed; cannot install workerd" >&2; exit 1; }
  mkdir -p "$CACHE"
  [ -f "$CACHE/package.json" ] || printf '{ "name": "edgekit-runtimes", "private": true }\n' >"$CACHE/package.json"
  log="$(mktemp)"
  # flock keeps concurrent runs (the smoke, the tests) from installing over each other.
  (
    command -v flock >/dev/null 2>&1 && flock -w 300 9
    installed || timeout -k 10 300 npm install --prefix "$CACHE" --yes --no-audit --no-fund --save-exact \
      --loglevel=error "workerd@$WORKERD_VERSION"
  ) 9>"$CACHE/.lock" </dev/null >"$log" 2>&1
  if ! installed; then
    echo "npm install workerd@$WORKERD_VERSION failed:" >&2
    grep -v 'Unknown user config "nodedir"' "$log" | tail -n 20 >&2
    rm -f "$log"
    exit 1
  fi
  rm -f "$log"
fi
echo "$WORKERD"
