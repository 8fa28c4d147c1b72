#!/usr/bin/env bash
# Real etcd 3.4 (Debian etcd-server) on 127.0.0.1 for the etcd backend's integration tests: one
# single-member server, and on demand a three-member cluster on other ports.
#
# Usage: etcd.sh COMMAND
#   install                 apt etcd-server etcd-client (root; skipped when etcd and etcdctl are there)
#   start                   single member on a fresh data dir; waits for /health and a range request
#                           (does nothing if it is already healthy)
#   stop [--kill]           stop the single member: SIGTERM (clean), or SIGKILL with --kill (a crash);
#                           its data stays on disk for resume/restart; the next start wipes it
#   resume                  start the single member again on its existing data (after stop)
#   restart [SECONDS]       clean stop, stay down SECONDS (default 0, decimals allowed), start again on
#                           the SAME data: keys, revisions, leases and auth survive
#   wipe [SECONDS]          clean stop, stay down SECONDS (default 0), start again on FRESH data: keys,
#                           leases, auth and history are gone and the revision starts again at 1 (as
#                           after a disk loss; the cluster and member IDs stay the same)
#   cluster-start           three members on a fresh data dir each (does nothing if all are healthy)
#   cluster-stop            stop all three members and delete their data
#   member-stop N [--kill]  stop cluster member N (1-3); the other two keep quorum
#   member-start N          start member N again on its data; waits until it answers
#   member-lead N           move the leadership to member N (so that stopping it forces an election)
#   auth-enable             users root and sd-test, role sd-test-rw (readwrite on prefix /sd-auth/),
#                           then auth enable; on the single member (does nothing if already enabled)
#   auth-disable            auth disable, then delete those users and roles
#   env [--plain]           `export SD_ETCD_...=...` lines for eval (--plain: bare KEY=VALUE lines)
#   status                  exit 0 if the single member and every running cluster member answer
#   stop-all                stop the single member and the cluster and delete their data (CI clean-up)
#
# Ports (environment, read by start / cluster-start; later commands use the ports recorded then):
#   SD_ETCD_PORT=2379 (client) SD_ETCD_PEER_PORT=2380
#   SD_ETCD_CLUSTER_PORT=22379: member N has client port SD_ETCD_CLUSTER_PORT + 100*(N-1) and peer
#   port one above it, so 22379/22380, 22479/22480, 22579/22580.
# Timing: SD_ETCD_HEARTBEAT_MS=10 SD_ETCD_ELECTION_MS=100 (single member; it elects itself at once),
#   SD_ETCD_CLUSTER_HEARTBEAT_MS=25 SD_ETCD_CLUSTER_ELECTION_MS=250 (cluster: roomier, so a loaded
#   2-core machine does not cause spurious leader changes), SD_ETCD_PROGRESS_NOTIFY=1s (interval of
#   watch progress notifications for watches that ask for them; etcd's default is 10 minutes).
# Auth: SD_ETCD_ROOT_PASSWORD (default rootpw) is recorded by auth-enable and used by auth-disable;
#   the test user is sd-test / sd-test-pw. `env` prints both.
# State (data dirs, logs, PID files): ${SD_SERVERS_DIR:-$HOME/.cache/edgekit-servers}/etcd. Each
#   member's data dir takes about 120 MB of disk (etcd 3.4 preallocates 64 MB WAL segments).
# SD_SERVERS_TIMEOUT bounds every wait (seconds, default 15).
# Never name a variable ETCD_*: etcd reads those as flags. Any found in the environment are unset here.
set -uo pipefail

SD_NAME=etcd
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/servers/_lib.sh
. "$HERE/_lib.sh"

for v in $(compgen -e | grep -E '^ETCD(CTL)?_'); do
  sd_log "ignoring $v from the environment (etcd/etcdctl would read it as a flag)"
  unset "$v"
done

D="$(sd_state_dir etcd)" || exit 1
S="$D/single"
C="$D/cluster"
AUTH_USER=sd-test AUTH_PASSWORD=sd-test-pw AUTH_ROLE=sd-test-rw AUTH_PREFIX=/sd-auth/

valid_port() { [[ "$1" =~ ^[0-9]+$ ]] && (($1 > 0 && $1 < 65536)) || sd_die "bad port \"$1\""; }

# Single-member ports: start reads the environment ("requested"), the others what start recorded.
load_single() {
  PORT=2379 PEER_PORT=2380
  if [[ "${1:-}" != requested && -f "$S/ports.env" ]]; then
    # shellcheck disable=SC1091
    . "$S/ports.env"
  else
    PORT="${SD_ETCD_PORT:-$PORT}" PEER_PORT="${SD_ETCD_PEER_PORT:-$PEER_PORT}"
  fi
  valid_port "$PORT" && valid_port "$PEER_PORT"
}
single_line() { printf 'PORT=%s PEER_PORT=%s\n' "$PORT" "$PEER_PORT"; }

load_cluster() {
  CLUSTER_PORT=22379 CLUSTER_TOKEN=""
  if [[ "${1:-}" != requested && -f "$C/ports.env" ]]; then
    # shellcheck disable=SC1091
    . "$C/ports.env"
  else
    CLUSTER_PORT="${SD_ETCD_CLUSTER_PORT:-$CLUSTER_PORT}"
  fi
  valid_port "$CLUSTER_PORT" && valid_port "$((CLUSTER_PORT + 201))"
}
member_port() { printf '%s\n' "$((CLUSTER_PORT + 100 * ($1 - 1)))"; }
member_peer() { printf '%s\n' "$((CLUSTER_PORT + 100 * ($1 - 1) + 1))"; }
initial_cluster() {
  local n out=""
  for n in 1 2 3; do out+="${out:+,}sd-m$n=http://127.0.0.1:$(member_peer "$n")"; done
  printf '%s\n' "$out"
}
cluster_endpoints() {
  local n out=""
  for n in 1 2 3; do out+="${out:+,}http://127.0.0.1:$(member_port "$n")"; done
  printf '%s\n' "$out"
}

check_member_arg() { [[ "${1:-}" =~ ^[123]$ ]] || sd_die "member must be 1, 2 or 3 (got \"${1:-}\")"; }

need_binaries() {
  local c
  for c in etcd etcdctl curl; do command -v "$c" >/dev/null || sd_die "$c not found; run: bash $0 install"; done
}

# --- one member: DIR holds data/, etcd.pid, etcd.log (etcd's own log) and etcd.stdout -------------

# The data dir path is on the command line and unique per member, so it identifies our process.
member_up() { sd_pid_matches "$(sd_read_pid "$1/etcd.pid")" "$1/data"; }

# A linearizable range needs a leader and a working raft log. With auth enabled an anonymous range
# is refused only after that read, so "user name is empty" also proves the member works.
range_ok() {
  local out
  out="$(sd_curl --max-time 2 -X POST "http://127.0.0.1:$1/v3/kv/range" -d '{"key":"Lw=="}' 2>/dev/null)" || return 1
  [[ "$out" == *'"header"'* || "$out" == *'user name is empty'* ]]
}

health_ok() {
  local out
  out="$(sd_curl --max-time 2 "http://127.0.0.1:$1/health" 2>/dev/null)" || return 1
  [[ "$out" == *'"health":"true"'* ]]
}

# member_ready DIR PORT: 2 (give up) once the process is gone.
member_ready() {
  member_up "$1" || return 2
  health_ok "$2" && range_ok "$2"
}

# launch_member DIR NAME CLIENT PEER INITIAL_CLUSTER TOKEN HEARTBEAT ELECTION: starts etcd detached
# on DIR/data (created by etcd if absent; flags about the initial cluster are ignored once it exists).
launch_member() {
  local dir="$1" name="$2" client="$3" peer="$4" initial="$5" token="$6" hb="$7" el="$8"
  mkdir -p "$dir" || return 1
  sd_start_bg "$dir/etcd.pid" "$dir/etcd.stdout" "$dir/data" \
    etcd --name "$name" --data-dir "$dir/data" \
    --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "$initial" --initial-cluster-state new --initial-cluster-token "$token" \
    --heartbeat-interval "$hb" --election-timeout "$el" \
    --experimental-watch-progress-notify-interval "${SD_ETCD_PROGRESS_NOTIFY:-1s}" \
    --logger zap --log-outputs "$dir/etcd.log"
}

# stop_member DIR CLIENT PEER [--kill]: by PID, then checks both ports are closed.
stop_member() {
  local dir="$1" client="$2" peer="$3" mode="${4:-}" pid rc=0 port
  if [[ "$mode" == --kill ]]; then
    pid="$(sd_read_pid "$dir/etcd.pid")"
    if [[ -n "$pid" ]] && sd_pid_matches "$pid" "$dir/data"; then
      kill -KILL "$pid" 2>/dev/null
      sd_wait_until 5 "PID $pid to exit after SIGKILL" sd_pid_gone "$pid" "$dir/data" || return 1
    fi
    rm -f "$dir/etcd.pid"
  else
    sd_stop_pid "$dir/etcd.pid" "$dir/data" 10 || return 1
  fi
  for port in "$client" "$peer"; do
    sd_wait_until 5 "port $port to close" sd_port_closed "$port" || rc=1
  done
  return "$rc"
}

fail_member() {
  local dir="$1"
  shift
  sd_log "start failed: $*"
  sd_tail_logs "$dir/etcd.stdout" "$dir/etcd.log"
  exit 1
}

# --- single member ---------------------------------------------------------------------------------

single_ready() { member_ready "$S" "$PORT"; }

# run_single fresh|keep: starts the single member and waits until it is ready.
run_single() {
  local t0
  t0="$(sd_now_ms)"
  need_binaries
  cd "$D" || sd_die "cannot enter $D" # so etcd does not keep the caller's directory busy
  sd_require_ports_free "$PORT" "$PEER_PORT"
  if [[ "$1" == fresh ]]; then
    rm -rf "$S/data" "$S/etcd.log" "$S/etcd.stdout" "$S/auth.env"
  else
    [[ -d "$S/data/member" ]] || sd_die "no data in $S/data to resume from; use start"
  fi
  mkdir -p "$S"
  single_line >"$S/ports.env"
  launch_member "$S" sd-single "$PORT" "$PEER_PORT" "sd-single=http://127.0.0.1:$PEER_PORT" sd-single \
    "${SD_ETCD_HEARTBEAT_MS:-10}" "${SD_ETCD_ELECTION_MS:-100}" &&
    sd_wait_until "$SD_TIMEOUT" "etcd to answer on 127.0.0.1:$PORT" single_ready ||
    { stop_member "$S" "$PORT" "$PEER_PORT" --kill >/dev/null 2>&1; fail_member "$S" "etcd is not answering"; }
  sd_log "ready in $(($(sd_now_ms) - t0)) ms ($1 data; PID $(sd_read_pid "$S/etcd.pid")," \
    "client 127.0.0.1:$PORT, peer 127.0.0.1:$PEER_PORT)"
}

cmd_start() {
  local want
  load_single requested
  want="$(single_line)"
  load_single
  if single_ready; then
    [[ "$(single_line)" == "$want" ]] || sd_die "already running with other ports ($(single_line)); run stop first"
    sd_log "already running and healthy ($(single_line))"
    if auth_on; then
      sd_log "auth was left enabled; turning it off"
      cmd_auth_disable
    fi
    return 0
  fi
  stop_member "$S" "$PORT" "$PEER_PORT" || sd_die "could not stop an earlier, unhealthy run"
  load_single requested
  run_single fresh
}

cmd_resume() {
  load_single
  if single_ready; then
    sd_log "already running and healthy ($(single_line))"
    return 0
  fi
  stop_member "$S" "$PORT" "$PEER_PORT" || sd_die "could not stop an earlier, unhealthy run"
  run_single keep
}

cmd_stop() {
  local t0 mode="${1:-}"
  [[ -z "$mode" || "$mode" == --kill ]] || sd_die "usage: $0 stop [--kill]"
  t0="$(sd_now_ms)"
  load_single
  stop_member "$S" "$PORT" "$PEER_PORT" "$mode" || sd_die "a port is still open after stopping (another process may hold it)"
  sd_log "stopped${mode:+ ($mode)} in $(($(sd_now_ms) - t0)) ms"
}

cmd_restart() {
  local pause="${1:-0}" t0
  [[ "$pause" =~ ^[0-9]+(\.[0-9]+)?$ ]] || sd_die "usage: $0 restart [SECONDS]"
  t0="$(sd_now_ms)"
  load_single
  [[ -d "$S/data/member" ]] || sd_die "no data in $S/data to restart on; use start"
  stop_member "$S" "$PORT" "$PEER_PORT" || sd_die "could not stop etcd"
  sd_log "stopped in $(($(sd_now_ms) - t0)) ms; down for ${pause}s"
  sleep "$pause"
  run_single keep
  sd_log "restart took $(($(sd_now_ms) - t0)) ms in all"
}

cmd_wipe() {
  local pause="${1:-0}" t0
  [[ "$pause" =~ ^[0-9]+(\.[0-9]+)?$ ]] || sd_die "usage: $0 wipe [SECONDS]"
  t0="$(sd_now_ms)"
  load_single
  stop_member "$S" "$PORT" "$PEER_PORT" || sd_die "could not stop etcd"
  sd_log "stopped in $(($(sd_now_ms) - t0)) ms; down for ${pause}s, then fresh data"
  sleep "$pause"
  run_single fresh
  sd_log "wipe took $(($(sd_now_ms) - t0)) ms in all"
}

# --- cluster ---------------------------------------------------------------------------------------

member_dir() { printf '%s\n' "$C/m$1"; }
cluster_member_ready() { member_ready "$(member_dir "$1")" "$(member_port "$1")"; }
cluster_any_up() {
  local n
  for n in 1 2 3; do member_up "$(member_dir "$n")" && return 0; done
  return 1
}
cluster_ready() {
  local n rc
  for n in 1 2 3; do
    rc=0
    cluster_member_ready "$n" || rc=$?
    ((rc == 0)) || return "$rc"
  done
}

launch_cluster_member() {
  launch_member "$(member_dir "$1")" "sd-m$1" "$(member_port "$1")" "$(member_peer "$1")" \
    "$(initial_cluster)" "$CLUSTER_TOKEN" \
    "${SD_ETCD_CLUSTER_HEARTBEAT_MS:-25}" "${SD_ETCD_CLUSTER_ELECTION_MS:-250}"
}

cluster_stop_all() {
  local n rc=0
  for n in 1 2 3; do
    stop_member "$(member_dir "$n")" "$(member_port "$n")" "$(member_peer "$n")" || rc=1
  done
  return "$rc"
}

cmd_cluster_start() {
  local t0 want n
  t0="$(sd_now_ms)"
  load_cluster requested
  want="$CLUSTER_PORT"
  load_cluster
  if cluster_ready; then
    [[ "$CLUSTER_PORT" == "$want" ]] || sd_die "cluster already running on ports from $CLUSTER_PORT; run cluster-stop first"
    sd_log "cluster already running and healthy ($(cluster_endpoints))"
    return 0
  fi
  cluster_stop_all || sd_die "could not stop an earlier, unhealthy cluster"
  load_cluster requested
  need_binaries
  cd "$D" || sd_die "cannot enter $D"
  for n in 1 2 3; do sd_require_ports_free "$(member_port "$n")" "$(member_peer "$n")"; done
  rm -rf "$C"
  mkdir -p "$C" || sd_die "cannot create $C"
  CLUSTER_TOKEN="sd-cluster-$t0"
  printf 'CLUSTER_PORT=%s CLUSTER_TOKEN=%s\n' "$CLUSTER_PORT" "$CLUSTER_TOKEN" >"$C/ports.env"
  # All three at once: none can elect a leader before a second one is up.
  for n in 1 2 3; do
    launch_cluster_member "$n" || { cluster_stop_all; fail_member "$(member_dir "$n")" "member $n did not start"; }
  done
  for n in 1 2 3; do
    sd_wait_until "$SD_TIMEOUT" "member $n to answer on 127.0.0.1:$(member_port "$n")" cluster_member_ready "$n" ||
      { cluster_stop_all >/dev/null 2>&1; fail_member "$(member_dir "$n")" "member $n is not answering"; }
  done
  sd_log "cluster ready in $(($(sd_now_ms) - t0)) ms ($(cluster_endpoints))"
}

cmd_cluster_stop() {
  local t0
  t0="$(sd_now_ms)"
  load_cluster
  cluster_stop_all || sd_die "a cluster port is still open after stopping"
  rm -rf "$C"/m[123]/data # about 120 MB each (preallocated WAL); member-start needs a running cluster anyway
  sd_log "cluster stopped in $(($(sd_now_ms) - t0)) ms"
}

cmd_member_stop() {
  local n="${1:-}" mode="${2:-}" t0
  check_member_arg "$n"
  [[ -z "$mode" || "$mode" == --kill ]] || sd_die "usage: $0 member-stop N [--kill]"
  t0="$(sd_now_ms)"
  load_cluster
  stop_member "$(member_dir "$n")" "$(member_port "$n")" "$(member_peer "$n")" "$mode" ||
    sd_die "a port of member $n is still open after stopping"
  sd_log "member $n stopped${mode:+ ($mode)} in $(($(sd_now_ms) - t0)) ms"
}

cmd_member_start() {
  local n="${1:-}" t0 dir
  check_member_arg "$n"
  t0="$(sd_now_ms)"
  load_cluster
  dir="$(member_dir "$n")"
  [[ -f "$C/ports.env" && -d "$dir/data/member" ]] || sd_die "no data for member $n; run cluster-start first"
  if cluster_member_ready "$n"; then
    sd_log "member $n already running and healthy"
    return 0
  fi
  stop_member "$dir" "$(member_port "$n")" "$(member_peer "$n")" || sd_die "could not stop an earlier run of member $n"
  need_binaries
  cd "$D" || sd_die "cannot enter $D"
  sd_require_ports_free "$(member_port "$n")" "$(member_peer "$n")"
  launch_cluster_member "$n" &&
    sd_wait_until "$SD_TIMEOUT" "member $n to answer on 127.0.0.1:$(member_port "$n")" cluster_member_ready "$n" ||
    { stop_member "$dir" "$(member_port "$n")" "$(member_peer "$n")" --kill >/dev/null 2>&1; fail_member "$dir" "member $n is not answering"; }
  sd_log "member $n ready in $(($(sd_now_ms) - t0)) ms (PID $(sd_read_pid "$dir/etcd.pid"))"
}

# member_status N: etcdctl's line for member N: "URL, HEX_ID, VERSION, DB SIZE, IS_LEADER, ...".
member_status() {
  timeout 10 etcdctl --endpoints="http://127.0.0.1:$(member_port "$1")" --dial-timeout=2s --command-timeout=3s \
    endpoint status </dev/null 2>/dev/null
}
member_is_leader() { [[ "$(member_status "$1" | awk -F', ' '{print $5}')" == true ]]; }

cmd_member_lead() {
  local n="${1:-}" t0 m leader="" id
  check_member_arg "$n"
  t0="$(sd_now_ms)"
  load_cluster
  need_binaries
  cluster_member_ready "$n" || sd_die "member $n is not running"
  if member_is_leader "$n"; then
    sd_log "member $n already leads"
    return 0
  fi
  for m in 1 2 3; do member_is_leader "$m" && leader="$m"; done
  [[ -n "$leader" ]] || sd_die "no member reports being the leader"
  id="$(member_status "$n" | awk -F', ' '{print $2}')"
  [[ "$id" =~ ^[0-9a-f]+$ ]] || sd_die "cannot read the ID of member $n"
  timeout 10 etcdctl --endpoints="http://127.0.0.1:$(member_port "$leader")" move-leader "$id" </dev/null >/dev/null ||
    sd_die "etcdctl move-leader failed"
  sd_wait_until 5 "member $n to lead" member_is_leader "$n" || sd_die "member $n did not become leader"
  sd_log "member $n leads (moved from member $leader in $(($(sd_now_ms) - t0)) ms)"
}

# --- auth ------------------------------------------------------------------------------------------

root_password() {
  local SD_AUTH_ROOT_PASSWORD=""
  # shellcheck disable=SC1091
  [[ -f "$S/auth.env" ]] && . "$S/auth.env"
  printf '%s\n' "${SD_AUTH_ROOT_PASSWORD:-${SD_ETCD_ROOT_PASSWORD:-rootpw}}"
}

ctl() { timeout 20 etcdctl --endpoints="http://127.0.0.1:$PORT" --dial-timeout=2s --command-timeout=5s "$@" </dev/null; }

# True when auth is on: an anonymous range is refused.
auth_on() {
  local out
  out="$(sd_curl -X POST "http://127.0.0.1:$PORT/v3/kv/range" -d '{"key":"Lw=="}' 2>/dev/null)" || return 1
  [[ "$out" == *'user name is empty'* ]]
}

# authenticate USER PASSWORD: succeeds if the gateway hands out a token.
authenticate() {
  local body out
  body="$(printf '{"name":"%s","password":"%s"}' "$1" "$2")"
  out="$(sd_curl -X POST "http://127.0.0.1:$PORT/v3/auth/authenticate" -d "$body" 2>/dev/null)" || return 1
  [[ "$out" == *'"token":"'* ]]
}

# ensure_user NAME PASSWORD: adds the user afresh (an old one, with its roles, is deleted first).
ensure_user() {
  if ctl user get "$1" >/dev/null 2>&1; then ctl user delete "$1" >/dev/null || return 1; fi
  ctl user add "$1" --new-user-password="$2" >/dev/null
}

ensure_role() { ctl role get "$1" >/dev/null 2>&1 || ctl role add "$1" >/dev/null; }

cmd_auth_enable() {
  local t0 pw
  t0="$(sd_now_ms)"
  load_single
  need_binaries
  single_ready || sd_die "the single member is not running; run: bash $0 start"
  pw="$(root_password)"
  if auth_on; then
    authenticate root "$pw" && authenticate "$AUTH_USER" "$AUTH_PASSWORD" ||
      sd_die "auth is enabled but root or $AUTH_USER cannot log in with the expected passwords"
    sd_log "auth already enabled"
    return 0
  fi
  pw="${SD_ETCD_ROOT_PASSWORD:-rootpw}"
  {
    ensure_role root &&
      ensure_user root "$pw" &&
      ctl user grant-role root root >/dev/null &&
      ensure_role "$AUTH_ROLE" &&
      ctl role grant-permission "$AUTH_ROLE" readwrite "$AUTH_PREFIX" --prefix=true >/dev/null &&
      ensure_user "$AUTH_USER" "$AUTH_PASSWORD" &&
      ctl user grant-role "$AUTH_USER" "$AUTH_ROLE" >/dev/null &&
      printf 'SD_AUTH_ROOT_PASSWORD=%q\n' "$pw" >"$S/auth.env" &&
      ctl auth enable >/dev/null
  } || sd_die "etcdctl failed while setting up auth"
  sd_wait_until 5 "auth to take effect" auth_on || sd_die "auth is still off after auth enable"
  authenticate "$AUTH_USER" "$AUTH_PASSWORD" || sd_die "$AUTH_USER cannot log in after auth enable"
  sd_log "auth enabled in $(($(sd_now_ms) - t0)) ms (root, $AUTH_USER: readwrite on prefix $AUTH_PREFIX)"
}

cmd_auth_disable() {
  local t0 pw u r
  t0="$(sd_now_ms)"
  load_single
  need_binaries
  single_ready || sd_die "the single member is not running"
  pw="$(root_password)"
  if auth_on; then
    ctl --user root --password "$pw" auth disable >/dev/null || sd_die "etcdctl auth disable failed"
    sd_wait_until 5 "auth to turn off" sd_not auth_on || sd_die "auth is still on after auth disable"
  fi
  for u in "$AUTH_USER" root; do
    if ctl user get "$u" >/dev/null 2>&1; then ctl user delete "$u" >/dev/null || sd_die "cannot delete user $u"; fi
  done
  for r in "$AUTH_ROLE" root; do
    if ctl role get "$r" >/dev/null 2>&1; then ctl role delete "$r" >/dev/null || sd_die "cannot delete role $r"; fi
  done
  rm -f "$S/auth.env"
  sd_log "auth disabled in $(($(sd_now_ms) - t0)) ms"
}

sd_not() { ! "$@"; }

# --- install, env, status --------------------------------------------------------------------------

cmd_install() {
  local missing=() c
  for c in etcd etcdctl curl; do command -v "$c" >/dev/null || missing+=("$c"); done
  if ((${#missing[@]} == 0)); then
    sd_log "already installed"
  else
    sd_log "missing: ${missing[*]}; installing"
    local pkgs=(etcd-server etcd-client)
    command -v curl >/dev/null || pkgs+=(curl)
    sd_apt_install "${pkgs[@]}"
    for c in etcd etcdctl curl; do command -v "$c" >/dev/null || sd_die "$c is still missing after apt-get install"; done
  fi
  etcd --version | head -n 1
  etcdctl version | head -n 1
}

cmd_env() {
  local plain=""
  [[ "${1:-}" == --plain ]] && plain=1
  # put KEY VALUE: `export KEY=VALUE` quoted for eval, or a bare KEY=VALUE line with --plain.
  put() { if [[ -n "$plain" ]]; then printf '%s=%s\n' "$1" "$2"; else printf 'export %s=%q\n' "$1" "$2"; fi; }
  load_single
  load_cluster
  put SD_ETCD_ENDPOINTS "http://127.0.0.1:$PORT"
  if cluster_any_up; then put SD_ETCD_CLUSTER "$(cluster_endpoints)"; fi
  # Credentials that auth-enable sets up (auth itself stays off until a test runs auth-enable).
  put SD_ETCD_AUTH_USER "$AUTH_USER"
  put SD_ETCD_AUTH_PASSWORD "$AUTH_PASSWORD"
  put SD_ETCD_AUTH_PREFIX "$AUTH_PREFIX"
  put SD_ETCD_ROOT_PASSWORD "$(root_password)"
}

cmd_status() {
  local ok=0 n dir
  load_single
  load_cluster
  if single_ready; then
    printf 'single: up (PID %s, client 127.0.0.1:%s, peer %s, auth %s)\n' "$(sd_read_pid "$S/etcd.pid")" \
      "$PORT" "$PEER_PORT" "$(auth_on && echo on || echo off)"
  elif member_up "$S"; then
    echo "single: running but not answering on 127.0.0.1:$PORT"
    ok=1
  else
    echo "single: down"
    ok=1
  fi
  for n in 1 2 3; do
    dir="$(member_dir "$n")"
    if cluster_member_ready "$n"; then
      printf 'cluster member %s: up (PID %s, client 127.0.0.1:%s)\n' "$n" "$(sd_read_pid "$dir/etcd.pid")" "$(member_port "$n")"
    elif member_up "$dir"; then
      echo "cluster member $n: running but not answering on 127.0.0.1:$(member_port "$n")"
      ok=1
    else
      echo "cluster member $n: down"
    fi
  done
  return "$ok"
}

cmd_stop_all() {
  local rc=0
  if (cmd_stop); then rm -rf "$S/data"; else rc=1; fi
  (cmd_cluster_stop) || rc=1
  return "$rc"
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop "${2:-}" ;;
  resume) cmd_resume ;;
  restart) cmd_restart "${2:-0}" ;;
  wipe) cmd_wipe "${2:-0}" ;;
  cluster-start) cmd_cluster_start ;;
  cluster-stop) cmd_cluster_stop ;;
  member-stop) cmd_member_stop "${2:-}" "${3:-}" ;;
  member-start) cmd_member_start "${2:-}" ;;
  member-lead) cmd_member_lead "${2:-}" ;;
  auth-enable) cmd_auth_enable ;;
  auth-disable) cmd_auth_disable ;;
  env) cmd_env "${2:-}" ;;
  status) cmd_status ;;
  stop-all) cmd_stop_all ;;
  *)
    echo "usage: $0 install|start|stop [--kill]|resume|restart [SECONDS]|wipe [SECONDS]|cluster-start|cluster-stop|" \
      "member-stop N [--kill]|member-start N|member-lead N|auth-enable|auth-disable|env [--plain]|status|stop-all" >&2
    exit 2
    ;;
esac
