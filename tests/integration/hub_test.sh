#!/usr/bin/env bash
# A containers' bridge of type hub behaves as the seed's hub: a third
# container sees unicast between the other two (tcpdump in its namespace).
# On a learning bridge it does not.
source "$(dirname "$0")/lib.sh" "$@"
kvd_start
for type in hub learning; do
  kctl add-br br-$type type=$type >/dev/null
  kctl ct add ${P}1${type:0:1} --bridge br-$type --ip 10.82.0.1/24 >/dev/null
  kctl ct add ${P}2${type:0:1} --bridge br-$type --ip 10.82.0.2/24 >/dev/null
  kctl ct add ${P}3${type:0:1} --bridge br-$type --ip 10.82.0.3/24 >/dev/null
  c1=${P}1${type:0:1} c3=${P}3${type:0:1}
  pings $c1 10.82.0.2 1 || fail "$type: no ping 1 -> 2"  # learn both MACs first
  ip netns exec $c3 timeout 6 tcpdump -l -nn -i eth0 'icmp and host 10.82.0.1 and host 10.82.0.2' >"$T/$type.cap" 2>/dev/null &
  CAP=$!
  sleep 1
  pings $c1 10.82.0.2 5 || fail "$type: no ping 1 -> 2"
  wait $CAP || true
  seen=$(grep -c "ICMP echo" "$T/$type.cap" || true)
  if [ $type = hub ]; then
    [ "$seen" -ge 10 ] || { cat "$T/$type.cap"; fail "hub: the third container saw $seen of 10 unicast frames"; }
  else
    [ "$seen" -eq 0 ] || { cat "$T/$type.cap"; fail "learning bridge leaked $seen unicast frames to a third port"; }
  fi
  log "$type: third container saw $seen unicast ICMP frames"
done
log "PASS"
