#!/usr/bin/env bash
# A real distribution as users run one: the Debian 12 cloud image
# (guest/build-debian.sh) imported into the store with its kernel, a VM of
# it on a cluster network with an injected SSH key (cloud-init, NoCloud seed
# kvnet writes), on two hosts as namespaces on a real etcd:
#   - it boots to cloud-init's final message (vm start --wait);
#   - from a container on the other host: SSH in with the key as the image's
#     default user `debian`, the guest's hostname is the VM's name and its
#     address the one kvnet allocated; iperf3 between them;
#   - its guest agent: `vm exec` runs commands in it (output, exit status,
#     standard input), `vm show` reports the guest's own view of its NIC;
#   - it migrates, with its disk, to h2 and back while a container on a third
#     host pings it every 10 ms and holds an SSH session streaming from it:
#     the session survives, the pings lost are reported, a file written
#     before the moves is there after them.
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
for n in h1 h2 h3; do underlay_join $n 10.99.0.${n#h}/24; done
underlay_join st $STORE/24
etcd_single $STORE
for n in h1 h2 h3; do
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

# --- the guest agent -----------------------------------------------------------
wait_for 120 "the guest agent answers (vm exec)" hctl h1 vm exec $D -- true
[ "$(hctl h1 vm exec $D -- hostname)" = "$D" ] || fail "vm exec hostname: '$(hctl h1 vm exec $D -- hostname)'"
set +e
hctl h1 vm exec $D -- sh -c 'echo to-out; echo to-err >&2; exit 7' >"$T/exec.out" 2>"$T/exec.err"
rc=$?
set -e
[ $rc = 7 ] || fail "vm exec: exit status $rc, the command's was 7"
[ "$(cat "$T/exec.out")" = to-out ] || fail "vm exec: stdout '$(cat "$T/exec.out")'"
[ "$(cat "$T/exec.err")" = to-err ] || fail "vm exec: stderr '$(cat "$T/exec.err")'"
[ "$(printf 'through stdin' | hctl h1 vm exec -i $D -- cat)" = "through stdin" ] || fail "vm exec -i"
[ "$(hctl h1 --format json vm exec $D -- id -un | field "d['stdout'].strip() + ' ' + str(d['exitcode'])")" = "root 0" ] ||
  fail "vm exec --format json"
expect_error "vm exec of a program the guest lacks" 1 "No such file" hctl h1 vm exec $D -- /no/such/program
guest_nic() {  # the address the agent reports for NIC 0
  hctl h1 --format json vm show $D |
    field "' '.join(a for i in d['guest'].get('interfaces', []) if i.get('nic') == 0 for a in i['addresses'])"
}
guest_nic_is() { [ "$(guest_nic)" = "$1" ]; }
wait_for 30 "vm show reports the guest's own address of NIC 0" guest_nic_is 10.99.1.10/24
hctl h1 vm show $D | grep -q "^  guest agent: .* (nic 0) .*10.99.1.10/24" || { hctl h1 vm show $D; fail "vm show lacks the guest's view"; }
log "guest agent: vm exec (output, status 7, stdin, json), vm show: the guest says NIC 0 has $(guest_nic)"

# --- migrations, with 10 ms pings and an SSH session from a third host ---------
sshd 'echo kvnet-was-here-before >/home/debian/before; sync' || fail "a file in the guest"
hctl h3 ct add ${P}p --network blue --ip 10.99.1.40 >/dev/null || fail "ct add on h3"
wait_for 30 "h3 reaches the VM" pings ${P}p 10.99.1.10 2
migrate() {  # FROM TO
  ping_start ${P}p 10.99.1.10
  ip netns exec ${P}p ssh -i "$T/key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes \
    -o LogLevel=ERROR debian@10.99.1.10 'while :; do date +%s.%N; sleep 0.05; done' >"$T/ticks" 2>"$T/ticks.err" &
  local held=$!
  wait_for 30 "the SSH session from h3 streams" test -s "$T/ticks"
  sleep 1
  hctl $1 vm migrate $D --to $2 --wait --timeout 300 >"$T/mig" 2>&1 ||
    { cat "$T/mig"; tail -5 "$T/$1.log" | cut -c1-300; tail -5 "$T/$2.log" | cut -c1-300; fail "migration $1 -> $2"; }
  local n
  n=$(wc -l <"$T/ticks")
  ticking() { [ "$(wc -l <"$T/ticks")" -gt $((n + 10)) ]; }
  for _ in $(seq 1 200); do ticking && break; sleep 0.1; done
  if ! ticking; then  # what the guest and the hosts say
    tail -3 "$T/ticks.err"; tail -3 "$T/ping.out"
    hctl $2 vm show $D | grep -v "^  command" || true
    hctl $2 vm console $D --log | tail -30 || true
    tail -8 "$T/$2.log" | cut -c1-250
    fail "the SSH session from h3 does not go on after the move $1 -> $2 (waited 20 s)"
  fi
  alive $held || { cat "$T/ticks.err"; fail "the SSH session from h3 ended with the move $1 -> $2"; }
  kill $held
  wait $held || true
  ping_stop
  log "$1 -> $2 with its disk: $(tail -1 "$T/mig"); pings every 10 ms: $PINGS_LOST of $PINGS_SENT lost; the SSH session held"
  hctl $2 vm list | grep -q "^$D  *running" || fail "$D does not run on $2"
  hctl $1 vm list | grep -q "^$D " && fail "$1 still has $D"
  [ "$(sshd cat /home/debian/before)" = kvnet-was-here-before ] || fail "the file written before the move is not there"
}
migrate h1 h2
migrate h2 h1
[ "$(hctl h1 vm exec $D -- cat /home/debian/before)" = kvnet-was-here-before ] || fail "vm exec after the moves"
log "PASS"
