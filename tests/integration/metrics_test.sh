#!/usr/bin/env bash
# Metrics and logs: kvnetd --metrics scraped with curl and checked by
# promtool while two containers talk; counters grow with traffic, a drop
# reason shows, `stats --clear` zeroes them, `stats --watch` shows rates
# under ping -f; --log-file gets every change once with uid, pid and plan and
# is reopened on SIGHUP; --log-level warn keeps only warnings; under a
# systemd-like environment kvnetd writes journal lines and sends READY=1;
# bad and busy --metrics addresses stop kvnetd at start; the unit file
# passes systemd-analyze verify.
source "$(dirname "$0")/lib.sh" "$@"

# Its peers are installed by ./run (DEB_PACKAGES): a missing one fails the
# test, which would otherwise pass without checking anything.
command -v curl >/dev/null || fail "curl is not installed (./run installs it)"
command -v promtool >/dev/null || fail "promtool is not installed (./run installs Debian's prometheus, which has it)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
scrape() { curl -sS --max-time 10 "http://127.0.0.1:$MPORT/metrics"; }
# metric FILE 'NAME{labels}': the sample's value ("" if absent)
metric() { awk -v m="$2 " 'index($0, m) == 1 {print $NF; exit}' "$1"; }

# --- bad addresses: refused before anything starts ---
MPORT=$(free_port)
expect_error "malformed --metrics" 2 "kvnetd: --metrics '1.2.3.4:http': the port 'http' is not a number" \
  "$BIN/kvnetd" --foreground --db "$T/bad.db" --socket "$T/bad.sock" --metrics 1.2.3.4:http
expect_error "--metrics port 0" 2 "the port 0 is out of range 1-65535" \
  "$BIN/kvnetd" --foreground --db "$T/bad.db" --socket "$T/bad.sock" --metrics 0
expect_error "--metrics on an address the host lacks" 1 "metrics address 192.0.2.1:$MPORT: Cannot assign requested address" \
  "$BIN/kvnetd" --foreground --db "$T/bad.db" --socket "$T/bad.sock" --metrics 192.0.2.1:$MPORT
[ -S "$T/bad.sock" ] && fail "a kvnetd that failed to start left its socket behind"
expect_error "bad --log-level" 2 "--log-level" \
  "$BIN/kvnetd" --foreground --db "$T/bad.db" --socket "$T/bad.sock" --log-level loud
log "bad --metrics addresses and log levels stop kvnetd at start"

# --- kvnetd with metrics and a log file ---
LOGF="$T/kvnetd-file.log"
"$BIN/kvnetd" --foreground --db "$T/kvnet.db" --socket "$KVNET_SOCKET" --metrics "$MPORT" --log-file "$LOGF" \
  >>"$T/kvnetd.log" 2>&1 &
KVD_PID=$!
disown "$KVD_PID"
wait_for 10 "kvnetd answers" "$BIN/kvnetctl" list-br
grep -q "metrics at http://127.0.0.1:$MPORT/metrics" "$LOGF" || fail "the log does not say where the metrics are"

# The metrics port is taken now: a second kvnetd on it fails, naming it.
expect_error "busy --metrics port" 1 "metrics address 127.0.0.1:$MPORT: Address already in use" \
  "$BIN/kvnetd" --foreground --db "$T/two.db" --socket "$T/two.sock" --metrics "127.0.0.1:$MPORT"
log "a busy metrics port stops a second kvnetd at start"

expect_ok "add-br" kctl add-br br0
# Access VLAN 1 spelled out: tagged frames from a are dropped as tagged_on_access.
expect_ok "ct add a" kctl ct add ${P}a --bridge br0 --ip 10.91.0.1/24 vlan_mode=access pvid=1
expect_ok "ct add b" kctl ct add ${P}b --bridge br0 --ip 10.91.0.2/24 vlan_mode=access pvid=1
pings ${P}a 10.91.0.2 || fail "a cannot ping b"

scrape >"$T/m1" || fail "scrape failed"
promtool check metrics <"$T/m1" >"$T/promtool.out" 2>&1 || { cat "$T/promtool.out"; fail "promtool rejects the metrics"; }
[ ! -s "$T/promtool.out" ] || { cat "$T/promtool.out"; fail "promtool has lint findings"; }
RX_A="kvnet_port_rx_packets_total{bridge=\"br0\",port=\"ct-${P}a\",kind=\"system\"}"
rx1=$(metric "$T/m1" "$RX_A")
[ -n "$rx1" ] && [ "$rx1" -gt 0 ] || { grep ct-${P}a "$T/m1"; fail "no rx packets for ct-${P}a after pings"; }
[ "$(metric "$T/m1" kvnet_up)" = 1 ] || fail "kvnet_up is not 1"
[ "$(metric "$T/m1" 'kvnet_bridge_fdb_entries{bridge="br0"}')" -ge 2 ] || fail "the FDB gauge does not count the containers' MACs"
[ "$(metric "$T/m1" kvnet_containers)" = 2 ] || fail "kvnet_containers is not 2"
loops=$(metric "$T/m1" kvnet_datapath_loop_seconds_count)
[ "$loops" -gt 0 ] || fail "the datapath loop histogram counted no rounds"
log "scrape passes promtool check metrics; counters, FDB, containers and loop time are there"

pings ${P}a 10.91.0.2 5 || fail "a cannot ping b (2)"
scrape >"$T/m2"
rx2=$(metric "$T/m2" "$RX_A")
[ "$rx2" -ge $((rx1 + 5)) ] || fail "rx packets did not grow with traffic ($rx1 -> $rx2)"
log "counters grow with traffic ($rx1 -> $rx2)"

# A drop reason: tagged frames on an access port.
ip netns exec ${P}a python3 - <<'PY' || fail "cannot send tagged frames from a"
import socket, struct
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
src = s.getsockname()[4]
frame = b"\xff" * 6 + src + struct.pack("!HHH", 0x8100, 5, 0x88B5) + b"kvnet metrics test".ljust(46, b"\0")
for _ in range(3):
    s.send(frame)
PY
DROP_A="kvnet_port_drops_total{bridge=\"br0\",port=\"ct-${P}a\",reason=\"tagged_on_access\"}"
scrape >"$T/m3"
[ "$(metric "$T/m3" "$DROP_A")" -ge 3 ] || { grep "ct-${P}a" "$T/m3" | grep drops; fail "tagged_on_access drops not counted"; }
log "a drop reason shows: tagged_on_access"

# HTTP errors.
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/")" = 404 ] || fail "/ is not 404"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d x "http://127.0.0.1:$MPORT/metrics")" = 405 ] || fail "POST is not 405"
log "404 elsewhere, 405 for POST"

# stats --watch: rates while ping -f runs.
ip netns exec ${P}a ping -f -q -w 6 10.91.0.2 >/dev/null 2>&1 &
PING_PID=$!
timeout 10 "$BIN/kvnetctl" --format json stats ct-${P}a --watch --interval 0.5 --count 4 >"$T/watch.json" ||
  fail "stats --watch failed"
timeout 10 "$BIN/kvnetctl" stats --watch --interval 0.5 --count 1 >"$T/watch.txt" || fail "stats --watch (human) failed"
kill "$PING_PID" 2>/dev/null || true
wait "$PING_PID" 2>/dev/null || true
python3 - "$T/watch.json" <<'PY' || { cat "$T/watch.json"; fail "stats --watch shows no rates"; }
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert len(lines) == 4, lines
assert all(0.3 < l["interval"] < 2 for l in lines), lines
best = max(p["rx_pps"] for l in lines for p in l["ports"])
bps = max(p["rx_bps"] for l in lines for p in l["ports"])
assert best > 50 and bps > 50 * 8 * 64, (best, bps)
PY
grep -q "^Every 0.5s: kvnetctl stats" "$T/watch.txt" || { cat "$T/watch.txt"; fail "stats --watch lacks its header"; }
grep -q "RX_PPS" "$T/watch.txt" || fail "stats --watch lacks its table"
log "stats --watch shows rates under ping -f"

# stats --clear: the counters (and the metrics) start from zero again.
expect_ok "stats --clear" kctl stats --clear
grep -q "cleared the counters of 2 port(s)" "$T/out" || { cat "$T/out"; fail "stats --clear did not say what it cleared"; }
scrape >"$T/m4"
rx4=$(metric "$T/m4" "$RX_A")
[ "$rx4" -lt 10 ] && [ "$rx4" -lt "$rx2" ] || fail "rx packets not reset by stats --clear ($rx2 -> $rx4)"
[ "$(metric "$T/m4" "$DROP_A")" = 0 ] || fail "drops not reset by stats --clear"
expect_error "stats --clear of no port" 1 "port 'nope' does not exist" kctl stats --clear nope
log "stats --clear zeroes the counters and the metrics"

# The log file: each change once, with uid, pid and plan; refusals as warnings; no reads at info.
expect_error "refused change" 1 "bridge 'nope' does not exist" kctl del-br nope
kctl show >/dev/null
grep -E "info: change by uid 0 pid [0-9]+ \(kvnetctl\): \{\"bridge\":\"br0\",\"cmd\":\"add-br\".*\} => \+ bridge br0$" "$LOGF" >/dev/null ||
  { cat "$LOGF"; fail "the add-br change is not logged with uid, pid and plan"; }
[ "$(grep -c '"cmd":"add-br"' "$LOGF")" = 1 ] || fail "the add-br change is not logged exactly once"
grep -E "info: change by uid 0 pid [0-9]+ \(kvnetctl\): \{.*\"cmd\":\"ct-add\".*\"name\":\"${P}a\".*\} => .*\+ port br0/ct-${P}a.*\+ container ${P}a" "$LOGF" >/dev/null ||
  { cat "$LOGF"; fail "the ct add change is not logged with its plan"; }
grep -E "info: change by uid 0 pid [0-9]+ \(kvnetctl\): \{\"cmd\":\"stats-clear\",\"port\":\"\"\} => \{\"cleared\":2\}" "$LOGF" >/dev/null ||
  { cat "$LOGF"; fail "stats --clear is not logged"; }
grep -E "warn: refused change by uid 0 pid [0-9]+ \(kvnetctl\): \{\"bridge\":\"nope\",\"cmd\":\"del-br\".*\}: bridge 'nope' does not exist" "$LOGF" >/dev/null ||
  { cat "$LOGF"; fail "the refused change is not a warning with its error"; }
grep -q '"cmd":"show"' "$LOGF" && fail "a read-only request was logged at info"
log "--log-file: changes once with uid, pid and plan; refusals as warnings; reads not at info"

# SIGHUP reopens the log file (logrotate moved it).
mv "$LOGF" "$LOGF.1"
kill -HUP "$KVD_PID"
wait_for 5 "the log file reopened" test -s "$LOGF"
expect_ok "add-br after HUP" kctl add-br br1
grep -q '"cmd":"add-br","bridge":"br1"\|"bridge":"br1","cmd":"add-br"' "$LOGF" || { cat "$LOGF"; fail "no change line in the reopened log"; }
kill -0 "$KVD_PID" 2>/dev/null || fail "SIGHUP stopped kvnetd"
log "SIGHUP reopens the log file"
kvd_stop

# --- as under systemd: journal lines on stderr, READY=1 on NOTIFY_SOCKET, --log-level warn ---
python3 - "$T/notify.sock" "$T/notify.out" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(30)
with open(sys.argv[2], "w") as out:
    try:
        while True:
            out.write(s.recv(4096).decode() + "\n---\n")
            out.flush()
    except socket.timeout:
        pass
PY
NOTIFY_PID=$!
EXTRA_CLEANUP="kill $NOTIFY_PID 2>/dev/null"
wait_for 5 "the notify socket" test -S "$T/notify.sock"
: >"$T/journal.log"
JS=$(stat -c '%d:%i' "$T/journal.log")
export KVNET_SOCKET="$T/warn.sock"
JOURNAL_STREAM=$JS NOTIFY_SOCKET="$T/notify.sock" "$BIN/kvnetd" --foreground --db "$T/warn.db" --socket "$KVNET_SOCKET" \
  --log-level warn 2>>"$T/journal.log" &
KVD_PID=$!
disown "$KVD_PID"
wait_for 10 "READY=1 on NOTIFY_SOCKET" grep -q "^READY=1" "$T/notify.out"
grep -q "^STATUS=listening on $KVNET_SOCKET" "$T/notify.out" || { cat "$T/notify.out"; fail "no STATUS with READY=1"; }
kctl list-br >/dev/null || fail "kvnetd is not answering after READY=1"
expect_ok "add-br (info: not logged at warn)" kctl add-br brw
expect_error "refused change (warn)" 1 "bridge 'nope' does not exist" kctl del-br nope
kvd_stop
grep -q "^STOPPING=1" "$T/notify.out" || { cat "$T/notify.out"; fail "no STOPPING=1 at stop"; }
grep -qE '^<4>refused change by uid 0 pid [0-9]+ \(kvnetctl\): .*"del-br".*does not exist$' "$T/journal.log" ||
  { cat "$T/journal.log"; fail "no journal-format warning line"; }
grep -q 'listening on\|"add-br"\|stopping' "$T/journal.log" && { cat "$T/journal.log"; fail "--log-level warn let info lines through"; }
grep -vq '^<[0-7]>' "$T/journal.log" && { cat "$T/journal.log"; fail "a journal line without its <N> priority"; }
log "journal lines with priorities, READY=1/STOPPING=1, --log-level warn suppresses info"

# --- the systemd unit ---
command -v systemd-analyze >/dev/null || fail "systemd-analyze is not installed (./run installs systemd)"
sed "s|/usr/local/bin/kvnetd|$(cd "$BIN" && pwd)/kvnetd|" "$SRC/dist/kvnetd.service" >"$T/kvnetd.service"
# --man=no: the man pages it names are installed by ./run install, not here.
systemd-analyze verify --man=no "$T/kvnetd.service" >"$T/verify.out" 2>&1 ||
  { cat "$T/verify.out"; fail "systemd-analyze verify rejects dist/kvnetd.service"; }
[ ! -s "$T/verify.out" ] || { cat "$T/verify.out"; fail "systemd-analyze verify has warnings"; }
log "systemd-analyze verify accepts dist/kvnetd.service"
log "PASS"
