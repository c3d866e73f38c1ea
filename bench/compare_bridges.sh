#!/usr/bin/env bash
# kvnet against its peers, in one run, on the same topology: two network
# namespaces whose veths meet in (a) a Linux bridge, (b) Open vSwitch's
# userspace datapath (datapath_type=netdev; with default offloads, and again
# with offloads off on the veths), (c) kvnetd with its kernel fast path (the
# default), (d) kvnetd with every frame on its slow path (--no-fast-path),
# (e) the floor under any eBPF fast path: a tc program that only calls
# bpf_redirect_peer between the two veths (bench/bpf/redirect_peer.bpf.c).
# Measures iperf3 TCP Gbit/s,
# 64-byte UDP packets/s delivered, and ping RTT; medians of RUNS runs. Writes
# the table to docs/benchmarks.md (between the markers) and prints it.
#
# Usage: bench/compare_bridges.sh BIN_DIR [RUNS]   (root; needs iperf3, ovs)
set -euo pipefail
BIN=$(cd "${1:?usage: compare_bridges.sh BIN_DIR [RUNS]}" && pwd)
RUNS=${2:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/lib.sh"
T=$(mktemp -d /tmp/kvnet-bench.XXXXXX)
P="kb$(($$ % 10000))"
DUR=${BENCH_SECONDS:-4}
export OVS_RUNDIR=$T/ovs OVS_DBDIR=$T/ovs OVS_LOGDIR=$T/ovs
OVSDB="unix:$T/ovs/db.sock"
KVD=""
# ovs-vswitchd's netdev datapath leaves a TAP called ovs-netdev behind.
OVS_NETDEV_EXISTED=$(ip link show ovs-netdev >/dev/null 2>&1 && echo 1 || echo 0)

cleanup() {
  set +e
  [ "$OVS_NETDEV_EXISTED" = 0 ] && ip link del ovs-netdev 2>/dev/null
  end_started
  [ -n "$KVD" ] && kill "$KVD" 2>/dev/null && sleep 0.3
  [ -f "$T/ovs/vswitchd.pid" ] && kill "$(cat "$T/ovs/vswitchd.pid")" 2>/dev/null
  [ -f "$T/ovs/ovsdb.pid" ] && kill "$(cat "$T/ovs/ovsdb.pid")" 2>/dev/null
  ip netns del ${P}1 2>/dev/null
  ip netns del ${P}2 2>/dev/null
  ip link del ${P}br 2>/dev/null
  ip link del ${P}h1 2>/dev/null
  ip link del ${P}h2 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
say() { echo "[bench] $*" >&2; }

# Two namespaces, 10.86.0.1 and .2, whose veths' host ends are ${P}h1/${P}h2.
make_hosts() {
  for i in 1 2; do
    ip netns add ${P}$i
    ip link add ${P}h$i type veth peer name eth0 netns ${P}$i
    ip -n ${P}$i addr add 10.86.0.$i/24 dev eth0
    ip -n ${P}$i link set eth0 up
    ip -n ${P}$i link set lo up
    ip link set ${P}h$i up
  done
}
drop_hosts() {
  ip netns del ${P}1 2>/dev/null || true
  ip netns del ${P}2 2>/dev/null || true
  sleep 0.2
}
offloads() {  # on|off
  for i in 1 2; do
    ip netns exec ${P}$i ethtool -K eth0 tx "$1" rx "$1" tso "$1" gso "$1" gro "$1" >/dev/null 2>&1 || true
    ethtool -K ${P}h$i tx "$1" rx "$1" tso "$1" gso "$1" gro "$1" >/dev/null 2>&1 || true
  done
}


# One measurement set on the current hosts: prints "tcp_gbps udp_pps rtt_ms".
measure() {
  local tcp=() udp=() rtt=()
  ip netns exec ${P}1 ping -c 3 -i 0.2 -W 1 10.86.0.2 >/dev/null 2>&1 || true  # learn, ARP
  for r in $(seq 1 "$RUNS"); do
    iperf_server ${P}2 5310 || say "  iperf3 server on port 5310 did not start"
    local g=0
    if ip netns exec ${P}1 timeout $((DUR + 10)) iperf3 -c 10.86.0.2 -p 5310 -t "$DUR" -J --connect-timeout 3000 >"$T/tcp.json" 2>/dev/null; then
      g=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(round(j["end"]["sum_received"]["bits_per_second"]/1e9, 2))' "$T/tcp.json" 2>/dev/null || echo 0)
    fi
    end_pid "$IPERF_PID"
    tcp+=("$g")
    iperf_server ${P}2 5311 || say "  iperf3 server on port 5311 did not start"
    local u=0
    if ip netns exec ${P}1 timeout $((DUR + 10)) iperf3 -u -b 0 -l 18 -c 10.86.0.2 -p 5311 -t "$DUR" -J >"$T/udp.json" 2>/dev/null; then
      u=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["end"]["sum"]; print(int((s["packets"]-s["lost_packets"])/s["seconds"]))' "$T/udp.json" 2>/dev/null || echo 0)
    fi
    end_pid "$IPERF_PID"
    udp+=("$u")
    local p
    p=$(ip netns exec ${P}1 ping -q -c 100 -i 0.01 -W 1 10.86.0.2 2>/dev/null | sed -n 's|.*= [0-9.]*/\([0-9.]*\)/.*|\1|p')
    rtt+=("${p:-0}")
    say "  run $r: TCP ${g} Gbit/s, UDP ${u} pps, RTT ${p:-?} ms"
  done
  echo "$(printf '%s\n' "${tcp[@]}" | median) $(printf '%s\n' "${udp[@]}" | median) $(printf '%s\n' "${rtt[@]}" | median)"
}

declare -A R
say "Linux bridge"
make_hosts
ip link add ${P}br type bridge
ip link set ${P}br up
ip link set ${P}h1 master ${P}br
ip link set ${P}h2 master ${P}br
R[linux]=$(measure)
ip link del ${P}br
drop_hosts

say "Open vSwitch, userspace datapath (netdev)"
mkdir -p "$T/ovs"
ovsdb-tool create "$T/ovs/conf.db" /usr/share/openvswitch/vswitch.ovsschema
ovsdb-server "$T/ovs/conf.db" --remote=punix:"$T/ovs/db.sock" --pidfile="$T/ovs/ovsdb.pid" --detach --log-file="$T/ovs/ovsdb.log"
ovs-vsctl --db="$OVSDB" --no-wait init
ovs-vswitchd "$OVSDB" --pidfile="$T/ovs/vswitchd.pid" --detach --log-file="$T/ovs/vswitchd.log" 2>/dev/null
ovs-vsctl --db="$OVSDB" add-br ${P}ov -- set bridge ${P}ov datapath_type=netdev
make_hosts
ovs-vsctl --db="$OVSDB" add-port ${P}ov ${P}h1 -- add-port ${P}ov ${P}h2
sleep 1
say " with default offloads"
R[ovs]=$(measure)
say " with offloads off"
offloads off
R[ovs_off]=$(measure)
ovs-vsctl --db="$OVSDB" del-br ${P}ov
drop_hosts
kill "$(cat "$T/ovs/vswitchd.pid")" "$(cat "$T/ovs/ovsdb.pid")" 2>/dev/null || true
sleep 0.5

kvnet_run() {  # label [kvnetd flags...]
  local label=$1
  shift
  say "kvnetd $*"
  make_hosts
  "$BIN/kvnetd" --foreground --db "$T/kvnet.db" --socket "$T/kvnetd.sock" "$@" >"$T/kvnetd.log" 2>&1 &
  KVD=$!
  for _ in $(seq 1 100); do [ -S "$T/kvnetd.sock" ] && break; sleep 0.05; done
  "$BIN/kvnetctl" --socket "$T/kvnetd.sock" add-br ${P}kv >/dev/null
  "$BIN/kvnetctl" --socket "$T/kvnetd.sock" add-port ${P}kv ${P}h1 >/dev/null
  "$BIN/kvnetctl" --socket "$T/kvnetd.sock" add-port ${P}kv ${P}h2 >/dev/null
  R[$label]=$(measure)
  if [ "$label" = kvnet ]; then
    "$BIN/kvnetctl" --socket "$T/kvnetd.sock" fastpath show >&2 || true
  fi
  kill "$KVD"
  wait "$KVD" 2>/dev/null || true
  KVD=""
  rm -f "$T/kvnet.db" "$T/kvnet.db.lock"
  drop_hosts
}
kvnet_run kvnet
kvnet_run kvnet_slow --no-fast-path

say "bpf_redirect_peer between the veths (the floor under an eBPF fast path)"
make_hosts
for i in 1 2; do
  o=$((3 - i))
  clang -target bpf -O2 -I/usr/include/$(gcc -print-multiarch) -DOUT_IFINDEX="$(cat /sys/class/net/${P}h$o/ifindex)" \
    -c "$ROOT/bench/bpf/redirect_peer.bpf.c" -o "$T/redirect$i.o"
  tc qdisc add dev ${P}h$i clsact
  tc filter add dev ${P}h$i ingress bpf direct-action obj "$T/redirect$i.o" sec tc
done
R[redirect]=$(measure)
drop_hosts

read -r lt lu lr <<<"${R[linux]}"
read -r ot ou or <<<"${R[ovs]}"
read -r ft fu fr <<<"${R[ovs_off]}"
read -r kt ku kr <<<"${R[kvnet]}"
read -r st su sr <<<"${R[kvnet_slow]}"
read -r bt bu br <<<"${R[redirect]}"
TABLE=$(cat <<MD
| datapath | TCP Gbit/s | 64-byte UDP pps | ping RTT ms |
|---|---|---|---|
| Linux bridge | $lt | $lu | $lr |
| OVS userspace, default offloads | $ot | $ou | $or |
| OVS userspace, offloads off | $ft | $fu | $fr |
| **kvnetd** (kernel fast path), default offloads | **$kt** | **$ku** | **$kr** |
| kvnetd, slow path only (\`--no-fast-path\`) | $st | $su | $sr |
| bpf_redirect_peer alone (no lookup: the floor) | $bt | $bu | $br |
| kvnetd ÷ Linux bridge | $(ratio "$kt" "$lt") | $(ratio "$ku" "$lu") | $(ratio "$kr" "$lr") |
| kvnetd ÷ bpf_redirect_peer alone | $(ratio "$kt" "$bt") | $(ratio "$ku" "$bu") | $(ratio "$kr" "$br") |
| kvnetd slow path ÷ Linux bridge | $(ratio "$st" "$lt") | $(ratio "$su" "$lu") | $(ratio "$sr" "$lr") |
| kvnetd ÷ OVS (default offloads) | $(ratio "$kt" "$ot") | $(ratio "$ku" "$ou") | $(ratio "$kr" "$or") |
| kvnetd ÷ OVS (offloads off) | $(ratio "$kt" "$ft") | $(ratio "$ku" "$fu") | $(ratio "$kr" "$fr") |

Medians of $RUNS runs of ${DUR} s each, $(date -u +%Y-%m-%d), $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p' | head -n1)), kernel $(uname -r).
TCP: \`iperf3 -t $DUR\`; UDP: \`iperf3 -u -b 0 -l 18\` (60-byte frames, 64 on the wire), packets delivered per second;
RTT: \`ping -c 100 -i 0.01\`, average. A TCP figure of 0 means the transfer stalled (timed out).
MD
)
echo "$TABLE"
write_table "$ROOT/docs/benchmarks.md" compare_bridges "$TABLE"
