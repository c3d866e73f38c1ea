#!/usr/bin/env bash
# Overlay MTU: endpoints on a bridge whose tunnel carries less than 1500
# bytes get the MTU it carries, and what still does not fit is answered with
# ICMP "fragmentation needed", as a router would.
#
#   underlay: hosts h1, h2 are namespaces joined by a veth (10.97.0.1-2/24,
#   MTU 1500), each with its own kvnetd; bridge ov on each with a VXLAN port
#   to the other (inner MTU 1500 - 50 = 1450) and a container.
#
# 1. The containers' veths (both ends) get 1450 without asking; `show` and
#    `ct list` say so; TCP (iperf3) between them completes.
# 2. A container whose port is given mtu=1500 (the user's word wins, applied
#    to the running container) sends `ping -M do -s 1472`: the answer is
#    "Frag needed ... mtu = 1450" from the destination, the kernel caches
#    the path MTU, and TCP from it completes too (path MTU discovery);
#    IPv6 (link-local) gets "Packet too big: mtu=1450".
# 3. A ping without DF of the same size is not answered with an ICMP error
#    (IPv4 without DF: a router would fragment; kvnet drops it, counted).
source "$(dirname "$0")/lib.sh" "$@"


ip netns add ${P}h1
ip netns add ${P}h2
ip link add ${P}u1 type veth peer name ${P}u2
for i in 1 2; do
  ip link set ${P}u$i netns ${P}h$i
  ip -n ${P}h$i addr add 10.97.0.$i/24 dev ${P}u$i
  ip -n ${P}h$i link set ${P}u$i up
  ip -n ${P}h$i link set lo up
  host_kvnetd h$i ${P}h$i
  hctl h$i add-br ov >/dev/null
  expect_ok "vxlan port on h$i" hctl h$i add-port ov vx type=vxlan vni=4100 remote_ip=10.97.0.$((3 - i)) local_ip=10.97.0.$i
  expect_ok "container on h$i" hctl h$i ct add ${P}c$i --bridge ov --ip 192.168.61.$i/24
done
log "two hosts, a VXLAN tunnel over a 1500-byte underlay, a container on each side"

# 1. The MTU the bridge carries, given to the containers.
mtu_of() { ip -n "$1" -o link show "$2" | sed -n 's/.* mtu \([0-9]*\) .*/\1/p'; }
for i in 1 2; do
  [ "$(mtu_of ${P}c$i eth0)" = 1450 ] || { ip -n ${P}c$i link show eth0; fail "container c$i's eth0 has MTU $(mtu_of ${P}c$i eth0), not 1450"; }
  [ "$(mtu_of ${P}h$i ct-${P}c$i)" = 1450 ] || fail "the host end of c$i's veth has MTU $(mtu_of ${P}h$i ct-${P}c$i), not 1450"
done
hctl h1 show --format json | python3 -c '
import json, sys
r = json.load(sys.stdin)
b = [b for b in r["bridges"] if b["name"] == "ov"][0]
assert b.get("carried_mtu") == 1450, b.get("carried_mtu")
assert [c["mtu"] for c in r["containers"]] == [1450], r["containers"]' || fail "show does not report the carried MTU 1450"
hctl h1 ct list | grep -E "${P}c1 .* 1450 " >/dev/null || { hctl h1 ct list; fail "ct list does not show MTU 1450"; }
log "the containers' veths got MTU 1450 (both ends); show and ct list report it"

iperf() {  # FROM_NS TO_ADDR SERVER_NS: the transfer must complete and move data
  ip netns exec "$3" iperf3 -s -1 >/dev/null 2>&1 &
  local srv=$!
  wait_for 10 "iperf3 server listening" ip netns exec "$3" sh -c 'ss -ltn | grep -q ":5201 "'
  local out
  out=$(ip netns exec "$1" timeout 20 iperf3 -c "$2" -t 2 -J 2>&1) || { echo "$out" | tail -5; kill $srv 2>/dev/null; return 1; }
  wait $srv 2>/dev/null || true
  echo "$out" | python3 -c 'import json,sys; b=json.load(sys.stdin)["end"]["sum_received"]["bytes"]; assert b > 1000000, "only %d bytes moved" % b; print(b)'
}
pings ${P}c1 192.168.61.2 3 || fail "c1 cannot ping c2 over the tunnel"
b=$(iperf ${P}c1 192.168.61.2 ${P}c2) || fail "TCP between the containers stalls"
log "TCP from c1 to c2 completed: $b bytes"

# 2. The user's mtu wins; the oversized ping gets an ICMP error back.
expect_ok "container c3 on h1" hctl h1 ct add ${P}c3 --bridge ov --ip 192.168.61.3/24
[ "$(mtu_of ${P}c3 eth0)" = 1450 ] || fail "c3 got MTU $(mtu_of ${P}c3 eth0)"
expect_ok "mtu=1500 on c3's port" hctl h1 set port ct-${P}c3 mtu=1500
[ "$(mtu_of ${P}c3 eth0)" = 1500 ] || fail "c3's eth0 kept MTU $(mtu_of ${P}c3 eth0) although its port says mtu=1500"
[ "$(mtu_of ${P}h1 ct-${P}c3)" = 1500 ] || fail "c3's host end kept MTU $(mtu_of ${P}h1 ct-${P}c3)"
pings ${P}c3 192.168.61.2 2 || fail "c3 cannot ping c2"
ip netns exec ${P}c3 ping -n -M do -s 1472 -c 2 -i 0.3 -W 2 192.168.61.2 >"$T/ping.txt" 2>&1 || true
grep -E "From 192\.168\.61\.2 .*Frag needed.*mtu = 1450" "$T/ping.txt" >/dev/null ||
  { cat "$T/ping.txt"; fail "ping -M do -s 1472 got no 'Frag needed (mtu = 1450)' back"; }
ip -n ${P}c3 route get 192.168.61.2 | grep -E "mtu 1450" >/dev/null ||
  { ip -n ${P}c3 route get 192.168.61.2; fail "c3's kernel did not take the path MTU from the ICMP error"; }
# The same in IPv6, between the containers' link-local addresses: "packet too big".
ll2=$(ip -n ${P}c2 -6 -o addr show dev eth0 scope link | awk '{print $4}' | cut -d/ -f1)
[ -n "$ll2" ] || fail "c2 has no link-local address"
wait_for 10 "c3 reaches c2 over IPv6" ip netns exec ${P}c3 ping -6 -n -c 1 -W 1 "$ll2%eth0"
ip netns exec ${P}c3 ping -6 -n -M do -s 1452 -c 2 -i 0.3 -W 2 "$ll2%eth0" >"$T/ping6.txt" 2>&1 || true
grep -iE "From .*Packet too big: mtu=1450" "$T/ping6.txt" >/dev/null ||
  { cat "$T/ping6.txt"; fail "ping -6 -M do -s 1452 got no 'Packet too big: mtu=1450' back"; }
log "ping -6 -M do -s 1452 from the MTU-1500 container: 'Packet too big: mtu=1450'"
too_big() { hctl h1 stats vx --format json | python3 -c '
import json, sys
print(sum(p.get("drops", {}).get("too_big", 0) for p in json.load(sys.stdin) if p["port"] == "vx"))'; }
n=$(too_big)
[ "${n:-0}" -ge 1 ] || { hctl h1 stats; fail "too_big is not counted on the tunnel port"; }
log "ping -M do -s 1472 from an MTU-1500 container: 'Frag needed (mtu = 1450)' from 192.168.61.2, path MTU cached; too_big $n"
ip -n ${P}c3 route flush cache 2>/dev/null || true
b=$(iperf ${P}c3 192.168.61.2 ${P}c2) || fail "TCP from the MTU-1500 container stalls (no path MTU discovery)"
log "TCP from the MTU-1500 container completed through path MTU discovery: $b bytes"

# 3. No DF: no ICMP error (a router would fragment), the drop still counted.
before=$(too_big)
ip netns exec ${P}c3 ping -n -M dont -s 1472 -c 2 -i 0.3 -W 1 192.168.61.2 >"$T/ping2.txt" 2>&1 || true
if grep -q "Frag needed" "$T/ping2.txt"; then cat "$T/ping2.txt"; fail "a packet without DF was answered with Frag needed"; fi
after=$(too_big)
[ "$after" -gt "$before" ] || fail "the oversized packet without DF was not counted as too_big ($before -> $after)"
log "without DF: dropped and counted ($before -> $after), no ICMP error"
log "PASS"
