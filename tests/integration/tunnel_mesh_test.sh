#!/usr/bin/env bash
# kvnet <-> kvnet over every tunnel type, between hosts that are namespaces,
# each with its own kvnetd (own socket and database):
#
#   underlay: namespace ${P}U holds a Linux bridge; hosts h1, h2, h3 hang off
#   it by veth pairs with 10.98.0.1-3/24.
#
# 1. vxlan, geneve, gre (with a key) and nvgre between h1 and h2, each on its
#    own bridge with a container per host: ping and iperf3; tshark decodes the
#    underlay packets with the expected VNI / key (NVGRE: VSID = key >> 8).
# 2. Tenant isolation: two tenants with the same IPs and MACs on VNIs 100 and
#    200: tenant A's traffic never reaches tenant B.
# 3. A full mesh of three hosts with head-end replication: a broadcast from h1
#    reaches h2 and h3 exactly once each.
source "$(dirname "$0")/lib.sh" "$@"


ip netns add ${P}U
ip -n ${P}U link add br0 type bridge
ip -n ${P}U link set br0 up
host_up() {  # NAME INDEX
  local h=$1 i=$2
  ip netns add ${P}$h
  ip link add ${P}$h-u type veth peer name ${P}$h-h
  ip link set ${P}$h-u netns ${P}U
  ip link set ${P}$h-h netns ${P}$h
  ip -n ${P}U link set ${P}$h-u master br0 up
  ip -n ${P}$h addr add 10.98.0.$i/24 dev ${P}$h-h
  ip -n ${P}$h link set ${P}$h-h up
  ip -n ${P}$h link set lo up
  host_kvnetd $h ${P}$h
}

host_up h1 1
host_up h2 2
host_up h3 3
log "three hosts, each with its own kvnetd, on one underlay"

iperf() {  # FROM_NS TO_ADDR SERVER_NS: prints Gbit/s
  ip netns exec "$3" iperf3 -s -1 >/dev/null 2>&1 &
  local srv=$!
  sleep 0.3
  local out
  out=$(ip netns exec "$1" iperf3 -c "$2" -t 1 -J 2>&1) || { echo "$out" | tail -3; kill $srv 2>/dev/null; return 1; }
  wait $srv 2>/dev/null || true
  # Not a speed check: the transfer must have moved data at all.
  echo "$out" | python3 -c 'import json,sys; b=json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]; assert b > 1e6, "no data moved"; print("%.2f" % (b/1e9))'
}

# tshark_check HOST FILTER FIELDS PYTHON_CHECK NS ADDR: captures 2 packets on
# the host's underlay while NS pings ADDR, then runs the check on the fields.
# The capture filter picks the tunnel by its VNI or key (other tunnels on the
# same port carry the other bridges' chatter).
tshark_check() {
  local h=$1 filter=$2 fields=$3 check=$4 ns=$5 addr=$6
  local args=()
  for f in $fields; do args+=(-e "$f"); done
  ip netns exec ${P}$h tshark -i ${P}$h-h -f "$filter" -c 2 -a duration:6 -T fields "${args[@]}" -E separator=' ' \
    >"$T/ts.txt" 2>"$T/ts.err" &
  local ts=$!
  tshark_ready "$T/ts.err"
  pings "$ns" "$addr" 4 || true
  wait $ts || { cat "$T/ts.err"; fail "tshark on $h failed"; }
  python3 -c "
import sys
rows = [l.split() for l in open('$T/ts.txt') if l.strip()]
assert rows, 'nothing captured'
for r in rows:
    $check
" || { cat "$T/ts.txt"; fail "tshark: $filter: unexpected fields"; }
}

# 1. Every tunnel type, h1 <-> h2.
n=0
for spec in "vxlan:type=vxlan vni=4242" "geneve:type=geneve vni=4343" "gre:type=gre key=77" "nvgre:type=gre nvgre=true key=5000" \
  "vxcsum:type=vxlan vni=4444 csum=true"; do
  name=${spec%%:*}
  opts=${spec#*:}
  n=$((n + 1))
  for i in 1 2; do
    other=$((3 - i))
    hctl h$i add-br t$n >/dev/null
    expect_ok "$name port on h$i" hctl h$i add-port t$n ${name}0 $opts remote_ip=10.98.0.$other local_ip=10.98.0.$i
    expect_ok "$name container on h$i" hctl h$i ct add ${P}$n$i --bridge t$n --ip 192.168.$((70 + n)).$i/24
    ip netns exec ${P}$n$i ip link set eth0 mtu 1400
  done
  pings ${P}${n}1 192.168.$((70 + n)).2 3 || fail "$name: h1 cannot ping h2 over the tunnel"
  pings ${P}${n}2 192.168.$((70 + n)).1 3 || fail "$name: h2 cannot ping h1 over the tunnel"
  g=$(iperf ${P}${n}1 192.168.$((70 + n)).2 ${P}${n}2) || fail "$name: iperf3 failed"
  log "$name: ping both ways, iperf3 TCP $g Gbit/s"
  case $name in
    vxlan) tshark_check h2 "udp dst port 4789 and udp[12:4] & 0xffffff00 = $((4242 << 8))" "vxlan.vni udp.srcport" \
      "assert int(r[0], 0) == 4242 and 49152 <= int(r[1]) <= 65535, r" ${P}11 192.168.71.2 ;;
    geneve) tshark_check h2 "udp dst port 6081 and udp[12:4] & 0xffffff00 = $((4343 << 8))" "geneve.vni geneve.proto_type udp.srcport" \
      "assert int(r[0], 0) == 4343 and int(r[1], 0) == 0x6558 and 49152 <= int(r[2]) <= 65535, r" ${P}21 192.168.72.2 ;;
    gre) tshark_check h2 "ip proto 47 and ip[24:4] = 77" "gre.key gre.proto" \
      "assert int(r[0], 0) == 77 and int(r[1], 0) == 0x6558, r" ${P}31 192.168.73.2 ;;
    nvgre) tshark_check h2 "ip proto 47 and ip[24:4] & 0xffffff00 = $((5000 << 8))" "gre.key gre.proto" \
      "assert int(r[0], 0) >> 8 == 5000 and int(r[1], 0) == 0x6558, r" ${P}41 192.168.74.2 ;;
    vxcsum) tshark_check h2 "udp dst port 4789 and udp[12:4] & 0xffffff00 = $((4444 << 8))" "vxlan.vni udp.checksum" \
      "assert int(r[0], 0) == 4444 and int(r[1], 0) != 0, r" ${P}51 192.168.75.2 ;;
  esac
  log "$name: tshark decodes the expected $(case $name in nvgre) echo VSID ;; gre) echo key ;; vxcsum) echo "VNI and a nonzero UDP checksum" ;; *) echo VNI ;; esac)"
done

# 2. Two tenants, same IPs and MACs, VNIs 100 and 200.
for t in a b; do
  vni=$([ $t = a ] && echo 100 || echo 200)
  for i in 1 2; do
    hctl h$i add-br ten$t >/dev/null
    expect_ok "tenant $t port" hctl h$i add-port ten$t vx$t type=vxlan vni=$vni remote_ip=10.98.0.$((3 - i)) local_ip=10.98.0.$i
    expect_ok "tenant $t container" hctl h$i ct add ${P}$t$i --bridge ten$t --ip 192.168.80.$i/24
    ip netns exec ${P}$t$i ip link set eth0 address 02:00:00:00:80:0$i
    ip netns exec ${P}$t$i ip link set eth0 mtu 1400
  done
done
pings ${P}b1 192.168.80.2 2 || fail "tenant b cannot ping within itself"
# Watch tenant b's h2 container for IPv4 traffic (ICMP, ARP) while tenant a pings.
ip netns exec ${P}b2 timeout 4 tcpdump -ni eth0 -l "icmp or arp" >"$T/leak.txt" 2>/dev/null &
TD=$!
sleep 1
ip netns exec ${P}a1 ping -n -q -c 20 -i 0.05 -W 1 192.168.80.2 >"$T/ping_a.txt" 2>&1 || { cat "$T/ping_a.txt"; fail "tenant a cannot ping within itself"; }
wait $TD || true
leaked=$(grep -c . "$T/leak.txt" || true)
[ "$leaked" = 0 ] || { cat "$T/leak.txt"; fail "tenant b saw $leaked of tenant a's frames (isolation broken)"; }
log "tenants with the same IPs and MACs on VNIs 100 and 200 stay apart (tenant a: 20 pings answered, tenant b saw none)"

# 3. Full mesh of three hosts, head-end replication of a broadcast.
for i in 1 2 3; do
  remotes=$(for j in 1 2 3; do if [ $j != $i ]; then printf '10.98.0.%s,' $j; fi; done)
  hctl h$i add-br mesh >/dev/null
  expect_ok "mesh port on h$i" hctl h$i add-port mesh vxm type=vxlan vni=900 remote_ip=${remotes%,} local_ip=10.98.0.$i
  expect_ok "mesh container on h$i" hctl h$i ct add ${P}m$i --bridge mesh --ip 192.168.90.$i/24
  ip netns exec ${P}m$i ip link set eth0 mtu 1400
done
pings ${P}m1 192.168.90.3 2 || fail "mesh: h1 cannot ping h3"
pings ${P}m2 192.168.90.3 2 || fail "mesh: h2 cannot ping h3"
for i in 2 3; do
  ip netns exec ${P}m$i timeout 4 tcpdump -ni eth0 -l "icmp and dst host 192.168.90.255" >"$T/bc$i.txt" 2>/dev/null &
done
sleep 1
ip netns exec ${P}m1 ping -b -c 1 -W 1 192.168.90.255 >/dev/null 2>&1 || true
wait
for i in 2 3; do
  c=$(grep -c "ICMP echo request" "$T/bc$i.txt" || true)
  [ "$c" = 1 ] || { cat "$T/bc$i.txt"; fail "mesh: h$i saw the broadcast $c times (expected exactly once)"; }
done
log "mesh: one broadcast from h1 reached h2 and h3 exactly once each"

# 4. remote_ip=flow: the remotes come from static FDB entries (fdb-add ...
#    remote_ip=A); trace follows a frame into the tunnel and shows the outer headers.
for i in 1 3; do
  o=$((4 - i))
  hctl h$i add-br flw >/dev/null
  expect_ok "flow port on h$i" hctl h$i add-port flw vxf type=vxlan vni=950 remote_ip=flow local_ip=10.98.0.$i
  expect_ok "flow container on h$i" hctl h$i ct add ${P}f$i --bridge flw --ip 192.168.95.$i/24
  ip netns exec ${P}f$i ip link set eth0 address 02:00:00:00:95:0$i
  ip netns exec ${P}f$i ip link set eth0 mtu 1400
  expect_ok "static remote on h$i" hctl h$i fdb-add flw 1 02:00:00:00:95:0$o vxf remote_ip=10.98.0.$o
done
expect_error "remote_ip on a non-tunnel port" 1 "remote_ip applies to entries of tunnel ports" \
  hctl h1 fdb-add flw 1 02:00:00:00:95:09 ct-${P}f1 remote_ip=10.98.0.3
hctl h1 fdb-show flw | grep -E "02:00:00:00:95:03 +static +10.98.0.3" >/dev/null ||
  { hctl h1 fdb-show flw; fail "fdb-show does not show the static remote"; }
hctl h1 export | grep "remote_ip: 10.98.0.3" >/dev/null || { hctl h1 export; fail "export lacks the static entry's remote_ip"; }
pings ${P}f1 192.168.95.3 3 || fail "remote_ip=flow: h1 cannot ping h3 through the static remote"
out=$(hctl h1 trace flw in_port=ct-${P}f1 dl_src=02:00:00:00:95:01 dl_dst=02:00:00:00:95:03 ip nw_src=192.168.95.1 nw_dst=192.168.95.3)
echo "$out" | grep "encap" >/dev/null && echo "$out" | grep "vxlan vni 950" >/dev/null && echo "$out" | grep "10.98.0.1 -> 10.98.0.3" >/dev/null &&
  echo "$out" | grep -- "-> 4789" >/dev/null || { echo "$out"; fail "trace does not show the outer headers"; }
log "remote_ip=flow with static remotes: ping works; fdb-show, export and trace show the remote"
log "PASS"
