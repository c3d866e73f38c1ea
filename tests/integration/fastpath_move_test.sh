#!/usr/bin/env bash
# The kernel fast path's coherence bound for a station that moves
# (docs/architecture.md, "Coherence"): a pings b every 10 ms, in the kernel
# by an entry a -> b's MAC; then c takes b's MAC and speaks (its ARP
# request teaches the bridge the move). The first of a's echo requests to
# reach c's port must arrive within 100 ms of c's first frame, both seen by
# one tcpdump in c (one clock); and the entry that carries a's pings then
# names c's port.
source "$(dirname "$0")/lib.sh" "$@"
[ "${KVNET_FAST_PATH:-}" = off ] && { log "KVNET_FAST_PATH=off: this test is about the fast path; it runs with it on"; unset KVNET_FAST_PATH; }
kvd_start
show() { kctl fastpath show --format json "$@"; }
[ "$(show | field 'd["enabled"]')" = True ] || fail "the fast path is not on"

M=02:00:00:94:00:0b
kctl add-br br0 >/dev/null
kctl ct add ${P}a --bridge br0 --ip 10.94.0.1/24 >/dev/null
kctl ct add ${P}b --bridge br0 --ip 10.94.0.2/24 --mac $M >/dev/null
kctl ct add ${P}c --bridge br0 --ip 10.94.0.3/24 >/dev/null
pings ${P}a 10.94.0.2 3 || fail "a cannot ping b"

# a's pings to b's IP (hence b's MAC) every 10 ms, until the test ends.
ip netns exec ${P}a ping -n -i 0.01 10.94.0.2 >/dev/null 2>&1 &
PING_PID=$!
HOST_PIDS+=("$PING_PID")
wait_for 5 "a's pings are forwarded in the kernel" bash -c \
  "$BIN/kvnetctl fastpath dump | grep -Eq 'in_port\(br0/ct-${P}a\).*dst=$M.*\(br0/ct-${P}b\)'"

ip netns exec ${P}c tcpdump -i eth0 -nn -e -tt --time-stamp-precision=micro -l -B 4096 \
  "ether src $M or (icmp[icmptype] == icmp-echo and dst host 10.94.0.2)" >"$T/cap.txt" 2>"$T/cap.err" &
CAP=$!
HOST_PIDS+=("$CAP")
wait_for 10 "tcpdump listens" grep -q "listening on" "$T/cap.err"

# c becomes b's MAC and speaks: b is silent from now on (its link down).
ip -n ${P}b link set eth0 down
ip -n ${P}c link set eth0 address $M
ip netns exec ${P}c ping -c 1 -W 1 10.94.0.1 >/dev/null 2>&1 || true  # its ARP request first
wait_for 5 "a's pings reach c" bash -c "grep -q 'ICMP echo request' '$T/cap.txt'"
kill "$CAP" 2>/dev/null
wait "$CAP" 2>/dev/null || true

python3 - "$T/cap.txt" "$M" <<'PY' || fail "a's frames reached b's MAC at its new port too late (bound: 100 ms)"
import sys
lines = [l.split() for l in open(sys.argv[1]) if l.strip()]
mac = sys.argv[2]
moved = [float(l[0]) for l in lines if l[1] == mac]           # c's own frames: src M
echo = [float(l[0]) for l in lines if "echo" in " ".join(l) and l[1] != mac]
assert moved, "c sent nothing from %s" % mac
assert echo, "no echo request of a reached c"
t0 = moved[0]
first = min(t for t in echo if t >= t0 - 0.001)
late = (first - t0) * 1000
print("first of a's echo requests at c %.1f ms after c's first frame from %s" % (late, mac))
sys.exit(0 if late <= 100 else 1)
PY
dump=$(kctl fastpath dump)
echo "$dump" | grep -Eq "in_port\(br0/ct-${P}a\).*dst=$M.*(output|redirect_peer)\(br0/ct-${P}c\)" ||
  { echo "$dump"; fail "no entry sends a's frames for $M to c's port"; }
if echo "$dump" | grep "dst=$M" | grep "(br0/ct-${P}b)" | grep -vq "(dead: "; then
  echo "$dump"
  fail "a live entry still sends $M to b's port"
fi
kill "$PING_PID" 2>/dev/null || true
log "a station that moved: a's frames reached its new port within the bound; the live entry names the new port"
log "PASS"
