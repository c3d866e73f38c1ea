#!/usr/bin/env bash
# The CLI as OVS and iproute2 users type it (issue 10): `get`, OVS's tag= and
# trunks=, kvnet's documented default VLAN, mtu= on the kernel device, a
# dangling patch port marked, non-Ethernet devices refused, VLANs on learning
# bridges refused, warnings for duplicates and address clashes, the hint for a
# container name too long for its port, del-br with containers.
source "$(dirname "$0")/lib.sh" "$@"

kvd_start
kctl add-br br0 >/dev/null
kctl add-br lb type=learning >/dev/null
snapshot() { sqlite3 "$T/kvnet.db" .dump; kctl export; }
bad() {  # description, expected code, message fragment, kvnetctl args...
  local d=$1 code=$2 frag=$3 base
  shift 3
  base=$(snapshot)
  expect_error "$d" "$code" "$frag" kctl "$@"
  [ "$(snapshot)" = "$base" ] || fail "$d changed the configuration"
}
get() { kctl get "$@"; }

# --- the default VLAN: documented, and `show` says it
kctl add-port br0 ${P}d type=internal >/dev/null
[ "$(get port ${P}d vlan_mode)" = access ] && [ "$(get port ${P}d pvid)" = 1 ] || fail "default VLAN: not access 1"
kctl show | grep -A2 "Port ${P}d" | grep -q "vlan_mode: access  pvid: 1  (default)" || { kctl show; fail "show does not mark the default VLAN"; }
kctl --format json show | python3 -c '
import json,sys
p=[p for b in json.load(sys.stdin)["bridges"] for p in b["ports"] if p["name"]==sys.argv[1]][0]
assert p["vlan_default"] is True, p' ${P}d || fail "show json: vlan_default"

# --- OVS's tag= and trunks=
kctl add-port br0 ${P}a type=internal tag=10 >/dev/null
[ "$(get port ${P}a vlan_mode)/$(get port ${P}a pvid)" = access/10 ] || fail "tag=10 is not access 10"
kctl show | grep -A2 "Port ${P}a" | grep -q "(default)" && fail "a tagged port is shown as default"
kctl add-port br0 ${P}t type=internal trunks=10,20-22 >/dev/null
[ "$(get port ${P}t vlan_mode)/$(get port ${P}t allowed)" = trunk/10,20-22 ] || fail "trunks= is not a trunk"
kctl set port ${P}a tag=30 >/dev/null
[ "$(get port ${P}a pvid)" = 30 ] || fail "set port tag=30"
kctl add-port br0 ${P}n type=internal vlan_mode=native-untagged tag=5 trunks=5,6 >/dev/null
[ "$(get port ${P}n vlan_mode)/$(get port ${P}n pvid)/$(get port ${P}n allowed)" = native-untagged/5/5-6 ] ||
  fail "tag+trunks with vlan_mode"
bad "tag and trunks without vlan_mode" 1 "'tag' with 'trunks' needs a vlan_mode" add-port br0 ${P}x type=internal tag=5 trunks=5,6
bad "tag and pvid" 1 "'tag' is OVS's name for 'pvid': give one of them" add-port br0 ${P}x type=internal tag=5 pvid=5
bad "trunks and allowed" 1 "'trunks' is OVS's name for 'allowed'" set port ${P}t trunks=1 allowed=2

# --- get
[ "$(get port ${P}d type)" = internal ] || fail "get type"
[ "$(get port ${P}d bridge)" = br0 ] || fail "get bridge"
[ "$(get port ${P}d mtu)" = 1500 ] || fail "get mtu"
[ "$(get bridge br0 mac_aging)" = 300 ] || fail "get bridge mac_aging"
[ "$(get bridge lb type)" = learning ] || fail "get bridge type"
[ "$(kctl --format json get port ${P}a pvid | python3 -c 'import json,sys; print(json.load(sys.stdin)["value"])')" = 30 ] ||
  fail "get --format json"
bad "get unknown key" 1 "port '${P}d' has no key 'colour' (name, type, bridge, mtu" get port ${P}d colour
bad "get missing port" 1 "port 'nosuch' does not exist" get port nosuch pvid
bad "get missing bridge" 1 "bridge 'nosuch' does not exist" get bridge nosuch type
bad "get bad table" 2 "table" get frob ${P}d mtu
[ "$(kctl get interface ${P}d mtu)" = 1500 ] || fail "ovs-vsctl's get interface P mtu: $(kctl get interface ${P}d mtu)"

# --- mtu= is the kernel MTU of the devices kvnet owns (TAP, internal)
kernel_mtu() { cat /sys/class/net/$1/mtu; }
kctl add-port br0 ${P}m type=internal mtu=9000 >/dev/null
[ "$(kernel_mtu ${P}m)" = 9000 ] || fail "internal port mtu=9000: kernel MTU $(kernel_mtu ${P}m)"
kctl set port ${P}m mtu=1400 >/dev/null
[ "$(kernel_mtu ${P}m)" = 1400 ] || fail "set port mtu=1400: kernel MTU $(kernel_mtu ${P}m)"
kctl add-port br0 ${P}v type=tap mtu=4000 >/dev/null
[ "$(kernel_mtu ${P}v)" = 4000 ] || fail "tap port mtu=4000: kernel MTU $(kernel_mtu ${P}v)"
kctl set port ${P}v mtu= >/dev/null
[ "$(kernel_mtu ${P}v)" = 1500 ] || fail "mtu back to the default: kernel MTU $(kernel_mtu ${P}v)"
bad "mtu out of range" 1 "mtu 70000 is out of range" set port ${P}m mtu=70000
[ "$(kernel_mtu ${P}m)" = 1400 ] || fail "a refused mtu changed the kernel MTU"

# --- a patch port whose peer is gone is marked
kctl add-port br0 ${P}p type=patch peer=lb/${P}q >/dev/null
kctl add-port lb ${P}q type=patch peer=br0/${P}p >/dev/null
kctl show | grep -A1 "Port ${P}p" | grep -q DANGLING && fail "a connected patch port is marked dangling"
kctl del-port ${P}q >/dev/null
kctl show | grep -A1 "Port ${P}p" | grep -q "DANGLING: the peer port does not exist" || { kctl show; fail "dangling patch not marked"; }
kctl --format json show | grep -q '"dangling": true' || fail "show json lacks dangling"

# --- only Ethernet devices can be ports
bad "loopback as a port" 1 "interface 'lo' is not an Ethernet interface (link type loopback)" add-port br0 lo
ip tuntap add ${P}l3 mode tun
bad "an L3 tun as a port" 1 "is not an Ethernet interface (link type none" add-port br0 ${P}l3

# --- static entries on a learning bridge have no VLAN
kctl add-port lb ${P}i type=internal >/dev/null
bad "fdb-add with a VLAN on a learning bridge" 1 "VLAN 10 given, but a learning bridge has no VLANs: give VLAN 0" \
  fdb-add lb 10 02:00:00:00:00:01 ${P}i
expect_ok "fdb-add VLAN 0 on a learning bridge" kctl fdb-add lb 0 02:00:00:00:00:01 ${P}i

# --- warnings: accepted, said once, on stderr (JSON: in the result)
kctl add-port br0 ${P}w type=internal vlan_mode=trunk allowed=10,10,11,9-12 2>"$T/err" >/dev/null
grep -q "kvnetctl: warning: bridge 'br0': port '${P}w': 'allowed' lists VLAN 10-11 more than once" "$T/err" ||
  { cat "$T/err"; fail "no warning for a VLAN listed twice"; }
kctl --format json set port ${P}w allowed=7,7 2>"$T/err" >"$T/out"
grep -q "lists VLAN 7 more than once" "$T/out" || { cat "$T/out"; fail "warning not in the JSON result"; }
[ -s "$T/err" ] && fail "--format json printed the warning on stderr too"
kctl ct add ${P}c1 --bridge br0 --ip 10.9.0.1/24 --mac 02:00:00:00:aa:01 vlan_mode=access pvid=10 2>"$T/err" >/dev/null
[ -s "$T/err" ] && { cat "$T/err"; fail "a warning without a clash"; }
kctl ct add ${P}c2 --bridge br0 --ip 10.9.0.1/24 vlan_mode=access pvid=20 2>"$T/err" >/dev/null
[ -s "$T/err" ] && { cat "$T/err"; fail "warned about the same IP in another VLAN"; }
kctl ct add ${P}c3 --bridge br0 --ip 10.9.0.1/24 --mac 02:00:00:00:aa:01 vlan_mode=access pvid=10 2>"$T/err" >/dev/null
grep -q "warning: container '${P}c1' and container '${P}c3' both have IP address 10.9.0.1 in VLAN 10 of bridge 'br0'" "$T/err" ||
  { cat "$T/err"; fail "no warning for the same IP in one VLAN"; }
grep -q "both have MAC 02:00:00:00:aa:01 in VLAN 10 of bridge 'br0'" "$T/err" || { cat "$T/err"; fail "no warning for the same MAC"; }
# Said once: a later unrelated change does not repeat it.
kctl add-port br0 ${P}z type=internal 2>"$T/err" >/dev/null
[ -s "$T/err" ] && { cat "$T/err"; fail "an old warning was repeated"; }

# --- a container name too long for its port name gets a hint
long=${P}abcdefghi  # 15 characters: ct-NAME is cut to 15
kctl ct add $long --bridge br0 2>"$T/err" >/dev/null
grep -q "its port is 'ct-${P}abcdef' (the default port name 'ct-$long' is cut to 15 characters: name one with --port)" "$T/err" ||
  { cat "$T/err"; fail "no hint for a cut port name"; }
bad "a second cut name clashes" 1 "port 'ct-${P}abcdef' already exists (the default port name 'ct-${P}abcdefxyz' is cut to 15 characters: name one with --port)" \
  ct add ${P}abcdefxyz --bridge br0
expect_ok "with --port it works" kctl ct add ${P}abcdefxyz --bridge br0 --port ${P}ctp

# --- ovs-vsctl's own command lines, pasted (no --ovsdb needed): one change each
expect_ok "an ovs-vsctl chain" kctl -- --may-exist add-port br0 ${P}o -- set Interface ${P}o type=internal \
  -- set Port ${P}o tag=7 -- set Interface ${P}o external-ids:iface-id=ovs-o
[ "$(get port ${P}o vlan_mode)/$(get port ${P}o pvid)" = access/7 ] || fail "the chain's tag: not access 7"
[ "$(kctl get Interface ${P}o external_ids:iface-id)" = ovs-o ] || fail "get Interface external_ids:iface-id"
[ "$(kctl --bare --columns=name find Port tag=7)" = ${P}o ] || fail "find Port tag=7: $(kctl --bare --columns=name find Port tag=7)"
kctl list Interface ${P}o | grep -q '^type *: internal$' || fail "list Interface: type"
kctl show | grep -A4 "Port ${P}o" | grep -q "external_ids: iface-id=ovs-o" || fail "show lacks the external id"
bad "a chain kvnet refuses changes nothing" 1 "pvid 4095" -- set Port ${P}o tag=4095 -- set Interface ${P}o external-ids:x=y
bad "what kvnetctl does not take is named" 1 "ovs-vsctl's option '--fake' is not taken" -- --fake list-br
expect_ok "ovs-vsctl's del-port" kctl -- del-port ${P}o

# --- del-br of a bridge with containers
bad "del-br with containers" 1 "bridge 'br0' has containers '${P}c1', '${P}c2', '${P}c3'" del-br br0
kctl del-br br0 --with-containers >/dev/null
[ "$(kctl ct list | grep -c "$P")" = 0 ] || fail "del-br --with-containers left containers"
ip netns list | grep -q "^${P}c1" && fail "del-br --with-containers left a namespace"
log "PASS"
