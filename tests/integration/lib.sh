# Shared helpers for kvnet's integration tests (sourced, not run).
# Usage in a test:  source "$(dirname "$0")/lib.sh" "$@"
# Gives: $BIN, $SRC, $T (scratch dir), $P (unique short prefix for names),
# kvd_start/kvd_stop (a private kvnetd), kctl (kvnetctl on it), ns helpers,
# and a trap that removes everything the test created, even on failure.
set -euo pipefail
BIN=${1:?usage: TEST BIN_DIR SOURCE_DIR}
SRC=${2:?usage: TEST BIN_DIR SOURCE_DIR}
T=$(mktemp -d /tmp/kvnet-it.XXXXXX)
# Names must fit 15 characters with a suffix: k + 5 digits of the pid.
P="k$(printf '%05d' $(($$ % 100000)))"
KVD_PID=""
export KVNET_SOCKET="$T/kvnetd.sock"

log() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*"; }
fail() {
  log "FAIL: $*"
  [ -f "$T/kvnetd.log" ] && { echo "--- kvnetd log"; tail -n 30 "$T/kvnetd.log"; }
  exit 1
}

cleanup() {
  local rc=$?
  set +e
  [ -n "$KVD_PID" ] && kill -9 "$KVD_PID" 2>/dev/null
  [ -n "${PING_PID:-}" ] && kill "$PING_PID" 2>/dev/null  # a failure between ping_start and ping_stop
  for pid in "${HOST_PIDS[@]}"; do kill -9 "$pid" 2>/dev/null; done
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$P"); do ip netns del "$ns" 2>/dev/null; done
  for l in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E "^(ct-)?$P"); do
    ip link del "$l" 2>/dev/null
  done
  [ -n "${EXTRA_CLEANUP:-}" ] && eval "$EXTRA_CLEANUP"
  rm -rf "$T"
  exit $rc
}
trap cleanup EXIT INT TERM

kvd_start() {  # [NETNS]: kvnetd in that network namespace (as a host); more flags in KVD_ARGS
  # shellcheck disable=SC2086
  ${1:+nsenter --net=/run/netns/$1} "$BIN/kvnetd" --foreground --db "$T/kvnet.db" --socket "$KVNET_SOCKET" \
    ${KVD_ARGS:-} >>"$T/kvnetd.log" 2>&1 &
  KVD_PID=$!
  disown "$KVD_PID"  # no job-control chatter when a test kills it
  for _ in $(seq 1 100); do
    [ -S "$KVNET_SOCKET" ] && "$BIN/kvnetctl" list-br >/dev/null 2>&1 && return 0
    kill -0 "$KVD_PID" 2>/dev/null || fail "kvnetd exited at start"
    sleep 0.05
  done
  fail "kvnetd did not start listening"
}
kvd_wait_exit() {
  for _ in $(seq 1 200); do
    kill -0 "$KVD_PID" 2>/dev/null || return 0
    sleep 0.05
  done
  fail "kvnetd did not exit"
}
kvd_stop() {
  [ -n "$KVD_PID" ] || return 0
  kill -TERM "$KVD_PID"
  kvd_wait_exit
  KVD_PID=""
}
kvd_kill9() {
  kill -9 "$KVD_PID"
  kvd_wait_exit
  KVD_PID=""
}
kctl() { "$BIN/kvnetctl" "$@"; }
# Several hosts on one machine: host_kvnetd NAME NETNS starts a kvnetd for
# host NAME in network namespace NETNS ($T/NAME.db, $T/NAME.sock); hctl NAME
# talks to it. The cleanup ends them all.
HOST_PIDS=()
host_kvnetd() {
  nsenter --net=/run/netns/$2 "$BIN/kvnetd" --foreground --db "$T/$1.db" --socket "$T/$1.sock" \
    >>"$T/kvnetd.log" 2>&1 &
  HOST_PIDS+=($!)
  disown $!
  wait_for 10 "kvnetd on $1 answers" hctl "$1" list-br
}
hctl() { local h=$1; shift; KVNET_SOCKET="$T/$h.sock" "$BIN/kvnetctl" "$@"; }
# field PYTHON-EXPR: of the JSON on stdin (as d).
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
# A process gone (or a zombie no one reaped yet) / running.
gone() { [ ! -e /proc/$1 ] || grep -q '^State:.*Z' /proc/$1/status 2>/dev/null; }
alive() { [ -e /proc/$1 ] && ! grep -q '^State:.*Z' /proc/$1/status 2>/dev/null; }

# pings NS ADDR [COUNT]: succeeds if every ping is answered.
pings() { ip netns exec "$1" ping -n -q -c "${3:-3}" -i 0.2 -W 1 "$2" >/dev/null 2>&1; }
# ping_start NS ADDR: pings every 10 ms in the background until ping_stop,
# which sets PINGS_SENT and PINGS_LOST (ping's own summary).
ping_start() {
  ip netns exec "$1" ping -n -i 0.01 -W 1 "$2" >"$T/ping.out" 2>&1 &
  PING_PID=$!
}
ping_stop() {
  kill -INT $PING_PID
  wait $PING_PID || true
  PING_PID=""
  local recv
  PINGS_SENT=$(sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) received.*/\1/p' "$T/ping.out")
  recv=$(sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) received.*/\2/p' "$T/ping.out")
  [ -n "$PINGS_SENT" ] || { cat "$T/ping.out"; fail "ping gave no summary"; }
  PINGS_LOST=$((PINGS_SENT - recv))
}
# no_ping NS ADDR: succeeds if no ping is answered.
no_ping() { ! ip netns exec "$1" ping -n -q -c 2 -i 0.2 -W 1 "$2" >/dev/null 2>&1; }

expect_ok() {  # description, command...
  local d=$1
  shift
  "$@" >"$T/out" 2>&1 || { cat "$T/out"; fail "$d"; }
}
# expect_error DESCRIPTION EXIT_CODE MESSAGE_FRAGMENT command...
expect_error() {
  local d=$1 code=$2 frag=$3
  shift 3
  set +e
  "$@" >"$T/out" 2>&1
  local rc=$?
  set -e
  [ "$rc" = "$code" ] || { cat "$T/out"; fail "$d: exit code $rc, expected $code"; }
  grep -qF -- "$frag" "$T/out" || { cat "$T/out"; fail "$d: message lacks '$frag'"; }
}

# An underlay for hosts as namespaces: underlay_bridge makes namespace ${P}ul
# with bridge br0; underlay_join NAME ADDR/LEN makes namespace ${P}NAME whose
# eth1 is a veth on br0 with that address (removed with the test's namespaces).
underlay_bridge() {
  ip netns add ${P}ul
  ip -n ${P}ul link add br0 type bridge
  ip -n ${P}ul link set br0 up
}
underlay_join() {
  local n=$1
  ip netns add ${P}$n
  ip link add ${P}$n type veth peer name ${P}u$n
  ip link set ${P}$n netns ${P}$n
  ip link set ${P}u$n netns ${P}ul
  ip -n ${P}ul link set ${P}u$n master br0 up
  ip -n ${P}$n link set lo up
  ip -n ${P}$n link set ${P}$n name eth1
  ip -n ${P}$n link set eth1 up
  ip -n ${P}$n addr add "$2" dev eth1
}

# etcd_single IP: a one-member etcd in namespace ${P}st (made by underlay_join
# st IP/LEN) serving http://IP:2379, its data in $T/etcd (kept across a
# restart); sets ETCD_PID and waits until it answers. The test removes it
# with EXTRA_CLEANUP='[ -n "$ETCD_PID" ] && kill -9 $ETCD_PID 2>/dev/null'.
etcd_single() {
  local url=http://$1:2379
  ip netns exec ${P}st etcd --name s --data-dir "$T/etcd" --listen-client-urls $url --advertise-client-urls $url \
    --listen-peer-urls http://$1:2380 --initial-advertise-peer-urls http://$1:2380 \
    --initial-cluster s=http://$1:2380 >>"$T/etcd.log" 2>&1 &
  ETCD_PID=$!
  disown $ETCD_PID
  wait_for 20 "etcd answers" ip netns exec ${P}st etcdctl --endpoints $url endpoint health
}

# wait_for SECONDS DESCRIPTION command...: polls until the command succeeds.
wait_for() {
  local secs=$1 d=$2
  shift 2
  for _ in $(seq 1 $((secs * 10))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  fail "$d (waited ${secs} s)"
}

# tshark_ready ERRFILE: waits (up to 20 s) until the tshark writing its
# stderr to ERRFILE says it is capturing; under load it takes seconds to start.
tshark_ready() {
  for _ in $(seq 1 100); do
    grep -q "Capturing on" "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  log "tshark did not report capturing within 20 s"
}

# host_and_outside H O NET: namespace H (where a test runs kvnetd as a host)
# whose only uplink, ${P}up (NET.1/24), is a veth to namespace O ("outside",
# ${P}dn, NET.2/24), with H's default route through O. Never the machine's
# own uplink: whatever routes or masquerades stays between the two.
host_and_outside() {
  local h=$1 o=$2 net=$3
  ip netns add "$h"
  ip netns add "$o"
  ip link add ${P}up type veth peer name ${P}dn
  ip link set ${P}up netns "$h"
  ip link set ${P}dn netns "$o"
  ip -n "$h" addr add "$net.1/24" dev ${P}up
  ip -n "$o" addr add "$net.2/24" dev ${P}dn
  for ns in "$h" "$o"; do ip -n "$ns" link set lo up; done
  ip -n "$h" link set ${P}up up
  ip -n "$o" link set ${P}dn up
  ip -n "$h" route add default via "$net.2"
}
