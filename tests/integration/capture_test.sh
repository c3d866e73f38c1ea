#!/usr/bin/env bash
# kvnetctl capture (issue 10): a live pcap stream of a container's port read
# by tcpdump (right MACs, ICMP), filters in tcpdump's language, --direction,
# --count, several captures at once, the one-line summaries and their JSON,
# a bad filter and a missing port; patch and internal ports; a reader that
# never reads does not slow the switch (drops are counted and reported);
# Ctrl-C, a killed kvnetctl and a deleted port end captures without leaving a
# tap behind.
source "$(dirname "$0")/lib.sh" "$@"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
PIDS=()
EXTRA_CLEANUP='for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done'
START=$SECONDS

MA=02:93:00:00:00:01 MB=02:93:00:00:00:02
A=10.93.0.1 B=10.93.0.2
# captures PORT: how many captures the port has (kvnetctl stats).
captures() { kctl stats "$1" --format json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)[0]["captures"])'; }
captures_are() { [ "$(captures "$1")" = "$2" ]; }
KC=$BIN/kvnetctl  # not the kctl function: signals must reach kvnetctl itself
# bg FILE command...: runs a command in the background, its output in FILE.
bg() {
  local f=$1
  shift
  "$@" >"$f" 2>"$f.err" &
  BG=$!
  PIDS+=($BG)
}
# finished PID SECONDS: waits for a background command to end by itself.
finished() {
  for _ in $(seq 1 $(($2 * 10))); do
    kill -0 "$1" 2>/dev/null || { wait "$1"; return $?; }
    sleep 0.1
  done
  fail "a capture did not end by itself within $2 s"
}

kvd_start
kctl add-br br0 >/dev/null
kctl ct add ${P}a --bridge br0 --ip $A/24 --mac $MA >/dev/null
kctl ct add ${P}b --bridge br0 --ip $B/24 --mac $MB >/dev/null
PA=ct-${P}a
wait_for 10 "a pings b" pings ${P}a $B 1
captures_are $PA 0 || fail "a port starts with captures"

# ---------------------------------------------------------------- pcap to tcpdump
# Two captures of the same port at once: a pcap stream into tcpdump and a
# file; --count ends both.
bg "$T/td.txt" bash -c "'$BIN/kvnetctl' capture $PA --filter icmp --count 4 -w - | tcpdump -enr - 2>/dev/null"
TD=$BG
bg "$T/c3" $KC capture $PA --filter icmp --count 3 -w "$T/c3.pcap"
C3=$BG
wait_for 5 "two captures on $PA" captures_are $PA 2
pings ${P}a $B 3 || fail "ping with two captures running"
finished $TD 10 || fail "kvnetctl capture | tcpdump failed: $(cat "$T/td.txt.err")"
finished $C3 10 || fail "capture --count 3 failed: $(cat "$T/c3.err")"
grep -q "$MA > $MB, ethertype IPv4 (0x0800), length 98: $A > $B: ICMP echo request" "$T/td.txt" ||
  { cat "$T/td.txt"; fail "tcpdump did not read a's echo request with its MACs from the stream"; }
grep -q "$MB > $MA, ethertype IPv4 (0x0800), length 98: $B > $A: ICMP echo reply" "$T/td.txt" ||
  { cat "$T/td.txt"; fail "tcpdump did not read b's echo reply"; }
[ "$(wc -l <"$T/td.txt")" = 4 ] || { cat "$T/td.txt"; fail "--count 4 did not give exactly 4 frames"; }
[ "$(tcpdump -nr "$T/c3.pcap" 2>/dev/null | wc -l)" = 3 ] || fail "--count 3 did not write exactly 3 frames"
grep -q "^3 packets captured, 0 dropped" "$T/c3.err" || { cat "$T/c3.err"; fail "no capture summary"; }
wait_for 5 "captures removed after --count" captures_are $PA 0
log "$((SECONDS - START)) s: pcap stream read by tcpdump, two captures at once, --count"

# ---------------------------------------------------------------- filters and direction
ip netns exec ${P}b iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
PIDS+=($!)
bg "$T/tcp.txt" $KC capture $PA --filter 'tcp port 5201' -s 128
TCPCAP=$BG
bg "$T/in.json" $KC capture $PA --direction in --filter 'icmp or tcp' -s 128 --format json
INCAP=$BG
wait_for 5 "the filter captures" captures_are $PA 2
wait_for 5 "iperf3 server" bash -c "ip netns exec ${P}b ss -ltn | grep -q :5201"
ip netns exec ${P}a iperf3 -c $B -p 5201 -t 1 >/dev/null 2>&1 || fail "iperf3 through captures"
pings ${P}a $B 2 || fail "ping through captures"
kill -INT $TCPCAP $INCAP
finished $TCPCAP 5 || fail "Ctrl-C did not end the capture cleanly"
finished $INCAP 5 || fail "Ctrl-C did not end the JSON capture cleanly"
grep -q " $PA in  $MA > $MB, IPv4, $A\.[0-9]* > $B\.5201: TCP \[" "$T/tcp.txt" ||
  { head -3 "$T/tcp.txt"; fail "no summary line of a's TCP to port 5201"; }
grep -q " $PA out $MB > $MA, IPv4, $B\.5201 > $A\.[0-9]*: TCP \[" "$T/tcp.txt" ||
  { head -3 "$T/tcp.txt"; fail "no summary line of b's TCP from port 5201"; }
grep -v "TCP \[" "$T/tcp.txt" | grep -q . && { grep -v "TCP \[" "$T/tcp.txt" | head -3; fail "'tcp port 5201' let other frames through"; }
grep -q "packets captured, 0 dropped" "$T/tcp.txt.err" || { cat "$T/tcp.txt.err"; fail "no summary after Ctrl-C"; }
"$PY" - "$T/in.json" "$MA" <<'EOF' || fail "--direction in / --format json"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
pk, end = lines[:-1], lines[-1]
assert end["type"] == "end" and end["captured"] == len(pk) and end["dropped"] == 0, end
assert any("ICMP echo request" in p["summary"] for p in pk), "no echo request"
assert any("TCP" in p["summary"] for p in pk), "no TCP"
for p in pk:
    assert p["direction"] == "in" and p["src"] == sys.argv[2], p
    assert "echo reply" not in p["summary"], p
EOF
wait_for 5 "captures removed after Ctrl-C" captures_are $PA 0
log "$((SECONDS - START)) s: filters, --direction in, summaries and JSON lines"

# ---------------------------------------------------------------- errors
expect_error "bad filter" 1 "filter 'tcp prot 80' is not a valid capture filter: " kctl capture $PA --filter 'tcp prot 80'
expect_error "missing port" 1 "port 'nope' does not exist" kctl capture nope
expect_error "bad direction" 2 "direction" kctl capture $PA --direction sideways
captures_are $PA 0 || fail "a refused capture left a tap"

# ---------------------------------------------------------------- patch and internal ports
# br1 hangs off br0 by a patch pair and has an internal port: a's broadcast
# ARP leaves br0 through the patch port, enters br1 through its peer and
# leaves through the internal port.
kctl add-br br1 type=hub >/dev/null
kctl add-port br0 ${P}p type=patch peer=br1/${P}q >/dev/null
kctl add-port br1 ${P}q type=patch peer=br0/${P}p >/dev/null
kctl add-port br1 ${P}i type=internal >/dev/null
bg "$T/p.json" $KC capture ${P}p --direction out --filter "arp and ether src $MA" --count 1 --format json
PC=$BG
bg "$T/q.json" $KC capture ${P}q --direction in --filter "arp and ether src $MA" --count 1 --format json
QC=$BG
bg "$T/i.pcap" $KC capture ${P}i --direction out --filter "arp and ether src $MA" --count 1 -w -
IC=$BG
wait_for 5 "patch and internal captures" bash -c "[ \$($BIN/kvnetctl stats --format json | $PY -c 'import json,sys; print(sum(r[\"captures\"] for r in json.load(sys.stdin)))') = 3 ]"
ip netns exec ${P}a ping -c 2 -W 1 10.93.0.77 >/dev/null 2>&1 || true  # unanswered: ARP requests
finished $PC 10 || fail "patch port capture: $(cat "$T/p.json.err")"
finished $QC 10 || fail "patch peer capture: $(cat "$T/q.json.err")"
finished $IC 10 || fail "internal port capture: $(cat "$T/i.pcap.err")"
grep -q '"direction":"out".*"ethertype":"ARP".*"summary":"Request who-has 10.93.0.77' "$T/p.json" ||
  { cat "$T/p.json"; fail "patch port: no ARP request sent"; }
grep -q '"direction":"in".*"ethertype":"ARP"' "$T/q.json" || { cat "$T/q.json"; fail "patch peer: no ARP received"; }
tcpdump -enr "$T/i.pcap" 2>/dev/null | grep -q "$MA > ff:ff:ff:ff:ff:ff, ethertype ARP" ||
  fail "internal port: no ARP in its pcap stream"
log "$((SECONDS - START)) s: patch ports (both ends) and an internal port"

# ---------------------------------------------------------------- a reader that never reads
# A FIFO opened but never read: kvnetctl blocks writing to it, kvnetd
# stops sending, the capture's buffer fills, and the switch goes on.
mkfifo "$T/fifo"
sleep 600 <"$T/fifo" &  # the reader: opens the FIFO and never reads
READER=$!
PIDS+=($READER)
bg "$T/slow" $KC capture $PA -w "$T/fifo"
SLOW=$BG
wait_for 5 "the slow capture" captures_are $PA 1
ip netns exec ${P}b iperf3 -s -1 -p 5202 >/dev/null 2>&1 &
PIDS+=($!)
wait_for 5 "iperf3 server" bash -c "ip netns exec ${P}b ss -ltn | grep -q :5202"
ip netns exec ${P}a iperf3 -c $B -p 5202 -t 2 -J >"$T/iperf.json" 2>&1 || fail "iperf3 with a stalled capture"
"$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); bps=r["end"]["sum_received"]["bits_per_second"]; print(f"{bps/1e6:.0f} Mbit/s"); assert bps > 10e6, bps' \
  "$T/iperf.json" >"$T/bps" || fail "forwarding slowed down by a stalled capture: $(cat "$T/bps")"
pings ${P}a $B 3 || fail "ping with a stalled capture"
kill -0 $SLOW || fail "the stalled kvnetctl died"
kill $READER  # the reader goes away: kvnetctl ends the capture and reports
finished $SLOW 10 || fail "stalled capture did not end when its reader went: $(cat "$T/slow.err")"
grep -qE "^[0-9]+ packets captured, [1-9][0-9]* dropped" "$T/slow.err" ||
  { cat "$T/slow.err"; fail "no capture drops reported after a stalled reader"; }
wait_for 5 "stalled capture removed" captures_are $PA 0
log "$((SECONDS - START)) s: a stalled reader: $(cat "$T/bps") through the switch, $(tail -1 "$T/slow.err")"

# ---------------------------------------------------------------- killed client, deleted port
bg "$T/k" $KC capture $PA -w /dev/null
K=$BG
wait_for 5 "capture before kill" captures_are $PA 1
kill -9 $K
wait_for 5 "a killed kvnetctl's tap removed" captures_are $PA 0
pings ${P}a $B 1 || fail "ping after a killed capture"
bg "$T/del" $KC capture ${P}i
D=$BG
wait_for 5 "capture of the internal port" captures_are ${P}i 1
kctl del-port ${P}i >/dev/null
finished $D 5 || fail "capture of a deleted port did not end cleanly: $(cat "$T/del.err")"
grep -q "port '${P}i' was deleted" "$T/del.err" || { cat "$T/del.err"; fail "no word of the deleted port"; }
kctl list-br >/dev/null || fail "kvnetd unhealthy after the captures"
kill -0 "$KVD_PID" || fail "kvnetd died"
log "$((SECONDS - START)) s: killed client and deleted port end captures, no tap left"

# kvnetd stopping ends its captures with their counters.
bg "$T/stop" $KC capture $PA
S=$BG
wait_for 5 "capture before stopping kvnetd" captures_are $PA 1
kvd_stop
finished $S 5 || fail "capture did not end cleanly when kvnetd stopped: $(cat "$T/stop.err")"
grep -q "capture ended: kvnetd is stopping" "$T/stop.err" || { cat "$T/stop.err"; fail "no word of kvnetd stopping"; }
log "$((SECONDS - START)) s: kvnetd stopping ends captures; a summary line: $(head -1 "$T/tcp.txt")"
log PASS
