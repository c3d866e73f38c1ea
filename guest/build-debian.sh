#!/usr/bin/env bash
# Builds kvnet's Debian 12 (bookworm) cloud guest image: a debootstrap'ed
# minbase tree with systemd, the Debian cloud kernel, cloud-init (NoCloud),
# openssh-server, iperf3 and qemu-guest-agent, networked by
# systemd-networkd + systemd-resolved. Usage: guest/build-debian.sh [OUT_DIR]
# (root; default /var/cache/kvnet/debian, or $KVNET_DEBIAN_DIR)
#
#   OUT_DIR/debian-12.qcow2  an ext4 filesystem directly on the disk (no
#                            partition table: root=/dev/vda), compressed qcow2;
#                            cloud-init's resizefs grows the filesystem to the
#                            size of the VM's overlay at boot
#   OUT_DIR/vmlinuz          the image's own kernel (linux-image-cloud-amd64)
#   OUT_DIR/initrd.img       its initramfs (virtio + ext4 modules only, zstd),
#                            for direct kernel boot with
#                            -append "root=/dev/vda rw console=ttyS0 net.ifnames=0 ds=nocloud"
#   OUT_DIR/manifest         dpkg-query -W of the image's tree
#   OUT_DIR/inputs           what the image was built from (the package set
#                            with versions, resolved from the host's apt lists
#                            before building, and the recipe's sha256); the
#                            image is rebuilt only when one of these changes
#
# Packages come from the archive the host's apt uses (its sources, never a
# host name written here); the image's apt sources list the same Debian
# suites. The image has an empty machine-id, no ssh host keys (cloud-init
# makes them: ed25519 and ecdsa), a serial getty on ttyS0 (console=ttyS0),
# qemu-guest-agent started by udev when the virtio port
# org.qemu.guest_agent.0 appears, no documentation, and
# /etc/cloud/cloud.cfg.d/90_kvnet.cfg: datasource NoCloud, the networkd
# renderer, the network config applied again on every boot, and a short list
# of cloud-init modules. To boot faster under TCG it runs two cloud-init
# stages instead of four (cloud-init-local and cloud-final; see 90_kvnet.cfg
# below) and does not wait for IPv6 router advertisements on NICs with static
# addresses (kvnet-static-no-ra.service). The build works in OUT_DIR/.build.*
# and moves the results into OUT_DIR at the end, so a failed build leaves the
# previous image as it was. From scratch it takes 3-7 min on 2 cores (more
# when they are busy) and downloads ~90 MB of packages plus the package lists;
# with unchanged inputs it returns in under a second.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-${KVNET_DEBIAN_DIR:-/var/cache/kvnet/debian}}
SUITE=bookworm
# Installed with apt (no recommends) on top of debootstrap's minbase.
PACKAGES=(systemd-sysv udev linux-image-cloud-amd64 initramfs-tools zstd cloud-init openssh-server iperf3
  qemu-guest-agent systemd-resolved iproute2 iputils-ping sudo e2fsprogs netbase ca-certificates)
# What the initramfs loads (MODULES=list): just enough to mount /dev/vda.
INITRD_MODULES=(virtio_pci virtio_blk ext4 crc32c_generic)
# Units that slow a boot under TCG and that a test VM does not need.
# cloud-init.service and cloud-config.service: see 90_kvnet.cfg below.
MASK=(apt-daily.timer apt-daily-upgrade.timer apt-daily.service apt-daily-upgrade.service
  e2scrub_all.timer e2scrub_all.service e2scrub_reap.service fstrim.timer fstrim.service
  man-db.timer man-db.service systemd-pstore.service cloud-init.service cloud-config.service)
step() { echo "debian-image: $*" >&2; }
die() { echo "debian-image: $*" >&2; exit 1; }

need() {  # Debian packages the recipe itself uses
  local missing=()
  for p in debootstrap debian-archive-keyring e2fsprogs qemu-utils zstd; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep "install ok installed" >/dev/null || missing+=("$p")
  done
  if ((${#missing[@]})); then
    step "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# The archive URI apt uses for SUITE/main, and the Debian suites (SUITE,
# SUITE-updates, SUITE-security) as "URI SUITE" lines, from the host's apt
# configuration (any sources format).
mirror() {
  apt-get indextargets --format '$(REPO_URI)' "Release: $SUITE" 'Component: main' 'Identifier: Packages' | head -1
}
suites() {
  apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 'Origin: Debian' 'Component: main' 'Identifier: Packages' |
    grep -E " $SUITE(-updates|-security)?\$" | sort -u
}

# The package set the image gets, with versions: PACKAGES plus
# debootstrap's minbase (the Priority: required packages, apt, usr-is-merged)
# and all their dependencies, as apt resolves them against an empty system
# with the host's lists. Empty when the lists don't know them.
resolve() {
  apt-get -s -q -o Dir::State::status=/dev/null -o APT::Install-Recommends=false -o APT::Install-Suggests=false \
    install "${PACKAGES[@]}" '?priority(required)' apt usr-is-merged 2>/dev/null |
    sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) .*/\1 \2/p' | LC_ALL=C sort
}
# Changes whenever the host's apt sources or lists change (cheap: resolve()
# takes seconds, this does not).
apt_state() {
  { find /etc/apt/sources.list /etc/apt/sources.list.d /etc/apt/preferences.d /var/lib/apt/lists -maxdepth 1 \
    -type f -not -name lock -printf '%p %s %T@\n' 2>/dev/null || true; } | LC_ALL=C sort | sha256sum | cut -d' ' -f1
}
up_to_date() {
  [ -f "$OUT/debian-12.qcow2" ] && [ -f "$OUT/vmlinuz" ] && [ -f "$OUT/initrd.img" ] && [ -f "$OUT/manifest" ]
}

need
RECIPE=$(sha256sum <"$HERE/build-debian.sh" | cut -d' ' -f1)
# Same recipe and same apt lists as when OUT's inputs were last checked: done.
STATE="recipe $RECIPE apt $(apt_state)"
if up_to_date && [ -f "$OUT/inputs" ] && [ "$(cat "$OUT/.apt-state" 2>/dev/null)" = "$STATE" ]; then
  step "image in $OUT is up to date"
  exit 0
fi
MIRROR=$(mirror)
RESOLVED=$(resolve)
if [ -z "$MIRROR" ] || ! grep -q '^linux-image-[0-9]' <<<"$RESOLVED"; then
  step "updating the package lists ($SUITE's packages are not known yet)"
  apt-get update -qq >&2
  MIRROR=$(mirror)
  RESOLVED=$(resolve)
fi
[ -n "$MIRROR" ] || die "apt has no source for $SUITE main"
grep -q '^linux-image-[0-9]' <<<"$RESOLVED" || die "apt cannot resolve ${PACKAGES[*]} for $SUITE"
INPUTS=$(cat <<IN
suite $SUITE
initrd-modules ${INITRD_MODULES[*]}
mask ${MASK[*]}
recipe $RECIPE
$(sed 's/^/package /' <<<"$RESOLVED")
IN
)
mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9  # one build at a time per OUT_DIR
if up_to_date && [ -f "$OUT/inputs" ] && [ "$(cat "$OUT/inputs")" = "$INPUTS" ]; then
  echo "$STATE" >"$OUT/.apt-state"
  step "image in $OUT is up to date ($(grep -c '^package ' <<<"$INPUTS") packages)"
  exit 0
fi

remove_build_dir() {  # DIR
  # debootstrap mounts /proc and /sys in the tree while it works, and a failure
  # can leave them there: unmount first, and never let rm cross into a mount.
  local m
  for m in $(awk -v w="$1/" 'index($2, w) == 1 {print $2}' /proc/self/mounts | LC_ALL=C sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf --one-file-system "$1"
}
# What a killed build left (the lock says none is running).
for d in "$OUT"/.build.*; do [ -d "$d" ] && remove_build_dir "$d"; done
START=$SECONDS
W=$(mktemp -d "$OUT/.build.XXXXXX")
R=$W/root
trap 'remove_build_dir "$W"' EXIT
trap 'exit 130' INT TERM HUP
in_root() {  # runs a command in the tree, with a clean environment
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
    DEBCONF_NONINTERACTIVE_SEEN=true chroot "$R" "$@"
}

step "[1/7] debootstrap --variant=minbase $SUITE (from $MIRROR)"
debootstrap --variant=minbase --components=main "$SUITE" "$R" "$MIRROR" >"$W/debootstrap.log" 2>&1 ||
  { tail -20 "$W/debootstrap.log" >&2; die "debootstrap failed"; }

step "[2/7] configuring apt, dpkg and the initramfs before installing"
# The image's apt sources: the Debian suites the host's apt uses.
rm -f "$R/etc/apt/sources.list"
while read -r uri suite; do
  printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n' \
    "$uri" "$suite"
done <<<"$(suites)" >"$R/etc/apt/sources.list.d/debian.sources"
# No documentation, manual pages or translations (copyright files stay).
cat >"$R/etc/dpkg/dpkg.cfg.d/kvnet-nodoc" <<'EOF'
# kvnet's guest image carries no documentation, manual pages or translations.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
EOF
printf 'Acquire::Languages "none";\nAPT::Install-Recommends "false";\n' >"$R/etc/apt/apt.conf.d/90kvnet"
# No daemon starts inside the build.
printf '#!/bin/sh\nexit 101\n' >"$R/usr/sbin/policy-rc.d"
chmod 755 "$R/usr/sbin/policy-rc.d"
# A small initramfs: only the modules listed, zstd.
mkdir -p "$R/etc/initramfs-tools/conf.d"
printf 'MODULES=list\nCOMPRESS=zstd\nCOMPRESSLEVEL=19\nRESUME=none\n' >"$R/etc/initramfs-tools/conf.d/kvnet.conf"
printf '%s\n' "${INITRD_MODULES[@]}" >"$R/etc/initramfs-tools/modules"

step "[3/7] installing ${#PACKAGES[@]} packages and their dependencies"
{
  in_root apt-get update -q &&
    in_root apt-get -y -q -o Dpkg::Options::=--force-confold dist-upgrade &&
    in_root apt-get -y -q -o Dpkg::Options::=--force-confold install "${PACKAGES[@]}"
} >"$W/apt.log" 2>&1 || { tail -30 "$W/apt.log" >&2; die "installing the packages failed (log above)"; }
KVER=$(ls "$R/lib/modules" | head -1)
[ -f "$R/boot/vmlinuz-$KVER" ] && [ -f "$R/boot/initrd.img-$KVER" ] || die "no kernel/initramfs in the tree"

step "[4/7] configuring the system (cloud-init, networkd, fstab, units)"
echo "/dev/vda / ext4 rw,discard,errors=remount-ro 0 1" >"$R/etc/fstab"
cat >"$R/etc/hosts" <<'EOF'
127.0.0.1	localhost
::1		localhost ip6-localhost ip6-loopback
ff02::1		ip6-allnodes
ff02::2		ip6-allrouters
EOF
echo localhost >"$R/etc/hostname"
ln -sf ../run/systemd/resolve/stub-resolv.conf "$R/etc/resolv.conf"
cat >"$R/etc/cloud/cloud.cfg.d/90_kvnet.cfg" <<'EOF'
# kvnet: the seed is a NoCloud volume (label cidata); ds=nocloud on the kernel
# command line makes ds-identify pick it at once.
datasource_list: [ NoCloud, None ]
system_info:
  network:
    renderers: [ networkd ]
# Apply the seed's network-config again on every boot, so a rewritten seed
# (the VM's NICs changed) takes effect on the next boot.
updates:
  network:
    when: [ boot-new-instance, boot ]
# Host keys: ed25519 and ecdsa only. An RSA-3072 key takes 2-25 s to make
# under TCG (DSA ~3.5 s), and sshd waits for it (user-data can override).
ssh_genkeytypes: [ ed25519, ecdsa ]
# Only the modules a kvnet VM uses: each one costs time under TCG. And two
# cloud-init stages instead of four: each stage is a Python process that
# spends ~5 s (more under load) importing cloud-init under TCG. The image
# masks cloud-init.service (the network stage): with a NoCloud seed on a
# local disk the datasource is in local mode, the init modules run in
# cloud-init-local.service, and the network stage only logs "datasource in
# local mode" and exits; sshd and the getty then no longer wait for it
# (cloud-final.service still waits for network-online.target). It masks
# cloud-config.service too, and the config stage's modules run at the start of
# the final stage. A datasource that needs the network (NoCloud seedfrom an
# URL, dsmode: net) would need both units unmasked.
cloud_init_modules:
  - bootcmd
  - write-files
  - growpart
  - resizefs
  - set_hostname
  - update_hostname
  - update_etc_hosts
  - users-groups
  - ssh
cloud_config_modules: []
cloud_final_modules:
  - set-passwords
  - runcmd
  - write-files-deferred
  - scripts-vendor
  - scripts-per-once
  - scripts-per-boot
  - scripts-per-instance
  - scripts-user
  - ssh-authkey-fingerprints
  - final-message
  - power-state-change
EOF
# cloud-init 22.4's networkd renderer writes IPv6AcceptRA only for DHCPv6
# NICs, and ignores the seed's accept-ra otherwise. So a NIC with static
# addresses only keeps accepting RAs and stays "configuring" until router
# solicitation gives up (~12 s); systemd-networkd-wait-online waits for it,
# and so does network-online.target, cloud-final.service and its final message
# (with Debian's units sshd and the getty waited too). kvnet's networks send
# no RAs: for a static NIC whose config says nothing about RAs, a runtime
# drop-in turns them off before networkd starts.
mkdir -p "$R/usr/local/sbin"
cat >"$R/usr/local/sbin/kvnet-static-no-ra" <<'EOF'
#!/bin/sh
# kvnet: networkd does not wait for IPv6 router advertisements on a NIC
# cloud-init configured with static addresses only (DHCP=no) whose
# config does not set IPv6AcceptRA. See kvnet-static-no-ra.service.
# (Shell builtins only but mkdir: each process costs under TCG.)
for f in /etc/systemd/network/10-cloud-init-*.network; do
  [ -f "$f" ] || continue
  static=0 ra=0
  while IFS= read -r line || [ -n "$line" ]; do
    case $line in DHCP=no) static=1 ;; IPv6AcceptRA=*) ra=1 ;; esac
  done <"$f"
  [ $static = 1 ] && [ $ra = 0 ] || continue
  mkdir -p "/run/systemd/network/${f##*/}.d"
  printf '[Network]\nIPv6AcceptRA=no\n' >"/run/systemd/network/${f##*/}.d/50-kvnet-static.conf"
done
EOF
chmod 755 "$R/usr/local/sbin/kvnet-static-no-ra"
cat >"$R/etc/systemd/system/kvnet-static-no-ra.service" <<'EOF'
[Unit]
Description=kvnet: no wait for IPv6 router advertisements on static NICs
DefaultDependencies=no
After=cloud-init-local.service
Before=systemd-networkd.service network-pre.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/kvnet-static-no-ra

[Install]
WantedBy=systemd-networkd.service
EOF
in_root systemctl -q enable systemd-networkd.service systemd-resolved.service kvnet-static-no-ra.service 2>/dev/null ||
  die "systemctl enable systemd-networkd systemd-resolved kvnet-static-no-ra failed"
in_root systemctl -q mask "${MASK[@]}" 2>/dev/null || die "systemctl mask failed"
# First boot: no machine identity and no ssh host keys in the image.
: >"$R/etc/machine-id"
rm -f "$R/var/lib/dbus/machine-id" "$R"/etc/ssh/ssh_host_* "$R/usr/sbin/policy-rc.d"

step "[5/7] trimming the tree and copying the kernel out"
cp "$R/boot/vmlinuz-$KVER" "$W/vmlinuz"
cp "$R/boot/initrd.img-$KVER" "$W/initrd.img"
dpkg-query --admindir="$R/var/lib/dpkg" -W >"$W/manifest"
in_root apt-get clean
find "$R/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$R/usr/share/doc" -mindepth 1 -type d -empty -delete
find "$R/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
rm -rf "$R"/usr/share/{man,info,lintian,linda}/* "$R"/var/lib/apt/lists/* "$R"/var/cache/apt/*.bin \
  "$R"/var/cache/debconf/*-old "$R"/var/lib/dpkg/*-old "$R"/tmp/* "$R"/var/tmp/* \
  "$R"/root/.bash_history "$R/debootstrap"
find "$R/var/log" -type f -delete
mkdir -p "$R/var/log/journal" # a persistent journal, as on Debian's cloud images

step "[6/7] making the ext4 filesystem"
# The tree plus room to boot; cloud-init grows it to the disk's size.
KB=$(du -sk --apparent-size "$R" | cut -f1)
SIZE_MB=$((KB / 1024 * 5 / 4 + 128))
UUID=$(sha256sum <<<"$INPUTS" | sed -E 's/^(.{8})(.{4}).(.{3}).(.{3})(.{12}).*/\1-\2-4\3-8\4-\5/')
mke2fs -q -F -t ext4 -L kvnet-root -U "$UUID" -E "hash_seed=$UUID,root_owner=0:0" -i 8192 -m 1 \
  -d "$R" "$W/root.img" "${SIZE_MB}M" >"$W/mke2fs.log" 2>&1 || { cat "$W/mke2fs.log" >&2; die "mke2fs failed"; }
e2fsck -fn "$W/root.img" >/dev/null 2>&1 || die "the new filesystem does not check clean"

step "[7/7] compressing to qcow2 and writing $OUT"
qemu-img convert -c -f raw -O qcow2 -o compression_type=zstd "$W/root.img" "$W/debian-12.qcow2"
echo "$INPUTS" >"$W/inputs"
rm -f "$OUT/inputs"  # no inputs file while the set is incomplete: a crash here means a rebuild
for f in debian-12.qcow2 vmlinuz initrd.img manifest inputs; do mv -f "$W/$f" "$OUT/$f"; done
echo "$STATE" >"$OUT/.apt-state"
step "image ready in $((SECONDS - START)) s: $OUT/debian-12.qcow2 ($(du -h "$OUT/debian-12.qcow2" | cut -f1), filesystem ${SIZE_MB} MiB)," \
  "vmlinuz ($KVER, $(du -h "$OUT/vmlinuz" | cut -f1)), initrd.img ($(du -h "$OUT/initrd.img" | cut -f1)), $(wc -l <"$OUT/manifest") packages"
