#!/usr/bin/env bash
# Port mirrors (OVS's Mirror table) with real traffic: containers ping each
# other while tcpdump in an "ids" container, whose port is the mirror's
# output, must see exactly the selected frames (source port, destination
# port, VLANs, one copy per frame), tagged as the output port's VLAN mode
# says; output_vlan floods the copies into a VLAN on a trunk; the counters
# of `mirror list` match what tcpdump saw; the output port is reserved;
# `mirror del` stops it; YAML apply/export; bad input changes nothing.
source "$(dirname "$0")/lib.sh" "$@"
kvd_start
kctl add-br br0 >/dev/null
kctl ct add ${P}a --bridge br0 --ip 10.90.0.1/24 vlan_mode=access pvid=10 >/dev/null
kctl ct add ${P}b --bridge br0 --ip 10.90.0.2/24 vlan_mode=access pvid=10 >/dev/null
kctl ct add ${P}c --bridge br0 --ip 10.91.0.3/24 vlan_mode=access pvid=20 >/dev/null
kctl ct add ${P}d --bridge br0 --ip 10.91.0.4/24 vlan_mode=access pvid=20 >/dev/null
kctl ct add ${P}ids --bridge br0 --ip 10.90.0.99/24 vlan_mode=access pvid=10 >/dev/null
A=ct-${P}a B=ct-${P}b C=ct-${P}c D=ct-${P}d IDS=ct-${P}ids
# Quiet stacks: no IPv6 chatter (router solicitations, MLD), so every frame
# on the wire is one the test makes.
for n in a b c d ids; do ip netns exec ${P}$n sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.eth0.disable_ipv6=1; done
pings ${P}a 10.90.0.2 || fail "a cannot reach b"
pings ${P}c 10.91.0.4 || fail "c cannot reach d"
MAC_B=$(ip netns exec ${P}b cat /sys/class/net/eth0/address)
# ... and no ARP either: the pairs know each other for good, so nothing is
# broadcast (flooded to the ids port while no mirror reserves it) once the
# test begins, however slowly it runs.
mac() { ip netns exec ${P}$1 cat /sys/class/net/eth0/address; }
for pair in "a b 10.90.0.2" "b a 10.90.0.1" "c d 10.91.0.4" "d c 10.91.0.3"; do
  read -r from to addr <<<"$pair"
  ip -n ${P}$from neigh replace "$addr" lladdr "$(mac $to)" dev eth0 nud permanent
done

CAP_PID=""
# cap_start NS NAME: tcpdump in NS writes what eth0 receives to $T/NAME.pcap.
cap_start() {
  rm -f "$T/$2.pcap" "$T/$2.err"
  ip netns exec "$1" tcpdump -i eth0 -Q in -nn -U -s 256 -w "$T/$2.pcap" 2>"$T/$2.err" &
  CAP_PID=$!
  wait_for 20 "tcpdump in $1 listening" grep -q "listening on" "$T/$2.err"
}
cap_stop() {
  kill -INT "$CAP_PID" 2>/dev/null || true
  wait "$CAP_PID" 2>/dev/null || true
  CAP_PID=""
}
# The host side of a container's veth is an interface of the host, whose own
# stack talks on it (IPv6 router solicitations, MLD): the container receives
# that too. What kvnet sent is everything else.
not_host() {
  local f="" l
  for l in $(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep "^ct-$P"); do
    f="$f${f:+ or }ether src $(cat /sys/class/net/$l/address)"
  done
  echo "not ($f)"
}
# count NAME FILTER: packets from kvnet in $T/NAME.pcap that match a tcpdump filter.
count() { tcpdump -nn -r "$T/$1.pcap" "$(not_host)${2:+ and ($2)}" 2>/dev/null | wc -l; }
mirror_field() {  # mirror_field NAME KEY
  kctl --format json mirror list | python3 -c "import json,sys; print([m for m in json.load(sys.stdin) if m['name']=='$1'][0]['$2'])"
}
# The counter of mirror NAME equals what capture CAP holds (both settle: the
# last copies may still be on their way through the veth).
counters_match() { [ "$(mirror_field "$1" tx_packets)" = "$(count "$2")" ]; }
# wait_counters MIRROR CAP: until they match (10 s), else fail showing both.
wait_counters() {
  for _ in $(seq 1 100); do
    counters_match "$1" "$2" && return 0
    sleep 0.1
  done
  tcpdump -nn -e -r "$T/$2.pcap" 2>/dev/null | tail -20
  fail "mirror $1 counted $(mirror_field "$1" tx_packets) frames, tcpdump saw $(count "$2")"
}
# wait_counted_since MIRROR CAP C0 N: a mirror that existed before capture
# CAP began may have copied frames (ARP, IPv6) before it: only what it
# counted since C0 (read after the capture began) is held against CAP, until
# CAP holds N ICMP copies (10 s).
wait_counted_since() {
  for _ in $(seq 1 100); do
    [ $(($(mirror_field "$1" tx_packets) - $3)) -le "$(count "$2")" ] && [ "$(count "$2" icmp)" -ge "$4" ] && return 0
    sleep 0.1
  done
  tcpdump -nn -e -r "$T/$2.pcap" 2>/dev/null | tail -20
  fail "mirror $1 counted $(($(mirror_field "$1" tx_packets) - $3)) frames since capture $2 began, which holds $(count "$2") ($(count "$2" icmp) ICMP, $4 expected)"
}

# --- select_src_ports: what a receives, one direction only --------------------
cap_start ${P}ids src
kctl mirror add m1 --bridge br0 --src-port $A --output-port $IDS >"$T/out" || fail "mirror add m1"
grep -q "mirror m1 on bridge br0: src $A -> port $IDS" "$T/out" || { cat "$T/out"; fail "mirror add output"; }
ip netns exec ${P}a ping -n -q -c 5 -i 0.2 -W 1 10.90.0.2 >/dev/null || fail "a -> b with the mirror"
pings ${P}c 10.91.0.4 || fail "c -> d with the mirror"
wait_counters m1 src
cap_stop
[ "$(count src 'icmp[icmptype] == icmp-echo and src 10.90.0.1')" = 5 ] || { tcpdump -nn -e -r "$T/src.pcap"; fail "ids did not see a's 5 echo requests once each"; }
[ "$(count src 'icmp[icmptype] == icmp-echoreply')" = 0 ] || fail "ids saw replies: frames sent to a are not selected"
[ "$(count src "ether src $MAC_B")" = 0 ] || fail "ids saw frames b sent"
[ "$(count src 'net 10.91.0.0/24')" = 0 ] || fail "ids saw VLAN 20 traffic"
[ "$(count src 'vlan')" = 0 ] || fail "an access output port got tagged copies"
log "select_src_ports: a's 5 requests, no replies, counters = capture ($(mirror_field m1 tx_packets) frames, $(mirror_field m1 tx_bytes) bytes)"

# --- the output port is reserved --------------------------------------------------
# b's ARP broadcasts are flooded in VLAN 10 but never to the mirror's output,
# and what the ids container sends is dropped.
cap_start ${P}ids reserved
ip netns exec ${P}b ip neigh flush dev eth0
pings ${P}b 10.90.0.1 || fail "b -> a"
drops0=$(kctl --format json stats $IDS | python3 -c "import json,sys; print(json.load(sys.stdin)[0]['drops'].get('mirror_output', 0))")
no_ping ${P}ids 10.90.0.2 || fail "the mirror's output port could send to b"
drops1=$(kctl --format json stats $IDS | python3 -c "import json,sys; print(json.load(sys.stdin)[0]['drops'].get('mirror_output', 0))")
[ "$drops1" -gt "$drops0" ] || fail "what ids sends is not counted as mirror_output drops ($drops0 -> $drops1)"
cap_stop
[ "$(count reserved "ether src $MAC_B")" = 0 ] || { tcpdump -nn -e -r "$T/reserved.pcap"; fail "the output port received b's flood"; }
[ "$(count reserved 'icmp[icmptype] == icmp-echoreply and src 10.90.0.1')" = 3 ] || fail "a's replies to b (received on a) not mirrored"
expect_error "ct del of the ids container" 1 "is the output of mirror 'm1'" kctl ct del ${P}ids
log "output port: no floods, what it sends is dropped (mirror_output $drops1), its container not deletable under the mirror"

# --- trace shows the mirror step ----------------------------------------------------
MAC_A=$(ip netns exec ${P}a cat /sys/class/net/eth0/address)
kctl trace br0 in_port=$A dl_src=$MAC_A dl_dst=$MAC_B >"$T/trace" || fail "trace"
grep -q "mirror.*received on port $A in VLAN 10: mirror m1 -> port $IDS" "$T/trace" || { cat "$T/trace"; fail "trace lacks the mirror step"; }

# --- select_dst_ports: what a sends ----------------------------------------------------
kctl mirror del m1 >/dev/null || fail "mirror del m1"
cap_start ${P}ids dst
kctl mirror add m2 --bridge br0 --dst-port $A --output-port $IDS >/dev/null || fail "mirror add m2"
ip netns exec ${P}a ping -n -q -c 5 -i 0.2 -W 1 10.90.0.2 >/dev/null || fail "a -> b with m2"
wait_counters m2 dst
cap_stop
[ "$(count dst 'icmp[icmptype] == icmp-echoreply and src 10.90.0.2')" = 5 ] || { tcpdump -nn -e -r "$T/dst.pcap"; fail "ids did not see the 5 replies sent to a"; }
[ "$(count dst 'icmp[icmptype] == icmp-echo')" = 0 ] || fail "ids saw a's requests: frames a receives are not selected"
log "select_dst_ports: the 5 replies a was sent, no requests"

# --- select_vlans on a switch with two VLANs; one copy per frame -------------------
kctl mirror del m2 >/dev/null
cap_start ${P}ids vlans
kctl mirror add m3 --bridge br0 --all --vlan 20 --output-port $IDS >/dev/null || fail "mirror add m3"
pings ${P}a 10.90.0.2 || fail "a -> b with m3"
ip netns exec ${P}c ping -n -q -c 4 -i 0.2 -W 1 10.91.0.4 >/dev/null || fail "c -> d with m3"
wait_counters m3 vlans
cap_stop
# Each frame is received on one selected port and sent out another: one copy.
[ "$(count vlans 'icmp[icmptype] == icmp-echo and src 10.91.0.3')" = 4 ] || { tcpdump -nn -e -r "$T/vlans.pcap"; fail "VLAN 20 requests not mirrored exactly once"; }
[ "$(count vlans 'icmp[icmptype] == icmp-echoreply and src 10.91.0.4')" = 4 ] || fail "VLAN 20 replies not mirrored exactly once"
[ "$(count vlans 'net 10.90.0.0/24')" = 0 ] || fail "VLAN 10 traffic mirrored by a VLAN 20 mirror"
log "select_all + select_vlans 20: VLAN 20 both ways once each, nothing of VLAN 10"

# --- a trunk output port gets the frame's VLAN as a tag -------------------------
kctl mirror del m3 >/dev/null
kctl set port $IDS vlan_mode=trunk pvid=1 allowed=1 >/dev/null || fail "ids port to trunk"
cap_start ${P}ids trunk
kctl mirror add m4 --bridge br0 --src-port $A --src-port $C --output-port $IDS >/dev/null || fail "mirror add m4"
pings ${P}a 10.90.0.2 || fail "a -> b with m4"
pings ${P}c 10.91.0.4 || fail "c -> d with m4"
wait_counters m4 trunk
cap_stop
[ "$(count trunk 'vlan 10 and icmp[icmptype] == icmp-echo')" = 3 ] || { tcpdump -nn -e -r "$T/trunk.pcap"; fail "trunk output: VLAN 10 copies not tagged 10"; }
[ "$(count trunk 'vlan 20 and icmp[icmptype] == icmp-echo')" = 3 ] || fail "trunk output: VLAN 20 copies not tagged 20"
[ "$(count trunk 'not vlan')" = 0 ] || fail "trunk output: untagged copies of tagged VLANs"
log "trunk output port: copies tagged with their VLAN (10 and 20)"

# --- output_vlan: RSPAN into VLAN 99, seen tagged on a trunk ----------------------
kctl mirror del m4 >/dev/null
kctl ct add ${P}r --bridge br0 vlan_mode=trunk pvid=1 allowed=1,99 >/dev/null
ip netns exec ${P}r sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.eth0.disable_ipv6=1
cap_start ${P}r rspan
kctl mirror add m5 --bridge br0 --src-port $A --output-vlan 99 >"$T/out" || fail "mirror add m5"
grep -q -- "-> vlan 99" "$T/out" || { cat "$T/out"; fail "mirror add m5 output"; }
ip netns exec ${P}a ping -n -q -c 5 -i 0.2 -W 1 10.90.0.2 >/dev/null || fail "a -> b with m5"
wait_counters m5 rspan
cap_stop
[ "$(count rspan 'vlan 99 and icmp[icmptype] == icmp-echo and src 10.90.0.1')" = 5 ] || { tcpdump -nn -e -r "$T/rspan.pcap"; fail "the trunk did not get a's requests in VLAN 99"; }
[ "$(count rspan 'not vlan 99')" = 0 ] || fail "the trunk got something else than VLAN 99 copies"
log "output_vlan 99: a's frames flooded tagged 99 to the trunk"

# --- mirror del stops it ---------------------------------------------------------------
kctl mirror del m5 --bridge br0 >/dev/null || fail "mirror del m5"
cap_start ${P}r stopped
pings ${P}a 10.90.0.2 || fail "a -> b after mirror del"
cap_stop
[ "$(count stopped 'icmp')" = 0 ] || fail "copies after mirror del"
kctl --format json mirror list | grep -q '^\[\]$' || fail "mirror list not empty after del"
log "mirror del: no more copies"

# --- YAML: apply adds, export round trip ------------------------------------------------
kctl set port $IDS vlan_mode=access pvid=10 >/dev/null
kctl export >"$T/base.yaml"
python3 - "$T/base.yaml" "$T/with.yaml" "$A" "$B" "$IDS" <<'EOF'
import sys
src, dst, a, b, ids = sys.argv[1:]
lines = open(src).read().split('\n')
out = []
for l in lines:
    out.append(l)
    if l.startswith('  - name: br0'):
        out += ['    mirrors:',
                f'      - {{name: ym, select_src_ports: [{a}], select_dst_ports: [{a}], select_vlans: [10], output_port: {ids}}}']
open(dst, 'w').write('\n'.join(out))
EOF
kctl apply "$T/with.yaml" >"$T/out" || { cat "$T/out"; fail "apply with a mirror"; }
grep -q "+ mirror br0/ym" "$T/out" || { cat "$T/out"; fail "apply did not plan '+ mirror br0/ym'"; }
kctl export >"$T/exported.yaml"
grep -q "{name: ym, select_src_ports: \[$A\], select_dst_ports: \[$A\], select_vlans: \[10\], output_port: $IDS}" "$T/exported.yaml" || { cat "$T/exported.yaml"; fail "export lacks the mirror"; }
kctl --format json apply "$T/exported.yaml" >"$T/out" || { cat "$T/out"; fail "apply of the export"; }
grep -q '"changed": false' "$T/out" || { cat "$T/out"; fail "the export applied again changed something"; }
kctl show | grep -q "Mirror ym" || fail "show lacks the mirror"
cap_start ${P}ids yaml
c0=$(mirror_field ym tx_packets)
ip netns exec ${P}a ping -n -q -c 3 -i 0.2 -W 1 10.90.0.2 >/dev/null || fail "a -> b with ym"
wait_counted_since ym yaml "$c0" 6
cap_stop
[ "$(count yaml 'icmp[icmptype] == icmp-echo')" = 3 ] && [ "$(count yaml 'icmp[icmptype] == icmp-echoreply')" = 3 ] \
  || { tcpdump -nn -e -r "$T/yaml.pcap"; fail "the applied mirror did not copy both directions once"; }
log "YAML: apply plans '+ mirror', export round trip, the mirror works"

# --- bad input changes nothing -------------------------------------------------------
kctl add-br hub0 type=hub >/dev/null
kctl add-port hub0 ${P}h1 type=internal >/dev/null
kctl export >"$T/before.yaml"
expect_error "unknown port" 1 "mirror 'x': select_src_ports: port 'nope' is not a port of bridge 'br0'" \
  kctl mirror add x --bridge br0 --src-port nope --output-port $IDS
expect_error "port of another bridge" 1 "port '${P}h1' is a port of bridge 'hub0', not of 'br0'" \
  kctl mirror add x --bridge br0 --src-port ${P}h1 --output-port $IDS
expect_error "output port also selected" 1 "output_port '$IDS' is also selected (select_dst_ports)" \
  kctl mirror add x --bridge br0 --dst-port $IDS --output-port $IDS
expect_error "output port selected by another mirror" 1 "port '$IDS' is the output of mirror 'ym'" \
  kctl mirror add x --bridge br0 --src-port $IDS --output-port $B
expect_error "both outputs" 2 "give one output" kctl mirror add x --bridge br0 --all --output-port $IDS --output-vlan 5
expect_error "no output" 2 "give one output" kctl mirror add x --bridge br0 --all
expect_error "selects nothing" 1 "mirror 'x': selects nothing" kctl mirror add x --bridge br0 --output-port $IDS
expect_error "VLAN out of range" 1 "VLAN '5000' is out of range 1-4094" kctl mirror add x --bridge br0 --all --vlan 5000 --output-port $IDS
expect_error "output VLAN out of range" 2 "--output-vlan" kctl mirror add x --bridge br0 --all --output-vlan 4095
expect_error "output_vlan on a hub" 1 "output_vlan applies to switch bridges; bridge 'hub0' is a hub" \
  kctl mirror add x --bridge hub0 --all --output-vlan 5
expect_error "duplicate name" 1 "mirror 'ym' already exists on bridge 'br0'" kctl mirror add ym --bridge hub0 --all --output-port ${P}h1
expect_error "unknown bridge" 1 "bridge 'nobr' does not exist" kctl mirror add x --bridge nobr --all --output-port $IDS
expect_error "del unknown" 1 "mirror 'nope' does not exist" kctl mirror del nope
expect_error "del on the wrong bridge" 1 "mirror 'ym' does not exist on bridge 'hub0'" kctl mirror del ym --bridge hub0
sed 's/output_port: '"$IDS"'}/output_port: '"$IDS"', output_vlan: 7}/' "$T/exported.yaml" >"$T/bad.yaml"
expect_error "YAML with both outputs" 1 "mirror 'ym': output_port and output_vlan exclude each other" kctl apply "$T/bad.yaml"
sed 's/select_vlans: \[10\]/select_vlans: [10, 4095]/' "$T/exported.yaml" >"$T/bad2.yaml"
expect_error "YAML VLAN out of range" 1 "select_vlans: VLAN '4095' is out of range 1-4094" kctl apply "$T/bad2.yaml"
kctl export >"$T/after.yaml"
diff -u "$T/before.yaml" "$T/after.yaml" || fail "bad input changed the configuration"
kctl mirror list >"$T/out"
grep -q "^ym .*port $IDS" "$T/out" || { cat "$T/out"; fail "mirror list (human)"; }
log "bad input: every rule refused with its message, configuration unchanged"

# --- restart: mirrors come back from the store ------------------------------------
kvd_stop
kvd_start
kctl --format json mirror list | grep -q '"name": "ym"' || fail "the mirror did not survive a restart"
cap_start ${P}ids restarted
# The restored mirror copied what the containers sent before the capture
# started (ARP, IPv6): only what it counted since is held against the capture.
c0=$(mirror_field ym tx_packets)
ip netns exec ${P}a ping -n -q -c 2 -i 0.2 -W 1 10.90.0.2 >/dev/null || fail "a -> b after restart"
wait_counted_since ym restarted "$c0" 4
cap_stop
[ "$(count restarted 'icmp')" = 4 ] || { tcpdump -nn -e -r "$T/restarted.pcap"; fail "restored mirror: expected 4 ICMP copies"; }
log "restart: the mirror is restored and copies again"
log "PASS"
