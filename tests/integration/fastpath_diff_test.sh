#!/usr/bin/env bash
# The fast path changes nothing but speed: the same randomized traffic
# (unicast between six containers, broadcast, unknown unicast, VLANs 10 and
# 20 with a trunk and a patch pair, a VXLAN tunnel whose vni_map carries both
# VLANs in their own VNIs, a filtered server with UDP conversations)
# with changes between the rounds (a MAC that moves, a port's VLAN, a rule
# deleted and added back, a port down and up, a kvnetd restart) is run once
# with the kernel fast path and once without it; every container must
# receive the same frames (by id, with the same VLAN tag, the same number of
# times) both ways. The fast path must have carried a good part of it.
#
# kvnetd runs in its own namespace ${P}h, the tunnel's underlay its loopback
# (127.0.0.1 <-> 127.0.0.2): br1's port t1 and br2's port t2 are two VTEPs;
# with the fast path, their kernel vxlan device is ${P}h's.
source "$(dirname "$0")/lib.sh" "$@"
[ "${KVNET_FAST_PATH:-}" = off ] && unset KVNET_FAST_PATH
PY="$SRC/tests/integration/fastpath_diff.py"
NAMES=(a b c d e f)
declare -A MAC=([a]=02:00:00:93:00:0a [b]=02:00:00:93:00:0b [c]=02:00:00:93:00:0c [d]=02:00:00:93:00:0d [e]=02:00:00:93:00:0e
  [f]=02:00:00:93:00:0f)
declare -A IP=([a]=10.93.0.1 [b]=10.93.0.2 [c]=10.93.0.3 [d]=10.93.0.4 [e]=10.93.0.5 [f]=10.93.0.6)
H=${P}h
ROUNDS=8
rule_add() { kctl sg rule-add "$@" | sed -n 's/^rule \([0-9]*\):.*/\1/p'; }

# The plans: the same frames in both runs (seeded), per round and sender.
python3 - "$T/plans" "$ROUNDS" <<'PY'
import json, os, random, sys
out, rounds = sys.argv[1], int(sys.argv[2])
os.makedirs(out)
mac = {n: "02:00:00:93:00:0" + n for n in "abcdef"}
fake = {n: "10.93.1.%d" % (i + 1) for i, n in enumerate("abcdef")}
rng = random.Random(20261207)
fid = 0
# Round 0: one broadcast from each, so that every bridge knows every station
# before the random traffic starts.
for s in "abcdef":
    fid += 1
    json.dump([dict(dst="ff:ff:ff:ff:ff:ff", src=mac[s], vlan=10 if s == "d" else 0, src_ip=fake[s],
                    dst_ip="10.93.1.255", sport=5000, dport=5000, id=fid)], open("%s/r0-%s.json" % (out, s), "w"))
for r in range(1, rounds + 1):
    for s in "abcdef":
        frames = []
        if r == 2 and s == "d":  # a's MAC moves to d's port (VLAN 10), then back when a sends
            for _ in range(3):
                fid += 1
                frames.append(dict(dst=mac["b"], src=mac["a"], vlan=10, src_ip=fake["a"], dst_ip=fake["b"], sport=5009, dport=5009, id=fid))
        for _ in range(40):
            fid += 1
            if s == "b":  # the server answers conversations: from 7000 to a client's port
                d = rng.choice("acdef")
                frames.append(dict(dst=mac[d], src=mac["b"], vlan=0, src_ip="10.93.0.2", dst_ip=fake[d],
                                   sport=7000, dport=rng.choice([5001, 5002]), id=fid))
                continue
            d = rng.choice(["a", "b", "b", "c", "d", "e", "f", "f", "bcast", "unknown"])
            dst = {"bcast": "ff:ff:ff:ff:ff:ff", "unknown": "02:00:00:93:00:99"}.get(d, mac.get(d))
            to_b = d == "b"
            frames.append(dict(dst=dst, src=mac[s], vlan=rng.choice([10, 20]) if s == "d" else 0,
                               src_ip=fake[s], dst_ip="10.93.0.2" if to_b else fake.get(d, "10.93.1.99"),
                               sport=rng.choice([5001, 5002]), dport=7000 if to_b else rng.choice([6001, 6002]), id=fid))
        json.dump(frames, open("%s/r%d-%s.json" % (out, r, s), "w"))
PY

RECV_PIDS=()
run() {  # MODE: on | off
  local mode=$1 dir=$T/$1
  mkdir -p "$dir"
  rm -f "$T/kvnet.db" "$T/kvnet.db-wal" "$T/kvnet.db-shm"
  ip netns add $H
  ip -n $H link set lo up
  if [ "$mode" = off ]; then KVNET_FAST_PATH=off kvd_start $H; else kvd_start $H; fi
  kctl add-br br0 mac_aging=3600 >/dev/null
  kctl add-br br1 mac_aging=3600 >/dev/null
  kctl add-br br2 mac_aging=3600 >/dev/null
  kctl sg add srv >/dev/null
  RID=$(rule_add srv ingress protocol=udp port=7000)
  kctl ct add ${P}a --bridge br0 --ip ${IP[a]}/24 --mac ${MAC[a]} vlan_mode=access pvid=10 >/dev/null
  kctl ct add ${P}b --bridge br0 --ip ${IP[b]}/24 --mac ${MAC[b]} --sg srv vlan_mode=access pvid=10 >/dev/null
  kctl ct add ${P}c --bridge br0 --ip ${IP[c]}/24 --mac ${MAC[c]} vlan_mode=access pvid=20 >/dev/null
  kctl ct add ${P}d --bridge br0 --ip ${IP[d]}/24 --mac ${MAC[d]} vlan_mode=trunk pvid=10 allowed=10,20 >/dev/null
  kctl ct add ${P}e --bridge br1 --ip ${IP[e]}/24 --mac ${MAC[e]} vlan_mode=access pvid=10 >/dev/null
  kctl ct add ${P}f --bridge br2 --ip ${IP[f]}/24 --mac ${MAC[f]} vlan_mode=access pvid=10 >/dev/null
  local map=vni_map=10:9310,20:9320
  kctl add-port br1 t1 type=vxlan local_ip=127.0.0.1 remote_ip=127.0.0.2 $map vlan_mode=trunk allowed=10,20 >/dev/null
  kctl add-port br2 t2 type=vxlan local_ip=127.0.0.2 remote_ip=127.0.0.1 $map vlan_mode=trunk allowed=10,20 >/dev/null
  kctl add-port br0 ${P}p0 type=patch peer=br1/${P}p1 vlan_mode=trunk allowed=10,20 >/dev/null
  kctl add-port br1 ${P}p1 type=patch peer=br0/${P}p0 vlan_mode=trunk allowed=10,20 >/dev/null
  # Only the test's frames: the containers' own stacks would send IPv6
  # router solicitations and listener reports when they please, and each
  # one (re)teaches the bridges a MAC's place at its own time. What they
  # sent already is forgotten; round 0 then teaches every station.
  for n in "${NAMES[@]}"; do
    ip netns exec ${P}$n sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 \
      net.ipv6.conf.eth0.disable_ipv6=1
  done
  sleep 1
  kctl fdb-flush br0 >/dev/null
  kctl fdb-flush br1 >/dev/null
  kctl fdb-flush br2 >/dev/null
  RECV_PIDS=()
  for n in "${NAMES[@]}"; do
    ip netns exec ${P}$n python3 "$PY" recv eth0 "$dir/$n.txt" $([ $n = b ] && echo 7000) >"$dir/$n.ready" 2>&1 &
    RECV_PIDS+=($!)
    HOST_PIDS+=($!)
  done
  for n in "${NAMES[@]}"; do wait_for 10 "receiver in $n" grep -q ready "$dir/$n.ready"; done
  for r in $(seq 0 $ROUNDS); do
    case $r in
      3) kctl set port ct-${P}c pvid=10 >/dev/null ;;
      4) kctl sg rule-del srv "$RID" >/dev/null ;;
      5) RID=$(rule_add srv ingress protocol=udp port=7000) ;;
      6) ip -n $H link set ct-${P}e down; sleep 1.2 ;;
      7) ip -n $H link set ct-${P}e up; sleep 1.2 ;;
      8) if [ "$mode" = on ]; then kvd_stop; kvd_start $H; else kvd_stop; KVNET_FAST_PATH=off kvd_start $H; fi ;;
    esac
    for n in "${NAMES[@]}"; do
      ip netns exec ${P}$n python3 "$PY" send eth0 "$T/plans/r$r-$n.json" || fail "round $r: $n could not send"
    done
    sleep 0.5  # the last frames reach their receivers
    # (what the fast path carried before the restart of round 8)
    if [ "$mode" = on ] && [ "$r" = 7 ]; then
      kctl fastpath show --format json >"$dir/fastpath.json"
      kctl fastpath dump --format json >"$dir/dump.json"
    fi
  done
  kill -TERM "${RECV_PIDS[@]}"
  for p in "${RECV_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "$mode" = on ]; then  # the tunnel went through the kernel device, and the fast path carried some of it
    grep -q "kernel device kvnet-vx4789" <(kctl show) || { kctl show; fail "the VTEPs are not the kernel vxlan device"; }
  fi
  kvd_stop
  for n in "${NAMES[@]}"; do ip netns del ${P}$n 2>/dev/null || true; done
  ip netns del $H
}

run on
run off
total=0
for n in "${NAMES[@]}"; do
  sort "$T/on/$n.txt" >"$T/on/$n.sorted"
  sort "$T/off/$n.txt" >"$T/off/$n.sorted"
  total=$((total + $(wc -l <"$T/off/$n.sorted")))
  if ! cmp -s "$T/on/$n.sorted" "$T/off/$n.sorted"; then
    # Each difference with the frame as the plan has it.
    python3 - "$T" "$n" <<'PY' || true
import collections, glob, json, os, sys
t, n = sys.argv[1], sys.argv[2]
plan = {}
for f in glob.glob(t + "/plans/*.json"):
    r, s = os.path.basename(f)[:-5].split("-")
    for x in json.load(open(f)):
        plan[x["id"]] = (r, s, x)
on = collections.Counter(open("%s/on/%s.txt" % (t, n)).read().split("\n"))
off = collections.Counter(open("%s/off/%s.txt" % (t, n)).read().split("\n"))
for line in sorted(set(on) | set(off)):
    if line and on[line] != off[line]:
        i = int(line.split()[0])
        print("id %s (vlan %s): %d times with the fast path, %d without; %s" % (i, line.split()[1], on[line], off[line], plan.get(i)))
PY
    fail "$n received different frames with the fast path"
  fi
done
[ "$total" -gt 500 ] || fail "only $total frames were received in all: the traffic did not flow"
hits=$(field 'd["hits"]' <"$T/on/fastpath.json")
installs=$(field 'd["installs"]' <"$T/on/fastpath.json")
[ "$hits" -gt 100 ] || { cat "$T/on/fastpath.json"; fail "the fast path carried only $hits frames: the comparison proves little"; }
tun=$(python3 -c '
import json, sys
es = json.load(open(sys.argv[1]))["entries"]
print(sum(1 for e in es if e["tunnel_in"]), sum(1 for e in es if e["tunnel_out"]))' "$T/on/dump.json")
read -r tun_in tun_out <<<"$tun"
[ "$tun_in" -gt 0 ] && [ "$tun_out" -gt 0 ] ||
  { python3 -c 'import json,sys; [print(e["line"]) for e in json.load(open(sys.argv[1]))["entries"]]' "$T/on/dump.json";
    fail "no fast-path entry through the tunnel ($tun_in decapsulating, $tun_out encapsulating)"; }
log "$total frames received, the same with and without the fast path ($hits carried in the kernel in rounds 1-7, $installs entries installed; in round 7 $tun_in entries from the tunnel, $tun_out into it)"
log "PASS"
