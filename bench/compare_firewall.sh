#!/usr/bin/env bash
# The firewall's cost, in one run:
#   1. the datapath micro-benchmark: 32 established UDP flows of 64-byte
#      frames between two ports, without a firewall and with both ports in a
#      20-rule security group (conntrack on every frame, in both ports' zones);
#   2. live iperf3 TCP (and 64-byte UDP packets/s) between two namespaces
#      whose veths meet in a switch namespace: kvnetd without security groups,
#      kvnetd with the 20-rule group on both ports (with its kernel fast path,
#      the default, and again with --no-fast-path), a Linux bridge, and a Linux
#      bridge with the same rules in iptables (br_netfilter, physdev match,
#      conntrack, per-port chains as Neutron's hybrid driver writes them).
# Everything runs in namespaces the script creates (iptables and the
# br_netfilter switches are per namespace): the host's own tables are never
# touched. Medians of RUNS runs; the table goes to docs/benchmarks.md between
# the compare_firewall markers.
#
# Usage: bench/compare_firewall.sh BIN_DIR [RUNS]   (root; iperf3, iptables)
set -euo pipefail
BIN=$(cd "${1:?usage: compare_firewall.sh BIN_DIR [RUNS]}" && pwd)
RUNS=${2:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/lib.sh"
T=$(mktemp -d /tmp/kvnet-bench-fw.XXXXXX)
P="kf$(($$ % 10000))"
SW=${P}sw
DUR=${BENCH_SECONDS:-4}
KVD=""
PIDS=()
export KVNET_SOCKET=$T/kvnetd.sock

cleanup() {
  set +e
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  end_started
  [ -n "$KVD" ] && kill "$KVD" 2>/dev/null && sleep 0.3
  for ns in ${P}1 ${P}2 $SW; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
say() { echo "[bench] $*" >&2; }
sw() { ip netns exec $SW "$@"; }
kctl() { "$BIN/kvnetctl" "$@" >/dev/null; }

# --- 1. micro-benchmark
say "datapath micro-benchmark (32 established UDP flows, 64-byte frames)"
"$BIN/kvnet_bench" --benchmark_filter='Flows32' --benchmark_repetitions="$RUNS" --benchmark_report_aggregates_only=true \
  --benchmark_format=json >"$T/micro.json"
micro() {  # benchmark name -> median Mframes/s
  python3 - "$T/micro.json" "$1" <<'PY'
import json, sys
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    if b["run_name"] == sys.argv[2] and b.get("aggregate_name") == "median":
        print(round(b["items_per_second"] / 1e6, 2))
PY
}
M_OFF=$(micro BM_Flows32NoFirewall)
M_ON=$(micro BM_Flows32Firewall20RulesEstablished)
say "  without firewall ${M_OFF} Mframes/s, with ${M_ON} Mframes/s"

# --- 2. live
# Two hosts (10.86.0.1, .2) whose eth0 is a veth to h1/h2 in the switch namespace.
make_hosts() {
  ip netns add $SW
  sw ip link set lo up
  for i in 1 2; do
    ip netns add ${P}$i
    ip -n $SW link add h$i type veth peer name eth0 netns ${P}$i
    ip -n ${P}$i addr add 10.86.0.$i/24 dev eth0
    ip -n ${P}$i link set eth0 up
    ip -n ${P}$i link set lo up
    sw ip link set h$i up
  done
}
drop_hosts() {
  for ns in ${P}1 ${P}2 $SW; do ip netns del "$ns" 2>/dev/null || true; done
  sleep 0.2
}


# One measurement set on the current hosts: prints "tcp_gbps udp_pps".
measure() {
  local tcp=() udp=()
  ip netns exec ${P}1 ping -c 3 -i 0.2 -W 1 10.86.0.2 >/dev/null 2>&1 || true
  for r in $(seq 1 "$RUNS"); do
    iperf_server ${P}2 5201 || say "  iperf3 server on port 5201 did not start"
    local g=0
    if ip netns exec ${P}1 timeout $((DUR + 10)) iperf3 -c 10.86.0.2 -p 5201 -t "$DUR" -J --connect-timeout 3000 >"$T/tcp.json" 2>/dev/null; then
      g=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(round(j["end"]["sum_received"]["bits_per_second"]/1e9, 2))' "$T/tcp.json" 2>/dev/null || echo 0)
    fi
    tcp+=("$g")
    iperf_server ${P}2 5202 || say "  iperf3 server on port 5202 did not start"
    local u=0
    if ip netns exec ${P}1 timeout $((DUR + 10)) iperf3 -u -b 0 -l 18 -c 10.86.0.2 -p 5202 -t "$DUR" -J >"$T/udp.json" 2>/dev/null; then
      u=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["end"]["sum"]; print(int((s["packets"]-s["lost_packets"])/s["seconds"]))' "$T/udp.json" 2>/dev/null || echo 0)
    fi
    udp+=("$u")
    say "  run $r: TCP ${g} Gbit/s, UDP ${u} pps"
  done
  echo "$(printf '%s\n' "${tcp[@]}" | median) $(printf '%s\n' "${udp[@]}" | median)"
}

# The 20 rules, once as kvnet rules and once as iptables matches:
# ingress: 8 TCP fillers, TCP and UDP 5201-5211 (iperf3); egress: 9 fillers, any IPv4.
KV_RULES=()
IPT_IN=()
IPT_OUT=()
for i in $(seq 0 7); do
  KV_RULES+=("ingress protocol=tcp port=$((1000 + i)) remote_ip=10.86.0.0/24")
  IPT_IN+=("-p tcp --dport $((1000 + i)) -s 10.86.0.0/24")
done
KV_RULES+=("ingress protocol=tcp port=5201-5211" "ingress protocol=udp port=5201-5211")
IPT_IN+=("-p tcp --dport 5201:5211" "-p udp --dport 5201:5211")
for i in $(seq 0 8); do
  KV_RULES+=("egress protocol=tcp port=$((2000 + i)) remote_ip=10.86.0.0/24")
  IPT_OUT+=("-p tcp --dport $((2000 + i)) -d 10.86.0.0/24")
done
KV_RULES+=("egress ethertype=ipv4")
IPT_OUT+=("")

start_kvnetd() {  # [kvnetd flags...]
  ip netns exec $SW "$BIN/kvnetd" "$@" --foreground --db "$T/kvnet.db" --socket "$KVNET_SOCKET" >"$T/kvnetd.log" 2>&1 &
  KVD=$!
  for _ in $(seq 1 100); do [ -S "$KVNET_SOCKET" ] && "$BIN/kvnetctl" list-br >/dev/null 2>&1 && return 0; sleep 0.05; done
  say "kvnetd did not start"; cat "$T/kvnetd.log" >&2; exit 1
}

declare -A R
say "kvnetd, no security groups"
make_hosts
rm -f "$T"/kvnet.db*
start_kvnetd
kctl add-br br0
kctl add-port br0 h1
kctl add-port br0 h2
R[kv]=$(measure)

say "kvnetd, a 20-rule security group on both ports"
kctl sg add bench
kctl sg rule-del bench 1
kctl sg rule-del bench 2
for r in "${KV_RULES[@]}"; do
  # shellcheck disable=SC2086
  kctl sg rule-add bench $r
done
[ "$("$BIN/kvnetctl" --format json sg show bench | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["rules"]))')" = 20 ] ||
  { say "the group does not have 20 rules"; exit 1; }
kctl set port h1 security_groups=bench
kctl set port h2 security_groups=bench
R[kv_sg]=$(measure)
"$BIN/kvnetctl" conntrack list | head -3 >&2 || true
"$BIN/kvnetctl" fastpath show >&2 || true
kill "$KVD"
wait "$KVD" 2>/dev/null || true
say "kvnetd, the same group, every frame on the slow path (--no-fast-path)"
start_kvnetd --no-fast-path
R[kv_sg_slow]=$(measure)
kill "$KVD"
wait "$KVD" 2>/dev/null || true
KVD=""
drop_hosts

say "Linux bridge"
make_hosts
sw ip link add br0 type bridge
sw ip link set br0 up
sw ip link set h1 master br0
sw ip link set h2 master br0
sw sysctl -qw net.bridge.bridge-nf-call-iptables=0
R[linux]=$(measure)

say "Linux bridge + iptables (br_netfilter, physdev, conntrack), the same 20 rules"
sw sysctl -qw net.bridge.bridge-nf-call-iptables=1
for i in 1 2; do
  sw iptables -N kv-i-h$i   # to the endpoint behind h$i: ingress rules
  sw iptables -N kv-o-h$i   # from it: egress rules
  sw iptables -A FORWARD -m physdev --physdev-out h$i --physdev-is-bridged -j kv-i-h$i
  sw iptables -A FORWARD -m physdev --physdev-in h$i --physdev-is-bridged -j kv-o-h$i
  for c in kv-i-h$i kv-o-h$i; do
    sw iptables -A $c -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN
    sw iptables -A $c -m conntrack --ctstate INVALID -j DROP
  done
  for m in "${IPT_IN[@]}"; do
    # shellcheck disable=SC2086
    sw iptables -A kv-i-h$i $m -j RETURN
  done
  for m in "${IPT_OUT[@]}"; do
    # shellcheck disable=SC2086
    sw iptables -A kv-o-h$i $m -j RETURN
  done
  sw iptables -A kv-i-h$i -j DROP
  sw iptables -A kv-o-h$i -j DROP
done
R[linux_ipt]=$(measure)
sw iptables -L FORWARD -v -n | head -6 >&2
drop_hosts

read -r kt ku <<<"${R[kv]}"
read -r st su <<<"${R[kv_sg]}"
read -r xt xu <<<"${R[kv_sg_slow]}"
read -r lt lu <<<"${R[linux]}"
read -r it iu <<<"${R[linux_ipt]}"
TABLE=$(cat <<MD
Datapath micro-benchmark (\`kvnet_bench\`, 32 established UDP flows, 64-byte frames, one core):

| | Mframes/s |
|---|---|
| no firewall | $M_OFF |
| 20-rule security group on both ports, conntrack | $M_ON |
| with ÷ without | $(ratio "$M_ON" "$M_OFF") |

Live, iperf3 between two namespaces (medians of $RUNS runs of ${DUR} s):

| switch | TCP Gbit/s | 64-byte UDP pps |
|---|---|---|
| kvnetd, no security groups | $kt | $ku |
| **kvnetd, 20-rule group on both ports** (kernel fast path) | **$st** | **$su** |
| kvnetd, 20-rule group, slow path only (\`--no-fast-path\`) | $xt | $xu |
| Linux bridge | $lt | $lu |
| Linux bridge + iptables, the same 20 rules | $it | $iu |
| kvnetd with ÷ without groups | $(ratio "$st" "$kt") | $(ratio "$su" "$ku") |
| kvnetd with groups ÷ Linux bridge + iptables | $(ratio "$st" "$it") | $(ratio "$su" "$iu") |
MD
)
echo "$TABLE"
write_table "$ROOT/docs/benchmarks.md" compare_firewall "$TABLE"
