/* The reference for the overlay benchmark (bench/compare_overlays.sh): the
 * least an eBPF VTEP can do, with no lookup at all. `out` on the tc ingress
 * of the endpoint veth's host end sets the tunnel key and redirects to a
 * kernel vxlan device in external mode (the kernel encapsulates and
 * segments); `in` on that device's tc ingress redirects what it
 * decapsulated into the endpoint's namespace. Built per run and hook, one
 * program each: -DOUT -DVNI=N -DREMOTE=0xAABBCCDD (IPv4, host order)
 * -DVX_IFINDEX=N, or -DIN -DHOST_IFINDEX=N. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

#ifdef OUT
SEC("tc")
int out(struct __sk_buff *skb) {
  struct bpf_tunnel_key k = {};
  k.tunnel_id = VNI;
  k.remote_ipv4 = REMOTE;
  k.tunnel_ttl = 64;
  if (bpf_skb_set_tunnel_key(skb, &k, sizeof k, BPF_F_ZERO_CSUM_TX | BPF_F_DONT_FRAGMENT) < 0) return TC_ACT_SHOT;
  return bpf_redirect(VX_IFINDEX, 0);
}
#endif

#ifdef IN
SEC("tc")
int in(struct __sk_buff *skb) {
  (void)skb;
  return bpf_redirect_peer(HOST_IFINDEX, 0);
}
#endif
