/* The reference for the fast path's benchmarks (bench/compare_bridges.sh):
 * the least a tc program can do to move a frame from one veth to another
 * namespace's end of a second veth, with no lookup at all. Built per run
 * with -DOUT_IFINDEX=N (the other veth's host end). */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tc")
int redirect(struct __sk_buff *skb) {
  (void)skb;
  return bpf_redirect_peer(OUT_IFINDEX, 0);
}
