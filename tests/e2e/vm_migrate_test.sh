#!/usr/bin/env bash
# Live migration between hosts of a cluster, with real QEMU guests (kvnet's
# busybox guest image, RAM only): three hosts as namespaces on a real etcd,
# a VM on network blue on h1, a container on h3 that pings it every 10 ms
# and holds a TCP connection to it (iperf3) while it moves:
#   - vm migrate --to h2 --wait: the VM runs on h2, is gone from h1 (QEMU,
#     definition, ports), its binding is h2's with a higher sequence number,
#     its address is held by h2; the TCP connection survives; the pings lost
#     are reported; `vm show` and the log give the total time and downtime;
#   - and back to h1;
#   - failures, each leaving the VM running and reachable where it was and
#     nothing on the destination: the destination's QEMU killed mid-way, a
#     cancel, the network between the hosts cut (nft drop: the source's
#     watchdog), a host not in the cluster, a VM on a local bridge, and a
#     destination without the image of a VM with a disk;
#   - a VM made from an image moves with its overlay (NBD + mirror): what the
#     guest wrote before is read on the destination.
source "$(dirname "$0")/../integration/lib.sh" "$@"
export KVNET_GUEST_DIR=${KVNET_GUEST_DIR:-/var/cache/kvnet/guest}
bash "$SRC/guest/build.sh" "$KVNET_GUEST_DIR" >/dev/null 2>"$T/guest.log" || { cat "$T/guest.log"; fail "guest image build"; }
command -v etcd >/dev/null || fail "etcd is not installed (./run installs etcd-server)"
command -v iperf3 >/dev/null || fail "iperf3 is not installed"

TTL=3
STORE=10.97.0.100
URL=http://$STORE:2379
ETCD_PID=""
EXTRA_CLEANUP='[ -n "$ETCD_PID" ] && kill -9 $ETCD_PID 2>/dev/null; for f in "$T"/*-vms/*/qemu.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done; sleep 0.3'
underlay_bridge
for n in h1 h2 h3; do underlay_join $n 10.97.0.${n#h}/24; done
underlay_join st $STORE/24
etcd_single $STORE

declare -A PIDS
start_host() {  # NAME [VAR=VALUE...]: kvnetd for host NAME in namespace ${P}NAME, its VMs in a directory of its own
  local n=$1 ip=10.97.0.${1#h}
  shift
  ip netns exec ${P}$n env "$@" "$BIN/kvnetd" --foreground --db "$T/$n.db" --socket "$T/$n.sock" --vm-dir "$T/$n-vms" \
    --image-dir "$T/$n-images" --disk-dir "$T/$n-disks" \
    --cluster $URL --host $n --underlay-ip $ip --cluster-ttl $TTL >>"$T/$n.log" 2>&1 &
  PIDS[$n]=$!
  HOST_PIDS+=($!)
  disown $!
  wait_for 10 "kvnetd on $n answers" hctl $n list-br
}
start_host h1
start_host h2
start_host h3 KVNET_QEMU=/nonexistent/qemu-system-x86_64  # h3 only pings: a host without QEMU
hctl h1 network add blue --vni 100 --subnet 10.97.1.0/24 >/dev/null || fail "network add blue"

V=${P}m
where() {  # the host whose kvnetd has VM V running
  local n
  for n in h1 h2 h3; do
    [ "$(hctl $n --format json vm list | field "next((v['state'] for v in d if v['name']=='$V'), '')")" = running ] && echo $n
  done
}
binding_host() {
  ip netns exec ${P}st etcdctl --endpoints $URL get --prefix /kvnet/bindings/blue/ --print-value-only |
    python3 -c "import json,sys; print(' '.join(sorted(json.loads(l)['host'] for l in sys.stdin if json.loads(l)['owner'].startswith('vm $V'))))"
}
where_vm() {  # VM: the host whose kvnetd has it running
  local n
  for n in h1 h2 h3; do
    [ "$(hctl $n --format json vm list | field "next((v['state'] for v in d if v['name']=='$1'), '')")" = running ] && echo $n
  done
}
record_gone() { [ -z "$(ip netns exec ${P}st etcdctl --endpoints $URL get /kvnet/migrations/$V --keys-only)" ]; }
hctl h1 vm add $V --mem 128M --nic network=blue,ip=10.97.1.10 --start --wait --timeout 120 >/dev/null 2>&1 ||
  { hctl h1 vm console $V --log | tail; fail "start of $V on h1"; }
hctl h3 ct add ${P}c --network blue --ip 10.97.1.30 >/dev/null || fail "ct add on h3"
wait_for 15 "h3 reaches the VM" pings ${P}c 10.97.1.10 2
hctl h1 vm console $V --exec 'iperf3 -s -D' >/dev/null || fail "iperf3 server in the guest"
log "VM on h1, container on h3, both on blue; the container reaches the VM"

# --- failures first: the VM must stay where it is, reachable -------------
expect_error "a destination that is down" 1 "host 'nowhere' is not in the cluster" hctl h1 vm migrate $V --to nowhere
expect_error "to itself" 1 "runs on 'h1' already" hctl h1 vm migrate $V --to h1
expect_error "standalone flags" 2 "--to" hctl h1 vm migrate $V
hctl h1 add-br ${P}lb >/dev/null
hctl h1 vm add ${P}l --mem 64M --nic bridge=${P}lb >/dev/null
hctl h1 vm start ${P}l >/dev/null 2>&1
expect_error "a NIC on a local bridge" 1 "not on a cluster network" hctl h1 vm migrate ${P}l --to h2
hctl h1 vm del ${P}l --force >/dev/null
hctl h1 del-br ${P}lb >/dev/null

# A destination without QEMU: refused there, nothing left behind.
set +e
hctl h1 vm migrate $V --to h3 --wait --timeout 60 >"$T/out" 2>&1
rc=$?
set -e
[ $rc = 1 ] || { cat "$T/out"; fail "vm migrate to a host without QEMU: exit code $rc"; }
grep -q "QEMU '/nonexistent/qemu-system-x86_64' (KVNET_QEMU) is not executable" "$T/out" ||
  { cat "$T/out"; fail "vm migrate to a host without QEMU: the error does not say so"; }
[ "$(where)" = h1 ] || fail "the VM does not run on h1 only after the refused migration ($(where))"
hctl h3 vm list | grep -q "^$V " && fail "h3 kept the VM's definition"
wait_for 15 "the record is gone" record_gone
log "a destination without QEMU: $(tail -1 "$T/out" | cut -c1-160)"

# The destination's QEMU killed while the migration runs (slowed down to 1 Mbit/s so there is time).
hctl h1 vm migrate $V --to h2 --bandwidth 1 >/dev/null || fail "vm migrate (slow) started"
wait_for 20 "h2's QEMU for the VM" test -f "$T/h2-vms/$V/qemu.pid"
wait_for 20 "the memory being sent" bash -c "KVNET_SOCKET=$T/h1.sock $BIN/kvnetctl --format json vm show $V | grep -q '\"phase\": \"memory\"'"
kill -9 "$(cat "$T/h2-vms/$V/qemu.pid")"
# Guaranteed: the source's QEMU reports the broken stream, or kvnetd's
# watchdog fails it after 10 s without progress; its cleanup gives QEMU up to
# 10 s more. 60 s leaves room for a loaded machine (ASan, parallel tests).
wait_for 60 "the migration ended as failed" bash -c "KVNET_SOCKET=$T/h1.sock $BIN/kvnetctl --format json vm show $V | python3 -c \"import json,sys; m=json.load(sys.stdin).get('migration',{}); sys.exit(0 if m.get('ended') and m.get('state')=='failed' else 1)\""
[ "$(where)" = h1 ] || fail "the VM does not run on h1 only after the failed migration ($(where))"
wait_for 15 "h2 removed what it made" bash -c "! KVNET_SOCKET=$T/h2.sock $BIN/kvnetctl vm list | grep -q '^$V '"
pings ${P}c 10.97.1.10 3 || fail "the VM is not reachable after the failed migration"
[ "$(binding_host)" = h1 ] || fail "the binding left h1 ($(binding_host))"
wait_for 15 "the record is gone" record_gone
log "the destination's QEMU killed mid-way: failed ($(KVNET_SOCKET=$T/h1.sock $BIN/kvnetctl --format json vm show $V | python3 -c "import json,sys; print(json.load(sys.stdin).get('migration',{}).get('error','')[:120])")), the VM runs on h1 and answers, nothing left on h2"

# A cancel.
hctl h1 vm migrate $V --to h2 --bandwidth 1 >/dev/null || fail "vm migrate (to cancel) started"
wait_for 20 "h2's QEMU for the VM" test -f "$T/h2-vms/$V/qemu.pid"
sleep 0.5
ip netns exec ${P}st etcdctl --endpoints $URL get /kvnet/migrations/$V --print-value-only >"$T/record.json"
hctl h1 vm migrate $V --cancel >"$T/out" || { cat "$T/out"; fail "vm migrate --cancel"; }
wait_for 30 "the migration ended as cancelled" bash -c "KVNET_SOCKET=$T/h1.sock $BIN/kvnetctl --format json vm show $V | python3 -c \"import json,sys; m=json.load(sys.stdin).get('migration',{}); sys.exit(0 if m.get('ended') and m.get('state')=='cancelled' else 1)\""
[ "$(where)" = h1 ] || fail "the VM does not run on h1 after the cancel"
wait_for 15 "h2 removed what it made" bash -c "! KVNET_SOCKET=$T/h2.sock $BIN/kvnetctl vm list | grep -q '^$V '"
pings ${P}c 10.97.1.10 3 || fail "the VM is not reachable after the cancel"
log "a cancel: the VM runs on h1 and answers, nothing left on h2"

# A source that runs the VM under KVM (this machine has none: its record is
# written by hand): the destination refuses to run it under TCG.
python3 - "$T/record.json" >"$T/kvm-record.json" <<'PY'
import json, sys, time
r = json.load(open(sys.argv[1]))
for k in ("uri", "nbd_port", "error", "resumed_us"):
    r.pop(k, None)
r.update(state="requested", accel="kvm", started_ms=int(time.time() * 1000))
print(json.dumps(r))
PY
ip netns exec ${P}st etcdctl --endpoints $URL put /kvnet/migrations/$V "$(cat "$T/kvm-record.json")" >/dev/null
wait_for 20 "h2 refuses a KVM guest" grep -q "host 'h2' would run the VM with tcg, the source runs it with kvm: both sides must use the same accelerator" "$T/h2.log"
wait_for 15 "the record is gone" record_gone
hctl h2 vm list | grep -q "^$V " && fail "h2 defined the KVM guest"
[ "$(where)" = h1 ] || fail "the VM does not run on h1 after the refused record"
pings ${P}c 10.97.1.10 3 || fail "the VM is not reachable after the refused record"
log "a KVM source (record by hand): h2 refuses to run it under TCG, nothing left on h2"

# The network between the two hosts cut (packets dropped, no error: only the
# source's watchdog notices, after 10 s without progress).
hctl h1 vm migrate $V --to h2 --bandwidth 1 >/dev/null || fail "vm migrate (to cut) started"
wait_for 20 "the memory being sent" bash -c "KVNET_SOCKET=$T/h1.sock $BIN/kvnetctl --format json vm show $V | grep -q '\"phase\": \"memory\"'"
ip netns exec ${P}h2 nft -f - <<NFT
table inet ${P}cut {
  chain in { type filter hook input priority 0; ip saddr 10.97.0.1 drop; }
  chain out { type filter hook output priority 0; ip daddr 10.97.0.1 drop; }
}
NFT
t0=$(date +%s)
wait_for 40 "the migration failed for want of progress" bash -c "KVNET_SOCKET=$T/h1.sock $BIN/kvnetctl --format json vm show $V | python3 -c \"import json,sys; m=json.load(sys.stdin).get('migration',{}); sys.exit(0 if m.get('ended') and m.get('state')=='failed' and 'no progress' in m.get('error','') else 1)\""
log "the hosts cut apart: the source gave up after $(($(date +%s) - t0)) s: $(hctl h1 --format json vm show $V | field "d['migration']['error']")"
ip netns exec ${P}h2 nft delete table inet ${P}cut
[ "$(where)" = h1 ] || fail "the VM does not run on h1 after the cut"
wait_for 20 "h2 removed what it made" bash -c "! KVNET_SOCKET=$T/h2.sock $BIN/kvnetctl vm list | grep -q '^$V '"
pings ${P}c 10.97.1.10 3 || fail "the VM is not reachable after the cut"
wait_for 15 "the record is gone" record_gone
log "a cut between the hosts: failed after the watchdog, the VM runs on h1 and answers, nothing left on h2"

# --- the migration, with pings every 10 ms and a TCP connection ----------
migrate() {  # FROM TO
  ping_start ${P}c 10.97.1.10
  ip netns exec ${P}c iperf3 -c 10.97.1.10 -t 12 -b 2M --connect-timeout 3000 >"$T/iperf" 2>&1 &
  local perf=$!
  sleep 2
  hctl $1 vm migrate $V --to $2 --wait --max-downtime 100 --timeout 120 >"$T/mig" 2>&1 || { cat "$T/mig"; tail -8 "$T/$1.log" | cut -c1-300; tail -8 "$T/$2.log" | cut -c1-300; fail "vm migrate $1 -> $2"; }
  wait $perf || { cat "$T/iperf"; fail "the TCP connection did not survive the migration $1 -> $2"; }
  ping_stop
  log "$1 -> $2: $(tail -1 "$T/mig"); pings every 10 ms: $PINGS_LOST of $PINGS_SENT lost (~$((PINGS_LOST * 10)) ms)"
  [ "$(where)" = $2 ] || fail "the VM does not run on $2 only ($(where))"
  [ "$(binding_host)" = $2 ] || fail "the binding is not $2's ($(binding_host))"
  [ "$(ip netns exec ${P}st etcdctl --endpoints $URL get /kvnet/ipam/blue/10.97.1.10 --print-value-only)" = "$2/$(hctl $2 --format json vm show $V | field "d['nics'][0]['port']")" ] ||
    fail "the address is not held by $2"
  hctl $1 vm list | grep -q "^$V " && fail "$1 still has the VM"
  pings ${P}c 10.97.1.10 3 || fail "the VM is not reachable on $2"
}
migrate h1 h2
migrate h2 h1

# --- a VM with a disk: its overlay is copied (NBD + mirror) while it runs --
# The image (the busybox guest's kernel beside a 32 MiB raw disk) on h1 only first.
printf 'kvnet-image-0001' >"$T/base.raw"
truncate -s 32M "$T/base.raw"
import() { hctl $1 image import base "$T/base.raw" --kernel "$KVNET_GUEST_DIR/vmlinuz" --initrd "$KVNET_GUEST_DIR/initrd.img" >/dev/null; }
import h1 || fail "image import on h1"
D=${P}d
hctl h1 vm add $D --image base --mem 128M --nic network=blue,ip=10.97.1.20 --start --wait --timeout 120 >/dev/null 2>&1 ||
  fail "start of $D on h1"
dexec() { hctl $1 vm console $D --exec "$2" --timeout 30; }
# An image VM is configured by cloud-init, which the busybox guest lacks: its address by hand.
dexec h1 'ip addr add 10.97.1.20/24 dev eth0; ip link set eth0 up' >/dev/null
wait_for 15 "h3 reaches $D on h1" pings ${P}c 10.97.1.20 2
dexec h1 'printf kvnet-before-move | dd of=/dev/vda bs=512 seek=200 conv=notrunc 2>/dev/null; sync' >/dev/null
expect_error "a destination without the image" 1 "host 'h2' has no image 'base' (import it there first" \
  hctl h1 vm migrate $D --to h2 --wait --timeout 60
[ "$(where_vm $D)" = h1 ] || fail "$D left h1 after a refused migration"
[ -z "$(ls "$T/h2-disks")" ] || { ls -l "$T/h2-disks"; fail "the refused migration left a disk on h2"; }
import h2 || fail "image import on h2"
hctl h1 vm migrate $D --to h2 --wait --timeout 120 >"$T/mig" 2>&1 || { cat "$T/mig"; tail -5 "$T/h1.log" "$T/h2.log" | cut -c1-300; fail "migration of $D"; }
log "with its disk: $(tail -1 "$T/mig")"
[ "$(where_vm $D)" = h2 ] || fail "$D does not run on h2"
[ "$(dexec h2 'dd if=/dev/vda bs=512 skip=200 count=1 2>/dev/null | head -c 17; echo')" = kvnet-before-move ] ||
  fail "what the guest wrote before the move is not on h2's disk"
[ "$(dexec h2 'dd if=/dev/vda bs=16 count=1 2>/dev/null; echo')" = kvnet-image-0001 ] || fail "h2's overlay does not read h2's image"
[ ! -e "$T/h1-disks/$D.qcow2" ] || fail "h1 kept the overlay of the VM that left"
pings ${P}c 10.97.1.20 3 || fail "$D is not reachable on h2"
log "a VM with a disk moved: its writes went with it, the destination reads its own copy of the image"
log "PASS"
