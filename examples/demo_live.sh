#!/usr/bin/env bash
# Part 2 of ./run demo: the compute node live. Starts a kvnetd of its own
# (private socket and database) in network namespace live-host, which stands
# for the compute node (so that its ports and bridges coexist with part 4's,
# which runs on the machine itself), applies examples/compute-node-live.yaml
# (containers for the VMs, one for the physical network behind eth1), shows
# the configuration, runs a ping matrix that proves net01/net02 (VLAN
# 101/102) isolation, shows what reaches the physical network, traces one
# frame through the nine devices, and tears everything down (--keep leaves
# it up; the next run removes it first). What it makes is recorded in
# /run/kvnet-demo/live (examples/demo_lib.sh).
# Usage: examples/demo_live.sh BIN_DIR [--keep]
set -euo pipefail
BIN=$(cd "${1:?usage: demo_live.sh BIN_DIR [--keep]}" && pwd)
KEEP=${2:-}
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/demo_lib.sh"
WORK=$(cd "$BIN/.." && pwd)/demo-live
mkdir -p "$WORK"
export KVNET_SOCKET="$WORK/kvnetd.sock"
K="$BIN/kvnetctl"
HOSTNS=live-host
CTS=(vm01 vm02a vm02b vm03 physnet-live)
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

demo_clean live  # what a kept (or interrupted) run left
demo_check_free live "$HOSTNS" "${CTS[@]}"
rm -f "$WORK/kvnet.db"*
if [ "$KEEP" != "--keep" ]; then
  trap 'demo_clean live' EXIT
  trap 'exit 130' INT TERM
fi

say "1. Start kvnetd in namespace $HOSTNS (ip netns exec $HOSTNS kvnetd; socket $KVNET_SOCKET)"
ip netns add "$HOSTNS"
demo_record live netns "$HOSTNS" "${CTS[@]}"
ip -n "$HOSTNS" link set lo up
ip netns exec "$HOSTNS" "$BIN/kvnetd" --foreground --db "$WORK/kvnet.db" --socket "$KVNET_SOCKET" 2>"$WORK/kvnetd.log" &
KVD=$!
demo_record live kvnetd "$KVD" "$KVNET_SOCKET" "$K"
for _ in $(seq 1 100); do [ -S "$KVNET_SOCKET" ] && break; sleep 0.05; done
echo "kvnetd pid $KVD"

say "2. kvnetctl apply examples/compute-node-live.yaml"
"$K" apply "$HERE/compute-node-live.yaml"

say "3. kvnetctl show"
"$K" show

say "4. Ping matrix (all VMs share 10.0.0.0/24; only VLANs separate them)"
declare -A IP=([vm01]=10.0.0.11 [vm02a]=10.0.0.12 [vm02b]=10.0.0.22 [vm03]=10.0.0.13)
declare -A NET=([vm01]=net01 [vm02a]=net01 [vm02b]=net02 [vm03]=net02)
ip netns exec physnet-live timeout 8 tcpdump -l -nn -e -i eth0 arp >"$WORK/physnet.cap" 2>/dev/null &
CAP=$!
sleep 0.5
printf '%-8s' "from\\to"
for d in vm01 vm02a vm02b vm03; do printf '%-14s' "$d(${NET[$d]})"; done
echo
bad=0
for s in vm01 vm02a vm02b vm03; do
  printf '%-8s' "$s"
  for d in vm01 vm02a vm02b vm03; do
    if [ "$s" = "$d" ]; then printf '%-14s' "-"; continue; fi
    if ip netns exec "$s" ping -n -q -c 1 -W 1 "${IP[$d]}" >/dev/null 2>&1; then r=reach; else r=isolated; fi
    want=isolated
    [ "${NET[$s]}" = "${NET[$d]}" ] && want=reach
    [ "$r" = "$want" ] || bad=1
    printf '%-14s' "$r"
  done
  echo
done
[ $bad = 0 ] && echo "=> same network reaches, different networks are isolated: as configured" \
  || echo "=> UNEXPECTED reachability (see above)"
wait $CAP 2>/dev/null || true
echo
echo "What the physical network (namespace physnet-live, behind eth1) saw: ARP, tagged per network"
grep -o "vlan 10[12].*Request who-has [0-9.]* tell [0-9.]*" "$WORK/physnet.cap" | sort | uniq -c | sed 's/^/  /' | head -n 12

say "5. Trace: vm01's eth0 -> the physical network, through the nine devices"
echo "The gateway 52:54:00:00:fe:01 lives behind eth1; both switches get a static entry for it"
echo "(as OpenStack's l2population would install), so the frame takes the one path of the figure:"
"$K" fdb-add br-int 101 52:54:00:00:fe:01 int-br-eth1
"$K" fdb-add br-eth1 101 52:54:00:00:fe:01 eth1
"$K" trace qbr-vm01 in_port=vnet0 dl_src=52:54:00:00:01:01,dl_dst=52:54:00:00:fe:01,icmp,nw_src=10.0.0.11,nw_dst=8.8.8.8

say "6. Per-port counters"
"$K" stats

if [ "$KEEP" = "--keep" ]; then
  say "Kept running: KVNET_SOCKET=$KVNET_SOCKET $K show; ip netns exec vm01 ping 10.0.0.12"
  echo "Removed by the next ./run demo, or: bash examples/demo_lib.sh clean live"
  disown "$KVD"
else
  say "Tearing down (use --keep to leave it running)"
fi
[ $bad = 0 ]
