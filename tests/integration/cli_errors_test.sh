#!/usr/bin/env bash
# Bad input through the CLI: every validation rule gives a clear error naming
# the object and the rule, a non-zero exit, and changes nothing (database and
# exported configuration byte for byte the same).
source "$(dirname "$0")/lib.sh" "$@"

expect_error "no daemon" 1 "is kvnetd running?" kctl show
kvd_start
kctl add-br br0 >/dev/null
kctl add-br hub0 type=hub >/dev/null
kctl add-port br0 ${P}i type=internal vlan_mode=access pvid=10 >/dev/null
kctl add-port br0 ${P}p type=patch peer=hub0/${P}q >/dev/null
kctl add-port hub0 ${P}q type=patch peer=br0/${P}p >/dev/null
ip link add ${P}v type veth peer name ${P}w

snapshot() { sqlite3 "$T/kvnet.db" .dump; kctl export; }
BASE=$(snapshot)
unchanged() {
  [ "$(snapshot)" = "$BASE" ] || { diff <(echo "$BASE") <(snapshot) | head; fail "$1 changed the configuration"; }
}
bad() {  # description, expected code, message fragment, kvnetctl args...
  local d=$1 code=$2 frag=$3
  shift 3
  expect_error "$d" "$code" "$frag" kctl "$@"
  unchanged "$d"
}

bad "existing bridge" 1 "bridge 'br0' already exists" add-br br0
bad "bridge type" 1 "bridge 'x1': type 'router' is unknown (switch, learning, hub)" add-br x1 type=router
bad "bridge name" 1 "must be 1-15 characters" add-br this-name-is-far-too-long
bad "bridge name chars" 1 "may only hold letters" add-br 'a/b'
bad "mac_aging on a hub" 1 "'mac_aging' applies to learning and switch bridges, not hubs" set bridge hub0 mac_aging=10
bad "mac_aging range" 1 "mac_aging 0 is out of range 1-1000000" set bridge br0 mac_aging=0
bad "mac_table_size not a number" 1 "mac_table_size 'lots' is not an integer" set bridge br0 mac_table_size=lots
bad "unknown bridge key" 1 "'colour' cannot be set" set bridge br0 colour=red
bad "port on missing bridge" 1 "bridge 'nobr' does not exist" add-port nobr ${P}v
bad "pvid range" 1 "port '${P}v': pvid 4095 is out of range 1-4094" add-port br0 ${P}v vlan_mode=access pvid=4095
bad "pvid zero" 1 "pvid 0 is out of range 1-4094" add-port br0 ${P}v pvid=0
bad "missing interface" 1 "interface '${P}none' does not exist" add-port br0 ${P}none
bad "vlan_mode" 1 "vlan_mode 'sideways' is unknown" add-port br0 ${P}v vlan_mode=sideways
bad "allowed on access" 1 "'allowed' applies to trunk" add-port br0 ${P}v vlan_mode=access allowed=10
bad "allowed out of range" 1 "VLAN '5000' is out of range 1-4094" add-port br0 ${P}v vlan_mode=trunk allowed=10,5000
bad "empty range" 1 "VLAN range '30-20' is empty" add-port br0 ${P}v vlan_mode=trunk allowed=30-20
bad "hybrid overlap" 1 "are in both 'tagged' and 'untagged'" add-port br0 ${P}v vlan_mode=hybrid tagged=20 untagged=20
bad "tagged on trunk" 1 "apply to hybrid ports only" add-port br0 ${P}v vlan_mode=trunk tagged=20
bad "vlan keys on a hub" 1 "'pvid' applies to ports of switch bridges, not hub bridges" add-port hub0 ${P}v pvid=5
bad "mtu range" 1 "mtu 10 is out of range 68-9216" add-port br0 ${P}v mtu=10
bad "port type" 1 "type 'wormhole' is unknown" add-port br0 ${P}v type=wormhole
bad "unknown port key" 1 "unknown key 'speed'" add-port br0 ${P}v speed=10G
bad "patch without peer" 1 "a patch port needs 'peer: BRIDGE/PORT'" add-port br0 ${P}z type=patch
bad "patch peer syntax" 1 "peer 'x' must be BRIDGE/PORT" add-port br0 ${P}z type=patch peer=x
bad "patch peer not a patch" 1 "is a internal port, not a patch port" add-port hub0 ${P}z type=patch peer=br0/${P}i
bad "patch peer taken" 1 "names 'hub0/${P}q' as its peer, not this port" add-port hub0 ${P}z type=patch peer=br0/${P}p
bad "duplicate port" 1 "port '${P}i' already exists on bridge 'br0'" add-port hub0 ${P}i type=internal
bad "set missing port" 1 "port 'nope' does not exist" set port nope pvid=3
bad "set type" 1 "the type cannot be changed" set port ${P}i type=system
bad "set bad pvid" 1 "pvid 5000 is out of range 1-4094" set port ${P}i pvid=5000
bad "del missing bridge" 1 "bridge 'nobr' does not exist" del-br nobr
bad "del missing port" 1 "port 'nope' does not exist" del-port nope
bad "fdb bad mac" 1 "mac 'zz:zz' is not a MAC address" fdb-add br0 10 zz:zz ${P}i
bad "fdb vlan not carried" 1 "port '${P}i' does not carry VLAN 20" fdb-add br0 20 02:00:00:00:00:01 ${P}i
bad "fdb missing port" 1 "port 'nope' is not a port of this bridge" fdb-add br0 10 02:00:00:00:00:01 nope
bad "fdb multicast" 1 "must be a unicast MAC" fdb-add br0 10 01:00:5e:00:00:01 ${P}i
bad "fdb-show hub" 1 "bridge 'hub0' is a hub: it has no FDB" fdb-show hub0
bad "stats missing port" 1 "port 'nope' does not exist" stats nope
bad "trace without in_port" 2 "in_port=PORT is required" trace br0 dl_src=02:00:00:00:00:01
bad "trace bad field" 1 "unknown flow field 'colour'" trace br0 in_port=${P}i colour=red
bad "trace wrong bridge" 1 "in_port '${P}q' is not a port of bridge 'br0'" trace br0 in_port=${P}q
bad "container bad ip" 1 "container '${P}c': ip '10.0.0.1' must be ADDRESS/PREFIX" ct add ${P}c --bridge br0 --ip 10.0.0.1
bad "container missing bridge" 1 "bridge 'nobr' does not exist" ct add ${P}c --bridge nobr
bad "container bad mac" 1 "must be a unicast MAC" ct add ${P}c --bridge br0 --mac ff:ff:ff:ff:ff:ff
bad "container bad port option" 1 "pvid 9999 is out of range" ct add ${P}c --bridge br0 pvid=9999
bad "container gw with dhcp" 1 "container '${P}c': 'gw' cannot go with ip=dhcp: the DHCP lease gives the default route" \
  ct add ${P}c --bridge br0 --ip dhcp --gw 10.0.0.1
# Options that take several values take one per use (or a comma list): the
# words after them are not swallowed as more values.
bad "--sg given a port option" 2 "--sg takes a security group's name, not 'vlan_mode=access'" \
  ct add ${P}c --bridge br0 --sg vlan_mode=access pvid=101
bad "--sg one name per use" 1 "security group 'nosg1' does not exist" ct add ${P}c --bridge br0 --sg nosg1 pvid=101
bad "--sg comma list" 1 "security group 'nosg2' does not exist" ct add ${P}c --bridge br0 --sg=nosg2,nosg3
bad "--forward one per use" 2 "strayword" gw add ${P}g --bridge br0 --ip 10.77.0.1/24 --forward tcp:81:10.77.0.2:80 strayword
bad "--nic one per use" 2 "strayword" vm add ${P}m --nic bridge=br0 strayword
bad "--src-port one per use" 2 "strayword" mirror add ${P}r --bridge br0 --src-port ${P}i strayword --output-vlan 9
ip netns list | grep -q "^${P}c" && fail "a failed ct add left a namespace behind"
bad "ct del missing" 1 "container 'nope' does not exist" ct del nope
bad "usage: missing argument" 2 "bridge is required" add-port
bad "usage: not KEY=VALUE" 2 "'pvid' is not KEY=VALUE" add-port br0 ${P}v pvid
bad "usage: unknown verb" 2 "" frobnicate
bad "usage: bad format" 2 "kvnetctl show: --format 'yaml' is unknown (human, json)" --format yaml show
# CLI11's own words never reach the user: kvnet's name the command typed, the
# problem and the valid choices.
bad "usage: no command" 2 "kvnetctl: a command is missing: add-br, add-flow, add-flows, add-port,"
bad "usage: no group command" 2 "kvnetctl ct: a command is missing: add, del, exec, list or show; see kvnetctl ct --help" ct
bad "usage: get's table" 2 "kvnetctl get: table 'Frob' is unknown (port, bridge)" get Frob ${P}i tag
bad "usage: vlan range" 2 "kvnetctl fdb-add: vlan 5000 is out of range 0-4094" fdb-add br0 5000 02:00:00:00:00:01 ${P}i
bad "usage: vlan not a number" 2 "kvnetctl fdb-add: vlan 'ten' is not a number" fdb-add br0 ten 02:00:00:00:00:01 ${P}i
bad "usage: positive" 2 "--timeout -3 must be positive" --timeout -3 list-br
bad "usage: extra argument" 2 "kvnetctl list-br: unexpected argument(s): extra" list-br extra
for args in "" "ct" "get Port x y" "fdb-add br0 5000 02:00:00:00:00:01 x" "--format yaml show" "list-br extra" \
  "vm add v --vcpus 0"; do
  set +e
  # shellcheck disable=SC2086
  kctl $args >"$T/out" 2>&1
  set -e
  grep -qE "subcommand|not in \{|not in range|Value |Run with --help|could not be converted" "$T/out" &&
    { cat "$T/out"; fail "kvnetctl $args: CLI11's own message leaks through"; }
done
"$BIN/kvnetd" --log-level loud 2>"$T/out" && fail "kvnetd accepted --log-level loud"
grep -q "^kvnetd: --log-level 'loud' is unknown (debug, info, warn, warning, error)" "$T/out" ||
  { cat "$T/out"; fail "kvnetd's usage error"; }
"$BIN/kvnet" 2>"$T/out" && fail "kvnet without a command succeeded"
grep -q "^kvnet: a command is missing: draw, pcap-gen, replay, trace or validate" "$T/out" ||
  { cat "$T/out"; fail "kvnet's usage error"; }
for prog in kvnetctl kvnetd kvnet; do
  # Read whole first: `grep -q` leaving early would end the writer with
  # SIGPIPE, which pipefail reports as a failure (a long help is several writes).
  "$BIN/$prog" --help >"$T/help" || fail "$prog --help exited with $?"
  grep -q "^Usage: $prog " "$T/help" || { head -3 "$T/help"; fail "$prog --help names no program"; }
done

cat >"$T/bad.yaml" <<'YAML'
bridges:
  - name: br0
    ports:
      - {name: x1, type: internal, vlan_mode: trunk, allowed: [1, 4095]}
YAML
bad "apply bad file" 1 "bad.yaml:4:" apply "$T/bad.yaml"
bad "apply bad file names the rule" 1 "bridge 'br0': port 'x1': allowed: VLAN '4095' is out of range 1-4094" apply "$T/bad.yaml"
bad "apply missing file" 1 "cannot open" apply "$T/none.yaml"
printf 'bridges: [\n' >"$T/broken.yaml"
bad "apply broken YAML" 1 "invalid YAML" apply "$T/broken.yaml"
# A file whose resources cannot be opened changes nothing either.
printf 'bridges:\n  - name: br9\n    ports: [{name: %s, type: system}]\n' "${P}none" >"$T/noif.yaml"
bad "apply missing interface" 1 "interface '${P}none' does not exist" apply "$T/noif.yaml"
kctl show | grep -q "Bridge br9" && fail "half-applied: br9 exists"
printf 'bridges:\n  - name: br9\n    ports: [{name: %s, type: tap, persistent: true}, {name: %s, type: system}]\n' \
  "${P}pt" "${P}none" >"$T/noif2.yaml"
bad "apply failing after a persistent TAP was opened" 1 "interface '${P}none' does not exist" apply "$T/noif2.yaml"
ip link show ${P}pt >/dev/null 2>&1 && fail "a failed apply left its persistent TAP behind"

# And the good path still works after all that.
expect_ok "add a valid port" kctl add-port br0 ${P}v vlan_mode=trunk allowed=10,20-30
kctl export | grep -q "allowed: \[10, 20-30\]" || fail "export lacks the new port"
kctl export >"$T/now.yaml"
expect_ok "apply own export" kctl apply "$T/now.yaml"
grep -q "no change" "$T/out" || { cat "$T/out"; fail "apply of the current configuration was not a no-op"; }
# Verbs as OVS users type them: an unknown one is named with the closest
# known one; ovs-vsctl's lookups.
BASE=$(snapshot)
bad "unknown verb" 2 "kvnetctl: unknown command 'list-port'; did you mean 'list-ports'?" list-port br0
bad "unknown verb after options" 2 "unknown command 'fdb/show'; did you mean 'fdb-show'?" --format json fdb/show br0
bad "unknown group verb" 2 "unknown command 'vm strat'; did you mean 'vm start'?" vm strat x
bad "nothing like it" 2 "unknown command 'frobnicate' (kvnetctl --help lists them)" frobnicate
expect_ok "help" kctl help
grep -q "list-ports" "$T/out" || fail "help does not list the verbs"
[ "$(kctl list-ports br0)" = "$(printf '%s\n' ${P}i ${P}p ${P}v | sort)" ] || fail "list-ports br0: $(kctl list-ports br0)"
[ "$(kctl --format json list-ports hub0 | python3 -c 'import json,sys; print(json.load(sys.stdin))')" = "['${P}q']" ] ||
  fail "list-ports --format json"
[ "$(kctl port-to-br ${P}q)" = hub0 ] || fail "port-to-br"
bad "port-to-br of no port" 1 "port 'nosuch' does not exist" port-to-br nosuch
bad "list-ports of no bridge" 1 "bridge 'nobr' does not exist" list-ports nobr
kctl br-exists br0 || fail "br-exists br0"
set +e; kctl br-exists nobr; rc=$?; set -e
[ "$rc" = 2 ] || fail "br-exists of a missing bridge: exit $rc, expected 2"
# Errors under --format json are JSON (on stderr); a frozen kvnetd is given up
# on after --timeout.
set +e
kctl --format json list-ports nobr 2>"$T/err" >/dev/null
rc=$?
set -e
[ "$rc" = 1 ] || fail "json error: exit $rc"
python3 -c 'import json,sys; e=json.load(open(sys.argv[1])); assert e=={"error":"bridge '"'"'nobr'"'"' does not exist","exit":1}, e' "$T/err" ||
  fail "the error under --format json is not JSON: $(cat "$T/err")"
kill -STOP "$KVD_PID"
expect_error "frozen kvnetd" 1 "kvnetd did not answer within 1 s (--timeout)" kctl --timeout 1 list-br
kill -CONT "$KVD_PID"
expect_error "bad --timeout" 2 "--timeout" kctl --timeout -3 list-br
expect_ok "kvnetd answers again" kctl list-br
log "PASS"
