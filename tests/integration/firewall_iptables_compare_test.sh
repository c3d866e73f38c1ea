#!/usr/bin/env bash
# kvnet's security groups against the kernel's: the same groups, rules and
# memberships, once as kvnet security groups on containers and once as
# iptables/ip6tables rules on a Linux bridge the way Neutron's hybrid
# (iptables) driver writes them (br_netfilter, per-port chains jumped to with
# -m physdev, ESTABLISHED,RELATED by -m conntrack, remote groups expanded to
# their members' addresses), must give the same reachability for every TCP,
# UDP and ICMP probe between every pair of endpoints, in both directions, over
# IPv4 and IPv6.
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
# Endpoints: name, IPv4 and IPv6 address, MAC, groups.
ENDPOINTS="w 10.92.0.1 fd92::1 02:92:00:00:00:01 web
x 10.92.0.2 fd92::2 02:92:00:00:00:02 web,mgmt
y 10.92.0.3 fd92::3 02:92:00:00:00:03 mgmt
z 10.92.0.4 fd92::4 02:92:00:00:00:04 db"
# Rules: group ethertype direction protocol port remote (- = none; ip:CIDR or
# group:G). web and mgmt keep Neutron's default egress rules (any IPv4, any
# IPv6); db loses them and may only send DNS and ICMP (so z reaches y's DNS,
# but not w's open TCP 80). IPv6 has rules of its own.
RULES="web ipv4 ingress tcp 80-81 -
web ipv4 ingress udp 53-54 ip:10.92.0.3/32
web ipv4 ingress icmp - group:mgmt
mgmt ipv4 ingress tcp 22 group:web
mgmt ipv4 ingress udp 53 -
db ipv4 ingress tcp 5432 group:web
db ipv4 ingress icmp - ip:10.92.0.0/31
db ipv4 egress udp 53 -
db ipv4 egress icmp - -
web ipv6 ingress tcp 80 -
web ipv6 ingress icmpv6 - group:mgmt
web ipv6 ingress udp 54 -
mgmt ipv6 ingress udp 53 ip:fd92::4/128
db ipv6 ingress tcp 5432 group:mgmt
db ipv6 egress udp 53 -"
DEFAULT_EGRESS="web mgmt"
# Every endpoint serves TCP 80, 22, 5432 and UDP 53, 5353; TCP 81 and UDP 54
# are allowed to web but closed (a RST, a port unreachable: related ICMP).
SERVE="tcp=80,22,5432 udp=53,5353"
PROBES="tcp/80 tcp/81 tcp/22 tcp/5432 udp/53 udp/54 udp/5353 icmp"

declare -A IP4 IP6 NAME_OF
NAMES=()
while read -r n ip ip6 mac groups; do
  NAMES+=("$n")
  IP4[$n]=$ip
  IP6[$n]=$ip6
  NAME_OF[$ip]=$n
  NAME_OF[$ip6]=$n
done <<<"$ENDPOINTS"
# members GROUP 2|3: the group's members' IPv4 (2) or IPv6 (3) addresses.
members() { awk -v g="$1" -v f="$2" '{n = split($5, gs, ","); for (i = 1; i <= n; i++) if (gs[i] == g) print $f}' <<<"$ENDPOINTS"; }

# serve NS: the echo servers in NS.
serve() {
  ip netns exec "$1" "$PY" "$PROBE" serve "$T/ready-$1" $SERVE >>"$T/serve-$1.log" 2>&1 &
  PIDS+=($!)
}
# matrix PREFIX OUT: every endpoint (namespace PREFIX<name>) probes every
# other one over IPv4 and IPv6, all in parallel; lines "SRC DST PROBE RESULT"
# into OUT (PROBE: 4:tcp/80, 6:icmp, ...).
matrix() {
  local pre=$1 out=$2 s d p a specs pids=()
  for s in "${NAMES[@]}"; do
    specs=()
    for d in "${NAMES[@]}"; do
      [ "$s" = "$d" ] && continue
      for a in ${IP4[$d]} ${IP6[$d]}; do
        for p in $PROBES; do
          case $p in
            icmp) specs+=("icmp/$a") ;;
            *) specs+=("${p%/*}/$a/${p#*/}") ;;
          esac
        done
      done
    done
    ip netns exec "$pre$s" "$PY" "$PROBE" probe "${specs[@]}" >"$T/m.$s" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || true; done
  local spec result proto rest addr port fam
  for s in "${NAMES[@]}"; do
    while read -r spec result; do
      proto=${spec%%/*}
      rest=${spec#*/}
      addr=${rest%%/*}
      port=/${rest#*/}
      [ "$proto" = icmp ] && port=""
      [[ $addr == *:* ]] && fam=6 || fam=4
      echo "$s ${NAME_OF[$addr]:-?} $fam:$proto$port $result"
    done <"$T/m.$s"
  done >"$out"
}

# ---------------------------------------------------------------- kvnet
# A container's `ip` is one address; the IPv6 one is added in its namespace
# and made known to kvnet (for remote_group) as an allowed address.
kvd_start
kctl add-br br0 >/dev/null
for g in web mgmt db; do kctl sg add $g >/dev/null; done
kctl sg rule-del db 1 >/dev/null
kctl sg rule-del db 2 >/dev/null
while read -r -u 3 g eth dir proto port remote; do
  args=("$dir" "ethertype=$eth" "protocol=$proto")
  [ "$port" != - ] && args+=("port=$port")
  case $remote in
    ip:*) args+=("remote_ip=${remote#ip:}") ;;
    group:*) args+=("remote_group=${remote#group:}") ;;
  esac
  kctl sg rule-add "$g" "${args[@]}" >/dev/null
done 3<<<"$RULES"
while read -r -u 3 n ip ip6 mac groups; do
  kctl ct add ${P}k$n --bridge br0 --ip $ip/24 --mac $mac >/dev/null
  ip -n ${P}k$n addr add $ip6/64 dev eth0 nodad
  kctl set port ct-${P}k$n security_groups=$groups allowed_addresses=$ip6 >/dev/null
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
while read -r -u 3 n ip ip6 mac groups; do
  ip netns add ${P}l$n
  ip -n $LB link add tap$n type veth peer name eth0 netns ${P}l$n
  ip -n $LB link set tap$n master br0 up
  ip -n ${P}l$n link set eth0 address $mac
  ip -n ${P}l$n addr add $ip/24 dev eth0
  ip -n ${P}l$n addr add $ip6/64 dev eth0 nodad
  ip -n ${P}l$n link set eth0 up
  ip -n ${P}l$n link set lo up
  serve ${P}l$n
done 3<<<"$ENDPOINTS"

# Neutron's hybrid driver: FORWARD sends a port's bridged traffic to the
# sg-chain, which sends what goes to the port to i-PORT (ingress rules) and
# what comes from it to o-PORT (egress rules); a chain RETURNs what it allows
# and drops the rest; what both allow is accepted. IPv6 neighbour discovery
# and MLD pass both ways, router advertisements only to the port, as in
# Neutron's base rules.
ipt() { ip netns exec $LB iptables -w "$@"; }
ip6t() { ip netns exec $LB ip6tables -w "$@"; }
# rule_match DIR PROTO PORT REMOTE_ADDR: the match of one rule for one remote.
rule_match() {
  local m=()
  case $2 in
    any) ;;
    icmpv6) m+=(-p ipv6-icmp) ;;
    *) m+=(-p "$2") ;;
  esac
  [ "$3" != - ] && m+=(--dport "${3/-/:}")
  if [ -n "$4" ]; then
    [ "$1" = ingress ] && m+=(-s "$4") || m+=(-d "$4")
  fi
  echo "${m[@]}"
}
for t in ipt ip6t; do $t -N sg-chain; done
while read -r -u 3 n ip ip6 mac groups; do
  for t in ipt ip6t; do
    $t -N i-$n
    $t -N o-$n
    $t -A FORWARD -m physdev --physdev-out tap$n --physdev-is-bridged -j sg-chain
    $t -A FORWARD -m physdev --physdev-in tap$n --physdev-is-bridged -j sg-chain
    $t -A sg-chain -m physdev --physdev-out tap$n --physdev-is-bridged -j i-$n
    $t -A sg-chain -m physdev --physdev-in tap$n --physdev-is-bridged -j o-$n
  done
  ipt -A o-$n -p udp --sport 68 --dport 67 -j RETURN  # DHCP client
  for c in i o; do
    for type in 130 131 132 133 135 136 143; do ip6t -A $c-$n -p ipv6-icmp --icmpv6-type $type -j RETURN; done
    [ $c = i ] && ip6t -A i-$n -p ipv6-icmp --icmpv6-type 134 -j RETURN
    for t in ipt ip6t; do $t -A $c-$n -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN; done
  done
  for g in ${groups//,/ }; do
    if [[ " $DEFAULT_EGRESS " == *" $g "* ]]; then
      ipt -A o-$n -j RETURN
      ip6t -A o-$n -j RETURN
    fi
    while read -r -u 4 rg eth dir proto port remote; do
      [ "$rg" = "$g" ] || continue
      chain=i-$n
      [ "$dir" = egress ] && chain=o-$n
      t=ipt
      f=2
      if [ "$eth" = ipv6 ]; then
        t=ip6t
        f=3
      fi
      case $remote in
        -) $t -A $chain $(rule_match $dir $proto $port "") -j RETURN ;;
        ip:*) $t -A $chain $(rule_match $dir $proto $port "${remote#ip:}") -j RETURN ;;
        group:*)
          for a in $(members ${remote#group:} $f); do $t -A $chain $(rule_match $dir $proto $port $a) -j RETURN; done ;;
      esac
    done 4<<<"$RULES"
  done
  for c in i o; do
    for t in ipt ip6t; do
      $t -A $c-$n -m conntrack --ctstate INVALID -j DROP
      $t -A $c-$n -j DROP
    done
  done
done 3<<<"$ENDPOINTS"
for t in ipt ip6t; do $t -A sg-chain -j ACCEPT; done
{
  ip netns exec $LB iptables-save
  ip netns exec $LB ip6tables-save
} >"$T/iptables.rules"
log "$((SECONDS - START)) s: kvnet and the Linux bridge are set up ($(grep -c '^-A' "$T/iptables.rules") iptables and ip6tables rules)"

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
short = {"open": "open", "refused": "rst", "timeout": "-"}
bad = 0
for fam in "46":
    cols = ["%s:%s" % (fam, c) for c in sys.argv[3].split()]
    print("%-8s" % ("IPv" + fam), "".join("%-10s" % c[2:] for c in cols))
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
if len(k) != len(i) or not k:
    sys.exit("the matrices differ in size: %d vs %d probes" % (len(k), len(i)))
for fam in "46":
    res = [v for (s, d, c), v in k.items() if c.startswith(fam)]
    for r in ("open", "refused", "timeout"):
        if res.count(r) < 2:
            sys.exit("the IPv%s matrix is too uniform to compare anything: %d x %s" % (fam, res.count(r), r))
if bad:
    sys.exit("%d of %d probes differ" % (bad, len(k)))
print("%d probes, the same result on both" % len(k))
EOF
log "PASS ($((SECONDS - START)) s)"
