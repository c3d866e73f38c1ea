#!/usr/bin/env bash
# A real distribution as users run one: the Debian 12 cloud image
# (guest/build-debian.sh) imported into the store with its kernel, a VM of
# it on a cluster network with an injected SSH key (cloud-init, NoCloud seed
# kvnet writes), on two hosts as namespaces on a real etcd:
#   - it boots to cloud-init's final message (vm start --wait);
#   - from a container on the other host: SSH in with the key as the image's
#     default user `debian`, the guest's hostname is the VM's name and its
#     address the one kvnet allocated; iperf3 between them;
#   - it migrates, with its disk, to the container's host while the SSH
#     session's host keeps answering, and a file written before is there.
source "$(dirname "$0")/../integration/lib.sh" "$@"
export KVNET_DEBIAN_DIR=${KVNET_DEBIAN_DIR:-/var/cache/kvnet/debian}
bash "$SRC/guest/build-debian.sh" "$KVNET_DEBIAN_DIR" >/dev/null 2>"$T/debian.log" || { tail -20 "$T/debian.log"; fail "Debian image build"; }
command -v etcd >/dev/null || fail "etcd is not installed (./run installs etcd-server)"
command -v ssh >/dev/null || fail "ssh is not installed"

STORE=10.99.0.100
URL=http://$STORE:2379
ETCD_PID=""
EXTRA_CLEANUP='[ -n "$ETCD_PID" ] && kill -9 $ETCD_PID 2>/dev/null; for f in "$T"/*-vms/*/qemu.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done; sleep 0.3'
underlay_bridge
for n in h1 h2; do underlay_join $n 10.99.0.${n#h}/24; done
underlay_join st $STORE/24
etcd_single $STORE
for n in h1 h2; do
  ip netns exec ${P}$n "$BIN/kvnetd" --foreground --db "$T/$n.db" --socket "$T/$n.sock" --vm-dir "$T/$n-vms" \
    --image-dir "$T/$n-images" --disk-dir "$T/$n-disks" --cluster $URL --host $n --underlay-ip 10.99.0.${n#h} \
    --cluster-ttl 3 >>"$T/$n.log" 2>&1 &
  HOST_PIDS+=($!)
  disown $!
  wait_for 10 "kvnetd on $n answers" hctl $n list-br
done
hctl h1 network add blue --vni 100 --subnet 10.99.1.0/24 >/dev/null || fail "network add"
for n in h1 h2; do
  hctl $n image import debian12 "$KVNET_DEBIAN_DIR/debian-12.qcow2" --kernel "$KVNET_DEBIAN_DIR/vmlinuz" \
    --initrd "$KVNET_DEBIAN_DIR/initrd.img" >/dev/null 2>&1 || fail "image import on $n"
done
log "the Debian image imported on h1 and h2"

ssh-keygen -q -t ed25519 -N '' -C "tester@kvnet" -f "$T/key"
D=${P}deb
t0=$(date +%s)
hctl h1 vm add $D --image debian12 --disk-size 2G --mem 512M --ssh-key "$T/key.pub" \
  --nic network=blue,ip=10.99.1.10 --start --wait --timeout 400 >"$T/out" 2>&1 ||
  { cat "$T/out"; hctl h1 vm console $D --log | tail -30; fail "the Debian VM did not boot to cloud-init's final message"; }
log "booted to cloud-init's final message in $(($(date +%s) - t0)) s (TCG)"

hctl h2 ct add ${P}c --network blue --ip 10.99.1.30 >/dev/null || fail "ct add on h2"
sshd() { ip netns exec ${P}c ssh -i "$T/key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
  -o ConnectTimeout=5 -o BatchMode=yes -o LogLevel=ERROR debian@10.99.1.10 "$@"; }
wait_for 120 "SSH into the guest from h2's container" sshd true
[ "$(sshd hostname)" = "$D" ] || fail "the guest's hostname is '$(sshd hostname)', not $D"
sshd ip -4 -o addr show | grep -q "inet 10.99.1.10/24" || { sshd ip -4 -o addr show; fail "the guest lacks its address"; }
sshd 'iperf3 -s -D' || fail "iperf3 server in the guest"
wait_for 10 "iperf3 in the guest listens" bash -c "ip netns exec ${P}c iperf3 -c 10.99.1.10 -t 1 >/dev/null 2>&1"
ip netns exec ${P}c iperf3 -c 10.99.1.10 -t 3 >"$T/iperf" 2>&1 || { cat "$T/iperf"; fail "iperf3 to the guest"; }
log "SSH with the injected key from h2: hostname $D, address 10.99.1.10/24; iperf3: $(grep -E 'receiver' "$T/iperf" | awk '{print $7, $8}')"

sshd 'echo kvnet-was-here-before >/home/debian/before; sync' || fail "a file in the guest"
hctl h1 vm migrate $D --to h2 --wait --timeout 300 >"$T/mig" 2>&1 || { cat "$T/mig"; fail "migration of the Debian VM"; }
log "migrated with its disk: $(tail -1 "$T/mig")"
[ "$(sshd cat /home/debian/before)" = kvnet-was-here-before ] || fail "the file written before the move is not there"
sshd uptime >/dev/null || fail "SSH after the move"
hctl h2 vm list | grep -q "^$D  *running" || fail "$D does not run on h2"
log "PASS"
