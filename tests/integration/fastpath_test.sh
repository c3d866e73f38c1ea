#!/usr/bin/env bash
# The kernel fast path (docs/architecture.md, "Fast path"): established
# flows between containers are forwarded by kvnet's eBPF programs, installed
# after the slow path forwarded a frame; what the kernel forwarded reaches the
# ports' counters; a VLAN change, a removed port, fast_path=false and a
# flush take effect at once; a kvnetd killed with SIGKILL leaves no
# forwarding behind, and one restarted starts from an empty map.
source "$(dirname "$0")/lib.sh" "$@"
[ "${KVNET_FAST_PATH:-}" = off ] && { log "KVNET_FAST_PATH=off: this test is about the fast path; it runs with it on"; unset KVNET_FAST_PATH; }
kvd_start
show() { kctl fastpath show --format json "$@"; }
jfield() { show | field "$1"; }
[ "$(jfield 'd["enabled"]')" = True ] || { show; fail "the fast path is not on: $(jfield 'd.get("reason")')"; }
log "fast path on: $(jfield 'd["hook"]')"

kctl add-br br0 >/dev/null
kctl add-br br1 >/dev/null
# a and b on br0 (VLAN 10); c behind a trunk on br1 (VLAN 10 on the trunk,
# access there); d in VLAN 20.
kctl ct add ${P}a --bridge br0 --ip 10.91.0.1/24 vlan_mode=access pvid=10 >/dev/null
kctl ct add ${P}b --bridge br0 --ip 10.91.0.2/24 vlan_mode=access pvid=10 >/dev/null
kctl ct add ${P}d --bridge br0 --ip 10.91.0.4/24 vlan_mode=access pvid=20 >/dev/null
kctl ct add ${P}c --bridge br1 --ip 10.91.0.3/24 vlan_mode=access pvid=10 >/dev/null
kctl add-port br0 ${P}p0 type=patch peer=br1/${P}p1 vlan_mode=trunk allowed=10 >/dev/null
kctl add-port br1 ${P}p1 type=patch peer=br0/${P}p0 vlan_mode=trunk allowed=10 >/dev/null
ports=$(show | field 'd["ports"]')
[ "$ports" -ge 4 ] || fail "the fast path serves $ports ports, not the 4 containers' veths"

pings ${P}a 10.91.0.2 5 || fail "a cannot reach b"
pings ${P}a 10.91.0.3 5 || fail "a cannot reach c across the trunk"
no_ping ${P}a 10.91.0.4 || fail "VLAN 10 reached VLAN 20"
dump=$(kctl fastpath dump)
echo "$dump" | grep -Eq "in_port\(br0/ct-${P}a\).*(output|redirect_peer)\(br0/ct-${P}b\)" ||
  { echo "$dump"; fail "no entry a -> b after pings"; }
echo "$dump" | grep -Eq "in_port\(br0/ct-${P}a\).*(output|redirect_peer)\(br1/ct-${P}c\)" ||
  { echo "$dump"; fail "no entry a -> c (through the patch pair) after pings"; }
log "entries installed: $(echo "$dump" | wc -l)"
# trace says which entry carries the live frames of a flow, or that none does.
MAC_A=$(ip netns exec ${P}a cat /sys/class/net/eth0/address)
MAC_B=$(ip netns exec ${P}b cat /sys/class/net/eth0/address)
pings ${P}a 10.91.0.2 2 || fail "a cannot reach b (before trace)"
tr=$(kctl trace br0 in_port=ct-${P}a dl_src=$MAC_A,dl_dst=$MAC_B,icmp,nw_src=10.91.0.1,nw_dst=10.91.0.2)
echo "$tr" | grep -A1 "fast path: live frames of this flow are forwarded in the kernel by" | grep -q "in_port(br0/ct-${P}a)" ||
  { echo "$tr"; fail "trace does not name the entry that carries a -> b"; }
tr=$(kctl trace br0 in_port=ct-${P}a dl_src=$MAC_A,dl_dst=02:00:00:00:99:99,icmp)
echo "$tr" | grep -q "fast path: no entry" || { echo "$tr"; fail "trace of an unknown destination claims a fast-path entry"; }
log "trace names the entry of a flow in the kernel"

# TCP: the bulk goes through the kernel; the ports' counters see it.
ip netns exec ${P}b iperf3 -s -1 -D -p 5301 >/dev/null 2>&1
wait_for 5 "iperf3 listens" ip netns exec ${P}b bash -c 'ss -ltn | grep -q :5301'
rx0=$(kctl stats --format json | field '[p["rx_packets"] for p in d if p["port"]=="ct-'${P}'a"][0]')
hits0=$(jfield 'd["hits"]')
ip netns exec ${P}a iperf3 -c 10.91.0.2 -p 5301 -t 2 -J >"$T/iperf.json" || fail "iperf3 a -> b failed"
sent=$(field 'd["end"]["sum_sent"]["bytes"]' <"$T/iperf.json")
[ "$sent" -gt 10000000 ] || fail "iperf3 sent only $sent bytes"
hits=$(( $(jfield 'd["hits"]') - hits0 ))
[ "$hits" -gt 1000 ] || { show; fail "only $hits frames forwarded in the kernel during iperf3"; }
# Statistics flow back within a second.
want=$((rx0 + hits / 2))
wait_for 3 "ct-${P}a's rx counter takes in what the kernel forwarded" bash -c \
  "[ \$($BIN/kvnetctl stats --format json | python3 -c 'import json,sys; print([p[\"rx_packets\"] for p in json.load(sys.stdin) if p[\"port\"]==\"ct-${P}a\"][0])') -ge $want ]"
log "iperf3: $((sent / 1000000)) MB, $hits frames in the kernel, counters caught up"

# A VLAN change outdates the cached decision at once.
kctl set port ct-${P}b pvid=20 >/dev/null
no_ping ${P}a 10.91.0.2 || fail "a still reaches b after b moved to VLAN 20 (a stale fast-path entry)"
kctl set port ct-${P}b pvid=10 >/dev/null
pings ${P}a 10.91.0.2 || fail "a cannot reach b after b came back to VLAN 10"
log "a VLAN change takes effect at once"

# fast_path=false on br0: nothing of br0 stays cached, traffic still flows.
kctl set bridge br0 fast_path=false >/dev/null
[ "$(kctl fastpath show --bridge br0 --format json | field 'd["bridges"][0]["entries"]')" = 0 ] ||
  fail "br0 has live entries with fast_path=false"
hits0=$(jfield 'd["hits"]')
pings ${P}a 10.91.0.2 5 || fail "a cannot reach b with br0's fast path off"
[ "$(jfield 'd["hits"]')" = "$hits0" ] || fail "frames were forwarded in the kernel with br0's fast path off"
kctl set bridge br0 fast_path=true >/dev/null
pings ${P}a 10.91.0.2 || fail "a cannot reach b with the fast path back"
log "fast_path=false keeps a bridge on the slow path"

# flush empties the map; entries come back with traffic.
kctl fastpath flush | grep -q '^flushed' || fail "fastpath flush said nothing"
[ "$(jfield 'd["entries"]')" = 0 ] || fail "entries left after a flush"
pings ${P}a 10.91.0.2 || fail "a cannot reach b after a flush"
[ "$(jfield 'd["entries"]')" -gt 0 ] || fail "no entry came back after a flush"

# A removed port's entries go with it.
kctl ct del ${P}c >/dev/null
kctl fastpath dump | grep -q "ct-${P}c" && fail "entries of a removed port remain"
log "flush and port removal empty what they must"

# SIGKILL: the tcx links die with kvnetd's fds, so nothing forwards.
pings ${P}a 10.91.0.2 || fail "a cannot reach b before the kill"
kvd_kill9
no_ping ${P}a 10.91.0.2 || fail "frames still forwarded with kvnetd killed (stale fast path)"
kvd_start
[ "$(jfield 'd["entries"]')" = 0 ] || fail "a restarted kvnetd's map is not empty"
wait_for 10 "a reaches b after the restart" pings ${P}a 10.91.0.2
log "kill -9 leaves no forwarding behind; a restart starts empty"

# Off: kvnetd says so, naming why, and forwards in user space.
kvd_stop
KVNET_FAST_PATH=off kvd_start
[ "$(jfield 'd["enabled"]')" = False ] || fail "KVNET_FAST_PATH=off left the fast path on"
show | field 'd["reason"]' | grep -q KVNET_FAST_PATH || fail "the reason does not name KVNET_FAST_PATH"
wait_for 10 "a reaches b without the fast path" pings ${P}a 10.91.0.2
out=$(kctl fastpath dump 2>&1) && fail "fastpath dump without a fast path succeeded"
echo "$out" | grep -q "the fast path is off: KVNET_FAST_PATH=off" || fail "fastpath dump without a fast path said: $out"
grep -q "fast path: off: KVNET_FAST_PATH=off" "$T/kvnetd.log" || fail "kvnetd did not log why the fast path is off"
log "PASS"
