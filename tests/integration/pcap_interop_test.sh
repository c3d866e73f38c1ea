#!/usr/bin/env bash
# pcap interoperability with tcpdump, both ways:
#   1. `kvnet pcap-gen` writes microsecond and nanosecond pcaps (tagged and
#      untagged frames) that tcpdump reads, showing the fields we asked for;
#   2. tcpdump rewrites a file (`tcpdump -r in -w out`) and `kvnet replay`
#      reads tcpdump's output through a hub; tcpdump then reads what kvnet
#      wrote and sees the same frames, byte for byte, with the same timestamps.
#
# Usage (ctest): bash pcap_interop_test.sh BIN_DIR SOURCE_DIR
set -euo pipefail

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
pass() { echo "ok: $*"; }

BIN_DIR=${1:?usage: $0 BIN_DIR SOURCE_DIR}
BIN_DIR=$(cd "$BIN_DIR" && pwd) || fail "no directory $1"
KVNET="$BIN_DIR/kvnet"

[[ -x "$KVNET" ]] || fail "$KVNET not found or not executable (build the kvnet target first)"
if ! command -v tcpdump >/dev/null 2>&1; then
  fail "tcpdump is not installed; this test needs it (./run installs it, or: apt-get install tcpdump)"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kvnet-pcap-interop.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
export TZ=UTC

# tcpdump prints "reading from file ..." on stderr; keep stdout only, fail loudly.
td() {
  local out
  if ! out=$(tcpdump "$@" 2>"$WORK/tcpdump.err"); then
    cat "$WORK/tcpdump.err" >&2
    fail "tcpdump $* failed"
  fi
  printf '%s\n' "$out"
}

# expect_line TEXT PATTERN DESCRIPTION: some line of TEXT matches the ERE PATTERN.
expect_line() {
  if ! grep -Eq -- "$2" <<<"$1"; then
    echo "---- output ----" >&2
    printf '%s\n' "$1" >&2
    fail "$3: no line matches /$2/"
  fi
  pass "$3"
}

ARP="dl_src=52:54:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,dl_vlan=10,dl_vlan_pcp=3,arp,arp_spa=10.0.0.1,arp_tpa=10.0.0.2"
UDP="dl_src=52:54:00:00:00:02,dl_dst=52:54:00:00:00:01,udp,nw_src=10.0.0.2,nw_dst=10.0.0.1,tp_src=5353,tp_dst=53"
TCP6="dl_src=52:54:00:00:00:03,dl_dst=52:54:00:00:00:04,dl_vlan=20,tcp6,ipv6_src=2001:db8::3,ipv6_dst=2001:db8::4,tp_src=40000,tp_dst=22"

# ------------------------------------------------------------ 1. kvnet -> tcpdump

echo "== kvnet pcap-gen (microseconds) -> tcpdump"
"$KVNET" pcap-gen usec.pcap "$ARP" "$UDP" "$TCP6" --count 2 --start 1700000000 --interval-ms 1.5 ||
  fail "kvnet pcap-gen (usec) failed"
out=$(td -nn -e -tt -r usec.pcap)
n=$(grep -c . <<<"$out" || true)
[[ "$n" == 6 ]] || { printf '%s\n' "$out" >&2; fail "tcpdump read $n frames from usec.pcap, expected 6"; }
pass "tcpdump reads 6 frames from the microsecond pcap"
expect_line "$out" '^1700000000\.000000 52:54:00:00:00:01 > ff:ff:ff:ff:ff:ff, ethertype 802\.1Q \(0x8100\), length 60: vlan 10, p 3, ethertype ARP' \
  "tagged ARP: vlan 10, pcp 3, ethertype ARP, first timestamp"
expect_line "$out" 'Request who-has 10\.0\.0\.2 tell 10\.0\.0\.1' "ARP addresses"
expect_line "$out" '^1700000000\.001500 52:54:00:00:00:02 > 52:54:00:00:00:01, ethertype IPv4 \(0x0800\), length 60: 10\.0\.0\.2\.5353 > 10\.0\.0\.1\.53: ' \
  "untagged UDP: IPs, ports, 1.5 ms step"
expect_line "$out" 'vlan 20, p 0, ethertype IPv6.*2001:db8::3\.40000 > 2001:db8::4\.22: Flags \[S\]' "tagged TCP/IPv6 SYN"
expect_line "$out" '^1700000000\.007500 ' "sixth frame at +7.5 ms"

# tcpdump validates the checksums it can (-vv); none may be reported bad.
vv=$(td -nn -vv -r usec.pcap)
if grep -qi 'incorrect\|bad .*cksum\|bad udp\|bad tcp' <<<"$vv"; then
  printf '%s\n' "$vv" >&2
  fail "tcpdump reports a bad checksum"
fi
expect_line "$vv" 'udp sum ok' "tcpdump verifies the UDP checksum"
expect_line "$vv" 'cksum 0x[0-9a-f]+ \(correct\)' "tcpdump verifies a checksum as correct"

echo "== kvnet pcap-gen (nanoseconds) -> tcpdump"
"$KVNET" pcap-gen nsec.pcap "$UDP" "$ARP" --start 1700000000 --interval-ms 0.000001 --count 2 --nanosecond ||
  fail "kvnet pcap-gen (nsec) failed"
magic=$(od -An -tx1 -N4 nsec.pcap | tr -d ' \n')
[[ "$magic" == "4d3cb2a1" ]] || fail "nsec.pcap magic is $magic, expected 4d3cb2a1 (nanosecond, little-endian)"
pass "nanosecond magic"
out=$(td -nn -e -tt --time-stamp-precision=nano -r nsec.pcap)
n=$(grep -c . <<<"$out" || true)
[[ "$n" == 4 ]] || { printf '%s\n' "$out" >&2; fail "tcpdump read $n frames from nsec.pcap, expected 4"; }
expect_line "$out" '^1700000000\.000000000 .*ethertype IPv4.*10\.0\.0\.2\.5353 > 10\.0\.0\.1\.53' "nsec: first frame at .000000000"
expect_line "$out" '^1700000000\.000000001 .*vlan 10, p 3, ethertype ARP' "nsec: second frame 1 ns later, tagged ARP"
expect_line "$out" '^1700000000\.000000003 ' "nsec: fourth frame at +3 ns"

# ------------------------------------------------------------ 2. tcpdump -> kvnet -> tcpdump

# replay_through_hub IN.pcap NAME [tcpdump read flags...]: tcpdump rewrites IN,
# kvnet replays the rewrite from port a of a hub, port b writes NAME-b-out.pcap.
replay_through_hub() {
  local in=$1 name=$2
  shift 2
  local rewritten="$name-tcpdump.pcap" out="$name-b-out.pcap" topo="$name-topo.yaml"
  echo "== tcpdump -r $in -w $rewritten -> kvnet replay ($name)"
  td "$@" -r "$in" -w "$rewritten" >/dev/null
  [[ -s "$rewritten" ]] || fail "tcpdump wrote no $rewritten"
  cat >"$topo" <<EOF
bridges:
  - name: hub0
    type: hub
    ports:
      - {name: a, type: pcap, rx: $rewritten}
      - {name: b, type: pcap, tx: $out}
EOF
  local json
  if ! json=$("$KVNET" replay "$topo" --format json 2>"$WORK/kvnet.err"); then
    cat "$WORK/kvnet.err" >&2
    fail "kvnet replay of tcpdump's $rewritten failed"
  fi
  local want
  want=$(td -r "$in" | grep -c . || true)
  grep -Eq "\"frames\": $want\b" <<<"$json" || { printf '%s\n' "$json" >&2; fail "replay did not report $want frames"; }
  grep -Eq '"files": 1\b' <<<"$json" || { printf '%s\n' "$json" >&2; fail "replay did not report 1 input file"; }
  pass "kvnet replayed $want frame(s) from tcpdump's file"
  [[ -s "$out" ]] || fail "kvnet wrote no $out"

  # Same frames, same timestamps, same bytes.
  local a b
  a=$(td -nn -e -tt -xx "$@" -r "$in")
  b=$(td -nn -e -tt -xx "$@" -r "$out")
  if [[ "$a" != "$b" ]]; then
    diff <(printf '%s\n' "$a") <(printf '%s\n' "$b") >&2 || true
    fail "$out (kvnet) differs from $in as tcpdump shows them"
  fi
  pass "tcpdump shows the same $want frame(s) (headers, bytes, timestamps) in kvnet's $out"
}

replay_through_hub usec.pcap usec
replay_through_hub nsec.pcap nsec --time-stamp-precision=nano
magic=$(od -An -tx1 -N4 nsec-b-out.pcap | tr -d ' \n')
[[ "$magic" == "4d3cb2a1" ]] || fail "replay of a nanosecond input wrote magic $magic, expected nanosecond 4d3cb2a1"
pass "replay keeps nanosecond resolution"

echo "PASS: pcap interop with $(tcpdump --version 2>&1 | head -1)"
