#!/usr/bin/env bash
# A frame flood on one port does not starve the others: while one container
# blasts 64-byte UDP at another as fast as it can, two other containers keep
# pinging each other without loss.
source "$(dirname "$0")/lib.sh" "$@"
kvd_start
kctl add-br br0 >/dev/null
for i in 1 2 3 4; do kctl ct add ${P}$i --bridge br0 --ip 10.84.0.$i/24 >/dev/null; done
pings ${P}1 10.84.0.2 1 || fail "no connectivity 1 -> 2"
pings ${P}3 10.84.0.4 1 || fail "no connectivity 3 -> 4"
ip netns exec ${P}2 iperf3 -s -1 -D -p 5301 --logfile "$T/iperf-s.log"
sleep 0.3
ip netns exec ${P}1 timeout 20 iperf3 -u -b 0 -l 18 -c 10.84.0.2 -p 5301 -t 6 -J >"$T/flood.json" 2>&1 &
FLOOD=$!
sleep 1.5
ip netns exec ${P}3 ping -n -q -c 40 -i 0.05 -W 1 10.84.0.4 >"$T/ping.txt" 2>&1 || true
wait $FLOOD || true
received=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$T/ping.txt")
flood_pkts=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["end"]["sum"]["packets"])' "$T/flood.json" 2>/dev/null || echo 0)
log "flood: $flood_pkts UDP packets; meanwhile 3 -> 4: ${received:-0}/40 pings answered"
[ "$flood_pkts" -gt 10000 ] || fail "the flood did not run ($flood_pkts packets)"
[ "${received:-0}" -ge 38 ] || { cat "$T/ping.txt"; fail "pings starved during the flood"; }
log "PASS"
