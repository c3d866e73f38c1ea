#!/usr/bin/env bash
# kill -9 kvnetd under traffic, start it again: configuration restored, pings
# resume, nothing in the database lost or duplicated.
source "$(dirname "$0")/lib.sh" "$@"
kvd_start
kctl add-br br0 >/dev/null
kctl add-port br0 ${P}t type=internal >/dev/null
kctl ct add ${P}a --bridge br0 --ip 10.78.0.1/24 >/dev/null
kctl ct add ${P}b --bridge br0 --ip 10.78.0.2/24 vlan_mode=access pvid=1 >/dev/null
kctl fdb-add br0 1 02:00:00:00:00:99 ${P}t >/dev/null
pings ${P}a 10.78.0.2 || fail "no ping before restart"
dump() { sqlite3 "$T/kvnet.db" 'select name, bridge, type, spec from ports order by name; select * from bridges; select * from fdb; select name, port, ip from containers;'; }
before=$(dump)
kctl export >"$T/before.yaml"

ip netns exec ${P}a ping -n -i 0.05 -c 200 10.78.0.2 >"$T/ping.log" 2>&1 &
PING=$!
sleep 1
kvd_kill9
log "killed kvnetd with -9 under traffic"
kvd_start
wait $PING || true
log "$(tail -n 2 "$T/ping.log" | head -n 1)"
pings ${P}a 10.78.0.2 || fail "pings did not resume after restart"
[ "$(dump)" = "$before" ] || { diff <(echo "$before") <(dump); fail "database changed across the restart"; }
kctl export >"$T/after.yaml"
diff "$T/before.yaml" "$T/after.yaml" || fail "restored configuration differs"
kctl show | grep -q "Port ${P}t" || fail "internal port not restored"
ip link show ${P}t >/dev/null 2>&1 || fail "internal port's TAP was not re-created"
kctl fdb-show br0 | grep -qE "02:00:00:00:00:99 +static" || fail "static FDB entry lost"
# A vanished interface is reported, the rest keeps working.
kvd_stop
ip link del ${P}t 2>/dev/null || true
ip netns exec ${P}b ip link set eth0 down
ip link add ${P}x type veth peer name ${P}y
kvd_start
kctl add-port br0 ${P}x >/dev/null
kvd_stop
ip link del ${P}x
kvd_start
kctl show | grep -A3 "Port ${P}x" | grep -q "does not exist" || { kctl show; fail "vanished interface not reported"; }
ip netns exec ${P}b ip link set eth0 up
pings ${P}a 10.78.0.2 || fail "other ports stopped working with one interface missing"
ip link add ${P}x type veth peer name ${P}y
attached() { kctl show | grep -A3 "Port ${P}x" | grep -q "attached: system"; }
wait_for 10 "returned interface not re-attached" attached
# An interface deleted while kvnetd runs: the port is parked and reported,
# then re-attached when the interface returns.
ip link del ${P}x
went_away() { kctl show | grep -A3 "Port ${P}x" | grep -q "went away"; }
wait_for 10 "deleted interface not reported" went_away
ip link add ${P}x type veth peer name ${P}y
wait_for 10 "interface not re-attached after it came back" attached
pings ${P}a 10.78.0.2 || fail "traffic broke while an unrelated interface came and went"
# Changing a container's address re-creates its veth; its port follows.
kctl export | sed "s|10.78.0.2/24|10.78.0.3/24|" >"$T/moved.yaml"
expect_ok "apply a new container address" kctl apply "$T/moved.yaml"
pings ${P}a 10.78.0.3 || fail "no connectivity after the container was re-created"
log "PASS"
