#!/usr/bin/env bash
# One kvnetd per database, socket and pidfile: a second one exits 1 naming
# what is taken and the PID holding it, before touching anything; the first
# keeps forwarding (no duplicated frames) with its configuration unchanged.
source "$(dirname "$0")/lib.sh" "$@"
kvd_start
expect_ok "add-br" kctl add-br br0
expect_ok "ct add a" kctl ct add ${P}a --bridge br0 --ip 10.78.0.1/24
expect_ok "ct add b" kctl ct add ${P}b --bridge br0 --ip 10.78.0.2/24
pings ${P}a 10.78.0.2 || fail "a cannot ping b"
BASE=$(kctl export)

# Same database, another socket.
expect_error "second kvnetd on the same database" 1 "database '$T/kvnet.db' is in use by kvnetd PID $KVD_PID" \
  "$BIN/kvnetd" --foreground --db "$T/kvnet.db" --socket "$T/other.sock"
[ -e "$T/other.sock" ] && fail "the refused kvnetd bound its socket"
out=$(ip netns exec ${P}a ping -n -c 3 -i 0.2 -W 1 10.78.0.2 2>&1) || { echo "$out"; fail "ping failed"; }
echo "$out" | grep -q "DUP" && { echo "$out"; fail "duplicated frames: two daemons forward"; }
log "second kvnetd on the same database refused; ping has no duplicates"

# Same socket, another database.
expect_error "second kvnetd on the same socket" 1 "socket '$KVNET_SOCKET' is in use by kvnetd PID $KVD_PID" \
  "$BIN/kvnetd" --foreground --db "$T/other.db" --socket "$KVNET_SOCKET"
[ -e "$T/other.db" ] && fail "the refused kvnetd created its database"
[ "$(kctl export)" = "$BASE" ] || fail "the first kvnetd's configuration changed"
pings ${P}a 10.78.0.2 || fail "the first kvnetd stopped forwarding"
log "second kvnetd on the same socket refused; the first is untouched"

# Background mode: the pidfile is locked, not overwritten.
"$BIN/kvnetd" --db "$T/bg.db" --socket "$T/bg.sock" --pidfile "$T/bg.pid" 2>>"$T/kvnetd.log" ||
  fail "background kvnetd did not start"
BG_PID=$(cat "$T/bg.pid")
EXTRA_CLEANUP="kill -9 $BG_PID 2>/dev/null"
kill -0 "$BG_PID" || fail "no process behind the pidfile"
expect_error "second kvnetd on the same pidfile" 1 "pidfile '$T/bg.pid' is in use by kvnetd PID $BG_PID" \
  "$BIN/kvnetd" --db "$T/bg2.db" --socket "$T/bg2.sock" --pidfile "$T/bg.pid"
[ "$(cat "$T/bg.pid")" = "$BG_PID" ] || fail "the pidfile was overwritten"
[ -e "$T/bg2.sock" ] && fail "the refused kvnetd left a socket"
expect_error "background kvnetd on a taken database" 1 "database '$T/bg.db' is in use by kvnetd PID $BG_PID" \
  "$BIN/kvnetd" --db "$T/bg.db" --socket "$T/bg3.sock" --pidfile "$T/bg3.pid"
[ -e "$T/bg3.pid" ] && fail "the refused kvnetd wrote a pidfile"
KVNET_SOCKET="$T/bg.sock" "$BIN/kvnetctl" list-br >/dev/null || fail "the background kvnetd does not answer"
kill -TERM "$BG_PID"
wait_for 10 "background kvnetd stops" bash -c "! kill -0 $BG_PID 2>/dev/null"
EXTRA_CLEANUP=""
[ -e "$T/bg.pid" ] && fail "the pidfile outlived a clean stop"
log "pidfile locked, not overwritten; removed at a clean stop"

# Once the first one is gone, the database is free again.
kvd_stop
kvd_start
[ "$(kctl export)" = "$BASE" ] || fail "restart after the refused ones lost configuration"
pings ${P}a 10.78.0.2 || fail "no forwarding after restart"
log "PASS"
