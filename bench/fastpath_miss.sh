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
  k fastpath flush >/dev/null 2>&1 || true  # (off: says so, flushes nothing)
  ip netns exec ${P}a ping -n -c 5 -i 0.05 -W 1 10.87.0.2 | python3 -c '
import re, statistics, sys
t = [float(m) for m in re.findall(r"time=([0-9.]+)", sys.stdin.read())]
print(round(t[0], 3), round(statistics.median(t[1:]), 3)) if len(t) == 5 else print(0, 0)'
}

# install_rate: "INSTALLS_PER_S INSTALLED" for a burst of N frames from new
# source MACs: sent at once from a packet socket in a, then kvnetd asked
# (kvnetctl, a few ms a time) until every one was installed or nothing more
# comes for a second.
install_rate() {
  local dst
  dst=$(ip netns exec ${P}b cat /sys/class/net/eth0/address)
  ip netns exec ${P}a python3 - "$dst" "$N" "$BIN/kvnetctl" "$T/kv.sock" <<'PY'
import json, socket, struct, subprocess, sys, time
dst = bytes.fromhex(sys.argv[1].replace(":", ""))
n, ctl, sock = int(sys.argv[2]), sys.argv[3], sys.argv[4]
def installs():
    out = subprocess.run([ctl, "--socket", sock, "fastpath", "show", "--format", "json"], capture_output=True, text=True)
    return json.loads(out.stdout)["installs"]
before = installs()
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
payload = struct.pack("!H", 0x88B5) + b"\0" * 46  # local experimental EtherType: no stack answers it
frames = [dst + struct.pack("!HI", 0x0200, 0x10000000 + i) + payload for i in range(n)]
t0 = time.monotonic()
for f in frames:
    s.send(f)
last, last_change = before, time.monotonic()
while True:
    now_installs = installs()
    now = time.monotonic()
    if now_installs - before >= n:
        break
    if now_installs != last:
        last, last_change = now_installs, now
    elif now - last_change > 1.0:
        now = last_change
        break
got = now_installs - before
print(int(got / (now - t0)), got)
PY
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
  read -r f _ <<<"$(first_ping)"
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
