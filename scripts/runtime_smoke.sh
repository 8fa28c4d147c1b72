#!/usr/bin/env bash
# Cross-runtime smoke test: bundles the public entry points with `deno bundle`, starts a loopback
# upstream (tests/runtime/upstream.mjs), and runs the same scenario (tests/runtime/scenario.js) in
# Deno, Node, Bun and workerd, with the Hono gateway of tests/runtime/hono_scenario.js (pull mode; served
# by serveRegistered outside workerd). Prints each check, one `runtime <name>: ok|FAILED` line per
# runtime and, last, `runtime-smoke: N passed, N failed` (counting runtimes). Exits non-zero if any
# runtime failed.
#
#   scripts/runtime_smoke.sh                 # all four runtimes
#   scripts/runtime_smoke.sh node workerd    # a subset
#
# Environment: DENO (Deno binary, default `deno`; if missing, deno@2.9.5 is installed from npm),
# EDGEKIT_RUNTIMES_CACHE (where the pinned npm packages go, default ~/.cache/edgekit-runtimes),
# SMOKE_TIMEOUT (seconds per runtime, default 60).
set -uo pipefail

BUN_VERSION="$(bash "$(dirname "${BASH_SOURCE[0]}")/install_bun.sh" --version)" # the pin lives there
WORKERD_VERSION="$(bash "$(dirname "${BASH_SOURCE[0]}")/install_workerd.sh" --version)" # the pin lives there
DENO_VERSION=2.9.5
CACHE="${EDGEKIT_RUNTIMES_CACHE:-$HOME/.cache/edgekit-runtimes}"
PER_RUNTIME="${SMOKE_TIMEOUT:-60}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNTIMES=("$@")
[ ${#RUNTIMES[@]} -eq 0 ] && RUNTIMES=(deno node bun workerd)

export NO_COLOR=1 DENO_NO_UPDATE_CHECK=1 DO_NOT_TRACK=1
WORK="$(mktemp -d "${TMPDIR:-/tmp}/edgekit-smoke.XXXXXX")"
UPSTREAM_PID=""
RUNTIME_PID=""

cleanup() {
  if [ -n "$RUNTIME_PID" ]; then
    kill "$RUNTIME_PID" 2>/dev/null
    wait "$RUNTIME_PID" 2>/dev/null
  fi
  if [ -n "$UPSTREAM_PID" ]; then
    kill "$UPSTREAM_PID" 2>/dev/null
    wait "$UPSTREAM_PID" 2>/dev/null
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now() { date +%s%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", (b - a) / 1e9 }'; }
begin=$(now)
say() { printf '%s\n' "$*"; }

declare -A BROKEN=() # runtime -> why it cannot run
break_all() { for r in "${RUNTIMES[@]}"; do BROKEN[$r]="${BROKEN[$r]:-$1}"; done; }
wants() { local r; for r in "${RUNTIMES[@]}"; do [ "$r" = "$1" ] && return 0; done; return 1; }

for r in "${RUNTIMES[@]}"; do
  case "$r" in deno | node | bun | workerd) ;; *) say "unknown runtime: $r (use deno, node, bun, workerd)"; exit 2 ;; esac
done

# --- Node (runs the upstream, so every runtime needs it) ---------------------------------------------
if ! command -v node >/dev/null 2>&1; then
  break_all "node is not installed"
elif [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  break_all "node $(node --version) is older than 20"
fi

# --- pinned npm packages, installed once into $CACHE (outside the repo) ------------------------------
installed_version() { # package -> version found in $CACHE, or nothing
  node -p "require(process.argv[1]).version" "$CACHE/node_modules/$1/package.json" 2>/dev/null
}
DENO="${DENO:-deno}"
need=()
if wants bun && [ "$(installed_version bun)" != "$BUN_VERSION" ]; then need+=("bun@$BUN_VERSION"); fi
if wants workerd && [ "$(installed_version workerd)" != "$WORKERD_VERSION" ]; then
  need+=("workerd@$WORKERD_VERSION")
fi
if ! command -v "$DENO" >/dev/null 2>&1; then
  DENO="$CACHE/node_modules/.bin/deno"
  [ "$(installed_version deno)" != "$DENO_VERSION" ] && need+=("deno@$DENO_VERSION")
fi
if [ ${#need[@]} -gt 0 ] && command -v npm >/dev/null 2>&1; then
  start=$(now)
  mkdir -p "$CACHE"
  [ -f "$CACHE/package.json" ] || printf '{ "name": "edgekit-runtimes", "private": true }\n' >"$CACHE/package.json"
  # flock keeps two concurrent runs from installing over each other.
  if (
    command -v flock >/dev/null 2>&1 && flock -w 300 9
    timeout -k 10 300 npm install --prefix "$CACHE" --yes --no-audit --no-fund --save-exact \
      --loglevel=error "${need[@]}"
  ) 9>"$CACHE/.lock" </dev/null >"$WORK/npm.log" 2>&1; then
    say "installed ${need[*]} into $CACHE ($(elapsed "$start"))"
  else
    say "npm install ${need[*]} failed:"
    grep -v 'Unknown user config "nodedir"' "$WORK/npm.log" | tail -n 20
  fi
elif [ ${#need[@]} -gt 0 ]; then
  say "npm is not installed; cannot install ${need[*]}"
fi

BUN="$CACHE/node_modules/.bin/bun"
if wants bun && ! "$BUN" --version >/dev/null 2>&1; then
  # Without its postinstall, bun's .bin entry is a stub; the platform package still has the binary.
  for candidate in "$CACHE"/node_modules/@oven/bun-*/bin/bun; do
    if "$candidate" --version >/dev/null 2>&1; then BUN="$candidate"; break; fi
  done
fi
WORKERD="$CACHE/node_modules/.bin/workerd"
if wants bun && [ "$("$BUN" --version 2>/dev/null)" != "$BUN_VERSION" ]; then BROKEN[bun]="bun $BUN_VERSION is not installed"; fi
if wants workerd && ! "$WORKERD" --version >/dev/null 2>&1; then BROKEN[workerd]="workerd $WORKERD_VERSION is not installed"; fi
if ! "$DENO" --version >/dev/null 2>&1; then break_all "no Deno binary at '$DENO' (set DENO)"; fi

versions="node $(node --version 2>/dev/null || echo -)"
versions+=", deno $("$DENO" --version 2>/dev/null | awk 'NR == 1 { print $2 }')"
wants bun && versions+=", bun $("$BUN" --version 2>/dev/null)"
wants workerd && versions+=", $("$WORKERD" --version 2>/dev/null)"
say "tools: $versions"

# --- bundle -------------------------------------------------------------------------------------------
if [ ${#BROKEN[@]} -lt ${#RUNTIMES[@]} ] && "$DENO" --version >/dev/null 2>&1; then
  start=$(now)
  rm -f "$ROOT/tests/runtime/dist/sd.js"
  if (cd "$ROOT" && timeout -k 5 120 "$DENO" bundle --platform=browser -o tests/runtime/dist/sd.js \
    tests/runtime/entry.ts) </dev/null >"$WORK/bundle.log" 2>&1 && [ -s "$ROOT/tests/runtime/dist/sd.js" ]; then
    say "bundled tests/runtime/entry.ts -> tests/runtime/dist/sd.js ($(wc -c <"$ROOT/tests/runtime/dist/sd.js") bytes, $(elapsed "$start"))"
  else
    say "deno bundle failed:"
    tail -n 20 "$WORK/bundle.log"
    break_all "the bundle could not be built"
  fi
fi

# --- upstream -----------------------------------------------------------------------------------------
if [ ${#BROKEN[@]} -lt ${#RUNTIMES[@]} ]; then
  UPSTREAM_LIFETIME_MS=$(((PER_RUNTIME * 4 + 60) * 1000)) \
    timeout -k 5 $((PER_RUNTIME * 4 + 90)) node "$ROOT/tests/runtime/upstream.mjs" \
    </dev/null >"$WORK/upstream.json" 2>"$WORK/upstream.err" &
  UPSTREAM_PID=$!
  for _ in $(seq 100); do
    [ -s "$WORK/upstream.json" ] && break
    kill -0 "$UPSTREAM_PID" 2>/dev/null || break
    sleep 0.1
  done
  SD_LIVE="$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).live.join(",")' \
    "$WORK/upstream.json" 2>/dev/null)"
  SD_DEAD="$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).dead' \
    "$WORK/upstream.json" 2>/dev/null)"
  if [ -n "$SD_LIVE" ] && [ -n "$SD_DEAD" ]; then
    export SD_LIVE SD_DEAD
    say "upstream: live $SD_LIVE, refusing $SD_DEAD"
  else
    say "the upstream did not start:"
    tail -n 20 "$WORK/upstream.err"
    break_all "no upstream"
  fi
fi

# --- runtimes -----------------------------------------------------------------------------------------
# Runs one runtime; called in a subshell, which `exec` replaces, so its PID is that of `timeout`.
run_runtime() {
  local name="$1"
  export SD_RUNTIME="$name"
  cd "$ROOT" || return 1
  case "$name" in
    deno)
      # `deno test`, for its sanitizers; read access for the bundle's computed import.
      exec timeout -k 5 "$PER_RUNTIME" "$DENO" test --no-config --no-prompt --allow-net=127.0.0.1 \
        --allow-read=tests/runtime --allow-env=SD_LIVE,SD_DEAD tests/runtime/deno/smoke.js
      ;;
    node) exec timeout -k 5 "$PER_RUNTIME" node tests/runtime/run.mjs ;;
    bun) exec timeout -k 5 "$PER_RUNTIME" "$BUN" run tests/runtime/run.mjs ;;
    workerd) exec timeout -k 5 "$PER_RUNTIME" "$WORKERD" test tests/runtime/workerd/config.capnp ;;
  esac
}

passed=0
failed=0
for name in "${RUNTIMES[@]}"; do
  if [ -n "${BROKEN[$name]:-}" ]; then
    say "runtime $name: FAILED (${BROKEN[$name]})"
    failed=$((failed + 1))
    continue
  fi
  start=$(now)
  # In the background and waited for, so that an INT or TERM reaches the traps at once.
  (run_runtime "$name") </dev/null >"$WORK/$name.log" 2>&1 &
  RUNTIME_PID=$!
  wait "$RUNTIME_PID"
  rc=$?
  RUNTIME_PID=""
  grep -E '^(PASS|FAIL) ' "$WORK/$name.log" | sed 's/^/  /'
  checks=$(grep -c '^PASS ' "$WORK/$name.log")
  fails=$(grep -c '^FAIL ' "$WORK/$name.log")
  why=""
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    why="timed out after ${PER_RUNTIME}s"
  elif [ "$rc" -ne 0 ]; then
    why="exit $rc"
  elif [ "$fails" -ne 0 ] || [ "$checks" -eq 0 ]; then
    why="$checks checks passed, $fails failed"
  elif [ "$name" = workerd ] && ! grep -q '\[ PASS \] main' "$WORK/$name.log"; then
    why="workerd did not report the test as passed"
  fi
  if [ -z "$why" ]; then
    say "runtime $name: ok ($checks checks, $(elapsed "$start"))"
    passed=$((passed + 1))
  else
    say "runtime $name: FAILED ($why, $(elapsed "$start")); last lines of its output:"
    grep -Ev '^(PASS|FAIL) |^stack: |Connection refused \(os error 111\)' "$WORK/$name.log" | tail -n 15 | sed 's/^/  | /'
    failed=$((failed + 1))
  fi
done

say "total $(elapsed "$begin")"
say "runtime-smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
