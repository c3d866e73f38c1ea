#!/usr/bin/env bash
# Part 3 of ./run demo: two hosts joined by a VXLAN overlay.
#
# host1 and host2 are network namespaces joined by a veth pair (the underlay,
# 10.97.0.0/24); each runs its own kvnetd (own socket and database), which
# applies its half of examples/two-hosts-vxlan.yaml. Two tenants, red (VLAN
# 10 -> VNI 5010) and blue (VLAN 20 -> VNI 5020), use the same addresses and
# MACs; the demo pings across the overlay, shows that the tenants never see
# each other, the tunnels as kvnetctl shows them, the remote VTEP behind a
# learned MAC, and a trace that follows a frame into the tunnel with the
# outer headers it gets. Everything is removed at the end (--keep leaves it;
# the next run removes it first). What it makes is recorded in
# /run/kvnet-demo/overlay (examples/demo_lib.sh).
# Usage: examples/demo_overlay.sh BIN_DIR [--keep]
set -euo pipefail
BIN=$(cd "${1:?usage: demo_overlay.sh BIN_DIR [--keep]}" && pwd)
KEEP=${2:-}
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/demo_lib.sh"
WORK=$(cd "$BIN/.." && pwd)/demo-overlay
mkdir -p "$WORK"
K="$BIN/kvnetctl"
NS=(host1 host2 red1 blue1 red2 blue2)
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
on() { local h=$1; shift; KVNET_SOCKET="$WORK/$h.sock" "$K" "$@"; }

demo_clean overlay  # what a kept (or interrupted) run left
demo_check_free overlay "${NS[@]}"
rm -f "$WORK"/*.db* "$WORK"/*.sock
if [ "$KEEP" != "--keep" ]; then
  trap 'demo_clean overlay' EXIT
  trap 'exit 130' INT TERM
fi

say "1. The underlay: host1 (10.97.0.1) and host2 (10.97.0.2), a veth pair between them"
demo_record overlay netns "${NS[@]}"
ip netns add host1
ip netns add host2
ip link add underlay1 type veth peer name underlay2
ip link set underlay1 netns host1
ip link set underlay2 netns host2
for i in 1 2; do
  ip -n host$i addr add 10.97.0.$i/24 dev underlay$i
  ip -n host$i link set underlay$i up
  ip -n host$i link set lo up
done
ip -n host1 -br addr show underlay1
ip -n host2 -br addr show underlay2

say "2. A kvnetd on each host, each applying its half of examples/two-hosts-vxlan.yaml"
for h in host1 host2; do
  ip netns exec $h "$BIN/kvnetd" --foreground --db "$WORK/$h.db" --socket "$WORK/$h.sock" 2>"$WORK/$h.log" &
  demo_record overlay kvnetd $! "$WORK/$h.sock" "$K"
  for _ in $(seq 1 100); do [ -S "$WORK/$h.sock" ] && break; sleep 0.05; done
  echo "\$ kvnetctl apply examples/two-hosts-vxlan.yaml --host $h"
  on $h apply "$HERE/two-hosts-vxlan.yaml" --host $h
done
for c in red1 blue1 red2 blue2; do ip netns exec $c ip link set eth0 mtu 1450; done

say "3. kvnetctl show on host1: the tunnel, its remote, its inner MTU"
on host1 show

say "4. Across the overlay: red1 -> red2 and blue1 -> blue2 (same IPs, same MACs)"
ip netns exec blue2 timeout 6 tcpdump -l -nn -i eth0 icmp >"$WORK/blue2.cap" 2>/dev/null &
TD=$!
sleep 1
ip netns exec red1 ping -c 3 -i 0.3 192.168.10.2
echo "-- blue2 heard while red pinged: $(grep -c . "$WORK/blue2.cap" || true) ICMP packets (VNI 5020 is not VNI 5010)"
wait $TD || true
ip netns exec blue1 ping -c 3 -i 0.3 192.168.10.2

say "5. host1's FDB: the MAC behind the tunnel, and the remote VTEP it was learned from"
on host1 fdb-show br-tun

say "6. Trace on host1: red1's frame to red2 goes into the tunnel; the outer headers it gets"
on host1 trace br-tun in_port=red-1 dl_src=02:00:00:00:10:01 dl_dst=02:00:00:00:10:02 \
  ip nw_src=192.168.10.1 nw_dst=192.168.10.2

say "7. Per-port counters on host2"
on host2 stats

if [ "$KEEP" = "--keep" ]; then
  say "Kept running: KVNET_SOCKET=$WORK/host1.sock $K show; ip netns exec red1 ping 192.168.10.2"
  echo "Removed by the next ./run demo, or: bash examples/demo_lib.sh clean overlay"
else
  say "Tearing down (use --keep to leave it running)"
fi
