#!/usr/bin/env bash
# Containers with ip=dhcp: kvnetd runs busybox udhcpc in the container's
# namespace; the container gets a lease in the gateway's DHCP range, its
# default route through the gateway, and pings it; ct list / ct show show the
# lease; udhcpc killed -9 is restarted; a restarted kvnetd re-adopts it;
# `--gw` with dhcp is refused; deleting the container ends its udhcpc.
#
# Network safety: as gateway_test.sh, kvnetd runs inside a namespace of this
# test (${P}h) whose only uplink leads to another namespace of this test.
source "$(dirname "$0")/lib.sh" "$@"

H=${P}h O=${P}o C=${P}c1 G=${P}g
cleanup_dhcp() {
  for f in "$T"/gateways/*/dnsmasq.pid "$T"/containers/*/udhcpc.pid; do
    [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
  done
  return 0
}
EXTRA_CLEANUP=cleanup_dhcp

host_and_outside $H $O 10.216.0
start_kvnetd() { kvd_start $H; }
ctjson() { kctl --format json ct show $C; }
client_pid() { ctjson | field 'd["dhcp"]["pid"]'; }
leased() { ctjson | field 'd["dhcp"].get("lease", {}).get("ip", "")'; }
has_lease() { [ -n "$(leased)" ]; }

start_kvnetd
kctl add-br br0 >/dev/null
kctl gw add $G --bridge br0 --ip 192.168.79.1/24 --dhcp 192.168.79.100-192.168.79.120 >/dev/null

before=$(kctl export)
expect_error "gw with dhcp" 1 "container '$C': 'gw' cannot go with ip=dhcp: the DHCP lease gives the default route" \
  kctl ct add $C --bridge br0 --ip dhcp --gw 192.168.79.1
[ "$(kctl export)" = "$before" ] || fail "a refused ct add changed the configuration"
ip netns list | grep "^$C" >/dev/null && fail "a refused ct add left a namespace"

kctl ct add $C --bridge br0 --ip dhcp >/dev/null
kctl export | grep "ip: dhcp" >/dev/null || { kctl export; fail "export lacks ip: dhcp"; }
wait_for 20 "$C gets a lease" has_lease
ip=$(leased)
case "$ip" in 192.168.79.1[0-1][0-9]/24 | 192.168.79.120/24) ;; *) fail "lease $ip is outside 192.168.79.100-120" ;; esac
ip -n $C -4 addr show dev eth0 | grep "inet $ip " >/dev/null || { ip -n $C addr; fail "eth0 lacks the leased $ip"; }
ip -n $C route | grep "default via 192.168.79.1" >/dev/null || { ip -n $C route; fail "the lease gave no default route"; }
wait_for 10 "$C pings its gateway" pings $C 192.168.79.1
kctl ct list | grep "^$C " | grep "dhcp $ip" >/dev/null || { kctl ct list; fail "ct list does not show the lease"; }
kctl ct show $C | grep "client running" >/dev/null || { kctl ct show $C; fail "ct show does not show the client"; }
[ "$(ctjson | field 'd["dhcp"]["lease"]["router"]')" = 192.168.79.1 ] || fail "ct show's lease names no router"
pid1=$(client_pid)
alive "$pid1" || fail "udhcpc (pid $pid1) is not running"
tr '\0' ' ' </proc/$pid1/cmdline | grep "udhcpc .*-s $T/containers/$C/udhcpc.script" >/dev/null || fail "pid $pid1 is not kvnet's udhcpc"
[ "$(readlink /proc/$pid1/ns/net)" = "$(ip netns exec $C readlink /proc/self/ns/net)" ] || fail "udhcpc is not in $C"
log "container $C: lease $ip from $G, default route via 192.168.79.1, pings it; udhcpc pid $pid1"

# Port security: without allowed addresses only DHCP would pass (a warning
# says so); with the range allowed, the lease's address goes with kvnet's MAC.
expect_ok "port_security alone on a dhcp container" kctl set port ct-$C port_security=true
grep "warning: container '$C' takes its address by DHCP" "$T/out" >/dev/null || { cat "$T/out"; fail "no warning"; }
expect_ok "port_security with a dhcp container" kctl set port ct-$C port_security=true allowed_addresses=192.168.79.0/24
wait_for 10 "$C pings its gateway under port security" pings $C 192.168.79.1
log "port security with allowed_addresses=192.168.79.0/24: the leased address passes"

# Supervision: killed -9, it comes back and the lease stays.
kill -9 "$pid1"
wait_for 15 "kvnetd restarts udhcpc" sh -c "p=\$($BIN/kvnetctl --format json ct show $C | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"dhcp\"][\"pid\"])'); [ \"\$p\" != 0 ] && [ \"\$p\" != $pid1 ]"
pid2=$(client_pid)
[ "$(ctjson | field 'd["dhcp"]["restarts"]')" -ge 1 ] || fail "ct show does not count the restart"
wait_for 20 "$C has a lease again" has_lease
wait_for 10 "$C pings its gateway again" pings $C 192.168.79.1
log "udhcpc killed -9 (pid $pid1): restarted as pid $pid2"

# kvnetd restart: udhcpc outlives it and is re-adopted.
kvd_stop
alive "$pid2" || fail "udhcpc did not outlive kvnetd"
start_kvnetd
[ "$(client_pid)" = "$pid2" ] || { kctl ct show $C; fail "the new kvnetd did not re-adopt udhcpc $pid2"; }
wait_for 10 "$C pings its gateway after the restart" pings $C 192.168.79.1
log "kvnetd restarted: udhcpc $pid2 re-adopted"

# ct del: the client goes before the namespace.
kctl ct del $C >/dev/null
wait_for 5 "udhcpc $pid2 ends with its container" gone "$pid2"
[ ! -e "$T/containers/$C" ] || fail "ct del left the container's DHCP directory"
ip netns list | grep "^$C" >/dev/null && fail "ct del left the namespace"
log "ct del: udhcpc $pid2 gone, its directory removed"
log "PASS"
