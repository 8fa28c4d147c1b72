# Sourced by scripts/install_workerd.sh and scripts/install_bun.sh: installs one pinned npm package
# into the runtimes cache ($CACHE) unless `check` (a function the caller defines) already passes.
#   npm_install_pinned PACKAGE@VERSION CHECK_FUNCTION
# Exits the calling script non-zero, with npm's last lines on stderr, when the check still fails.
npm_install_pinned() {
  local spec=$1 check=$2 log
  "$check" >/dev/null && return 0
  command -v npm >/dev/null 2>&1 || { echo "npm is not installed; cannot install $spec" >&2; exit 1; }
  mkdir -p "$CACHE"
  [ -f "$CACHE/package.json" ] || printf '{ "name": "edgekit-runtimes", "private": true }\n' >"$CACHE/package.json"
  log="$(mktemp)"
  # flock keeps concurrent runs (the smoke, the tests) from installing over each other.
  (
    command -v flock >/dev/null 2>&1 && flock -w 300 9
    "$check" >/dev/null || timeout -k 10 300 npm install --prefix "$CACHE" --yes --no-audit --no-fund \
      --save-exact --loglevel=error "$spec"
  ) 9>"$CACHE/.lock" </dev/null >"$log" 2>&1
  if ! "$check" >/dev/null; then
    echo "npm install $spec failed:" >&2
    grep -v 'Unknown user config "nodedir"' "$log" | tail -n 20 >&2
    rm -f "$log"
    exit 1
  fi
  rm -f "$log"
}
