#!/usr/bin/env bash
# A real Consul agent for the Consul backend's integration tests, all on 127.0.0.1:
#   consul agent -dev: a single server that elects itself leader, all state in memory.
#
# Usage: consul.sh install|start|stop|restart|env|status
#   install  build the pinned release from the Go module proxy (skipped when the binary is cached)
#   start    start the agent and wait until it has a leader (does nothing if already healthy)
#   stop     stop it by PID and check that its ports are closed
#   restart  stop, then start an agent with empty state (-dev keeps nothing) on the same ports,
#            e.g. to test re-registration
#   env      print `export SD_...=...` lines for eval; `env --plain` prints bare KEY=VALUE lines
#   status   exit 0 if the agent is up and has a leader
#
# Why a build: Consul has no Debian package and nothing else may be downloaded, but it is a Go module.
# `go install github.com/hashicorp/consul@vX` refuses because Consul's go.mod has replace directives,
# so scripts/servers/consul/go.mod is a wrapper module that requires Consul at CONSUL_VERSION and
# repeats Consul's exclude lines (a dependency's replace and exclude lines are ignored). Its go.sum is
# committed, so every machine builds from the same module versions. The binary is cached outside the
# repo, in $SD_SERVERS_DIR/bin/consul-$CONSUL_VERSION, and is rebuilt only when it is missing.
# Version: 1.22.3 (January 2026), the newest release found on the module proxy when this was written;
# its submodules (api v1.33.0, sdk v0.17.0, ...) are published, so the proxy resolves the whole graph,
# and its go directive (1.25.5) is met by the Go installed here. The proxy's version list for this
# module is empty (`go list -m -versions` prints none), so a tag can only be checked by asking for it.
#
# Ports (environment, read by start; later commands use the ports recorded by start):
#   SD_CONSUL_HTTP_PORT=8500  SD_CONSUL_DNS_PORT=8600 (-1 turns DNS off)
#   SD_CONSUL_SERVER_PORT=8300  SD_CONSUL_SERF_LAN_PORT=8301  SD_CONSUL_SERF_WAN_PORT=8302 (-1: off)
#   gRPC, gRPC TLS and HTTPS are always off.
# State (config, log, PID file, ports): ${SD_SERVERS_DIR:-$HOME/.cache/edgekit-servers}/consul
# SD_SERVERS_TIMEOUT bounds every wait (seconds, default 15); SD_CONSUL_BUILD_TIMEOUT the build
# (seconds, default 1800).
set -uo pipefail

SD_NAME=consul
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/servers/_lib.sh
. "$HERE/_lib.sh"

CONSUL_VERSION=1.22.3
WRAPPER="$HERE/consul"
BIN_DIR="$SD_SERVERS_ROOT/bin"
BIN="$BIN_DIR/consul-$CONSUL_VERSION"
D="$(sd_state_dir consul)" || exit 1
PORTS_FILE="$D/ports.env"
CONFIG="$D/agent.hcl"

# Ports: start takes them from the environment; the other commands from what start recorded.
load_ports() {
  HTTP_PORT=8500 DNS_PORT=8600 SERVER_PORT=8300 SERF_LAN_PORT=8301 SERF_WAN_PORT=8302
  if [[ "${1:-}" != requested && -f "$PORTS_FILE" ]]; then
    # shellcheck disable=SC1090
    . "$PORTS_FILE"
  else
    HTTP_PORT="${SD_CONSUL_HTTP_PORT:-$HTTP_PORT}" DNS_PORT="${SD_CONSUL_DNS_PORT:-$DNS_PORT}"
    SERVER_PORT="${SD_CONSUL_SERVER_PORT:-$SERVER_PORT}"
    SERF_LAN_PORT="${SD_CONSUL_SERF_LAN_PORT:-$SERF_LAN_PORT}"
    SERF_WAN_PORT="${SD_CONSUL_SERF_WAN_PORT:-$SERF_WAN_PORT}"
  fi
  local p
  for p in "$HTTP_PORT" "$SERVER_PORT" "$SERF_LAN_PORT" "$DNS_PORT" "$SERF_WAN_PORT"; do
    valid_port "$p" || sd_die "bad port \"$p\""
  done
  [[ "$HTTP_PORT" != -1 && "$SERVER_PORT" != -1 && "$SERF_LAN_PORT" != -1 ]] ||
    sd_die "only the DNS and serf WAN ports can be turned off (-1)"
}

valid_port() { [[ "$1" == -1 ]] || { [[ "$1" =~ ^[0-9]+$ ]] && (($1 > 0 && $1 < 65536)); }; }

ports_line() {
  printf 'HTTP_PORT=%s DNS_PORT=%s SERVER_PORT=%s SERF_LAN_PORT=%s SERF_WAN_PORT=%s\n' \
    "$HTTP_PORT" "$DNS_PORT" "$SERVER_PORT" "$SERF_LAN_PORT" "$SERF_WAN_PORT"
}

# The TCP ports this agent listens on (the serf ports also take UDP).
tcp_ports() {
  local p
  for p in "$HTTP_PORT" "$DNS_PORT" "$SERVER_PORT" "$SERF_LAN_PORT" "$SERF_WAN_PORT"; do
    [[ "$p" == -1 ]] || printf '%s\n' "$p"
  done
}

# --- build ---------------------------------------------------------------------------------------

# The Go toolchain: PATH first, then the usual install folder.
find_go() {
  command -v go >/dev/null && return 0
  [[ -x /usr/local/go/bin/go ]] && export PATH="/usr/local/go/bin:$PATH" && return 0
  sd_die "go not found (needs Go >= $(sed -n 's/^go //p' "$WRAPPER/go.mod"))"
}

# Module downloads come from the Go module proxy only: "direct" (fetching from VCS hosts) and
# "off" are dropped from GOPROXY; nothing left means the public proxy.
proxy_only() {
  local list="${GOPROXY:-$(go env GOPROXY)}" out="" entry
  local -a entries
  IFS=',|' read -ra entries <<<"$list"
  for entry in "${entries[@]}"; do
    [[ -z "$entry" || "$entry" == direct || "$entry" == off ]] && continue
    out="${out:+$out,}$entry"
  done
  printf '%s\n' "${out:-https://proxy.golang.org}"
}

# True if binary $1 runs and reports CONSUL_VERSION. (Not `version | grep -q`: grep exiting early
# would make the pipeline fail under pipefail.)
reports_version() {
  local out
  out="$("$1" version 2>/dev/null)" || return 1
  [[ "${out%%$'\n'*}" == "Consul v$CONSUL_VERSION" ]]
}

cmd_install() {
  if [[ -x "$BIN" ]] && reports_version "$BIN"; then
    sd_log "already built: $BIN"
    printf 'Consul v%s\n' "$CONSUL_VERSION"
    return 0
  fi
  find_go
  grep -Eq "^[[:space:]]*github.com/hashicorp/consul v$CONSUL_VERSION( |\$)" "$WRAPPER/go.mod" ||
    sd_die "$WRAPPER/go.mod does not require github.com/hashicorp/consul v$CONSUL_VERSION"
  mkdir -p "$BIN_DIR" || sd_die "cannot create $BIN_DIR"
  # Build in a copy, so the go command never edits the committed files.
  local build="$D/build" log="$D/build.log" t0 rc=0
  if ! { rm -rf "$build" && mkdir -p "$build" && cp "$WRAPPER/go.mod" "$WRAPPER/go.sum" "$build/"; }; then
    sd_die "cannot prepare $build"
  fi
  sd_log "building Consul v$CONSUL_VERSION with $(go version | cut -d' ' -f3) (log: $log); a cold build takes minutes"
  t0="$(sd_now_ms)"
  (
    cd "$build" &&
      GOPROXY="$(proxy_only)" GOTOOLCHAIN=local GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0 \
        timeout "${SD_CONSUL_BUILD_TIMEOUT:-1800}" \
        go build -trimpath -o "$BIN.tmp" github.com/hashicorp/consul
  ) </dev/null >"$log" 2>&1 || rc=$?
  if ((rc != 0)); then
    ((rc == 124)) && sd_log "the build hit its time limit (${SD_CONSUL_BUILD_TIMEOUT:-1800} s)"
    sd_tail_logs "$log"
    rm -f "$BIN.tmp"
    sd_die "go build failed (exit $rc)"
  fi
  if ! cmp -s "$build/go.mod" "$WRAPPER/go.mod" || ! cmp -s "$build/go.sum" "$WRAPPER/go.sum"; then
    sd_log "warning: the build changed go.mod/go.sum; run 'go mod tidy' in $WRAPPER and commit the result"
  fi
  reports_version "$BIN.tmp" ||
    { rm -f "$BIN.tmp"; sd_die "the built binary does not report Consul v$CONSUL_VERSION"; }
  mv -f "$BIN.tmp" "$BIN" || sd_die "cannot move the binary to $BIN"
  rm -rf "$build"
  sd_log "built $BIN in $((($(sd_now_ms) - t0) / 1000)) s ($(du -h "$BIN" | cut -f1))"
  printf 'Consul v%s\n' "$CONSUL_VERSION"
}

# --- agent ---------------------------------------------------------------------------------------

agent_up() { sd_pid_matches "$(sd_read_pid "$D/consul.pid")" "$CONFIG"; }

# The leader is reported as a JSON string, "" while there is none.
has_leader() {
  local leader
  leader="$(sd_curl --max-time 2 -f "http://127.0.0.1:$HTTP_PORT/v1/status/leader" 2>/dev/null)" || return 1
  [[ "$leader" =~ ^\"[^\"]+\"$ ]] || return 1
  sd_curl --max-time 2 -f -o /dev/null "http://127.0.0.1:$HTTP_PORT/v1/agent/self" 2>/dev/null
}

agent_ready() {
  agent_up || return 2
  has_leader
}

healthy() { agent_up && has_leader; }

fail_start() {
  sd_log "start failed: $*"
  sd_tail_logs "$D/consul.log"
  stop_all >/dev/null 2>&1
  exit 1
}

# Settings with no command-line flag, all to keep traffic on this machine and the agent quiet.
write_config() {
  cat >"$CONFIG" <<EOF
# Written by scripts/servers/consul.sh; rewritten on every start.
# With -dev the catalog and KV live in memory; this folder gets only small files (node ID, checkpoint).
data_dir = "$D/data"
# No calls home: no update check (checkpoint) and no anonymous signature with it.
disable_update_check = true
disable_anonymous_signature = true
# No hostname prefix on metrics; no telemetry sink is configured, so nothing is sent anywhere.
telemetry {
  disable_hostname = true
}
# Everything on loopback; listeners not needed by the tests are off.
addresses {
  http = "127.0.0.1"
  dns  = "127.0.0.1"
}
ports {
  grpc     = -1
  grpc_tls = -1
  https    = -1
}
EOF
}

cmd_start() {
  local t0
  t0="$(sd_now_ms)"
  if sd_start_guard; then return 0; fi
  [[ -x "$BIN" ]] || sd_die "$BIN not found; run: bash $0 install"
  command -v curl >/dev/null || sd_die "curl not found"
  cd "$D" || sd_die "cannot enter $D" # so the agent does not keep the caller's directory busy
  # shellcheck disable=SC2046
  sd_require_ports_free $(tcp_ports)

  rm -rf "$D/consul.log" "$D/data"
  mkdir -p "$D/data" || fail_start "cannot create $D/data"
  write_config || fail_start "could not write $CONFIG"
  ports_line >"$PORTS_FILE"
  "$BIN" validate -quiet "$CONFIG" >"$D/consul.log" 2>&1 ||
    { cat "$D/consul.log" >&2; fail_start "consul validate rejected $CONFIG"; }

  # -dev: one server, leader of its own datacenter, state in memory.
  # -disable-host-node-id: a random node ID rather than one derived from the host.
  sd_start_bg "$D/consul.pid" "$D/consul.log" "$CONFIG" \
    "$BIN" agent -dev -config-file "$CONFIG" \
    -node edgekit-test -disable-host-node-id -log-level warn \
    -bind 127.0.0.1 -advertise 127.0.0.1 -client 127.0.0.1 -serf-wan-bind 127.0.0.1 \
    -http-port "$HTTP_PORT" -dns-port "$DNS_PORT" -grpc-port -1 -grpc-tls-port -1 -https-port -1 \
    -server-port "$SERVER_PORT" -serf-lan-port "$SERF_LAN_PORT" -serf-wan-port "$SERF_WAN_PORT" ||
    fail_start "Consul did not start"
  sd_wait_until "$SD_TIMEOUT" "a leader at http://127.0.0.1:$HTTP_PORT/v1/status/leader" agent_ready ||
    fail_start "Consul is not ready"
  sd_log "ready in $(($(sd_now_ms) - t0)) ms; consul PID $(sd_read_pid "$D/consul.pid") ($(ports_line))"
}

stop_pids() { sd_stop_pid "$D/consul.pid" "$CONFIG"; }

# Stops the agent and checks its ports are closed.
stop_all() {
  local rc=0 port
  stop_pids || rc=1
  for port in $(tcp_ports); do
    sd_wait_until 5 "port $port to close" sd_port_closed "$port" || rc=1
  done
  return "$rc"
}

cmd_stop() {
  local t0
  t0="$(sd_now_ms)"
  load_ports
  stop_all || sd_die "a port is still open after stopping (another process may hold it)"
  sd_log "stopped in $(($(sd_now_ms) - t0)) ms"
}

# Same ports as the agent being replaced, unless the environment names others.
cmd_restart() {
  load_ports
  export SD_CONSUL_HTTP_PORT="${SD_CONSUL_HTTP_PORT:-$HTTP_PORT}" SD_CONSUL_DNS_PORT="${SD_CONSUL_DNS_PORT:-$DNS_PORT}"
  export SD_CONSUL_SERVER_PORT="${SD_CONSUL_SERVER_PORT:-$SERVER_PORT}"
  export SD_CONSUL_SERF_LAN_PORT="${SD_CONSUL_SERF_LAN_PORT:-$SERF_LAN_PORT}"
  export SD_CONSUL_SERF_WAN_PORT="${SD_CONSUL_SERF_WAN_PORT:-$SERF_WAN_PORT}"
  cmd_stop && cmd_start
}

cmd_env() {
  load_ports
  local prefix="export "
  [[ "${1:-}" == --plain ]] && prefix=""
  printf '%sSD_CONSUL_ADDR=%q\n' "$prefix" "127.0.0.1:$HTTP_PORT"
  printf '%sSD_CONSUL_VERSION=%q\n' "$prefix" "$CONSUL_VERSION"
}

cmd_status() {
  load_ports
  if ! agent_up; then
    echo "consul: down"
    return 1
  fi
  echo "consul: up (PID $(sd_read_pid "$D/consul.pid"), HTTP 127.0.0.1:$HTTP_PORT, v$CONSUL_VERSION)"
  if has_leader; then echo "leader: elected"; else
    echo "leader: none"
    return 1
  fi
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  restart) cmd_restart ;;
  env) cmd_env "${2:-}" ;;
  status) cmd_status ;;
  *)
    echo "usage: $0 install|start|stop|restart|env [--plain]|status" >&2
    exit 2
    ;;
esac
