#!/usr/bin/env bash
# kvnet's security groups against the kernel's: the same groups, rules and
# memberships, once as kvnet security groups on containers and once as
# iptables rules on a Linux bridge the way Neutron's hybrid (iptables) driver
# writes them (br_netfilter, per-port chains jumped to with -m physdev,
# ESTABLISHED,RELATED by -m conntrack, remote groups expanded to their members'
# addresses), must give the same reachability for every TCP, UDP and ICMP
# probe between every pair of endpoints, in both directions.
#
# Network safety: the Linux bridge, its iptables rules and the br_netfilter
# sysctls live in a namespace of the test's own (iptables and those sysctls
# are per namespace); the machine's own namespace is not touched.
source "$(dirname "$0")/lib.sh" "$@"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
PROBE="$SRC/tests/integration/fw_probe.py"
PIDS=()
EXTRA_CLEANUP='for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done'
START=$SECONDS
command -v iptables >/dev/null || fail "iptables is not installed (./run installs it)"

# ---------------------------------------------------------------- the policy
# Endpoints: name, address, MAC, groups.
ENDPOINTS="w 10.92.0.1 02:92:00:00:00:01 web
x 10.92.0.2 02:92:00:00:00:02 web,mgmt
y 10.92.0.3 02:92:00:00:00:03 mgmt
z 10.92.0.4 02:92:00:00:00:04 db"
# Rules: group direction protocol port remote (- = none; ip:CIDR or group:G).
# web and mgmt keep Neutron's default egress rules; db loses them and may only
# send DNS and ICMP (so z reaches y's DNS, but not w's open TCP 80).
RULES="web ingress tcp 80-81 -
web ingress udp 53-54 ip:10.92.0.3/32
web ingress icmp - group:mgmt
mgmt ingress tcp 22 group:web
mgmt ingress udp 53 -
db ingress tcp 5432 group:web
db ingress icmp - ip:10.92.0.0/31
db egress udp 53 -
db egress icmp - -"
DEFAULT_EGRESS="web mgmt"
# Every endpoint serves TCP 80, 22, 5432 and UDP 53, 5353; TCP 81 and UDP 54
# are allowed to web but closed (a RST, a port unreachable: related ICMP).
SERVE="tcp=80,22,5432 udp=53,5353"
PROBES="tcp/80 tcp/81 tcp/22 tcp/5432 udp/53 udp/54 udp/5353 icmp"

declare -A IP NAME_OF
NAMES=()
while read -r n ip mac groups; do
  NAMES+=("$n")
  IP[$n]=$ip
  NAME_OF[$ip]=$n
done <<<"$ENDPOINTS"
members() { awk -v g="$1" '{n = split($4, gs, ","); for (i = 1; i <= n; i++) if (gs[i] == g) print $2}' <<<"$ENDPOINTS"; }

# serve NS: the echo servers in NS.
serve() {
  ip netns exec "$1" "$PY" "$PROBE" serve "$T/ready-$1" $SERVE >>"$T/serve-$1.log" 2>&1 &
  PIDS+=($!)
}
# matrix PREFIX OUT: every endpoint (namespace PREFIX<name>) probes every
# other one, all in parallel; lines "SRC DST PROBE RESULT" into OUT.
matrix() {
  local pre=$1 out=$2 s d p specs pids=()
  for s in "${NAMES[@]}"; do
    specs=()
    for d in "${NAMES[@]}"; do
      [ "$s" = "$d" ] && continue
      for p in $PROBES; do
        case $p in
          icmp) specs+=("icmp/${IP[$d]}") ;;
          *) specs+=("${p%/*}/${IP[$d]}/${p#*/}") ;;
        esac
      done
    done
    ip netns exec "$pre$s" "$PY" "$PROBE" probe "${specs[@]}" >"$T/m.$s" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || true; done
  local spec result proto rest addr port
  for s in "${NAMES[@]}"; do
    while read -r spec result; do
      proto=${spec%%/*}
      rest=${spec#*/}
      addr=${rest%%/*}
      port=/${rest#*/}
      [ "$proto" = icmp ] && port=""
      echo "$s ${NAME_OF[$addr]:-?} $proto$port $result"
    done <"$T/m.$s"
  done >"$out"
}

# ---------------------------------------------------------------- kvnet
kvd_start
kctl add-br br0 >/dev/null
for g in web mgmt db; do kctl sg add $g >/dev/null; done
kctl sg rule-del db 1 >/dev/null
kctl sg rule-del db 2 >/dev/null
while read -r -u 3 g dir proto port remote; do
  args=("$dir" "protocol=$proto")
  [ "$port" != - ] && args+=("port=$port")
  case $remote in
    ip:*) args+=("remote_ip=${remote#ip:}") ;;
    group:*) args+=("remote_group=${remote#group:}") ;;
  esac
  kctl sg rule-add "$g" "${args[@]}" >/dev/null
done 3<<<"$RULES"
while read -r -u 3 n ip mac groups; do
  kctl ct add ${P}k$n --bridge br0 --ip $ip/24 --mac $mac >/dev/null
  kctl set port ct-${P}k$n security_groups=$groups >/dev/null
  serve ${P}k$n
done 3<<<"$ENDPOINTS"

# ---------------------------------------------------------------- Linux bridge + iptables
LB=${P}lb
ip netns add $LB
[ -e /proc/sys/net/bridge ] || fail "this kernel has no br_netfilter (/proc/sys/net/bridge): the comparison needs it"
ip netns exec $LB sysctl -qw net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1 \
  net.bridge.bridge-nf-call-arptables=0 ||
  fail "cannot enable br_netfilter in the test namespace"
ip -n $LB link add br0 type bridge
ip -n $LB link set br0 up
while read -r -u 3 n ip mac groups; do
  ip netns add ${P}l$n
  ip -n $LB link add tap$n type veth peer name eth0 netns ${P}l$n
  ip -n $LB link set tap$n master br0 up
  ip -n ${P}l$n link set eth0 address $mac
  ip -n ${P}l$n addr add $ip/24 dev eth0
  ip -n ${P}l$n link set eth0 up
  ip -n ${P}l$n link set lo up
  serve ${P}l$n
done 3<<<"$ENDPOINTS"

# Neutron's hybrid driver: FORWARD sends a port's bridged traffic to the
# sg-chain, which sends what goes to the port to i-PORT (ingress rules) and
# what comes from it to o-PORT (egress rules); a chain RETURNs what it allows
# and drops the rest; what both allow is accepted.
ipt() { ip netns exec $LB iptables -w "$@"; }
# rule_match DIR PROTO PORT REMOTE_ADDR: the match of one rule for one remote.
rule_match() {
  local m=()
  [ "$2" != any ] && m+=(-p "$2")
  [ "$3" != - ] && m+=(--dport "${3/-/:}")
  if [ -n "$4" ]; then
    [ "$1" = ingress ] && m+=(-s "$4") || m+=(-d "$4")
  fi
  echo "${m[@]}"
}
ipt -N sg-chain
while read -r -u 3 n ip mac groups; do
  ipt -N i-$n
  ipt -N o-$n
  ipt -A FORWARD -m physdev --physdev-out tap$n --physdev-is-bridged -j sg-chain
  ipt -A FORWARD -m physdev --physdev-in tap$n --physdev-is-bridged -j sg-chain
  ipt -A sg-chain -m physdev --physdev-out tap$n --physdev-is-bridged -j i-$n
  ipt -A sg-chain -m physdev --physdev-in tap$n --physdev-is-bridged -j o-$n
  ipt -A o-$n -p udp --sport 68 --dport 67 -j RETURN  # DHCP client
  for c in i o; do ipt -A $c-$n -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN; done
  for g in ${groups//,/ }; do
    [[ " $DEFAULT_EGRESS " == *" $g "* ]] && ipt -A o-$n -j RETURN
    while read -r -u 4 rg dir proto port remote; do
      [ "$rg" = "$g" ] || continue
      chain=i-$n
      [ "$dir" = egress ] && chain=o-$n
      case $remote in
        -) ipt -A $chain $(rule_match $dir $proto $port "") -j RETURN ;;
        ip:*) ipt -A $chain $(rule_match $dir $proto $port "${remote#ip:}") -j RETURN ;;
        group:*)
          for a in $(members ${remote#group:}); do ipt -A $chain $(rule_match $dir $proto $port $a) -j RETURN; done ;;
      esac
    done 4<<<"$RULES"
  done
  for c in i o; do
    ipt -A $c-$n -m conntrack --ctstate INVALID -j DROP
    ipt -A $c-$n -j DROP
  done
done 3<<<"$ENDPOINTS"
ipt -A sg-chain -j ACCEPT
ip netns exec $LB iptables-save >"$T/iptables.rules"
log "$((SECONDS - START)) s: kvnet and the Linux bridge are set up ($(grep -c '^-A' "$T/iptables.rules") iptables rules)"

for n in "${NAMES[@]}"; do
  wait_for 5 "echo servers in ${P}k$n" test -f "$T/ready-${P}k$n"
  wait_for 5 "echo servers in ${P}l$n" test -f "$T/ready-${P}l$n"
done
matrix ${P}k "$T/kvnet.txt"
matrix ${P}l "$T/iptables.txt"
log "$((SECONDS - START)) s: probed both"

# ---------------------------------------------------------------- compare
"$PY" - "$T/kvnet.txt" "$T/iptables.txt" "$PROBES" <<'EOF' || { sed 's/^/  /' "$T/iptables.rules"; fail "kvnet and iptables disagree"; }
import sys
def load(path):
    return {tuple(l.split()[:3]): l.split()[3] for l in open(path) if l.strip()}
k, i = load(sys.argv[1]), load(sys.argv[2])
cols = sys.argv[3].split()
short = {"open": "open", "refused": "rst", "timeout": "-"}
print("%-8s" % "", "".join("%-10s" % c for c in cols))
bad = 0
for key in sorted({(s, d) for s, d, _ in k} | {(s, d) for s, d, _ in i}):
    cells = []
    for c in cols:
        a, b = k.get(key + (c,), "?"), i.get(key + (c,), "?")
        if a == b:
            cells.append(short.get(a, a))
        else:
            bad += 1
            cells.append("%s|%s!" % (short.get(a, a), short.get(b, b)))
    print("%-8s" % ("%s->%s" % key), "".join("%-10s" % c for c in cells))
print("(open: connected and echoed; rst: refused by RST or port unreachable; -: timed out;"
      " kvnet|iptables! where they differ)")
results = list(k.values())
if len(k) != len(i) or not k:
    sys.exit("the matrices differ in size: %d vs %d probes" % (len(k), len(i)))
for r in ("open", "refused", "timeout"):
    if results.count(r) < 3:
        sys.exit("the matrix is too uniform to compare anything: %d x %s" % (results.count(r), r))
if bad:
    sys.exit("%d of %d probes differ" % (bad, len(k)))
print("%d probes, the same result on both" % len(k))
EOF
log "PASS ($((SECONDS - START)) s)"
