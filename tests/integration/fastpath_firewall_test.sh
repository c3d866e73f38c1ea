#!/usr/bin/env bash
# The kernel fast path with security groups (docs/architecture.md, "The
# kernel fast path"): an established connection between two filtered
# containers is forwarded in the kernel by an entry keyed on its 5-tuple;
# its use keeps the connection alive in the firewall's table; a new
# connection is never cached; a removed rule stops a fast-pathed transfer at
# once (its last packet reaches the server within 100 ms of rule-del's
# return).
source "$(dirname "$0")/lib.sh" "$@"
[ "${KVNET_FAST_PATH:-}" = off ] && { log "KVNET_FAST_PATH=off: this test is about the fast path; it runs with it on"; unset KVNET_FAST_PATH; }
kvd_start
show() { kctl fastpath show --format json "$@"; }
[ "$(show | field 'd["enabled"]')" = True ] || fail "the fast path is not on"
# The daemonized server outlives its namespace when rule-del cuts its
# transfer: the cleanup ends it by its pid file.
EXTRA_CLEANUP='[ -f "$T/iperf3.pid" ] && kill "$(cat "$T/iperf3.pid")" 2>/dev/null'
rule_add() { kctl sg rule-add "$@" | sed -n 's/^rule \([0-9]*\):.*/\1/p'; }

kctl add-br br0 >/dev/null
kctl sg add srv >/dev/null
kctl sg add cli >/dev/null
RT=$(rule_add srv ingress protocol=tcp port=5301)
rule_add srv ingress protocol=icmp >/dev/null
[ -n "$RT" ] || fail "rule-add printed no rule id"
kctl ct add ${P}a --bridge br0 --ip 10.92.0.1/24 --sg cli >/dev/null
kctl ct add ${P}b --bridge br0 --ip 10.92.0.2/24 --sg srv >/dev/null
pings ${P}a 10.92.0.2 5 || fail "a cannot ping b through its group"
no_ping ${P}b 10.92.0.1 || fail "b reaches a, whose group has no ingress rule"

ip netns exec ${P}b iperf3 -s -1 -D -p 5301 -I "$T/iperf3.pid" >/dev/null 2>&1
wait_for 5 "iperf3 listens" ip netns exec ${P}b bash -c 'ss -ltn | grep -q :5301'
hits0=$(show | field 'd["hits"]')
ip netns exec ${P}a iperf3 -c 10.92.0.2 -p 5301 -t 2 -J >"$T/iperf.json" || fail "iperf3 a -> b failed"
sent=$(field 'd["end"]["sum_sent"]["bytes"]' <"$T/iperf.json")
hits=$(( $(show | field 'd["hits"]') - hits0 ))
[ "$hits" -gt 1000 ] || { show; kctl fastpath dump; fail "only $hits frames forwarded in the kernel for a filtered TCP stream"; }
log "filtered iperf3: $((sent / 1000000)) MB, $hits frames in the kernel"
# The connection's table saw the kernel's packets (they keep it alive).
kctl conntrack list --bridge br0 --format json >"$T/ct.json"
python3 - "$T/ct.json" <<'PY' || fail "the connection's packet counter did not take in the kernel's packets"
import json, sys
conns = json.load(open(sys.argv[1]))
best = max((c["packets"][0] for c in conns if "dport=5301" in c["line"]), default=0)
sys.exit(0 if best > 1000 else 1)
PY
log "the firewall's connection counts what the kernel carried"

# A new connection is never cached: a SYN to a denied port stays refused.
ip netns exec ${P}a timeout 3 bash -c 'exec 3<>/dev/tcp/10.92.0.2/5399' 2>/dev/null && fail "a port without a rule answered"

# rule-del under a running transfer: the last packet reaches b within 100 ms.
ip netns exec ${P}b iperf3 -s -1 -D -p 5301 -I "$T/iperf3.pid" >/dev/null 2>&1
wait_for 5 "iperf3 listens again" ip netns exec ${P}b bash -c 'ss -ltn | grep -q :5301'
ip netns exec ${P}b tcpdump -i eth0 -nn -tt --time-stamp-precision=micro -l -B 8192 \
  "tcp and src host 10.92.0.1 and dst port 5301 and greater 200" >"$T/cap.txt" 2>"$T/cap.err" &
CAP=$!
HOST_PIDS+=("$CAP")
wait_for 10 "tcpdump listens" grep -q "listening on" "$T/cap.err"
ip netns exec ${P}a iperf3 -c 10.92.0.2 -p 5301 -t 8 -J >"$T/iperf2.json" 2>&1 &
IPF=$!
HOST_PIDS+=("$IPF")
wait_for 5 "the transfer runs in the kernel" bash -c "[ \$($BIN/kvnetctl fastpath show --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"hits\"])') -gt $((hits0 + hits + 2000)) ]"
dump=$(kctl fastpath dump)
echo "$dump" | grep -Eq "in_port\(br0/ct-${P}a\).*ipv4\(src=10.92.0.1,dst=10.92.0.2,proto=6\),tcp\(src=[0-9]+,dst=5301\)" ||
  { echo "$dump"; fail "no 5-tuple entry a -> b:5301 during the transfer"; }
kctl sg rule-del srv "$RT" >/dev/null
t_del=$(date +%s.%N)
sleep 1
kill "$CAP" 2>/dev/null
wait "$CAP" 2>/dev/null || true
last=$(awk '$1 ~ /^[0-9]+\.[0-9]+$/ {t=$1} END {print t}' "$T/cap.txt")
[ -n "$last" ] || { head -3 "$T/cap.txt"; fail "no timestamped packet in the capture"; }
n=$(wc -l <"$T/cap.txt")
[ "$n" -gt 100 ] || fail "tcpdump saw only $n data packets before the rule went"
late=$(python3 -c "print(round(($last - $t_del) * 1000, 1))")
python3 -c "import sys; sys.exit(0 if $last - $t_del <= 0.1 else 1)" ||
  fail "data still reached b ${late} ms after rule-del returned (bound: 100 ms)"
log "rule-del: the last data packet reached b ${late} ms after rule-del returned ($n before)"
kill "$IPF" 2>/dev/null || true
log "PASS"
