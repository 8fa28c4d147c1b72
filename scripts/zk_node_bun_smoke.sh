#!/usr/bin/env bash
# Runs the ZooKeeper client on Node 20 (through the node:net adapter of examples/zk_node_socket.ts) and
# on Bun (through its built-in adapter) against a real ZooKeeper. Needs SD_ZK_ADDR (e.g.
# `eval "$(bash scripts/servers/zookeeper.sh env)"`); Bun comes from the same cache as
# scripts/runtime_smoke.sh. Prints one line per runtime and `zk-node-bun: ok` or FAILED.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${EDGEKIT_RUNTIMES_CACHE:-$HOME/.cache/edgekit-runtimes}"
BUN="$CACHE/node_modules/.bin/bun"
DENO="${DENO:-deno}"
export NO_COLOR=1 DENO_NO_UPDATE_CHECK=1

[ -n "${SD_ZK_ADDR:-}" ] || { echo "zk-node-bun: FAILED (SD_ZK_ADDR is not set)"; exit 1; }
if ! "$BUN" --version >/dev/null 2>&1; then
  timeout -k 10 300 npm install --prefix "$CACHE" --yes --no-audit --no-fund --save-exact --loglevel=error \
    bun@1.4.5 </dev/null >/dev/null 2>&1
fi
cd "$ROOT" || exit 1
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
if ! timeout -k 5 120 "$DENO" bundle --platform=deno -o "$OUT/zk.mjs" tests/runtime/zk_node_bun/entry.ts \
  </dev/null >"$OUT/bundle.log" 2>&1; then
  echo "zk-node-bun: FAILED (deno bundle)"; tail -n 20 "$OUT/bundle.log"; exit 1
fi
failed=0
timeout -k 5 60 node tests/runtime/zk_node_bun/scenario.mjs "$OUT/zk.mjs" "$SD_ZK_ADDR" </dev/null || failed=1
if "$BUN" --version >/dev/null 2>&1; then
  timeout -k 5 60 "$BUN" tests/runtime/zk_node_bun/scenario.mjs "$OUT/zk.mjs" "$SD_ZK_ADDR" </dev/null || failed=1
else
  echo "  FAIL bun: not installed"; failed=1
fi
if [ "$failed" -eq 0 ]; then echo "zk-node-bun: ok"; else echo "zk-node-bun: FAILED"; exit 1; fi
