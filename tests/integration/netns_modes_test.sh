#!/usr/bin/env bash
# A container's network namespace is visible to the host however kvnetd was
# started: plainly, as `ip netns exec HOST kvnetd` (which runs it in a mount
# namespace of its own), as `nsenter --net=/run/netns/HOST kvnetd`, and as the
# systemd service of dist/kvnetd.service. In each mode: `ip netns exec C`
# from the test's shell and `kvnetctl ct exec C` (also through `ip netns exec
# HOST`) work, the containers ping each other, a restarted kvnetd (a new
# mount namespace in the ip-netns-exec mode) finds and re-plumbs them, and
# `ct del` removes the namespace where the host sees it.
source "$(dirname "$0")/lib.sh" "$@"
H=${P}h
UNIT=kvnet-test-$P
EXTRA_CLEANUP="systemctl stop $UNIT >/dev/null 2>&1 || true"
ip netns add "$H"
ip -n "$H" link set lo up

# start_in MODE: a kvnetd on $KVNET_SOCKET, started the way MODE says.
start_in() {
  local mode=$1 args=(--foreground --db "$T/$1.db" --socket "$KVNET_SOCKET")
  case $mode in
    plain) "$BIN/kvnetd" "${args[@]}" >>"$T/kvnetd.log" 2>&1 & ;;
    ipnetns) ip netns exec "$H" "$BIN/kvnetd" "${args[@]}" >>"$T/kvnetd.log" 2>&1 & ;;
    nsenter) nsenter --net=/run/netns/"$H" "$BIN/kvnetd" "${args[@]}" >>"$T/kvnetd.log" 2>&1 & ;;
    setpriv) setpriv --no-new-privs --bounding-set=-all,"$UNIT_CAPS" "$BIN/kvnetd" "${args[@]}" >>"$T/kvnetd.log" 2>&1 & ;;
    systemd)
      systemctl reset-failed "$UNIT" >/dev/null 2>&1 || true
      systemd-run --quiet --unit "$UNIT" "${UNIT_PROPS[@]}" "$BIN/kvnetd" "${args[@]}" ||
        fail "systemd-run of kvnetd with the unit's options failed"
      KVD_PID=$(systemctl show -p MainPID --value "$UNIT")
      ;;
  esac
  if [ "$mode" != systemd ]; then
    KVD_PID=$!
    disown "$KVD_PID"
  fi
  wait_for 10 "$mode: kvnetd did not start listening" kctl list-br
}
# host_run MODE CMD...: CMD where kvnetd's network is (its host namespace).
host_run() {
  case $1 in
    ipnetns | nsenter) shift; ip netns exec "$H" "$@" ;;
    *) shift; "$@" ;;
  esac
}
ping_from() { kctl ct exec "$1" -- ping -n -q -c 1 -W 1 "$2" >/dev/null 2>&1; }

# check MODE NET: containers ${P}MODE-ish a and b on 10.77.NET.0/24.
check() {
  local mode=$1 net=$2 a=${P}${1:0:2}a b=${P}${1:0:2}b
  kctl add-br br0 >/dev/null
  kctl ct add "$a" --bridge br0 --ip 10.77.$net.1/24 >/dev/null
  kctl ct add "$b" --bridge br0 --ip 10.77.$net.2/24 >/dev/null
  ip netns exec "$a" true 2>"$T/err" || { cat "$T/err"; fail "$mode: ip netns exec $a fails outside kvnetd"; }
  [[ "$(ip netns list)" == *"$b"* ]] || fail "$mode: ip netns list lacks $b"
  wait_for 10 "$mode: kvnetctl ct exec $a -- ping $b" ping_from "$a" 10.77.$net.2
  host_run "$mode" "$BIN/kvnetctl" ct exec "$b" -- ping -n -q -c 1 -W 2 10.77.$net.1 >"$T/out" 2>&1 ||
    { cat "$T/out"; fail "$mode: kvnetctl ct exec $b -- ping, run where kvnetd's network is"; }

  # A new kvnetd (in the ip-netns-exec mode: a new mount namespace) sees
  # and re-plumbs what the last one made.
  kvd_stop
  ip -n "$a" link del eth0
  start_in "$mode"
  [[ "$(kctl ct list)" != *MISSING* ]] || { kctl ct list; fail "$mode: a restarted kvnetd lost its containers"; }
  wait_for 10 "$mode: $a re-plumbed after a restart" ping_from "$a" 10.77.$net.2

  kctl ct del "$b" >/dev/null
  [ ! -e /run/netns/"$b" ] || fail "$mode: ct del left /run/netns/$b"
  ip netns exec "$b" true 2>/dev/null && fail "$mode: $b still usable after ct del"
  kctl ct del "$a" >/dev/null
  kctl del-br br0 >/dev/null
  kvd_stop
  grep -q "visible only inside kvnetd" "$T/kvnetd.log" && fail "$mode: kvnetd warned that its namespaces are private"
  log "$mode: ok"
}

start_in plain && check plain 1
start_in ipnetns && check ipnetns 2
grep -q "kvnetd runs in a mount namespace of its own: network namespaces are mounted in" "$T/kvnetd.log" ||
  fail "ipnetns: kvnetd did not say where it mounts the namespaces"
start_in nsenter && check nsenter 3

# systemd: dist/kvnetd.service must give kvnetd no mount namespace of its own
# (the options that would) and leave it the capabilities it needs.
svc=$(sed -n '/^\[Service\]/,/^\[/p' "$SRC/dist/kvnetd.service" | grep -E '^[A-Za-z]+=' )
for opt in ProtectSystem ProtectHome PrivateTmp PrivateDevices PrivateMounts PrivateNetwork PrivateIPC \
  NetworkNamespacePath ProtectKernelTunables ProtectKernelModules ProtectKernelLogs ProtectControlGroups ProtectProc \
  ProcSubset ReadOnlyPaths ReadWritePaths InaccessiblePaths ExecPaths NoExecPaths BindPaths BindReadOnlyPaths \
  TemporaryFileSystem RootDirectory RootImage MountFlags DynamicUser LogNamespace; do
  grep -q "^$opt=" <<<"$svc" && fail "dist/kvnetd.service: $opt= gives kvnetd a mount namespace of its own"
done
caps=$(sed -n 's/^CapabilityBoundingSet=//p' <<<"$svc")
[ -n "$caps" ] || fail "dist/kvnetd.service has no CapabilityBoundingSet"
UNIT_CAPS=$(tr ' ' '\n' <<<"$caps" | sed 's/^CAP_//' | tr 'A-Z' 'a-z' | sed 's/^/+/' | paste -sd, -)
if [ "$(ps -o comm= -p 1)" = systemd ]; then
  # The unit's [Service] options, but its own paths (no RuntimeDirectory=
  # and the like, which would touch the machine's /run/kvnet).
  UNIT_PROPS=()
  while IFS= read -r l; do UNIT_PROPS+=(-p "$l"); done < <(grep -vE '^(ExecStart|ExecReload|Restart|RestartSec|RuntimeDirectory|RuntimeDirectoryMode|StateDirectory|StateDirectoryMode|CacheDirectory)=' <<<"$svc")
  start_in systemd
  check systemd 4
  journalctl -u "$UNIT" --no-pager 2>/dev/null | grep -q "visible only inside kvnetd" &&
    fail "systemd: kvnetd warned that its namespaces are private"
else
  # Without systemd as PID 1 (a container, a sandbox) systemd-run cannot
  # start a unit: run kvnetd as the unit would, with its capability bounding
  # set and no new privileges, in the host's mount namespace.
  log "systemd is not PID 1 here: the unit's options are checked, kvnetd runs with its capabilities (setpriv)"
  start_in setpriv && check setpriv 4
fi
log "PASS"
