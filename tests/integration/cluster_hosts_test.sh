#!/usr/bin/env bash
# A cluster of three hosts on a real etcd: each host a network namespace
# with its own kvnetd started as users start one (ip netns exec HOST kvnetd
# --cluster URL --host NAME --underlay-ip IP), joined over an underlay bridge;
# etcd in a namespace of its own on that underlay.
# Checks: joining, `cluster status`/`cluster hosts` (human and JSON), a host
# killed with -9 seen down within TTL + 2 s and back after a restart, etcd
# stopped (forwarding state kept, a clear error, local commands work) and
# started again (hosts join again), hostile records refused by key, bad flags;
# networks, containers and VM NICs on them across hosts, ARP suppression,
# apply files, cluster-wide security groups whose remote_group spans hosts.
source "$(dirname "$0")/lib.sh" "$@"
command -v etcd >/dev/null || fail "etcd is not installed (./run installs etcd-server)"

TTL=3
STORE=10.96.0.100
URL=http://$STORE:2379
ETCD_PID=""
EXTRA_CLEANUP='[ -n "$ETCD_PID" ] && kill -9 $ETCD_PID 2>/dev/null'

# The underlay: a Linux bridge in ${P}ul, a veth from it to each host and to the store.
underlay_bridge
for n in h1 h2 h3; do underlay_join $n 10.96.0.${n#h}/24; done
underlay_join st $STORE/24

etcd_single $STORE

declare -A PIDS
start_host() {  # NAME: kvnetd for host NAME in namespace ${P}NAME, as users start it
  local n=$1 ip=10.96.0.${1#h}
  ip netns exec ${P}$n "$BIN/kvnetd" --foreground --db "$T/$n.db" --socket "$T/$n.sock" \
    --cluster $URL --host $n --underlay-ip $ip --cluster-ttl $TTL >>"$T/$n.log" 2>&1 &
  PIDS[$n]=$!
  HOST_PIDS+=($!)
  disown $!
  wait_for 10 "kvnetd on $n answers" hctl $n list-br
}
# h1 was a standalone host with a security group of its own: joining, it
# brings the group to the cluster.
ip netns exec ${P}h1 "$BIN/kvnetd" --foreground --db "$T/h1.db" --socket "$T/h1.sock" >>"$T/h1.log" 2>&1 &
KVD_PID=$!
disown $KVD_PID
wait_for 10 "standalone kvnetd on h1 answers" hctl h1 list-br
hctl h1 sg add ${P}own --description "h1's before it joined" >/dev/null || fail "standalone sg add"
kvd_stop
for n in h1 h2 h3; do start_host $n; done

host_state() {  # ON HOST: up/down/absent as ON sees HOST
  hctl $1 --format json cluster hosts | field "next((h['state'] for h in d if h['name']=='$2'), 'absent')"
}
has_group() { hctl $1 --format json sg list | field "'$2' in [g['name'] for g in d]" | grep -qx True; }
all_up() { for h in h1 h2 h3; do [ "$(host_state $1 $h)" = up ] || return 1; done; }
for n in h1 h2 h3; do wait_for 10 "$n sees every host up" all_up $n; done
wait_for 10 "h1's own group published to the cluster" has_group h3 ${P}own
hctl h3 sg show ${P}own | grep -q "h1's before it joined" || fail "h1's group as h3 has it"
log "three hosts joined; h1's own security group published"

# --- what an operator sees ---------------------------------------------------------
hctl h1 cluster status >"$T/status" || { cat "$T/status"; fail "cluster status"; }
grep -q "^store:     etcd at $URL (prefix /kvnet/)" "$T/status" || { cat "$T/status"; fail "status: the store"; }
grep -q "^member:    $URL answering (id [0-9a-f]*, etcd 3\.4\.[0-9]*, leader [0-9a-f]*, itself)" "$T/status" ||
  { cat "$T/status"; fail "status: the member answering"; }
grep -q "^revision:  [0-9]* (applied here: [0-9]*)" "$T/status" || { cat "$T/status"; fail "status: revision"; }
grep -q "^this host: h1, underlay 10.96.0.1, lease [0-9a-f]* (TTL $TTL s, [0-9]* s left)" "$T/status" ||
  { cat "$T/status"; fail "status: this host's lease"; }
grep -q "^hosts:     3 up, 0 down" "$T/status" || { cat "$T/status"; fail "status: hosts"; }
hctl h1 --format json cluster status | field "d['reachable'] and d['host']['joined'] and d['revision'] >= d['applied_revision'] > 0" |
  grep -q True || fail "status JSON"
hctl h2 cluster hosts >"$T/hosts"
grep -q "^HOST .*STATE .*UNDERLAY .*PORTS .*VMS .*CONTAINERS .*LAST SEEN" "$T/hosts" || { cat "$T/hosts"; fail "hosts: header"; }
grep -q "^h2\* .*up .*10.96.0.2 .*now" "$T/hosts" || { cat "$T/hosts"; fail "hosts: this host marked"; }
grep -q "^h3 .*up .*10.96.0.3" "$T/hosts" || { cat "$T/hosts"; fail "hosts: h3"; }
# What runs on a host shows in its registration.
hctl h3 add-br br-x >/dev/null
hctl h3 add-port br-x ${P}i1 type=internal >/dev/null
wait_for 10 "h1 sees h3's port" bash -c "KVNET_SOCKET=$T/h1.sock $BIN/kvnetctl --format json cluster hosts | grep -q '\"ports\": 1'"
log "cluster status and cluster hosts (human and JSON)"

# --- a host dies: the others see it down within TTL + 2 s; it comes back ---------------
kill -9 ${PIDS[h3]}
t0=$(date +%s.%N)
seen=""
while [ "$(echo "$(date +%s.%N) - $t0 <= $TTL + 2" | bc)" = 1 ]; do
  hctl h1 cluster hosts 2>/dev/null | grep -q "^h3 .* down " && { seen=1; break; }
  sleep 0.1
done
t1=$(date +%s.%N)
[ -n "$seen" ] || fail "h1 still sees h3 up $(echo "$t1 - $t0" | bc) s after its kvnetd was killed (TTL $TTL s + 2 s)"
log "h3 killed: h1 sees it down after $(echo "$t1 - $t0" | bc | cut -c1-4) s (TTL $TTL s)"
hctl h1 cluster hosts | grep -q "^h3 .*down .*10.96.0.3 .*1 .*s ago" || { hctl h1 cluster hosts; fail "hosts: h3 down with its port and last seen"; }
start_host h3
wait_for 10 "h1 sees h3 up again" bash -c "[ \"\$(KVNET_SOCKET=$T/h1.sock $BIN/kvnetctl --format json cluster hosts | python3 -c \"import json,sys; print([h['state'] for h in json.load(sys.stdin) if h['name']=='h3'][0])\")\" = up ]"
log "h3 restarted: up again"

# --- networks: unique names and VNIs cluster-wide, seen from every host -------------------
hctl h1 network add blue --vni 100 --subnet 10.0.0.0/24 >"$T/out" || { cat "$T/out"; fail "network add blue"; }
grep -qx "+ network blue vni 100 subnet 10.0.0.0/24 mtu 1450" "$T/out" || { cat "$T/out"; fail "network add's plan line"; }
hctl h2 network list >"$T/out"
grep -q "^blue  *100 10.0.0.0/24  *1450" "$T/out" || { cat "$T/out"; fail "h2 does not list blue"; }
hctl h3 --format json network show blue | field "(d['vni'], d['subnet'], d['mtu'], d['stale'])" | grep -qx "(100, '10.0.0.0/24', 1450, False)" ||
  fail "network show JSON"
expect_error "name taken" 1 "network 'blue' already exists (VNI 100)" hctl h2 network add blue --vni 200
expect_error "VNI taken" 1 "network 'red': VNI 100 is taken by network 'blue'" hctl h3 network add red --vni 100
expect_error "not a network address" 1 "subnet 10.0.0.5/24 is not a network address (did you mean 10.0.0.0/24?)" \
  hctl h1 network add red --vni 200 --subnet 10.0.0.5/24
expect_error "VNI out of range" 2 "--vni" hctl h1 network add red --vni 16777216
expect_error "del unknown" 1 "network 'nope' does not exist" hctl h1 network del nope
hctl h1 network del nope --if-exists >/dev/null || fail "network del --if-exists"
# Three hosts race for one name (each with its own VNI) and for one VNI
# (each with its own name): exactly one wins each race.
for n in h1 h2 h3; do (hctl $n network add race --vni 3${n#h}0 >"$T/race-$n" 2>&1; echo $? >>"$T/race-$n") & done
wait
[ "$(grep -lx 0 "$T"/race-h* | wc -l)" = 1 ] || { cat "$T"/race-h*; fail "racing adds of one name: not exactly one winner"; }
grep -q "network 'race' already exists" "$T"/race-h* || fail "the losers' message"
for n in h1 h2 h3; do (hctl $n network add vni-$n --vni 4000 >"$T/vrace-$n" 2>&1; echo $? >>"$T/vrace-$n") & done
wait
[ "$(grep -lx 0 "$T"/vrace-h* | wc -l)" = 1 ] || { cat "$T"/vrace-h*; fail "racing adds of one VNI: not exactly one winner"; }
[ "$(ip netns exec ${P}st etcdctl --endpoints $URL get --prefix /kvnet/networks/ --keys-only | grep -c .)" = 3 ] ||
  fail "the store does not hold exactly blue, race and one vni-* network"
hctl h2 network del race >"$T/out" && grep -qx -- "- network race" "$T/out" || { cat "$T/out"; fail "network del"; }
wait_for 10 "h3 no longer lists race" bash -c "! KVNET_SOCKET=$T/h3.sock $BIN/kvnetctl network list | grep -q '^race '"
log "networks: one name and one VNI cluster-wide (racing hosts: one winner each), seen from every host"

# --- containers on a network: br-int, a local VLAN, addresses unique cluster-wide -------
hctl h1 ct add ${P}c1 --network blue >"$T/out" || { cat "$T/out"; fail "ct add --network"; }
grep -qx "container ${P}c1: 10.0.0.1/24 on network blue (port ct-${P}c1, local VLAN 1 on br-int)" "$T/out" || { cat "$T/out"; fail "ct add --network output"; }
hctl h2 ct add ${P}c2 --network blue --ip 10.0.0.1 >"$T/out" 2>&1 && fail "a taken address was given twice"
grep -q "network 'blue': address 10.0.0.1 is taken by h1/ct-${P}c1" "$T/out" || { cat "$T/out"; fail "taken address message"; }
hctl h2 ct list | grep -q "^${P}c2 " && fail "a refused ct add left a container"
hctl h1 --format json show | field "[p for b in d['bridges'] if b['name']=='br-int' for p in b['ports'] if p['name']=='vx-cluster'][0]['type']" |
  grep -qx vxlan || fail "no vx-cluster on br-int"
hctl h1 get port vx-cluster vni_map | grep -qx "1:100" || { hctl h1 get port vx-cluster vni_map; fail "vx-cluster's map"; }
hctl h1 get port vx-cluster learning | grep -qx false || fail "vx-cluster learns"
hctl h1 get port ct-${P}c1 pvid | grep -qx 1 || fail "ct-${P}c1 is not in the local VLAN"
ip netns exec ${P}st etcdctl --endpoints $URL get /kvnet/bindings/blue/h1/ct-${P}c1 --print-value-only >"$T/out"
python3 -c "import json; b=json.load(open('$T/out')); assert b['ips']==['10.0.0.1/24'] and b['host']=='h1' and b['owner']=='container ${P}c1', b" ||
  fail "the binding of c1"
ip netns exec ${P}c1 ip -o addr show eth0 >"$T/addr" 2>&1 || true
grep -q "inet 10.0.0.1/24" "$T/addr" || { cat "$T/addr"; ip netns list; fail "c1's eth0 lacks its address"; }
# Three hosts allocate at once: every address once.
for n in h1 h2 h3; do (hctl $n --format json ct add ${P}x$n --network blue >"$T/alloc-$n" 2>&1) & done
wait
for n in h1 h2 h3; do field "d['ip']" <"$T/alloc-$n"; done | sort >"$T/addrs" || { cat "$T"/alloc-*; fail "concurrent ct add"; }
[ "$(sort -u "$T/addrs" | wc -l)" = 3 ] && ! grep -qx "10.0.0.1/24" "$T/addrs" || { cat "$T/addrs"; fail "concurrent allocations collided"; }
expect_error "network in use" 1 "network 'blue' is in use" hctl h3 network del blue
hctl h1 ct del ${P}c1 >/dev/null || fail "ct del ${P}c1"
[ -z "$(ip netns exec ${P}st etcdctl --endpoints $URL get --prefix /kvnet/bindings/blue/h1/ct-${P}c1 --keys-only)" ] || fail "c1's binding stayed"
[ -z "$(ip netns exec ${P}st etcdctl --endpoints $URL get /kvnet/ipam/blue/10.0.0.1 --keys-only)" ] || fail "c1's address stayed taken"
hctl h2 ct add ${P}c2 --network blue --ip 10.0.0.1 >/dev/null || fail "a freed address could not be taken again"
for n in h1 h2 h3; do hctl $n ct del ${P}x$n >/dev/null || fail "ct del ${P}x$n"; done
hctl h2 ct del ${P}c2 >/dev/null
[ -z "$(hctl h1 get port vx-cluster type 2>/dev/null)" ] || fail "vx-cluster stayed without networks"
log "containers on a network: br-int, local VLAN, vx-cluster, bindings, addresses unique under concurrent adds"

# --- across hosts: programmed from the bindings; two tenants with the same addresses ------
hctl h1 network add red --vni 200 --subnet 10.0.0.0/24 >/dev/null || fail "network add red"
hctl h1 ct add ${P}b1 --network blue --ip 10.0.0.11 >/dev/null || fail "ct add b1"
hctl h2 ct add ${P}b2 --network blue --ip 10.0.0.12 >/dev/null || fail "ct add b2"
hctl h2 ct add ${P}r2 --network red --ip 10.0.0.11 >/dev/null || fail "ct add r2 (red's 10.0.0.11 while blue has one)"
hctl h3 ct add ${P}r3 --network red --ip 10.0.0.13 >/dev/null || fail "ct add r3"
wait_for 10 "b1 (h1) reaches b2 (h2) over the overlay" pings ${P}b1 10.0.0.12 1
pings ${P}b1 10.0.0.12 || fail "b1 -> b2"
pings ${P}r2 10.0.0.13 || fail "r2 (h2) -> r3 (h3)"
no_ping ${P}b1 10.0.0.13 || fail "blue reached red's 10.0.0.13"
no_ping ${P}r3 10.0.0.12 || fail "red reached blue's 10.0.0.12"
hctl h1 fdb-show br-int | grep -q "$(hctl h2 --format json ct list | field "[c['mac'] for c in d if c['name']=='${P}b2'][0]")" ||
  { hctl h1 fdb-show br-int; fail "h1 has no static entry for b2"; }
# h3 carries red only: blue's broadcasts never reach it.
ip netns exec ${P}h3 tcpdump -i eth1 -nn -U -w "$T/h3.pcap" "udp port 4789" 2>"$T/h3.err" &
TD=$!
wait_for 20 "tcpdump on h3" grep -q "listening on" "$T/h3.err"
ip netns exec ${P}b1 ping -b -c 3 -i 0.2 -W 1 10.0.0.255 >/dev/null 2>&1 || true
ip netns exec ${P}r2 ping -b -c 3 -i 0.2 -W 1 10.0.0.255 >/dev/null 2>&1 || true
sleep 0.5
kill -INT $TD; wait $TD 2>/dev/null || true
[ "$(tcpdump -nn -r "$T/h3.pcap" 'udp[12:4] = 0x00006400' 2>/dev/null | wc -l)" = 0 ] || fail "blue's traffic reached h3, which has no blue port"
[ "$(tcpdump -nn -r "$T/h3.pcap" 'udp[12:4] = 0x0000c800' 2>/dev/null | wc -l)" -ge 1 ] || fail "red's broadcast did not reach h3"
log "across hosts: blue and red with the same addresses, pings within a network only; h3 sees no blue traffic"
# ARP suppression: h1 answers b1's ARP for b2 (known: a binding) itself;
# none of blue's ARP crosses the underlay, but an unknown target's does.
arp_answered() {  # HOST: br-int's arp-suppress count of answered ARP requests
  hctl $1 --format json pipeline br-int |
    field "sum(s['counters'].get('arp_answered', 0) for b in d for s in b['ingress'] if s['name']=='arp-suppress')"
}
before=$(arp_answered h1)
ip netns exec ${P}h1 tcpdump -i eth1 -nn -U -w "$T/h1.pcap" "udp port 4789" 2>"$T/h1.err" &
TD=$!
wait_for 20 "tcpdump on h1" grep -q "listening on" "$T/h1.err"
ip -n ${P}b1 neigh flush all
pings ${P}b1 10.0.0.12 || fail "b1 -> b2 with its neighbour cache flushed"
ip netns exec ${P}b1 ping -c 1 -W 1 10.0.0.99 >/dev/null 2>&1 || true  # nobody: flooded
sleep 0.5
kill -INT $TD; wait $TD 2>/dev/null || true
# Inner EtherType after UDP (8), VXLAN (8) and the inner MACs (12); inner ARP target at 38.
tcpdump -nn -r "$T/h1.pcap" 'udp[28:2] = 0x0806' 2>/dev/null >"$T/arps"
grep -q . "$T/arps" || fail "the ARP for an unknown address was not flooded over the underlay"
[ "$(tcpdump -nn -r "$T/h1.pcap" 'udp[28:2] = 0x0806 and udp[54:4] = 0x0a00000c' 2>/dev/null | wc -l)" = 0 ] ||
  { tcpdump -nn -r "$T/h1.pcap" 'udp[28:2] = 0x0806' 2>/dev/null; fail "b1's ARP for b2 (a known address) crossed the underlay"; }
[ "$(tcpdump -nn -r "$T/h1.pcap" 'udp[28:2] = 0x0800' 2>/dev/null | wc -l)" -ge 1 ] || fail "b1's ping to b2 did not cross the underlay"
[ "$(arp_answered h1)" -gt "$before" ] || fail "h1's arp-suppress did not count the answer"
B1MAC=$(hctl h1 --format json ct list | field "[c['mac'] for c in d if c['name']=='${P}b1'][0]")
B2MAC=$(hctl h2 --format json ct list | field "[c['mac'] for c in d if c['name']=='${P}b2'][0]")
hctl h1 trace br-int in_port=ct-${P}b1 dl_src=$B1MAC,dl_dst=ff:ff:ff:ff:ff:ff,arp,arp_spa=10.0.0.11,arp_tpa=10.0.0.12 >"$T/trace"
grep -q "ARP request for 10.0.0.12 (network blue, host h2) answered here: is at $B2MAC" "$T/trace" ||
  { cat "$T/trace"; fail "trace does not show the ARP answered on h1"; }
hctl h1 fdb-show br-int >"$T/fdb"
grep -q "$B2MAC .*on h2 (10.96.0.2) via vx-cluster, network blue" "$T/fdb" || { cat "$T/fdb"; fail "fdb-show does not name h2 and blue"; }
log "ARP suppression: b1's ARP for b2 answered on h1, never on the underlay; unknown targets flooded; trace and fdb-show say where"
# The whole cluster drawn from h1: every host, their ports, the tunnels of shared networks.
hctl h1 draw --cluster -o "$T/cluster.svg" >/dev/null || fail "draw --cluster"
for id in host:h1 host:h2 host:h3 "port:h1/ct&#45;${P}b1" "port:h3/ct&#45;${P}r3" 'tunnel:h1&#45;&#45;h2' 'tunnel:h2&#45;&#45;h3' legend; do
  grep -q "id=\"$id\"" "$T/cluster.svg" || fail "draw --cluster: no $id"
done
grep -q 'id="tunnel:h1&#45;&#45;h3"' "$T/cluster.svg" && fail "draw --cluster: h1 and h3 share no network"
log "draw --cluster: hosts, ports, tunnels where networks are shared"
# A VM's NIC on a network (defined, not started): its address and binding
# are the cluster's, the other hosts program its MAC; vm del frees both.
hctl h3 vm add ${P}v1 --nic network=blue >"$T/out" || { cat "$T/out"; fail "vm add --nic network=blue"; }
grep -q "vm ${P}v1: nic 0 is port .* on bridge br-int (mac .*, network blue, ip 10.0.0.1/24)" "$T/out" || { cat "$T/out"; fail "vm add's output"; }
V1MAC=$(hctl h3 --format json vm show ${P}v1 | field "d['nics'][0]['mac']")
ip netns exec ${P}st etcdctl --endpoints $URL get --prefix /kvnet/bindings/blue/h3/ --print-value-only | grep -q "\"owner\":\"vm ${P}v1 nic 0\"" ||
  fail "the VM NIC's binding is not in the store"
wait_for 10 "h1 has v1's station" bash -c "KVNET_SOCKET=$T/h1.sock $BIN/kvnetctl fdb-show br-int | grep -q '$V1MAC .*on h3'"
expect_error "a NIC on a network with a bridge" 1 "a NIC on a network meets br-int: leave out the bridge" \
  hctl h3 vm add ${P}v2 --nic network=blue,bridge=br0
hctl h3 vm del ${P}v1 >/dev/null || fail "vm del v1"
[ -z "$(ip netns exec ${P}st etcdctl --endpoints $URL get /kvnet/ipam/blue/10.0.0.1 --keys-only)" ] || fail "v1's address stayed taken"
wait_for 10 "h1 forgot v1's station" bash -c "! KVNET_SOCKET=$T/h1.sock $BIN/kvnetctl fdb-show br-int | grep -q '$V1MAC'"
# A VM an apply file removes: its NIC's binding and address go too.
hctl h3 vm add ${P}v3 --nic network=blue >/dev/null || fail "vm add v3"
[ -n "$(ip netns exec ${P}st etcdctl --endpoints $URL get /kvnet/ipam/blue/10.0.0.1 --keys-only)" ] || fail "v3's address"
printf 'bridges: []\nvms: []\n' >"$T/apply-h3.yaml"
hctl h3 apply "$T/apply-h3.yaml" | grep -q -- "- vm ${P}v3" || fail "apply without v3"
[ -z "$(ip netns exec ${P}st etcdctl --endpoints $URL get /kvnet/ipam/blue/10.0.0.1 --keys-only)" ] || fail "v3's address stayed"
[ -z "$(ip netns exec ${P}st etcdctl --endpoints $URL get --prefix /kvnet/bindings/blue/h3/ --keys-only)" ] || fail "v3's binding stayed"
hctl h3 get port vx-cluster type >/dev/null 2>&1 || fail "h3's br-int lost vx-cluster (red is still there)"
# A VM an apply file adds with a NIC on a network: wired, claimed and bound
# as by vm add; the same file again changes nothing; without it, freed.
printf 'bridges: []\nvms:\n  - {name: %s, nics: [{network: blue}]}\n' ${P}v4 >"$T/apply-vm.yaml"
hctl h3 apply "$T/apply-vm.yaml" >"$T/out" || { cat "$T/out"; fail "apply a VM with a NIC on blue"; }
grep -q -- "+ vm ${P}v4" "$T/out" || { cat "$T/out"; fail "apply: v4's line"; }
V4IP=$(hctl h3 --format json vm show ${P}v4 | field "d['nics'][0]['ip']")
[ "$(hctl h3 --format json vm show ${P}v4 | field "d['nics'][0]['bridge']")" = br-int ] || fail "v4's NIC is not on br-int"
ip netns exec ${P}st etcdctl --endpoints $URL get /kvnet/ipam/blue/${V4IP%/*} --print-value-only | grep -qx "h3/tap.*" ||
  fail "v4's address $V4IP is not claimed by h3"
V4MAC=$(hctl h3 --format json vm show ${P}v4 | field "d['nics'][0]['mac']")
wait_for 10 "h1 has v4's station" bash -c "KVNET_SOCKET=$T/h1.sock $BIN/kvnetctl fdb-show br-int | grep -q '$V4MAC .*on h3'"
hctl h3 apply "$T/apply-vm.yaml" >"$T/out" || { cat "$T/out"; fail "the same file again"; }
grep -q "vm ${P}v4" "$T/out" && { cat "$T/out"; fail "the same file changed v4"; }
[ "$(hctl h3 --format json vm show ${P}v4 | field "d['nics'][0]['ip']")" = "$V4IP" ] || fail "v4's address changed"
printf 'bridges: []\nvms: []\n' >"$T/apply-h3.yaml"
hctl h3 apply "$T/apply-h3.yaml" >/dev/null || fail "apply without v4"
hctl h3 --format json show | field "[p['name'] for b in d['bridges'] if b['name']=='br-int' for p in b['ports']]" | grep -q "tap${P}v4" &&
  { hctl h3 show; fail "v4's TAP port stayed on br-int"; }
[ -z "$(ip netns exec ${P}st etcdctl --endpoints $URL get --prefix /kvnet/bindings/blue/h3/ --keys-only)" ] || fail "v4's binding stayed"
wait_for 10 "h1 forgot v4's station" bash -c "! KVNET_SOCKET=$T/h1.sock $BIN/kvnetctl fdb-show br-int | grep -q '$V4MAC'"
log "a VM's NIC on blue: address claimed, binding published, programmed on h1; vm del and apply free both; apply adds one too"
# apply files: a `networks:` section creates what the store lacks; containers
# with `network:` are wired, their addresses claimed and bound; those kept
# as they are stay; one that goes is unbound.
cat >"$T/apply-h1.yaml" <<EOF
bridges: []
networks:
  - {name: green, vni: 300, subnet: 10.2.0.0/24}
containers:
  - {name: ${P}b1, network: blue}
  - {name: ${P}g1, network: green}
EOF
hctl h1 apply "$T/apply-h1.yaml" >"$T/out" || { cat "$T/out"; fail "apply with networks on h1"; }
grep -qx "+ network green vni 300 subnet 10.2.0.0/24 mtu 1450" "$T/out" || { cat "$T/out"; fail "apply: the network's line"; }
grep -q "container ${P}g1" "$T/out" || { cat "$T/out"; fail "apply: g1's line"; }
grep -q "container ${P}b1" "$T/out" && { cat "$T/out"; fail "apply: b1, written as it is, changed"; }
cat >"$T/apply-h2.yaml" <<EOF
bridges: []
networks:
  - {name: green, vni: 300, subnet: 10.2.0.0/24}
containers:
  - {name: ${P}b2, network: blue}
  - {name: ${P}r2, network: red}
  - {name: ${P}g2, network: green, ip: 10.2.0.20}
EOF
hctl h2 apply "$T/apply-h2.yaml" >"$T/out" || { cat "$T/out"; fail "apply with networks on h2"; }
grep -q "network green" "$T/out" && { cat "$T/out"; fail "apply on h2 created green again"; }
hctl h2 --format json ct list | field "[c['ip'] for c in d if c['name']=='${P}g2'][0]" | grep -qx "10.2.0.20/24" || fail "g2's address"
wait_for 10 "g1 (h1) reaches g2 (h2) on green" pings ${P}g1 10.2.0.20 1
pings ${P}b1 10.0.0.12 || fail "b1 -> b2 after the applies"
printf 'bridges: []\nnetworks:\n  - {name: green, vni: 301}\n' >"$T/apply-h3.yaml"
expect_error "apply: a network the store has otherwise" 1 \
  "network 'green' exists in the cluster with VNI 300, subnet 10.2.0.0/24, mtu 1450; the file says VNI 301, subnet none, mtu 1450" \
  hctl h3 apply "$T/apply-h3.yaml"
printf 'bridges: []\ncontainers:\n  - {name: %s, network: green}\n' "${P}g3" >"$T/apply-h3.yaml"
hctl h3 apply --dry-run "$T/apply-h3.yaml" | grep -q "container ${P}g3" || fail "apply --dry-run on h3"
[ "$(ip netns exec ${P}st etcdctl --endpoints $URL get --prefix /kvnet/ipam/green/ --keys-only | grep -c .)" = 2 ] ||
  fail "a dry run claimed an address"
printf 'bridges: []\ncontainers:\n  - {name: %s, network: blue}\n' "${P}b1" >"$T/apply-h1.yaml"
hctl h1 apply "$T/apply-h1.yaml" >/dev/null || fail "apply without g1"
[ -z "$(ip netns exec ${P}st etcdctl --endpoints $URL get --prefix /kvnet/bindings/green/h1/ --keys-only)" ] || fail "g1's binding stayed"
[ -z "$(ip netns exec ${P}st etcdctl --endpoints $URL get /kvnet/ipam/green/10.2.0.1 --keys-only)" ] || fail "g1's address stayed"
hctl h2 ct del ${P}g2 >/dev/null || fail "ct del g2"
hctl h2 network del green >/dev/null || fail "network del green"
pings ${P}b1 10.0.0.12 || fail "b1 -> b2 after g1 went"
log "apply: networks created once, containers on networks wired, claimed and bound; one that goes unbound; conflicts named"
# A host that dies: its stations leave the others' tables within TTL + 2 s.
B2MAC=$(hctl h2 --format json ct list | field "[c['mac'] for c in d if c['name']=='${P}b2'][0]")
kill -9 ${PIDS[h2]}
t0=$(date +%s.%N)
gone=""
while [ "$(echo "$(date +%s.%N) - $t0 <= $TTL + 2" | bc)" = 1 ]; do
  hctl h1 fdb-show br-int | grep -q "$B2MAC" || { gone=1; break; }
  sleep 0.1
done
[ -n "$gone" ] || fail "h1 still has h2's station $B2MAC $TTL + 2 s after h2's kvnetd was killed"
start_host h2
wait_for 15 "h1 has h2's station again" bash -c "KVNET_SOCKET=$T/h1.sock $BIN/kvnetctl fdb-show br-int | grep -q $B2MAC"
pings ${P}b1 10.0.0.12 || fail "b1 -> b2 after h2 came back"
log "h2 killed: its stations gone from h1 within TTL + 2 s; back with it"
# --- security groups: cluster-wide objects; remote_group includes every host's ports -------
group_rules() { hctl $1 --format json sg show $2 | field "len(d['rules'])"; }
no_group() { ! has_group "$@"; }
groups_everywhere() { local h; for h in h1 h2 h3; do has_group $h $1 || return 1; done; }
hctl h1 sg add ${P}web --description "ICMP from members" >/dev/null || fail "sg add in a cluster"
wait_for 10 "h2 and h3 have h1's group" groups_everywhere ${P}web
ip netns exec ${P}st etcdctl --endpoints $URL get /kvnet/sgs/${P}web --print-value-only | grep -q '"rules"' || fail "the group is not in the store"
expect_error "a group name taken cluster-wide" 1 "security group '${P}web' already exists" hctl h3 sg add ${P}web
# Two hosts add rules to one group at once: both land, with their own ids.
hctl h2 sg rule-add ${P}web ingress protocol=icmp remote_group=${P}web >"$T/ra2" 2>&1 &
RA=$!
hctl h3 sg rule-add ${P}web ingress protocol=tcp port=22 >"$T/ra3" 2>&1 || { cat "$T/ra3"; fail "rule-add on h3"; }
wait $RA || { cat "$T/ra2"; fail "rule-add on h2"; }
four_rules() { [ "$(group_rules h1 ${P}web)" = 4 ]; }
wait_for 10 "h1 has both rules" four_rules
hctl h1 --format json sg show ${P}web | field "sorted(r['id'] for r in d['rules'])" | grep -qx "\[1, 2, 3, 4\]" ||
  { hctl h1 sg show ${P}web; fail "rule ids of concurrent adds"; }
# b1 (h1) and b2 (h2) in the group; b3 (h3, blue) not: b2 answers b1 only.
hctl h3 ct add ${P}b3 --network blue --ip 10.0.0.14 >/dev/null || fail "ct add b3"
wait_for 10 "b3 reaches b2 before any group" pings ${P}b3 10.0.0.12 1
hctl h1 set port ct-${P}b1 security_groups=${P}web >/dev/null || fail "set port b1 security_groups"
hctl h2 set port ct-${P}b2 security_groups=${P}web >/dev/null || fail "set port b2 security_groups"
ip netns exec ${P}st etcdctl --endpoints $URL get /kvnet/bindings/blue/h1/ct-${P}b1 --print-value-only |
  python3 -c "import json,sys; assert json.load(sys.stdin)['groups']==['${P}web']" || fail "b1's binding lacks its group"
wait_for 10 "b1 (h1, a member) reaches b2 (h2) through b2's group" pings ${P}b1 10.0.0.12 1
no_ping ${P}b3 10.0.0.12 || fail "b3, not a member, reached b2"
hctl h2 --format json sg show ${P}web | field "[p['host'] + '/' + p['port'] for p in d['remote_ports']]" | grep -q "h1/ct-${P}b1" ||
  { hctl h2 sg show ${P}web; fail "sg show on h2 lacks b1 on h1"; }
hctl h2 sg show ${P}web | grep -q "^  on other hosts: ct-${P}b1 on h1 (10.0.0.11/24)" || { hctl h2 sg show ${P}web; fail "sg show's human output"; }
expect_error "a group in use elsewhere" 1 "security group '${P}web' is used by port ct-${P}b" hctl h3 sg del ${P}web
hctl h3 set port ct-${P}b3 security_groups=${P}web >/dev/null || fail "set port b3 security_groups"
wait_for 10 "b3 reaches b2 once a member" pings ${P}b3 10.0.0.12 1
# A host that was away drops a group deleted meanwhile (unused there).
hctl h1 sg add ${P}tmp >/dev/null || fail "sg add tmp"
wait_for 10 "h3 has tmp" has_group h3 ${P}tmp
kill -9 ${PIDS[h3]}
hctl h1 sg del ${P}tmp >/dev/null || fail "sg del tmp while h3 is away"
start_host h3
wait_for 10 "h3 joined again" all_up h3
wait_for 10 "h3 dropped the group deleted while it was away" no_group h3 ${P}tmp
has_group h3 ${P}web || fail "h3 lost a group it uses"
pings ${P}b3 10.0.0.12 || fail "b3 -> b2 after h3's restart"
for c in b1:h1 b2:h2 b3:h3; do hctl ${c#*:} set port ct-${P}${c%:*} security_groups= >/dev/null || fail "unset ${c%:*}'s groups"; done
wait_for 10 "h1 sees no user of the group" hctl h1 sg del ${P}web
wait_for 10 "the group gone everywhere" no_group h3 ${P}web
# An apply file's security_groups: section manages the cluster's groups.
cat >"$T/sg.yaml" <<YAML
bridges: []
security_groups:
  - {name: ${P}own, description: "h1's before it joined"}
  - name: ${P}fw
    rules:
      - {direction: ingress, protocol: tcp, port: 443}
YAML
hctl h2 apply "$T/sg.yaml" >"$T/out" 2>&1 || { cat "$T/out"; fail "apply with security_groups in a cluster"; }
wait_for 10 "the file's group on h1" has_group h1 ${P}fw
hctl h1 sg show ${P}fw | grep -q "ingress ipv4 tcp port 443" || { hctl h1 sg show ${P}fw; fail "the file's rule on h1"; }
printf 'bridges: []\n' >"$T/sg.yaml"
echo 'security_groups: [{name: '${P}own', description: "h1'"'"'s before it joined"}]' >>"$T/sg.yaml"
hctl h2 apply "$T/sg.yaml" >"$T/out" 2>&1 || { cat "$T/out"; fail "apply removing a group"; }
wait_for 10 "the group the file left out gone on h3" no_group h3 ${P}fw
hctl h3 ct del ${P}b3 >/dev/null || fail "ct del b3"
log "security groups: cluster-wide, concurrent rule adds, remote_group across hosts, in-use refused, a deletion while away, apply files"
for c in b1:h1 b2:h2 r2:h2 r3:h3; do hctl ${c#*:} ct del ${P}${c%:*} >/dev/null || fail "ct del ${c%:*}"; done
hctl h1 network del red >/dev/null || fail "network del red"

# --- etcd unreachable: state kept, clear errors, local commands work; then back ---------
kill -9 $ETCD_PID
ETCD_PID=""
wait_for 10 "h1 says the store is unreachable" bash -c "KVNET_SOCKET=$T/h1.sock $BIN/kvnetctl cluster status | grep -q '^member:    none answering: cluster store unreachable at $URL: connection refused'"
hctl h1 list-br >/dev/null || fail "a local command failed while etcd is down"
expect_error "network add without the store" 1 "cluster store unreachable at $URL: connection refused" \
  hctl h1 network add green --vni 500
expect_error "ct add on a network without the store" 1 "cluster store unreachable at $URL: connection refused" \
  hctl h1 ct add ${P}c9 --network blue
hctl h1 ct list | grep -q "^${P}c9 " && fail "ct add without the store left a container"
hctl h1 network list >"$T/out" 2>"$T/err" || fail "network list while etcd is down"
grep -q "^blue " "$T/out" || fail "network list while etcd is down lacks blue (the last state)"
grep -q "warning: cluster store unreachable at $URL: connection refused: the networks as this host last saw them" "$T/err" ||
  { cat "$T/err"; fail "network list does not say its answer is stale"; }
[ "$(host_state h1 h2)" = up ] || fail "h1 forgot h2 while etcd is down (the last state must hold)"
etcd_single $STORE
for n in h1 h2 h3; do
  wait_for 15 "$n joined again" bash -c "KVNET_SOCKET=$T/$n.sock $BIN/kvnetctl --format json cluster status | grep -q '\"joined\": true'"
  wait_for 15 "$n sees every host up again" all_up $n
done
log "etcd stopped: state kept, clear error; restarted: every host joined again"

# --- hostile records are refused by key; the rest applies --------------------------------
ETCDCTL="ip netns exec ${P}st etcdctl --endpoints $URL"
$ETCDCTL put /kvnet/hosts/evil '{not json' >/dev/null
$ETCDCTL put /kvnet/hosts/liar '{"name":"h1","underlay_ip":"10.96.0.66"}' >/dev/null
$ETCDCTL put /kvnet/hosts/h9 '{"name":"h9","underlay_ip":"10.96.0.9","encaps":["vxlan"]}' >/dev/null
wait_for 10 "h1 sees h9" bash -c "[ \"\$(KVNET_SOCKET=$T/h1.sock $BIN/kvnetctl --format json cluster hosts | grep -c '\"name\": \"h9\"')\" = 1 ]"
grep -q "cluster: refused cluster key '/kvnet/hosts/evil': not JSON" "$T/h1.log" || { tail "$T/h1.log"; fail "the bad record was not refused by key"; }
grep -q "cluster: refused cluster key '/kvnet/hosts/liar': names host 'h1', not the key's" "$T/h1.log" || fail "the lying record was not refused"
hctl h1 --format json cluster hosts | field "sorted(h['name'] for h in d)" | grep -q "\['h1', 'h2', 'h3', 'h9'\]" ||
  { hctl h1 cluster hosts; fail "hosts after hostile records"; }
kill -0 ${PIDS[h1]} || fail "kvnetd died of a hostile record"
log "hostile records refused by key, the rest applied"

# --- bad flags: a clear error, exit 2, nothing started -----------------------------------
expect_error "not a URL" 2 "--cluster: etcd endpoint '10.0.0.1:2379': give a URL such as http://10.0.0.1:2379" \
  "$BIN/kvnetd" --foreground --db "$T/x.db" --socket "$T/x.sock" --cluster 10.0.0.1:2379
expect_error "TTL out of range" 2 "--cluster-ttl 1 is out of range 2-3600" \
  "$BIN/kvnetd" --foreground --db "$T/x.db" --socket "$T/x.sock" --cluster $URL --cluster-ttl 1
expect_error "host without cluster" 2 "--host requires --cluster" \
  "$BIN/kvnetd" --foreground --db "$T/x.db" --socket "$T/x.sock" --host h1
expect_error "bad underlay" 2 "--underlay-ip '10.1' is not an IP address" \
  "$BIN/kvnetd" --foreground --db "$T/x.db" --socket "$T/x.sock" --cluster $URL --underlay-ip 10.1
expect_error "missing CA file" 2 "--cluster-cacert: cannot read '$T/nope.crt'" \
  "$BIN/kvnetd" --foreground --db "$T/x.db" --socket "$T/x.sock" --cluster https://$STORE:2379 --cluster-cacert "$T/nope.crt"
log "bad flags refused"
# A standalone kvnetd says so.
kvd_start
kctl cluster status | grep -q "^standalone: this kvnetd is not in a cluster" || fail "standalone status"
expect_error "standalone hosts" 1 "this kvnetd is standalone: start it with --cluster URL to join a cluster" kctl cluster hosts
expect_error "standalone draw --cluster" 1 "this kvnetd is standalone: draw --cluster needs a cluster" kctl draw --cluster
expect_error "standalone networks" 1 "networks are cluster-wide: this kvnetd is standalone (start it with --cluster URL)" \
  kctl network add blue --vni 100
log "PASS"
