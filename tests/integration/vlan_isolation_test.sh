#!/usr/bin/env bash
# VLAN isolation with real network stacks: access VLANs, a trunk between two
# bridges joined by patch ports, and hybrid ports as in the seed.
source "$(dirname "$0")/lib.sh" "$@"
kvd_start
kctl add-br brA >/dev/null
kctl add-br brB >/dev/null
# Four containers: two on access VLAN 10, two on VLAN 20, spread over both bridges.
kctl ct add ${P}a --bridge brA --ip 10.80.0.1/24 vlan_mode=access pvid=10 >/dev/null
kctl ct add ${P}b --bridge brB --ip 10.80.0.2/24 vlan_mode=access pvid=10 >/dev/null
kctl ct add ${P}c --bridge brA --ip 10.80.0.3/24 vlan_mode=access pvid=20 >/dev/null
kctl ct add ${P}d --bridge brB --ip 10.80.0.4/24 vlan_mode=access pvid=20 >/dev/null
# The trunk: a patch pair, added one end at a time as with ovs-vsctl.
kctl add-port brA ${P}pa type=patch peer=brB/${P}pb vlan_mode=trunk allowed=10,20 >/dev/null
kctl add-port brB ${P}pb type=patch peer=brA/${P}pa vlan_mode=trunk allowed=10,20 >/dev/null

pings ${P}a 10.80.0.2 || fail "VLAN 10 across the trunk: a cannot reach b"
pings ${P}c 10.80.0.4 || fail "VLAN 20 across the trunk: c cannot reach d"
no_ping ${P}a 10.80.0.3 || fail "VLAN 10 reached VLAN 20 (a -> c)"
no_ping ${P}a 10.80.0.4 || fail "VLAN 10 reached VLAN 20 (a -> d)"
no_ping ${P}b 10.80.0.3 || fail "VLAN 10 reached VLAN 20 (b -> c)"
log "access VLANs isolated, trunk carries both"

# Only VLAN 10 on the trunk now: VLAN 20 across the bridges stops.
kctl set port ${P}pa allowed=10 >/dev/null
kctl set port ${P}pb allowed=10 >/dev/null
pings ${P}a 10.80.0.2 || fail "VLAN 10 stopped when VLAN 20 was removed from the trunk"
no_ping ${P}c 10.80.0.4 || fail "VLAN 20 still crosses a trunk that does not allow it"
log "trunk allowed list applies live"

# Hybrid ports as in the seed, the classic shared-server layout: h1 (pvid 10)
# and h2 (pvid 20) each reach the server s (pvid 30), whose replies leave
# untagged on their ports, but not each other.
kctl ct add ${P}h1 --bridge brA --ip 10.83.0.1/24 vlan_mode=hybrid pvid=10 untagged=10,30 >/dev/null
kctl ct add ${P}h2 --bridge brA --ip 10.83.0.2/24 vlan_mode=hybrid pvid=20 untagged=20,30 >/dev/null
kctl ct add ${P}s --bridge brA --ip 10.83.0.9/24 vlan_mode=hybrid pvid=30 untagged=10,20,30 >/dev/null
pings ${P}h1 10.83.0.9 || fail "hybrid: h1 cannot reach the server"
pings ${P}h2 10.83.0.9 || fail "hybrid: h2 cannot reach the server"
no_ping ${P}h1 10.83.0.2 || fail "hybrid: h1 reaches h2"
kctl set port ct-${P}h1 untagged=10 >/dev/null
no_ping ${P}h1 10.83.0.9 || fail "hybrid: h1 still reaches the server after leaving VLAN 30"
log "hybrid ports follow the seed's rules"

# A tagged host: a trunk-mode container whose stack sends VLAN 10 tagged.
# (802.1Q sub-interfaces are not in this kernel; the tagged side is checked by
# capture instead: frames from VLAN 20 reach a trunk port tagged 20.)
kctl ct add ${P}t --bridge brA --ip 10.81.0.1/24 vlan_mode=trunk pvid=1 allowed=1,20 >/dev/null
ip netns exec ${P}t timeout 5 tcpdump -l -nn -e -i eth0 -c 1 'vlan 20 and arp' >"$T/t.cap" 2>/dev/null &
CAP=$!
sleep 1
ip netns exec ${P}c ping -c 2 -W 1 10.80.0.77 >/dev/null 2>&1 || true
wait $CAP || true
grep -q "vlan 20" "$T/t.cap" || { cat "$T/t.cap"; fail "trunk port did not send VLAN 20 tagged"; }
log "trunk sends other VLANs tagged"
log "PASS"
