#!/usr/bin/env bash
# VMs in one run: kvnetd's VM host against QEMU started by hand.
#   boot:  `kvnetctl vm start` to the guest's ready marker, against the same
#          QEMU command line started by hand (its TAP by name instead of an
#          inherited fd) to the same marker; both timed by polling the
#          console log every 10 ms;
#   TCP:   iperf3 between two guests through a kvnet switch, against the
#          same two guests on TAPs in a Linux bridge and on the same TAPs
#          with only bpf_redirect between them (the floor), in rounds;
#   RSS:   QEMU's resident memory per idle guest, started either way;
#   Debian: the Debian 12 image from `vm add --image --start` to SSH-ready,
#          against a fresh overlay and the same QEMU command line by hand;
#   then live migration (bench/compare_migration.sh).
# Everything runs in a namespace of its own (kvnetd, the TAPs, the Linux
# bridge); guests are kvnet's guest image, accelerated as kvnetd chooses.
# Usage: bench/compare_vms.sh BIN_DIR [RUNS]   (root)
set -euo pipefail
BIN=$(cd "${1:?usage: compare_vms.sh BIN_DIR [RUNS]}" && pwd)
RUNS=${2:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/lib.sh"
export KVNET_GUEST_DIR=${KVNET_GUEST_DIR:-/var/cache/kvnet/guest}
bash "$ROOT/guest/build.sh" "$KVNET_GUEST_DIR" >&2
T=$(mktemp -d /tmp/kvnet-vb.XXXXXX)
NS="kvb$(($$ % 10000))"
DUR=${BENCH_SECONDS:-4}
KVD=""
HAND=()
say() { echo "[bench] $*" >&2; }
cleanup() {
  set +e
  for p in "${HAND[@]}"; do kill -9 "$p" 2>/dev/null; done
  for f in "$T"/vms/*/qemu.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done
  [ -n "$KVD" ] && kill "$KVD" 2>/dev/null
  sleep 0.5
  ip netns del "$NS" 2>/dev/null
  ip netns del "${NS}h" 2>/dev/null
  ip netns del "${NS}c" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export KVNET_SOCKET=$T/k.sock
k() { "$BIN/kvnetctl" "$@"; }
now() { date +%s.%N; }
# wait_marker LOG: returns when the ready marker is in LOG (fails after 300 s).
wait_marker() {
  for _ in $(seq 1 30000); do
    grep -a "kvnet-guest: ready" "$1" >/dev/null 2>&1 && return 0
    sleep 0.01
  done
  echo "no ready marker in $1" >&2
  return 1
}

ip netns add "$NS"
ip -n "$NS" link set lo up
# nsenter execs kvnetd (no fork): $! is kvnetd's pid, which cleanup kills.
nsenter --net=/run/netns/$NS "$BIN/kvnetd" --foreground --db "$T/k.db" --socket "$KVNET_SOCKET" 2>"$T/kvnetd.log" &
KVD=$!
for _ in $(seq 1 100); do [ -S "$KVNET_SOCKET" ] && break; sleep 0.05; done
k add-br br0 >/dev/null
k vm add b1 --nic bridge=br0,ip=10.60.0.1/24 >/dev/null
k vm add b2 --nic bridge=br0,ip=10.60.0.2/24 >/dev/null

# The hand-started twin of a kvnet VM: kvnet's own command line, with the
# TAP by name and its files elsewhere.
k vm start b1 >/dev/null
wait_marker "$T/vms/b1/console.log"
k vm show b1 --format json | python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin)["command"]))' >"$T/b1.argv"
ACCEL=$(k vm show b1 --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["accel"])')
k vm kill b1 >/dev/null
hand_argv() {  # NAME TAP -> argv lines
  sed -e "s|$T/vms/b1|$T/hand/$1|g" -e "s|guest=b1,process=kvnet-b1|guest=$1|" \
    -e "s|tap,id=net0,fd=3,vhost=off|tap,id=net0,ifname=$2,script=no,downscript=no,vhost=off|" \
    -e "s|kvnet.hostname=b1|kvnet.hostname=$1|" "$T/b1.argv"
}
hand_start() {  # NAME TAP IP -> pid in HAND
  mkdir -p "$T/hand/$1"
  rm -f "$T/hand/$1/console.log"
  mapfile -t argv < <(hand_argv "$1" "$2" | sed -e "s|kvnet.ip0=10.60.0.1/24|kvnet.ip0=$3|" \
    -e "s|mac=52:54:00:[0-9a-f:]*|mac=52:54:00:99:00:$(printf '%02x' ${#HAND[@]})|")
  # In a session of its own, as kvnetd and libvirt start QEMU: with the
  # kernel's autogroup scheduling a session is a CPU share, and QEMUs sharing
  # this script's session ran 5-8 % faster than kvnetd's under TCG (measured
  # with the same guests on both switches). setsid and nsenter exec (no fork:
  # this script's jobs lead no process group): $! is QEMU's pid.
  setsid nsenter --net=/run/netns/$NS "${argv[@]}" >"$T/hand/$1/qemu.log" 2>&1 &
  HAND+=($!)
  disown $!
}

hand_end_last() {  # kills the QEMU started last by hand and waits until it is gone
  kill -9 "${HAND[-1]}"
  while kill -0 "${HAND[-1]}" 2>/dev/null; do sleep 0.05; done
  unset 'HAND[-1]'
}

say "boot to the ready marker ($ACCEL): kvnetctl vm start vs the same QEMU command line by hand, $RUNS runs"
kb=() hb=() kc=()
for r in $(seq 1 "$RUNS"); do
  rm -f "$T/vms/b1/console.log"
  t0=$(now); k vm start b1 >/dev/null; tc=$(now); wait_marker "$T/vms/b1/console.log"; t1=$(now)
  kb+=("$(echo "$t1 - $t0" | bc)")
  kc+=("$(echo "($tc - $t0) * 1000" | bc)")
  k vm kill b1 >/dev/null
  ip -n "$NS" tuntap add dev hb1 mode tap vnet_hdr 2>/dev/null || true
  ip -n "$NS" link set hb1 up
  t0=$(now); hand_start h1 hb1 10.60.0.1/24; wait_marker "$T/hand/h1/console.log"; t1=$(now)
  hb+=("$(echo "$t1 - $t0" | bc)")
  hand_end_last
  say "  run $r: kvnet ${kb[-1]} s (vm start returned after ${kc[-1]} ms), by hand ${hb[-1]} s"
done
KB=$(printf '%s\n' "${kb[@]}" | median) HB=$(printf '%s\n' "${hb[@]}" | median)
KC=$(printf '%s\n' "${kc[@]}" | median)
ip -n "$NS" link del hb1 2>/dev/null || true

iperf_kvnet() {
  k vm console b2 --exec "iperf3 -s -D -1 -p 5301" >/dev/null
  sleep 0.3
  k vm console b1 --timeout $((DUR + 30)) --exec "iperf3 -c 10.60.0.2 -p 5301 -t $DUR -f m" | awk '/receiver/ {print $(NF-2)}'
}
iperf_hand() {
  python3 "$ROOT/bench/guest_console.py" "$T/hand/h2/console.sock" "iperf3 -s -D -1 -p 5301" >/dev/null
  sleep 0.3
  python3 "$ROOT/bench/guest_console.py" "$T/hand/h1/console.sock" "iperf3 -c 10.60.0.2 -p 5301 -t $DUR -f m" $((DUR + 30)) |
    awk '/receiver/ {print $(NF-2)}'
}

# All four guests run at once (an idle guest costs next to nothing), and
# each round measures the three paths one after the other: TCG guests drift
# from minute to minute by more than the paths differ.
say "VM <-> VM iperf3 TCP, $RUNS rounds of $DUR s: kvnet's switch, a Linux bridge, bpf_redirect between the TAPs"
k vm start b1 >/dev/null
k vm start b2 >/dev/null
ip -n "$NS" link add lbr type bridge
ip -n "$NS" link set lbr up
for i in 1 2; do
  ip -n "$NS" tuntap add dev ht$i mode tap vnet_hdr
  ip -n "$NS" link set ht$i master lbr up
done
hand_start h1 ht1 10.60.0.1/24
hand_start h2 ht2 10.60.0.2/24
wait_marker "$T/vms/b1/console.log"
wait_marker "$T/vms/b2/console.log"
wait_marker "$T/hand/h1/console.log"
wait_marker "$T/hand/h2/console.log"
k vm console b1 --exec "ping -c 3 -W 2 10.60.0.2" >/dev/null || say "  (first ping lost)"
python3 "$ROOT/bench/guest_console.py" "$T/hand/h1/console.sock" "ping -c 3 -W 2 10.60.0.2" >/dev/null || say "  (first ping lost)"
# The floor: the TAPs out of the bridge, each one's tc ingress (what its
# guest sends) redirected out of the other (bench/bpf/redirect_peer.bpf.c -DPLAIN).
for i in 1 2; do
  clang -target bpf -O2 -I/usr/include/$(gcc -print-multiarch) -DPLAIN \
    -DOUT_IFINDEX="$(ip netns exec "$NS" cat /sys/class/net/ht$((3 - i))/ifindex)" \
    -c "$ROOT/bench/bpf/redirect_peer.bpf.c" -o "$T/redirect$i.o"
done
floor_on() {
  for i in 1 2; do
    ip -n "$NS" link set ht$i nomaster
    ip netns exec "$NS" tc qdisc add dev ht$i clsact
    ip netns exec "$NS" tc filter add dev ht$i ingress bpf direct-action obj "$T/redirect$i.o" sec tc
  done
}
floor_off() {
  for i in 1 2; do
    ip netns exec "$NS" tc qdisc del dev ht$i clsact
    ip -n "$NS" link set ht$i master lbr
  done
}
kt=() lt=() ft=()
tcp_path() {  # kvnet | bridge | floor: one iperf3 run on that path
  case $1 in
    kvnet) kt+=("$(iperf_kvnet)") ;;
    bridge) lt+=("$(iperf_hand)") ;;
    floor) floor_on; ft+=("$(iperf_hand)"); floor_off ;;
  esac
}
PATHS=(kvnet bridge floor)
for r in $(seq 1 "$RUNS"); do
  # Each round starts with another path: no path is always measured first.
  for j in 0 1 2; do tcp_path "${PATHS[$(((r - 1 + j) % 3))]}"; done
  say "  round $r (from ${PATHS[$(((r - 1) % 3))]}): kvnet ${kt[-1]}, Linux bridge ${lt[-1]}, bpf_redirect ${ft[-1]} Mbit/s"
done
KRSS=$(k vm list --format json | python3 -c 'import json,sys; v=json.load(sys.stdin); print(round(sum(x["rss_mb"] for x in v)/len(v)))')
k vm kill b1 >/dev/null
k vm kill b2 >/dev/null
HRSS=0
for p in "${HAND[@]}"; do
  q=$(pgrep -P "$p" -f qemu-system 2>/dev/null | head -1 || true)
  [ -n "$q" ] || q=$p
  r=$(awk '/VmRSS/ {print int($2/1024)}' "/proc/$q/status" 2>/dev/null || echo 0)
  HRSS=$((HRSS + r))
done
HRSS=$((HRSS / ${#HAND[@]}))

for p in "${HAND[@]}"; do kill -9 "$p" 2>/dev/null || true; done
HAND=()

# --- Debian 12 (guest/build-debian.sh) from `vm add --start` to SSH-ready ---
# kvnet: an image VM (its overlay, a cloud-init seed with a key) on br0, SSH
# from a kvnet container on br0. By hand: a fresh overlay of the same image,
# kvnet's seed and QEMU command line (the TAP by name) on the Linux bridge,
# SSH from a namespace on that bridge. Each run a first boot (fresh disk).
export KVNET_DEBIAN_DIR=${KVNET_DEBIAN_DIR:-/var/cache/kvnet/debian}
bash "$ROOT/guest/build-debian.sh" "$KVNET_DEBIAN_DIR" >&2
k image import debian12 "$KVNET_DEBIAN_DIR/debian-12.qcow2" --kernel "$KVNET_DEBIAN_DIR/vmlinuz" \
  --initrd "$KVNET_DEBIAN_DIR/initrd.img" >/dev/null 2>&1
ssh-keygen -q -t ed25519 -N '' -C bench -f "$T/key"
DC="${NS}c" DH="${NS}h"
k ct add "$DC" --bridge br0 --ip 10.60.0.30/24 >/dev/null
ip netns add "$DH"
ip link add "${NS}hv" netns "$DH" type veth peer name "${NS}hb" netns "$NS"
ip -n "$NS" link set "${NS}hb" master lbr up
ip -n "$DH" addr add 10.60.0.31/24 dev "${NS}hv"
ip -n "$DH" link set "${NS}hv" up
ssh_ready() {  # NETNS: the guest answers SSH with the key
  ip netns exec "$1" ssh -i "$T/key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=1 \
    -o BatchMode=yes -o LogLevel=ERROR debian@10.60.0.10 true >/dev/null 2>&1
}
wait_ssh() {  # NETNS [PID: the QEMU, which must stay alive]
  for _ in $(seq 1 3000); do
    ssh_ready "$1" && return 0
    if [ -n "${2:-}" ] && ! kill -0 "$2" 2>/dev/null; then echo "QEMU (pid $2) ended: $(tail -3 "$T/hand/deb/qemu.log")" >&2; return 1; fi
    sleep 0.2
  done
  echo "the Debian guest never answered SSH" >&2
  return 1
}
deb_add() { k vm add deb --image debian12 --mem 512M --ssh-key "$T/key.pub" --nic bridge=br0,ip=10.60.0.10/24 "$@"; }
deb_add >/dev/null
k vm start deb >/dev/null  # writes its seed
k vm show deb --format json | python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin)["command"]))' >"$T/deb.argv"
[ -s "$T/deb.argv" ] || { echo "no QEMU command line for the Debian VM" >&2; exit 1; }
cp "$T/vms/deb/seed.iso" "$T/deb-seed.iso"
k vm kill deb >/dev/null
ip -n "$NS" tuntap add dev hdeb mode tap vnet_hdr
ip -n "$NS" link set hdeb master lbr up
say "Debian 12 ($ACCEL) to SSH-ready: vm add --start vs the same QEMU command line by hand, $RUNS runs"
kd=() hd=()
for r in $(seq 1 "$RUNS"); do
  while k vm show deb >/dev/null 2>&1; do k vm del deb --force >/dev/null 2>&1 || sleep 0.2; done
  t0=$(now); deb_add --start >/dev/null; wait_ssh "$DC"; t1=$(now)
  kd+=("$(echo "$t1 - $t0" | bc)")
  k vm kill deb >/dev/null
  mkdir -p "$T/hand/deb"
  rm -f "$T/hand/deb.qcow2"
  t0=$(now)
  qemu-img create -q -f qcow2 -b "$T/images/debian12.qcow2" -F qcow2 "$T/hand/deb.qcow2"
  mapfile -t argv < <(sed -e "s|$T/vms/deb/seed.iso|$T/deb-seed.iso|" -e "s|$T/vms/deb|$T/hand/deb|g" \
    -e "s|$T/disks/deb.qcow2|$T/hand/deb.qcow2|g" -e "s|guest=deb,process=kvnet-deb|guest=hdeb|" \
    -e "s|tap,id=net0,fd=3,vhost=off|tap,id=net0,ifname=hdeb,script=no,downscript=no,vhost=off|" "$T/deb.argv")
  setsid nsenter --net=/run/netns/$NS "${argv[@]}" >"$T/hand/deb/qemu.log" 2>&1 &  # as hand_start
  HAND+=($!)
  disown $!
  wait_ssh "$DH" "${HAND[-1]}"; t1=$(now)
  hd+=("$(echo "$t1 - $t0" | bc)")
  hand_end_last
  say "  run $r: kvnet ${kd[-1]} s, by hand ${hd[-1]} s"
done
KD=$(printf '%s\n' "${kd[@]}" | median) HD=$(printf '%s\n' "${hd[@]}" | median)

KT=$(printf '%s\n' "${kt[@]}" | median) LT=$(printf '%s\n' "${lt[@]}" | median) FT=$(printf '%s\n' "${ft[@]}" | median)
OVER=$(python3 -c "print(f'{($KB-$HB)/$HB*100:+.1f}%')")
TABLE=$(cat <<MD
| VMs ($ACCEL, kvnet's guest image, 1 vCPU) | kvnet | by hand / Linux bridge | kvnet ÷ peer |
|---|---|---|---|
| boot: start to ready marker, s | $(printf '%.2f' "$KB") | $(printf '%.2f' "$HB") | overhead $OVER |
| \`kvnetctl vm start\` until QEMU answers QMP, ms | $(printf '%.0f' "$KC") | | $(python3 -c "print(f'{$KC/1000/$HB*100:.1f}% of the boot')") |
| VM <-> VM iperf3 TCP, Gbit/s | **$(python3 -c "print(round($KT/1000,2))")** | $(python3 -c "print(round($LT/1000,2))") | $(ratio "$KT" "$LT") |
| VM <-> VM iperf3 TCP, bpf_redirect between the TAPs (no lookup: the floor), Gbit/s | | $(python3 -c "print(round($FT/1000,2))") | $(ratio "$KT" "$FT") |
| QEMU RSS per idle guest, MiB | $KRSS | $HRSS | $(ratio "$KRSS" "$HRSS") |
| Debian 12 (512 MiB): \`vm add --start\` to SSH-ready, s | $(printf '%.1f' "$KD") | $(printf '%.1f' "$HD") | $(ratio "$KD" "$HD") |

Medians of $RUNS runs, $(date -u +%Y-%m-%d), $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p' | head -n1)), kernel $(uname -r), $(qemu-system-x86_64 --version | head -n1).
By hand: each QEMU in a session of its own (\`setsid\`), as kvnetd and libvirt start it. Boot: \`kvnetctl vm start\` against kvnet's own QEMU command line started by hand (TAP by name); both to the guest's "kvnet-guest: ready" line, polled every 10 ms. Under TCG a boot varies by ±1 s from run to run, more than kvnet adds: \`vm start\` returns once QEMU answers on QMP: kvnetd's own part (API, checks, TAP, spawn, the port opened) and QEMU's start-up, which the by-hand boot pays too.
Debian: guest/build-debian.sh's image, first boot of a fresh overlay with cloud-init (NoCloud seed: key, hostname, address) to the first \`ssh true\` that succeeds (tried every 0.2 s); kvnet: \`kvnetctl vm add --image --start\`, SSH from a kvnet container on the same switch; by hand: \`qemu-img create\` of an overlay and kvnet's QEMU command line with kvnet's seed, on TAP in a Linux bridge.
TCP: \`iperf3 -t $DUR\` from guest to guest over their serial consoles, medians of $RUNS rounds that each run the three paths one after the other, each round from another path; kvnet: two VMs on one kvnet switch (TAP ports, the fast path on); peers: the same guests by hand on TAPs in a Linux bridge, and on the same TAPs out of the bridge with a tc program on each that only calls \`bpf_redirect\` to the other (bench/bpf/redirect_peer.bpf.c).
MD
)
echo "$TABLE"
write_table "$ROOT/docs/benchmarks.md" compare_vms "$TABLE"
# Live migration belongs to this comparison too (issue 19): its own
# cluster, once everything of this script is gone. A run made while this
# script's kvnetd and namespaces were still there lost 84-204 pings per
# migration, standalone runs 9-27; why is not pinned down.
trap - EXIT
cleanup
exec bash "$ROOT/bench/compare_migration.sh" "$BIN" "$RUNS"
