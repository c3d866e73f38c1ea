#!/usr/bin/env bash
# Configuration changes reach the datapath without stopping it: while two
# containers ping each other continuously, other bridges and ports are added,
# reconfigured and removed, a topology is applied and the FDB flushed; not a
# single ping is lost.
source "$(dirname "$0")/lib.sh" "$@"
kvd_start
kctl add-br br0 >/dev/null
kctl ct add ${P}a --bridge br0 --ip 10.87.0.1/24 vlan_mode=access pvid=5 >/dev/null
kctl ct add ${P}b --bridge br0 --ip 10.87.0.2/24 vlan_mode=access pvid=5 >/dev/null
pings ${P}a 10.87.0.2 1 || fail "no connectivity"
ip netns exec ${P}a ping -n -q -i 0.02 -c 250 -W 1 10.87.0.2 >"$T/ping.txt" 2>&1 &
PING=$!
for i in 1 2 3; do
  kctl add-br ${P}x$i type=learning >/dev/null
  kctl add-port ${P}x$i ${P}i$i type=internal >/dev/null
  kctl add-port br0 ${P}j$i type=internal vlan_mode=trunk allowed=5,6 >/dev/null
  kctl set port ${P}j$i allowed=6 >/dev/null
  kctl set bridge br0 mac_aging=$((100 + i)) >/dev/null
  kctl fdb-add br0 6 02:00:00:00:00:0$i ${P}j$i >/dev/null
  kctl stats >/dev/null
  kctl fdb-flush br0 >/dev/null
  kctl del-port ${P}j$i >/dev/null
  kctl del-br ${P}x$i >/dev/null
done
kctl export >"$T/cfg.yaml"
kctl apply "$T/cfg.yaml" >/dev/null
wait $PING || true
sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$T/ping.txt")
got=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$T/ping.txt")
log "pings during reconfiguration: $got/$sent answered"
[ "${sent:-0}" -eq 250 ] && [ "${got:-0}" -eq 250 ] || { cat "$T/ping.txt"; fail "traffic on unrelated ports was disturbed"; }
kctl show | grep -q "${P}x" && fail "a removed bridge is still there"
log "PASS"
