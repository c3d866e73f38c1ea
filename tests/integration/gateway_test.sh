#!/usr/bin/env bash
# NAT gateway network (issue 9): a container behind a kvnet gateway gets its
# address from the gateway's dnsmasq, reaches a server outside through
# masquerade, and a port forward reaches the container's server from outside.
#
# Network safety: kvnetd runs inside a namespace of this test ("host", ${P}h)
# whose only uplink is a veth to another namespace of this test ("outside",
# ${P}o), with the default route through it. The gateway's nftables table,
# forwarding sysctl and dnsmasq all live in ${P}h; the machine's own network
# and nftables are never touched.
#
#   ${P}c1 (container) eth0 --- br0 (kvnet switch) --- ${P}g (internal port, 192.168.77.1/24)
#        192.168.77.50 by DHCP                                 | kernel routing in ${P}h, nftables
#                                                              | masquerade / DNAT (table ip kvnet)
#   ${P}o (outside) 10.213.0.2 ---- veth ---- 10.213.0.1 ${P}h (uplink, default route)
#
# Checks: bad input refused with nothing changed (configuration, nftables,
# dnsmasq); DHCP lease in the container and in `gw show`; HTTP from the
# container to the outside server, which sees the host's uplink address;
# HTTP from outside to the forwarded port reaches the container's server;
# dnsmasq killed -9 is restarted; a restarted kvnetd re-adopts dnsmasq and
# keeps the rules; `gw del` removes the table and stops dnsmasq.
source "$(dirname "$0")/lib.sh" "$@"

H=${P}h O=${P}o C=${P}c1 G=${P}g
PIDS=()
cleanup_gw() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  for f in "$T"/gateways/*/dnsmasq.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done
  return 0
}
EXTRA_CLEANUP=cleanup_gw

host_and_outside $H $O 10.213.0

hns() { ip netns exec $H "$@"; }
start_kvnetd() { kvd_start $H; }
gwjson() { kctl --format json gw show $G; }
dnsmasq_pid() { gwjson | field 'd["dnsmasq"]["pid"]'; }
has_table() { hns nft list tables 2>/dev/null | grep -x "table ip kvnet" >/dev/null; }

start_kvnetd
kctl add-br br0 >/dev/null
kctl add-br hub0 type=hub >/dev/null
kctl add-port br0 ${P}x type=internal >/dev/null

# --- bad input: refused before anything is created
before=$(kctl export)
rules_before=$(hns nft list ruleset)
expect_error "unknown bridge" 1 "bridge 'nope' does not exist" kctl gw add $G --bridge nope --ip 192.168.77.1/24
expect_error "VLAN out of range" 1 "out of range 1-4094" kctl gw add $G --bridge br0 --vlan 5000 --ip 192.168.77.1/24
expect_error "VLAN on a hub" 1 "vlan applies to switch bridges; bridge 'hub0' is a hub" \
  kctl gw add $G --bridge hub0 --vlan 5 --ip 192.168.77.1/24
expect_error "bad CIDR" 1 "'192.168.77.300' is not an IPv4 address" kctl gw add $G --bridge br0 --ip 192.168.77.300/24
expect_error "no prefix" 1 "must be an IPv4 ADDRESS/PREFIX" kctl gw add $G --bridge br0 --ip 192.168.77.1
expect_error "DHCP range outside the subnet" 1 "dhcp range start 192.168.78.10 is outside the subnet 192.168.77.0/24" \
  kctl gw add $G --bridge br0 --ip 192.168.77.1/24 --dhcp 192.168.78.10-192.168.78.20
expect_error "DHCP range with the gateway" 1 "contains the gateway's own address 192.168.77.1" \
  kctl gw add $G --bridge br0 --ip 192.168.77.1/24 --dhcp 192.168.77.1-192.168.77.20
expect_error "malformed forward" 1 "must be tcp|udp:HOSTPORT:IP:PORT" \
  kctl gw add $G --bridge br0 --ip 192.168.77.1/24 --forward tcp:8080:192.168.77.50
expect_error "forward protocol" 1 "protocol 'icmp' is not tcp or udp" \
  kctl gw add $G --bridge br0 --ip 192.168.77.1/24 --forward icmp:8080:192.168.77.50:80
expect_error "port name clash" 1 "port '${P}x' already exists on bridge 'br0'" \
  kctl gw add ${P}x --bridge br0 --ip 192.168.77.1/24
expect_error "missing --ip" 2 "--ip is required" kctl gw add $G --bridge br0
[ "$(kctl export)" = "$before" ] || fail "a refused gw add changed the configuration"
[ "$(hns nft list ruleset)" = "$rules_before" ] || fail "a refused gw add changed nftables"
[ ! -e "$T/gateways/$G" ] || fail "a refused gw add left a dnsmasq directory"
hns ip link show $G >/dev/null 2>&1 && fail "a refused gw add left its interface"
log "bad input refused: configuration, nftables and dnsmasq unchanged"

# --- the gateway
kctl gw add $G --bridge br0 --ip 192.168.77.1/24 --masquerade --dhcp 192.168.77.50-192.168.77.50 \
  --forward tcp:8080:192.168.77.50:80 >"$T/out" || { cat "$T/out"; fail "gw add"; }
grep -q "dnsmasq running" "$T/out" || { cat "$T/out"; fail "gw add does not report dnsmasq running"; }
expect_error "duplicate name" 1 "gateway '$G' already exists" kctl gw add $G --bridge br0 --ip 192.168.78.1/24
has_table || fail "no table ip kvnet in the host namespace"
hns nft list table ip kvnet | grep "dnat to 192.168.77.50:80" >/dev/null || { hns nft list table ip kvnet; fail "no DNAT rule"; }
hns nft list table ip kvnet | grep "masquerade" >/dev/null || fail "no masquerade rule"
[ "$(hns cat /proc/sys/net/ipv4/ip_forward)" = 1 ] || fail "IPv4 forwarding is off in the host namespace"
hns ip -4 addr show dev $G | grep "192.168.77.1/24" >/dev/null || fail "the gateway port lacks its address"
pid1=$(dnsmasq_pid)
alive "$pid1" || fail "dnsmasq (pid $pid1) is not running"
tr '\0' ' ' </proc/$pid1/cmdline | grep -- "--conf-file=$T/gateways/$G/dnsmasq.conf" >/dev/null || fail "pid $pid1 is not our dnsmasq"
kctl gw list | grep "^$G " >/dev/null || { kctl gw list; fail "gw list lacks the gateway"; }
kctl export | grep "forwards: \[\"tcp:8080:192.168.77.50:80\"\]" >/dev/null || { kctl export; fail "export lacks the gateway"; }
log "gateway $G: table ip kvnet, forwarding on, 192.168.77.1/24 on its port, dnsmasq pid $pid1"

# --- a container gets its address from DHCP
kctl ct add $C --bridge br0 >/dev/null
cat >"$T/udhcpc.sh" <<'EOF'
#!/bin/sh
case "$1" in
  bound|renew)
    ip addr replace "$ip/$mask" dev "$interface"
    ip route replace default via "${router%% *}" dev "$interface" ;;
esac
exit 0
EOF
chmod 755 "$T/udhcpc.sh"
ip netns exec $C busybox udhcpc -i eth0 -n -q -t 10 -T 1 -s "$T/udhcpc.sh" >"$T/udhcpc.log" 2>&1 ||
  { cat "$T/udhcpc.log"; fail "udhcpc in the container got no lease"; }
ip -n $C -4 addr show dev eth0 | grep "192.168.77.50/24" >/dev/null || { ip -n $C addr; fail "the container lacks its leased address"; }
ip -n $C route | grep "default via 192.168.77.1" >/dev/null || { ip -n $C route; fail "the lease gave no default route"; }
mac=$(ip -n $C link show eth0 | awk '/link\/ether/ {print $2}')
gwjson | field '" ".join(l["mac"] + "=" + l["ip"] for l in d["leases"])' | grep "$mac=192.168.77.50" >/dev/null ||
  { kctl gw show $G; fail "gw show does not list the container's lease"; }
kctl gw show $G | grep "$mac  192.168.77.50" >/dev/null || { kctl gw show $G; fail "gw show (human) lacks the lease"; }
log "container $C: 192.168.77.50/24 and default route by DHCP; gw show lists the lease of $mac"

# --- masquerade: the outside server sees the host's uplink address
mkdir -p "$T/www" "$T/ctwww"
echo "outside says hello" >"$T/www/hello.txt"
ip netns exec $O python3 -m http.server 8000 --bind 10.213.0.2 --directory "$T/www" >"$T/http.log" 2>&1 &
PIDS+=($!)
wait_for 10 "the outside server listens" ip netns exec $O busybox wget -q -O /dev/null http://10.213.0.2:8000/hello.txt
got=$(ip netns exec $C timeout 10 busybox wget -q -O - http://10.213.0.2:8000/hello.txt) || fail "the container cannot reach the outside server"
[ "$got" = "outside says hello" ] || fail "the container got '$got' from the outside server"
grep -q '^10.213.0.1 - - .*"GET /hello.txt' "$T/http.log" || { cat "$T/http.log"; fail "the server did not see the host's uplink address"; }
grep -q '192.168.77.50' "$T/http.log" && { cat "$T/http.log"; fail "the server saw the container's own address (no masquerade)"; }
log "masquerade: the container reached 10.213.0.2:8000, which saw 10.213.0.1"

# --- port forward: outside -> host:8080 -> the container's :80
echo "container says hello" >"$T/ctwww/ct.txt"
ip netns exec $C busybox httpd -f -p 80 -h "$T/ctwww" &
PIDS+=($!)
sleep 0.3
got=$(ip netns exec $O timeout 10 busybox wget -q -O - http://10.213.0.1:8080/ct.txt) || fail "outside cannot reach the forwarded port"
[ "$got" = "container says hello" ] || fail "the forward gave '$got'"
log "forward: 10.213.0.1:8080 from outside reached the container's server on :80"

# --- supervision: dnsmasq killed -9 comes back
kill -9 "$pid1"
wait_for 15 "kvnetd restarts dnsmasq" sh -c "p=\$($BIN/kvnetctl --format json gw show $G | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"dnsmasq\"][\"pid\"])'); [ \"\$p\" != 0 ] && [ \"\$p\" != $pid1 ] && [ -e /proc/\$p ]"
pid2=$(dnsmasq_pid)
[ "$(gwjson | field 'd["dnsmasq"]["restarts"]')" -ge 1 ] || fail "gw show does not count the restart"
ip netns exec $C busybox udhcpc -i eth0 -n -q -t 10 -T 1 -s "$T/udhcpc.sh" >"$T/udhcpc.log" 2>&1 ||
  { cat "$T/udhcpc.log"; fail "no lease from the restarted dnsmasq"; }
log "dnsmasq killed -9 (pid $pid1): restarted as pid $pid2, and it answers DHCP"

# --- kvnetd restart: dnsmasq re-adopted, rules kept
kvd_stop
alive "$pid2" || fail "dnsmasq did not outlive kvnetd"
has_table || fail "the table went with kvnetd"
start_kvnetd
[ "$(dnsmasq_pid)" = "$pid2" ] || { kctl gw show $G; fail "the new kvnetd did not re-adopt dnsmasq $pid2"; }
got=$(ip netns exec $O timeout 10 busybox wget -q -O - http://10.213.0.1:8080/ct.txt) || fail "the forward broke across the kvnetd restart"
log "kvnetd restarted: dnsmasq $pid2 re-adopted, forward still works"

# --- the gateway's files are root's alone; a forged pidfile is not trusted
# dnsmasq hands its pidfile to the user it drops to (nobody): the directory
# keeps nobody out, and kvnetd checks the pid's command line and executable.
GD=$T/gateways/$G
[ "$(stat -c %a "$GD")" = 700 ] || fail "$GD has mode $(stat -c %a "$GD"), not 700"
kvd_stop
sleep 300 &
DECOY=$!
PIDS+=($DECOY)
kill -9 "$pid2"
wait_for 5 "dnsmasq $pid2 stops" gone "$pid2"
echo "$DECOY" >"$GD/dnsmasq.pid"
start_kvnetd
wait_for 10 "kvnetd starts a new dnsmasq" sh -c "p=\$($BIN/kvnetctl --format json gw show $G | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"dnsmasq\"][\"pid\"])'); [ \"\$p\" != 0 ] && [ \"\$p\" != $DECOY ]"
alive "$DECOY" || fail "kvnetd killed the process a forged pidfile named"
pid2=$(dnsmasq_pid)
[ "$(readlink /proc/$pid2/exe)" = "$(readlink -f "$(command -v dnsmasq)")" ] || fail "pid $pid2 is not dnsmasq"
log "gateway directory 0700; a forged pidfile's pid $DECOY neither adopted nor killed, dnsmasq $pid2 started"

# --- gw del: rules and dnsmasq gone
kctl gw del $G >/dev/null
has_table && { hns nft list ruleset; fail "gw del left table ip kvnet"; }
wait_for 5 "dnsmasq $pid2 stops" gone "$pid2"
[ ! -e "$T/gateways/$G" ] || fail "gw del left the gateway's directory"
hns ip link show $G >/dev/null 2>&1 && fail "gw del left the gateway's port"
kctl gw list | grep "$G" >/dev/null && fail "gw list still shows the gateway"
log "gw del: table ip kvnet removed, dnsmasq $pid2 stopped, port gone"
log "PASS"
