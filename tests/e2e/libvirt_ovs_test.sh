#!/usr/bin/env bash
# libvirt drives kvnet as it drives Open vSwitch (issue 21): a libvirtd of
# this test's own (Debian's libvirt-daemon-system, QEMU TCG, kvnet's guest
# image) whose ovs-vsctl finds kvnetd's OVSDB (OVS_RUNDIR); a domain with
#   <interface type='bridge'><source bridge='br-int'/><virtualport type='openvswitch'/>
#     <vlan><tag id='42'/></vlan></interface>
# starts; its TAP becomes a port of kvnet's br-int, in VLAN 42, with
# libvirt's external_ids; the guest pings a container on VLAN 42 and the
# container pings it; `virsh destroy` removes the port.
source "$(dirname "$0")/../integration/lib.sh" "$@"
export KVNET_GUEST_DIR=${KVNET_GUEST_DIR:-/var/cache/kvnet/guest}
bash "$SRC/guest/build.sh" "$KVNET_GUEST_DIR" >/dev/null 2>"$T/guest.log" || { cat "$T/guest.log"; fail "guest image build"; }
for b in libvirtd virtlogd virsh ovs-vsctl; do
  command -v $b >/dev/null || fail "$b is missing (./run installs libvirt-daemon-system, libvirt-clients, openvswitch-switch)"
done
if virsh -c qemu:///system version >/dev/null 2>&1; then
  fail "a libvirtd already runs on this machine: this test starts its own (stop it, or run the test elsewhere)"
fi
DOM=${P}vm
VIRSH="virsh -q -c qemu:///system"
chmod 755 "$T"  # QEMU reads the guest's kernel from here
mkdir -p "$T/ovsrun" "$T/guest"
cp "$KVNET_GUEST_DIR/vmlinuz" "$KVNET_GUEST_DIR/initrd.img" "$T/guest/"
EXTRA_CLEANUP='$VIRSH destroy $DOM >/dev/null 2>&1
  for d in libvirtd virtlogd; do [ -f "$T/$d.pid" ] && kill "$(cat "$T/$d.pid")" 2>/dev/null; done
  for _ in $(seq 1 50); do [ -f "$T/libvirtd.pid" ] && kill -0 "$(cat "$T/libvirtd.pid")" 2>/dev/null || break; sleep 0.1; done'

KVD_ARGS="--ovsdb unix:$T/ovsrun/db.sock"
kvd_start
# br-int as ovs-vsctl makes it: with its own internal interface (libvirt
# reads the bridge's MTU from it).
expect_ok "add-br br-int" ovs-vsctl --db="unix:$T/ovsrun/db.sock" add-br br-int
kctl ct add ${P}c --bridge br-int --ip 10.82.0.9/24 vlan_mode=access pvid=42 >/dev/null
# Another VLAN's container with the guest's neighbour address: never reached.
kctl ct add ${P}d --bridge br-int --ip 10.82.0.8/24 vlan_mode=access pvid=43 >/dev/null

# libvirtd and its log daemon, ours; ovs-vsctl, which libvirtd runs, looks
# for its database in OVS_RUNDIR.
virtlogd -d -p "$T/virtlogd.pid"
OVS_RUNDIR="$T/ovsrun" libvirtd -d -p "$T/libvirtd.pid"
wait_for 30 "libvirtd answers" $VIRSH version

cat >"$T/dom.xml" <<EOF
<domain type='qemu'>
  <name>$DOM</name>
  <memory unit='MiB'>192</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$T/guest/vmlinuz</kernel>
    <initrd>$T/guest/initrd.img</initrd>
    <cmdline>console=ttyS0 kvnet.ip0=10.82.0.5/24 kvnet.hostname=$DOM</cmdline>
  </os>
  <devices>
    <interface type='bridge'>
      <source bridge='br-int'/>
      <virtualport type='openvswitch'/>
      <vlan><tag id='42'/></vlan>
      <mac address='52:54:00:82:00:05'/>
      <model type='virtio'/>
    </interface>
    <serial type='unix'>
      <source mode='bind' path='$T/console.sock'/>
      <target port='0'/>
    </serial>
  </devices>
  <seclabel type='static' model='dac' relabel='no'><label>+0:+0</label></seclabel>
</domain>
EOF
$VIRSH create "$T/dom.xml" >"$T/out" 2>&1 || { cat "$T/out"; fail "virsh create"; }
uuid=$($VIRSH domuuid $DOM)
tap=$($VIRSH domiflist $DOM | awk '$5 == "52:54:00:82:00:05" {print $1}')
[ -n "$tap" ] || { $VIRSH domiflist $DOM; fail "libvirt's TAP is not found"; }
kctl show --format json >"$T/show.json"
python3 - "$T/show.json" "$tap" "$uuid" <<'PY' || fail "kvnet's br-int does not have libvirt's port as libvirt set it"
import json, sys
show, tap, uuid = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
br = [b for b in show["bridges"] if b["name"] == "br-int"][0]
p = [q for q in br["ports"] if q["name"] == tap]
assert p, [q["name"] for q in br["ports"]]
p = p[0]
assert p["vlan_mode"] == "access" and p["pvid"] == 42, p
ids = p["external_ids"]
assert ids["attached-mac"] == "52:54:00:82:00:05", ids
assert ids["vm-id"] == uuid, ids
assert ids["iface-status"] == "active" and ids["iface-id"], ids
assert "error" not in p, p
PY
log "libvirt's port $tap on kvnet's br-int: VLAN 42, external_ids attached-mac, iface-id, vm-id"

# The guest, on its serial console (a shell once it is ready).
console() {  # console COMMAND TIMEOUT: runs COMMAND in the guest's shell, prints its output, exits with its status
  python3 - "$T/console.sock" "$1" "$2" <<'PY'
import socket, sys, time, re
path, cmd, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = socket.socket(socket.AF_UNIX)
s.connect(path)
s.settimeout(0.5)
mark = "END%d" % time.time_ns()
s.sendall(("\n%s; echo %s-$?\n" % (cmd, mark)).encode())
buf, end = "", time.monotonic() + secs
while time.monotonic() < end:
    try:
        buf += s.recv(4096).decode(errors="replace")
    except socket.timeout:
        pass
    m = re.search(mark + r"-(\d+)\r?\n", buf)
    if m:
        print(buf[:m.start()])
        sys.exit(int(m.group(1)))
print(buf)
sys.exit(124)
PY
}
wait_for 240 "the guest boots to its shell" console "true" 5
console "ping -c 3 -W 2 10.82.0.9" 30 >"$T/ping.txt" || { cat "$T/ping.txt"; fail "the guest cannot ping the container"; }
pings ${P}c 10.82.0.5 || fail "the container cannot ping the guest"
no_ping ${P}d 10.82.0.5 || fail "a container on VLAN 43 reaches the guest on VLAN 42"
log "the guest and a container on VLAN 42 ping each other; VLAN 43 does not reach it"

# virsh destroy: libvirt's `ovs-vsctl --if-exists del-port` removes the port.
$VIRSH destroy $DOM >/dev/null
wait_for 20 "the port leaves br-int" bash -c "! '$BIN/kvnetctl' list-ports br-int | grep -qx '$tap'"
log "virsh destroy removed the port"
log "PASS"
