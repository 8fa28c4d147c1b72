#!/usr/bin/env bash
# A real Eureka server for the Eureka backend's integration tests, on 127.0.0.1 only: Spring Cloud
# Netflix's Eureka server (the one most deployments run), as a one-class Spring Boot application.
#
# Usage: eureka.sh install|start|stop|restart|env|status
#   install  build the server with Maven (skipped when a jar for the current sources is cached), then
#            prepare a class-data-sharing archive that halves the start-up time
#   start    start it and wait until GET /eureka/apps answers JSON (does nothing if already healthy)
#   stop     stop it by PID and check that its port is closed
#   restart  stop, then start an empty server on the same port: every registration is lost, which is
#            what the registrar's re-registration tests rely on
#   env      print `export SD_...=...` lines for eval; `env --plain` prints bare KEY=VALUE lines
#   status   exit 0 if the server is up and answers
#
# Why a build: Eureka has no Debian package and nothing but the package registries can be reached,
# but the server is on Maven Central. scripts/servers/eureka/ is a minimal Maven project (pom.xml,
# one @EnableEurekaServer class, application.properties with the test settings). install copies it
# to $SD_SERVERS_DIR/eureka-build and runs `mvn package` there, with Maven's usual local repository
# (~/.m2), so no build output lands in the repository. The jar is cached as
# $SD_SERVERS_DIR/bin/eureka-server-<hash>.jar, where <hash> covers pom.xml and src/, so any change
# to them triggers a rebuild. Next to it, eureka-server-<hash>/ holds the jar unpacked by Spring
# Boot's jarmode tools and a dynamic CDS archive (app.jsa) recorded by a training run that stops
# after the context refresh; start uses them when the archive matches the installed Java, and the
# plain jar otherwise.
# Versions: Spring Boot 3.5.16 with Spring Cloud 2025.0.1 (spring-cloud-netflix 4.3.1, Netflix
# eureka-core 2.0.5), on Java 17. Later 2025.0.x trains name spring-cloud-netflix 4.3.2/4.3.3,
# whose jars are not on Maven Central.
#
# Port (environment, read by start; later commands use the port recorded by start):
#   SD_EUREKA_PORT=8761
# State (log, PID file, port, hosts file): ${SD_SERVERS_DIR:-$HOME/.cache/edgekit-servers}/eureka
# SD_EUREKA_START_TIMEOUT bounds the wait for readiness (seconds, default 60: Spring Boot takes
# 5-20 s on two cores); SD_EUREKA_BUILD_TIMEOUT the Maven build (seconds, default 1200);
# SD_SERVERS_TIMEOUT the other waits (default 15). SD_EUREKA_JAVA_OPTS adds JVM options.
set -uo pipefail

SD_NAME=eureka
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/servers/_lib.sh
. "$HERE/_lib.sh"

PROJECT="$HERE/eureka"
BUILD_DIR="$SD_SERVERS_ROOT/eureka-build"
BIN_DIR="$SD_SERVERS_ROOT/bin"
D="$(sd_state_dir eureka)" || exit 1
PORTS_FILE="$D/ports.env"
PID_FILE="$D/eureka.pid"
LOG="$D/eureka.log"
# On the server's command line, so that stop only ever signals a server started from this state dir.
MARKER="-Dedgekit.server=$D"
START_TIMEOUT="${SD_EUREKA_START_TIMEOUT:-60}"

# Small heap, serial GC, C1 only: quick to start, about 175 MB resident. jdk.net.hosts.file makes
# Java resolve names from that file alone, so no lookup (of the machine's own name, say) reaches DNS.
jvm_opts() {
  JVM_OPTS=(-Xms32m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss512k
    -XX:+ExitOnOutOfMemoryError -Djava.net.preferIPv4Stack=true -Djava.awt.headless=true
    -Dfile.encoding=UTF-8 "-Djdk.net.hosts.file=$D/hosts")
  local -a extra
  read -ra extra <<<"${SD_EUREKA_JAVA_OPTS:-}"
  JVM_OPTS+=("${extra[@]}")
}

write_hosts() {
  local name
  name="$(cat /proc/sys/kernel/hostname 2>/dev/null || printf localhost)"
  printf '127.0.0.1 localhost %s\n' "$name" >"$D/hosts"
}

# Port: start takes it from the environment; the other commands from what start recorded.
load_ports() {
  PORT=8761
  if [[ "${1:-}" != requested && -f "$PORTS_FILE" ]]; then
    # shellcheck disable=SC1090
    . "$PORTS_FILE"
  else
    PORT="${SD_EUREKA_PORT:-$PORT}"
  fi
  if ! [[ "$PORT" =~ ^[0-9]+$ ]] || ((PORT < 1 || PORT > 65535)); then sd_die "bad port \"$PORT\""; fi
}

ports_line() { printf 'PORT=%s\n' "$PORT"; }

need() { command -v "$1" >/dev/null || sd_die "$1 not found${2:+ ($2)}"; }

# --- build ---------------------------------------------------------------------------------------

# 16 hex digits over the path and content of every file that goes into the jar.
source_hash() {
  (cd "$PROJECT" && find pom.xml src -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) |
    sha256sum | cut -c1-16
}

set_paths() {
  HASH="$(source_hash)"
  [[ "$HASH" =~ ^[0-9a-f]{16}$ ]] || sd_die "cannot hash the sources in $PROJECT"
  JAR="$BIN_DIR/eureka-server-$HASH.jar"
  APP_DIR="$BIN_DIR/eureka-server-$HASH"
  APP_JAR="$APP_DIR/eureka-server-$HASH.jar" # jarmode extract keeps the jar's name
}

java_id() { java -version 2>&1 | tr '\n' ' '; }

# True if the unpacked jar and its CDS archive exist and were made with the Java now installed.
cds_ready() {
  [[ -f "$APP_JAR" && -f "$APP_DIR/app.jsa" && -f "$APP_DIR/java.id" ]] &&
    [[ "$(cat "$APP_DIR/java.id")" == "$(java_id)" ]]
}

build_jar() {
  need mvn "install Maven and a JDK 17+"
  local log="$D/build.log" t0 rc=0
  mkdir -p "$BIN_DIR" || sd_die "cannot create $BIN_DIR"
  # Build in a copy, so that target/ never appears in the repository.
  if ! { rm -rf "$BUILD_DIR" && mkdir -p "$BUILD_DIR" && cp -R "$PROJECT/pom.xml" "$PROJECT/src" "$BUILD_DIR/"; }; then
    sd_die "cannot prepare $BUILD_DIR"
  fi
  sd_log "building the Eureka server (sources $HASH) with Maven; log: $log"
  t0="$(sd_now_ms)"
  (cd "$BUILD_DIR" && timeout "${SD_EUREKA_BUILD_TIMEOUT:-1200}" mvn -B -q -DskipTests package) \
    </dev/null >"$log" 2>&1 || rc=$?
  if ((rc != 0)); then
    ((rc == 124)) && sd_log "the build hit its time limit (${SD_EUREKA_BUILD_TIMEOUT:-1200} s)"
    sd_tail_logs "$log"
    sd_die "mvn package failed (exit $rc)"
  fi
  [[ -s "$BUILD_DIR/target/eureka-server.jar" ]] || { sd_tail_logs "$log"; sd_die "the build made no jar"; }
  mv -f "$BUILD_DIR/target/eureka-server.jar" "$JAR" || sd_die "cannot move the jar to $JAR"
  rm -rf "$BUILD_DIR"
  sd_log "built $JAR in $((($(sd_now_ms) - t0) / 1000)) s ($(du -h "$JAR" | cut -f1))"
}

# Unpacks the jar and records the classes a start loads into a dynamic CDS archive. The archive
# names the jar paths it was made from, so it is made in place. Failure only costs start-up time.
prepare_cds() {
  local log="$D/cds.log" t0 rc=0
  t0="$(sd_now_ms)"
  rm -rf "$APP_DIR"
  jvm_opts
  write_hosts
  {
    timeout 120 java -Djarmode=tools -jar "$JAR" extract --destination "$APP_DIR" &&
      (cd "$APP_DIR" && timeout 180 java "${JVM_OPTS[@]}" -XX:ArchiveClassesAtExit="$APP_DIR/app.jsa.tmp" \
        -Dspring.context.exit=onRefresh -jar "$APP_JAR" --server.port=0) &&
      [[ -s "$APP_DIR/app.jsa.tmp" ]]
  } </dev/null >"$log" 2>&1 || rc=$?
  if ((rc != 0)); then
    sd_tail_logs "$log"
    sd_log "warning: no CDS archive (exit $rc); start will run the plain jar, more slowly"
    rm -rf "$APP_DIR"
    return 0
  fi
  mv -f "$APP_DIR/app.jsa.tmp" "$APP_DIR/app.jsa" && java_id >"$APP_DIR/java.id" && rm -f "$log"
  sd_log "CDS archive ready in $((($(sd_now_ms) - t0) / 1000)) s ($(du -sh "$APP_DIR" | cut -f1) unpacked)"
}

# Removes jars and unpacked copies built from other sources, unless a server is running.
prune_old() {
  server_up && return 0
  local f
  for f in "$BIN_DIR"/eureka-server-*; do
    [[ -e "$f" ]] || continue
    [[ "$f" == "$JAR" || "$f" == "$APP_DIR" ]] && continue
    rm -rf "$f"
  done
}

cmd_install() {
  need java "install a JDK 17+"
  set_paths
  if [[ -s "$JAR" ]] && cds_ready; then
    sd_log "already built: $JAR"
    return 0
  fi
  [[ -s "$JAR" ]] || build_jar
  cds_ready || prepare_cds
  prune_old
}

# --- server --------------------------------------------------------------------------------------

server_up() { sd_pid_matches "$(sd_read_pid "$PID_FILE")" "$MARKER"; }

apps_answer() {
  local body
  body="$(sd_curl --max-time 2 -f -H 'Accept: application/json' "http://127.0.0.1:$PORT/eureka/apps" 2>/dev/null)" ||
    return 1
  [[ "$body" == '{"applications":'* ]]
}

server_ready() {
  server_up || return 2
  apps_answer
}

healthy() { server_up && apps_answer; }

fail_start() {
  sd_log "start failed: $*"
  sd_tail_logs "$LOG"
  stop_all >/dev/null 2>&1
  exit 1
}

cmd_start() {
  local t0
  t0="$(sd_now_ms)"
  if sd_start_guard; then return 0; fi
  need java "install a JDK 17+"
  need curl
  set_paths
  local -a run
  if cds_ready; then
    run=(-XX:SharedArchiveFile="$APP_DIR/app.jsa" -jar "$APP_JAR")
  elif [[ -s "$JAR" ]]; then
    sd_log "no CDS archive for this Java; running the plain jar (bash $0 install makes one)"
    run=(-jar "$JAR")
  else
    sd_die "no server built from the current sources ($JAR); run: bash $0 install"
  fi
  cd "$D" || sd_die "cannot enter $D" # so the server does not keep the caller's directory busy
  sd_require_ports_free "$PORT"
  ports_line >"$PORTS_FILE"
  write_hosts || fail_start "cannot write $D/hosts"
  jvm_opts
  sd_start_bg "$PID_FILE" "$LOG" "$MARKER" \
    java "${JVM_OPTS[@]}" "$MARKER" "${run[@]}" --server.port="$PORT" ||
    fail_start "the JVM did not start"
  sd_wait_until "$START_TIMEOUT" "http://127.0.0.1:$PORT/eureka/apps to answer" server_ready ||
    fail_start "Eureka is not ready"
  sd_log "ready in $(($(sd_now_ms) - t0)) ms; PID $(sd_read_pid "$PID_FILE") ($(ports_line))"
}

stop_pids() { sd_stop_pid "$PID_FILE" "$MARKER" 20; }

stop_all() {
  local rc=0
  stop_pids || rc=1
  sd_wait_until 5 "port $PORT to close" sd_port_closed "$PORT" || rc=1
  return "$rc"
}

cmd_stop() {
  local t0
  t0="$(sd_now_ms)"
  load_ports
  stop_all || sd_die "port $PORT is still open after stopping (another process may hold it)"
  sd_log "stopped in $(($(sd_now_ms) - t0)) ms"
}

# Same port as the server being replaced, unless the environment names another.
cmd_restart() {
  load_ports
  export SD_EUREKA_PORT="${SD_EUREKA_PORT:-$PORT}"
  cmd_stop && cmd_start
}

cmd_env() {
  load_ports
  local prefix="export "
  [[ "${1:-}" == --plain ]] && prefix=""
  # The service URL; the REST API is under it: $SD_EUREKA_URL/apps, /apps/delta, /apps/{APP}/{id}.
  printf '%sSD_EUREKA_URL=%q\n' "$prefix" "http://127.0.0.1:$PORT/eureka"
}

cmd_status() {
  load_ports
  if ! server_up; then
    echo "eureka: down"
    return 1
  fi
  echo "eureka: up (PID $(sd_read_pid "$PID_FILE"), http://127.0.0.1:$PORT/eureka)"
  if apps_answer; then echo "registry: answering"; else
    echo "registry: not answering"
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
