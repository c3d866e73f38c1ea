#!/usr/bin/env bash
# The first demo: the seed's compute node (examples/compute-node.yaml) offline.
# Generates a small traffic mix as pcaps, replays it through the nine-device
# topology, prints the per-port counters and what each VM NIC received, then
# traces one frame from vm01's eth0 to the physical network through every
# device. Usage: examples/demo.sh BIN_DIR [--format json]
set -euo pipefail
BIN=${1:?usage: demo.sh BIN_DIR}
shift
FORMAT=human
[ "${1:-}" = "--format" ] && FORMAT=${2:-human}
K="$BIN/kvnet"
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(cd "$BIN/.." && pwd)/demo
rm -rf "$WORK" && mkdir -p "$WORK"
cp "$HERE/compute-node.yaml" "$WORK/"
cd "$WORK"

say() { [ "$FORMAT" = json ] || printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "1. Traffic mix: ARP, ping and a cross-network attempt (pcaps in $WORK)"
VM01=52:54:00:00:01:01 VM02A=52:54:00:00:02:01 VM02B=52:54:00:00:02:02 VM03=52:54:00:00:03:01
GW1=52:54:00:00:fe:01 GW2=52:54:00:00:fe:02 BC=ff:ff:ff:ff:ff:ff
"$K" pcap-gen vm01-eth0-in.pcap --start 1 --interval-ms 2000 \
  "dl_src=$VM01,dl_dst=$BC,arp,arp_spa=10.0.1.11,arp_tpa=10.0.1.1" \
  "dl_src=$VM01,dl_dst=$GW1,icmp,nw_src=10.0.1.11,nw_dst=8.8.8.8" \
  "dl_src=$VM01,dl_dst=$BC,arp,arp_spa=10.0.1.11,arp_tpa=10.0.1.12" \
  "dl_src=$VM01,dl_dst=$VM02A,icmp,nw_src=10.0.1.11,nw_dst=10.0.1.12" \
  "dl_src=$VM01,dl_dst=$VM03,icmp,nw_src=10.0.1.11,nw_dst=10.0.2.13"
"$K" pcap-gen vm02-eth0-in.pcap --start 6 --interval-ms 2000 \
  "dl_src=$VM02A,dl_dst=$VM01,arp,arp_op=2,arp_spa=10.0.1.12,arp_tpa=10.0.1.11" \
  "dl_src=$VM02A,dl_dst=$VM01,icmp,icmp_type=0,nw_src=10.0.1.12,nw_dst=10.0.1.11"
"$K" pcap-gen vm02-eth1-in.pcap --start 3 \
  "dl_src=$VM02B,dl_dst=$BC,arp,arp_spa=10.0.2.12,arp_tpa=10.0.2.13"
"$K" pcap-gen vm03-eth0-in.pcap --start 4 --interval-ms 3000 \
  "dl_src=$VM03,dl_dst=$VM02B,arp,arp_op=2,arp_spa=10.0.2.13,arp_tpa=10.0.2.12" \
  "dl_src=$VM03,dl_dst=$BC,arp,arp_spa=10.0.2.13,arp_tpa=10.0.2.1"
"$K" pcap-gen eth1-in.pcap --start 2 --interval-ms 2000 \
  "dl_src=$GW1,dl_dst=$VM01,dl_vlan=101,arp,arp_op=2,arp_spa=10.0.1.1,arp_tpa=10.0.1.11" \
  "dl_src=$GW1,dl_dst=$VM01,dl_vlan=101,icmp,icmp_type=0,nw_src=8.8.8.8,nw_dst=10.0.1.11" \
  "dl_src=$GW2,dl_dst=$VM03,dl_vlan=102,arp,arp_op=2,arp_spa=10.0.2.1,arp_tpa=10.0.2.13" \
  "dl_src=52:54:00:00:fe:09,dl_dst=$BC,dl_vlan=109,arp,arp_spa=10.0.9.1,arp_tpa=10.0.9.2"
[ "$FORMAT" = json ] || ls -1 ./*-in.pcap | sed 's|^./|  |'

say "2. Replay through the compute node (counters per port)"
"$K" replay compute-node.yaml --format "$FORMAT" --fdb

if [ "$FORMAT" != json ]; then
  say "3. What each NIC received (tcpdump -enr *-out.pcap)"
  for f in vm01-eth0 vm02-eth0 vm02-eth1 vm03-eth0 eth1; do
    echo "-- $f"
    if command -v tcpdump >/dev/null; then
      tcpdump -nn -e -r "$f-out.pcap" 2>/dev/null | sed 's/^/   /' || true
    fi
  done
  echo "   (vm01's ping to vm03 stays in VLAN 101: it reaches vm02 and eth1 as an unknown"
  echo "    unicast, never vm03 on VLAN 102; eth1's VLAN 109 frame is dropped at the trunk.)"
fi

say "4. Trace: vm01 eth0 -> default gateway behind eth1, through all nine devices"
"$K" trace compute-node.yaml --warm --in-port qbr-vm01/vnet0 --format "$FORMAT" \
  "dl_src=$VM01,dl_dst=$GW1,icmp,nw_src=10.0.1.11,nw_dst=8.8.8.8"
