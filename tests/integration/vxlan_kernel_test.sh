#!/usr/bin/env bash
# kvnet's VXLAN against the Linux kernel's, over an IPv4 and an IPv6 underlay.
#
#   host A (namespace ${P}A): kvnetd, bridge br0 = vxlan port vx0 + container ${P}c
#   host B (namespace ${P}B): kernel vxlan vx0 (dstport 4789) in Linux bridge br0,
#                             a veth to the endpoint namespace ${P}E
#   underlay: a veth pair A <-> B
#
# Checked: ping and iperf3 TCP both ways; the kernel floods BUM traffic to kvnet
# through its all-zeros FDB entry (no `remote` on its device); both sides learn
# the other's inner MACs (kernel: `bridge fdb` shows kvnet's VTEP as dst; kvnet:
# fdb-show and the tunnel's learned count); the wire format as tshark decodes it
# (VNI, flags, outer UDP source port range, zero IPv4 UDP checksum, DF); a frame
# too big for the underlay is dropped as too_big.
#
# kvnetd runs in A through nsenter (network namespace only), so the container
# namespaces it creates are visible to `ip netns` here.
#
# Both underlay ends keep their default offloads. Over veth the kernel leaves
# the inner checksums of what it encapsulates unfilled (the skb stays
# CHECKSUM_PARTIAL all the way; a NIC would fill it): kvnet fills them in,
# and its tunnel socket's line in `show` counts them.
source "$(dirname "$0")/lib.sh" "$@"

setup() {  # FAMILY: 4 or 6
  local fam=$1
  local nodad=""
  if [ "$fam" = 4 ]; then UA=10.97.0.1 UB=10.97.0.2 PFX=24; else UA=fd00:97::1 UB=fd00:97::2 PFX=64 nodad=nodad; fi
  ip netns add ${P}A
  ip netns add ${P}B
  ip netns add ${P}E
  ip link add ${P}ua type veth peer name ${P}ub
  ip link set ${P}ua netns ${P}A
  ip link set ${P}ub netns ${P}B
  ip -n ${P}A addr add $UA/$PFX dev ${P}ua $nodad
  ip -n ${P}B addr add $UB/$PFX dev ${P}ub $nodad
  for ns in A B E; do ip -n ${P}$ns link set lo up; done
  ip -n ${P}A link set ${P}ua up
  ip -n ${P}B link set ${P}ub up
  # Kernel VTEP without a remote: BUM goes to the all-zeros FDB entry.
  ip -n ${P}B link add vx0 type vxlan id 42 dstport 4789 local $UB dev ${P}ub
  ip netns exec ${P}B bridge fdb append 00:00:00:00:00:00 dev vx0 dst $UA
  ip -n ${P}B link add br0 type bridge
  ip -n ${P}B link set vx0 master br0
  ip -n ${P}B link add e0 type veth peer name e1 netns ${P}E
  ip -n ${P}B link set e0 master br0
  for l in vx0 br0 e0; do ip -n ${P}B link set $l up; done
  ip -n ${P}E addr add 192.168.42.2/24 dev e1
  ip -n ${P}E link set e1 mtu 1450 up

  DB="$T/kvnet$fam.db"
  start_a
  expect_ok "add-br" kctl add-br br0
  expect_ok "add vxlan port" kctl add-port br0 vx0 type=vxlan remote_ip=$UB local_ip=$UA vni=42
  expect_ok "ct add" kctl ct add ${P}c --bridge br0 --ip 192.168.42.1/24
  ip netns exec ${P}c ip link set eth0 mtu 1450
}

start_a() {  # kvnetd in A, on $DB
  nsenter --net=/run/netns/${P}A "$BIN/kvnetd" --foreground --db "$DB" --socket "$KVNET_SOCKET" \
    >>"$T/kvnetd.log" 2>&1 &
  KVD_PID=$!
  disown "$KVD_PID"
  wait_for 10 "kvnetd in ${P}A answers" kctl list-br
}

teardown() {
  kvd_stop
  for ns in ${P}c ${P}A ${P}B ${P}E; do ip netns del $ns 2>/dev/null || true; done
}

iperf() {  # FROM_NS TO_ADDR SERVER_NS: prints Gbit/s
  ip netns exec "$3" iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
  local srv=$!
  sleep 0.3
  local out
  out=$(ip netns exec "$1" iperf3 -c "$2" -p 5201 -t 2 -J 2>&1) || { echo "$out" | tail -5; kill $srv 2>/dev/null; return 1; }
  wait $srv 2>/dev/null || true
  # Not a speed check: the transfer must have moved data at all.
  echo "$out" | python3 -c 'import json,sys; b=json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]; assert b > 1e6, "no data moved"; print("%.2f" % (b/1e9))'
}

run_family() {
  local fam=$1
  setup "$fam"
  pings ${P}c 192.168.42.2 5 || fail "IPv$fam underlay: container on kvnet cannot ping the kernel side"
  pings ${P}E 192.168.42.1 5 || fail "IPv$fam underlay: kernel side cannot ping the container on kvnet"
  log "IPv$fam underlay: ping both ways"

  # Learning on both sides.
  local cmac emac
  cmac=$(ip netns exec ${P}c cat /sys/class/net/eth0/address)
  emac=$(ip netns exec ${P}E cat /sys/class/net/e1/address)
  ip netns exec ${P}B bridge fdb show dev vx0 | grep -i "$cmac dst $UA" >/dev/null ||
    { ip netns exec ${P}B bridge fdb show dev vx0; fail "the kernel did not learn $cmac behind $UA"; }
  kctl fdb-show br0 | grep -i "$emac" | grep vx0 >/dev/null || { kctl fdb-show br0; fail "kvnet did not learn $emac on vx0"; }
  kctl fdb-show br0 | grep -i "$emac" | grep "$UB" >/dev/null || { kctl fdb-show br0; fail "fdb-show does not name the remote VTEP $UB"; }
  kctl show | grep -A3 "Port vx0" | grep "learned [1-9]" >/dev/null || { kctl show; fail "the tunnel's learned count is 0"; }
  log "IPv$fam underlay: both sides learned the other's MACs"
  if [ "$fam" = 6 ] && [ "${KVNET_FAST_PATH:-on}" != off ]; then
    # The pings above went through entries over the IPv6 underlay too.
    pings ${P}c 192.168.42.2 5 || fail "IPv6 underlay: the second round of pings failed"
    kctl fastpath dump --format json | python3 -c '
import json, sys
ub = sys.argv[1]
es = json.load(sys.stdin)["entries"]
out = [e for e in es if e["tunnel_out"] and e["tunnel_out"]["remote"] == ub and e["packets"] > 0]
inn = [e for e in es if e["tunnel_in"] and e["tunnel_in"]["remote"] == ub and e["packets"] > 0]
assert out and inn, "no used entry into and out of the tunnel to %s: %s" % (ub, [e["line"] for e in es])
assert out[0]["tunnel_out"]["csum"], "outer UDP checksums over IPv6 are always computed"
' "$UB" || fail "IPv6 underlay: the pings did not go through the fast path"
    log "IPv6 underlay: the pings went through entries into and out of the tunnel"
  fi

  if [ "$fam" = 4 ]; then
    local g1 g2
    g1=$(iperf ${P}c 192.168.42.2 ${P}E) || fail "iperf3 kvnet -> kernel failed"
    g2=$(iperf ${P}E 192.168.42.1 ${P}c) || fail "iperf3 kernel -> kvnet failed"
    log "iperf3 TCP over VXLAN: kvnet -> kernel $g1 Gbit/s, kernel -> kvnet $g2 Gbit/s"
    if [ "${KVNET_FAST_PATH:-on}" = off ]; then
      # kvnetd's own socket decapsulates: it fills what the kernel left partial.
      kctl show | grep -q "partial inner checksum(s) filled" ||
        { kctl show; fail "no partial inner checksum was filled: the test no longer covers the kernel's partial checksums"; }
    else
      # The fast path: the VTEP is a kernel vxlan device, and the streams
      # above went through entries that encapsulate (tunnel_out) and that
      # match what the device decapsulated (tunnel_in).
      kctl show | grep -q "kernel device kvnet-vx4789" || { kctl show; fail "the VTEP is not the kernel vxlan device"; }
      kctl fastpath dump --format json | python3 -c '
import json, sys
ub = sys.argv[1]
es = json.load(sys.stdin)["entries"]
out = [e for e in es if e["tunnel_out"] and e["tunnel_out"]["vni"] == 42 and e["tunnel_out"]["remote"] == ub and e["packets"] > 100]
inn = [e for e in es if e["tunnel_in"] and e["tunnel_in"]["vni"] == 42 and e["tunnel_in"]["remote"] == ub and e["packets"] > 100]
assert out, "no busy entry encapsulates to %s: %s" % (ub, [e["line"] for e in es])
assert inn, "no busy entry matches what %s sent: %s" % (ub, [e["line"] for e in es])
assert not out[0]["tunnel_out"]["csum"], "IPv4 outer checksums are zero unless csum=true"
' "$UB" || fail "the fast path did not carry the VXLAN streams"
      log "both streams went through the kernel fast path (tunnel_in and tunnel_out entries)"

      # kvnetd killed: its device stays (a kernel object), its program and
      # upcall TAP go with the process, so nothing forwards by decisions
      # nobody keeps; the next kvnetd replaces the device and the tunnel works.
      kvd_kill9
      ip -n ${P}A link show kvnet-vx4789 >/dev/null 2>&1 || fail "the kernel vxlan device went with kvnetd (expected to stay)"
      no_ping ${P}E 192.168.42.1 || fail "the tunnel still forwards with kvnetd dead"
      start_a
      wait_for 10 "the restored tunnel carries pings" ip netns exec ${P}E ping -n -q -c 1 -W 1 192.168.42.1
      pings ${P}c 192.168.42.2 3 || fail "after a kvnetd restart the container cannot ping the kernel side"
      grep -q "removed kvnet-vx4789, a kernel vxlan device an earlier kvnetd left behind" "$T/kvnetd.log" ||
        fail "the restarted kvnetd did not say it replaced the leftover device"
      grep -q "stays on kvnetd's own socket" "$T/kvnetd.log" && fail "the restarted kvnetd fell back to its own socket"
      kctl show | grep -q "kernel device kvnet-vx4789" || { kctl show; fail "after the restart the VTEP is not the kernel device"; }
      log "kvnetd killed: nothing forwarded while it was gone; restarted, it replaced its device and the tunnel works"

      # The UDP port held by a kernel VTEP in kvnetd's namespace: neither
      # the device nor kvnetd's own socket can have it; the port is refused,
      # naming the cause.
      local bsock="$T/b.sock"
      nsenter --net=/run/netns/${P}B "$BIN/kvnetd" --foreground --db "$T/b.db" --socket "$bsock" >>"$T/kvnetd-b.log" 2>&1 &
      local bpid=$!
      HOST_PIDS+=("$bpid")
      wait_for 10 "kvnetd in ${P}B answers" "$BIN/kvnetctl" --socket "$bsock" list-br
      "$BIN/kvnetctl" --socket "$bsock" add-br x >/dev/null
      if "$BIN/kvnetctl" --socket "$bsock" add-port x v type=vxlan remote_ip=$UA local_ip=$UB vni=7 >"$T/b.out" 2>&1; then
        fail "a vxlan port was added although a kernel VTEP holds UDP 4789 in its namespace"
      fi
      grep -q "holds this UDP port" "$T/b.out" || { cat "$T/b.out"; fail "the refusal does not name the holder of UDP 4789"; }
      grep -q "stays on kvnetd's own socket" "$T/kvnetd-b.log" || fail "kvnetd did not say why its VTEP is not the kernel device"
      "$BIN/kvnetctl" --socket "$bsock" list-br | grep -q "^x" || fail "kvnetd in B did not survive the refused port"
      kill -TERM "$bpid"
      log "UDP 4789 held by a kernel VTEP in kvnetd's namespace: the port is refused, naming the holder"
    fi

    # Wire format, as tshark's dissectors see it.
    if command -v tshark >/dev/null; then
      ip netns exec ${P}B tshark -i ${P}ub -f "udp dst port 4789 and src host $UA" -a duration:4 -T fields \
        -e vxlan.flags -e vxlan.vni -e udp.srcport -e udp.checksum -e ip.flags.df -e eth.type -e icmp.type \
        -E separator='|' >"$T/tshark.txt" 2>"$T/tshark.err" &
      local ts=$!
      tshark_ready "$T/tshark.err"
      pings ${P}c 192.168.42.2 3 || true
      wait $ts || { cat "$T/tshark.err"; fail "tshark failed"; }
      python3 - "$T/tshark.txt" <<'EOF' || fail "tshark does not decode kvnet's VXLAN as expected"
import sys
rows = [l.rstrip("\n").split("|") for l in open(sys.argv[1]) if l.strip()]
rows = [r for r in rows if r[6]]  # the pings (an ARP may be captured too)
assert rows, "no ICMP packets captured"
for flags, vni, sport, csum, df, etype, icmp in rows:
    assert int(flags, 0) == 0x0800, f"VXLAN flags {flags}, expected 0x0800 (I set, rest zero)"
    assert vni == "42", f"VNI {vni}"
    assert 49152 <= int(sport) <= 65535, f"UDP source port {sport}"
    assert int(csum, 0) == 0, f"outer UDP checksum {csum}, expected 0 over IPv4"
    # Fields that both the outer and the inner headers have come as "outer,inner".
    assert df.split(",")[0] in ("1", "True"), f"DF {df}"
    assert int(etype.split(",")[-1], 0) == 0x0800 and icmp.split(",")[-1] == "8", "inner frame is not the ICMP echo"
print(f"tshark: {len(rows)} VXLAN packets decoded: flags 0x08, VNI 42, src ports {sorted(set(r[2] for r in rows))}, checksum 0, DF")
EOF
      log "wire format checked with tshark"
    else
      fail "tshark is missing (./run installs it)"
    fi

    # Too big for the underlay (1500): dropped and counted, never fragmented.
    # kvnet gave the container's veth (both ends) the tunnel's 1450; the
    # port's own mtu raises it again (a change inside the namespace alone
    # would leave the host end at 1450, which drops what is larger).
    kctl set port ct-${P}c mtu=1500 >/dev/null
    ip netns exec ${P}c ping -c 1 -W 1 -s 1460 -M do 192.168.42.2 >/dev/null 2>&1 || true
    kctl stats vx0 | grep "too_big" >/dev/null || { kctl stats vx0; fail "an oversized frame was not counted as too_big"; }
    log "a frame over the underlay MTU is dropped as too_big"
  fi
  teardown
}

run_family 4
run_family 6
log "PASS"
