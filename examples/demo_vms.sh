#!/usr/bin/env bash
# Part 4 of ./run demo: the seed's compute node with real QEMU guests.
# Starts a kvnetd of its own, applies examples/compute-node-vms.yaml (three
# VMs that start by themselves, one NIC each for vm01 and vm03, two for
# vm02), waits for them to boot, shows `vm list`, runs a ping matrix from
# inside the guests (over their serial consoles) that proves net01/net02
# (VLAN 101/102) isolation, traces a frame from vm01's NIC through the nine
# devices, and tears everything down (--keep leaves it up, with the
# dashboard; the next run removes it first). What it makes is recorded in
# /run/kvnet-demo/vms (examples/demo_lib.sh).
# Usage: examples/demo_vms.sh BIN_DIR [--keep]
set -euo pipefail
BIN=$(cd "${1:?usage: demo_vms.sh BIN_DIR [--keep]}" && pwd)
KEEP=${2:-}
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/demo_lib.sh"
WORK=$(cd "$BIN/.." && pwd)/demo-vms
mkdir -p "$WORK"
export KVNET_SOCKET="$WORK/kvnetd.sock"
K="$BIN/kvnetctl"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

demo_clean vms  # what a kept (or interrupted) run left
demo_check_free vms physnet
rm -rf "$WORK/kvnet.db"* "$WORK/vms"
if [ "$KEEP" != "--keep" ]; then
  trap 'demo_clean vms' EXIT
  trap 'exit 130' INT TERM
fi

say "1. Start kvnetd (socket $KVNET_SOCKET, guest image ${KVNET_GUEST_DIR:-/var/cache/kvnet/guest})"
# The dashboard and the metrics: loopback only.
HTTP=${KVNET_DEMO_HTTP:-127.0.0.1:8042}
METRICS=${KVNET_DEMO_METRICS:-127.0.0.1:9142}
"$BIN/kvnetd" --foreground --db "$WORK/kvnet.db" --socket "$KVNET_SOCKET" --http "$HTTP" --metrics "$METRICS" \
  2>"$WORK/kvnetd.log" &
KVD=$!
demo_record vms kvnetd "$KVD" "$KVNET_SOCKET" "$K"
demo_record vms qemu "$WORK/vms"
demo_record vms netns physnet
for _ in $(seq 1 100); do [ -S "$KVNET_SOCKET" ] && break; sleep 0.05; done
echo "kvnetd pid $KVD"

say "2. kvnetctl apply examples/compute-node-vms.yaml (the VMs have autostart: true)"
"$K" apply "$HERE/compute-node-vms.yaml"

say "3. Waiting for the guests to boot"
for v in vm01 vm02 vm03; do
  for _ in $(seq 1 1800); do
    "$K" vm show "$v" --format json | grep -F '"ready": true' >/dev/null && break
    sleep 0.1
  done
  echo "$v: $("$K" vm show "$v" | sed -n 's/^  booted: *//p')"
done

say "4. kvnetctl vm list"
"$K" vm list

say "5. Ping matrix, from inside the guests (every NIC is in 10.0.0.0/24; only VLANs separate them)"
EP=(vm01/eth0 vm02/eth0 vm02/eth1 vm03/eth0)
declare -A IP=([vm01/eth0]=10.0.0.11 [vm02/eth0]=10.0.0.12 [vm02/eth1]=10.0.0.22 [vm03/eth0]=10.0.0.13)
declare -A NET=([vm01/eth0]=net01 [vm02/eth0]=net01 [vm02/eth1]=net02 [vm03/eth0]=net02)
printf '%-10s' "from\\to"
for d in "${EP[@]}"; do printf '%-18s' "$d(${NET[$d]})"; done
echo
bad=0
for s in "${EP[@]}"; do
  vm=${s%/*} nic=${s#*/} targets=()
  for d in "${EP[@]}"; do [ "${d%/*}" = "$vm" ] || targets+=("${IP[$d]}"); done
  # One console round trip per row: each ping leaves by the row's NIC.
  out=$("$K" vm console "$vm" --timeout 60 --exec \
    "for t in ${targets[*]}; do ping -c 1 -W 1 -I $nic \$t >/dev/null 2>&1 && echo \$t=reach || echo \$t=isolated; done" || true)
  printf '%-10s' "$s"
  for d in "${EP[@]}"; do
    if [ "${d%/*}" = "$vm" ]; then printf '%-18s' "-"; continue; fi
    r=$(echo "$out" | sed -n "s/^${IP[$d]}=//p" | tr -d '\r')
    want=isolated
    [ "${NET[$s]}" = "${NET[$d]}" ] && want=reach
    [ "$r" = "$want" ] || bad=1
    printf '%-18s' "${r:-?}"
  done
  echo
done
[ $bad = 0 ] && echo "=> same network reaches, different networks are isolated: as configured" \
  || echo "=> UNEXPECTED reachability (see above)"

say "6. Trace: vm01's eth0 -> the physical network, through the nine devices"
"$K" fdb-add br-int 101 52:54:00:00:fe:01 int-br-eth1
"$K" fdb-add br-eth1 101 52:54:00:00:fe:01 eth1
"$K" trace qbr-vm01 in_port=vnet0 dl_src=52:54:00:00:01:01,dl_dst=52:54:00:00:fe:01,icmp,nw_src=10.0.0.11,nw_dst=8.8.8.8

say "7. vm02's serial console, one command (kvnetctl vm console vm02 --exec 'ip -o -f inet addr')"
"$K" vm console vm02 --exec "ip -o -f inet addr" || true

say "8. The picture (kvnetctl draw -o $WORK/compute-node.svg)"
"$K" draw -o "$WORK/compute-node.svg"
if [ "$KEEP" = "--keep" ]; then
  echo "Dashboard: http://$HTTP/   (the live picture, port rates, FDB, VMs, a trace form)"
  echo "Metrics:   http://$METRICS/metrics   (Prometheus)"
  say "Kept running: KVNET_SOCKET=$KVNET_SOCKET $K vm console vm01   (Ctrl-] detaches); dashboard http://$HTTP/"
  echo "Removed by the next ./run demo, or: bash examples/demo_lib.sh clean vms"
  disown "$KVD"
else
  echo "The dashboard and the metrics ($HTTP, $METRICS) stop with this demo: ./run demo --keep leaves them running."
  say "Tearing down (use --keep to leave it running)"
fi
[ $bad = 0 ]
