#!/usr/bin/env bash
# Pictures: `kvnet draw` on the example topologies (SVG that xmllint accepts,
# PNG, DOT that Graphviz's own `dot` reads), a bad -o extension refused;
# `kvnetctl draw` of a live kvnetd (a deleted patch peer drawn dangling, an
# interface that went away drawn down); `trace --draw` highlighting a path
# and a drop point, live and offline.
source "$(dirname "$0")/lib.sh" "$@"

# svg_check FILE ID:CLASS | ID:!CLASS | ID:=TEXT ...: the SVG element with id
# ID has (or lacks) CLASS in its class list, or has TEXT in its text.
svg_check() {
  python3 - "$@" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = "{http://www.w3.org/2000/svg}"
els = {g.get("id"): g for g in root.iter(ns + "g") if g.get("id")}
bad = []
for want in sys.argv[2:]:
    i = want.rindex(":")
    eid, what = want[:i], want[i + 1:]
    if eid not in els:
        bad.append(f"no element with id {eid!r}")
        continue
    g = els[eid]
    classes = (g.get("class") or "").split()
    text = " ".join(t.text or "" for t in g.iter(ns + "text"))
    if what.startswith("!"):
        ok = what[1:] not in classes
    elif what.startswith("="):
        ok = what[1:] in text
    else:
        ok = what in classes
    if not ok:
        bad.append(f"{eid}: expected {what}; class={classes} text={text!r}")
if bad:
    print("\n".join(bad))
    sys.exit(1)
PY
}
is_png() { file "$1" | grep -q "PNG image data"; }
well_formed() { xmllint --noout "$1"; }

# --- offline: every example topology, in each format ---
for ex in compute-node compute-node-vms compute-node-live two-hosts-vxlan; do
  host=()
  [ "$ex" = two-hosts-vxlan ] && host=(--host host1)
  f="$SRC/examples/$ex.yaml"
  expect_ok "kvnet draw $ex svg" "$BIN/kvnet" draw "$f" "${host[@]}" -o "$T/$ex.svg"
  well_formed "$T/$ex.svg" || fail "$ex.svg is not well-formed XML"
  expect_ok "kvnet draw $ex png" "$BIN/kvnet" draw "$f" "${host[@]}" -o "$T/$ex.png"
  is_png "$T/$ex.png" || fail "$ex.png is not a PNG: $(file "$T/$ex.png")"
  expect_ok "kvnet draw $ex dot" "$BIN/kvnet" draw "$f" "${host[@]}" -o "$T/$ex.dot"
  "$BIN/kvnet" draw "$f" "${host[@]}" >"$T/$ex.stdout.dot"
  cmp -s "$T/$ex.dot" "$T/$ex.stdout.dot" || fail "$ex: -o x.dot and stdout differ"
  dot -Tsvg "$T/$ex.dot" >/dev/null 2>"$T/dot.err" || { cat "$T/dot.err"; fail "$ex: Graphviz's dot rejects the DOT"; }
done
svg_check "$T/compute-node.svg" "br-int/qvo-vm01:port" "br-int/qvo-vm01:vlan-101" "br-int/qvo-vm02b:vlan-102" \
  "br-int/int-br-eth1:kind-patch" "cluster:br-int:bridge-switch" "cluster:qbr-vm01:bridge-hub" \
  "patch:br-int/qvo-vm01--qbr-vm01/qvb-vm01:patch" "legend:vlan-101:legend-entry" \
  "br-int/int-br-eth1:=trunk pvid 1 · allowed 101-102" "bridge:qbr-vm01:=hub" ||
  fail "compute-node.svg lacks its ids"
svg_check "$T/compute-node-vms.svg" "vm:vm01:vm" "ep:qbr-vm01/vnet0:endpoint" "ct:physnet:container" ||
  fail "compute-node-vms.svg lacks its endpoints"
svg_check "$T/two-hosts-vxlan.svg" "tunnel:br-tun/vx-host2--10.97.0.2:tunnel" "remote:10.97.0.2:=remote VTEP" ||
  fail "two-hosts-vxlan.svg lacks its tunnel"
"$BIN/kvnet" draw "$SRC/examples/compute-node.yaml" --format json | python3 -c '
import json, sys; j = json.load(sys.stdin); assert j["format"] == "dot" and j["data"].startswith("graph kvnet {"), j' ||
  fail "kvnet draw --format json"
expect_error "a bad -o extension" 2 "extension '.jpg' is not a picture format" \
  "$BIN/kvnet" draw "$SRC/examples/compute-node.yaml" -o "$T/x.jpg"
[ -e "$T/x.jpg" ] && fail "a file was written for a bad extension"
log "kvnet draw: 4 examples as svg/png/dot: ok"

# --- offline trace --draw: the flood's path and a drop ---
"$BIN/kvnet" trace "$SRC/examples/compute-node.yaml" --in-port qbr-vm01/vnet0 \
  'dl_src=02:00:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,arp' --draw "$T/otrace.svg" >"$T/otrace.txt"
grep -q "Devices crossed: vnet0 -> qbr-vm01" "$T/otrace.txt" || { cat "$T/otrace.txt"; fail "trace's own output missing"; }
svg_check "$T/otrace.svg" "qbr-vm01/vnet0:trace-in" "patch:br-int/qvo-vm01--qbr-vm01/qvb-vm01:trace" \
  "br-int/int-br-eth1:trace" "br-eth1/eth1:trace-out" "qbr-vm02a/vnet1:trace-out" \
  "br-int/qvo-vm02b:!trace" "qbr-vm03/vnet3:!trace" || fail "offline trace drawing"
expect_error "trace --draw with a bad extension" 2 "--draw: 'x.gif': extension '.gif'" \
  "$BIN/kvnet" trace "$SRC/examples/compute-node.yaml" --in-port qbr-vm01/vnet0 arp --draw x.gif
log "kvnet trace --draw: path highlighted: ok"

# --- live: kvnetctl draw ---
kvd_start
expect_ok "add-br br0" kctl add-br br0
expect_ok "add-br br1" kctl add-br br1
expect_ok "ct a" kctl ct add ${P}a --bridge br0 --ip 10.79.0.1/24 vlan_mode=access pvid=10
expect_ok "ct b" kctl ct add ${P}b --bridge br1 --ip 10.79.0.2/24 vlan_mode=access pvid=10
expect_ok "patch pa" kctl add-port br0 pa type=patch peer=br1/pb vlan_mode=trunk allowed=10
expect_ok "patch pb" kctl add-port br1 pb type=patch peer=br0/pa vlan_mode=trunk allowed=10
ip link add ${P}x type veth peer name ${P}y
expect_ok "system port" kctl add-port br1 ${P}x vlan_mode=access pvid=20
pings ${P}a 10.79.0.2 || fail "a cannot reach b across the patch"

expect_ok "kvnetctl draw svg" kctl draw -o "$T/live.svg"
grep -q "wrote $T/live.svg (svg" "$T/out" || { cat "$T/out"; fail "draw's human output"; }
well_formed "$T/live.svg" || fail "live.svg is not well-formed XML"
svg_check "$T/live.svg" "br0/ct-${P}a:vlan-10" "ct:${P}a:container" "ep:br0/ct-${P}a:endpoint" \
  "patch:br0/pa--br1/pb:patch" "br0/pa:!dangling" "br1/${P}x:!down" || fail "live picture"
expect_ok "kvnetctl draw png" kctl draw -o "$T/live.png"
is_png "$T/live.png" || fail "live.png is not a PNG"
kctl draw >"$T/live.dot"
grep -q '^graph kvnet {' "$T/live.dot" || fail "kvnetctl draw without -o prints no DOT"
kctl --format json draw -o "$T/live2.svg" | python3 -c '
import json, sys; j = json.load(sys.stdin); assert j["format"] == "svg" and j["file"].endswith("live2.svg"), j' ||
  fail "kvnetctl --format json draw -o"
expect_error "kvnetctl draw: bad extension" 2 "extension '.gif' is not a picture format" kctl draw -o "$T/x.gif"

# --- live trace --draw: across the patch, then a drop ---
kctl trace br0 in_port=ct-${P}a dl_src=02:00:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,arp --draw "$T/trace.svg" >"$T/trace.txt"
grep -q "Devices crossed" "$T/trace.txt" || { cat "$T/trace.txt"; fail "trace --draw lost trace's output"; }
grep -q "Drawing: $T/trace.svg" "$T/trace.txt" || fail "trace --draw does not say where it drew"
svg_check "$T/trace.svg" "br0/ct-${P}a:trace-in" "link:br0/ct-${P}a:trace" "br0/pa:trace" \
  "patch:br0/pa--br1/pb:trace" "br1/pb:trace" "br1/ct-${P}b:trace-out" "ct:${P}b:trace" \
  "br1/${P}x:!trace" || fail "live trace drawing"
kctl trace br0 in_port=ct-${P}a dl_src=02:00:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,dl_vlan=99,arp \
  --draw "$T/drop.svg" >/dev/null
svg_check "$T/drop.svg" "br0/ct-${P}a:trace-drop" "br0/ct-${P}a:=tagged_on_access" "br0/pa:!trace" \
  "link:br0/ct-${P}a:!trace" || fail "live drop drawing"
kctl --format json trace br0 in_port=ct-${P}a arp --draw "$T/trace.png" >"$T/trace.json"
python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); assert j["drawing"].endswith("trace.png") and j["steps"], j' \
  "$T/trace.json" || fail "trace --draw --format json"
is_png "$T/trace.png" || fail "trace.png is not a PNG"
log "kvnetctl draw and trace --draw: ok"

# --- down and dangling ---
ip link del ${P}x
went_away() { kctl show | grep -A3 "Port ${P}x" | grep -q "went away"; }
wait_for 10 "deleted interface not reported" went_away
expect_ok "del-port pb" kctl del-port br1 pb
expect_ok "kvnetctl draw after the deletes" kctl draw -o "$T/broken.svg"
svg_check "$T/broken.svg" "br0/pa:dangling" "br0/pa:=peer br1/pb is gone" "dangling:br0/pa:dangling" \
  "br1/${P}x:down" "br1/${P}x:=went away" "br0/ct-${P}a:!down" || fail "dangling / down marks"
log "dangling patch and vanished interface marked: ok"
log "PASS"
