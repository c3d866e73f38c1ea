#!/usr/bin/env bash
# The host side of a switch port processes nothing: the host end of a
# container's veth (and a VM's TAP) is plumbing of kvnet's switch, not an
# interface of the host. kvnetd runs as a host in namespace ${P}H.
#
# 1. The host ends have IPv6 off, no RA, no addresses, arp_ignore=8,
#    rp_filter=1 (io::if_keep_host_out).
# 2. A router advertisement from a port-secured container is dropped by the
#    switch (router_advert) and gives the host no default route and no
#    address. Control: the same RA sent over a plain veth into ${P}H does.
# 3. A container whose security group denies all egress cannot reach a
#    listener of the host over link-local IPv6, nor the host's IPv4 address
#    (no ARP answer for it, no delivery). Control: the listener answers
#    over the plain veth.
source "$(dirname "$0")/lib.sh" "$@"

HPID=""
EXTRA_CLEANUP='[ -n "$HPID" ] && kill -9 "$HPID" 2>/dev/null; true'
H=${P}H
X=${P}X
hctl() { KVNET_SOCKET="$T/h.sock" "$BIN/kvnetctl" "$@"; }

ip netns add $H
ip netns add $X
ip -n $H link set lo up
ip -n $X link set lo up
# The control: a plain veth from X into H, IPv6 on, H with an IPv4 address
# in the containers' subnet.
ip link add ${P}cv type veth peer name ${P}xv
ip link set ${P}cv netns $H
ip link set ${P}xv netns $X
ip -n $H addr add 192.168.63.254/24 dev ${P}cv
ip -n $H link set ${P}cv up
ip -n $X link set ${P}xv up
nsenter --net=/run/netns/$H "$BIN/kvnetd" --foreground --db "$T/h.db" --socket "$T/h.sock" >>"$T/kvnetd.log" 2>&1 &
HPID=$!
disown $HPID
wait_for 10 "kvnetd in $H answers" hctl list-br

hctl add-br br >/dev/null
expect_ok "container a" hctl ct add ${P}a --bridge br --ip 192.168.63.1/24 --mac 02:00:00:00:63:01
expect_ok "port security on a" hctl set port ct-${P}a port_security=true
expect_ok "group deny" hctl sg add ${P}deny
expect_ok "no egress rule 1" hctl sg rule-del ${P}deny 1
expect_ok "no egress rule 2" hctl sg rule-del ${P}deny 2
expect_ok "container b" hctl ct add ${P}b --bridge br --ip 192.168.63.2/24
expect_ok "b denied all egress" hctl set port ct-${P}b security_groups=${P}deny

# 1. The host ends' settings.
sysctl_of() { ip netns exec $H cat "/proc/sys/net/$1/conf/$2/$3"; }
for c in a b; do
  dev=ct-${P}$c
  for kv in ipv6:disable_ipv6:1 ipv6:accept_ra:0 ipv6:autoconf:0 ipv4:arp_ignore:8 ipv4:rp_filter:1 ipv4:forwarding:0; do
    IFS=: read -r fam key want <<<"$kv"
    got=$(sysctl_of "$fam" "$dev" "$key")
    [ "$got" = "$want" ] || fail "$dev: net.$fam.conf.$dev.$key is $got, not $want"
  done
  [ -z "$(ip -n $H -o addr show dev "$dev")" ] || { ip -n $H addr show dev "$dev"; fail "$dev has addresses"; }
done
log "the host ends of the containers' veths: IPv6 off, no RA, no addresses, arp_ignore=8, rp_filter=1, forwarding=0"

# 2. Router advertisements.
cat >"$T/ra.py" <<'PY'
# Sends a router advertisement (prefix 2001:db8:63::/64, lifetime 1800 s)
# out of IFNAME from its MAC's link-local address, three times.
import socket, struct, sys
ifname = sys.argv[1]
mac = bytes.fromhex(open("/sys/class/net/%s/address" % ifname).read().strip().replace(":", ""))
src = bytes.fromhex("fe80000000000000") + bytes([mac[0] ^ 2, mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]])
dst = bytes.fromhex("ff020000000000000000000000000001")
ra = struct.pack(">BBHBBHII", 134, 0, 0, 64, 0, 1800, 0, 0)
ra += struct.pack(">BB", 1, 1) + mac
ra += struct.pack(">BBBBIII", 3, 4, 64, 0xC0, 86400, 14400, 0) + bytes.fromhex("20010db8006300000000000000000000")
def csum(b):
    s = sum(struct.unpack(">%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF
ra = ra[:2] + struct.pack(">H", csum(src + dst + struct.pack(">I", len(ra)) + b"\0\0\0\x3a" + ra)) + ra[4:]
frame = bytes.fromhex("333300000001") + mac + b"\x86\xdd" + struct.pack(">IHBB", 0x60000000, len(ra), 58, 255) + src + dst + ra
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifname, 0))
for _ in range(3):
    s.send(frame)
PY
ip netns exec $X python3 "$T/ra.py" ${P}xv
wait_for 10 "the control RA gives $H a default route over ${P}cv" \
  sh -c "ip -n $H -6 route show default | grep -q 'dev ${P}cv'"
# What the control taught the host is on ${P}cv; below, only what is not counts.
log "control: the RA over a plain veth gives $H a default route (the frame is one Linux takes)"

drops() { hctl stats "$1" --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["drops"].get(sys.argv[1], 0))' "$2"; }
before=$(drops ct-${P}a router_advert)
ip netns exec ${P}a python3 "$T/ra.py" eth0
for _ in $(seq 1 100); do  # until the switch has counted them
  after=$(drops ct-${P}a router_advert)
  [ "$after" -ge $((before + 3)) ] && break
  sleep 0.1
done
[ "$after" -ge $((before + 3)) ] || fail "the switch did not see a's 3 RAs (router_advert $before -> $after)"
# The host end received the same frames when kvnet did: nothing may come of them.
if ip -n $H -6 route show | grep -v "dev ${P}cv" | grep -qE "default|2001:db8:63"; then
  ip -n $H -6 route show
  fail "a's RA, dropped by the switch, still gave the host a route"
fi
if [ -n "$(ip -n $H -6 -o addr show dev ct-${P}a)" ]; then ip -n $H -6 addr show; fail "a's RA gave the host an address"; fi
log "a port-secured container's RA: dropped by the switch ($before -> $after router_advert), no route or address on the host"

# 3. A listener on the host, a container denied all egress.
ip netns exec $H python3 -c '
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", 8463))
s.listen(8)
while True:
    c, _ = s.accept()
    c.sendall(b"host\n")
    c.close()
' >/dev/null 2>&1 &
LPID=$!
EXTRA_CLEANUP="$EXTRA_CLEANUP; kill $LPID 2>/dev/null; true"
wait_for 10 "the host's listener" ip netns exec $H sh -c 'ss -ltn | grep -q ":8463 "'
cat >"$T/connect.py" <<'PY'
# Connects to ADDR%IFNAME port 8463 (IPv6, or IPv4 without %): exit 0 if the host answered.
import socket, sys
addr, port = sys.argv[1], 8463
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
s.settimeout(4)
try:
    target = socket.getaddrinfo(addr, port, fam, socket.SOCK_STREAM)[0][4]
    s.connect(target)
    sys.exit(0 if s.recv(5) == b"host\n" else 1)
except OSError as e:
    print(e)
    sys.exit(1)
PY
ll_of() {  # NS DEV: its link-local address, or the EUI-64 one its MAC gives
  local mac
  mac=$(ip netns exec "$1" cat "/sys/class/net/$2/address")
  python3 -c 'import sys; m=bytes.fromhex(sys.argv[1].replace(":", "")); print("fe80::%02x%02x:%02xff:fe%02x:%02x%02x" % (m[0]^2, m[1], m[2], m[3], m[4], m[5]))' "$mac"
}
# (until both link-local addresses have passed duplicate address detection)
wait_for 15 "control: the listener answers over the plain veth" \
  ip netns exec $X python3 "$T/connect.py" "$(ll_of $H ${P}cv)%${P}xv"
log "control: the host's listener answers over link-local IPv6 on the plain veth"
if ip netns exec ${P}b python3 "$T/connect.py" "$(ll_of $H ct-${P}b)%eth0" >"$T/c.txt" 2>&1; then
  fail "a container denied all egress reached the host's listener over link-local IPv6"
fi
if ip netns exec ${P}b python3 "$T/connect.py" 192.168.63.254 >"$T/c4.txt" 2>&1; then
  fail "a container denied all egress reached the host's IPv4 address through its veth's host end"
fi
ip -n ${P}b neigh show 192.168.63.254 | grep -q "lladdr" &&
  { ip -n ${P}b neigh show; fail "the host end answered ARP for the host's address"; }
log "a container denied all egress reaches no listener of the host: not over link-local IPv6 ($(tr -d '\n' <"$T/c.txt")), not over IPv4"
log "PASS"
