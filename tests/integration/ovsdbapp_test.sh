#!/usr/bin/env bash
# A real client of OVSDB's protocol (python3-ovsdbapp, as Nova's os-vif and
# Neutron's agents use it) against `kvnetd --ovsdb`: see ovsdbapp_client.py.
source "$(dirname "$0")/lib.sh" "$@"
/usr/bin/python3 -c "import ovsdbapp" 2>/dev/null || fail "python3-ovsdbapp is missing (./run installs it)"
OVSDB="$T/db.sock"
KVD_ARGS="--ovsdb unix:$OVSDB"
kvd_start
ip link add ${P}a type veth peer name ${P}ap
/usr/bin/python3 "$SRC/tests/integration/ovsdbapp_client.py" "$OVSDB" "$BIN/kvnetctl" "$P" || fail "ovsdbapp's checks"
log "PASS"
