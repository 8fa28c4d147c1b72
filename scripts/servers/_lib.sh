# Shared helpers for scripts/servers/*.sh. Source it; it defines functions and nothing runs.
#
# Conventions:
# - Every wait has a deadline (SD_SERVERS_TIMEOUT seconds, default 15) and fails loudly.
# - Servers run detached (own session, stdin from /dev/null, output to a log in the state dir) and
#   are tracked by PID files. A PID is only signalled after checking that its command line still
#   names our config, so a reused PID is never killed.
# - A server whose parent script exited is adopted by PID 1, which may reap it late: until then
#   `kill -0` still succeeds on the zombie. Liveness is therefore read from /proc/PID/stat, where
#   state Z (zombie) or X (dead) counts as gone.
# - Only 127.0.0.1 is ever contacted; curl is told to ignore proxy variables.

# Root of all server state; one subfolder per server.
SD_SERVERS_ROOT="${SD_SERVERS_DIR:-${HOME:-/tmp}/.cache/edgekit-servers}"
SD_TIMEOUT="${SD_SERVERS_TIMEOUT:-15}"

sd_log() { printf '[%s] %s\n' "${SD_NAME:-servers}" "$*" >&2; }

sd_die() {
  sd_log "ERROR: $*"
  exit 1
}

# Prints the state dir for server $1, creating it.
sd_state_dir() {
  local dir="$SD_SERVERS_ROOT/$1"
  mkdir -p "$dir" || sd_die "cannot create state dir $dir"
  printf '%s\n' "$dir"
}

# Milliseconds since the epoch (bash 5 EPOCHREALTIME, no fork).
sd_now_ms() {
  local t="${EPOCHREALTIME/[.,]/}"
  printf '%s\n' "$((t / 1000))"
}

# True if the process $1 exists and has not exited (a zombie counts as exited).
sd_pid_alive() {
  local pid="$1" stat state
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
  # Field 3, after the command name in parentheses (which may itself hold spaces or parens).
  state="${stat##*) }"
  state="${state%% *}"
  [[ -n "$state" && "$state" != Z && "$state" != X ]]
}

# True if process $1 is alive and its command line contains the string $2.
sd_pid_matches() {
  local pid="$1" needle="$2" cmdline
  sd_pid_alive "$pid" || return 1
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  [[ "$cmdline" == *"$needle"* ]]
}

# Prints the PID stored in file $1 (nothing if absent or malformed).
sd_read_pid() {
  local pid=""
  [[ -f "$1" ]] && read -r pid <"$1" 2>/dev/null
  [[ "$pid" =~ ^[0-9]+$ ]] && printf '%s\n' "$pid"
  return 0
}

# True if something accepts TCP connections on 127.0.0.1:$1 (bounded to 1 s).
sd_port_open() {
  timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# sd_wait_until SECONDS DESCRIPTION CMD [ARGS...]: polls CMD every 50 ms until it succeeds.
# Returns 1 (after logging DESCRIPTION) when the deadline passes, or at once when CMD returns 2
# (meaning "this can no longer succeed", for example the server process died).
sd_wait_until() {
  local seconds="$1" what="$2" rc
  shift 2
  local deadline=$(($(sd_now_ms) + seconds * 1000))
  while true; do
    rc=0
    "$@" || rc=$?
    ((rc == 0)) && return 0
    if ((rc == 2)); then
      sd_log "gave up waiting for $what"
      return 1
    fi
    if (($(sd_now_ms) >= deadline)); then
      sd_log "timed out after ${seconds}s waiting for $what"
      return 1
    fi
    sleep 0.05
  done
}

sd_port_closed() { ! sd_port_open "$1"; }

# Fails unless every port in "$@" is free.
sd_require_ports_free() {
  local port
  for port in "$@"; do
    sd_port_closed "$port" || sd_die "port $port on 127.0.0.1 is already in use by another process"
  done
}

# sd_start_bg PIDFILE LOGFILE NEEDLE CMD [ARGS...]: starts CMD detached, records its PID and waits
# (bounded) until the child has exec'd, that is until its command line contains NEEDLE; before
# that /proc still shows this script's command line. Fails if the child dies first.
# setsid puts it in its own session so that signals aimed at the caller's process group
# (a CI step ending, a ^C) do not reach it; it is stopped only through sd_stop_pid.
sd_start_bg() {
  local pidfile="$1" logfile="$2" needle="$3" pid
  shift 3
  if command -v setsid >/dev/null; then
    setsid "$@" </dev/null >"$logfile" 2>&1 &
  else
    "$@" </dev/null >"$logfile" 2>&1 &
  fi
  pid="$!"
  printf '%s\n' "$pid" >"$pidfile"
  sd_wait_until 5 "PID $pid to exec $1" sd_exec_done "$pid" "$needle"
}

sd_exec_done() {
  sd_pid_matches "$1" "$2" && return 0
  sd_pid_alive "$1" || return 2
  return 1
}

# sd_stop_pid PIDFILE NEEDLE [SECONDS]: stops the process recorded in PIDFILE, if it is still
# ours (command line contains NEEDLE). SIGTERM first, SIGKILL after SECONDS (default 10), each
# wait bounded. Removes PIDFILE. Fails only if the process survives SIGKILL.
sd_stop_pid() {
  local pidfile="$1" needle="$2" seconds="${3:-10}" pid
  pid="$(sd_read_pid "$pidfile")"
  if [[ -z "$pid" ]] || ! sd_pid_matches "$pid" "$needle"; then
    rm -f "$pidfile"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null
  if ! sd_wait_until "$seconds" "PID $pid to exit after SIGTERM" sd_pid_gone "$pid" "$needle"; then
    sd_log "sending SIGKILL to PID $pid"
    kill -KILL "$pid" 2>/dev/null
    sd_wait_until 5 "PID $pid to exit after SIGKILL" sd_pid_gone "$pid" "$needle" ||
      sd_die "PID $pid ($needle) did not exit"
  fi
  rm -f "$pidfile"
}

sd_pid_gone() { ! sd_pid_matches "$1" "$2"; }

# sd_tail_logs FILE...: prints the last lines of each log to stderr, for failure reports.
sd_tail_logs() {
  local f
  for f in "$@"; do
    [[ -f "$f" ]] || continue
    printf -- '----- last lines of %s -----\n' "$f" >&2
    tail -n "${SD_LOG_LINES:-30}" "$f" >&2
  done
}

# sd_curl ARGS...: curl limited to loopback use: no proxies, no config file, bounded time.
sd_curl() {
  curl --disable --noproxy '*' --silent --show-error --max-time 3 "$@"
}

# sd_apt_install PACKAGE...: apt-get update + install, non-interactive and bounded. While it runs,
# a policy-rc.d that denies service starts is put in place if none exists, so that a package's
# postinst cannot start a system-wide daemon (which could listen on more than loopback).
sd_apt_install() {
  [[ "$(id -u)" == 0 ]] || sd_die "installing packages needs root (run: sudo $0 install)"
  local policy=/usr/sbin/policy-rc.d added="" rc=0
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && added=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get update -q </dev/null || rc=$?
  if ((rc == 0)); then
    timeout 900 apt-get install -y -q --no-install-recommends "$@" </dev/null || rc=$?
  fi
  [[ -n "$added" ]] && rm -f "$policy"
  ((rc == 0)) || sd_die "apt-get failed (exit $rc) installing: $*"
}

# The first step of a `start` in a script that defines `load_ports [requested]`, `ports_line`, `healthy`
# and `stop_pids`. Returns 0 when the server already runs healthy on the requested ports (nothing to do),
# dies when it runs on other ports, and otherwise stops unhealthy leftovers, loads the requested ports and
# returns 1 (go on starting).
sd_start_guard() {
  local want
  load_ports requested
  want="$(ports_line)"
  load_ports # what is running (or was last started) uses the recorded ports
  if healthy; then
    [[ "$(ports_line)" == "$want" ]] || sd_die "already running with other ports ($(ports_line)); run stop first"
    sd_log "already running and healthy ($(ports_line))"
    return 0
  fi
  stop_pids || sd_die "could not stop an earlier, unhealthy run"
  load_ports requested
  return 1
}
