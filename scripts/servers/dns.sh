#!/usr/bin/env bash
# Real DNS servers for the DNS SRV / DoH integration tests, all on 127.0.0.1:
#   BIND 9 (named)  authoritative for svc.test., plain DNS, RFC 2136 updates signed with a TSIG key
#   dnsdist         cleartext DoH front end (HTTP/1.1 and h2c) forwarding to BIND, no packet cache
#
# Usage: dns.sh install|start|stop|env|status
#   install  apt packages (root; skipped when the binaries are already there)
#   start    start both and wait for a DoH query to succeed (does nothing if already healthy)
#   stop     stop both by PID and check that their ports are closed
#   env      print `export SD_...=...` lines for eval; `env --plain` prints bare KEY=VALUE lines
#   status   exit 0 if both are up and answer over DoH
#
# Ports (environment, read by start; later commands use the ports recorded by start):
#   SD_DNS_PORT=5300 (BIND)  SD_DOH_PORT=8054 (dnsdist DoH)  SD_DNSDIST_PORT=5301 (dnsdist DNS)
#   SD_RNDC_PORT=9530 (BIND control channel; rndc -c "$state/rndc.conf")
# State (keys, configs, zone copy, logs, PID files): ${SD_SERVERS_DIR:-$HOME/.cache/edgekit-servers}/dns
# SD_SERVERS_TIMEOUT bounds every wait (seconds, default 15).
set -uo pipefail

SD_NAME=dns
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/servers/_lib.sh
. "$HERE/_lib.sh"

export PATH="/usr/local/sbin:/usr/sbin:/sbin:$PATH"
ZONE=svc.test
FIXTURE="${SD_DNS_ZONE_FILE:-$HERE/../../tests/integration/fixtures/svc.test.zone}"
D="$(sd_state_dir dns)" || exit 1
PORTS_FILE="$D/ports.env"

# Ports: start takes them from the environment; the other commands from what start recorded.
load_ports() {
  DNS_PORT=5300 DOH_PORT=8054 DNSDIST_PORT=5301 RNDC_PORT=9530
  if [[ "${1:-}" != requested && -f "$PORTS_FILE" ]]; then
    # shellcheck disable=SC1090
    . "$PORTS_FILE"
  else
    DNS_PORT="${SD_DNS_PORT:-$DNS_PORT}" DOH_PORT="${SD_DOH_PORT:-$DOH_PORT}"
    DNSDIST_PORT="${SD_DNSDIST_PORT:-$DNSDIST_PORT}" RNDC_PORT="${SD_RNDC_PORT:-$RNDC_PORT}"
  fi
  local p
  for p in "$DNS_PORT" "$DOH_PORT" "$DNSDIST_PORT" "$RNDC_PORT"; do
    [[ "$p" =~ ^[0-9]+$ ]] && ((p > 0 && p < 65536)) || sd_die "bad port \"$p\""
  done
}

ports_line() { printf 'DNS_PORT=%s DOH_PORT=%s DNSDIST_PORT=%s RNDC_PORT=%s\n' "$DNS_PORT" "$DOH_PORT" "$DNSDIST_PORT" "$RNDC_PORT"; }

# --- DNS wire helpers (no python needed) ---------------------------------------------------------

# dns_query_b64url NAME QTYPE: an RFC 1035 query (ID 0, RD, one question, class IN) in base64url
# without padding, as RFC 8484 GET wants it.
dns_query_b64url() {
  local name="$1" qtype="$2" label bytes='\x00\x00\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00'
  local -a labels
  IFS=. read -ra labels <<<"$name"
  for label in "${labels[@]}"; do
    [[ -n "$label" ]] && bytes+="$(printf '\\x%02x' "${#label}")$label"
  done
  bytes+="\\x00$(printf '\\x%02x\\x%02x' $((qtype >> 8)) $((qtype & 255)))\\x00\\x01"
  printf '%b' "$bytes" | base64 -w0 | tr '+/' '-_' | tr -d '='
}

# doh_probe: one GET through dnsdist for svc.test SOA; succeeds on HTTP 200 with a response
# (QR set), rcode NOERROR and at least one answer, which proves dnsdist and BIND both work.
doh_probe() {
  local q out code
  q="$(dns_query_b64url "$ZONE" 6)"
  out="$D/probe.bin"
  rm -f "$out"
  code="$(sd_curl --max-time 2 -H 'accept: application/dns-message' -o "$out" -w '%{http_code}' \
    "http://127.0.0.1:$DOH_PORT/dns-query?dns=$q" 2>/dev/null)" || return 1
  [[ "$code" == 200 && -s "$out" ]] || return 1
  local -a b
  read -ra b <<<"$(od -An -v -tu1 -N12 "$out")"
  ((${#b[@]} == 12 && (b[2] & 0x80) && (b[3] & 0x0f) == 0 && b[6] * 256 + b[7] >= 1))
}

# --- process checks ------------------------------------------------------------------------------

named_up() { sd_pid_matches "$(sd_read_pid "$D/named.pid")" "$D/named.conf"; }
dnsdist_up() { sd_pid_matches "$(sd_read_pid "$D/dnsdist.pid")" "$D/dnsdist.conf"; }

# dig prints its own errors on stdout, so look for the SOA record in the answer section.
named_ready() {
  named_up || return 2
  local answer
  answer="$(dig +noall +answer +time=1 +tries=1 @127.0.0.1 -p "$DNS_PORT" "$ZONE" SOA 2>/dev/null)" || return 1
  [[ "$answer" =~ [[:space:]]SOA[[:space:]] ]]
}

dnsdist_ready() {
  dnsdist_up || return 2
  named_up || return 2
  doh_probe
}

healthy() { named_up && dnsdist_up && doh_probe; }

fail_start() {
  sd_log "start failed: $*"
  sd_tail_logs "$D/named.log" "$D/dnsdist.log"
  stop_all >/dev/null 2>&1
  exit 1
}

# --- config files --------------------------------------------------------------------------------

write_configs() {
  tsig-keygen -a hmac-sha256 sd-update >"$D/tsig.key" || return 1
  tsig-keygen -a hmac-sha256 sd-rndc >"$D/rndc.key" || return 1
  chmod 600 "$D/tsig.key" "$D/rndc.key"

  cat >"$D/named.conf" <<EOF
// Written by scripts/servers/dns.sh; rewritten on every start.
include "$D/tsig.key";
include "$D/rndc.key";
controls { inet 127.0.0.1 port $RNDC_PORT allow { 127.0.0.1; } keys { "sd-rndc"; }; };
options {
  directory "$D";
  pid-file none;
  session-keyfile "$D/session.key";
  managed-keys-directory "$D";
  listen-on port $DNS_PORT { 127.0.0.1; };
  listen-on-v6 { none; };
  recursion no;
  allow-recursion { none; };
  allow-query { 127.0.0.1; };
  allow-transfer { none; };
  notify no;
  dnssec-validation no;
};
zone "$ZONE" {
  type primary;
  file "$D/$ZONE.zone";
  allow-update { key "sd-update"; };
};
EOF

  cat >"$D/rndc.conf" <<EOF
include "$D/rndc.key";
options { default-key "sd-rndc"; default-server 127.0.0.1; default-port $RNDC_PORT; };
EOF

  cat >"$D/dnsdist.conf" <<EOF
-- Written by scripts/servers/dns.sh; rewritten on every start.
-- An empty suffix turns off the security-status poll, a DNS query to an outside domain.
setSecurityPollSuffix("")
setACL({"127.0.0.0/8"})
setLocal("127.0.0.1:$DNSDIST_PORT")
-- No certificate and key: cleartext DoH (HTTP/1.1 and h2c).
addDOHLocal("127.0.0.1:$DOH_PORT", nil, nil, "/dns-query")
newServer({address="127.0.0.1:$DNS_PORT", name="bind", checkName="$ZONE.", checkType="SOA", mustResolve=true, checkInterval=1})
-- No setPacketCache(): a record changed with nsupdate is visible on the next query.
EOF

  # A fresh copy of the fixture; the journal of earlier updates is dropped with it.
  cp "$FIXTURE" "$D/$ZONE.zone" || return 1
  rm -f "$D/$ZONE.zone.jnl"
}

# --- commands ------------------------------------------------------------------------------------

cmd_install() {
  local missing=() c
  for c in named dnsdist nsupdate tsig-keygen dig curl; do
    command -v "$c" >/dev/null || missing+=("$c")
  done
  if ((${#missing[@]} == 0)); then
    sd_log "already installed"
  else
    sd_log "missing: ${missing[*]}; installing"
    local pkgs=(bind9 bind9-utils bind9-dnsutils dnsdist)
    command -v curl >/dev/null || pkgs+=(curl)
    sd_apt_install "${pkgs[@]}"
    for c in named dnsdist nsupdate tsig-keygen dig curl; do
      command -v "$c" >/dev/null || sd_die "$c is still missing after apt-get install"
    done
  fi
  printf 'named: %s\n' "$(named -v 2>&1 | head -n 1)"
  printf 'dnsdist: %s\n' "$(dnsdist --version 2>&1 | head -n 1)"
}

cmd_start() {
  local t0 c
  t0="$(sd_now_ms)"
  if sd_start_guard; then return 0; fi
  for c in named dnsdist nsupdate tsig-keygen dig curl named-checkconf; do
    command -v "$c" >/dev/null || sd_die "$c not found; run: bash $0 install"
  done
  [[ -f "$FIXTURE" ]] || sd_die "zone fixture not found: $FIXTURE"
  FIXTURE="$(cd "$(dirname "$FIXTURE")" && pwd)/$(basename "$FIXTURE")"
  cd "$D" || sd_die "cannot enter $D" # so the servers do not keep the caller's directory busy
  sd_require_ports_free "$DNS_PORT" "$DOH_PORT" "$DNSDIST_PORT" "$RNDC_PORT"

  rm -f "$D/named.log" "$D/dnsdist.log" "$D/checkconf.log" # so a failure shows this run's logs only
  write_configs || fail_start "could not write keys, configs or zone"
  ports_line >"$PORTS_FILE"
  named-checkconf -z "$D/named.conf" >"$D/checkconf.log" 2>&1 ||
    { cat "$D/checkconf.log" >&2; fail_start "named-checkconf rejected the config or zone"; }
  dnsdist --check-config -C "$D/dnsdist.conf" >"$D/checkconf.log" 2>&1 ||
    { cat "$D/checkconf.log" >&2; fail_start "dnsdist rejected its config"; }

  # -g: foreground, log to stderr; -4: IPv4 only; -n 1: one worker thread is plenty here.
  sd_start_bg "$D/named.pid" "$D/named.log" "$D/named.conf" named -g -4 -n 1 -c "$D/named.conf" &&
    sd_wait_until "$SD_TIMEOUT" "BIND to answer on 127.0.0.1:$DNS_PORT" named_ready ||
    fail_start "BIND is not answering"
  local t1
  t1="$(sd_now_ms)"

  sd_start_bg "$D/dnsdist.pid" "$D/dnsdist.log" "$D/dnsdist.conf" \
    dnsdist --supervised --disable-syslog -C "$D/dnsdist.conf" &&
    sd_wait_until "$SD_TIMEOUT" "a DoH answer from http://127.0.0.1:$DOH_PORT/dns-query" dnsdist_ready ||
    fail_start "dnsdist is not answering over DoH"
  local t2
  t2="$(sd_now_ms)"
  sd_log "ready in $((t2 - t0)) ms (BIND $((t1 - t0)) ms, dnsdist $((t2 - t1)) ms);" \
    "named PID $(sd_read_pid "$D/named.pid"), dnsdist PID $(sd_read_pid "$D/dnsdist.pid")"
}

# Stops both servers by PID, front end first.
stop_pids() {
  sd_stop_pid "$D/dnsdist.pid" "$D/dnsdist.conf" && sd_stop_pid "$D/named.pid" "$D/named.conf"
}

# Stops both servers and checks their ports are closed.
stop_all() {
  local rc=0 port
  stop_pids || rc=1
  for port in "$DOH_PORT" "$DNSDIST_PORT" "$DNS_PORT" "$RNDC_PORT"; do
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

cmd_env() {
  load_ports
  local prefix="export "
  [[ "${1:-}" == --plain ]] && prefix=""
  printf '%sSD_DOH_URL=%q\n' "$prefix" "http://127.0.0.1:$DOH_PORT/dns-query"
  printf '%sSD_DNS_ADDR=%q\n' "$prefix" "127.0.0.1:$DNS_PORT"
  printf '%sSD_DNS_TSIG_KEY=%q\n' "$prefix" "$D/tsig.key"
  printf '%sSD_DNS_ZONE=%q\n' "$prefix" "$ZONE"
}

cmd_status() {
  load_ports
  local ok=0
  if named_up; then echo "named: up (PID $(sd_read_pid "$D/named.pid"), DNS 127.0.0.1:$DNS_PORT)"; else
    echo "named: down"
    ok=1
  fi
  if dnsdist_up; then echo "dnsdist: up (PID $(sd_read_pid "$D/dnsdist.pid"), DoH 127.0.0.1:$DOH_PORT)"; else
    echo "dnsdist: down"
    ok=1
  fi
  if ((ok == 0)); then
    if doh_probe; then echo "DoH query: ok"; else
      echo "DoH query: failed"
      ok=1
    fi
  fi
  return "$ok"
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  env) cmd_env "${2:-}" ;;
  status) cmd_status ;;
  *)
    echo "usage: $0 install|start|stop|env [--plain]|status" >&2
    exit 2
    ;;
esac
