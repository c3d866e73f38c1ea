#!/usr/bin/env bash
# Live migration of an idle 256 MiB guest (kvnet's guest image), in one run:
#   kvnet:   `kvnetctl vm migrate --wait` between two hosts of a cluster
#            (namespaces on an underlay bridge, a real etcd): total time,
#            QEMU's downtime, the source's stop to the destination's resume,
#            and the pings lost by a container on the destination host that
#            pings the guest every 10 ms;
#   by hand: the same QEMU command line twice (the second with -incoming),
#            migrated with QMP by a script (the same downtime limit and
#            bandwidth), both TAPs in one Linux bridge with a pinger: no
#            network to follow, QEMU's own announce after the move.
# Target (issue 19): kvnet's downtime <= by hand + 100 ms, and <= 500 ms under TCG.
# Usage: bench/compare_migration.sh BIN_DIR [RUNS]   (root)
set -euo pipefail
BIN=$(cd "${1:?usage: compare_migration.sh BIN_DIR [RUNS]}" && pwd)
RUNS=${2:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/lib.sh"
export KVNET_GUEST_DIR=${KVNET_GUEST_DIR:-/var/cache/kvnet/guest}
bash "$ROOT/guest/build.sh" "$KVNET_GUEST_DIR" >&2
command -v etcd >/dev/null || { echo "compare_migration: etcd is not installed (./run installs etcd-server)" >&2; exit 1; }
T=$(mktemp -d /tmp/kvnet-mb.XXXXXX)
P="kmb$(($$ % 1000))"
export BENCH_PIDFILE=$T/bench.pids
say() { echo "[bench] $*" >&2; }
cleanup() {
  set +e
  for f in "$T"/*-vms/*/qemu.pid "$T"/hand/*/qemu.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done
  [ -f "$BENCH_PIDFILE" ] && while read -r pid started; do end_started "$pid" "$started"; done <"$BENCH_PIDFILE"
  sleep 0.3
  for n in ul h1 h2 st hand pg c; do ip netns del ${P}$n 2>/dev/null; done  # c: the container kvnetd made
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
hctl() { local h=$1; shift; KVNET_SOCKET="$T/$h.sock" "$BIN/kvnetctl" "$@"; }
waitfor() { local n=$1; shift; for _ in $(seq 1 $((n * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }
lost() { sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) received.*/\1 \2/p' "$1" | awk '{print $1 - $2}'; }

# --- kvnet: two hosts and the store on an underlay bridge ----------------
ip netns add ${P}ul
ip -n ${P}ul link add br0 type bridge
ip -n ${P}ul link set br0 up
for n in h1 h2 st; do
  ip netns add ${P}$n
  ip link add ${P}$n type veth peer name ${P}u$n
  ip link set ${P}$n netns ${P}$n
  ip link set ${P}u$n netns ${P}ul
  ip -n ${P}ul link set ${P}u$n master br0 up
  ip -n ${P}$n link set lo up
  ip -n ${P}$n link set ${P}$n name eth1
  ip -n ${P}$n link set eth1 up
done
ip -n ${P}h1 addr add 10.98.0.1/24 dev eth1
ip -n ${P}h2 addr add 10.98.0.2/24 dev eth1
ip -n ${P}st addr add 10.98.0.100/24 dev eth1
URL=http://10.98.0.100:2379
ip netns exec ${P}st etcd --name s --data-dir "$T/etcd" --listen-client-urls $URL --advertise-client-urls $URL \
  --listen-peer-urls http://10.98.0.100:2380 --initial-advertise-peer-urls http://10.98.0.100:2380 \
  --initial-cluster s=http://10.98.0.100:2380 >"$T/etcd.log" 2>&1 &
record_pid $!
waitfor 20 ip netns exec ${P}st etcdctl --endpoints $URL endpoint health
for n in h1 h2; do
  ip netns exec ${P}$n "$BIN/kvnetd" --foreground --db "$T/$n.db" --socket "$T/$n.sock" --vm-dir "$T/$n-vms" \
    --disk-dir "$T/$n-disks" --image-dir "$T/$n-images" --cluster $URL --host $n --underlay-ip 10.98.0.${n#h} \
    >>"$T/$n.log" 2>&1 &
  record_pid $!
  waitfor 10 hctl $n list-br
done
waitfor 10 bash -c "KVNET_SOCKET=$T/h1.sock $BIN/kvnetctl cluster hosts | grep -q '^ *h2 *up'"
hctl h1 network add blue --vni 100 --subnet 10.98.1.0/24 >/dev/null
hctl h2 ct add ${P}c --network blue --ip 10.98.1.30 >/dev/null
hctl h1 vm add mig --mem 256M --nic network=blue,ip=10.98.1.10 --start --wait --timeout 120 >/dev/null 2>&1
waitfor 15 ip netns exec ${P}c ping -c 1 -W 1 10.98.1.10
ARGV=$T/argv
hctl h1 vm show mig --format json | python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin)["command"]))' >"$ARGV"

declare -a K_TOTAL K_QEMU K_MEASURED K_LOST H_TOTAL H_QEMU H_LOST
from=h1 to=h2
for r in $(seq 1 "$RUNS"); do
  sleep 2  # idle
  ip netns exec ${P}c ping -n -q -i 0.01 -W 1 10.98.1.10 >"$T/ping" 2>&1 &
  pingpid=$!
  record_pid $pingpid  # a failed move must not leave it pinging
  sleep 1
  hctl $from --format json vm migrate mig --to $to --wait --timeout 120 >"$T/mig.json"
  sleep 1
  kill -INT $pingpid
  wait $pingpid || true
  read -r total qemu measured < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get("total_s",0), d.get("qemu_downtime_ms",-1), d.get("measured_downtime_ms",-1))' "$T/mig.json")
  K_TOTAL+=("$total") K_QEMU+=("$qemu") K_MEASURED+=("$measured") K_LOST+=("$(lost "$T/ping")")
  say "kvnet run $r ($from -> $to): total $total s, downtime $qemu ms (QEMU), $measured ms (stop to resume), lost pings ${K_LOST[-1]}"
  tmp=$from from=$to to=$tmp
done

# --- by hand: the same command line, twice, in a Linux bridge ------------
ip netns add ${P}hand
ip -n ${P}hand link set lo up
ip -n ${P}hand link add br0 type bridge
ip -n ${P}hand link set br0 up
ip netns add ${P}pg
ip link add ${P}pg type veth peer name pg0 netns ${P}hand
ip link set ${P}pg netns ${P}pg
ip -n ${P}hand link set pg0 master br0 up
ip -n ${P}pg link set ${P}pg up
ip -n ${P}pg addr add 10.98.1.30/24 dev ${P}pg
for t in tsrc tdst; do
  ip -n ${P}hand tuntap add $t mode tap vnet_hdr
  ip -n ${P}hand link set $t master br0 up
done
hand_argv() {  # NAME TAP: kvnet's argv with the TAP by name and files of its own
  sed -e "s|$T/h1-vms/mig|$T/hand/$1|g" -e "s|$T/h2-vms/mig|$T/hand/$1|g" -e "s|guest=mig,process=kvnet-mig|guest=$1|" \
    -e "s|tap,id=net0,fd=3,vhost=off|tap,id=net0,ifname=$2,script=no,downscript=no,vhost=off|" "$ARGV"
}
hand_start() {  # NAME TAP [EXTRA...]
  local name=$1 tap=$2
  shift 2
  mkdir -p "$T/hand/$name"
  mapfile -t argv < <(hand_argv "$name" "$tap")
  setsid ip netns exec ${P}hand "${argv[@]}" "$@" >"$T/hand/$name/qemu.log" 2>&1 &  # a session of its own, as kvnetd starts QEMU
  record_pid $!
  disown $!
}
cat >"$T/qmp.py" <<'PY'
import json, socket, sys, time
def conn(path):
    for _ in range(200):
        try:
            s = socket.socket(socket.AF_UNIX); s.connect(path); break
        except OSError: time.sleep(0.05)
    f = s.makefile("rw")
    json.loads(f.readline())
    def cmd(name, args=None):
        f.write(json.dumps({"execute": name, **({"arguments": args} if args else {})}) + "\n"); f.flush()
        while True:
            m = json.loads(f.readline())
            if "return" in m or "error" in m: return m
    cmd("qmp_capabilities")
    return cmd
src, dst = conn(sys.argv[1]), conn(sys.argv[2])
uri = sys.argv[3]
src("migrate-set-capabilities", {"capabilities": [{"capability": "events", "state": True}]})
src("migrate-set-parameters", {"downtime-limit": 300, "max-bandwidth": 1 << 30})
src("migrate", {"uri": uri})
while True:
    r = src("query-migrate")["return"]
    if r.get("status") in ("completed", "failed", "cancelled"): break
    time.sleep(0.05)
print(r.get("status"), r.get("total-time", 0) / 1000.0, r.get("downtime", -1))
src("quit")
PY
for r in $(seq 1 "$RUNS"); do
  rm -rf "$T/hand"
  ip -n ${P}hand link set tsrc up
  hand_start src tsrc
  waitfor 120 grep -aq "kvnet-guest: ready" "$T/hand/src/console.log"
  waitfor 15 ip netns exec ${P}pg ping -c 1 -W 1 10.98.1.10
  hand_start dst tdst -incoming tcp:127.0.0.1:4444
  waitfor 10 test -S "$T/hand/dst/qmp.sock"
  sleep 2
  ip netns exec ${P}pg ping -n -q -i 0.01 -W 1 10.98.1.10 >"$T/ping" 2>&1 &
  pingpid=$!
  record_pid $pingpid
  sleep 1
  read -r status total qemu < <(ip netns exec ${P}hand python3 "$T/qmp.py" "$T/hand/src/qmp.sock" "$T/hand/dst/qmp.sock" tcp:127.0.0.1:4444)
  sleep 1
  kill -INT $pingpid
  wait $pingpid || true
  [ "$status" = completed ] || { echo "by hand: the migration $status" >&2; exit 1; }
  H_TOTAL+=("$total") H_QEMU+=("$qemu") H_LOST+=("$(lost "$T/ping")")
  say "by hand run $r: total $total s, downtime $qemu ms (QEMU), lost pings ${H_LOST[-1]}"
  for f in "$T"/hand/*/qemu.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done
  sleep 0.5
done

med() { printf '%s\n' "$@" | median; }
kt=$(med "${K_TOTAL[@]}") kq=$(med "${K_QEMU[@]}") km=$(med "${K_MEASURED[@]}") kl=$(med "${K_LOST[@]}")
ht=$(med "${H_TOTAL[@]}") hq=$(med "${H_QEMU[@]}") hl=$(med "${H_LOST[@]}")
echo
echo "Live migration of an idle 256 MiB guest (accel $(grep -A1 -x -- -accel "$ARGV" | tail -1)), medians of $RUNS runs"
printf '| %-36s | %12s | %12s | %8s |\n' "" "kvnet" "by hand" "ratio"
printf '| %-36s | %12s | %12s | %8s |\n' "total time (s)" "$kt" "$ht" "$(ratio "$kt" "$ht")"
printf '| %-36s | %12s | %12s | %8s |\n' "downtime, QEMU's figure (ms)" "$kq" "$hq" "$(ratio "$kq" "$hq")"
printf '| %-36s | %12s | %12s | %8s |\n' "pings lost, every 10 ms" "$kl" "$hl" "$(ratio "$kl" "$hl")"
printf '| %-36s | %12s | %12s | %8s |\n' "source stop to destination resume (ms)" "$km" "-" "-"
echo "target: kvnet's downtime <= by hand + 100 ms ($kq <= $hq + 100), and <= 500 ms"
