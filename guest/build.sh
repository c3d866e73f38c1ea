#!/usr/bin/env bash
# Builds kvnet's guest image from Debian packages: the Debian cloud kernel and
# a busybox initramfs. Usage: guest/build.sh [OUT_DIR]   (root; default
# /var/cache/kvnet/guest, or $KVNET_GUEST_DIR)
#
#   OUT_DIR/vmlinuz      the kernel of the package linux-image-cloud-amd64
#                        depends on (downloaded with apt-get download,
#                        unpacked, never installed)
#   OUT_DIR/initrd.img   busybox-static, the virtio modules (and their
#                        dependencies, from the kernel's modules.dep), iperf3
#                        with its libraries, and guest/init as /init
#   OUT_DIR/inputs       what the image was built from; the image is rebuilt
#                        only when one of these changes
#
# The guest's kernel command line takes kvnet.ipN=CIDR (NIC N, in PCI order),
# kvnet.gw=IP and kvnet.hostname=NAME; /init prints "kvnet-guest: ready" on
# the serial console when the network is configured (see guest/init).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-${KVNET_GUEST_DIR:-/var/cache/kvnet/guest}}
# What the initramfs loads, in this order after their dependencies.
MODULES=(virtio_pci virtio_net virtio_blk virtio_console button evdev)
# Host binaries copied with their libraries (from Debian packages).
BINARIES=(/usr/bin/iperf3)
step() { echo "guest: $*" >&2; }

need() {  # Debian packages the recipe itself uses
  local missing=()
  for p in busybox-static iperf3 kmod cpio gzip; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep "install ok installed" >/dev/null || missing+=("$p")
  done
  if ((${#missing[@]})); then
    step "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

kernel_package() {  # the versioned package linux-image-cloud-amd64 depends on
  apt-cache depends linux-image-cloud-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -1
}

need
PKG=$(kernel_package)
if [ -z "$PKG" ]; then
  step "updating the package lists (linux-image-cloud-amd64 is not known yet)"
  apt-get update -qq >&2
  PKG=$(kernel_package)
fi
[ -n "$PKG" ] || { echo "guest: cannot resolve linux-image-cloud-amd64 to a kernel package" >&2; exit 1; }
PKG_VERSION=$(apt-cache policy "$PKG" | sed -n 's/^ *Candidate: //p')
INPUTS=$(cat <<IN
kernel $PKG $PKG_VERSION
busybox $(dpkg-query -W -f='${Version}' busybox-static)
iperf3 $(dpkg-query -W -f='${Version}' iperf3)
modules ${MODULES[*]}
recipe $(cat "$HERE/build.sh" "$HERE/init" | sha256sum | cut -d' ' -f1)
IN
)
if [ -f "$OUT/inputs" ] && [ "$(cat "$OUT/inputs")" = "$INPUTS" ] && [ -f "$OUT/vmlinuz" ] && [ -f "$OUT/initrd.img" ]; then
  step "image in $OUT is up to date ($PKG $PKG_VERSION)"
  exit 0
fi

W=$(mktemp -d /tmp/kvnet-guest.XXXXXX)
trap 'rm -rf "$W"' EXIT
step "[1/4] downloading $PKG $PKG_VERSION"
(cd "$W" && apt-get download -q "$PKG=$PKG_VERSION" 2>&1 | grep -v "unsandboxed" >&2 || true)
DEB=$(ls "$W"/*.deb 2>/dev/null | head -1)
[ -n "$DEB" ] || { echo "guest: apt-get download $PKG failed" >&2; exit 1; }
step "[2/4] unpacking the kernel and resolving modules"
dpkg-deb -x "$DEB" "$W/pkg"
KVER=$(ls "$W/pkg/lib/modules" | head -1)
depmod -b "$W/pkg" "$KVER"
MODDIR=$W/pkg/lib/modules/$KVER
# Each wanted module after its dependencies (modules.dep lists a module's
# dependencies, the deepest last); built-in ones (not in modules.dep) are skipped.
declare -A SEEN
ORDER=()
add_module() {
  local name=$1 line path deps d
  line=$(grep -E "(^|/)${name//_/[_-]}\.ko(\.[a-z]+)?:" "$MODDIR/modules.dep" | head -1) || true
  [ -n "$line" ] || return 0
  path=${line%%:*}
  [ -n "${SEEN[$path]:-}" ] && return 0
  SEEN[$path]=1
  deps=${line#*:}
  for d in $(echo $deps | tr ' ' '\n' | tac); do add_module "$(basename "${d%%.ko*}")"; done
  ORDER+=("$path")
}
for m in "${MODULES[@]}"; do add_module "$m"; done

step "[3/4] assembling the initramfs (${#ORDER[@]} modules, busybox, iperf3)"
R=$W/root
mkdir -p "$R"/{bin,sbin,etc,proc,sys,dev,tmp,root,lib/modules,usr/bin,usr/sbin,etc/acpi/PWRF}
cp /bin/busybox "$R/bin/busybox"
: >"$R/etc/modules"
for p in "${ORDER[@]}"; do
  f=$(basename "$p")
  case "$f" in
    *.ko.xz) xz -dc "$MODDIR/$p" >"$R/lib/modules/${f%.xz}"; f=${f%.xz} ;;
    *.ko.zst) zstd -qdc "$MODDIR/$p" >"$R/lib/modules/${f%.zst}"; f=${f%.zst} ;;
    *) cp "$MODDIR/$p" "$R/lib/modules/$f" ;;
  esac
  echo "$f" >>"$R/etc/modules"
done
for b in "${BINARIES[@]}"; do
  cp "$b" "$R/usr/bin/"
  for lib in $(ldd "$b" | grep -o '/[^ ]*'); do
    mkdir -p "$R$(dirname "$lib")"
    cp -L "$lib" "$R$lib"
  done
done
cp "$HERE/init" "$R/init"
chmod 755 "$R/init"
# The ACPI power button (QMP system_powerdown) powers the guest off.
printf '#!/bin/sh\nsync\npoweroff -f\n' >"$R/etc/acpi/PWRF/00000080"
chmod 755 "$R/etc/acpi/PWRF/00000080"
echo "root:x:0:0:root:/root:/bin/sh" >"$R/etc/passwd"

step "[4/4] writing $OUT"
mkdir -p "$OUT"
(cd "$R" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1) >"$W/initrd.img"
cp "$W/pkg/boot/vmlinuz-$KVER" "$W/vmlinuz"
mv -f "$W/vmlinuz" "$OUT/vmlinuz"
mv -f "$W/initrd.img" "$OUT/initrd.img"
echo "$INPUTS" >"$OUT/inputs"
step "image ready: $OUT/vmlinuz ($KVER), $OUT/initrd.img ($(du -h "$OUT/initrd.img" | cut -f1))"
