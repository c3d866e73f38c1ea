#!/usr/bin/env bash
# VMs made from images of the store, with a real QEMU guest (kvnet's busybox
# guest image serves as the image's kernel and initrd; the image itself is a
# raw disk with a known pattern):
#   - image import --kernel/--initrd keeps the kernel beside the image;
#   - vm add --image --disk-size: a qcow2 overlay in --disk-dir whose
#     backing file is the image, of the size asked; the guest reads the
#     image's bytes through it, and what it writes lands in the overlay,
#     never in the image;
#   - the cloud-init seed (vdb: an ISO9660 volume "cidata") holds meta-data
#     with the VM's name and the key given, and network-config with the
#     NIC's MAC and address;
#   - an image in use cannot be deleted; vm del removes the overlay,
#     --keep-disk keeps it; export and apply of an image VM change nothing;
#   - refusals: an unknown image, a disk size below the image's, --image
#     with --disk.
source "$(dirname "$0")/../integration/lib.sh" "$@"
export KVNET_GUEST_DIR=${KVNET_GUEST_DIR:-/var/cache/kvnet/guest}
bash "$SRC/guest/build.sh" "$KVNET_GUEST_DIR" >/dev/null 2>"$T/guest.log" || { cat "$T/guest.log"; fail "guest image build"; }
command -v qemu-img >/dev/null || fail "qemu-img is not installed (./run installs qemu-utils)"
command -v isoinfo >/dev/null || fail "isoinfo is not installed (./run installs genisoimage)"
EXTRA_CLEANUP='for f in "$T"/vms/*/qemu.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done; sleep 0.3'
V=${P}i W=${P}j
kvd_start
STORE=$T/images DISKS=$T/disks
kctl add-br br0 >/dev/null

# The image: 32 MiB, "kvnet-image-0001" at its start.
printf 'kvnet-image-0001' >"$T/base.raw"
truncate -s 32M "$T/base.raw"
kctl image import base "$T/base.raw" --kernel "$KVNET_GUEST_DIR/vmlinuz" --initrd "$KVNET_GUEST_DIR/initrd.img" \
  >"$T/out" 2>&1 || { cat "$T/out"; fail "image import with a kernel"; }
grep -q "boots: .*base.vmlinuz with .*base.initrd (root=/dev/vda rw)" "$T/out" || { cat "$T/out"; fail "image show: its kernel"; }
cmp -s "$KVNET_GUEST_DIR/vmlinuz" "$STORE/base.vmlinuz" || fail "the kernel kept is not the one given"
sum_before=$(sha256sum <"$STORE/base.qcow2")
log "image imported with its kernel and initrd"

# Refusals first (nothing may be left of them).
expect_error "an unknown image" 1 "vm '$W': image 'nope' does not exist" kctl vm add $W --image nope
expect_error "a disk smaller than the image" 1 "vm '$W': disk_size 16M is smaller than image 'base' (32M)" \
  kctl vm add $W --image base --disk-size 16M
expect_error "--image and --disk" 1 "vm '$W': give --image or --disk, not both" \
  kctl vm add $W --image base --disk "$T/base.raw"
[ -z "$(ls "$DISKS")" ] || { ls -l "$DISKS"; fail "a refused vm add left a disk"; }
kctl vm list | grep -q "^$W " && fail "a refused vm add left the VM"
log "refusals: unknown image, too small a disk, --image with --disk; nothing left"

ssh-keygen -q -t ed25519 -N '' -C "tester@kvnet" -f "$T/key"
kctl vm add $V --image base --disk-size 64M --mem 128M --ssh-key "$T/key.pub" \
  --nic bridge=br0,ip=10.61.0.5/24,gw=10.61.0.1 >"$T/out" || { cat "$T/out"; fail "vm add --image"; }
OVL=$DISKS/$V.qcow2
[ -f "$OVL" ] || { ls -l "$DISKS"; fail "no overlay at $OVL"; }
qemu-img info --output=json -U "$OVL" >"$T/info"
[ "$(field "d['virtual-size'], d['backing-filename'], d['backing-filename-format']" <"$T/info")" = \
  "67108864 $STORE/base.qcow2 qcow2" ] || { cat "$T/info"; fail "the overlay's size or backing file"; }
kctl vm show $V | grep -q "disk: *$OVL (overlay of image base, size 64M)" || { kctl vm show $V; fail "vm show: the disk"; }
expect_error "an image in use" 1 "image 'base' is used by vm '$V'" kctl image del base
log "vm add --image: a 64M overlay of the image in --disk-dir; the image in use cannot go"

kctl vm start $V --wait --timeout 120 >/dev/null 2>&1 || { kctl vm console $V --log | tail -20; fail "start of $V"; }
cexec() { kctl vm console $V --exec "$1" --timeout 30; }
[ "$(cexec 'dd if=/dev/vda bs=16 count=1 2>/dev/null; echo')" = "kvnet-image-0001" ] ||
  { cexec 'dd if=/dev/vda bs=16 count=1 | od -c'; fail "the guest does not read the image through its overlay"; }
[ "$(cexec 'cat /sys/block/vda/size')" = $((64 * 2048)) ] || fail "vda is not the 64M asked for"
cexec 'printf kvnet-guest-wrote | dd of=/dev/vda bs=512 seek=100 conv=notrunc 2>/dev/null; sync' >/dev/null
[ "$(cexec 'dd if=/dev/vda bs=512 skip=100 count=1 2>/dev/null | head -c 17; echo')" = "kvnet-guest-wrote" ] ||
  fail "the guest's write did not stay"
[ "$(sha256sum <"$STORE/base.qcow2")" = "$sum_before" ] || fail "the guest's write reached the image"
log "the guest reads the image through its overlay; its writes stay in the overlay"

# The seed: vdb, an ISO9660 volume "cidata" with the VM's name, key and NIC.
[ "$(cexec 'dd if=/dev/vdb bs=1 skip=32769 count=5 2>/dev/null; echo')" = CD001 ] || fail "vdb is not an ISO9660 volume"
SEED=$T/vms/$V/seed.iso
isoinfo -d -i "$SEED" | grep -q "Volume id: cidata" || { isoinfo -d -i "$SEED"; fail "the seed's volume id"; }
isoinfo -R -x /meta-data -i "$SEED" >"$T/meta"
grep -q "local-hostname: \"$V\"" "$T/meta" && grep -qF "$(cut -d' ' -f1-2 "$T/key.pub")" "$T/meta" ||
  { cat "$T/meta"; fail "meta-data"; }
mac=$(kctl vm show $V --format json | field "d['nics'][0]['mac']")
isoinfo -R -x /network-config -i "$SEED" >"$T/net"
grep -q "\"$mac\"" "$T/net" && grep -q '"10.61.0.5/24"' "$T/net" && grep -q '"10.61.0.1"' "$T/net" ||
  { cat "$T/net"; fail "network-config"; }
isoinfo -R -x /vendor-data -i "$SEED" | grep -q "kvnet-guest: ready" || fail "vendor-data has no ready marker"
log "the seed: cidata volume on vdb with meta-data (name, key) and network-config (MAC, address, gateway)"

# Export and apply: nothing changes (the overlay's path is in the export).
kctl export >"$T/cfg.yaml"
grep -q "image: base" "$T/cfg.yaml" && grep -q "disk: $OVL" "$T/cfg.yaml" || { cat "$T/cfg.yaml"; fail "export"; }
kctl apply "$T/cfg.yaml" >"$T/out" || { cat "$T/out"; fail "apply of the export"; }
grep -qx "no change" "$T/out" || { cat "$T/out"; fail "apply of the export changed something"; }
log "export and apply of an image VM: no change"

# vm del --keep-disk keeps the overlay; a plain del removes it.
kctl vm del $V --force --keep-disk >/dev/null || fail "vm del --keep-disk"
[ -f "$OVL" ] || fail "--keep-disk did not keep the overlay"
rm -f "$OVL"
kctl vm add $V --image base --mem 128M >/dev/null || fail "vm add again"
[ -f "$OVL" ] || fail "no overlay the second time"
[ "$(qemu-img info --output=json -U "$OVL" | field "d['virtual-size']")" = 33554432 ] || fail "without --disk-size: the image's size"
kctl vm del $V >/dev/null || fail "vm del"
[ -e "$OVL" ] && fail "vm del left the overlay"
kctl image del base >/dev/null || fail "image del once no VM uses it"
[ -z "$(ls "$STORE")" ] || { ls -l "$STORE"; fail "image del left files (the kernel?)"; }
log "vm del removes the overlay, --keep-disk keeps it; the image goes once unused"
log "PASS"
