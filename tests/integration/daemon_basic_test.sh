#!/usr/bin/env bash
# Two containers on one kvnet bridge: ping both ways, TCP with the kernel's
# default offloads (checksum offload, TSO on the veths), clean stop.
source "$(dirname "$0")/lib.sh" "$@"
kvd_start
expect_ok "add-br" kctl add-br br0
expect_ok "ct add a" kctl ct add ${P}a --bridge br0 --ip 10.77.0.1/24
expect_ok "ct add b" kctl ct add ${P}b --bridge br0 --ip 10.77.0.2/24
kctl show | grep -q "Port ct-${P}a" || fail "show lacks the container port"
pings ${P}a 10.77.0.2 || fail "a cannot ping b"
pings ${P}b 10.77.0.1 || fail "b cannot ping a"
log "ping both ways: ok"

# The default offloads are on: nothing was switched off for kvnet.
ip netns exec ${P}a ethtool -k eth0 | grep -q "^tx-checksumming: on" || fail "tx checksum offload is off"
ip netns exec ${P}a ethtool -k eth0 | grep -q "^tcp-segmentation-offload: on" || fail "TSO is off"
ip netns exec ${P}b iperf3 -s -1 -D -p 5299 --logfile "$T/iperf-s.log"
sleep 0.3
ip netns exec ${P}a timeout 30 iperf3 -c 10.77.0.2 -p 5299 -t 2 -J >"$T/iperf.json" || { cat "$T/iperf.json"; fail "iperf3 TCP failed"; }
bytes=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(int(j["end"]["sum_received"]["bytes"]))' "$T/iperf.json")
[ "$bytes" -gt 10000000 ] || fail "TCP moved only $bytes bytes"
log "TCP with default offloads: $bytes bytes received"

kctl stats --format json >"$T/stats.json"
python3 - "$T/stats.json" <<'PY' || fail "counters do not show the traffic"
import json, sys
ports = {p["port"]: p for p in json.load(open(sys.argv[1]))}
assert all(p["rx_packets"] > 100 and p["tx_packets"] > 100 for p in ports.values()), ports
PY
kctl fdb-show br0 | grep -q "ct-${P}a" || fail "fdb-show lacks a learned MAC"

# A tap port: kvnetd holds the TAP's /dev/net/tun side; its interface moves
# into a namespace of its own (as a VM's NIC would sit in a guest) and talks
# to the containers through kvnet, TCP included (TSO frames from the TAP).
expect_ok "add tap port" kctl add-port br0 ${P}tap type=tap
ip link show ${P}tap >/dev/null || fail "tap interface not created"
ip netns add ${P}v
ip link set ${P}tap netns ${P}v
ip -n ${P}v addr add 10.77.0.9/24 dev ${P}tap
ip -n ${P}v link set ${P}tap up
pings ${P}v 10.77.0.1 || fail "tap namespace cannot reach a container"
ip netns exec ${P}a iperf3 -s -1 -D -p 5298 --logfile "$T/iperf-t.log"
sleep 0.3
ip netns exec ${P}v timeout 30 iperf3 -c 10.77.0.1 -p 5298 -t 2 -J >"$T/iperf-tap.json" || { cat "$T/iperf-tap.json"; fail "TCP through the tap failed"; }
log "tap port: ping and TCP from a namespace through the TAP: ok"
expect_ok "persistent tap" kctl add-port br0 ${P}pt type=tap persistent=true
expect_error "persistent on system" 1 "'persistent' applies to tap ports only" kctl add-port br0 ${P}a2 persistent=true

# SIGTERM stops it cleanly; the configuration stays in the database.
kvd_stop
grep -q "stopping" "$T/kvnetd.log" || fail "no clean stop"
[ "$(sqlite3 "$T/kvnet.db" 'select count(*) from ports')" = 4 ] || fail "ports not persisted"
ip link show ${P}pt >/dev/null 2>&1 || fail "the persistent TAP was removed at stop"
ip -n ${P}v link show ${P}tap >/dev/null 2>&1 && fail "the non-persistent TAP outlived kvnetd"
log "PASS"
