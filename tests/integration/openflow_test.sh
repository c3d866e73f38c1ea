#!/usr/bin/env bash
# A switch's OpenFlow tables driven with kvnetctl's ovs-ofctl verbs (issue
# 21): the default table (priority=0 actions=NORMAL), a drop flow that stops
# one destination (its counters move), mod-flows, del-flows, add-flows from
# a file (all or none), a table miss after del-flows (no_flow), trace
# naming the table and flow, and refusals naming the part.
source "$(dirname "$0")/lib.sh" "$@"
kvd_start
kctl add-br br0 >/dev/null
kctl add-br hub0 type=hub >/dev/null
for i in 1 2 3; do kctl ct add ${P}$i --bridge br0 --ip 10.79.0.$i/24 vlan_mode=access pvid=10 >/dev/null; done
A=ct-${P}1

kctl dump-flows br0 >"$T/flows"
grep -Eq '^ cookie=0x0, duration=[0-9.]+s, table=0, n_packets=0, n_bytes=0, priority=0 actions=NORMAL$' "$T/flows" ||
  { cat "$T/flows"; fail "the default table is not priority=0 actions=NORMAL"; }
pings ${P}1 10.79.0.2 || fail "1 cannot reach 2 with the default table"

# A drop flow for one destination; its counters move, the rest goes on.
expect_ok "add-flow" kctl add-flow br0 "priority=100,ip,nw_dst=10.79.0.2,actions=drop"
no_ping ${P}1 10.79.0.2 || fail "the drop flow does not stop 1 -> 2"
pings ${P}1 10.79.0.3 || fail "1 cannot reach 3 beside the drop flow"
n=$(kctl --format json dump-flows br0 "ip,nw_dst=10.79.0.2" | python3 -c 'import json,sys; f=json.load(sys.stdin); print(f[0]["n_packets"] if len(f)==1 else -1)')
[ "$n" -ge 2 ] || fail "the drop flow counted $n packets"
kctl dump-flows br0 | grep -q "priority=100,ip,nw_dst=10.79.0.2 actions=drop" || { kctl dump-flows br0; fail "dump-flows lacks the flow"; }
kctl trace br0 in_port=$A "dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:02,ip,nw_src=10.79.0.1,nw_dst=10.79.0.2" >"$T/trace"
grep -q "table 0: priority=100,ip,nw_dst=10.79.0.2, cookie=0x0 -> actions=drop" "$T/trace" || { cat "$T/trace"; fail "trace lacks the table step"; }
log "a drop flow: stops one destination, counts, is traced"

# mod-flows gives it NORMAL; del-flows takes it away.
expect_ok "mod-flows" kctl mod-flows br0 "ip,nw_dst=10.79.0.2,actions=NORMAL"
pings ${P}1 10.79.0.2 || fail "mod-flows to NORMAL does not let 1 -> 2 through"
expect_ok "del-flows" kctl del-flows br0 "priority=100,ip,nw_dst=10.79.0.2" --strict
[ "$(kctl dump-flows br0 | wc -l)" = 1 ] || { kctl dump-flows br0; fail "del-flows --strict left more than the default"; }

# add-flows: all or none.
printf '# in_port and IN_PORT\npriority=50,in_port=%s,icmp,actions=drop\npriority=40,arp,actions=NORMAL\n' ${P}x >"$T/bad.flows"
expect_error "a flows file with a bad line" 1 "port '${P}x' does not exist" kctl add-flows br0 "$T/bad.flows"
[ "$(kctl dump-flows br0 | wc -l)" = 1 ] || fail "a refused add-flows added some"
printf '# 3 cannot ping\npriority=50,in_port=ct-%s3,icmp,actions=drop\n\npriority=40,arp,actions=NORMAL\n' $P >"$T/good.flows"
expect_ok "add-flows" kctl add-flows br0 "$T/good.flows"
[ "$(kctl dump-flows br0 | wc -l)" = 3 ] || { kctl dump-flows br0; fail "add-flows did not add 2"; }
no_ping ${P}3 10.79.0.1 || fail "3 pings through its drop flow"
pings ${P}1 10.79.0.2 || fail "1 cannot reach 2 beside 3's drop flow"

# del-flows without a match: no flow at all, every frame a table miss.
expect_ok "del-flows all" kctl del-flows br0
[ "$(kctl dump-flows br0 | wc -l)" = 0 ] || fail "del-flows left flows"
no_ping ${P}1 10.79.0.2 || fail "frames pass with no flow"
drops=$(kctl --format json stats $A | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["drops"].get("no_flow", 0))')
[ "$drops" -gt 0 ] || fail "table misses are not counted as no_flow"
expect_ok "the default flow again" kctl add-flow br0 "priority=0,actions=NORMAL"
pings ${P}1 10.79.0.2 || fail "priority=0 actions=NORMAL does not switch again"
log "mod-flows, del-flows (--strict, all), add-flows (all or none), table miss counted"

# Timeouts: a hard one goes whatever the traffic, an idle one once idle.
expect_ok "a hard timeout" kctl add-flow br0 "priority=300,hard_timeout=1,ip,nw_dst=10.79.0.3,actions=drop"
expect_ok "an idle timeout" kctl add-flow br0 "priority=301,idle_timeout=2,ip,nw_dst=10.79.0.9,actions=drop"
kctl dump-flows br0 | grep -q "hard_timeout=1, priority=300" || { kctl dump-flows br0; fail "dump-flows lacks the hard timeout"; }
wait_for 10 "the flows expire" bash -c "! '$BIN/kvnetctl' dump-flows br0 | grep -q 'priority=30[01]'"
pings ${P}1 10.79.0.3 || fail "the expired drop flow still drops"
log "idle_timeout and hard_timeout expire flows"

# Refusals name the part; nothing changes.
before=$(kctl dump-flows br0 | sed 's/duration=[0-9.]*s, //')
expect_error "unsupported action" 1 "action 'CONTROLLER:65535' is not supported" kctl add-flow br0 "actions=CONTROLLER:65535"
expect_error "prerequisite" 1 "nw_src and nw_dst need ip or arp" kctl add-flow br0 "nw_dst=10.0.0.1,actions=drop"
expect_error "no such bridge" 1 "bridge 'nobr' does not exist" kctl add-flow nobr "actions=drop"
expect_error "a hub" 1 "OpenFlow tables are a switch's" kctl add-flow hub0 "actions=drop"
expect_error "no actions" 1 "a flow needs actions=" kctl add-flow br0 "priority=5"
[ "$(kctl dump-flows br0 | sed 's/duration=[0-9.]*s, //')" = "$before" ] || fail "a refused flow changed the tables"
log "PASS"
