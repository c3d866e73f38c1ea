#!/usr/bin/env bash
# The real ovs-vsctl (Debian's openvswitch-common, no ovs-vswitchd) drives
# kvnetd through `kvnetd --ovsdb unix:PATH`: bridges and ports made with
# libvirt's `--` chain, external ids, list/find/get, --may-exist/--if-exists,
# tag/trunks, a change kvnet refuses (its message in ovs-vsctl's error, the
# database unchanged), kvnetctl's changes seen by ovs-vsctl, del-port/del-br;
# each result checked in `kvnetctl show` and in traffic. Then: external ids
# survive a restart, a socket a real ovsdb-server holds is refused naming it,
# a bad --ovsdb value is refused.
source "$(dirname "$0")/lib.sh" "$@"
command -v ovs-vsctl >/dev/null || fail "ovs-vsctl is missing (./run installs openvswitch-switch)"
OVSDB="$T/db.sock"
KVD_ARGS="--ovsdb unix:$OVSDB"
kvd_start
grep -q "OVSDB (Open_vSwitch) on unix:$OVSDB" "$T/kvnetd.log" || fail "kvnetd does not say where OVSDB is served"
vs() { timeout 20 ovs-vsctl --db="unix:$OVSDB" "$@"; }
unq() { tr -d '"'; }
BR=${P}br

expect_ok "ovs-vsctl show on an empty kvnetd" vs show
expect_ok "add-br" vs add-br $BR
kctl show | grep -q "Bridge $BR" || fail "kvnetctl show lacks the bridge ovs-vsctl added"
# The bridge's own port, as ovs-vswitchd makes it: an internal interface.
ip link show $BR >/dev/null || fail "the bridge's internal interface was not made"

# Three hosts behind veths.
i=1
for h in a b c; do
  ip netns add ${P}$h
  ip link add ${P}$h type veth peer name eth0 netns ${P}$h
  ip link set ${P}$h up
  ip -n ${P}$h addr add 10.78.0.$i/24 dev eth0
  ip -n ${P}$h link set eth0 up
  ip -n ${P}$h link set lo up
  i=$((i + 1))
done

# libvirt's chain for <virtualport type='openvswitch'/>.
expect_ok "libvirt's add-port chain" vs --timeout=5 -- --if-exists del-port ${P}a -- add-port $BR ${P}a tag=10 \
  -- set Interface ${P}a "external-ids:attached-mac=\"52:54:00:aa:bb:01\"" \
  -- set Interface ${P}a "external-ids:iface-id=\"0e4b1c9a-5a1f-4a51-9a43-0c3f7e0c0001\"" \
  -- set Interface ${P}a "external-ids:vm-id=\"5e2b3a5d-7d2d-4c4e-8c2a-66e1d0a0c001\"" \
  -- set Interface ${P}a external-ids:iface-status=active
expect_ok "add-port tag=10" vs add-port $BR ${P}b tag=10
expect_ok "add-port tag=20" vs add-port $BR ${P}c tag=20
kctl show --format json >"$T/show.json"
python3 - "$T/show.json" "$P" <<'PY' || fail "kvnetctl show does not have what ovs-vsctl set"
import json, sys
show, p = json.load(open(sys.argv[1])), sys.argv[2]
ports = {q["name"]: q for b in show["bridges"] for q in b["ports"]}
a = ports[p + "a"]
assert a["vlan_mode"] == "access" and a["pvid"] == 10, a
assert a["external_ids"]["attached-mac"] == "52:54:00:aa:bb:01", a
assert a["external_ids"]["iface-id"] == "0e4b1c9a-5a1f-4a51-9a43-0c3f7e0c0001", a
assert a["external_ids"]["iface-status"] == "active", a
assert ports[p + "c"]["pvid"] == 20, ports[p + "c"]
PY
pings ${P}a 10.78.0.2 || fail "a cannot ping b (both tag 10)"
no_ping ${P}a 10.78.0.3 || fail "a reaches c across VLANs (tag 10 vs 20)"
log "add-br, add-port with libvirt's chain, tags: ok (shown by kvnetctl, VLANs isolate)"

# list / find / get, as scripts and Nova read them.
[ "$(vs get Interface ${P}a external_ids:iface-id | unq)" = 0e4b1c9a-5a1f-4a51-9a43-0c3f7e0c0001 ] || fail "get external_ids:iface-id"
[ "$(vs --bare --columns=name find Interface external_ids:iface-id=0e4b1c9a-5a1f-4a51-9a43-0c3f7e0c0001)" = ${P}a ] ||
  fail "find Interface by iface-id"
[ "$(vs get Port ${P}b tag)" = 10 ] || fail "get Port tag"
ofport=$(vs get Interface ${P}a ofport)
[ "$ofport" -gt 0 ] 2>/dev/null || fail "ofport is '$ofport'"
vs list Interface ${P}a >"$T/list.txt"
grep -q '^mac_in_use *: "[0-9a-f:]*"' "$T/list.txt" || { cat "$T/list.txt"; fail "list Interface lacks mac_in_use"; }
grep -q '^link_state *: up' "$T/list.txt" || { cat "$T/list.txt"; fail "list Interface: link_state is not up"; }
grep -q '^admin_state *: up' "$T/list.txt" || { cat "$T/list.txt"; fail "list Interface: admin_state is not up"; }
[ "$(vs list-ports $BR | sort | tr '\n' ' ')" = "${P}a ${P}b ${P}c " ] || fail "list-ports: $(vs list-ports $BR)"
[ "$(vs port-to-br ${P}c)" = $BR ] || fail "port-to-br"
# Statistics come from the live switch (refreshed every 5 s, as ovs-vswitchd's).
wait_for 15 "Interface statistics count a's pings" \
  bash -c "timeout 20 ovs-vsctl --db=unix:$OVSDB get Interface ${P}a statistics:rx_packets | awk '\$1 >= 3 {ok=1} END {exit !ok}'"
log "list/find/get and the live columns: ok"

# --may-exist / --if-exists, and ovs-vsctl's own refusal.
expect_ok "--may-exist add-port" vs --may-exist add-port $BR ${P}a
expect_ok "--may-exist add-br" vs --may-exist add-br $BR
expect_ok "--if-exists del-port of nothing" vs --if-exists del-port ${P}none
expect_error "add-port twice" 1 "already exists" vs add-port $BR ${P}a
# Moving c to VLAN 10 lets a reach it.
expect_ok "set Port tag" vs set Port ${P}c tag=10
pings ${P}a 10.78.0.3 || fail "a cannot ping c after set Port c tag=10"
# trunks: a trunk port, as kvnet reads it.
expect_ok "set trunks" vs set Port ${P}c trunks=[101,102] vlan_mode=trunk -- clear Port ${P}c tag
[ "$(kctl get port ${P}c vlan_mode)" = trunk ] && [ "$(kctl get port ${P}c allowed)" = 101-102 ] ||
  fail "kvnet has c as $(kctl get port ${P}c vlan_mode) $(kctl get port ${P}c allowed)"
[ "$(vs get Port ${P}c trunks)" = "[101, 102]" ] || fail "get Port trunks: $(vs get Port ${P}c trunks)"
no_ping ${P}a 10.78.0.3 || fail "a reaches c on a trunk without VLAN 10"
log "--may-exist/--if-exists, set tag, trunks: ok"

# A change kvnet refuses: ovs-vsctl fails with kvnet's message; nothing changed.
expect_error "a port without a device" 1 "interface '${P}nosuch' does not exist" vs add-port $BR ${P}nosuch
grep -q '"kvnet error"' "$T/out" || { cat "$T/out"; fail "the refusal is not a kvnet error"; }
vs list-ports $BR | grep -q ${P}nosuch && fail "the refused port is in the database"
kctl show | grep -q "Port ${P}nosuch" && fail "the refused port is in kvnet's configuration"
expect_error "a VLAN kvnet does not have" 1 "4095" vs set Port ${P}b tag=4095
[ "$(kctl get port ${P}b pvid)" = 10 ] || fail "a refused tag changed kvnet's pvid"
[ "$(vs get Port ${P}b tag)" = 10 ] || fail "a refused tag changed the database"
expect_error "an interface type kvnet lacks" 1 "type 'dpdk' is unknown" \
  vs add-port $BR ${P}d -- set Interface ${P}d type=dpdk
log "refused changes: kvnet's message, nothing applied"

# kvnetctl's changes appear in the database (and in a waiting ovs-vsctl).
expect_ok "kvnetctl add-port" kctl add-port $BR ${P}i type=internal pvid=30
vs list-ports $BR | grep -qx ${P}i || fail "ovs-vsctl does not see kvnetctl's port"
[ "$(vs get Interface ${P}i type)" = internal ] || fail "type of kvnetctl's internal port: $(vs get Interface ${P}i type)"
[ "$(vs get Port ${P}i tag)" = 30 ] || fail "tag of kvnetctl's port: $(vs get Port ${P}i tag)"
( sleep 0.5; "$BIN/kvnetctl" set port ${P}i pvid=31 ) &
expect_ok "wait-until sees kvnetctl's change" vs --timeout=10 wait-until Port ${P}i tag=31
wait
# A patch pair and a VXLAN port, as Neutron's agent adds them.
expect_ok "add-br br-tun" vs add-br ${P}tun
expect_ok "patch pair" vs add-port $BR ${P}pi -- set Interface ${P}pi type=patch options:peer=${P}pt \
  -- add-port ${P}tun ${P}pt -- set Interface ${P}pt type=patch options:peer=${P}pi
[ "$(kctl get port ${P}pi peer)" = ${P}tun/${P}pt ] || fail "patch peer in kvnet: $(kctl get port ${P}pi peer)"
expect_ok "vxlan port" vs add-port ${P}tun ${P}vx -- set Interface ${P}vx type=vxlan options:remote_ip=10.79.0.2 \
  options:key=5001 options:dst_port=4790
[ "$(kctl get port ${P}vx vni)" = 5001 ] || fail "vxlan key in kvnet: $(kctl get port ${P}vx vni)"
[ "$(vs get Interface ${P}vx options:key | unq)" = 5001 ] || fail "vxlan key in the database"
log "kvnetctl's changes seen by ovs-vsctl (wait-until too); patch and vxlan ports: ok"

# kvnetctl takes the same command lines (kvnetd's vsctl verb: one change per
# line), and prints what ovs-vsctl prints.
ip link add ${P}e type veth peer name ${P}ep
expect_ok "kvnetctl: libvirt's chain" kctl --timeout=5 -- --if-exists del-port ${P}e -- add-port $BR ${P}e tag=10 \
  -- set Interface ${P}e "external-ids:attached-mac=\"52:54:00:aa:bb:02\"" external-ids:iface-id=e-iface
[ "$(kctl get port ${P}e pvid)" = 10 ] || fail "kvnetctl's chain: pvid $(kctl get port ${P}e pvid)"
for q in "--columns=name,type,external_ids,ofport,options,mac_in_use,error list Interface ${P}e" \
  "--columns=name,tag,trunks,vlan_mode find Port name=${P}e" "get Interface ${P}e external_ids:attached-mac ofport" \
  "--bare --columns=name find Interface external_ids:iface-id=e-iface" "list-ports $BR" "list-br" \
  "--columns=name,ports list Bridge $BR"; do
  # shellcheck disable=SC2086
  kctl $q >"$T/k.txt" 2>&1 || { cat "$T/k.txt"; fail "kvnetctl $q"; }
  # shellcheck disable=SC2086
  vs $q >"$T/v.txt"
  diff "$T/v.txt" "$T/k.txt" >"$T/diff.txt" || { cat "$T/diff.txt"; fail "kvnetctl $q differs from ovs-vsctl's"; }
done
expect_ok "kvnetctl: set and clear" kctl set Port ${P}e trunks=[101,102] vlan_mode=trunk -- clear Port ${P}e tag
[ "$(kctl get port ${P}e allowed)" = 101-102 ] || fail "kvnetctl's set Port trunks: $(kctl get port ${P}e allowed)"
expect_error "kvnetctl: kvnet's refusal" 1 "interface '${P}none' does not exist" kctl add-port $BR ${P}none -- set Port ${P}none tag=5
expect_error "kvnetctl: ovs-vsctl's refusal" 1 "no port named ${P}none" kctl -- del-port ${P}none
expect_error "kvnetctl: a verb it does not take" 1 "ovs-vsctl's 'emer-reset' is not taken" kctl -- emer-reset
set +e
kctl br-exists ${P}nobr
rc=$?
set -e
[ $rc = 2 ] || fail "br-exists of nothing exits $rc, not 2"
expect_ok "kvnetctl: del-port" kctl -- --if-exists del-port ${P}e
log "kvnetctl's ovs-vsctl forms: as ovs-vsctl (output compared), one change each"

# --no-wait, del-port, del-br.
expect_ok "--no-wait del-port" vs --no-wait del-port ${P}b
wait_for 5 "b leaves kvnet" bash -c "! '$BIN/kvnetctl' show | grep -q 'Port ${P}b\$'"
no_ping ${P}a 10.78.0.2 || fail "a still reaches b after del-port"
expect_ok "del-br" vs del-br ${P}tun
kctl list-br | grep -qx ${P}tun && fail "del-br left the bridge in kvnet"
# As in OVS, the patch port left behind stays, its peer gone.
kctl show | grep -A1 "Port ${P}pi" | grep -q DANGLING || fail "the patch port whose peer went is not shown dangling"
log "--no-wait, del-port, del-br: ok"

# External ids are stored: after a restart they are still there.
kvd_stop
kvd_start
[ "$(vs get Interface ${P}a external_ids:iface-id | unq)" = 0e4b1c9a-5a1f-4a51-9a43-0c3f7e0c0001 ] ||
  fail "external ids lost in a restart"
log "external ids survive a restart: ok"
kvd_stop

# A socket that a real ovsdb-server serves is refused, naming it.
command -v ovsdb-server >/dev/null || fail "ovsdb-server is missing (openvswitch-switch)"
ovsdb-tool create "$T/conf.db" /usr/share/openvswitch/vswitch.ovsschema
ovsdb-server "$T/conf.db" --remote=punix:"$T/real.sock" --pidfile="$T/ovsdb-server.pid" --unixctl="$T/ovsdb.ctl" \
  --log-file="$T/ovsdb-server.log" --detach --no-chdir
EXTRA_CLEANUP='[ -f "$T/ovsdb-server.pid" ] && kill "$(cat "$T/ovsdb-server.pid")"'
wait_for 10 "ovsdb-server listens" test -S "$T/real.sock"
set +e
"$BIN/kvnetd" --foreground --db "$T/k2.db" --socket "$T/k2.sock" --ovsdb unix:"$T/real.sock" >"$T/out" 2>&1
rc=$?
set -e
[ $rc != 0 ] || fail "kvnetd started on a socket ovsdb-server holds"
grep -q "ovsdb-server" "$T/out" || { cat "$T/out"; fail "the refusal does not name ovsdb-server"; }
kill "$(cat "$T/ovsdb-server.pid")"
expect_error "a bad --ovsdb" 2 "give unix:PATH or default" "$BIN/kvnetd" --foreground --db "$T/k3.db" \
  --socket "$T/k3.sock" --ovsdb tcp:127.0.0.1:6640
log "PASS"
