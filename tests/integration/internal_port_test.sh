#!/usr/bin/env bash
# An internal port is the host's interface on a bridge (OVS's "internal"): it
# survives kvnetd restarts with the addresses the host put on it, and goes
# only when the configuration removes it. A tap port without `persistent`
# goes with kvnetd.
source "$(dirname "$0")/lib.sh" "$@"
kvd_start
kctl add-br br0 >/dev/null
kctl add-port br0 ${P}i type=internal >/dev/null
kctl add-port br0 ${P}t type=tap >/dev/null
ip addr add 10.79.0.1/24 dev ${P}i
# (not `ip ... | grep -q`: with pipefail, grep closing early fails the pipe)
has_addr() { [[ "$(ip -o addr show dev ${P}i 2>/dev/null)" == *"10.79.0.1/24"* ]]; }
ip link show ${P}i >/dev/null 2>&1 || fail "internal port has no interface"

kvd_stop
ip link show ${P}t >/dev/null 2>&1 && fail "a tap port outlived kvnetd"
has_addr || fail "internal port lost its interface or address when kvnetd stopped"
kvd_start
[[ "$(kctl show)" == *"attached: tap ${P}i "* ]] || { kctl show; fail "internal port not re-attached"; }
has_addr || fail "address lost across the restart"
ip link show ${P}t >/dev/null 2>&1 || fail "tap port not re-created at start"

kvd_kill9
kvd_start
has_addr || fail "address lost across kill -9"

kctl del-port ${P}i >/dev/null
ip link show ${P}i >/dev/null 2>&1 && fail "del-port left the internal port's interface"
kctl add-port br0 ${P}j type=internal >/dev/null
kctl del-br br0 >/dev/null
ip link show ${P}j >/dev/null 2>&1 && fail "del-br left an internal port's interface"
log "PASS"
