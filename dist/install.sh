#!/usr/bin/env bash
# Installs kvnet from a build: the binaries, man pages (help2man, from each
# binary's --help), bash completion for kvnetctl (generated from its verb
# table) and the systemd unit. `./run install` calls it with build/bin.
#   dist/install.sh BIN_DIR     env: PREFIX (default /usr/local), DESTDIR (staging root)
set -euo pipefail
BIN=${1:?usage: dist/install.sh BIN_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
root=$DESTDIR$PREFIX
step() { printf 'install: %s\n' "$*"; }

for b in kvnetd kvnetctl kvnet; do
  [ -x "$BIN/$b" ] || { echo "install: $BIN/$b is missing: build first (./run build)" >&2; exit 1; }
done
install -d "$root/bin" "$root/share/man/man1" "$root/share/man/man8" "$root/share/bash-completion/completions"
for b in kvnetd kvnetctl kvnet; do
  install -m 0755 "$BIN/$b" "$root/bin/$b"
  step "$PREFIX/bin/$b"
done

# Man pages: kvnetd in section 8 (a daemon run by root), the tools in 1.
man_page() {  # binary section description
  local tmp
  tmp=$(mktemp)
  help2man --no-info --section="$2" --name="$3" --include="$HERE/man-common.h2m" \
    --output="$tmp" "$root/bin/$1"
  gzip -9n <"$tmp" >"$root/share/man/man$2/$1.$2.gz"
  rm -f "$tmp"
  step "$PREFIX/share/man/man$2/$1.$2.gz"
}
man_page kvnetd 8 "kvnet's virtualization host daemon: switch, VMs, containers, firewall"
man_page kvnetctl 1 "configure and inspect a running kvnetd (verbs follow ovs-vsctl)"
man_page kvnet 1 "kvnet's offline tools: validate, run, trace and draw topology files"

"$root/bin/kvnetctl" completion bash >"$root/share/bash-completion/completions/kvnetctl"
step "$PREFIX/share/bash-completion/completions/kvnetctl"

# The systemd unit, pointing at the installed kvnetd.
if [ -f "$HERE/kvnetd.service" ]; then
  unit_dir=$DESTDIR/etc/systemd/system
  install -d "$unit_dir"
  sed "s|/usr/local/bin/kvnetd|$PREFIX/bin/kvnetd|g" "$HERE/kvnetd.service" >"$unit_dir/kvnetd.service"
  chmod 0644 "$unit_dir/kvnetd.service"
  step "/etc/systemd/system/kvnetd.service (systemctl daemon-reload; systemctl enable --now kvnetd)"
fi
