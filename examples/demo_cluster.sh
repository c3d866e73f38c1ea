#!/usr/bin/env bash
# Part 3 of ./run demo: a cluster of three hosts on etcd.
#
# host1, host2 and host3 are network namespaces on an underlay bridge
# (10.95.0.0/24, in namespace `underlay`); etcd runs in a namespace of its
# own on it (`store`, 10.95.0.100). Each host runs its own kvnetd, started
# as users start one: `ip netns exec hostN kvnetd --cluster URL --host hostN
# --underlay-ip IP`. Two tenant networks with the same subnet, blue (VNI 100)
# and red (VNI 200), get containers on all three hosts; every address is
# allocated cluster-wide. The demo pings within a network and across hosts,
# shows that the tenants never meet, what one host programmed from the store
# (remote MACs named by host and network), an ARP request answered on the
# ingress host instead of crossing the underlay, a security group made on
# one host whose remote_group rule counts members on every host, a host that dies: the
# others drop its stations when its lease runs out, and take them back when
# it returns, and a VM that moves from host1 to host2 while it runs (live
# migration) as blue3 pings it every 10 ms. Everything is removed at the end (--keep leaves it; the next
# run removes it first). What it makes is recorded in /run/kvnet-demo/cluster
# (examples/demo_lib.sh).
# Usage: examples/demo_cluster.sh BIN_DIR [--keep]
set -euo pipefail
BIN=$(cd "${1:?usage: demo_cluster.sh BIN_DIR [--keep]}" && pwd)
KEEP=${2:-}
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/demo_lib.sh"
WORK=$(cd "$BIN/.." && pwd)/demo-cluster
K="$BIN/kvnetctl"
URL=http://10.95.0.100:2379
TTL=3
HOSTS=(host1 host2 host3)
NS=(underlay store host1 host2 host3 blue1 blue2 blue3 red1 red2 red3)
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
on() { local h=$1; shift; KVNET_SOCKET="$WORK/$h.sock" "$K" "$@"; }
show() { echo "\$ kvnetctl ${*:2}  # on $1"; on "$@"; }
wait_until() {  # SECONDS WHAT CMD...: polls CMD every 0.1 s
  local n=$(($1 * 10)) what=$2
  shift 2
  for _ in $(seq 1 $n); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "demo cluster: timed out waiting for $what" >&2
  return 1
}

command -v etcd >/dev/null || { echo "demo cluster: etcd is not installed (./run installs etcd-server)" >&2; exit 1; }
demo_clean cluster  # what a kept (or interrupted) run left
demo_check_free cluster "${NS[@]}"
rm -rf "$WORK"
mkdir -p "$WORK"
if [ "$KEEP" != "--keep" ]; then
  trap 'demo_clean cluster' EXIT
  trap 'exit 130' INT TERM
fi

say "1. The underlay: three hosts and the store on one bridge (10.95.0.0/24)"
demo_record cluster netns "${NS[@]}"
ip netns add underlay
ip -n underlay link add br0 type bridge
ip -n underlay link set br0 up
i=0
for n in host1 host2 host3 store; do
  i=$((i + 1))
  ip netns add $n
  ip link add ul-$n type veth peer name eth1 netns $n
  ip link set ul-$n netns underlay
  ip -n underlay link set ul-$n master br0 up
  ip -n $n link set lo up
  ip -n $n link set eth1 up
  if [ $n = store ]; then ip -n $n addr add 10.95.0.100/24 dev eth1; else ip -n $n addr add 10.95.0.$i/24 dev eth1; fi
done
for n in host1 host2 host3 store; do ip -n $n -br addr show eth1; done

say "2. etcd (one member: a lab; three for production, docs/cluster.md) in namespace store"
ip netns exec store etcd --name store --data-dir "$WORK/etcd" --listen-client-urls $URL --advertise-client-urls $URL \
  --listen-peer-urls http://10.95.0.100:2380 --initial-advertise-peer-urls http://10.95.0.100:2380 \
  --initial-cluster store=http://10.95.0.100:2380 >"$WORK/etcd.log" 2>&1 &
demo_record cluster proc $!
wait_until 20 "etcd" ip netns exec store etcdctl --endpoints $URL endpoint health
ip netns exec store etcdctl --endpoints $URL endpoint status -w table

say "3. A kvnetd on each host, joining the cluster"
start_host() {
  local h=$1
  echo "\$ ip netns exec $h kvnetd --cluster $URL --host $h --underlay-ip 10.95.0.${h#host} --cluster-ttl $TTL"
  # Hosts sharing one machine keep their VMs apart (each its own --vm-dir, --disk-dir).
  ip netns exec "$h" "$BIN/kvnetd" --foreground --db "$WORK/$h.db" --socket "$WORK/$h.sock" \
    --vm-dir "$WORK/$h-vms" --disk-dir "$WORK/$h-disks" --image-dir "$WORK/$h-images" \
    --cluster $URL --host "$h" --underlay-ip "10.95.0.${h#host}" --cluster-ttl $TTL 2>>"$WORK/$h.log" &
  demo_record cluster kvnetd $! "$WORK/$h.sock" "$K"
  demo_record cluster qemu "$WORK/$h-vms"
  eval "PID_$h=$!"
  wait_until 10 "kvnetd on $h" on "$h" list-br
}
for h in "${HOSTS[@]}"; do start_host $h; done
all_up() { [ "$(on host1 --format json cluster hosts | python3 -c 'import json,sys; print(sum(h["state"] == "up" for h in json.load(sys.stdin)))')" = 3 ]; }
wait_until 10 "every host up" all_up
show host1 cluster status
show host2 cluster hosts

say "4. Two tenant networks, the same subnet: names and VNIs are unique cluster-wide"
show host1 network add blue --vni 100 --subnet 10.0.0.0/24
show host2 network add red --vni 200 --subnet 10.0.0.0/24
echo "\$ kvnetctl network add blue --vni 300  # on host3: the name is taken"
on host3 network add blue --vni 300 || true
show host3 network list

say "5. Containers on both networks on every host; addresses allocated cluster-wide"
for i in 1 2 3; do
  show host$i ct add blue$i --network blue
  show host$i ct add red$i --network red
done
echo "-- host1 wires them as Neutron's OVS agent does: br-int, a local VLAN per network, one vxlan port"
show host1 get port vx-cluster vni_map

say "6. Within a network across hosts: blue1 -> blue2, blue3; red1 -> red3"
ctip() { on "$1" --format json ct list | python3 -c "import json,sys; print([c['ip'] for c in json.load(sys.stdin) if c['name']=='$2'][0].split('/')[0])"; }
wait_until 10 "blue1 reaches blue2" ip netns exec blue1 ping -c 1 -W 1 "$(ctip host2 blue2)"
ip netns exec blue1 ping -c 2 -i 0.3 "$(ctip host2 blue2)"
ip netns exec blue1 ping -c 2 -i 0.3 "$(ctip host3 blue3)"
ip netns exec red1 ping -c 2 -i 0.3 "$(ctip host3 red3)"
echo "-- blue and red hold the same addresses; blue1 -> red2's address reaches blue2, never red2:"
ip netns exec red2 timeout 3 tcpdump -l -nn -i eth0 icmp >"$WORK/red2.cap" 2>/dev/null &
TD=$!
sleep 1
ip netns exec blue1 ping -c 2 -i 0.3 "$(ctip host2 red2)" >/dev/null 2>&1 || true
wait $TD || true
echo "-- red2 heard $(grep -c . "$WORK/red2.cap" || true) ICMP packets (VNI 100 is not VNI 200)"

say "7. What host1 programmed from the store: remote MACs named by host and network (no flood-and-learn)"
show host1 fdb-show br-int

echo "-- the whole cluster as host1 knows it from the store, drawn:"
show host1 draw --cluster -o "$WORK/cluster.svg"

say "8. ARP suppression: blue1 asks for blue2's MAC; host1 answers, nothing crosses the underlay"
B1MAC=$(on host1 --format json ct list | python3 -c "import json,sys; print([c['mac'] for c in json.load(sys.stdin) if c['name']=='blue1'][0])")
show host1 trace br-int in_port=ct-blue1 "dl_src=$B1MAC,dl_dst=ff:ff:ff:ff:ff:ff,arp,arp_spa=$(ctip host1 blue1),arp_tpa=$(ctip host2 blue2)"

say "9. Security groups are cluster-wide: 'web' made on host1, a rule added on host2, members on every host"
show host1 sg add web --description "ICMP from its members"
show host2 sg rule-add web ingress protocol=icmp remote_group=web
show host1 set port ct-blue1 security_groups=web
show host2 set port ct-blue2 security_groups=web
echo "-- blue1 (host1, a member) reaches blue2 (host2); blue3 (host3, not a member) does not:"
wait_until 10 "blue1 reaches blue2 through web" ip netns exec blue1 ping -c 1 -W 1 "$(ctip host2 blue2)"
ip netns exec blue1 ping -c 2 -i 0.3 "$(ctip host2 blue2)"
ip netns exec blue3 ping -c 2 -i 0.3 -W 1 "$(ctip host2 blue2)" || echo "-- blue3: no answer (host2's firewall: not a member of web)"
show host2 sg show web

say "10. host3 dies (kill -9 of its kvnetd): within its TTL ($TTL s) + 2 s the others drop its stations"
B3MAC=$(on host3 --format json ct list | python3 -c "import json,sys; print([c['mac'] for c in json.load(sys.stdin) if c['name']=='blue3'][0])")
kill -9 "$PID_host3"
t0=$EPOCHREALTIME
gone() { ! on host1 fdb-show br-int | grep -q "$B3MAC"; }
wait_until $((TTL + 5)) "host3's stations to go" gone
echo "-- host1 dropped blue3's MAC $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b - a}') s after the kill"
show host1 cluster hosts
start_host host3
back() { on host1 fdb-show br-int | grep -q "$B3MAC"; }
wait_until 15 "host3's stations back" back
echo "-- host3 is back; its stations too:"
on host1 fdb-show br-int | grep "$B3MAC"
wait_until 10 "blue1 reaches blue3" ip netns exec blue1 ping -c 1 -W 1 "$(ctip host3 blue3)"
ip netns exec blue1 ping -c 2 -i 0.3 "$(ctip host3 blue3)"

say "11. Live migration: a VM on blue moves from host1 to host2 while blue3 pings it every 10 ms"
show host1 vm add web --mem 128M --nic network=blue --start --wait
WEB=$(on host1 --format json vm show web | python3 -c "import json,sys; print(json.load(sys.stdin)['nics'][0]['ip'].split('/')[0])")
wait_until 15 "blue3 reaches web" ip netns exec blue3 ping -c 1 -W 1 "$WEB"
ip netns exec blue3 ping -n -q -i 0.01 -W 1 "$WEB" >"$WORK/migration-ping" 2>&1 &
PING=$!
sleep 1
show host1 vm migrate web --to host2 --wait
sleep 1
kill -INT $PING
wait $PING || true
echo "-- pings every 10 ms from blue3 (host3) during the move: $(grep -o '[0-9]* packets transmitted, [0-9]* received' "$WORK/migration-ping")"
show host2 vm list
ip netns exec store etcdctl --endpoints $URL get /kvnet/bindings/blue/ --prefix --print-value-only | grep '"vm web'
echo "-- web's binding is host2's now, with a higher sequence number: every host sends its frames there"

if [ "$KEEP" = "--keep" ]; then
  say "Kept running: KVNET_SOCKET=$WORK/host1.sock $K cluster status; ip netns exec blue1 ping $(ctip host2 blue2)"
  echo "Removed by the next ./run demo, or: bash examples/demo_lib.sh clean cluster"
else
  say "Tearing down (use --keep to leave it running)"
fi
