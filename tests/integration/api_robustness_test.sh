#!/usr/bin/env bash
# A live kvnetd under hostile API clients: idle connections, a stalled
# request, a 10 MB request, a request nested 75,000 levels deep and one that
# is not UTF-8. Each gets a clear error (or its deadline); the daemon stays up
# and answers everyone else at once.
source "$(dirname "$0")/lib.sh" "$@"
kvd_start
expect_ok "add-br" kctl add-br br0

# raw MODE: one connection doing something nasty; prints what kvnetd answers.
raw() {
  python3 - "$KVNET_SOCKET" "$1" <<'PY'
import socket, sys, threading
path, mode = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
def send(data):
    try:
        s.sendall(data)
    except OSError:
        pass  # kvnetd closed on us: expected for oversized requests
if mode == "big":
    t = threading.Thread(target=send, args=(b"x" * (10 << 20),))
    t.start()
elif mode == "deep":
    send(b'{"cmd":"add-br","bridge":"b9","options":' + b"[" * 75000 + b"]" * 75000 + b"}\n")
elif mode == "utf8":
    send(b'{"cmd":"add-br","bridge":"b\xff\xfe"}\n')
s.settimeout(20)
out = b""
while True:
    try:
        chunk = s.recv(65536)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
sys.stdout.write(out.decode("utf-8"))  # an answer is always valid UTF-8
PY
}

# 20 idle clients (one with half a request) hold their connections; they
# record what kvnetd tells them when their 10 s are up.
python3 - "$KVNET_SOCKET" "$T/idle.out" <<'PY' &
import socket, sys, time
path, out = sys.argv[1], sys.argv[2]
conns = []
for i in range(20):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    conns.append(s)
conns[0].sendall(b'{"cmd": "li')
open(out + ".ready", "w").close()
answers = []
for s in conns:
    s.settimeout(20)
    try:
        answers.append(s.recv(4096).decode())
    except OSError as e:
        answers.append("no answer: %s" % e)
open(out, "w").write("\n".join(answers))
PY
IDLE_PID=$!
EXTRA_CLEANUP="kill $IDLE_PID 2>/dev/null"
wait_for 5 "idle clients connected" test -f "$T/idle.out.ready"

start=$(date +%s%N)
for _ in 1 2 3; do expect_ok "list-br while 20 clients idle" kctl list-br; done
ms=$(( ($(date +%s%N) - start) / 1000000 ))
kill -0 $IDLE_PID 2>/dev/null || fail "the idle clients are gone already"
[ -f "$T/idle.out" ] && fail "the idle clients were answered before their deadline"
[ "$ms" -lt 2000 ] || fail "3 requests took $ms ms while 20 clients were idle"
log "3 requests answered in $ms ms with 20 idle clients connected"

raw big >"$T/big.out"
grep -qF '"ok":false' "$T/big.out" && grep -qF "larger than the limit of 4 MiB" "$T/big.out" ||
  { cat "$T/big.out"; fail "a 10 MB request did not get the size error"; }
raw deep >"$T/deep.out"
grep -qF "deeper than the limit of 32 levels" "$T/deep.out" || { cat "$T/deep.out"; fail "deep nesting not refused"; }
raw utf8 >"$T/utf8.out"
grep -qF "the request is not valid UTF-8" "$T/utf8.out" || { cat "$T/utf8.out"; fail "non-UTF-8 request not refused"; }
kill -0 "$KVD_PID" || fail "kvnetd died"
expect_ok "show after the bad requests" kctl show
grep -q "Bridge br0" "$T/out" || fail "the configuration changed"
kctl list-br | grep -q b9 && fail "the deep request created a bridge"
log "10 MB, deeply nested and non-UTF-8 requests refused; kvnetd answers"

wait "$IDLE_PID" || fail "idle clients script failed"
EXTRA_CLEANUP=""
grep -c "no complete request within 10 s" "$T/idle.out" | grep -qx 20 ||
  { cat "$T/idle.out"; fail "not every idle client got the deadline error"; }
expect_ok "list-br after the deadlines" kctl list-br
log "each idle client got the deadline error after 10 s"
log "PASS"
