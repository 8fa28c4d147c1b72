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

# shellcheck source=scripts/_npm_install.sh
. "$(dirname "${BASH_SOURCE[0]}")/_npm_install.sh"
npm_install_pinned "bun@$BUN_VERSION" binary
binary
