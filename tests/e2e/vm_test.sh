#!/usr/bin/env bash
# Real QEMU guests under kvnetd (issue 8): kvnet's guest image (guest/),
# booted with KVM where the host has it, TCG otherwise.
#
#   br-int (switch)
#     v1  vm, access VLAN 101, 10.50.0.1
#     v2  vm, access VLAN 101, 10.50.0.2, through its own qbr hub + patch pair (the seed's layout)
#     v3  vm with two NICs: VLAN 101 10.50.0.3 and VLAN 102 10.50.2.3 (the seed's vm02)
#     ca  container, VLAN 101, 10.50.0.11     cb container, VLAN 102, 10.50.0.12 (same subnet, other VLAN)
#     cc  container, VLAN 102, 10.50.2.12
#
# Checks: boot to the ready marker; ping and iperf3 VM<->VM; VM<->container
# on one VLAN, nothing across VLANs; the two-NIC VM on both networks; vm stop
# is a clean ACPI power-off; kill -9 of one QEMU leaves the switch and the
# other VMs working and `vm list` says crashed; kill -9 of kvnetd leaves the
# VMs running and a new kvnetd re-attaches them; vm kill; vm del; bad input
# is refused before anything is created.
source "$(dirname "$0")/../integration/lib.sh" "$@"
export KVNET_GUEST_DIR=${KVNET_GUEST_DIR:-/var/cache/kvnet/guest}
bash "$SRC/guest/build.sh" "$KVNET_GUEST_DIR" >/dev/null 2>"$T/guest.log" || { cat "$T/guest.log"; fail "guest image build"; }
# QEMU runs in its own session and outlives kvnetd: kill ours by their pidfiles.
EXTRA_CLEANUP='for f in "$T"/vms/*/qemu.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done; sleep 0.3'
V1=${P}v1 V2=${P}v2 V3=${P}v3
kvd_start
kctl add-br br-int >/dev/null

# --- bad input: refused before anything exists, nothing half-created
before=$(kctl export)
expect_error "unknown bridge" 1 "bridge 'nope' does not exist" kctl vm add $V1 --nic bridge=nope
expect_error "bad MAC" 1 "is not a MAC address" kctl vm add $V1 --nic bridge=br-int,mac=52:54:zz:00:00:01
expect_error "multicast MAC" 1 "must be a unicast MAC" kctl vm add $V1 --nic bridge=br-int,mac=01:00:5e:00:00:01
expect_error "bad CIDR" 1 "is not" kctl vm add $V1 --nic bridge=br-int,ip=10.50.0.300/24
expect_error "memory too small" 1 "out of range 64M-1T" kctl vm add $V1 --mem 16M --nic bridge=br-int
expect_error "memory beyond the host" 1 "more than the host has" kctl vm add $V1 --mem 900G --nic bridge=br-int
expect_error "missing kernel" 1 "kernel '$T/no-kernel' does not exist" kctl vm add $V1 --kernel "$T/no-kernel"
expect_error "missing disk" 1 "disk '$T/no.img' does not exist" kctl vm add $V1 --disk "$T/no.img"
expect_error "a disk size without an image" 1 "'disk_size' is the size of an image's overlay: it needs 'image'" \
  kctl vm add $V1 --disk-size 1G
expect_error "an image and a disk" 1 "give --image or --disk, not both" kctl vm add $V1 --image x --disk /bin/true
expect_error "a private key" 2 "this is a private key: give the public one (.pub)" \
  bash -c "printf -- '-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n' >$T/k; KVNET_SOCKET=$KVNET_SOCKET $BIN/kvnetctl vm add $V1 --disk /bin/true --ssh-key $T/k"
expect_error "bad VLAN setting" 1 "pvid 5000" kctl vm add $V1 --nic bridge=br-int,vlan_mode=access,pvid=5000
[ "$(kctl export)" = "$before" ] || fail "a refused vm add changed the configuration"
ip link show tap${V1}-0 >/dev/null 2>&1 && fail "a refused vm add left a TAP behind"
# QEMU missing: a second kvnetd that cannot find it refuses the definition.
KVNET_QEMU=$T/no-qemu "$BIN/kvnetd" --foreground --db "$T/q.db" --socket "$T/q.sock" >>"$T/kvnetd.log" 2>&1 &
QPID=$!
disown $QPID
wait_for 10 "second kvnetd" "$BIN/kvnetctl" --socket "$T/q.sock" list-br
"$BIN/kvnetctl" --socket "$T/q.sock" add-br b0 >/dev/null
expect_error "QEMU missing" 1 "KVNET_QEMU" "$BIN/kvnetctl" --socket "$T/q.sock" vm add x --nic bridge=b0
kill $QPID
log "bad input refused, nothing half-created"

# --- the network
kctl vm add $V1 --nic bridge=br-int,ip=10.50.0.1/24,vlan_mode=access,pvid=101 >/dev/null
kctl vm add $V2 --nic bridge=br-int,ip=10.50.0.2/24,vlan_mode=access,pvid=101,qbr=yes >/dev/null
kctl vm add $V3 --mem 192M --nic bridge=br-int,ip=10.50.0.3/24,vlan_mode=access,pvid=101 \
  --nic bridge=br-int,ip=10.50.2.3/24,vlan_mode=access,pvid=102 >/dev/null
expect_error "duplicate name" 1 "already exists" kctl vm add $V1 --nic bridge=br-int
kctl ct add ${P}ca --bridge br-int --ip 10.50.0.11/24 vlan_mode=access pvid=101 >/dev/null
kctl ct add ${P}cb --bridge br-int --ip 10.50.0.12/24 vlan_mode=access pvid=102 >/dev/null
kctl ct add ${P}cc --bridge br-int --ip 10.50.2.12/24 vlan_mode=access pvid=102 >/dev/null
kctl show | grep -F "qvo${V2}-0" >/dev/null || fail "qbr=yes made no qvo port on br-int"
kctl vm list --format json | python3 -c 'import json,sys; v=json.load(sys.stdin); assert all(x["state"]=="stopped" for x in v), v' ||
  fail "defined VMs are not stopped"

# --- boot all three together
t0=$(date +%s.%N)
for v in $V1 $V2 $V3; do kctl vm start $v >/dev/null; done
expect_error "second start" 1 "is already running" kctl vm start $V1
vready() { kctl vm show "$1" --format json | grep -F '"ready": true' >/dev/null; }
for v in $V1 $V2 $V3; do wait_for 180 "$v boots to the ready marker" vready $v; done
log "3 VMs booted together in $(echo "$(date +%s.%N) - $t0" | bc) s (accel $(kctl vm show $V1 --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["accel"])'))"
kctl vm console $V1 --log | grep -F "kvnet-guest: ready $V1 nics=1" >/dev/null || fail "boot log lacks the ready marker"
kctl vm list | grep -E "^$V3 +running +(tcg|kvm) " >/dev/null || { kctl vm list; fail "vm list does not show $V3 running"; }

vexec() { kctl vm console "$1" --timeout 30 --exec "$2"; }
vping() { vexec "$1" "ping -c 2 -W 2 $2" >"$T/ping" 2>&1; }
vping $V1 10.50.0.2 || { cat "$T/ping"; fail "$V1 cannot ping $V2"; }
vping $V2 10.50.0.1 || fail "$V2 cannot ping $V1"
vping $V1 10.50.0.11 || fail "VM -> container on the same VLAN"
pings ${P}ca 10.50.0.3 || fail "container -> VM on the same VLAN"
vping $V1 10.50.0.12 && fail "VM reached a container on another VLAN"
no_ping ${P}cb 10.50.0.1 || fail "container reached a VM on another VLAN"
vping $V3 10.50.2.12 || fail "the two-NIC VM on VLAN 102"
vping $V3 10.50.0.11 || fail "the two-NIC VM on VLAN 101"
pings ${P}cc 10.50.2.3 || fail "VLAN 102 container -> two-NIC VM"
log "pings: same VLAN reaches (VM<->VM, VM<->container), other VLAN does not; two-NIC VM on both"

# The interactive console on a terminal (script gives it one): type a line,
# read its answer, detach with Ctrl-].
(sleep 1; printf 'echo hello-$((6*7))\r'; sleep 1; printf '\035') |
  script -qc "$BIN/kvnetctl vm console $V1" /dev/null >"$T/console.txt" 2>&1 || true
grep -F "hello-42" "$T/console.txt" >/dev/null || { cat "$T/console.txt"; fail "interactive console: no answer"; }
grep -F "Detached from $V1's console" "$T/console.txt" >/dev/null || fail "interactive console: Ctrl-] did not detach"
log "interactive console: a typed command answered, Ctrl-] detached"
# kvnet's busybox guest has no guest agent: vm exec says so and points to the console.
expect_error "vm exec in a guest without an agent" 1 "did not answer within 10 s" kctl vm exec $V1 -- true
grep -F "vm console $V1 --exec" "$T/out" >/dev/null || { cat "$T/out"; fail "vm exec does not point to the console"; }
kctl vm show $V1 | grep -F "guest agent: not answering" >/dev/null || fail "vm show does not say the agent is not answering"

vexec $V2 "iperf3 -s -D -1 -p 5201" >/dev/null
sleep 0.5
vexec $V1 "iperf3 -c 10.50.0.2 -p 5201 -t 2 -f m" >"$T/iperf" || { cat "$T/iperf"; fail "iperf3 VM -> VM"; }
rate=$(awk '/receiver/ {print $(NF-2)}' "$T/iperf")
[ -n "$rate" ] && python3 -c "import sys; sys.exit(0 if float('$rate') > 10 else 1)" || { cat "$T/iperf"; fail "iperf3 rate '$rate'"; }
log "iperf3 TCP $V1 -> $V2: $rate Mbit/s"

# --- clean stop
kctl vm stop $V3 --timeout 60 2>&1 | grep -F "stopped (powered off)" >/dev/null || fail "vm stop was not a clean power-off"
kctl vm list | grep -E "^$V3 +stopped" >/dev/null || fail "vm list after stop"
kctl show --format json | grep -F "vm '$V3' is not running" >/dev/null || fail "a stopped VM's port is not parked"
# A guest that ignores the power button is killed at the timeout.
kctl vm start $V3 --wait >/dev/null 2>&1 || fail "second start of $V3"
vexec $V3 "killall acpid" >/dev/null || fail "stopping the guest's acpid"
kctl vm stop $V3 --timeout 2 2>&1 | grep -F "stopped (killed after the stop timeout)" >/dev/null ||
  fail "a guest ignoring ACPI was not killed at the stop timeout"
log "vm stop: ACPI power-off; a guest ignoring it is killed at the timeout"

# --- kill -9 one QEMU: the switch and the other VMs keep working
kill -9 "$(cat "$T/vms/$V2/qemu.pid")"
crashed() { kctl vm list | grep -E "^$1 +crashed" >/dev/null; }
wait_for 10 "$V2 reported crashed" crashed $V2
kctl vm list | grep -F "killed by signal 9" >/dev/null || fail "vm list does not give the crash's signal"
vping $V1 10.50.0.11 || fail "$V1 lost the network when $V2 crashed"
pings ${P}ca 10.50.0.1 || fail "the switch stopped forwarding after a QEMU crash"
log "kill -9 of one QEMU: crashed in vm list, the rest unaffected"

# --- kill -9 kvnetd: VMs keep running and are re-attached
kctl vm start $V2 --wait >/dev/null 2>&1 || fail "restart of the crashed VM"
p1=$(cat "$T/vms/$V1/qemu.pid") p2=$(cat "$T/vms/$V2/qemu.pid")
kvd_kill9
kill -0 "$p1" && kill -0 "$p2" || fail "QEMU died with kvnetd"
kvd_start
kctl vm list | grep -E "^$V1 +running" >/dev/null || { kctl vm list; fail "$V1 not re-attached"; }
[ "$(kctl vm show $V1 --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')" = "$p1" ] ||
  fail "re-attached to another process"
wait_for 10 "$V1 -> $V2 after the kvnetd restart" vping $V1 10.50.0.2
vping $V1 10.50.0.11 || fail "VM -> container after the kvnetd restart"
kctl vm stop $V2 2>&1 | grep -F "powered off" >/dev/null || fail "stop of a re-attached VM"
log "kill -9 of kvnetd: VMs ran on, re-attached (QMP and ports) by the new kvnetd"

# --- vm kill, vm del
kctl vm kill $V1 2>&1 | grep -F "stopped (killed)" >/dev/null || fail "vm kill"
kctl vm start $V1 >/dev/null
expect_error "del of a running VM" 1 "is running" kctl vm del $V1
kctl vm del $V1 --force >/dev/null
kctl vm del $V2 >/dev/null
kctl show | grep -E "qbr${V2}|qvo${V2}|tap${V1}" >/dev/null && fail "vm del left ports or the qbr behind"
kctl vm list | grep -E "^($V1|$V2) " >/dev/null && fail "vm del left the VM"
sleep 0.5
[ -e "$T/vms/$V1" ] && fail "vm del left the VM's directory"
log "PASS: VMs boot, switch, stop, crash and survive kvnetd restarts"
