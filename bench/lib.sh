# Helpers shared by the comparison benchmarks (sourced).

# median: the median of the numbers on stdin (0 if none).
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print 0; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# ratio A B: "A/Bx" with two decimals, "n/a" when B is 0.
ratio() { python3 -c 'import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print("n/a" if b==0 else f"{a/b:.2f}x")' "$1" "$2"; }

# write_table DOC NAME TABLE: puts TABLE between <!-- NAME:begin --> and
# <!-- NAME:end --> in DOC (if DOC has those markers).
write_table() {
  local doc=$1 name=$2 table=$3
  [ -f "$doc" ] && grep -q "<!-- $name:begin -->" "$doc" || return 0
  python3 - "$doc" "$name" "$table" <<'PY'
import sys
doc, name, table = sys.argv[1], sys.argv[2], sys.argv[3]
s = open(doc).read()
a, b = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
s = s[: s.index(a) + len(a)] + "\n" + table + "\n" + s[s.index(b):]
open(doc, "w").write(s)
PY
  echo "[bench] updated $doc" >&2
}

# --- Processes a benchmark starts in the background ---
# They are ended by the pid they were started with, never by name (a user's
# own iperf3 on the same port must survive a benchmark). Each is recorded,
# with its start time, in BENCH_PIDFILE (default $T/bench.pids, so that a pid
# recorded inside $(...) reaches the script's cleanup too); end_started ends
# those still running, and a pid the kernel has since given to another
# process is left alone.

# pid_started PID: PID's start time (clock ticks since boot), "" if gone.
pid_started() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }

# record_pid PID: remembers a process this script started.
record_pid() { echo "$1 $(pid_started "$1")" >>"${BENCH_PIDFILE:-$T/bench.pids}"; }

# end_pid PID [GRACE_S]: ends PID if it is still the process recorded under
# it (TERM; with GRACE_S, KILL if it is still there after that many
# seconds), and reaps it when it is this shell's child.
end_pid() {
  local pid=$1 grace=${2:-} start
  start=$(awk -v p="$pid" '$1 == p {s = $2} END {print s}' "${BENCH_PIDFILE:-$T/bench.pids}" 2>/dev/null)
  if [ -n "$start" ] && [ "$(pid_started "$pid")" = "$start" ]; then
    kill "$pid" 2>/dev/null
    for _ in $(seq 1 $((${grace:-2} * 20))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    [ -n "$grace" ] && [ "$(pid_started "$pid")" = "$start" ] && kill -9 "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null
  return 0
}

# end_started: ends every recorded process still running (for a cleanup trap).
end_started() {
  local f=${BENCH_PIDFILE:-$T/bench.pids} pid _
  [ -f "$f" ] || return 0
  while read -r pid _; do end_pid "$pid"; done <"$f"
  rm -f "$f"
}

# iperf_server NS PORT: an iperf3 server for one client in namespace NS, in
# the background; returns once it listens (1 if it never does). Its pid is
# in IPERF_PID; it exits after its client, or end_pid "$IPERF_PID".
iperf_server() {
  ip netns exec "$1" iperf3 -s -p "$2" -1 >/dev/null 2>&1 &
  IPERF_PID=$!
  record_pid "$IPERF_PID"
  for _ in $(seq 1 100); do
    [ -n "$(ip netns exec "$1" ss -Hltn "sport = :$2" 2>/dev/null)" ] && return 0
    kill -0 "$IPERF_PID" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}
