#!/usr/bin/env bash
# A cluster of three hosts on a real three-member etcd, each host and each
# etcd member a network namespace on one underlay bridge (10.97.0.0/24), each
# host's kvnetd started as users start one (ip netns exec HOST kvnetd
# --cluster A,B,C --host NAME --underlay-ip IP).
# Checks:
# 1. etcd's leader killed with -9: a change from the host that talked to it
#    goes through again within 10 s (the gap is logged); nothing written
#    before is lost (every host's `network list`, the store itself); every
#    host is up after the election; a container added afterwards on one host
#    is programmed on the others (and pings); the killed member, started
#    again on its data, rejoins and catches up.
# 2. A host cut off from etcd while the others change the store (a container
#    deleted, one added, a network and a container on it added) and etcd
#    compacts past the revision the host had applied: once back, it reads
#    everything again (store.resyncs, its log), its static entries are the
#    store's (the new station in, the deleted one out), and it is up again.
# 3. A host's kvnetd killed while another host deletes a container (its
#    binding goes) and adds one: started again on its database, it has no
#    entry of the deleted station (vx-cluster's stations come from the store,
#    never from the database), has the new one, and its own containers'
#    bindings are in the store.
# KVNET_KEEP_LOGS=DIR keeps the etcd and kvnetd logs there (they are in $T,
# which goes at the end).
source "$(dirname "$0")/lib.sh" "$@"
command -v etcd >/dev/null || fail "etcd is not installed (./run installs etcd-server)"

TTL=3
NET=10.97.0
E1=http://$NET.101:2379
E2=http://$NET.102:2379
E3=http://$NET.103:2379
EPS=$E1,$E2,$E3
INITIAL=e1=http://$NET.101:2380,e2=http://$NET.102:2380,e3=http://$NET.103:2380
declare -A EPID  # etcd member number -> its pid
declare -A PIDS  # host -> its kvnetd's pid
failover_cleanup() {
  for p in "${EPID[@]}"; do kill -9 "$p" 2>/dev/null; done
  if [ -n "${KVNET_KEEP_LOGS:-}" ]; then mkdir -p "$KVNET_KEEP_LOGS" && cp "$T"/*.log "$KVNET_KEEP_LOGS"/ 2>/dev/null; fi
  # $rc: lib.sh's cleanup's exit status (this runs inside it).
  if [ "${rc:-0}" != 0 ]; then
    for f in "$T"/h?.log; do [ -f "$f" ] && { echo "--- $(basename "$f") (last 25 lines)"; tail -n 25 "$f"; }; done
  fi
  return 0
}
EXTRA_CLEANUP=failover_cleanup

# The underlay: a Linux bridge in ${P}ul (the operator's etcdctl there at
# .254), a veth from it to each host (.1-.3) and to each etcd member (.101-.103).
underlay_bridge
ip -n ${P}ul addr add $NET.254/24 dev br0
for n in h1 h2 h3; do underlay_join $n $NET.${n#h}/24; done
for n in e1 e2 e3; do underlay_join $n $NET.10${n#e}/24; done
ETCDCTL="ip netns exec ${P}ul etcdctl --endpoints $EPS"
ectl() { ip netns exec ${P}ul etcdctl "$@"; }

etcd_start() {  # N new|existing: member eN in namespace ${P}eN, its data in $T/eN
  local n=$1 ip=$NET.10$1
  ip netns exec ${P}e$n etcd --name e$n --data-dir "$T/e$n" \
    --listen-client-urls http://$ip:2379 --advertise-client-urls http://$ip:2379 \
    --listen-peer-urls http://$ip:2380 --initial-advertise-peer-urls http://$ip:2380 \
    --initial-cluster $INITIAL --initial-cluster-state $2 --initial-cluster-token ${P}-etcd >>"$T/e$n.log" 2>&1 &
  EPID[$n]=$!
  disown $!
}
for n in 1 2 3; do etcd_start $n new; done
wait_for 30 "the three etcd members are healthy" $ETCDCTL endpoint health
# The members' own view: "N LEADER-N" per member, N for e1..e3.
leaders() {  # of the members running (a dead one would cost etcdctl's timeout)
  local eps="" n
  for n in 1 2 3; do [ -n "${EPID[$n]}" ] && eps=$eps${eps:+,}http://$NET.10$n:2379; done
  ectl --endpoints $eps endpoint status -w json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
ids = {e["Status"]["header"]["member_id"]: e["Endpoint"][-6] for e in d}
for e in d: print(e["Endpoint"][-6], ids.get(e["Status"]["leader"], "?"))'
}
leader() {  # the member every answering member names as leader
  local l
  l=$(leaders | awk '{print $2}' | sort -u)
  [ "$(echo "$l" | wc -l)" = 1 ] && [ "$l" != "?" ] && [ -n "$l" ] && echo "$l"
}
wait_for 20 "etcd elected a leader" leader
store_rev() { $ETCDCTL get /kvnet/ --prefix --keys-only --limit 1 -w json | field "d['header']['revision']"; }
# What the store holds under /kvnet/ but the hosts' own records (under a
# lease, or refreshed with a time): KEY=VALUE, sorted.
store_dump() {
  $ETCDCTL get --prefix /kvnet/ -w json | python3 -c '
import base64, json, sys
for kv in json.load(sys.stdin).get("kvs", []):
    k = base64.b64decode(kv["key"]).decode()
    if not k.startswith(("/kvnet/hosts/", "/kvnet/members/")):
        print(k + "=" + base64.b64decode(kv.get("value", "")).decode())' | sort
}

# Each host names the members in another order: whichever member leads,
# one host's first (and current) member is the leader.
start_host() {  # N: kvnetd for host hN in namespace ${P}hN, as users start it
  local n=h$1 eps
  case $1 in 1) eps=$E1,$E2,$E3 ;; 2) eps=$E2,$E3,$E1 ;; 3) eps=$E3,$E1,$E2 ;; esac
  ip netns exec ${P}$n "$BIN/kvnetd" --foreground --db "$T/$n.db" --socket "$T/$n.sock" \
    --cluster $eps --host $n --underlay-ip $NET.$1 --cluster-ttl $TTL >>"$T/$n.log" 2>&1 &
  PIDS[$n]=$!
  HOST_PIDS+=($!)
  disown $!
  wait_for 10 "kvnetd on $n answers" hctl $n list-br
}
for n in 1 2 3; do start_host $n; done
host_state() {  # ON HOST: up/down/absent as ON sees HOST
  hctl $1 --format json cluster hosts | field "next((h['state'] for h in d if h['name']=='$2'), 'absent')"
}
all_up() { for h in h1 h2 h3; do [ "$(host_state $1 $h)" = up ] || return 1; done; }
every_host_sees_all_up() { for n in h1 h2 h3; do all_up $n || return 1; done; }
wait_for 15 "every host sees every host up" every_host_sees_all_up
status_field() { hctl $1 --format json cluster status | field "$2"; }  # ON PYTHON-EXPR of the JSON as d
ct_mac() { hctl $1 --format json ct list | field "[c['mac'] for c in d if c['name']=='${P}$2'][0]"; }
ct_ip() { hctl $1 --format json ct list | field "[c['ip'].split('/')[0] for c in d if c['name']=='${P}$2'][0]"; }
# station ON MAC REMOTE: ON's br-int has MAC as a static entry of vx-cluster towards REMOTE.
station() {
  hctl $1 --format json fdb-show br-int |
    field "any(e['mac']=='$2' and e['port']=='vx-cluster' and e['static'] and e.get('remote')=='$3' for e in d)" | grep -qx True
}
# no_station ON MAC: ON's br-int has no entry of vx-cluster for MAC.
no_station() {
  hctl $1 --format json fdb-show br-int | field "not any(e['mac']=='$2' and e['port']=='vx-cluster' for e in d)" | grep -qx True
}
fdb() { hctl $1 fdb-show br-int; }
ct_add() {  # HOST NAME NETWORK
  hctl $1 ct add ${P}$2 --network $3 >"$T/out" 2>&1 || { cat "$T/out"; fail "ct add $2 --network $3 on $1"; }
}
# reach CONTAINER ADDR DESCRIPTION: one ping answered within 10 s (the other
# host may still be programming the new station), then every ping of three.
reach() {
  wait_for 10 "$3 (a first answer)" pings ${P}$1 $2 1
  pings ${P}$1 $2 || fail "$3"
}
ct_del() { hctl $1 ct del ${P}$2 >"$T/out" 2>&1 || { cat "$T/out"; fail "ct del $2 on $1"; }; }
log "three etcd members (leader e$(leader)), three hosts joined"

# --- before: networks and containers on every host ----------------------------------------
hctl h1 network add fa --vni 101 --subnet 10.1.0.0/24 >/dev/null || fail "network add fa"
hctl h2 network add fb --vni 102 --subnet 10.2.0.0/24 >/dev/null || fail "network add fb"
ct_add h1 a1 fa
ct_add h2 a2 fa
ct_add h3 a3 fa
ct_add h1 b1 fb
ct_add h2 b2 fb
A1=$(ct_mac h1 a1) A2=$(ct_mac h2 a2) A3=$(ct_mac h3 a3) B1=$(ct_mac h1 b1)
reach a1 "$(ct_ip h2 a2)" "a1 (h1) -> a2 (h2)"
reach a1 "$(ct_ip h3 a3)" "a1 (h1) -> a3 (h3)"
station h2 "$B1" $NET.1 || { fdb h2; fail "h2 has no static entry for b1"; }

# --- 1. etcd's leader killed -------------------------------------------------------------
L=$(leader) || fail "no leader"
W=h$L  # the host whose current member is the leader
[ "$(status_field $W "d['member']['endpoint']")" = "http://$NET.10$L:2379" ] || fail "$W does not talk to e$L first"
store_dump >"$T/before"
for n in h1 h2 h3; do hctl $n network list >"$T/nets-$n"; done
declare -A LEASE
for n in h1 h2 h3; do LEASE[$n]=$(status_field $n "d['host']['lease']"); done
down_before=$(cat "$T"/h?.log | grep -c "is down (its lease is gone)" || true)
kill -9 ${EPID[$L]}
t0=$(date +%s.%N)
EPID[$L]=""
ok="" tries=0
while [ "$(echo "$(date +%s.%N) - $t0 <= 15" | bc)" = 1 ]; do
  tries=$((tries + 1))
  if hctl $W network add fo --vni 103 --subnet 10.3.0.0/24 >"$T/fo" 2>&1; then ok=1; break; fi
  # The answer of an attempt that etcd carried out may have been lost with the leader.
  grep -q "network 'fo' already exists (VNI 103)" "$T/fo" && { ok=1; log "(an earlier attempt had gone through)"; break; }
  sleep 0.2
done
gap=$(echo "$(date +%s.%N) - $t0" | bc)
[ -n "$ok" ] || { cat "$T/fo"; fail "network add on $W still fails $gap s after etcd's leader e$L was killed"; }
[ "$(echo "$gap <= 10" | bc)" = 1 ] || fail "network add on $W went through only $gap s after the leader was killed (> 10 s)"
wait_for 15 "a new leader" leader
L2=$(leader)
[ "$L2" != "$L" ] || fail "the killed member e$L still leads"
log "leader e$L killed: network add on $W went through after $(printf '%.2f' "$gap") s ($tries attempt(s)); e$L2 leads"
# Nothing lost: every record written before is in the store, and every host lists every network.
store_dump >"$T/after"
comm -23 "$T/before" "$T/after" >"$T/lost"
[ ! -s "$T/lost" ] || { cat "$T/lost"; fail "records lost with etcd's leader"; }
grep -q "^/kvnet/networks/fo=" "$T/after" || fail "the store lacks fo"
for n in h1 h2 h3; do
  hctl $n network list >"$T/out" 2>"$T/err" || { cat "$T/out" "$T/err"; fail "network list on $n after the failover"; }
  [ ! -s "$T/err" ] || { cat "$T/err"; fail "network list on $n after the failover is not the store's"; }
  for net in fa fb fo; do grep -q "^$net " "$T/out" || { cat "$T/out"; fail "$n does not list $net after the failover"; }; done
  grep -v "^fo " "$T/out" | diff - "$T/nets-$n" >/dev/null || { diff "$T/nets-$n" "$T/out"; fail "$n's networks changed"; }
done
# Hosts stay up.
wait_for 10 "every host sees every host up after the election" every_host_sees_all_up
for n in h1 h2 h3; do
  wait_for 10 "$n is joined after the election" bash -c "KVNET_SOCKET=$T/$n.sock $BIN/kvnetctl --format json cluster status | grep -q '\"joined\": true'"
done
[ "$($ETCDCTL get --prefix /kvnet/hosts/ --keys-only | grep -c .)" = 3 ] || fail "the store does not hold three hosts"
kept=0
for n in h1 h2 h3; do [ "$(status_field $n "d['host']['lease']")" = "${LEASE[$n]}" ] && kept=$((kept + 1)); done
down_after=$(cat "$T"/h?.log | grep -c "is down (its lease is gone)" || true)
log "every host up after the election ($kept of 3 leases kept, $((down_after - down_before)) host-down event(s) seen meanwhile)"
# A container added now on one host is programmed on the others; W's watch was on the leader.
X=h$((L % 3 + 1))
ct_add $X f1 fa
F1=$(ct_mac $X f1)
for n in h1 h2 h3; do
  [ $n = $X ] && continue
  wait_for 10 "$n has $X's new station f1" station $n "$F1" $NET.${X#h}
done
reach a$L "$(ct_ip $X f1)" "a$L ($W) -> f1 ($X) after the failover"
# The killed member comes back on its data and catches up.
etcd_start $L existing
EL=http://$NET.10$L:2379
wait_for 20 "e$L is healthy again" ectl --endpoints $EL endpoint health
same_revision() {
  [ "$($ETCDCTL endpoint status -w json | field "len(d) == 3 and len({e['Status']['header']['revision'] for e in d}) == 1")" = True ]
}
wait_for 20 "e$L caught up with the others' revision" same_revision
[ "$(ectl --endpoints $EL member list -w json | field "sum(1 for m in d['members'] if m.get('clientURLs'))")" = 3 ] ||
  fail "e$L does not list three started members"
ectl --endpoints $EL get /kvnet/networks/fo --consistency=s --print-value-only | grep -q '"vni":103' ||
  fail "e$L's own copy lacks fo"
ectl --endpoints $EL put /kvnet-probe x >/dev/null && ectl --endpoints $EL del /kvnet-probe >/dev/null || fail "e$L takes no writes"
leader >/dev/null || fail "the members disagree on the leader after e$L rejoined"
log "e$L started again on its data: healthy, caught up, takes writes"

# --- 2. compaction while h3 is cut off from etcd ---------------------------------------------
resyncs0=$(status_field h3 "d['store']['resyncs']")
rev3=$(status_field h3 "d['applied_revision']")
ip -n ${P}h3 link set eth1 down
wait_for $((TTL + 5)) "h1 sees h3 down (its lease expired)" bash -c "KVNET_SOCKET=$T/h1.sock $BIN/kvnetctl cluster hosts | grep -q '^h3 .*down '"
[ "$(status_field h3 "d['reachable']")" = False ] || fail "h3 still reaches etcd with its underlay down"
ct_del h1 a1
ct_add h1 a4 fa
A4=$(ct_mac h1 a4)
hctl h2 network add fc --vni 104 --subnet 10.4.0.0/24 >/dev/null || fail "network add fc"
ct_add h2 c2 fc
C2=$(ct_mac h2 c2)
REV=$(store_rev)
[ $((rev3 + 1)) -lt "$REV" ] || fail "nothing changed while h3 was away ($rev3 -> $REV)"
$ETCDCTL compact "$REV" --physical >/dev/null || fail "etcdctl compact $REV"
$ETCDCTL defrag >/dev/null || fail "etcdctl defrag"
ip -n ${P}h3 link set eth1 up
wait_for 20 "h3 reads everything again" bash -c "[ \$(KVNET_SOCKET=$T/h3.sock $BIN/kvnetctl --format json cluster status |
  python3 -c 'import json,sys; print(json.load(sys.stdin)[\"store\"][\"resyncs\"])') -gt $resyncs0 ]"
# The revision its watch resumed from: after what h3 had applied (a host's
# registration refresh may have come meanwhile), before the compaction.
resumed=$(grep -o "cluster: the watch's revision [0-9]* is compacted: reading everything again" "$T/h3.log" | tail -n 1 | awk '{print $5}' || true)
[ -n "$resumed" ] && [ "$resumed" -gt "$rev3" ] && [ "$resumed" -lt "$REV" ] ||
  { grep "cluster:" "$T/h3.log" | tail; fail "h3's log does not say a revision in $((rev3 + 1))..$((REV - 1)) was compacted"; }
wait_for 10 "h3 applied the store's revision $REV" bash -c "[ \$(KVNET_SOCKET=$T/h3.sock $BIN/kvnetctl --format json cluster status |
  python3 -c 'import json,sys; print(json.load(sys.stdin)[\"applied_revision\"])') -ge $REV ]"
station h3 "$A4" $NET.1 || { fdb h3; fail "h3 lacks a4 (added on h1 while h3 was away)"; }
no_station h3 "$A1" || { fdb h3; fail "h3 still has a1 (deleted on h1 while h3 was away)"; }
station h3 "$A2" $NET.2 || { fdb h3; fail "h3 lost a2"; }
wait_for 15 "every host sees h3 up again" every_host_sees_all_up
wait_for 10 "h1 has h3's station a3 again" station h1 "$A3" $NET.3
# From the new container: a4 may have a1's address, which a3's ARP cache still
# gives a1's MAC for a while (Linux's neighbour timers, nothing of kvnet's).
reach a4 "$(ct_ip h3 a3)" "a4 (h1) -> a3 (h3) after h3 came back"
# What h3 read again is what a new container on fc is programmed from at once.
ct_add h3 c3 fc
station h3 "$C2" $NET.2 || { fdb h3; fail "h3's new c3 on fc has no static entry for c2 (h2)"; }
reach c3 "$(ct_ip h2 c2)" "c3 (h3) -> c2 (h2) on fc"
log "h3 cut off while etcd compacted past its revision $((resumed - 1)) (to $REV): read everything again, a1 out, a4 in, up again"

# --- 3. a host restarted after a binding went elsewhere ---------------------------------------
station h2 "$B1" $NET.1 || { fdb h2; fail "h2 has no static entry for b1"; }
kill -9 ${PIDS[h2]}
wait_for 5 "h2's kvnetd is gone" gone ${PIDS[h2]}
ct_del h1 b1
ct_add h1 b4 fb
B4=$(ct_mac h1 b4)
[ -z "$($ETCDCTL get --prefix /kvnet/bindings/fb/h1/ct-${P}b1 --keys-only)" ] || fail "b1's binding stayed"
REV=$(store_rev)
start_host 2
wait_for 10 "h2 applied the store's revision $REV" bash -c "[ \$(KVNET_SOCKET=$T/h2.sock $BIN/kvnetctl --format json cluster status |
  python3 -c 'import json,sys; print(json.load(sys.stdin)[\"applied_revision\"])') -ge $REV ]"
no_station h2 "$B1" || { fdb h2; fail "h2 has an entry of b1, deleted on h1 while h2 was stopped"; }
station h2 "$B4" $NET.1 || { fdb h2; fail "h2 lacks b4, added on h1 while h2 was stopped"; }
station h2 "$A3" $NET.3 || { fdb h2; fail "h2 lacks a3 after its restart"; }
for c in a2:fa c2:fc b2:fb; do
  $ETCDCTL get /kvnet/bindings/${c#*:}/h2/ct-${P}${c%:*} --print-value-only | grep -q '"host":"h2"' ||
    fail "h2's ${c%:*}: no binding in the store after h2's restart"
done
reach b4 "$(ct_ip h2 b2)" "b4 (h1) -> b2 (h2) after h2's restart"
wait_for 15 "every host sees every host up at the end" every_host_sees_all_up
for n in h1 h2 h3; do alive ${PIDS[$n]} || fail "$n's kvnetd died"; done
log "h2 restarted: b1 (deleted meanwhile) out of its table, b4 in, its own bindings in the store"
log "PASS"
