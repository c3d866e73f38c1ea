#include "io/fastpath.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <linux/pkt_cls.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/clock.h"
#include "base/log.h"
#include "fastpath.skel.h"
#include "io/fastpath_key.h"
#include "io/netdev.h"
#include "net/bytes.h"
#include "net/headers.h"

#ifndef SO_ATTACH_BPF
#define SO_ATTACH_BPF 50
#endif

namespace kvnet::io {
namespace {

// tcx (Linux 6.6): tc's hook with links that die with their fd. Debian 12's
// headers predate it.
constexpr int kTcxIngress = 46, kTcxEgress = 47;

std::string errno_text(int e) { return std::strerror(e < 0 ? -e : e); }

// A libbpf message goes to kvnetd's log only when loading fails (the
// verifier's reasons); otherwise libbpf stays quiet.
std::string g_libbpf_log;
int libbpf_print(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char buf[1024];
  const int n = vsnprintf(buf, sizeof buf, fmt, args);
  if (n > 0 && g_libbpf_log.size() < 16384) g_libbpf_log += buf;
  return n;
}

int tcx_attach(int prog_fd, int ifindex, bool egress) {
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.link_create.prog_fd = static_cast<uint32_t>(prog_fd);
  attr.link_create.target_ifindex = static_cast<uint32_t>(ifindex);
  attr.link_create.attach_type = static_cast<bpf_attach_type>(egress ? kTcxEgress : kTcxIngress);
  // SAFETY: BPF_LINK_CREATE reads the attr we own, of the size we pass.
  return static_cast<int>(syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof attr));
}

bpf_tc_hook tc_hook(int ifindex, bool egress) {
  bpf_tc_hook h{};
  h.sz = sizeof h;
  h.ifindex = ifindex;
  h.attach_point = egress ? BPF_TC_EGRESS : BPF_TC_INGRESS;
  return h;
}
constexpr uint32_t kTcHandle = 0x6b76;  // "kv"
constexpr uint32_t kTcPriority = 1;

}  // namespace

size_t FastPath::KeyHash::operator()(const kvfp_key& k) const {
  uint64_t h = 0xcbf29ce484222325ULL;
  const auto* p = reinterpret_cast<const uint8_t*>(&k);
  for (size_t i = 0; i < sizeof k; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

bool FastPath::KeyEq::operator()(const kvfp_key& a, const kvfp_key& b) const {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

Result<std::unique_ptr<FastPath>> FastPath::open() {
  static_assert(sizeof(kvfp_key) == 84, "kvfp_key has no holes: the kernel hashes every byte");
  libbpf_set_print(libbpf_print);
  g_libbpf_log.clear();
  auto fp = std::unique_ptr<FastPath>(new FastPath());
  fp->skel_ = kvfp::open_and_load();
  if (!fp->skel_) {
    const int e = errno;
    std::string why = "cannot load its eBPF programs: " + errno_text(e);
    if (e == EPERM || e == EACCES) why += " (kvnetd needs CAP_BPF and CAP_NET_ADMIN, or root)";
    if (e == ENOSYS) why += " (this kernel has no BPF system call)";
    // The verifier's last words name the cause.
    std::string last;
    for (size_t pos = 0; pos < g_libbpf_log.size();) {
      const size_t nl = g_libbpf_log.find('\n', pos);
      const std::string line = g_libbpf_log.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
      if (!line.empty() && line.find("-- END") == std::string::npos) last = line;
      if (nl == std::string::npos) break;
      pos = nl + 1;
    }
    if (!last.empty()) why += ": " + last;
    return Error{why};
  }
  fp->flows_fd_ = bpf_map__fd(fp->skel_->maps.kvfp_flows);
  fp->state_fd_ = bpf_map__fd(fp->skel_->maps.kvfp_state);
  fp->ports_fd_ = bpf_map__fd(fp->skel_->maps.kvfp_ports);
  fp->stats_fd_ = bpf_map__fd(fp->skel_->maps.kvfp_stats);
  fp->tc_fd_ = bpf_program__fd(fp->skel_->progs.kvfp_tc);
  fp->filter_fd_ = bpf_program__fd(fp->skel_->progs.kvfp_filter);
  fp->tc_egress_fd_ = bpf_program__fd(fp->skel_->progs.kvfp_tc_egress);
  fp->tun_rx_fd_ = bpf_program__fd(fp->skel_->progs.kvfp_tun_rx);
  return fp;
}

// The tc program goes from the port: its tcx link closed, or the cls_bpf
// filter kvnetd attached deleted.
void FastPath::unhook(const Hooked& h) {
  if (h.link_fd >= 0) {
    ::close(h.link_fd);
    return;
  }
  bpf_tc_hook hook = tc_hook(h.ifindex, h.egress);
  bpf_tc_opts o{};
  o.sz = sizeof o;
  o.handle = kTcHandle;
  o.priority = kTcPriority;
  bpf_tc_detach(&hook, &o);
}

FastPath::~FastPath() {
  if (kernel_tunnel_hooks() == this) set_kernel_tunnel_hooks(nullptr);
  for (auto& [id, h] : hooked_)
    if (!h.tunnel) unhook(h);  // a kernel vxlan device's program is its own (attach_tunnel)
  if (skel_) kvfp::destroy(skel_);
}

bool FastPath::port_added(dp::Port& p) {
  if (!p.backend || p.patch) return false;
  if (const int dev = p.backend->kernel_tunnel(); dev > 0) {
    // A tunnel port: its kernel vxlan device carries the program already
    // (attach_tunnel), for every tunnel port of its UDP port.
    Hooked h;
    h.ifindex = dev;
    h.tunnel = true;
    h.name = if_name(dev);
    h.up = if_is_up(h.name);
    hooked_[p.id] = h;
    update_port_modes();
    return true;
  }
  const int ifindex = p.backend->kernel_ifindex(), sock = p.backend->kernel_socket();
  const bool egress = p.backend->kernel_tap();
  if (ifindex <= 0 || (sock < 0 && !egress)) return false;
  // The filter first: until tc forwards anything, the slow path sees all.
  // SAFETY: setsockopt reads one int from a local of that size.
  if (!egress && setsockopt(sock, SOL_SOCKET, SO_ATTACH_BPF, &filter_fd_, sizeof filter_fd_) < 0) {
    logf(LogLevel::kWarn, "fast path: port '{}': cannot attach its socket filter: {}: the port stays on the slow path",
         p.path(), errno_text(errno));
    return false;
  }
  Hooked h;
  h.ifindex = ifindex;
  h.sock = egress ? -1 : sock;
  h.name = if_name(ifindex);
  h.up = if_is_up(h.name);
  h.peer = !egress && veth_to_elsewhere(ifindex);
  h.egress = egress;
  if (!hook(h)) {
    logf(LogLevel::kWarn, "fast path: port '{}': cannot attach to tc {}: {}: the port stays on the slow path", p.path(),
         egress ? "egress" : "ingress", errno_text(errno));
    // SAFETY: SO_DETACH_BPF takes no value.
    if (!egress) setsockopt(sock, SOL_SOCKET, SO_DETACH_BPF, nullptr, 0);
    return false;
  }
  hooked_[p.id] = h;
  return true;
}

// The tc program onto the port: a tcx link where the kernel has them (it
// removes the program when kvnetd's fd closes), else cls_bpf with a fixed
// handle. Ingress for a port read through AF_PACKET; egress for a TAP whose
// fd kvnetd holds (what the interface sends).
bool FastPath::hook(Hooked& h) {
  const int prog = h.tunnel ? tun_rx_fd_ : h.egress ? tc_egress_fd_ : tc_fd_;
  if (tcx_) {
    h.link_fd = tcx_attach(prog, h.ifindex, h.egress);
    if (h.link_fd >= 0) return true;
    if (errno != EINVAL && errno != 524 /* ENOTSUPP */ && errno != EOPNOTSUPP) return false;
    tcx_ = false;  // an older kernel: cls_bpf from now on
    logf(LogLevel::kInfo, "fast path: this kernel has no tcx links ({}): programs go on tc with cls_bpf",
         errno_text(errno));
  }
  bpf_tc_hook hook = tc_hook(h.ifindex, h.egress);
  const int rc = bpf_tc_hook_create(&hook);
  bpf_tc_opts o{};
  o.sz = sizeof o;
  o.handle = kTcHandle;
  o.priority = kTcPriority;
  o.prog_fd = prog;
  o.flags = BPF_TC_F_REPLACE;
  return (rc >= 0 || rc == -EEXIST) && bpf_tc_attach(&hook, &o) >= 0;
}

void FastPath::port_removed(dp::Port& p) {
  // Its entries go before anything else can have its ifindex.
  const uint64_t now = monotonic_ns();
  for (auto it = flows_.begin(); it != flows_.end();) {
    const Flow& f = it->second;
    bool uses = f.out_port == p.id;
    for (uint8_t h = 0; h < f.hops && !uses; ++h) uses = f.hop_port[h] == p.id;
    if (!uses) {
      ++it;
      continue;
    }
    it = retire(it, now);
  }
  auto it = hooked_.find(p.id);
  if (it == hooked_.end()) return;
  const Hooked h = it->second;
  hooked_.erase(it);
  if (h.tunnel) {  // the device stays (other tunnel ports, its upcalls): only its mode may change
    update_port_modes();
    return;
  }
  const uint32_t ifx = static_cast<uint32_t>(h.ifindex);
  bpf_map_delete_elem(ports_fd_, &ifx);
  unhook(h);
  // The socket may already be closed (a failed device): then this fails harmlessly.
  if (h.sock >= 0 && p.backend && p.backend->kernel_socket() == h.sock)
    setsockopt(h.sock, SOL_SOCKET, SO_DETACH_BPF, nullptr, 0);
}

// A TAP whose fd kvnetd holds may be down, or moved to another namespace,
// where its program would redirect to indexes of that namespace: nothing is
// installed from or to it then (checked now, not only by the revalidator).
bool FastPath::elsewhere(const Hooked& h) const {
  return h.egress && (!h.up || if_name(h.ifindex) != h.name);
}

// bpf_redirect_peer goes straight into the other end of a veth whose other
// end is in another network namespace (a container), skipping a backlog
// queue; not to a veth pair within one namespace.
bool FastPath::veth_to_elsewhere(int ifindex) const {
  const std::string name = if_name(ifindex);
  if (name.empty() || if_driver(name) != "veth") return false;
  const int peer = if_link(name);
  if (peer <= 0 || peer == ifindex) return false;
  // The peer's index names a device here that links back: the pair is in
  // this namespace, where bpf_redirect_peer does not go.
  const std::string peer_name = if_name(peer);
  return peer_name.empty() || if_link(peer_name) != ifindex;
}

void FastPath::offer(const dp::Port& in, const dp::Port& out, const net::Frame& f, uint32_t path_mtu) {
  const net::FastMeta& m = f.meta.fast;
  if (!published_ || !dp_) return;
  const auto hooked = hooked_.find(in.id);
  if (hooked == hooked_.end() || elsewhere(hooked->second)) return;
  // The key from the frame as it leaves (its L3 and L4 are as they arrived),
  // with the tags it arrived with.
  kvfp_key k;
  uint32_t out_l2 = 0;
  if (!fastpath_key(f.data(), f.len(), static_cast<uint32_t>(hooked->second.ifindex), hooked->second.l4, k, &out_l2))
    return;
  const net::TunMeta& tun = f.meta.tun;
  if (hooked->second.tunnel) {  // decapsulated by the kernel: its VNI and remote are part of the key
    if (tun.family == 0) return;
    k.tun_id = tun.vni;
    std::memcpy(k.tun_src, tun.remote.data(), sizeof k.tun_src);
  }
  // Out through a tunnel port whose VTEP is a kernel vxlan device: to one
  // remote, the outer header set by the program, the vni_map's tag gone.
  dp::FastTunnel ft;
  const bool to_tunnel = out.backend->kernel_tunnel() > 0;
  if (to_tunnel && !out.backend->fast_tunnel(f, f.meta.ts_ns ? f.meta.ts_ns : monotonic_ns(), ft)) return;
  const uint8_t out_tags = static_cast<uint8_t>((out_l2 - 14) / 4);
  if (ft.strip > out_tags) return;
  const uint8_t tags = static_cast<uint8_t>(out_tags - ft.strip);
  uint16_t tpid[2] = {}, tci[2] = {};
  for (uint8_t i = 0; i < tags; ++i) tpid[i] = k.tpid[i + ft.strip], tci[i] = k.tci[i + ft.strip];
  for (int i = 0; i < 2; ++i) k.tpid[i] = i < m.tags ? m.tpid[i] : 0, k.tci[i] = i < m.tags ? m.tci[i] : 0;
  auto it = flows_.find(k);
  if (it != flows_.end() && it->second.action.generation == gen_ && !it->second.dead) return;  // installed already
  const uint64_t now = monotonic_ns();
  if (it != flows_.end()) {  // a dead entry: its last statistics first
    retire(it, now);
  }
  Flow fl;
  // The connections that passed it, as their tables know them now.
  for (uint8_t i = 0; i < m.conns; ++i) {
    dp::Port* p = m.conn_port[i] < dp_->ports().size() ? dp_->ports()[m.conn_port[i]].get() : nullptr;
    dp::Conntrack* ct = p ? p->bridge->conntrack() : nullptr;
    const auto dir = static_cast<dp::Conntrack::Dir>(m.conn_dir[i]);
    const dp::Conntrack::Tuple* t = ct ? ct->tuple_of(m.conn[i], dir, f.meta.ts_ns) : nullptr;
    if (!t) return;
    fl.conns.push_back({ct, m.conn[i], dir, *t});
  }
  kvfp_action a{};
  a.out_ifindex = static_cast<uint32_t>(to_tunnel ? out.backend->kernel_tunnel() : out.backend->kernel_ifindex());
  if (to_tunnel) {
    a.flags |= KVFP_TUNNEL | (ft.v6 ? KVFP_TUN_V6 : 0u) | (ft.csum ? KVFP_TUN_CSUM : 0u);
    a.tun_id = ft.vni;
    a.tun_ttl = ft.ttl;
    a.tun_tos = ft.tos;
    std::memcpy(a.tun_dst, ft.remote.data(), sizeof a.tun_dst);
    std::memcpy(a.tun_src, ft.local.data(), sizeof a.tun_src);
  }
  a.generation = gen_;
  a.last_ns = now;
  for (const auto& c : fl.conns) {  // the shortest timeout among its connections bounds its idleness
    const uint64_t t = c.ct->timeout_of(c.id);
    if (t && (a.idle_ns == 0 || t < a.idle_ns)) a.idle_ns = t;
  }
  // Through a tunnel: what the underlay carries whole (the slow path drops
  // the rest as too_big, answering with ICMP).
  if (to_tunnel) path_mtu = std::min(path_mtu, ft.mtu);
  a.mtu = static_cast<uint16_t>(std::min<uint32_t>(path_mtu, 65535));
  const bool same = tags == m.tags && std::equal(tpid, tpid + tags, m.tpid) && std::equal(tci, tci + tags, m.tci);
  if (!same) {
    a.pop = m.tags;
    a.push = tags;
    for (uint8_t i = 0; i < tags; ++i) {  // innermost first: each push goes outside the one before
      a.push_tpid[i] = tpid[tags - 1 - i];
      a.push_tci[i] = tci[tags - 1 - i];
    }
  }
  // Only while the near end is up: bpf_redirect_peer checks the far end
  // alone, and a bridge port that is down forwards nothing.
  const auto o = hooked_.find(out.id);
  if (o != hooked_.end() && o->second.peer && o->second.up) a.flags |= KVFP_PEER;
  // Into a TAP whose fd kvnetd holds: as the interface receiving it (what a
  // write to the fd does), and only while it is here and up.
  if (o != hooked_.end() && o->second.egress) {
    if (elsewhere(o->second)) return;
    a.flags |= KVFP_INGRESS;
  }
  if (bpf_map_update_elem(flows_fd_, &k, &a, BPF_NOEXIST) < 0) {
    const bool full = errno == E2BIG;
    if (!full) {
      ++install_failures_;
      return;
    }
    evict(now);
    if (bpf_map_update_elem(flows_fd_, &k, &a, BPF_NOEXIST) < 0) {
      ++install_failures_;
      return;
    }
  }
  ++installs_;
  fl.action = a;
  fl.out_port = out.id;
  fl.hops = m.hops;
  std::copy(m.hop_port, m.hop_port + m.hops, fl.hop_port);
  std::copy(m.hop_vlan, m.hop_vlan + m.hops, fl.hop_vlan);
  fl.src_mac = f.key.dl_src.u64();
  fl.len_delta = (int32_t{out_tags} - int32_t{m.tags}) * 4;  // as the out port counts it: before a vni_map's pop
  if (hooked->second.tunnel) fl.tun = tun;
  fl.l2_len = 14 + 4u * m.tags;
  fl.installed_ns = now;
  for (const auto& c : fl.conns) by_conn_[{c.ct, c.id}].push_back(k);
  flows_[k] = std::move(fl);
}

void FastPath::forget_conn(const dp::Conntrack& ct, uint32_t conn) {
  auto it = by_conn_.find({&ct, conn});
  if (it == by_conn_.end()) return;
  const std::vector<kvfp_key> keys = it->second;
  const uint64_t now = monotonic_ns();
  for (const auto& k : keys)
    if (auto f = flows_.find(k); f != flows_.end()) retire(f, now);
}

void FastPath::update_port_modes() {
  if (!dp_) return;
  // Bridges joined by patch pairs form groups; a group with any firewall
  // keys its ports' entries on the 5-tuple.
  std::unordered_map<const dp::Bridge*, int> group;
  std::vector<bool> has_fw;
  for (const auto& b : dp_->bridges()) {
    if (group.count(b.get())) continue;
    const int g = static_cast<int>(has_fw.size());
    has_fw.push_back(false);
    std::vector<const dp::Bridge*> todo{b.get()};
    group[b.get()] = g;
    while (!todo.empty()) {
      const dp::Bridge* x = todo.back();
      todo.pop_back();
      for (const dp::Port* p : x->ports()) {
        if (!p->ingress.empty() || !p->egress.empty()) has_fw[static_cast<size_t>(g)] = true;
        if (p->patch && p->peer && !group.count(p->peer->bridge)) {
          group[p->peer->bridge] = g;
          todo.push_back(p->peer->bridge);
        }
      }
    }
  }
  // Per interface: tunnel ports share their kernel device, keyed on the
  // 5-tuple if any of them may meet a firewall.
  std::unordered_map<int, bool> want;
  for (auto& [id, h] : hooked_) {
    const dp::Port* p = id < dp_->ports().size() ? dp_->ports()[id].get() : nullptr;
    if (p) want[h.ifindex] = want[h.ifindex] || has_fw[static_cast<size_t>(group[p->bridge])];
  }
  for (auto& [id, h] : hooked_) {
    const bool l4 = want[h.ifindex];
    if (l4 == h.l4) continue;
    const uint32_t ifx = static_cast<uint32_t>(h.ifindex);
    kvfp_port v{};  // a kernel vxlan device's entry keeps its upcall TAP (attach_tunnel wrote it)
    if (h.tunnel) bpf_map_lookup_elem(ports_fd_, &ifx, &v);
    v.flags = l4 ? KVFP_PORT_L4 : 0u;
    if (bpf_map_update_elem(ports_fd_, &ifx, &v, BPF_ANY) == 0) h.l4 = l4;
  }
}

Result<int> FastPath::attach_tunnel(int ifindex, int upcall_ifindex) {
  if (upcall_ifindex <= 0) return Error{"its upcall TAP has no ifindex"};
  const uint32_t ifx = static_cast<uint32_t>(ifindex);
  const kvfp_port v{0, static_cast<uint32_t>(upcall_ifindex)};
  if (bpf_map_update_elem(ports_fd_, &ifx, &v, BPF_ANY) < 0)
    return Error{"cannot record it in the fast path's port map: " + errno_text(errno)};
  Hooked h;
  h.ifindex = ifindex;
  h.tunnel = true;
  if (!hook(h)) {
    const int e = errno;
    bpf_map_delete_elem(ports_fd_, &ifx);
    return Error{"cannot attach the fast path's program to its tc ingress: " + errno_text(e)};
  }
  return h.link_fd;  // -1 with cls_bpf (detached by handle)
}

void FastPath::detach_tunnel(int ifindex, int handle) {
  Hooked h;
  h.ifindex = ifindex;
  h.tunnel = true;
  h.link_fd = handle;
  unhook(h);
  const uint32_t ifx = static_cast<uint32_t>(ifindex);
  bpf_map_delete_elem(ports_fd_, &ifx);
}

void FastPath::publish(uint64_t epoch) {
  if (published_ && epoch == epoch_) return;
  update_port_modes();
  const uint32_t zero = KVFP_GEN;
  const uint64_t gen = static_cast<uint32_t>(gen_ + 1);
  if (bpf_map_update_elem(state_fd_, &zero, &gen, BPF_ANY) < 0) {
    logf(LogLevel::kWarn, "fast path: cannot publish a new generation: {}: flushing every entry", errno_text(errno));
    flush();
    return;
  }
  gen_ = static_cast<uint32_t>(gen);
  epoch_ = epoch;
  published_ = true;
}

bool FastPath::account(Flows::iterator it, uint64_t now_ns, bool live) {
  kvfp_action v{};
  if (bpf_map_lookup_elem(flows_fd_, &it->first, &v) < 0) return false;
  Flow& f = it->second;
  const uint64_t packets = v.packets - f.action.packets, bytes = v.bytes - f.action.bytes;
  f.action.packets = v.packets;
  f.action.bytes = v.bytes;
  f.action.last_ns = v.last_ns;
  f.action.tcp_flags = v.tcp_flags;
  if (packets == 0 || !dp_) {
    for (const auto& c : f.conns)  // a connection that ended (timed out, replaced) takes the entry
      if (const auto* t = c.ct->tuple_of(c.id, c.dir, now_ns); !t || !(*t == c.tuple)) f.dead = true;
    return true;
  }
  // The firewalls' connections it carried live on as if their packets had
  // passed the slow path (IP bytes: the frames' less their L2 headers).
  const uint64_t ip_bytes = bytes > packets * f.l2_len ? bytes - packets * f.l2_len : 0;
  for (const auto& c : f.conns)
    if (!c.ct->refresh(c.id, c.dir, c.tuple, v.last_ns ? std::min(v.last_ns, now_ns) : now_ns, packets, ip_bytes, now_ns))
      f.dead = true;  // the connection ended: the entry goes
  const auto& ports = dp_->ports();
  auto port = [&](uint32_t id) -> dp::Port* { return id < ports.size() ? ports[id].get() : nullptr; };
  for (uint8_t h = 0; h < f.hops; ++h) {
    dp::Port* p = port(f.hop_port[h]);
    if (!p) continue;
    p->counters.rx_packets += packets;
    p->counters.rx_bytes += bytes;
    if (h > 0 && p->peer) {  // the patch port it left the bridge before by
      p->peer->counters.tx_packets += packets;
      p->peer->counters.tx_bytes += bytes;
    }
    // Only a live entry's use refreshes the station: a dead one may name
    // the port the station has just left.
    if (live && v.last_ns && p->bridge->fdb()) p->bridge->fdb()->touch(f.hop_vlan[h], f.src_mac, p->id, std::min(v.last_ns, now_ns));
    if (h == 0 && live && v.last_ns && f.tun.family && p->backend)  // and the remote its tunnel learned it at
      p->backend->fast_touch(f.tun, f.src_mac, std::min(v.last_ns, now_ns));
  }
  if (dp::Port* o = port(f.out_port)) {
    o->counters.tx_packets += packets;
    o->counters.tx_bytes += bytes + static_cast<uint64_t>(static_cast<int64_t>(f.len_delta) * static_cast<int64_t>(packets));
  }
  return true;
}

FastPath::Flows::iterator FastPath::retire(Flows::iterator it, uint64_t now_ns) {
  account(it, now_ns, false);
  auto next = std::next(it);
  remove(it);
  return next;
}

void FastPath::remove(Flows::iterator it) {
  bpf_map_delete_elem(flows_fd_, &it->first);
  for (const auto& c : it->second.conns)
    if (auto r = by_conn_.find({c.ct, c.id}); r != by_conn_.end()) {
      std::erase_if(r->second, [&](const kvfp_key& k) { return KeyEq()(k, it->first); });
      if (r->second.empty()) by_conn_.erase(r);
    }
  flows_.erase(it);
}

void FastPath::evict(uint64_t now_ns) {
  std::vector<std::pair<uint64_t, kvfp_key>> by_use;
  by_use.reserve(flows_.size());
  for (auto it = flows_.begin(); it != flows_.end(); ++it) {
    account(it, now_ns, it->second.action.generation == gen_);
    by_use.emplace_back(std::max(it->second.action.last_ns, it->second.installed_ns), it->first);
  }
  const size_t n = std::max<size_t>(1, by_use.size() / 4);
  std::nth_element(by_use.begin(), by_use.begin() + static_cast<long>(n - 1), by_use.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 0; i < n && i < by_use.size(); ++i)
    if (auto it = flows_.find(by_use[i].second); it != flows_.end()) {
      remove(it);
      ++evictions_;
    }
}

void FastPath::revalidate(uint64_t now_ns) {
  if (now_ns - last_reval_ns_ < 500'000'000ULL) return;
  last_reval_ns_ = now_ns;
  // A port taken down or up outside kvnet (ip link set ... down): cached
  // decisions about it are outdated (the epoch moves; published after this).
  // A TAP moved to another namespace is gone from here: as down (its index
  // may name another interface now).
  for (auto& [id, h] : hooked_) {
    const std::string now = if_name(h.ifindex);
    if (const bool up = now == h.name && if_is_up(now); up != h.up) {
      h.up = up;
      if (dp_) dp_->changed();
    }
  }
  for (auto it = flows_.begin(); it != flows_.end();) {
    const bool live = it->second.action.generation == gen_;
    const bool present = account(it, now_ns, live);
    const uint64_t used = std::max(it->second.action.last_ns, it->second.installed_ns);
    const bool idle = now_ns > used && now_ns - used > kIdleNs;
    if (live && present && !idle && !it->second.dead) {
      ++it;
      continue;
    }
    if (!live || it->second.dead) ++stale_removals_;
    else if (idle) ++idle_removals_;
    auto next = std::next(it);
    remove(it);
    it = next;
  }
  // Stations heard only through the fast path were refreshed above; the
  // others age now, not only when the slow path next runs their bridge
  // (an aged station's entries must die: the epoch moves).
  if (dp_)
    for (const auto& b : dp_->bridges())
      if (b->fdb()) b->fdb()->age(now_ns);
}

void FastPath::sync() {
  const uint64_t now = monotonic_ns();
  for (auto it = flows_.begin(); it != flows_.end(); ++it) account(it, now, it->second.action.generation == gen_);
}

size_t FastPath::flush() {
  const uint64_t now = monotonic_ns();
  const size_t n = flows_.size();
  for (auto it = flows_.begin(); it != flows_.end();) it = retire(it, now);
  return n;
}

uint64_t FastPath::kernel_stat(uint32_t slot) const {
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return 0;
  std::vector<uint64_t> v(static_cast<size_t>(cpus));
  if (bpf_map_lookup_elem(stats_fd_, &slot, v.data()) < 0) return 0;
  uint64_t t = 0;
  for (uint64_t x : v) t += x;
  return t;
}

FastPath::Info FastPath::info() const {
  Info i;
  i.entries = flows_.size();
  i.hits = kernel_stat(KVFP_HIT);
  i.misses = kernel_stat(KVFP_MISS);
  i.stale = kernel_stat(KVFP_STALE);
  i.punts = kernel_stat(KVFP_PUNT);
  i.too_big = kernel_stat(KVFP_TOO_BIG);
  i.errors = kernel_stat(KVFP_ERROR);
  i.installs = installs_;
  i.install_failures = install_failures_;
  i.evictions = evictions_;
  i.idle_removals = idle_removals_;
  i.stale_removals = stale_removals_;
  i.generation = gen_;
  i.ports = static_cast<uint32_t>(hooked_.size());
  i.hook = tcx_ ? "tcx" : "tc (cls_bpf)";
  return i;
}

FastPath::Entry FastPath::entry_of(const kvfp_key& k, const Flow& f, uint64_t now) const {
  const auto& ports = dp_->ports();
  auto path = [&](uint32_t id) { return id < ports.size() && ports[id] ? ports[id]->path() : std::string("?"); };
  Entry e;
  e.key = k;
  e.action = f.action;
  if (kvfp_action v{}; bpf_map_lookup_elem(flows_fd_, &k, &v) == 0) {
    e.action.packets = v.packets;
    e.action.bytes = v.bytes;
    e.action.last_ns = v.last_ns;
    e.action.tcp_flags = v.tcp_flags;
  }
  e.live = f.action.generation == gen_;
  e.tun_family = f.tun.family;
  const uint64_t used = std::max(e.action.last_ns, f.installed_ns);
  e.idle_ns = now > used ? now - used : 0;
  e.in_port = f.hops ? path(f.hop_port[0]) : "?";
  e.out_port = path(f.out_port);
  for (uint8_t h = 0; h < f.hops; ++h)
    if (f.hop_port[h] < ports.size() && ports[f.hop_port[h]]) e.bridges.push_back(ports[f.hop_port[h]]->bridge->name());
  return e;
}

std::vector<FastPath::Entry> FastPath::dump() const {
  std::vector<Entry> out;
  if (!dp_) return out;
  const uint64_t now = monotonic_ns();
  for (const auto& [k, f] : flows_) out.push_back(entry_of(k, f, now));
  return out;
}

std::optional<FastPath::Entry> FastPath::lookup(const dp::Port& in, const uint8_t* frame, size_t len) const {
  const auto h = hooked_.find(in.id);
  if (!dp_ || !in.fast || h == hooked_.end()) return std::nullopt;
  kvfp_key k;
  if (!fastpath_key(frame, len, static_cast<uint32_t>(h->second.ifindex), h->second.l4, k, nullptr)) return std::nullopt;
  auto it = flows_.find(k);
  if (it == flows_.end()) return std::nullopt;
  return entry_of(it->first, it->second, monotonic_ns());
}

}  // namespace kvnet::io
