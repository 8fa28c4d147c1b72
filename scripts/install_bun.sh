#!/usr/bin/env bash
# Installs the pinned Bun from npm into the runtimes cache (EDGEKIT_RUNTIMES_CACHE, default
# ~/.cache/edgekit-runtimes) unless it is already there, and prints the binary's path on stdout.
# Exits non-zero, with npm's last lines on stderr, when it cannot. The one place the Bun pin lives:
# scripts/runtime_smoke.sh reads it, and .ci/run runs this before the tests, so that the Bun tests in
# tests/integration/ find Bun (they fail under SD_REQUIRE_SERVERS=1 without it).
#
#   BUN="$(bash scripts/install_bun.sh)" || exit 1
#   bash scripts/install_bun.sh --version     # print the pin only
set -uo pipefail

BUN_VERSION=1.4.5
[ "${1:-}" = "--version" ] && { echo "$BUN_VERSION"; exit 0; }

CACHE="${EDGEKIT_RUNTIMES_CACHE:-$HOME/.cache/edgekit-runtimes}"

binary() { # prints the path of a pinned Bun that runs, or fails
  local candidate
  # Without its postinstall, bun's .bin entry is a stub; the platform package still has the binary.
  for candidate in "$CACHE/node_modules/.bin/bun" "$CACHE"/node_modules/@oven/bun-*/bin/bun; do
    if [ "$("$candidate" --version 2>/dev/null)" = "$BUN_VERSION" ]; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

if ! binary >/dev/null; then
  command -v npm >/dev/null 2>&1 || { echo "npm is not installed; cannot install bun" >&2; exit 1; }
  mkdir -p "$CACHE"
  [ -f "$CACHE/package.json" ] || printf '{ "name": "edgekit-runtimes", "private": true }\n' >"$CACHE/package.json"
  log="$(mktemp)"
  # flock keeps concurrent runs (the smoke, the tests) from installing over each other.
  (
    command -v flock >/dev/null 2>&1 && flock -w 300 9
    binary >/dev/null || timeout -k 10 300 npm install --prefix "$CACHE" --yes --no-audit --no-fund --save-exact \
      --loglevel=error "bun@$BUN_VERSION"
  ) 9>"$CACHE/.lock" </dev/null >"$log" 2>&1
  if ! binary >/dev/null; then
    echo "npm install bun@$BUN_VERSION failed:" >&2
    grep -v 'Unknown user config "nodedir"' "$log" | tail -n 20 >&2
    rm -f "$log"
    exit 1
  fi
  rm -f "$log"
fi
binary
