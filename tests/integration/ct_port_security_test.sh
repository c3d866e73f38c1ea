#!/usr/bin/env bash
# Port security on containers created without --mac: kvnet gives each one a
# MAC derived from its name (02:...), sets it on the veth's namespace end and
# filters with it. `set port ct-C port_security=true` (with or without
# allowed_addresses=MAC:IP) is accepted; the container's own traffic passes,
# a changed source MAC or a foreign source IP is dropped and counted; an
# allowed MAC:IP entry is honoured; a container whose veth still has a
# kernel-chosen MAC (created before kvnet chose MACs) gets its MAC when
# kvnetd restarts. Also `ct add --sg G KEY=VALUE...`: the port options stay
# port options.
source "$(dirname "$0")/lib.sh" "$@"

A=${P}a B=${P}b
eth0_mac() { ip -n "$1" link show eth0 | awk '/link\/ether/ {print $2}'; }
ct_mac() { kctl --format json ct list | python3 -c 'import json,sys; print([c["mac"] for c in json.load(sys.stdin) if c["name"]==sys.argv[1]][0])' "$1"; }
drops() {
  kctl stats "$1" --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0].get("drops", {}).get(sys.argv[1], 0))' "$2"
}

kvd_start
kctl add-br br0 >/dev/null
kctl sg add web >/dev/null
kctl sg rule-add web ingress protocol=icmp >/dev/null
# --sg takes one name; the KEY=VALUE words after it are the port's options.
kctl ct add $A --bridge br0 --ip 10.93.0.1/24 --sg web vlan_mode=access pvid=101 >"$T/out" ||
  { cat "$T/out"; fail "ct add --sg web vlan_mode=access pvid=101"; }
[ "$(kctl get port ct-$A security_groups)" = web ] || fail "ct-$A's groups: $(kctl get port ct-$A security_groups)"
[ "$(kctl get port ct-$A vlan_mode)" = access ] || fail "ct-$A's vlan_mode: $(kctl get port ct-$A vlan_mode)"
[ "$(kctl get port ct-$A pvid)" = 101 ] || fail "ct-$A's pvid: $(kctl get port ct-$A pvid)"
kctl ct add $B --bridge br0 --ip 10.93.0.2/24 --sg=web vlan_mode=access pvid=101 >/dev/null ||
  fail "ct add --sg=web"
log "ct add --sg web vlan_mode=access pvid=101: one group, the port options kept"

MA=$(eth0_mac $A)
[ "$MA" = "$(ct_mac $A)" ] || fail "ct list says $A's MAC is $(ct_mac $A), its eth0 has $MA"
[ "${MA:0:3}" = "02:" ] || fail "$A's MAC $MA is not kvnet's (02:...)"
kctl export | grep "mac:" >/dev/null && { kctl export; fail "export names a MAC no one gave"; }
log "container $A without --mac: eth0 has kvnet's MAC $MA, ct list shows it, export omits it"

# The command of the report: port security with a MAC:IP allowed address.
expect_ok "port_security with allowed_addresses=MAC:IP" \
  kctl set port ct-$A port_security=true allowed_addresses=02:93:00:00:00:07:10.93.0.7
wait_for 5 "$A pings $B under port security" pings $A 10.93.0.2
n0=$(drops ct-$A spoofed_mac)
ip -n $A link set eth0 address 02:93:00:00:00:99
ip -n $A neigh flush dev eth0
no_ping $A 10.93.0.2 || fail "$A with a changed MAC still reaches $B"
[ "$(drops ct-$A spoofed_mac)" -gt "$n0" ] || fail "$A's changed MAC is not counted as spoofed_mac"
ip -n $A link set eth0 address "$MA"
ip -n $A neigh flush dev eth0
wait_for 5 "$A pings $B with its own MAC again" pings $A 10.93.0.2
n0=$(drops ct-$A spoofed_ip)
ip -n $A addr add 10.93.0.50/24 dev eth0
ip -n $A neigh replace 10.93.0.2 lladdr "$(eth0_mac $B)" dev eth0 nud permanent  # the IP packet is the spoof
ip netns exec $A ping -n -q -c 2 -i 0.2 -W 1 -I 10.93.0.50 10.93.0.2 >/dev/null 2>&1 && fail "$A pings from 10.93.0.50"
[ "$(drops ct-$A spoofed_ip)" -gt "$n0" ] || fail "$A's foreign source address is not counted as spoofed_ip"
ip -n $A addr del 10.93.0.50/24 dev eth0
# The allowed MAC:IP pair passes.
ip -n $A link set eth0 address 02:93:00:00:00:07
ip -n $A addr add 10.93.0.7/24 dev eth0
ip netns exec $A ping -n -q -c 2 -i 0.2 -W 1 -I 10.93.0.7 10.93.0.2 >/dev/null 2>&1 ||
  fail "$A cannot ping from its allowed 02:93:00:00:00:07 / 10.93.0.7"
ip -n $A addr del 10.93.0.7/24 dev eth0
ip -n $A link set eth0 address "$MA"
ip -n $A neigh flush dev eth0
log "port security on $A: own traffic passes, changed MAC and foreign IP dropped, allowed MAC:IP passes"

expect_ok "port_security alone" kctl set port ct-$B port_security=true
wait_for 5 "$B pings $A under port security" pings $B 10.93.0.1
log "port_security=true alone on $B (no --mac, no allowed_addresses): accepted, traffic passes"

# A container from before kvnet chose MACs: its veth has the kernel's MAC.
# kvnetd's restart sets kvnet's MAC, and port security keeps working.
MB=$(eth0_mac $B)
kvd_stop
ip -n $B link set eth0 address 02:93:11:22:33:44
kvd_start
[ "$(eth0_mac $B)" = "$MB" ] || fail "after a restart $B's eth0 has $(eth0_mac $B), expected kvnet's $MB"
ip -n $A neigh flush dev eth0
wait_for 5 "$B pings $A after the restart" pings $B 10.93.0.1
log "restored with a kernel-chosen MAC: $B's veth set to $MB, port security still passes its traffic"
log "PASS"
