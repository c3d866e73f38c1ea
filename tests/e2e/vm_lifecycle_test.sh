#!/usr/bin/env bash
# A VM's life around its definition, with real QEMU guests (kvnet's guest
# image; a blank disk for the disk cases, which SeaBIOS keeps running):
#   - a running VM's memory and vCPUs changed by `apply`: `vm show`/`vm list`
#     give what QEMU runs, what is configured and "restart pending" until a
#     restart makes them agree;
#   - `apply` without a running VM, and `vm del --force`: its QEMU and its TAP
#     are gone when the command returns, and the same VM can be defined and
#     started again at once;
#   - a QEMU that cannot start (two VMs on one disk image: the second cannot
#     take the image's write lock) fails `vm start` with QEMU's own error
#     line, which `vm show` keeps;
#   - disk hardening: /etc/shadow, a symlink into /etc, a device, a qcow2 with
#     a backing file and a file that is no disk image are refused; a comma in
#     a disk's path opens exactly that file.
source "$(dirname "$0")/../integration/lib.sh" "$@"
export KVNET_GUEST_DIR=${KVNET_GUEST_DIR:-/var/cache/kvnet/guest}
bash "$SRC/guest/build.sh" "$KVNET_GUEST_DIR" >/dev/null 2>"$T/guest.log" || { cat "$T/guest.log"; fail "guest image build"; }
EXTRA_CLEANUP='for f in "$T"/vms/*/qemu.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done; sleep 0.3'
V=${P}v D1=${P}d1 D2=${P}d2 D3=${P}d3
kvd_start
kctl add-br br-int >/dev/null

field() {  # field VM PYTHON-EXPR (v: vm show's JSON)
  kctl vm show "$1" --format json | python3 -c "import json,sys; v=json.load(sys.stdin); print($2)"
}
qemu_pid() { cat "$T/vms/$1/qemu.pid"; }
ended() {  # ended PID TAP: the process has ended (at most a zombie kvnetd's loop reaps next) and the interface is gone, right now
  # Gone, a zombie, or dead and being reaped right now (its /proc entry may
  # vanish between two looks: read its state once).
  local st
  st=$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$1/status" 2>/dev/null || true)
  case "$st" in "" | Z | X) ;; *) ps -o pid,stat,cmd -p "$1"; fail "QEMU $1 still runs (state $st)" ;; esac
  ! ip link show "$2" >/dev/null 2>&1 || fail "TAP $2 is still there"
}

# --- restart pending
kctl vm add $V --mem 128M --nic bridge=br-int,ip=10.51.0.1/24 --start --wait >/dev/null 2>&1 || fail "start of $V"
kctl export >"$T/cfg.yaml"
sed -e 's/memory: 128M/memory: 192M/' -e 's/vcpus: 1$/vcpus: 2/' "$T/cfg.yaml" >"$T/bigger.yaml"
grep -F "memory: 192M" "$T/bigger.yaml" >/dev/null && grep -F "vcpus: 2" "$T/bigger.yaml" >/dev/null ||
  { cat "$T/cfg.yaml"; fail "the export has no memory/vcpus lines to change"; }
kctl apply "$T/bigger.yaml" >/dev/null
[ "$(field $V 'v["restart_pending"], v["running"]["memory_mb"], v["running"]["vcpus"], v["memory_mb"], v["vcpus"]')" = \
  "True 128 1 192 2" ] || { kctl vm show $V --format json; fail "vm show after a memory/vcpus change"; }
kctl vm show $V | grep -F "memory 128M  vcpus 1" >/dev/null || { kctl vm show $V; fail "vm show: not what runs"; }
kctl vm show $V | grep -F "restart pending: memory 128M -> 192M, vcpus 1 -> 2" >/dev/null ||
  { kctl vm show $V; fail "vm show: no restart pending"; }
kctl vm list | grep -E "^$V +running .* 128M .* 1  " >/dev/null || { kctl vm list; fail "vm list: not what runs"; }
kctl vm list | grep -F "restart pending: memory 128M -> 192M, vcpus 1 -> 2" >/dev/null ||
  { kctl vm list; fail "vm list: no restart pending"; }
kctl vm restart $V --wait --timeout 60 >/dev/null 2>&1 || fail "restart of $V"
[ "$(field $V 'v["restart_pending"], v["running"]["memory_mb"], v["running"]["vcpus"]')" = "False 192 2" ] ||
  { kctl vm show $V --format json; fail "vm show after the restart"; }
kctl vm list | grep -F "restart pending" >/dev/null && fail "restart pending after the restart"
log "restart pending: shown with the running and configured sizes until the restart"

# --- apply that drops the running VM: QEMU and TAP gone at once, and back
kctl export >"$T/with.yaml"
cat >"$T/without.yaml" <<EOF2
bridges:
  - name: br-int
    type: switch
    ports: []
vms: []
EOF2
pid=$(qemu_pid $V)
kill -0 "$pid" || fail "no QEMU for $V"
kctl apply "$T/without.yaml" >"$T/out" || { cat "$T/out"; fail "apply without $V"; }
grep -F -- "- vm $V" "$T/out" >/dev/null || { cat "$T/out"; fail "apply did not remove $V"; }
ended "$pid" "tap$V-0"
[ -e "$T/vms/$V" ] && fail "apply left the VM's directory"
kctl apply "$T/with.yaml" >/dev/null || fail "apply with $V again"
kctl vm start $V --wait >/dev/null 2>&1 || fail "start of $V defined again after the apply"
log "apply without a running VM: QEMU and TAP gone when it returns; defined and started again"

# --- vm del --force: the same
pid=$(qemu_pid $V)
kctl vm del $V --force >/dev/null
ended "$pid" "tap$V-0"
kctl vm add $V --mem 128M --nic bridge=br-int,ip=10.51.0.1/24 --start >/dev/null 2>&1 || fail "vm add of a deleted VM's name"
pid=$(qemu_pid $V)
kctl vm del $V --force >/dev/null
ended "$pid" "tap$V-0"
log "vm del --force: QEMU and TAP gone when it returns; the name defined and started again"

# --- QEMU's own error: two VMs on one disk image
truncate -s 4M "$T/shared.img"
kctl vm add $D1 --disk "$T/shared.img" >/dev/null
kctl vm add $D2 --disk "$T/shared.img" >/dev/null
kctl vm start $D1 >/dev/null || fail "start of $D1"
expect_error "a second VM on a locked image" 1 'Failed to get "write" lock' kctl vm start $D2
grep -F "vm '$D2' crashed" "$T/out" >/dev/null || { cat "$T/out"; fail "the failed start does not say crashed"; }
grep -F "console" "$T/out" >/dev/null && { cat "$T/out"; fail "the failed start points at the empty console log"; }
[ "$(field $D2 'v["state"]')" = crashed ] || fail "$D2 is not crashed"
field $D2 'v["error"]' | grep -F 'Failed to get "write" lock' >/dev/null || { kctl vm show $D2 --format json; fail "vm show has no error"; }
kctl vm show $D2 | grep -E '^  error: .*Failed to get "write" lock' >/dev/null || { kctl vm show $D2; fail "vm show (human): no error line"; }
kctl vm del $D1 --force >/dev/null
kctl vm del $D2 >/dev/null
log "a QEMU that cannot start: its error line in vm start's message and in vm show"

# --- disk hardening
expect_error "/etc/shadow" 1 "is under /etc" kctl vm add $D3 --disk /etc/shadow
ln -s /etc/passwd "$T/passwd.img"
expect_error "a symlink into /etc" 1 "(that is '/etc/passwd') is under /etc" kctl vm add $D3 --disk "$T/passwd.img"
expect_error "a device" 1 "is not a regular file" kctl vm add $D3 --disk /dev/null
printf 'root:x:0:0\n' >"$T/notadisk.img"
expect_error "no disk image" 1 "whole number of 512-byte sectors" kctl vm add $D3 --disk "$T/notadisk.img"
# A qcow2 overlay: version 3, its backing file's name at offset 512 (what
# qemu-img create -b writes).
python3 - "$T/overlay.qcow2" "$T/shared.img" <<'PY'
import struct, sys
name = sys.argv[2].encode()
h = bytearray(1024)
h[0:4] = b"QFI\xfb"
struct.pack_into(">IQI", h, 4, 3, 512, len(name))
h[512:512 + len(name)] = name
open(sys.argv[1], "wb").write(h)
PY
expect_error "a backing file" 1 "has a backing file" kctl vm add $D3 --disk "$T/overlay.qcow2"
comma="$T/a,file.filename=shared.img,,format=qcow2,b.img"
truncate -s 1M "$comma"
kctl vm add $D3 --disk "$comma" >/dev/null
kctl vm start $D3 >/dev/null || fail "start of a VM whose disk has commas in its name"
pid=$(qemu_pid $D3)
ls -l /proc/$pid/fd | grep -F -- "-> $comma" >/dev/null || { ls -l /proc/$pid/fd; fail "QEMU did not open '$comma'"; }
ls -l /proc/$pid/fd | grep -E -- "-> $T/shared.img$" >/dev/null && fail "a comma in the disk's name opened another file"
kctl vm del $D3 --force >/dev/null
log "PASS: restart pending, VM deletion ends QEMU, QEMU's errors shown, disks checked"
