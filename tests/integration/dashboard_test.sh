#!/usr/bin/env bash
# kvnetd --http: the web dashboard. Startup errors (bad address, port in use,
# token file readable by everyone or empty); the HTTP rules with curl
# (read-only: POST 403; with a token: 401 without or with a wrong one, the
# right one works; foreign Host/Origin refused; 404; 413; security headers);
# then the page in headless Chromium (dashboard_browser.py): the ports of two
# bridges joined by a patch pair, rates that rise under ping -f and fall
# after it, a trace submitted by the page's form and highlighted, no cluster
# section (this kvnetd is standalone; dashboard_cluster_test.sh has one), and
# a screenshot ($T/dashboard.png, copied to build/dashboard.png).
source "$(dirname "$0")/lib.sh" "$@"

command -v curl >/dev/null || fail "curl is needed"
CHROMIUM=${KVNET_CHROMIUM:-chromium}
command -v "$CHROMIUM" >/dev/null || fail "chromium is needed (Debian's chromium package)"

# kvd_http ARGS...: a private kvnetd with the dashboard; sets $URL.
kvd_http() {
  "$BIN/kvnetd" --foreground --db "$T/kvnet.db" --socket "$KVNET_SOCKET" "$@" >>"$T/kvnetd.log" 2>&1 &
  KVD_PID=$!
  disown "$KVD_PID"
  for _ in $(seq 1 100); do
    if grep -q "dashboard on " "$T/kvnetd.log" && kctl list-br >/dev/null 2>&1; then
      URL=$(grep -o 'dashboard on http://[^ ]*' "$T/kvnetd.log" | tail -n1 | cut -d' ' -f3)
      return 0
    fi
    kill -0 "$KVD_PID" 2>/dev/null || fail "kvnetd exited at start"
    sleep 0.1
  done
  fail "kvnetd did not start its dashboard"
}
# startup_error MESSAGE ARGS...: kvnetd refuses to start, naming the problem
# (exit 1; 2 for bad usage: EXIT=2 startup_error ...).
startup_error() {
  local msg=$1
  shift
  set +e
  timeout 20 "$BIN/kvnetd" --foreground --db "$T/bad.db" --socket "$T/bad.sock" "$@" >"$T/out" 2>&1
  local rc=$?
  set -e
  [ "$rc" = "${EXIT:-1}" ] || { cat "$T/out"; fail "kvnetd $*: exit $rc, expected ${EXIT:-1}"; }
  grep -qF -- "$msg" "$T/out" || { cat "$T/out"; fail "kvnetd $*: message lacks '$msg'"; }
}
# code METHOD PATH [curl args...]: the HTTP status of one request.
code() {
  local m=$1 p=$2
  shift 2
  curl -s -o "$T/body" -w '%{http_code}' -X "$m" "$@" "${URL%/}$p"
}

# --- startup errors
startup_error "port '99999' is not a number from 0 to 65535" --http 127.0.0.1:99999
startup_error "not ADDR:PORT" --http ::1:80
startup_error "cannot listen on 192.0.2.1:" --http 192.0.2.1:8080
echo "s3cret-token-for-$P" >"$T/token"
chmod 0644 "$T/token"
startup_error "is readable by everyone (mode 0644)" --http 127.0.0.1:0 --http-token-file "$T/token"
: >"$T/empty"
chmod 0600 "$T/empty"
startup_error "the file is empty" --http 127.0.0.1:0 --http-token-file "$T/empty"
EXIT=2 startup_error "--http-token-file requires --http" --http-token-file "$T/empty"
log "startup errors: bad port, bad address, unbindable address, token file world-readable, empty, without --http"

# --- read-only (no token file)
kvd_http --http 127.0.0.1:0
case "$URL" in http://127.0.0.1:*/) ;; *) fail "dashboard address '$URL'" ;; esac
# A second kvnetd cannot take the port (cpp-httplib's SO_REUSEPORT is off).
PORT=${URL##*:}
PORT=${PORT%/}
startup_error "--http ':$PORT': cannot listen on 127.0.0.1:$PORT: Address already in use" --http ":$PORT"
expect_ok "add-br" kctl add-br br0
[ "$(code GET /api/show)" = 200 ] || fail "GET /api/show: $(cat "$T/body")"
python3 - "$T/body" <<'PY' || fail "show over HTTP is not the API's answer"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["ok"] and j["result"]["bridges"][0]["name"] == "br0" and j["time"] > 0, j
PY
[ "$(code GET /)" = 200 ] && grep -q '<script src="/app.js"' "$T/body" || fail "GET / is not the page"
[ "$(code GET /app.js)" = 200 ] || fail "GET /app.js"
[ "$(code GET /style.css)" = 200 ] || fail "GET /style.css"
curl -sI "${URL}api/show" >"$T/headers"
grep -qi "^Content-Security-Policy: default-src 'none'; script-src 'self'" "$T/headers" || { cat "$T/headers"; fail "no CSP"; }
grep -qi "^X-Content-Type-Options: nosniff" "$T/headers" || fail "no nosniff"
grep -qi "^Access-Control-Allow" "$T/headers" && fail "CORS headers"
[ "$(code POST /api/fdb-flush -d '{"bridge":"br0"}')" = 403 ] || fail "read-only POST: $(cat "$T/body")"
grep -q "read-only" "$T/body" || fail "the 403 does not say read-only"
[ "$(code GET /api/fdb-flush?bridge=br0)" = 405 ] || fail "GET of a changing command is not 405"
[ "$(code GET /api/vm-console?name=x)" = 404 ] || fail "vm-console is served over HTTP"
[ "$(code GET /api/no-such)" = 404 ] || fail "unknown endpoint is not 404"
[ "$(code GET /etc/passwd)" = 404 ] || fail "unknown path is not 404"
[ "$(code GET /api/show -H 'Host: evil.example:80')" = 403 ] || fail "a foreign Host is served"
[ "$(code PUT /api/show)" = 405 ] || fail "PUT is not 405"
[ "$(code GET '/api/fdb-show?bridge=nope')" = 400 ] && grep -q "bridge 'nope' does not exist" "$T/body" ||
  fail "a failing command is not 400 with its error: $(cat "$T/body")"
log "read-only: a second kvnetd on the port refused; GET endpoints, page, CSP, POST 403, 404s, 405s, foreign Host 403"
kvd_stop

# --- with a token
chmod 0600 "$T/token"
kvd_http --http ":0" --http-token-file "$T/token"
TOKEN=$(cat "$T/token")
grep -q "changes need the token" "$T/kvnetd.log" || fail "the log does not say the dashboard takes changes"
[ "$(code POST /api/fdb-flush -d '{"bridge":"br0"}')" = 401 ] || fail "POST without token: $(cat "$T/body")"
[ "$(code POST /api/fdb-flush -H 'Authorization: Bearer wrong' -d '{"bridge":"br0"}')" = 401 ] || fail "wrong token accepted"
[ "$(code POST /api/fdb-flush -H "Authorization: Bearer ${TOKEN}x" -d '{"bridge":"br0"}')" = 401 ] || fail "longer token accepted"
[ "$(code POST /api/fdb-flush -H "Authorization: Bearer $TOKEN" -d '{"bridge":"br0"}')" = 200 ] || fail "right token: $(cat "$T/body")"
grep -q '"flushed"' "$T/body" || fail "fdb-flush answer: $(cat "$T/body")"
[ "$(code POST /api/conntrack-flush -H "Authorization: Bearer $TOKEN" -d "{}")" = 200 ] || fail "conntrack-flush: $(cat "$T/body")"
[ "$(code POST /api/fdb-flush -H "Authorization: Bearer $TOKEN" -H 'Origin: http://evil.example' -d '{"bridge":"br0"}')" = 403 ] ||
  fail "a foreign Origin may POST"
[ "$(code POST /api/fdb-flush -H "Authorization: Bearer $TOKEN" -H "Origin: ${URL%/}" -d '{"bridge":"br0"}')" = 200 ] ||
  fail "the dashboard's own Origin may not POST: $(cat "$T/body")"
[ "$(code POST /api/add-br -H "Authorization: Bearer $TOKEN" -d '{"bridge":"x"}')" = 404 ] || fail "add-br is served"
[ "$(code POST /api/show -H "Authorization: Bearer $TOKEN" -d "{}")" = 405 ] || fail "POST of a reading command"
[ "$(code POST /api/fdb-flush -H "Authorization: Bearer $TOKEN" -d '{"cmd":"del-br","bridge":"br0"}')" = 400 ] ||
  fail "a body may name another command"
head -c 100000 /dev/zero | tr '\0' 'x' >"$T/big"
[ "$(code POST /api/fdb-flush -H "Authorization: Bearer $TOKEN" --data-binary @"$T/big")" = 413 ] || fail "a 100 kB body is not 413"
grep -q "dashboard: POST /api/fdb-flush .* refused: no or wrong token" "$T/kvnetd.log" || fail "refused POSTs are not logged"
grep -q "dashboard: POST /api/fdb-flush .*: done" "$T/kvnetd.log" || fail "changes are not logged"
log "token: 401 without or wrong, 200 right, foreign Origin 403, other commands 404/405, 413 for a big body, logged"

# --- the page in Chromium: two bridges joined by a patch pair, a container on each
expect_ok "add-br br1" kctl add-br br1
expect_ok "patch 0" kctl add-port br0 ${P}p0 type=patch peer=br1/${P}p1
expect_ok "patch 1" kctl add-port br1 ${P}p1 type=patch peer=br0/${P}p0
expect_ok "ct a" kctl ct add ${P}a --bridge br0 --ip 10.79.0.1/24 --mac 52:54:00:79:00:01
expect_ok "ct b" kctl ct add ${P}b --bridge br1 --ip 10.79.0.2/24 --mac 52:54:00:79:00:02
expect_ok "sg" kctl sg add ${P}web
expect_ok "sg rule" kctl sg rule-add ${P}web ingress protocol=icmp
expect_ok "sg on b" kctl set port ct-${P}b security_groups=${P}web
expect_ok "tap" kctl add-port br1 ${P}t type=tap
pings ${P}a 10.79.0.2 || fail "a cannot ping b through the patch pair"
[ "$(code GET /api/conntrack-list)" = 200 ] && grep -q '"protocol":"icmp"' "$T/body" || fail "no conntrack entry: $(cat "$T/body")"

PICTURE=""
[ "$(code GET '/api/draw?format=svg')" = 200 ] && PICTURE=--picture
[ -n "$PICTURE" ] || log "this kvnetd has no 'draw' command: the picture is not checked"
flow="dl_src=52:54:00:79:00:01,dl_dst=52:54:00:79:00:02,nw_src=10.79.0.1,nw_dst=10.79.0.2,icmp"
qs=$(python3 -c 'import sys, urllib.parse as u; print(u.urlencode({"bridge": "br0", "in_port": sys.argv[1], "flow": sys.argv[2]}))' "ct-${P}a" "$flow")
timeout 55 python3 "$SRC/tests/integration/dashboard_browser.py" --chromium "$CHROMIUM" --chromium-log "$T/chromium.log" --url "${URL}?$qs" \
  --ports "br0/ct-${P}a,br0/${P}p0,br1/${P}p1,br1/ct-${P}b,br1/${P}t" $PICTURE --standalone \
  --busy-port "br0/ct-${P}a" --traffic "ip netns exec ${P}a ping -f -q -w 30 10.79.0.2" \
  --trace-path "br0/ct-${P}a,br0/${P}p0,br1/${P}p1,br1/ct-${P}b" --off-path "br1/${P}t" --screenshot "$T/dashboard.png" || fail "the dashboard in Chromium"
[ -s "$T/dashboard.png" ] || fail "no screenshot"
if [ -d "$BIN/.." ] && [ -w "$BIN/.." ]; then cp "$T/dashboard.png" "$BIN/../dashboard.png"; log "screenshot: $(cd "$BIN/.." && pwd)/dashboard.png"; fi
kvd_stop
grep -q "stopping" "$T/kvnetd.log" || fail "no clean stop"
log "PASS"
