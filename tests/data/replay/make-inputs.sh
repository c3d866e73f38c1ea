#!/usr/bin/env bash
# Regenerates the input pcaps of the golden replay cases with `kvnet pcap-gen`.
# Expected outputs (expected/) are what kvnet wrote when the case was created,
# checked by hand with `tcpdump -enr`; regenerate them only deliberately:
#   KVNET=build/bin/kvnet tests/data/replay/make-inputs.sh --expected
set -euo pipefail
cd "$(dirname "$0")"
K=${KVNET:-../../../build/bin/kvnet}
g() { "$K" pcap-gen "$@"; }

# compute-node: the seed's figure (examples/compute-node.yaml).
d=compute-node
g $d/vm01-eth0-in.pcap --start 1 --interval-ms 4000 \
  'dl_src=52:54:00:00:01:01,dl_dst=ff:ff:ff:ff:ff:ff,arp,arp_spa=10.0.1.11,arp_tpa=10.0.1.12' \
  'dl_src=52:54:00:00:01:01,dl_dst=52:54:00:00:02:01,icmp,nw_src=10.0.1.11,nw_dst=10.0.1.12' \
  'dl_src=52:54:00:00:01:01,dl_dst=52:54:00:00:03:01,icmp,nw_src=10.0.1.11,nw_dst=10.0.2.13'
g $d/vm02-eth0-in.pcap --start 2 --interval-ms 4000 \
  'dl_src=52:54:00:00:02:01,dl_dst=52:54:00:00:01:01,arp,arp_op=2,arp_spa=10.0.1.12,arp_tpa=10.0.1.11' \
  'dl_src=52:54:00:00:02:01,dl_dst=52:54:00:00:01:01,icmp,icmp_type=0,nw_src=10.0.1.12,nw_dst=10.0.1.11'
g $d/vm02-eth1-in.pcap --start 3 \
  'dl_src=52:54:00:00:02:02,dl_dst=ff:ff:ff:ff:ff:ff,arp,arp_spa=10.0.2.12,arp_tpa=10.0.2.1'
g $d/vm03-eth0-in.pcap --start 4 \
  'dl_src=52:54:00:00:03:01,dl_dst=ff:ff:ff:ff:ff:ff,arp,arp_spa=10.0.2.13,arp_tpa=10.0.2.1'
g $d/eth1-in.pcap --start 5 --interval-ms 1000 \
  'dl_src=52:54:00:00:fe:02,dl_dst=52:54:00:00:02:02,dl_vlan=102,arp,arp_op=2,arp_spa=10.0.2.1,arp_tpa=10.0.2.12' \
  'dl_src=52:54:00:00:fe:01,dl_dst=ff:ff:ff:ff:ff:ff,dl_vlan=101,arp,arp_spa=10.0.1.1,arp_tpa=10.0.1.11' \
  'dl_src=52:54:00:00:fe:09,dl_dst=ff:ff:ff:ff:ff:ff,dl_vlan=109,arp,arp_spa=10.0.9.1,arp_tpa=10.0.9.2' \
  'dl_src=52:54:00:00:fe:01,dl_dst=52:54:00:00:01:01,arp,arp_op=2,arp_spa=10.0.1.1,arp_tpa=10.0.1.11'

# vlan-lab: the issue's example ports plus aging (nanosecond timestamps).
d=vlan-lab
g $d/a1-in.pcap --nanosecond --start 1 --interval-ms 200000 \
  'dl_src=02:00:00:00:00:a1,dl_dst=ff:ff:ff:ff:ff:ff,udp,nw_src=10.10.0.1,nw_dst=10.10.0.255,tp_dst=9' \
  'dl_src=02:00:00:00:00:a1,dl_dst=02:00:00:00:00:b1,dl_vlan=10,udp,nw_src=10.10.0.1,nw_dst=10.10.0.2'
g $d/t1-in.pcap --start 2 --interval-ms 100000 \
  'dl_src=02:00:00:00:00:b1,dl_dst=02:00:00:00:00:a1,dl_vlan=10,dl_vlan_pcp=5,udp,nw_src=10.10.0.2,nw_dst=10.10.0.1' \
  'dl_src=02:00:00:00:00:b2,dl_dst=ff:ff:ff:ff:ff:ff,dl_vlan=20,arp,arp_spa=10.20.0.2,arp_tpa=10.20.0.1' \
  'dl_src=02:00:00:00:00:b3,dl_dst=ff:ff:ff:ff:ff:ff,dl_vlan=25,arp,arp_spa=10.25.0.2,arp_tpa=10.25.0.1' \
  'dl_src=02:00:00:00:00:b4,dl_dst=ff:ff:ff:ff:ff:ff,dl_vlan=40,arp,arp_spa=10.40.0.2,arp_tpa=10.40.0.1' \
  'dl_src=02:00:00:00:00:b5,dl_dst=ff:ff:ff:ff:ff:ff,arp,arp_spa=10.1.0.2,arp_tpa=10.1.0.1' \
  'dl_src=02:00:00:00:00:b1,dl_dst=02:00:00:00:00:a1,dl_vlan=10,udp,nw_src=10.10.0.2,nw_dst=10.10.0.1'

if [ "${1:-}" = --expected ]; then
  for d in compute-node vlan-lab; do
    rm -rf "$d/expected" && mkdir -p "$d/expected"
    "$K" replay "$d/topology.yaml" --format json | python3 -c 'import json,sys; j=json.load(sys.stdin); j.pop("seconds"); print(json.dumps(j, indent=2, sort_keys=True))' > "$d/expected/counters.json"
    for f in "$d"/*-out.pcap; do mv "$f" "$d/expected/"; done
  done
fi
