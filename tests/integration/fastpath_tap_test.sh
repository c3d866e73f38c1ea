#!/usr/bin/env bash
# The fast path on TAPs whose fd kvnetd holds (`internal` and `tap` ports):
# what the interface sends is forwarded by the program on its tc egress, what
# is for it is delivered as received by it (BPF_F_INGRESS), both ways between
# the host's internal port and a container; the counters see it; a TAP
# moved to another namespace is never a fast-path end (its program would
# redirect to that namespace's indexes) and still works through the slow path.
#
#   namespace ${P}h (the host, kvnetd in it): internal port ${P}i 10.92.0.1
#   container ${P}c 10.92.0.2 on br0; tap port ${P}t moved into ${P}n (10.92.0.3)
source "$(dirname "$0")/lib.sh" "$@"
[ "${KVNET_FAST_PATH:-}" = off ] && { log "KVNET_FAST_PATH=off: this test is about the fast path; it runs with it on"; unset KVNET_FAST_PATH; }
command -v iperf3 >/dev/null || fail "iperf3 is not installed (./run installs it)"
ip netns add ${P}h
ip netns add ${P}n
ip -n ${P}h link set lo up
kvd_start ${P}h
show() { kctl fastpath show --format json; }
[ "$(show | field 'd["enabled"]')" = True ] || { show; fail "the fast path is not on"; }

kctl add-br br0 >/dev/null
kctl add-port br0 ${P}i type=internal >/dev/null || fail "add internal port"
ip -n ${P}h addr add 10.92.0.1/24 dev ${P}i
ip -n ${P}h link set ${P}i up
kctl ct add ${P}c --bridge br0 --ip 10.92.0.2/24 >/dev/null || fail "ct add"
ports=$(show | field 'd["ports"]')
[ "$ports" = 2 ] || { show; fail "the fast path serves $ports ports, not the internal port and the container's veth"; }

pings ${P}h 10.92.0.2 5 || fail "the host cannot reach the container through its internal port"
dump=$(kctl fastpath dump)
echo "$dump" | grep -Eq "in_port\(br0/${P}i\).*(output|redirect_peer)\(br0/ct-${P}c\)" ||
  { echo "$dump"; fail "no entry from the internal port to the container"; }
echo "$dump" | grep -Eq "in_port\(br0/ct-${P}c\).*output\(br0/${P}i\)" ||
  { echo "$dump"; fail "no entry from the container to the internal port"; }
log "entries both ways between the internal port and the container"

# TCP both ways: most frames never reach kvnetd; the counters see them all.
for dir in to from; do
  if [ $dir = to ]; then srv=${P}c cli=${P}h addr=10.92.0.2; else srv=${P}h cli=${P}c addr=10.92.0.1; fi
  ip netns exec $srv iperf3 -s -1 -D -p 5302 >/dev/null 2>&1
  wait_for 5 "iperf3 listens" ip netns exec $srv bash -c 'ss -ltn | grep -q :5302'
  hits0=$(show | field 'd["hits"]')
  tx0=$(kctl stats --format json | field '[p["tx_packets"] for p in d if p["port"]=="'${P}i'"][0]')
  ip netns exec $cli iperf3 -c $addr -p 5302 -t 2 -J >"$T/iperf.json" || fail "iperf3 $dir the container failed"
  sent=$(field 'd["end"]["sum_sent"]["bytes"]' <"$T/iperf.json")
  [ "$sent" -gt 10000000 ] || fail "iperf3 $dir the container sent only $sent bytes"
  hits=$(( $(show | field 'd["hits"]') - hits0 ))
  [ "$hits" -gt 1000 ] || { show; fail "only $hits frames forwarded in the kernel during iperf3 $dir the container"; }
  # What went into the internal port in the kernel is in its tx counter.
  tx_ok() { [ "$(kctl stats --format json | field '[p["tx_packets"] for p in d if p["port"]=="'${P}i'"][0]')" -gt $((tx0 + 500)) ]; }
  wait_for 3 "the internal port's tx counter to count the kernel's frames" tx_ok
  log "iperf3 $dir the container: $(field 'round(d["end"]["sum_received"]["bits_per_second"]/1e9, 2)' <"$T/iperf.json") Gbit/s, $hits frames in the kernel"
done

# A tap port moved into another namespace: the slow path carries it, the
# fast path never names it.
kctl add-port br0 ${P}t type=tap >/dev/null || fail "add tap port"
ip -n ${P}h link set ${P}t netns ${P}n
ip -n ${P}n addr add 10.92.0.3/24 dev ${P}t
ip -n ${P}n link set ${P}t up
ip -n ${P}n link set lo up
pings ${P}n 10.92.0.2 5 || fail "the moved TAP's namespace cannot reach the container"
ip netns exec ${P}n iperf3 -s -1 -D -p 5303 >/dev/null 2>&1
wait_for 5 "iperf3 listens in ${P}n" ip netns exec ${P}n bash -c 'ss -ltn | grep -q :5303'
ip netns exec ${P}c iperf3 -c 10.92.0.3 -p 5303 -t 1 >/dev/null 2>&1 || fail "iperf3 to the moved TAP failed"
kctl fastpath dump | grep -q "br0/${P}t)" && { kctl fastpath dump; fail "an entry names the TAP moved to another namespace"; }
log "a TAP moved to another namespace: carried by the slow path, never in a fast-path entry"
log "PASS"
