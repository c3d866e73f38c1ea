#!/usr/bin/env bash
# The control plane's cost against the size of the configuration, for this
# tree and (optionally) another one measured in the same run.
#
# For each size (100, 1,000 and 10,000 ports by default) and each tree: a
# fresh kvnetd in a namespace of its own (its ports' interfaces are made
# there, never on the machine), configured with one `kvnetctl apply` of a
# generated file: four VLAN switches joined by trunk patch ports, the ports
# spread over them as internal ports, access ports on 50 VLANs. Then, timed
# end to end (kvnetctl's wall time, as a user sees it): EDITS edits of one
# port (`kvnetctl set port P pvid=N`, a different port and VLAN each time)
# and EDITS `kvnetctl add-port` of a new internal port; medians. And
# kvnetd's resident memory once configured. The table goes to stdout and to
# docs/benchmarks.md between the control_plane markers.
#
# Usage: bench/control_plane.sh BIN_DIR [BASELINE_BIN_DIR [BASELINE_NAME]]
#   BASELINE_BIN_DIR: the other tree's kvnetd and kvnetctl (./run bench
#   builds the tree before issue 17, c1da09d, into build-baseline/).
#   Environment: CP_SIZES (default "100 1000 10000"), CP_EDITS (default 9).
# Root; the machine should be otherwise idle for figures.
set -euo pipefail
BIN=$(cd "${1:?usage: control_plane.sh BIN_DIR [BASELINE_BIN_DIR [BASELINE_NAME]]}" && pwd)
BASE_BIN=${2:-}
[ -n "$BASE_BIN" ] && BASE_BIN=$(cd "$BASE_BIN" && pwd)
BASE_NAME=${3:-baseline}
SIZES=${CP_SIZES:-100 1000 10000}
EDITS=${CP_EDITS:-9}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/lib.sh"
T=$(mktemp -d /tmp/kvnet-cpbench.XXXXXX)
NS="kcp$(($$ % 100000))"
KVD=""
say() { echo "[bench] $*" >&2; }

cleanup() {
  set +e
  end_started
  ip netns del "$NS" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# config N: a topology of N internal ports on four switches.
config() {
  local n=$1
  python3 - "$n" <<'PY'
import sys
n, bridges = int(sys.argv[1]), 4
print("bridges:")
for b in range(bridges):
    print(f"  - name: br{b}\n    type: switch\n    ports:")
    # br0 is the core: a trunk patch pair to each other switch.
    for o in range(bridges):
        if o != b and (b == 0 or o == 0):
            print(f"      - {{name: pt{b}-{o}, type: patch, peer: br{o}/pt{o}-{b}, vlan_mode: trunk, allowed: [10-59]}}")
    for i in range(b, n, bridges):
        print(f"      - {{name: p{i}, type: internal, vlan_mode: access, pvid: {10 + i % 50}}}")
PY
}

# ms CMD...: runs CMD, prints its wall time in milliseconds.
ms() {
  local t0=$EPOCHREALTIME
  "$@" >/dev/null || { say "failed: $*"; return 1; }
  python3 -c 'import sys; print(f"{(float(sys.argv[2]) - float(sys.argv[1])) * 1000:.1f}")' "$t0" "$EPOCHREALTIME"
}

# measure BIN N: prints "apply_s set_ms add_ms rss_mib" for the tree in BIN
# with N ports configured.
measure() {
  local bin=$1 n=$2 k=("$1/kvnetctl" --socket "$T/kvnetd.sock" --timeout 3600)
  ip netns add "$NS"
  ip -n "$NS" link set lo up
  # IPv6 off in the namespace: otherwise every internal port (a kernel
  # interface of the namespace) sends router solicitations and MLD reports
  # that the switch floods to the other ports of its VLAN, and with
  # thousands of ports the kernel's IPv6 input (a route lookup over one
  # fe80::/64 per interface) takes the datapath thread whole: a storm of the
  # benchmark's own making that would be measured instead of the control plane.
  ip netns exec "$NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  rm -f "$T"/kvnet.db*
  # One descriptor a port (its TAP): as many as the unit's LimitNOFILE
  # allows, or the hard limit if that is lower.
  (ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
    exec ip netns exec "$NS" "$bin/kvnetd" --foreground --db "$T/kvnet.db" \
    --socket "$T/kvnetd.sock" 2>"$T/kvnetd.log") &
  KVD=$!
  record_pid "$KVD"
  for _ in $(seq 1 200); do "${k[@]}" list-br >/dev/null 2>&1 && break; sleep 0.05; done
  config "$n" >"$T/config.yaml"
  local apply_ms
  apply_ms=$(ms "${k[@]}" apply "$T/config.yaml") || { cat "$T/kvnetd.log" >&2; return 1; }
  local set=() add=() i
  for i in $(seq 1 "$EDITS"); do
    # Another port and another VLAN each time: every edit is a change.
    set+=("$(ms "${k[@]}" set port "p$(((i * 7919) % n))" pvid=$((100 + i)))")
    add+=("$(ms "${k[@]}" add-port "br$((i % 4))" "pn$i" type=internal vlan_mode=access pvid=10)")
  done
  local rss
  rss=$(awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$KVD/status")
  end_pid "$KVD"
  KVD=""
  ip netns del "$NS"
  echo "$(python3 -c 'import sys; print(f"{float(sys.argv[1]) / 1000:.2f}")' "$apply_ms") \
$(printf '%s\n' "${set[@]}" | median) $(printf '%s\n' "${add[@]}" | median) $rss"
}

declare -A R
for n in $SIZES; do
  say "$n ports: this tree ($BIN)"
  R[now,$n]=$(measure "$BIN" "$n")
  say "  apply s, set ms, add-port ms, RSS MiB: ${R[now,$n]}"
  if [ -n "$BASE_BIN" ]; then
    say "$n ports: $BASE_NAME ($BASE_BIN)"
    R[base,$n]=$(measure "$BASE_BIN" "$n")
    say "  apply s, set ms, add-port ms, RSS MiB: ${R[base,$n]}"
  else
    R[base,$n]="- - - -"
  fi
done

TABLE=$(
  echo "| ports | \`set port P pvid=N\` ms: $BASE_NAME | now | \`add-port\` ms: $BASE_NAME | now | kvnetd RSS MiB: $BASE_NAME | now | apply of all, s: $BASE_NAME | now |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for n in $SIZES; do
    read -r ba bs bd br <<<"${R[base,$n]}"
    read -r na ns nd nr <<<"${R[now,$n]}"
    echo "| $n | $bs | **$ns** | $bd | **$nd** | $br | **$nr** | $ba | **$na** |"
  done
  echo
  echo "Medians of $EDITS edits each, wall time of kvnetctl, $(date -u +%Y-%m-%d), $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p' | head -n1)), kernel $(uname -r)."
  echo "Four VLAN switches (trunk patch ports to the first), internal access ports on 50 VLANs, configured by one \`kvnetctl apply\`."
)
echo "$TABLE"
write_table "$ROOT/docs/benchmarks.md" control_plane "$TABLE"
