/* The kernel fast path's maps, shared by the eBPF programs
 * (io/bpf/fastpath.bpf.c, built with clang's BPF target) and kvnetd
 * (io/fastpath.cc). Plain C: both compilers read it.
 *
 * A flow entry is keyed by what the slow path decided on for a frame as it
 * arrived on a kernel port: the ingress interface, the MACs, up to two VLAN
 * tags (full TCI: PCP and DEI count) and the EtherType after them; on a port
 * whose frames may meet a firewall (kvfp_ports says KVFP_PORT_L4), also the
 * IP protocol, addresses and ports (ICMP: type, code and identifier). Its value
 * is what the slow path did with it (tags to pop and push, the interface to
 * send it out of, the largest L3 length every port on the way admits) and
 * what the kernel did since (packets, bytes, last use, TCP flags seen).
 *
 * An entry is live only while its generation equals the map's current one
 * (KVFP_GEN slot of kvfp_state): kvnetd bumps it for every change that
 * could alter a cached decision, and the next frame of every stale flow
 * goes to the slow path. */
#ifndef KVNET_IO_BPF_FASTPATH_ABI_H
#define KVNET_IO_BPF_FASTPATH_ABI_H

#ifdef __cplusplus
#include <cstdint>
typedef uint8_t kvfp_u8;
typedef uint16_t kvfp_u16;
typedef uint32_t kvfp_u32;
typedef uint64_t kvfp_u64;
#else
typedef __u8 kvfp_u8;
typedef __u16 kvfp_u16;
typedef __u32 kvfp_u32;
typedef __u64 kvfp_u64;
#endif

#define KVFP_MAX_FLOWS 65536
#define KVFP_MAX_PORTS 4096

struct kvfp_key {
  kvfp_u32 ifindex;     /* the interface the frame arrived on */
  kvfp_u8 dst[6];
  kvfp_u8 src[6];
  kvfp_u16 tpid[2];     /* [0] outer tag, [1] inner: 0 when absent (host order) */
  kvfp_u16 tci[2];      /* host order */
  kvfp_u16 ethertype;   /* after the tags, host order */
  kvfp_u8 l4;           /* 1: the fields below are part of the key */
  kvfp_u8 proto;        /* IP protocol (0: not IP) */
  kvfp_u16 sport;       /* TCP/UDP ports; ICMP: type << 8 | code, and the echo identifier */
  kvfp_u16 dport;
  kvfp_u32 tun_id;      /* arrived through a kernel vxlan device: its VNI (else 0) */
  kvfp_u32 saddr[4];    /* IPv4: [0] only; network order */
  kvfp_u32 daddr[4];
  kvfp_u32 tun_src[4];  /* ... and the remote VTEP it came from (IPv4: [0]; network order) */
};

/* kvfp_ports: ifindex -> struct kvfp_port */
#define KVFP_PORT_L4 1u
struct kvfp_port {
  kvfp_u32 flags;
  kvfp_u32 upcall;  /* a kernel vxlan device: the TAP its misses go to (kvnetd reads them) */
};

/* What a miss on a kernel vxlan device carries to kvnetd, in front of the
 * decapsulated frame (the upcall TAP's frames). Addresses in network order. */
#define KVFP_UPCALL_MAGIC 0x6b765570u /* "kvUp" */
struct kvfp_upcall {
  kvfp_u32 magic;
  kvfp_u32 vni;
  kvfp_u32 family;      /* 4 or 6 */
  kvfp_u32 why;         /* the KVFP_* stat slot: why the fast path did not take it */
  kvfp_u32 remote[4];   /* the outer source */
  kvfp_u32 local[4];    /* the outer destination */
};

/* kvfp_action.flags */
#define KVFP_PEER 1u     /* bpf_redirect_peer: into a veth's other end in another netns */
#define KVFP_INGRESS 2u  /* deliver as received by out_ifindex (a TAP kvnetd holds) */
#define KVFP_TUNNEL 4u   /* out_ifindex is a kernel vxlan device: encapsulate with tun_* */
#define KVFP_TUN_V6 8u   /* ... over IPv6 */
#define KVFP_TUN_CSUM 16u /* ... with outer UDP checksums (IPv6: always) */

struct kvfp_action {
  kvfp_u32 out_ifindex;
  kvfp_u32 flags;
  kvfp_u32 generation;
  kvfp_u16 mtu;        /* the largest L3 length (a GSO frame: per segment) */
  kvfp_u8 pop;         /* tags to pop, outer first */
  kvfp_u8 push;        /* tags to push: push_*[0] first (the innermost) */
  kvfp_u16 push_tpid[2];
  kvfp_u16 push_tci[2];
  kvfp_u64 idle_ns;    /* dead once idle this long (a firewall's connection would have timed out); 0: never */
  /* Written by the programs (last_ns: by kvnetd at install, too). */
  kvfp_u64 packets;
  kvfp_u64 bytes;
  kvfp_u64 last_ns;    /* bpf_ktime_get_ns() of the last hit */
  kvfp_u32 tcp_flags;  /* every TCP flag seen (OR) */
  /* KVFP_TUNNEL: the outer header's fields. */
  kvfp_u8 tun_ttl;
  kvfp_u8 tun_tos;
  kvfp_u16 pad;
  kvfp_u32 tun_id;
  kvfp_u32 tun_dst[4];  /* network order; IPv4: [0] */
  kvfp_u32 tun_src[4];  /* 0: the kernel's route picks */
};

/* kvfp_state (an array of u64) */
#define KVFP_GEN 0
#define KVFP_STATE_SLOTS 1

/* kvfp_stats (a per-CPU array of u64) */
#define KVFP_HIT 0         /* forwarded by the fast path */
#define KVFP_MISS 1        /* no live entry: to the slow path */
#define KVFP_STALE 2       /* an entry of an older generation */
#define KVFP_PUNT 3        /* never cached here (ARP, ND, DHCP, fragments, ...) */
#define KVFP_TOO_BIG 4     /* over the path's MTU: the slow path counts the drop */
#define KVFP_AGREED 5      /* tc read the socket filter's verdict */
#define KVFP_ERROR 6       /* a VLAN push/pop failed: the frame is dropped */
#define KVFP_STAT_SLOTS 8

/* What the socket filter leaves in cb[0] for the tc program that runs after
 * it on the same frame, so both make one decision. */
#define KVFP_CB_MISS 0x6b764d31u /* "kvM1" */
#define KVFP_CB_HIT 0x6b764831u  /* "kvH1" */

#endif
