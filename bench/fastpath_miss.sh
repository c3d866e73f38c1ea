#!/usr/bin/env bash
# The cost of a fast-path miss, on kvnetd with two containers on one switch:
#   first frame: the RTT of a ping whose flow has no entry (after
#     `fastpath flush`; the neighbours stay resolved, so it is exactly one
#     miss each way: the slow path forwards it and installs the entry),
#     against the RTT of the pings right after it (both ways in the kernel),
#     and against the same first ping with the fast path off;
#   installs per second: a burst of N frames, each from a new source MAC to
#     the other container (known unicast: every one is a miss the slow path
#     forwards and installs), sent at once from a packet socket; installs
#     counted by `fastpath show`, over the time from the first frame until
#     the slow path has installed them all.
# Medians of RUNS runs. Writes the table to docs/benchmarks.md between the
# fastpath_miss markers.
#
# Usage: bench/fastpath_miss.sh BIN_DIR [RUNS]   (root)
set -euo pipefail
BIN=$(cd "${1:?usage: fastpath_miss.sh BIN_DIR [RUNS]}" && pwd)
RUNS=${2:-5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/lib.sh"
T=$(mktemp -d /tmp/kvnet-mbench.XXXXXX)
P="km$(($$ % 10000))"
N=${BENCH_MACS:-4000}  # below the default mac_table_size (8192): no station is evicted
KVD=""
cleanup() {
  set +e
  [ -n "$KVD" ] && end_pid "$KVD" 3
  end_started
  for ns in $(ip netns list | awk '{print $1}' | grep "^$P"); do ip netns del "$ns"; done
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
say() { echo "[bench] $*" >&2; }
k() { "$BIN/kvnetctl" --socket "$T/kv.sock" "$@"; }

start() {  # [kvnetd options]
  ip netns add ${P}h
  ip -n ${P}h link set lo up
  ip netns exec ${P}h "$BIN/kvnetd" --foreground --db "$T/kv.db" --socket "$T/kv.sock" "$@" >>"$T/kvnetd.log" 2>&1 &
  KVD=$!
  record_pid "$KVD"
  for _ in $(seq 1 100); do k list-br >/dev/null 2>&1 && break; sleep 0.05; done
  k add-br br0 >/dev/null
  k ct add ${P}a --bridge br0 --ip 10.87.0.1/24 >/dev/null
  k ct add ${P}b --bridge br0 --ip 10.87.0.2/24 >/dev/null
  ip netns exec ${P}a ping -c 2 -i 0.2 -W 1 10.87.0.2 >/dev/null  # neighbours resolved, stations learned
}
stop() {
  end_pid "$KVD" 3
  KVD=""
  for ns in $(ip netns list | awk '{print $1}' | grep "^$P"); do ip netns del "$ns"; done
  rm -f "$T"/kv.db* "$T/kv.sock"
}

# first_ping: "FIRST_MS NEXT_MS" for one flushed flow (the first ping's RTT,
# the median of the next four).
first_ping() {
  k fastpath flush >/dev/null 2>&1 || true
  ip netns exec ${P}a ping -n -c 5 -i 0.05 -W 1 10.87.0.2 |
    awk -F'time=' '/time=/{split($2, a, " "); t[++n] = a[1]} END {
      m[1]=t[2]; m[2]=t[3]; m[3]=t[4]; m[4]=t[5]; asort(m); print t[1], (m[2]+m[3])/2 }'
}

# install_rate: installs per second for a burst of N new source MACs.
install_rate() {
  local dst before after
  dst=$(ip netns exec ${P}b cat /sys/class/net/eth0/address)
  before=$(k fastpath show --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["installs"])')
  local t0 t1
  t0=$(date +%s.%N)
  ip netns exec ${P}a python3 - "$dst" "$N" <<'PY'
import socket, struct, sys
dst = bytes.fromhex(sys.argv[1].replace(":", ""))
n = int(sys.argv[2])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
payload = struct.pack("!H", 0x88B5) + b"\0" * 46  # local experimental EtherType: no stack answers it
for i in range(n):
    src = struct.pack("!HI", 0x0200, 0x10000000 + i)
    s.send(dst + src + payload)
PY
  # Until every miss was installed (or nothing more comes for a second).
  local last=-1 same=0
  while :; do
    after=$(k fastpath show --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["installs"])')
    [ $((after - before)) -ge "$N" ] && break
    if [ "$after" = "$last" ]; then same=$((same + 1)); [ $same -ge 20 ] && break; else same=0; fi
    last=$after
    sleep 0.05
  done
  t1=$(date +%s.%N)
  python3 -c 'import sys; n, a, b = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]); print(int(n / (b - a)), n)' \
    "$((after - before))" "$t0" "$t1"
}

say "kvnetd with its fast path"
start
firsts=() nexts=() rates=() counted=()
for r in $(seq 1 "$RUNS"); do
  read -r f n <<<"$(first_ping)"
  firsts+=("$f"); nexts+=("$n")
  k fdb-flush br0 >/dev/null 2>&1 || true
  ip netns exec ${P}a ping -c 1 -W 1 10.87.0.2 >/dev/null  # the two stations again
  read -r rate got <<<"$(install_rate)"
  rates+=("$rate"); counted+=("$got")
  say "  run $r: first ping ${f} ms, next ${n} ms; ${got} of $N misses installed, ${rate}/s"
done
stop
say "kvnetd, slow path only"
start --no-fast-path
slow=()
for r in $(seq 1 "$RUNS"); do
  read -r f _ <<<"$(ip netns exec ${P}a ping -n -c 5 -i 0.05 -W 1 10.87.0.2 |
    awk -F'time=' '/time=/{split($2, a, " "); t[++n] = a[1]} END {print t[1]}')"
  slow+=("$f")
done
stop

F=$(printf '%s\n' "${firsts[@]}" | median)
X=$(printf '%s\n' "${nexts[@]}" | median)
S=$(printf '%s\n' "${slow[@]}" | median)
R=$(printf '%s\n' "${rates[@]}" | median)
C=$(printf '%s\n' "${counted[@]}" | median)
TABLE=$(cat <<MD
| The cost of a miss (kvnetd, two containers on one switch) | |
|---|---|
| first ping of a flow without an entry (one miss each way, then installed), RTT ms | $F |
| the pings right after it (in the kernel both ways), RTT ms | $X |
| first ping ÷ the pings after it | $(ratio "$F" "$X") |
| a first ping with the fast path off (\`--no-fast-path\`), RTT ms | $S |
| installs per second (a burst of $N frames from new source MACs; installed: $C) | $R |

Medians of $RUNS runs, $(date -u +%Y-%m-%d), $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p' | head -n1)), kernel $(uname -r).
The first ping is flushed with \`kvnetctl fastpath flush\` before it; neighbours stay resolved.
MD
)
echo "$TABLE"
write_table "$ROOT/docs/benchmarks.md" fastpath_miss "$TABLE"
