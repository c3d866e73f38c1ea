#!/usr/bin/env bash
# VXLAN overlays in one run: kvnet <-> kvnet, Linux kernel <-> kernel, and
# kvnet <-> kernel. Two hosts (namespaces A and B) joined by an underlay veth
# pair (10.96.0.1/.2, MTU 1500); behind each host's VTEP an endpoint
# namespace (192.168.96.1/.2, MTU 1450) sends to the other one:
#   kernel host: vxlan device (VNI 96, dstport 4789) in a Linux bridge, veth to the endpoint
#   kvnet host:  kvnetd in the host namespace, a switch with a vxlan port and a container
#                (with the fast path, its VTEP is a kernel vxlan device in external
#                mode, io/kernel_vxlan.h; the slow path alone is measured too)
# Measures iperf3 TCP Gbit/s and 64-byte UDP packets/s delivered A -> B,
# medians of RUNS runs, and writes the table to docs/benchmarks.md between
# the compare_overlays markers.
#
# Every underlay keeps its default offloads: across a veth the kernel's own
# encapsulation leaves inner checksums partial and sends TSO frames whole
# inside one tunnel header; kvnet's slow path fills the one and cuts the other.
#
# Usage: bench/compare_overlays.sh BIN_DIR [RUNS]   (root; needs iperf3, ethtool)
set -euo pipefail
BIN=$(cd "${1:?usage: compare_overlays.sh BIN_DIR [RUNS]}" && pwd)
RUNS=${2:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/lib.sh"
T=$(mktemp -d /tmp/kvnet-obench.XXXXXX)
P="ko$(($$ % 10000))"
DUR=${BENCH_SECONDS:-4}
PIDS=()

cleanup() {
  set +e
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  end_started
  sleep 0.3
  for ns in $(ip netns list | awk '{print $1}' | grep "^$P"); do ip netns del "$ns"; done
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
say() { echo "[bench] $*" >&2; }

underlay() {
  ip netns add ${P}A
  ip netns add ${P}B
  ip link add ${P}ua type veth peer name ${P}ub
  ip link set ${P}ua netns ${P}A
  ip link set ${P}ub netns ${P}B
  ip -n ${P}A addr add 10.96.0.1/24 dev ${P}ua
  ip -n ${P}B addr add 10.96.0.2/24 dev ${P}ub
  for h in A B; do
    ip -n ${P}$h link set lo up
    ip -n ${P}$h link set ${P}u$(echo $h | tr AB ab) up
  done
}

kernel_host() {  # A|B LOCAL REMOTE ENDPOINT_IP
  local h=$1 ns=${P}$1 e=${P}e$1
  ip -n $ns link add vx0 type vxlan id 96 dstport 4789 local $2 remote $3
  ip -n $ns link add br0 type bridge
  ip -n $ns link set vx0 master br0
  ip netns add $e
  ip -n $ns link add e0 type veth peer name eth0 netns $e
  ip -n $ns link set e0 master br0
  for l in vx0 br0 e0; do ip -n $ns link set $l up; done
  ip -n $e addr add $4/24 dev eth0
  ip -n $e link set eth0 mtu 1450 up
  ip -n $e link set lo up
}

kvnet_host() {  # A|B LOCAL REMOTE ENDPOINT_IP
  local h=$1 ns=${P}$1
  rm -f "$T/$h.db"* "$T/$h.sock"
  env ${KVD_ENV:-} nsenter --net=/run/netns/$ns "$BIN/kvnetd" --foreground --db "$T/$h.db" --socket "$T/$h.sock" >>"$T/kvnetd.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do [ -S "$T/$h.sock" ] && break; sleep 0.05; done
  local k=("$BIN/kvnetctl" --socket "$T/$h.sock")
  "${k[@]}" add-br br0 >/dev/null
  "${k[@]}" add-port br0 vx0 type=vxlan vni=96 remote_ip=$3 local_ip=$2 ${KV_OPTS:-} >/dev/null
  "${k[@]}" ct add ${P}e$h --bridge br0 --ip $4/24 >/dev/null
  ip netns exec ${P}e$h ip link set eth0 mtu 1450
}

ebpf_host() {  # A|B LOCAL REMOTE ENDPOINT_IP: the floor, a VTEP of two tc programs and no lookup
  local h=$1 ns=${P}$1 e=${P}e$1
  ip -n $ns link add vx0 type vxlan external dstport 4789 nolearning
  ip netns add $e
  ip -n $ns link add e0 type veth peer name eth0 netns $e
  for l in vx0 e0; do ip -n $ns link set $l up; done
  ip -n $e addr add $4/24 dev eth0
  ip -n $e link set eth0 mtu 1450 up
  ip -n $e link set lo up
  local vx e0 remote
  vx=$(ip netns exec $ns cat /sys/class/net/vx0/ifindex)
  e0=$(ip netns exec $ns cat /sys/class/net/e0/ifindex)
  remote=$(printf '0x%02x%02x%02x%02x' ${3//./ })
  local inc=/usr/include/$(gcc -print-multiarch)
  clang -target bpf -O2 -I"$inc" -DOUT -DVNI=96 -DREMOTE="$remote" -DVX_IFINDEX="$vx" \
    -c "$ROOT/bench/bpf/vxlan_redirect.bpf.c" -o "$T/out$h.o"
  clang -target bpf -O2 -I"$inc" -DIN -DHOST_IFINDEX="$e0" -c "$ROOT/bench/bpf/vxlan_redirect.bpf.c" -o "$T/in$h.o"
  ip netns exec $ns tc qdisc add dev e0 clsact
  ip netns exec $ns tc filter add dev e0 ingress bpf direct-action obj "$T/out$h.o" sec tc
  ip netns exec $ns tc qdisc add dev vx0 clsact
  ip netns exec $ns tc filter add dev vx0 ingress bpf direct-action obj "$T/in$h.o" sec tc
}

teardown() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  PIDS=()
  sleep 0.5
  for ns in $(ip netns list | awk '{print $1}' | grep "^$P"); do ip netns del "$ns"; done
  sleep 0.2
}

measure() {  # one run: prints "tcp_gbps udp_pps"
  local a=${P}eA b=${P}eB
  ip netns exec $a ping -c 3 -i 0.2 -W 1 192.168.96.2 >/dev/null 2>&1 || true
  iperf_server $b 5410 || say "  iperf3 server on port 5410 did not start"
  local g=0
  if ip netns exec $a timeout $((DUR + 10)) iperf3 -c 192.168.96.2 -p 5410 -t "$DUR" -J --connect-timeout 3000 >"$T/tcp.json" 2>/dev/null; then
    g=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(round(j["end"]["sum_received"]["bits_per_second"]/1e9, 2))' "$T/tcp.json" 2>/dev/null || echo 0)
  fi
  end_pid "$IPERF_PID"
  iperf_server $b 5411 || say "  iperf3 server on port 5411 did not start"
  local u=0
  if ip netns exec $a timeout $((DUR + 10)) iperf3 -u -b 0 -l 18 -c 192.168.96.2 -p 5411 -t "$DUR" -J >"$T/udp.json" 2>/dev/null; then
    u=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["end"]["sum"]; print(int((s["packets"]-s["lost_packets"])/s["seconds"]))' "$T/udp.json" 2>/dev/null || echo 0)
  fi
  end_pid "$IPERF_PID"
  echo "$g $u"
}

# Rounds: every pair once per round, so that the machine's drifts (other
# tenants, frequency) fall on all of them alike; medians per pair.
declare -A TCP UDP R
pair() {  # KEY TITLE KIND_A KIND_B: one run of one pair (KIND: kernel_host, kvnet_host, ebpf_host)
  underlay
  $3 A 10.96.0.1 10.96.0.2 192.168.96.1
  $4 B 10.96.0.2 10.96.0.1 192.168.96.2
  local g u
  read -r g u <<<"$(measure)"
  teardown
  TCP[$1]+="$g "
  UDP[$1]+="$u "
  say "  $2: TCP $g Gbit/s, UDP $u pps"
}
for r in $(seq 1 "$RUNS"); do
  say "round $r of $RUNS"
  pair kernel "kernel vxlan <-> kernel vxlan" kernel_host kernel_host
  pair kvnet "kvnet <-> kvnet" kvnet_host kvnet_host
  pair ebpf "eBPF VTEP alone (set_tunnel_key + bpf_redirect, no lookup)" ebpf_host ebpf_host
  KVD_ENV=KVNET_FAST_PATH=off pair kvnet_slow "kvnet <-> kvnet, slow path only (KVNET_FAST_PATH=off)" kvnet_host kvnet_host
  KV_OPTS=csum=true pair kvnet_csum "kvnet <-> kvnet, csum=true" kvnet_host kvnet_host
  pair mixed "kvnet -> kernel" kvnet_host kernel_host
  pair mixed_back "kernel -> kvnet" kernel_host kvnet_host
done
for k in "${!TCP[@]}"; do
  R[$k]="$(tr ' ' '\n' <<<"${TCP[$k]}" | grep . | median) $(tr ' ' '\n' <<<"${UDP[$k]}" | grep . | median)"
done

read -r kt ku <<<"${R[kernel]}"
read -r vt vu <<<"${R[kvnet]}"
read -r mt mu <<<"${R[mixed]}"
read -r bt bu <<<"${R[mixed_back]}"
read -r ct cu <<<"${R[kvnet_csum]}"
read -r st su <<<"${R[kvnet_slow]}"
read -r et eu <<<"${R[ebpf]}"
TABLE=$(cat <<MD
| VXLAN overlay, A -> B | TCP Gbit/s | 64-byte UDP pps |
|---|---|---|
| kernel vxlan <-> kernel vxlan | $kt | $ku |
| **kvnet <-> kvnet** | **$vt** | **$vu** |
| kvnet <-> kvnet, \`csum=true\` | $ct | $cu |
| kvnet <-> kvnet, slow path only | $st | $su |
| eBPF VTEP alone (set_tunnel_key + redirect, no lookup: the floor) | $et | $eu |
| kvnet -> kernel vxlan | $mt | $mu |
| kernel vxlan -> kvnet | $bt | $bu |
| kvnet pair ÷ kernel pair | $(ratio "$vt" "$kt") | $(ratio "$vu" "$ku") |
| kvnet pair ÷ eBPF VTEP alone | $(ratio "$vt" "$et") | $(ratio "$vu" "$eu") |
| kvnet pair with \`csum=true\` ÷ kernel pair | $(ratio "$ct" "$kt") | $(ratio "$cu" "$ku") |
| kvnet pair, slow path only ÷ kernel pair | $(ratio "$st" "$kt") | $(ratio "$su" "$ku") |
| kvnet -> kernel ÷ kernel pair | $(ratio "$mt" "$kt") | $(ratio "$mu" "$ku") |
| kernel -> kvnet ÷ kernel pair | $(ratio "$bt" "$kt") | $(ratio "$bu" "$ku") |

Medians of $RUNS rounds (each pair once per round) of ${DUR} s each, $(date -u +%Y-%m-%d), $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p' | head -n1)), kernel $(uname -r).
Underlay: one veth pair, MTU 1500, default offloads on both ends; endpoints' MTU 1450. TCP: \`iperf3 -t $DUR\`; UDP: \`iperf3 -u -b 0 -l 18\`, packets delivered per second.
MD
)
echo "$TABLE"
write_table "$ROOT/docs/benchmarks.md" compare_overlays "$TABLE"
