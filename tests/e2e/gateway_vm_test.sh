#!/usr/bin/env bash
# A QEMU guest behind a kvnet NAT gateway (issue 9): one VM whose NIC has
# ip=dhcp (kvnet's guest image runs udhcpc) gets its address from the
# gateway's dnsmasq, reaches a server in the test's "outside" namespace
# through masquerade (the server sees the host's uplink address), and a
# port forward reaches a server in the guest from outside.
#
# Network safety as in tests/integration/gateway_test.sh: kvnetd (and so
# QEMU, dnsmasq and the nftables table) runs in a namespace of this test
# whose only uplink is a veth into another namespace of this test.
source "$(dirname "$0")/../integration/lib.sh" "$@"
export KVNET_GUEST_DIR=${KVNET_GUEST_DIR:-/var/cache/kvnet/guest}
bash "$SRC/guest/build.sh" "$KVNET_GUEST_DIR" >/dev/null 2>"$T/guest.log" || { cat "$T/guest.log"; fail "guest image build"; }

H=${P}h O=${P}o G=${P}g V=${P}v
PIDS=()
cleanup_gw() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  for f in "$T"/vms/*/qemu.pid "$T"/gateways/*/dnsmasq.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done
  sleep 0.3
  return 0
}
EXTRA_CLEANUP=cleanup_gw

host_and_outside $H $O 10.214.0

kvd_start $H

kctl add-br br0 >/dev/null
kctl gw add $G --bridge br0 --vlan 30 --ip 192.168.88.1/24 --masquerade --dhcp 192.168.88.60-192.168.88.60 \
  --forward tcp:8081:192.168.88.60:8080 >/dev/null
kctl vm add $V --nic bridge=br0,ip=dhcp,vlan_mode=access,pvid=30 >/dev/null
mac=$(kctl --format json vm show $V | python3 -c 'import json,sys; print(json.load(sys.stdin)["nics"][0]["mac"])')
kctl vm start $V --wait --timeout 240 2>"$T/boot.txt" || { cat "$T/boot.txt"; kctl vm console $V --log | tail -20; fail "boot"; }
log "vm $V: $(cat "$T/boot.txt")"

out=$(kctl vm console $V --exec "ip -4 addr show eth0; ip route")
echo "$out" | grep "inet 192.168.88.60/24" >/dev/null || { echo "$out"; fail "the guest has no DHCP address"; }
echo "$out" | grep "default via 192.168.88.1" >/dev/null || { echo "$out"; fail "the guest has no default route from DHCP"; }
kctl gw show $G | grep "$mac  192.168.88.60" >/dev/null || { kctl gw show $G; fail "gw show does not list the guest's lease"; }
log "guest: 192.168.88.60/24 and default route by DHCP; gw show lists the lease of $mac"

mkdir -p "$T/www"
echo "outside says hello" >"$T/www/hello.txt"
ip netns exec $O python3 -m http.server 8000 --bind 10.214.0.2 --directory "$T/www" >"$T/http.log" 2>&1 &
PIDS+=($!)
wait_for 10 "the outside server listens" ip netns exec $O busybox wget -q -O /dev/null http://10.214.0.2:8000/hello.txt
out=$(kctl vm console $V --exec "wget -q -O - http://10.214.0.2:8000/hello.txt") ||
  { echo "$out"; fail "the guest cannot reach the outside server"; }
echo "$out" | grep "outside says hello" >/dev/null || { echo "$out"; fail "the guest got the wrong answer"; }
grep -q '^10.214.0.1 - - .*"GET /hello.txt' "$T/http.log" || { cat "$T/http.log"; fail "the server did not see the host's uplink address"; }
log "masquerade: the guest reached 10.214.0.2:8000, which saw 10.214.0.1"

kctl vm console $V --exec "mkdir -p /tmp/www && echo guest says hello >/tmp/www/g.txt && httpd -p 8080 -h /tmp/www" >/dev/null ||
  fail "cannot start httpd in the guest"
got=$(ip netns exec $O timeout 10 busybox wget -q -O - http://10.214.0.1:8081/g.txt) || fail "outside cannot reach the forwarded port"
[ "$got" = "guest says hello" ] || fail "the forward gave '$got'"
log "forward: 10.214.0.1:8081 from outside reached the guest's server on :8080"

kctl vm kill $V >/dev/null
kctl vm del $V >/dev/null
kctl gw del $G >/dev/null
ip netns exec $H nft list tables | grep kvnet >/dev/null && fail "gw del left the table"
log "PASS"
