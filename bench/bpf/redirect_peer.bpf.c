/* The reference for the fast path's benchmarks: the least a tc program can
 * do to move a frame from one port to another, with no lookup at all. Built
 * per run with -DOUT_IFINDEX=N: by default into the peer of veth N, that is
 * another namespace's end (bench/compare_bridges.sh); with -DPLAIN out of
 * device N itself, as from one TAP to another (bench/compare_vms.sh). */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tc")
int redirect(struct __sk_buff *skb) {
  (void)skb;
#ifdef PLAIN
  return bpf_redirect(OUT_IFINDEX, 0);
#else
  return bpf_redirect_peer(OUT_IFINDEX, 0);
#endif
}
