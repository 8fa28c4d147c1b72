#!/usr/bin/env bash
# Real ZooKeeper 3.8 (Debian package `zookeeper`, run straight from its jars with java; no zkServer.sh,
# no init system) on 127.0.0.1 for the ZooKeeper backend's integration tests: one standalone server,
# and on demand a three-member ensemble on other ports.
#
# Usage: zookeeper.sh COMMAND
#   install                 apt zookeeper (root; skipped when its jar, zkCli.sh and java are there)
#   start                   standalone server on a fresh data dir; ready when `ruok` answers `imok` and
#                           `srvr` says Mode: standalone (does nothing if it is already ready)
#   stop [--kill]           stop it: SIGTERM (clean), or SIGKILL with --kill (a crash); its data stays
#                           for resume/restart, the next start wipes it
#   resume                  start the standalone server again on its existing data (after stop)
#   restart [SECONDS]       clean stop, stay down SECONDS (default 0, decimals allowed), start again on
#                           the SAME data (see "Sessions across a restart" below)
#   wipe                    clean stop, delete the data dir, start on empty data (same settings): a
#                           server that lost its data; clients that saw a later zxid are refused
#   ensemble-start          three members on fresh data dirs; ready when one leads and two follow
#                           (does nothing if that is already so)
#   ensemble-stop           stop all three members and delete their data
#   member-stop N [--kill]  stop member N (1-3); if two members are still running, waits until they
#                           have a quorum again (one leader, one follower)
#   member-start N          start member N again on its data; waits until the running members have
#                           one leader and the rest follow (alone, N only has to answer `ruok`)
#   env [--plain]           `export SD_ZK_...=...` lines for eval (--plain: bare KEY=VALUE lines);
#                           SD_ZK_ENSEMBLE only while an ensemble member is running
#   status                  print each server's mode; exit 0 if the standalone server and every running
#                           ensemble member are serving
#   stop-all                stop everything and delete its data (CI clean-up)
#
# Ports (environment, read by start / ensemble-start; later commands use the ports recorded then):
#   SD_ZK_PORT=2181 (standalone client port; it opens no other port)
#   SD_ZK_ENSEMBLE_PORT=22181, SD_ZK_QUORUM_PORT=22888, SD_ZK_ELECTION_PORT=23888: member N listens on
#   base + N - 1 of each, so clients 22181-22183, quorum 22888-22890, election 23888-23890.
#   Every listener binds 127.0.0.1 (clientPortAddress, 127.0.0.1 in the server.N lines,
#   quorumListenOnAllIPs=false); the admin server (HTTP) is off and no JMX port is opened.
# Timing: SD_ZK_TICK_MS=500. Session timeouts a client asks for are clamped to
#   [SD_ZK_MIN_SESSION_MS=1000, SD_ZK_MAX_SESSION_MS=30000] (ZooKeeper requires min >= 2 ticks).
#   Ensemble: initLimit 20 ticks, syncLimit 10 ticks (10 s / 5 s: roomy on a loaded 2-core machine).
# JVM: SD_ZK_JAVA_OPTS (default -Xms32m -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData).
# State (configs, data dirs, logs, PID files): ${SD_SERVERS_DIR:-$HOME/.cache/edgekit-servers}/zookeeper.
# SD_SERVERS_TIMEOUT bounds every wait (seconds, default 15).
#
# Sessions across a restart (checked by hand and in tests/integration/zk_server_test.ts): sessions are
# part of the data (the transaction log), and the server does not close them when it stops, not even
# on SIGTERM; after SIGKILL they are there too (forceSync=no skips fsync, but the log is written to the
# page cache before a request is answered). After `restart` or stop + resume, each loaded session gets
# a full timeout counted from the moment the server is back, however long it was down: a client that
# reconnects with its session ID and password within that time keeps the session, and its ephemeral
# nodes; one that does not is expired then, and its ephemeral nodes are deleted. A reconnect with an
# expired (or closed) session is answered with timeOut 0, sessionId 0 and a zero password, and the
# server hangs up (the client's "session expired"). `start` wipes the data: every old session is gone.
# The same holds in the ensemble, where a session moves to any member that has a quorum.
set -uo pipefail

SD_NAME=zookeeper
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/servers/_lib.sh
. "$HERE/_lib.sh"

ZK_JAR=/usr/share/java/zookeeper.jar
ZK_CLI=/usr/share/zookeeper/bin/zkCli.sh
# zookeeper.jar's manifest Class-Path names every dependency; slf4j-simple sends the log to stderr.
CLASSPATH_ZK="$ZK_JAR:/usr/share/java/slf4j-simple.jar"
read -ra JAVA_OPTS <<<"${SD_ZK_JAVA_OPTS:--Xms32m -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData}"

D="$(sd_state_dir zookeeper)" || exit 1
S="$D/single"
E="$D/ensemble"

valid_port() { [[ "$1" =~ ^[0-9]+$ ]] && (($1 > 0 && $1 < 65536)) || sd_die "bad port \"$1\""; }
valid_ms() { [[ "$1" =~ ^[0-9]+$ ]] && (($1 > 0)) || sd_die "bad duration \"$1\" (milliseconds)"; }

# Settings: start / ensemble-start read the environment ("requested"), the others what was recorded.
load_single() {
  PORT=2181 TICK_MS=500 MIN_MS=1000 MAX_MS=30000
  if [[ "${1:-}" != requested && -f "$S/settings.env" ]]; then
    # shellcheck disable=SC1091
    . "$S/settings.env"
  else
    PORT="${SD_ZK_PORT:-$PORT}"
    TICK_MS="${SD_ZK_TICK_MS:-$TICK_MS}" MIN_MS="${SD_ZK_MIN_SESSION_MS:-$MIN_MS}" MAX_MS="${SD_ZK_MAX_SESSION_MS:-$MAX_MS}"
  fi
  valid_port "$PORT" && valid_ms "$TICK_MS" && valid_ms "$MIN_MS" && valid_ms "$MAX_MS"
  ((MIN_MS >= 2 * TICK_MS && MAX_MS >= MIN_MS)) || sd_die "need 2*tickTime <= min session <= max session"
}
single_line() { printf 'PORT=%s TICK_MS=%s MIN_MS=%s MAX_MS=%s\n' "$PORT" "$TICK_MS" "$MIN_MS" "$MAX_MS"; }

load_ensemble() {
  EPORT=22181 QPORT=22888 LPORT=23888 TICK_MS=500 MIN_MS=1000 MAX_MS=30000
  if [[ "${1:-}" != requested && -f "$E/settings.env" ]]; then
    # shellcheck disable=SC1091
    . "$E/settings.env"
  else
    EPORT="${SD_ZK_ENSEMBLE_PORT:-$EPORT}" QPORT="${SD_ZK_QUORUM_PORT:-$QPORT}" LPORT="${SD_ZK_ELECTION_PORT:-$LPORT}"
    TICK_MS="${SD_ZK_TICK_MS:-$TICK_MS}" MIN_MS="${SD_ZK_MIN_SESSION_MS:-$MIN_MS}" MAX_MS="${SD_ZK_MAX_SESSION_MS:-$MAX_MS}"
  fi
  local p
  for p in "$EPORT" "$QPORT" "$LPORT"; do valid_port "$p" && valid_port "$((p + 2))"; done
  valid_ms "$TICK_MS" && valid_ms "$MIN_MS" && valid_ms "$MAX_MS"
  ((MIN_MS >= 2 * TICK_MS && MAX_MS >= MIN_MS)) || sd_die "need 2*tickTime <= min session <= max session"
}
ensemble_line() {
  printf 'EPORT=%s QPORT=%s LPORT=%s TICK_MS=%s MIN_MS=%s MAX_MS=%s\n' \
    "$EPORT" "$QPORT" "$LPORT" "$TICK_MS" "$MIN_MS" "$MAX_MS"
}
member_port() { printf '%s\n' "$((EPORT + $1 - 1))"; }
member_ports() { printf '%s %s %s\n' "$((EPORT + $1 - 1))" "$((QPORT + $1 - 1))" "$((LPORT + $1 - 1))"; }
ensemble_addr() { printf '127.0.0.1:%s,127.0.0.1:%s,127.0.0.1:%s\n' "$EPORT" "$((EPORT + 1))" "$((EPORT + 2))"; }

check_member_arg() { [[ "${1:-}" =~ ^[123]$ ]] || sd_die "member must be 1, 2 or 3 (got \"${1:-}\")"; }

need_binaries() {
  command -v java >/dev/null || sd_die "java not found; run: bash $0 install"
  [[ -f "$ZK_JAR" ]] || sd_die "$ZK_JAR not found; run: bash $0 install"
}

# --- four-letter words -----------------------------------------------------------------------------

# four PORT WORD: sends a four-letter word to 127.0.0.1:PORT and prints the answer (bounded to 2 s).
# The server closes the connection after answering, so reading to EOF is enough.
# shellcheck disable=SC2016 # $1 and $2 expand in the inner bash
four() {
  timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf %s "$2" >&3 && cat <&3' _ "$1" "$2" 2>/dev/null
}

# mode PORT: standalone, leader or follower from `srvr`; nothing while the server is not serving
# (it then answers "This ZooKeeper instance is not currently serving requests").
mode() {
  local line
  line="$(four "$1" srvr | grep -m1 '^Mode: ')" || return 1
  printf '%s\n' "${line#Mode: }"
}

# serving PORT MODE_REGEX: `ruok` answers `imok` and `srvr` reports a matching mode.
serving() {
  [[ "$(four "$1" ruok)" == imok ]] || return 1
  [[ "$(mode "$1")" =~ ^($2)$ ]]
}

# --- one server: DIR holds zoo.cfg, data/, zk.pid and zk.log ---------------------------------------

# zoo.cfg's path is on the command line and unique per server, so it identifies our process.
server_up() { sd_pid_matches "$(sd_read_pid "$1/zk.pid")" "$1/zoo.cfg"; }

# write_config DIR CLIENT_PORT [SERVER_LINES]: the config for one server (rewritten on every launch).
write_config() {
  local dir="$1" port="$2" servers="${3:-}"
  cat >"$dir/zoo.cfg" <<EOF
# Written by scripts/servers/zookeeper.sh; rewritten on every start.
tickTime=$TICK_MS
minSessionTimeout=$MIN_MS
maxSessionTimeout=$MAX_MS
dataDir=$dir/data
clientPort=$port
clientPortAddress=127.0.0.1
maxClientCnxns=0
forceSync=no
4lw.commands.whitelist=*
admin.enableServer=false
autopurge.purgeInterval=0
EOF
  [[ -z "$servers" ]] && return 0
  cat >>"$dir/zoo.cfg" <<EOF
initLimit=20
syncLimit=10
quorumListenOnAllIPs=false
reconfigEnabled=false
standaloneEnabled=false
$servers
EOF
}

# launch DIR MAIN_CLASS: starts the JVM detached; waits only until it has exec'd.
launch() {
  local dir="$1" main="$2"
  sd_start_bg "$dir/zk.pid" "$dir/zk.log" "$dir/zoo.cfg" \
    java "${JAVA_OPTS[@]}" -Djava.net.preferIPv4Stack=true -Dzookeeper.jmx.log4j.disable=true \
    -cp "$CLASSPATH_ZK" "$main" "$dir/zoo.cfg"
}

# stop_server DIR [--kill] PORT...: by PID (SIGTERM, or SIGKILL with --kill), then checks the ports.
stop_server() {
  local dir="$1" mode="$2" pid rc=0 port
  shift 2
  if [[ "$mode" == --kill ]]; then
    pid="$(sd_read_pid "$dir/zk.pid")"
    if [[ -n "$pid" ]] && sd_pid_matches "$pid" "$dir/zoo.cfg"; then
      kill -KILL "$pid" 2>/dev/null
      sd_wait_until 5 "PID $pid to exit after SIGKILL" sd_pid_gone "$pid" "$dir/zoo.cfg" || return 1
    fi
    rm -f "$dir/zk.pid"
  else
    sd_stop_pid "$dir/zk.pid" "$dir/zoo.cfg" 10 || return 1
  fi
  for port in "$@"; do
    sd_wait_until 5 "port $port to close" sd_port_closed "$port" || rc=1
  done
  return "$rc"
}

fail_server() {
  local dir="$1"
  shift
  sd_log "start failed: $*"
  sd_tail_logs "$dir/zk.log"
  exit 1
}

# --- standalone ------------------------------------------------------------------------------------

single_ready() {
  server_up "$S" || return 2
  serving "$PORT" standalone
}

# run_single fresh|keep: starts the standalone server and waits until it serves.
run_single() {
  local t0
  t0="$(sd_now_ms)"
  need_binaries
  cd "$D" || sd_die "cannot enter $D" # so java does not keep the caller's directory busy
  sd_require_ports_free "$PORT"
  mkdir -p "$S" || sd_die "cannot create $S"
  if [[ "$1" == fresh ]]; then
    rm -rf "$S/data"
  elif [[ ! -d "$S/data/version-2" ]]; then
    sd_die "no data in $S/data to resume on; use start"
  fi
  mkdir -p "$S/data" || sd_die "cannot create $S/data"
  single_line >"$S/settings.env"
  write_config "$S" "$PORT" || sd_die "cannot write $S/zoo.cfg"
  launch "$S" org.apache.zookeeper.server.ZooKeeperServerMain || fail_server "$S" "java did not start"
  sd_wait_until "$SD_TIMEOUT" "ruok/srvr on 127.0.0.1:$PORT" single_ready ||
    { stop_server "$S" --kill "$PORT" >/dev/null 2>&1; fail_server "$S" "not serving on 127.0.0.1:$PORT"; }
  sd_log "standalone ready in $(($(sd_now_ms) - t0)) ms (PID $(sd_read_pid "$S/zk.pid"), 127.0.0.1:$PORT, $1 data)"
}

cmd_start() {
  local want
  load_single requested
  want="$(single_line)"
  load_single
  if single_ready; then
    [[ "$(single_line)" == "$want" ]] || sd_die "already running with other settings ($(single_line)); run stop first"
    sd_log "already running and serving ($(single_line))"
    return 0
  fi
  stop_server "$S" "" "$PORT" || sd_die "could not stop an earlier, unhealthy run"
  load_single requested
  run_single fresh
}

cmd_resume() {
  load_single
  if single_ready; then
    sd_log "already running and serving ($(single_line))"
    return 0
  fi
  stop_server "$S" "" "$PORT" || sd_die "could not stop an earlier, unhealthy run"
  run_single keep
}

cmd_stop() {
  local t0 mode="${1:-}"
  [[ -z "$mode" || "$mode" == --kill ]] || sd_die "usage: $0 stop [--kill]"
  t0="$(sd_now_ms)"
  load_single
  stop_server "$S" "$mode" "$PORT" || sd_die "port $PORT is still open after stopping (another process may hold it)"
  sd_log "stopped${mode:+ ($mode)} in $(($(sd_now_ms) - t0)) ms"
}

cmd_restart() {
  local pause="${1:-0}" t0
  [[ "$pause" =~ ^[0-9]+(\.[0-9]+)?$ ]] || sd_die "usage: $0 restart [SECONDS]"
  t0="$(sd_now_ms)"
  load_single
  [[ -d "$S/data/version-2" ]] || sd_die "no data in $S/data to restart on; use start"
  stop_server "$S" "" "$PORT" || sd_die "could not stop ZooKeeper"
  sd_log "stopped in $(($(sd_now_ms) - t0)) ms; down for ${pause}s"
  sleep "$pause"
  run_single keep
  sd_log "restart took $(($(sd_now_ms) - t0)) ms in all"
}

# A server that lost its data: every node and session gone, the zxid back at 0. ZooKeeper then
# refuses, unanswered, each client that has seen a later zxid ("Refusing session request ... as it
# has seen zxid 0x2c our last zxid is 0x0").
cmd_wipe() {
  local t0
  t0="$(sd_now_ms)"
  load_single
  stop_server "$S" "" "$PORT" || sd_die "could not stop ZooKeeper"
  rm -rf "$S/data" || sd_die "cannot delete $S/data"
  sd_log "stopped and wiped in $(($(sd_now_ms) - t0)) ms"
  run_single fresh
  sd_log "wipe took $(($(sd_now_ms) - t0)) ms in all"
}

# --- ensemble --------------------------------------------------------------------------------------

member_dir() { printf '%s\n' "$E/m$1"; }
member_up() { server_up "$(member_dir "$1")"; }
any_member_up() {
  local n
  for n in 1 2 3; do member_up "$n" && return 0; done
  return 1
}

# quorum_ready N...: every listed member runs and serves, exactly one of them leads, the rest follow.
# Returns 2 (give up) when a listed member's process is gone.
quorum_ready() {
  local n m leaders=0
  for n in "$@"; do member_up "$n" || return 2; done
  for n in "$@"; do
    [[ "$(four "$(member_port "$n")" ruok)" == imok ]] || return 1
    m="$(mode "$(member_port "$n")")" || return 1
    case "$m" in
      leader) leaders=$((leaders + 1)) ;;
      follower) ;;
      *) return 1 ;;
    esac
  done
  ((leaders == 1))
}
ensemble_ready() { quorum_ready 1 2 3; }

server_lines() {
  local n q l
  for n in 1 2 3; do
    read -r _ q l <<<"$(member_ports "$n")"
    printf 'server.%s=127.0.0.1:%s:%s\n' "$n" "$q" "$l"
  done
}

launch_member() {
  local n="$1" dir
  dir="$(member_dir "$n")"
  mkdir -p "$dir/data" || return 1
  printf '%s\n' "$n" >"$dir/data/myid"
  write_config "$dir" "$(member_port "$n")" "$(server_lines)" || return 1
  launch "$dir" org.apache.zookeeper.server.quorum.QuorumPeerMain
}

stop_member() {
  local n="$1" mode="${2:-}"
  # shellcheck disable=SC2046
  stop_server "$(member_dir "$n")" "$mode" $(member_ports "$n")
}

ensemble_stop_all() {
  local n rc=0
  for n in 1 2 3; do stop_member "$n" || rc=1; done
  return "$rc"
}

leader_of() {
  local n
  for n in "$@"; do [[ "$(mode "$(member_port "$n")")" == leader ]] && printf '%s\n' "$n"; done
}

cmd_ensemble_start() {
  local t0 want n
  t0="$(sd_now_ms)"
  load_ensemble requested
  want="$(ensemble_line)"
  load_ensemble
  if ensemble_ready; then
    [[ "$(ensemble_line)" == "$want" ]] || sd_die "ensemble already running with other settings; run ensemble-stop first"
    sd_log "ensemble already running with a quorum ($(ensemble_addr))"
    return 0
  fi
  ensemble_stop_all || sd_die "could not stop an earlier, unhealthy ensemble"
  load_ensemble requested
  need_binaries
  cd "$D" || sd_die "cannot enter $D"
  # shellcheck disable=SC2046
  for n in 1 2 3; do sd_require_ports_free $(member_ports "$n"); done
  rm -rf "$E"
  mkdir -p "$E" || sd_die "cannot create $E"
  ensemble_line >"$E/settings.env"
  # All three at once: no member serves before a second one is up.
  for n in 1 2 3; do
    launch_member "$n" || { ensemble_stop_all; fail_server "$(member_dir "$n")" "member $n did not start"; }
  done
  sd_wait_until "$SD_TIMEOUT" "one leader and two followers" ensemble_ready || {
    ensemble_stop_all >/dev/null 2>&1
    sd_tail_logs "$E"/m[123]/zk.log
    sd_die "the ensemble formed no quorum"
  }
  sd_log "ensemble ready in $(($(sd_now_ms) - t0)) ms ($(ensemble_addr); member $(leader_of 1 2 3) leads)"
}

cmd_ensemble_stop() {
  local t0
  t0="$(sd_now_ms)"
  load_ensemble
  ensemble_stop_all || sd_die "an ensemble port is still open after stopping"
  rm -rf "$E"/m[123]/data
  sd_log "ensemble stopped in $(($(sd_now_ms) - t0)) ms"
}

cmd_member_stop() {
  local n="${1:-}" mode="${2:-}" t0 m rest=()
  check_member_arg "$n"
  [[ -z "$mode" || "$mode" == --kill ]] || sd_die "usage: $0 member-stop N [--kill]"
  t0="$(sd_now_ms)"
  load_ensemble
  stop_member "$n" "$mode" || sd_die "a port of member $n is still open after stopping"
  sd_log "member $n stopped${mode:+ ($mode)} in $(($(sd_now_ms) - t0)) ms"
  for m in 1 2 3; do ((m != n)) && member_up "$m" && rest+=("$m"); done
  if ((${#rest[@]} == 2)); then
    sd_wait_until "$SD_TIMEOUT" "members ${rest[*]} to regain a quorum" quorum_ready "${rest[@]}" ||
      sd_die "members ${rest[*]} have no quorum"
    sd_log "members ${rest[*]} have a quorum after $(($(sd_now_ms) - t0)) ms (member $(leader_of "${rest[@]}") leads)"
  else
    sd_log "only ${#rest[@]} member(s) left running: no quorum, they do not serve"
  fi
}

running_members() {
  local n out=()
  for n in 1 2 3; do member_up "$n" && out+=("$n"); done
  printf '%s\n' "${out[*]}"
}

# member_start N: starts member N on its data (if it is not running) and waits until every running
# member has a quorum: one leader, the rest followers. With N the only member running there can be
# no quorum, so it waits only until N answers `ruok`.
cmd_member_start() {
  local n="${1:-}" t0 dir up
  check_member_arg "$n"
  t0="$(sd_now_ms)"
  load_ensemble
  dir="$(member_dir "$n")"
  [[ -f "$E/settings.env" && -f "$dir/data/myid" ]] || sd_die "no data for member $n; run ensemble-start first"
  if ! member_up "$n"; then
    stop_member "$n" || sd_die "could not clean up after member $n"
    need_binaries
    cd "$D" || sd_die "cannot enter $D"
    # shellcheck disable=SC2046
    sd_require_ports_free $(member_ports "$n")
    launch_member "$n" || fail_server "$dir" "member $n did not start"
  fi
  read -ra up <<<"$(running_members)"
  if ((${#up[@]} == 1)); then
    sd_wait_until "$SD_TIMEOUT" "member $n to answer ruok" member_answers "$n" ||
      { stop_member "$n" --kill >/dev/null 2>&1; fail_server "$dir" "member $n does not answer"; }
    sd_log "member $n running in $(($(sd_now_ms) - t0)) ms (PID $(sd_read_pid "$dir/zk.pid")); it is the only" \
      "member running, so it does not serve until another one starts"
    return 0
  fi
  sd_wait_until "$SD_TIMEOUT" "members ${up[*]} to have one leader, the rest following" quorum_ready "${up[@]}" ||
    { stop_member "$n" --kill >/dev/null 2>&1; fail_server "$dir" "member $n did not join a quorum with members ${up[*]}"; }
  sd_log "member $n ready in $(($(sd_now_ms) - t0)) ms (PID $(sd_read_pid "$dir/zk.pid"); members ${up[*]} running," \
    "member $(leader_of "${up[@]}") leads)"
}

member_answers() {
  member_up "$1" || return 2
  [[ "$(four "$(member_port "$1")" ruok)" == imok ]]
}

# --- install, env, status --------------------------------------------------------------------------

installed() { command -v java >/dev/null && [[ -f "$ZK_JAR" && -x "$ZK_CLI" ]]; }

zk_version() {
  java -cp "$CLASSPATH_ZK" org.apache.zookeeper.version.VersionInfoMain 2>/dev/null | head -n 1
}

cmd_install() {
  if installed; then
    sd_log "already installed"
  else
    sd_log "zookeeper is missing; installing (not zookeeperd: no init glue wanted)"
    sd_apt_install zookeeper
    installed || sd_die "zookeeper (or java) is still missing after apt-get install"
  fi
  printf 'zookeeper: %s\n' "$(zk_version)"
  printf 'java: %s\n' "$(java -version 2>&1 | head -n 1)"
}

cmd_env() {
  local plain=""
  [[ "${1:-}" == --plain ]] && plain=1
  # Values made only of address characters are printed bare (printf %q would escape the commas).
  put() {
    if [[ -n "$plain" ]]; then
      printf '%s=%s\n' "$1" "$2"
    elif [[ "$2" =~ ^[A-Za-z0-9.:,/_-]+$ ]]; then
      printf 'export %s=%s\n' "$1" "$2"
    else
      printf 'export %s=%q\n' "$1" "$2"
    fi
  }
  load_single
  load_ensemble
  put SD_ZK_ADDR "127.0.0.1:$PORT"
  if any_member_up; then put SD_ZK_ENSEMBLE "$(ensemble_addr)"; fi
}

cmd_status() {
  local ok=0 n dir port m
  load_single
  load_ensemble
  if single_ready; then
    printf 'standalone: serving (PID %s, 127.0.0.1:%s)\n' "$(sd_read_pid "$S/zk.pid")" "$PORT"
  elif server_up "$S"; then
    echo "standalone: running but not serving on 127.0.0.1:$PORT"
    ok=1
  else
    echo "standalone: down"
    ok=1
  fi
  for n in 1 2 3; do
    dir="$(member_dir "$n")"
    port="$(member_port "$n")"
    if member_up "$n"; then
      m="$(mode "$port")"
      if [[ "$m" == leader || "$m" == follower ]]; then
        printf 'ensemble member %s: %s (PID %s, 127.0.0.1:%s)\n' "$n" "$m" "$(sd_read_pid "$dir/zk.pid")" "$port"
      else
        echo "ensemble member $n: running but not serving on 127.0.0.1:$port (no quorum?)"
        ok=1
      fi
    else
      echo "ensemble member $n: down"
    fi
  done
  return "$ok"
}

cmd_stop_all() {
  local rc=0
  if (cmd_stop); then rm -rf "$S/data"; else rc=1; fi
  (cmd_ensemble_stop) || rc=1
  return "$rc"
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop "${2:-}" ;;
  resume) cmd_resume ;;
  restart) cmd_restart "${2:-0}" ;;
  wipe) cmd_wipe ;;
  ensemble-start) cmd_ensemble_start ;;
  ensemble-stop) cmd_ensemble_stop ;;
  member-stop) cmd_member_stop "${2:-}" "${3:-}" ;;
  member-start) cmd_member_start "${2:-}" ;;
  env) cmd_env "${2:-}" ;;
  status) cmd_status ;;
  stop-all) cmd_stop_all ;;
  *)
    echo "usage: $0 install|start|stop [--kill]|resume|restart [SECONDS]|wipe|ensemble-start|ensemble-stop|" \
      "member-stop N [--kill]|member-start N|env [--plain]|status|stop-all" >&2
    exit 2
    ;;
esac
