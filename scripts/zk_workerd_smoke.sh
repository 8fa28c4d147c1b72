#!/usr/bin/env bash
# Runs a ZkInstancer and ZkRegistrar inside workerd against a real ZooKeeper, through `connect()` from
# `cloudflare:sockets` (picked by the library's feature detection). Needs SD_ZK_ADDR (e.g.
# `eval "$(bash scripts/servers/zookeeper.sh env)"`) and workerd, installed by scripts/install_workerd.sh
# when missing (EDGEKIT_RUNTIMES_CACHE, default ~/.cache/edgekit-runtimes). Prints `zk-workerd: ok` or FAILED.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DENO="${DENO:-deno}"
export NO_COLOR=1 DENO_NO_UPDATE_CHECK=1

[ -n "${SD_ZK_ADDR:-}" ] || { echo "zk-workerd: FAILED (SD_ZK_ADDR is not set)"; exit 1; }
WORKERD="$(bash "$ROOT/scripts/install_workerd.sh")" || { echo "zk-workerd: FAILED (workerd is not installed)"; exit 1; }

cd "$ROOT" || exit 1
mkdir -p tests/runtime/zk_workerd/dist
if ! timeout -k 5 120 "$DENO" bundle --platform=browser -o tests/runtime/zk_workerd/dist/zk.js src/zk/mod.ts \
  </dev/null >/tmp/zk-workerd-bundle.log 2>&1; then
  echo "zk-workerd: FAILED (deno bundle)"; tail -n 20 /tmp/zk-workerd-bundle.log; exit 1
fi
out="$(timeout -k 5 60 "$WORKERD" test tests/runtime/zk_workerd/config.capnp 2>&1)"
rc=$?
printf '%s\n' "$out" | grep -E 'PASS|FAIL|Error|error' | head -n 20
if [ "$rc" -eq 0 ] && printf '%s' "$out" | grep -q '\[ PASS \]'; then
  echo "zk-workerd: ok"
else
  echo "zk-workerd: FAILED (exit $rc)"; exit 1
fi
