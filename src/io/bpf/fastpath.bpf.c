/* kvnet's kernel fast path (docs/architecture.md, "Fast path"): two eBPF
 * programs that share one flow map.
 *
 *   kvfp_filter  a socket filter on each kernel port's AF_PACKET socket. The
 *                kernel hands a received frame to packet sockets before tc
 *                ingress runs, so the filter makes the decision first: a frame
 *                the map forwards is kept from the slow path; one it does not
 *                is passed up and marked (cb[0]) as the slow path's.
 *   kvfp_tc      on the port's tc ingress hook: forwards what the map holds
 *                (VLAN pops and pushes, then a redirect), and lets everything
 *                else continue as if the program were not there.
 *   kvfp_tc_egress  the same on tc egress of a TAP whose fd kvnetd holds
 *                (`tap`, `internal`): what the interface sends goes to the
 *                fd, the slow path, unless the map forwards it.
 *   kvfp_tun_rx  on tc ingress of kvnet's kernel vxlan device: what it
 *                decapsulated, keyed also on VNI and remote; a miss goes to
 *                kvnetd through the device's upcall TAP. An entry into a
 *                tunnel sets the tunnel key and redirects to that device.
 *
 * Nothing here decides anything: kvnetd's slow path installs an entry after it
 * forwarded a frame of a flow whose decision may be cached, and removes or
 * outdates entries whenever a change could alter that decision. Frames that
 * are never cached (ARP, IPv6 neighbour discovery and ICMPv6 errors, DHCP,
 * IP fragments, ICMP errors, TCP SYN/FIN/RST, IPv6 extension headers, more
 * than two VLAN tags) are punted to the slow path here as well, so that an
 * entry installed for a flow never carries them. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "fastpath_abi.h"

char LICENSE[] SEC("license") = "GPL";

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, KVFP_MAX_FLOWS);
  __type(key, struct kvfp_key);
  __type(value, struct kvfp_action);
} kvfp_flows SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, KVFP_MAX_PORTS);
  __type(key, __u32);
  __type(value, struct kvfp_port);
} kvfp_ports SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, KVFP_STATE_SLOTS);
  __type(key, __u32);
  __type(value, __u64);
} kvfp_state SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, KVFP_STAT_SLOTS);
  __type(key, __u32);
  __type(value, __u64);
} kvfp_stats SEC(".maps");

static __always_inline void count(__u32 slot) {
  __u64 *v = bpf_map_lookup_elem(&kvfp_stats, &slot);
  if (v) *v += 1;
}

#define PROTO_ICMP 1
#define PROTO_TCP 6
#define PROTO_UDP 17
#define PROTO_ICMPV6 58

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04

struct verdict {
  struct kvfp_action *a;
  __u32 tcp_flags;
  __u32 bytes; /* as the slow path counts it: with the outer tag */
};

static __always_inline int is_tag(__u16 t) { return t == ETH_P_8021Q || t == ETH_P_8021AD; }

static __always_inline void ports_of(struct kvfp_key *k, const __u8 *l4) {
  k->sport = ((__u16)l4[0] << 8) | l4[1];
  k->dport = ((__u16)l4[2] << 8) | l4[3];
}
/* ICMP and ICMPv6: type and code, and the echo identifier (bytes 4-5). */
static __always_inline void icmp_of(struct kvfp_key *k, const __u8 *l4) {
  k->sport = ((__u16)l4[0] << 8) | l4[1];
  k->dport = ((__u16)l4[4] << 8) | l4[5];
}

/* Parses the frame at the MAC header (both hooks see it there) and looks it
 * up; `tun` (a frame a kernel vxlan device decapsulated) adds its VNI and
 * remote to the key. Returns the KVFP_* stat slot: KVFP_HIT with v->a set,
 * or why not. */
static __always_inline __u32 decide(struct __sk_buff *skb, struct verdict *v, const struct kvfp_upcall *tun) {
  struct kvfp_key k = {};
  if (tun) {
    k.tun_id = tun->vni;
    __builtin_memcpy(k.tun_src, tun->remote, sizeof k.tun_src);
  }
  __u8 eth[14];
  __u32 off = 14, tags = 0;
  if (bpf_skb_load_bytes(skb, 0, eth, sizeof eth) < 0) return KVFP_PUNT;
  __builtin_memcpy(k.dst, eth, 6);
  __builtin_memcpy(k.src, eth + 6, 6);
  __u16 type = ((__u16)eth[12] << 8) | eth[13];
  v->bytes = skb->len;
  if (skb->vlan_present) { /* the outer tag, taken out of the frame by the kernel */
    k.tpid[0] = bpf_ntohs((__u16)skb->vlan_proto);
    k.tci[0] = (__u16)skb->vlan_tci;
    tags = 1;
    v->bytes += 4;
  }
  for (int i = 0; i < 2; i++) {
    if (!is_tag(type)) break;
    if (tags >= 2) return KVFP_PUNT;
    __u8 t[4];
    if (bpf_skb_load_bytes(skb, off, t, sizeof t) < 0) return KVFP_PUNT;
    if (tags == 0) {
      k.tpid[0] = type;
      k.tci[0] = ((__u16)t[0] << 8) | t[1];
    } else {
      k.tpid[1] = type;
      k.tci[1] = ((__u16)t[0] << 8) | t[1];
    }
    type = ((__u16)t[2] << 8) | t[3];
    tags++;
    off += 4;
  }
  if (is_tag(type)) return KVFP_PUNT;
  k.ethertype = type;
  k.ifindex = skb->ifindex;
  __u32 ifx = skb->ifindex;
  struct kvfp_port *mode = bpf_map_lookup_elem(&kvfp_ports, &ifx);
  if (mode && (mode->flags & KVFP_PORT_L4)) k.l4 = 1; /* a firewall may judge this port's frames: key on the 5-tuple */
  __u32 l4hdr = 0, l3hdr = 0;
  int gso_l4 = 0;
  if (type == ETH_P_ARP || type == ETH_P_RARP) return KVFP_PUNT;
  __u8 proto = 0;
  if (type == ETH_P_IP) {
    __u8 ip[20];
    if (bpf_skb_load_bytes(skb, off, ip, sizeof ip) < 0) return KVFP_PUNT;
    if ((ip[0] >> 4) != 4) return KVFP_PUNT;
    l3hdr = (ip[0] & 0xf) * 4;
    if (l3hdr < 20) return KVFP_PUNT;
    if ((((__u16)ip[6] << 8) | ip[7]) & 0x3fff) return KVFP_PUNT; /* a fragment */
    proto = ip[9];
    if (k.l4) {
      k.proto = proto;
      __builtin_memcpy(&k.saddr[0], ip + 12, 4);
      __builtin_memcpy(&k.daddr[0], ip + 16, 4);
    }
  } else if (type == ETH_P_IPV6) {
    __u8 ip[40];
    if (bpf_skb_load_bytes(skb, off, ip, sizeof ip) < 0) return KVFP_PUNT;
    if ((ip[0] >> 4) != 6) return KVFP_PUNT;
    l3hdr = 40;
    proto = ip[6];
    if (proto != PROTO_TCP && proto != PROTO_UDP && proto != PROTO_ICMPV6)
      return KVFP_PUNT; /* extension headers: the slow path reads them */
    if (k.l4) {
      k.proto = proto;
      __builtin_memcpy(k.saddr, ip + 8, 16);
      __builtin_memcpy(k.daddr, ip + 24, 16);
    }
  }
  if (l3hdr) { /* the L4 header, the same way for IPv4 and IPv6 */
    const int v4 = type == ETH_P_IP;
    __u8 l4[14];
    if (proto == PROTO_TCP) {
      if (bpf_skb_load_bytes(skb, off + l3hdr, l4, 14) < 0) return KVFP_PUNT;
      v->tcp_flags = l4[13];
      if (l4[13] & (TCP_SYN | TCP_FIN | TCP_RST)) return KVFP_PUNT;
      l4hdr = (l4[12] >> 4) * 4;
      gso_l4 = 1;
      if (k.l4) ports_of(&k, l4);
    } else if (proto == PROTO_UDP) {
      if (bpf_skb_load_bytes(skb, off + l3hdr, l4, 4) < 0) return KVFP_PUNT;
      __u16 sp = ((__u16)l4[0] << 8) | l4[1], dp = ((__u16)l4[2] << 8) | l4[3];
      __u16 client = v4 ? 68 : 546, server = v4 ? 67 : 547;
      if (sp == client || sp == server || dp == client || dp == server) return KVFP_PUNT; /* DHCP */
      l4hdr = 8;
      gso_l4 = 1;
      if (k.l4) ports_of(&k, l4);
    } else if ((v4 && proto == PROTO_ICMP) || (!v4 && proto == PROTO_ICMPV6)) {
      if (bpf_skb_load_bytes(skb, off + l3hdr, l4, 6) < 0) return KVFP_PUNT;
      __u8 t = l4[0];
      if (v4 && (t == 3 || t == 4 || t == 5 || t == 11 || t == 12)) return KVFP_PUNT; /* errors */
      if (!v4 && (t < 128 || (t >= 133 && t <= 137))) return KVFP_PUNT;             /* errors, ND */
      if (k.l4) icmp_of(&k, l4);
    }
  }

  struct kvfp_action *a = bpf_map_lookup_elem(&kvfp_flows, &k);
  if (!a) return KVFP_MISS;
  __u32 zero = KVFP_GEN;
  __u64 *gen = bpf_map_lookup_elem(&kvfp_state, &zero);
  if (!gen || a->generation != (__u32)*gen) return KVFP_STALE;
  /* Idle longer than its connection's timeout: the connection is gone in
   * the slow path's table, whose rules must judge the next packet again. */
  if (a->idle_ns && bpf_ktime_get_ns() - a->last_ns > a->idle_ns) return KVFP_STALE;
  /* The path's MTU, as the slow path checks it: a GSO frame by its segments. */
  __u32 l3len = skb->len - off;
  if (skb->gso_size) {
    if (!gso_l4) return KVFP_TOO_BIG;
    l3len = l3hdr + l4hdr + skb->gso_size;
  }
  if (l3len > a->mtu) return KVFP_TOO_BIG;
  v->a = a;
  return KVFP_HIT;
}

SEC("socket")
int kvfp_filter(struct __sk_buff *skb) {
  struct verdict v = {};
  __u32 why = decide(skb, &v, 0);
  if (why == KVFP_HIT) {
    skb->cb[0] = KVFP_CB_HIT;
    return 0; /* the tc program forwards it */
  }
  skb->cb[0] = KVFP_CB_MISS;
  skb->cb[1] = why;
  return skb->len;
}

/* The recorded actions on a frame that hit: statistics, tags, the way out.
 * `ingress`: at tc ingress (bpf_redirect_peer is valid only there). */
static __always_inline int act(struct __sk_buff *skb, struct verdict *v, int ingress) {
  struct kvfp_action *a = v->a;
  __sync_fetch_and_add(&a->packets, 1); /* a GSO frame is one, as the slow path counts it */
  __sync_fetch_and_add(&a->bytes, v->bytes);
  a->last_ns = bpf_ktime_get_ns();
  if (v->tcp_flags) __sync_fetch_and_or(&a->tcp_flags, v->tcp_flags);
  __u32 pop = a->pop, push = a->push;
  if (pop >= 1 && bpf_skb_vlan_pop(skb) < 0) goto fail;
  if (pop >= 2 && bpf_skb_vlan_pop(skb) < 0) goto fail;
  if (push >= 1 && bpf_skb_vlan_push(skb, bpf_htons(a->push_tpid[0]), a->push_tci[0]) < 0) goto fail;
  if (push >= 2 && bpf_skb_vlan_push(skb, bpf_htons(a->push_tpid[1]), a->push_tci[1]) < 0) goto fail;
  if (a->flags & KVFP_TUNNEL) { /* the kernel vxlan device encapsulates (and segments: UDP-tunnel GSO) */
    struct bpf_tunnel_key tk = {};
    __u64 fl = BPF_F_DONT_FRAGMENT;
    tk.tunnel_id = a->tun_id;
    tk.tunnel_ttl = a->tun_ttl;
    tk.tunnel_tos = a->tun_tos;
    if (a->flags & KVFP_TUN_V6) {
      __builtin_memcpy(tk.remote_ipv6, a->tun_dst, 16);
      __builtin_memcpy(tk.local_ipv6, a->tun_src, 16);
      fl |= BPF_F_TUNINFO_IPV6;
    } else {
      tk.remote_ipv4 = bpf_ntohl(a->tun_dst[0]); /* host order here */
      tk.local_ipv4 = bpf_ntohl(a->tun_src[0]);
      if (!(a->flags & KVFP_TUN_CSUM)) fl |= BPF_F_ZERO_CSUM_TX;
    }
    if (bpf_skb_set_tunnel_key(skb, &tk, sizeof tk, fl) < 0) goto fail;
  }
  count(KVFP_HIT);
  if (ingress && (a->flags & KVFP_PEER)) return bpf_redirect_peer(a->out_ifindex, 0);
  return bpf_redirect(a->out_ifindex, (a->flags & KVFP_INGRESS) ? BPF_F_INGRESS : 0);
fail:
  count(KVFP_ERROR);
  return TC_ACT_SHOT;
}

/* Looks the frame up and performs what it hit; a miss goes on. */
static __always_inline int forward(struct __sk_buff *skb, int ingress) {
  struct verdict v = {};
  __u32 why = decide(skb, &v, 0);
  if (why != KVFP_HIT || !v.a) {
    count(why);
    return TC_ACT_OK;
  }
  return act(skb, &v, ingress);
}

SEC("tc")
int kvfp_tc(struct __sk_buff *skb) {
  __u32 said = skb->cb[0];
  skb->cb[0] = 0;
  if (said == KVFP_CB_MISS) { /* the slow path has it */
    __u32 why = skb->cb[1];
    if (why < KVFP_STAT_SLOTS) count(why);
    count(KVFP_AGREED);
    return TC_ACT_OK;
  }
  return forward(skb, 1);
}

/* On tc egress of a TAP whose fd kvnetd holds (a `tap` or `internal` port):
 * what the interface sends would reach kvnetd through the fd, after this
 * program; so a miss simply goes on (no socket filter, and cb is the IP
 * stack's here, not ours). */
SEC("tc")
int kvfp_tc_egress(struct __sk_buff *skb) { return forward(skb, 0); }

/* On tc ingress of a kernel vxlan device in external mode (kvnet's VTEP
 * when the fast path is on, io/kernel_vxlan.h): the kernel decapsulated the
 * frame (and merged TCP segments: GRO) and left the outer header's fields in
 * the tunnel metadata. A hit is forwarded like any other; a miss goes to
 * kvnetd through the device's upcall TAP, the VNI and the outer addresses in
 * front of the frame (struct kvfp_upcall). */
SEC("tc")
int kvfp_tun_rx(struct __sk_buff *skb) {
  struct bpf_tunnel_key tk = {};
  struct kvfp_upcall up = {};
  if (bpf_skb_get_tunnel_key(skb, &tk, sizeof tk, 0) == 0) {
    up.family = 4;
    up.remote[0] = bpf_htonl(tk.remote_ipv4);
    up.local[0] = bpf_htonl(tk.local_ipv4);
  } else if (bpf_skb_get_tunnel_key(skb, &tk, sizeof tk, BPF_F_TUNINFO_IPV6) == 0) {
    up.family = 6;
    __builtin_memcpy(up.remote, tk.remote_ipv6, 16);
    __builtin_memcpy(up.local, tk.local_ipv6, 16);
  } else {
    return TC_ACT_SHOT; /* not from the tunnel: nothing kvnet sent here */
  }
  up.magic = KVFP_UPCALL_MAGIC;
  up.vni = (__u32)tk.tunnel_id;
  struct verdict v = {};
  __u32 why = decide(skb, &v, &up);
  if (why == KVFP_HIT && v.a) return act(skb, &v, 1);
  count(why);
  __u32 ifx = skb->ifindex;
  struct kvfp_port *p = bpf_map_lookup_elem(&kvfp_ports, &ifx);
  if (!p || !p->upcall) return TC_ACT_SHOT;
  up.why = why;
  if (bpf_skb_change_head(skb, sizeof up, 0) < 0) return TC_ACT_SHOT;
  if (bpf_skb_store_bytes(skb, 0, &up, sizeof up, 0) < 0) return TC_ACT_SHOT;
  return bpf_redirect(p->upcall, 0);
}
