#!/usr/bin/env bash
# The restart race of issue 6 §8: kill -9 a kvnetd holding many TAPs
# (internal ports) and start a new one at once. The dying process may still
# be closing its TAPs; the new kvnetd waits for it (it logs that it waits)
# instead of failing to attach them (EBUSY), and then every port is attached
# and forwards.
source "$(dirname "$0")/lib.sh" "$@"
N=${KVNET_RACE_PORTS:-300}
{
  echo "bridges:"
  echo "  - name: br0"
  echo "    ports:"
  for i in $(seq 1 "$N"); do echo "      - {name: ${P}i$i, type: internal}"; done
} >"$T/many.yaml"
kvd_start
kctl apply "$T/many.yaml" >/dev/null || fail "apply of $N internal ports failed"
kctl ct add ${P}a --bridge br0 --ip 10.79.0.1/24 >/dev/null
kctl ct add ${P}b --bridge br0 --ip 10.79.0.2/24 >/dev/null
wait_for 60 "ping before the kill (after the hosts' IPv6 chatter of $N new interfaces settles)" pings ${P}a 10.79.0.2
log "$N internal ports up"

OLD=$KVD_PID
kill -9 "$OLD"
# Start the new one at once, while the old one may still be dying.
"$BIN/kvnetd" --foreground --db "$T/kvnet.db" --socket "$KVNET_SOCKET" >>"$T/kvnetd.log" 2>&1 &
KVD_PID=$!
disown "$KVD_PID"
up() { "$BIN/kvnetctl" list-br >/dev/null 2>&1; }
for _ in $(seq 1 600); do
  up && break
  kill -0 "$KVD_PID" 2>/dev/null || fail "the new kvnetd exited (it must wait for the old one)"
  sleep 0.05
done
up || fail "the new kvnetd did not answer within 30 s"
kill -0 "$OLD" 2>/dev/null && fail "the new kvnetd answers while the old one (PID $OLD) still lives"
log "new kvnetd up after the old one died; it logged: $(grep -o "waiting for.*" "$T/kvnetd.log" | head -n 1 || echo "(no wait needed)")"

# Every port attached: none parked with an error.
errors=$(kctl show --format json | python3 -c '
import json, sys
d = json.load(sys.stdin)
bad = [p["name"] + ": " + p["error"] for b in d["bridges"] for p in b["ports"] if "error" in p]
print("\n".join(bad))')
[ -z "$errors" ] || { echo "$errors" | head; fail "ports not attached after the restart: $(echo "$errors" | wc -l)"; }
n=$(ip -o link show | awk -F': ' '{print $2}' | grep -c "^${P}i")
[ "$n" -eq "$N" ] || fail "$n of $N internal TAPs exist"
wait_for 60 "forwarding after the restart" pings ${P}a 10.79.0.2
log "PASS: all $N ports attached after kill -9 and an immediate restart"
