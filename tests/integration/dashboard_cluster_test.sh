#!/usr/bin/env bash
# The dashboard of a kvnetd in a cluster: two hosts (network namespaces on an
# underlay bridge, each kvnetd started with `ip netns exec HOST kvnetd
# --cluster URL ...`) on a real etcd of the test's own (a namespace on that
# underlay), dash-a with --http on its own 127.0.0.1, network blue with a
# container on each host.
# Over HTTP (curl in dash-a's namespace): cluster-status, cluster-hosts and
# network-list are served (GET only), draw's `cluster` flag is a boolean and
# the whole cluster's SVG names both hosts. Then in headless Chromium
# (dashboard_cluster_browser.py): the Cluster section lists both hosts up,
# the network and the store; the picture's "whole cluster" view draws both
# hosts, their ports and the tunnel between them; a network and a container
# added meanwhile show up without a reload; a host killed is shown down, in
# the table and on the picture; a screenshot ($T/dashboard-cluster.png,
# copied to build/dashboard-cluster.png). The standalone page (no cluster
# section) is dashboard_test.sh's.
source "$(dirname "$0")/lib.sh" "$@"
command -v etcd >/dev/null || fail "etcd is not installed (./run installs etcd-server)"
command -v curl >/dev/null || fail "curl is needed"
CHROMIUM=${KVNET_CHROMIUM:-chromium}
command -v "$CHROMIUM" >/dev/null || fail "chromium is needed (Debian's chromium package)"

TTL=3
STORE=10.97.0.100
URL=http://$STORE:2379
ETCD_PID=""
EXTRA_CLEANUP='[ -n "$ETCD_PID" ] && kill -9 $ETCD_PID 2>/dev/null'

underlay_bridge
underlay_join a 10.97.0.1/24
underlay_join b 10.97.0.2/24
underlay_join st $STORE/24

etcd_single $STORE

declare -A PIDS
# start_host X [ARGS...]: kvnetd for host dash-X in namespace ${P}X
# ($T/X.sock; dash-a logs to $T/kvnetd.log, which fail() shows).
start_host() {
  local x=$1 log="$T/$1.log"
  shift
  [ "$x" = a ] && log="$T/kvnetd.log"
  ip netns exec ${P}$x "$BIN/kvnetd" --foreground --db "$T/$x.db" --socket "$T/$x.sock" \
    --cluster $URL --host dash-$x --underlay-ip 10.97.0.$([ "$x" = a ] && echo 1 || echo 2) --cluster-ttl $TTL \
    "$@" >>"$log" 2>&1 &
  PIDS[$x]=$!
  HOST_PIDS+=($!)
  disown $!
  wait_for 10 "kvnetd on dash-$x answers" hctl $x list-br
}
start_host a --http 127.0.0.1:0
start_host b
wait_for 10 "dash-a serves its dashboard" grep -q "dashboard on http://127.0.0.1:" "$T/kvnetd.log"
DASH=$(grep -o 'dashboard on http://[^ ]*' "$T/kvnetd.log" | tail -n1 | cut -d' ' -f3)
both_up() {
  hctl a --format json cluster hosts |
    field "sorted((h['name'], h['state']) for h in d) == [('dash-a', 'up'), ('dash-b', 'up')]" | grep -qx True
}
wait_for 15 "dash-a sees both hosts up" both_up
log "two hosts joined; dash-a's dashboard at $DASH"

expect_ok "network add blue" hctl a network add blue --vni 100 --subnet 10.1.0.0/24
expect_ok "ct add c1 on dash-a" hctl a ct add ${P}c1 --network blue
expect_ok "ct add c2 on dash-b" hctl b ct add ${P}c2 --network blue
C2IP=$(hctl b --format json ct list | field "[c['ip'] for c in d if c['name']=='${P}c2'][0].split('/')[0]")
wait_for 10 "c1 (dash-a) reaches c2 (dash-b) on blue" pings ${P}c1 "$C2IP" 1
log "network blue: c1 on dash-a reaches c2 ($C2IP) on dash-b"

# --- over HTTP, in dash-a's namespace
# code METHOD PATH [curl args...]: the HTTP status of one request; the body in $T/body.
code() {
  local m=$1 p=$2
  shift 2
  ip netns exec ${P}a curl -s -o "$T/body" -w '%{http_code}' -X "$m" "$@" "${DASH%/}$p"
}
[ "$(code GET /api/cluster-status)" = 200 ] || fail "GET /api/cluster-status: $(cat "$T/body")"
field "d['result']['mode'], d['result']['reachable'], d['result']['endpoints']" <"$T/body" |
  grep -qxF "cluster True ['$URL']" || fail "cluster-status over HTTP: $(cat "$T/body")"
[ "$(code GET /api/cluster-hosts)" = 200 ] || fail "GET /api/cluster-hosts: $(cat "$T/body")"
field "sorted((h['name'], h['state']) for h in d['result'])" <"$T/body" | grep -qxF "[('dash-a', 'up'), ('dash-b', 'up')]" ||
  fail "cluster-hosts over HTTP: $(cat "$T/body")"
[ "$(code GET /api/network-list)" = 200 ] || fail "GET /api/network-list: $(cat "$T/body")"
field "[(n['name'], n['vni'], n['subnet']) for n in d['result']]" <"$T/body" | grep -qxF "[('blue', 100, '10.1.0.0/24')]" ||
  fail "network-list over HTTP: $(cat "$T/body")"
[ "$(code GET '/api/draw?format=svg&cluster=true')" = 200 ] || fail "GET /api/draw?cluster=true: $(cat "$T/body")"
field "d['result']['data']" <"$T/body" >"$T/cluster.svg"
# Graphviz writes '-' in ids as '&#45;'.
for id in 'host:dash&#45;a' 'host:dash&#45;b' "port:dash&#45;a/ct&#45;${P}c1" "port:dash&#45;b/ct&#45;${P}c2" \
  'tunnel:dash&#45;a&#45;&#45;dash&#45;b'; do
  grep -qF "id=\"$id\"" "$T/cluster.svg" || fail "the cluster's SVG over HTTP has no $id"
done
[ "$(code GET '/api/draw?format=svg&cluster=false')" = 200 ] && ! grep -q 'host:dash' "$T/body" ||
  fail "draw?cluster=false is not this host's picture"
[ "$(code GET '/api/draw?cluster=yes')" = 400 ] && grep -q "argument 'cluster' is true or false" "$T/body" ||
  fail "draw?cluster=yes: $(cat "$T/body")"
for cmd in cluster-status cluster-hosts network-list; do
  [ "$(code POST /api/$cmd -d '{}')" = 405 ] || fail "POST /api/$cmd is not 405"
done
for cmd in network-add network-del; do
  [ "$(code POST /api/$cmd -d '{"name":"blue"}')" = 404 ] || fail "/api/$cmd is served"
done
log "HTTP: cluster-status, cluster-hosts, network-list (GET only), draw?cluster=true names both hosts and their tunnel"

# --- the page in Chromium, in dash-a's namespace (where 127.0.0.1 is dash-a's)
B="KVNET_SOCKET=$T/b.sock $BIN/kvnetctl"
CHANGE="$B network add red --vni 200 --subnet 10.2.0.0/24 && $B ct add ${P}c3 --network red"
ip netns exec ${P}a timeout 150 python3 "$SRC/tests/integration/dashboard_cluster_browser.py" \
  --chromium "$CHROMIUM" --chromium-log "$T/chromium.log" --url "$DASH" \
  --hosts dash-a,dash-b --this-host dash-a --networks "blue:100:10.1.0.0/24" --store "$URL" \
  --host-ids "br-int/ct-${P}c1,br-int/vx-cluster" \
  --cluster-ids "host:dash-a,host:dash-b,port:dash-a/ct-${P}c1,port:dash-b/ct-${P}c2,tunnel:dash-a--dash-b,legend" \
  --change "$CHANGE" --change-network red --change-ids "port:dash-b/ct-${P}c3" \
  --down "kill -9 ${PIDS[b]}" --down-host dash-b --down-within $((TTL + 12)) \
  --screenshot "$T/dashboard-cluster.png" || fail "the cluster's dashboard in Chromium"
[ -s "$T/dashboard-cluster.png" ] || fail "no screenshot"
if [ -d "$BIN/.." ] && [ -w "$BIN/.." ]; then
  cp "$T/dashboard-cluster.png" "$BIN/../dashboard-cluster.png"
  log "screenshot: $(cd "$BIN/.." && pwd)/dashboard-cluster.png"
fi
log "PASS"
