// kvnetctl capture: a live capture of one port, as a pcap stream (-w) or as
// one line per frame. kvnetd's `capture` stream (daemon/capture_stream.h)
// carries the frames; this file turns them into pcap records or lines, and
// ends the capture cleanly on Ctrl-C or when its own reader goes away.
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>

#include "app/kvnetctl.h"
#include "daemon/api_client.h"
#include "daemon/capture_wire.h"
#include "net/flow_key.h"
#include "net/headers.h"

namespace kvnet::cli {
namespace {

namespace wire = kvnet::daemon::capture_wire;

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

bool write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// A pcap file header: host byte order, nanosecond timestamps, Ethernet.
std::string pcap_header(uint32_t snaplen) {
  struct {
    uint32_t magic = 0xa1b23c4d;
    uint16_t major = 2, minor = 4;
    int32_t zone = 0;
    uint32_t sigfigs = 0;
    uint32_t snaplen;
    uint32_t linktype = 1;
  } h;
  h.snaplen = snaplen;
  return std::string(reinterpret_cast<const char*>(&h), sizeof h);
}

void pcap_record(std::string& out, const wire::Message& m) {
  const uint32_t r[4] = {static_cast<uint32_t>(m.ts_ns / 1000000000ULL), static_cast<uint32_t>(m.ts_ns % 1000000000ULL),
                         static_cast<uint32_t>(m.data.size()), m.orig_len};
  out.append(reinterpret_cast<const char*>(r), sizeof r);
  out.append(m.data);
}

std::string clock_text(uint64_t ts_ns) {
  const time_t sec = static_cast<time_t>(ts_ns / 1000000000ULL);
  tm t{};
  localtime_r(&sec, &t);
  return fmt::format("{:02}:{:02}:{:02}.{:06}", t.tm_hour, t.tm_min, t.tm_sec, (ts_ns % 1000000000ULL) / 1000);
}

std::string ethertype_name(uint16_t t) {
  switch (t) {
    case 0x0800: return "IPv4";
    case 0x86dd: return "IPv6";
    case 0x0806: return "ARP";
    case 0x88cc: return "LLDP";
    default: return fmt::format("ethertype 0x{:04x}", t);
  }
}

const char* ip_proto_name(uint8_t p) {
  switch (p) {
    case 1: return "ICMP";
    case 6: return "TCP";
    case 17: return "UDP";
    case 58: return "ICMP6";
    default: return nullptr;
  }
}

// The L3/L4 part of a summary line ("10.0.0.1 > 10.0.0.2: ICMP echo request").
std::string l3_summary(const net::FlowKey& k, const uint8_t* p, size_t len) {
  if (k.dl_type == 0x0806 && !(k.flags & net::kFlowL3Truncated)) {
    if (k.nw_proto == 1) return fmt::format("Request who-has {} tell {}", net::ipv4_str(k.nw_dst), net::ipv4_str(k.nw_src));
    if (k.nw_proto == 2) return fmt::format("Reply {} is-at {}", net::ipv4_str(k.nw_src), k.arp_sha.str());
    return fmt::format("opcode {}", k.nw_proto);
  }
  std::string src, dst;
  if (k.dl_type == 0x0800 && !(k.flags & net::kFlowL3Truncated)) {
    src = net::ipv4_str(k.nw_src);
    dst = net::ipv4_str(k.nw_dst);
  } else if (k.dl_type == 0x86dd && !(k.flags & net::kFlowL3Truncated)) {
    src = net::ipv6_str(k.ipv6_src);
    dst = net::ipv6_str(k.ipv6_dst);
  } else {
    return "";
  }
  const char* proto = ip_proto_name(k.nw_proto);
  const bool l4 = k.l4_ofs && !(k.flags & (net::kFlowL4Truncated | net::kFlowFragment));
  if ((k.nw_proto == 6 || k.nw_proto == 17) && l4) {
    std::string s = fmt::format("{}.{} > {}.{}: {}", src, k.tp_src, dst, k.tp_dst, proto);
    if (k.nw_proto == 6 && k.l4_ofs + 14u <= len) {
      const uint8_t f = p[k.l4_ofs + 13];
      std::string flags;
      const char* names = "FSRPAUEC";
      for (int i = 0; i < 8; ++i)
        if (f & (1 << i)) flags += names[i];
      s += fmt::format(" [{}]", flags.empty() ? "none" : flags);
    }
    return s;
  }
  if ((k.nw_proto == 1 || k.nw_proto == 58) && l4) {
    const bool v4 = k.nw_proto == 1;
    std::string what = fmt::format("type {} code {}", k.tp_src, k.tp_dst);
    if (v4 && k.tp_src == 8) what = "echo request";
    if (v4 && k.tp_src == 0) what = "echo reply";
    if (!v4 && k.tp_src == 128) what = "echo request";
    if (!v4 && k.tp_src == 129) what = "echo reply";
    if (!v4 && k.tp_src == 135) what = "neighbor solicitation";
    if (!v4 && k.tp_src == 136) what = "neighbor advertisement";
    return fmt::format("{} > {}: {} {}", src, dst, proto, what);
  }
  return fmt::format("{} > {}: {}", src, dst, proto ? std::string(proto) : fmt::format("proto {}", k.nw_proto));
}

struct Summary {
  std::string src, dst, ethertype, l3;
  int vid = -1;  // the outer tag's VID; -1: untagged
  bool qinq = false;
};

Summary summarize(const wire::Message& m) {
  Summary s;
  const auto* p = reinterpret_cast<const uint8_t*>(m.data.data());
  net::FlowKey k;
  if (net::parse_flow(p, m.data.size(), k) != net::ParseStatus::kOk) {
    s.l3 = "runt";
    return s;
  }
  s.src = k.dl_src.str();
  s.dst = k.dl_dst.str();
  if (m.data.size() >= net::kEthHeaderLen + net::kVlanTagLen) {
    const uint16_t tpid = net::load_be16(p + 12);
    if (tpid == net::kEthTypeVlan || tpid == net::kEthTypeQinQ) {
      s.vid = net::load_be16(p + 14) & 0x0fff;
      s.qinq = tpid == net::kEthTypeQinQ;
    }
  }
  s.ethertype = ethertype_name(k.dl_type);
  s.l3 = l3_summary(k, p, m.data.size());
  return s;
}

std::string human_line(const std::string& port, const wire::Message& m) {
  const Summary s = summarize(m);
  std::string line = fmt::format("{} {} {:<3} {} > {}", clock_text(m.ts_ns), port, m.dir ? "out" : "in", s.src, s.dst);
  if (s.vid >= 0) line += fmt::format(", vlan {}{}", s.vid, s.qinq ? " (802.1ad)" : "");
  line += ", " + s.ethertype;
  if (!s.l3.empty()) line += ", " + s.l3;
  return line + fmt::format(", length {}\n", m.orig_len);
}

json json_line(const std::string& port, const wire::Message& m) {
  const Summary s = summarize(m);
  return json{{"type", "packet"},
              {"time", fmt::format("{}.{:09}", m.ts_ns / 1000000000ULL, m.ts_ns % 1000000000ULL)},
              {"ts_ns", m.ts_ns},
              {"port", port},
              {"direction", m.dir ? "out" : "in"},
              {"src", s.src},
              {"dst", s.dst},
              {"vlan", s.vid >= 0 ? json(s.vid) : json(nullptr)},
              {"ethertype", s.ethertype},
              {"summary", s.l3},
              {"length", m.orig_len},
              {"caplen", m.data.size()}};
}

// Where frames go: a pcap stream (-w) or lines on stdout.
struct Output {
  int fd = -1;          // -w: the file or stdout
  bool pcap = false;
  bool json = false;
  bool gone = false;    // the reader went away (EPIPE): write no more
  bool watch = false;   // fd is a pipe or socket: poll it for the reader's hang-up
};

Output open_output(const Args& a) {
  Output o;
  o.json = a.format == "json";
  if (a.write.empty()) {
    o.fd = STDOUT_FILENO;
  } else {
    o.pcap = true;
    o.fd = a.write == "-" ? STDOUT_FILENO : open(a.write.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (o.fd < 0) throw Failure{a.write + ": cannot open: " + std::strerror(errno), 1};
  }
  struct stat st{};
  o.watch = fstat(o.fd, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
  return o;
}

json capture_request(const Args& a) {
  json req{{"cmd", "capture"}, {"port", a.port}, {"direction", a.direction}};
  if (a.vlan) req["vlan"] = a.vlan;
  if (!a.filter.empty()) req["filter"] = a.filter;
  if (a.packets) req["count"] = a.packets;
  if (a.snaplen) req["snaplen"] = a.snaplen;
  return req;
}

void run_capture(const Args& a) {
  Output out = open_output(a);
  const double wait_s = a.api_timeout > 0 ? a.api_timeout : 60;  // for the answer only: captures run until ended
  auto opened = kvnet::daemon::api_open_stream(a.socket, capture_request(a), static_cast<int>(wait_s * 1000));
  if (!opened && opened.error().message.find("timed out") != std::string::npos)
    throw Failure{fmt::format("kvnetd did not answer within {:g} s (--timeout)", wait_s), 1};
  if (!opened) throw Failure{opened.error().message, 1};
  if (!opened->answer.value("ok", false)) throw Failure{opened->answer.value("error", std::string("unknown error")), 1};
  const json info = opened->answer["result"];
  const int sock = opened->fd;
  const std::string port = info.value("port", a.port);

  struct sigaction sa{};
  sa.sa_handler = on_signal;  // no SA_RESTART: poll returns and the capture ends
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  if (out.pcap && !write_all(out.fd, pcap_header(info.value("snaplen", 262144u)))) out.gone = true;
  if (!out.pcap || out.fd != STDOUT_FILENO)
    std::cerr << fmt::format("capturing on {} (bridge {}, {}), direction {}{}{}\n", port, info.value("bridge", ""),
                             info.value("type", ""), info.value("direction", "both"),
                             a.filter.empty() ? "" : ", filter '" + a.filter + "'",
                             a.vlan ? fmt::format(", vlan {}", a.vlan) : "");

  wire::Decoder dec;
  dec.feed(opened->rest.data(), opened->rest.size());
  json end, stats = json{{"captured", 0}, {"dropped", 0}};
  bool ending = false, eof = false;
  auto ending_deadline = std::chrono::steady_clock::now();
  uint64_t received = 0;
  auto finish = [&] {  // ask kvnetd to end: it drains, sends its counters and closes
    if (ending) return;
    ending = true;
    shutdown(sock, SHUT_WR);
    ending_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  };
  std::string buf;
  char chunk[1 << 16];
  while (end.is_null() && !eof) {
    if (g_stop) finish();
    if (ending && std::chrono::steady_clock::now() > ending_deadline) break;
    pollfd pf[2] = {{sock, POLLIN, 0}, {out.fd, 0, 0}};
    const int n = poll(pf, out.watch && !out.gone ? 2 : 1, 200);
    if (n < 0 && errno == EINTR) continue;
    if (n > 0 && (pf[1].revents & (POLLERR | POLLHUP))) {  // our reader closed the pipe
      out.gone = true;
      finish();
    }
    if (n <= 0 || !(pf[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    const ssize_t got = read(sock, chunk, sizeof chunk);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      eof = true;
      continue;
    }
    dec.feed(chunk, static_cast<size_t>(got));
    buf.clear();
    for (;;) {
      auto m = dec.next();
      if (!m) throw Failure{m.error().message, 1};
      if (!*m) break;
      const wire::Message& msg = **m;
      if (msg.type == wire::kPacket) {
        ++received;
        if (out.gone) continue;
        if (out.pcap) pcap_record(buf, msg);
        else if (out.json) buf += json_line(port, msg).dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
        else buf += human_line(port, msg);
      } else if (msg.type == wire::kStats) {
        stats = msg.info;
      } else if (msg.type == wire::kEnd) {
        end = msg.info;
        break;
      }
    }
    // One write per batch read: a pcap reader sees each batch as it comes.
    if (!buf.empty() && !out.gone && !write_all(out.fd, buf)) {
      out.gone = true;
      finish();
    }
  }
  close(sock);
  if (out.fd != STDOUT_FILENO) close(out.fd);

  const json& last = end.is_null() ? stats : end;
  const uint64_t captured = std::max<uint64_t>(last.value("captured", uint64_t{0}), received);
  const uint64_t dropped = last.value("dropped", uint64_t{0});
  json summary{{"type", "end"}, {"port", port}, {"captured", captured}, {"received", received}, {"dropped", dropped},
               {"reason", end.is_null() ? "kvnetd closed the capture without its counters" : end.value("reason", "")},
               {"port_removed", end.value("port_removed", false)}};
  if (a.format == "json" && !out.pcap) {
    if (!out.gone) std::cout << summary.dump() << std::endl;
  } else if (a.format == "json") {
    std::cerr << summary.dump() << std::endl;
  } else {
    const bool by_count = a.packets && captured >= a.packets;
    if (!ending && !by_count) std::cerr << "capture ended: " << str(summary, "reason") << "\n";
    std::cerr << fmt::format("{} packets captured, {} dropped\n", captured, dropped);
  }
  if (end.is_null() && !ending) throw Failure{"", 1};  // kvnetd went away
}

const Verb kCaptureVerbs[] = {
    {"", "capture",
     "live capture of what a port receives and sends: capture PORT [--direction in|out|both] [--vlan N] "
     "[--filter EXPR] [--count N] [-w FILE|-]",
     [](CLI::App& c, Args& a) {
       c.add_option("port", a.port, "the port (any kind: tap, system, internal, patch, tunnel, VM NIC)")->required();
       c.add_option("--direction", a.direction, "what the port receives (in), sends (out) or both")
           ->check(CLI::IsMember({"in", "out", "both"}))
           ->capture_default_str();
       c.add_option("--vlan", a.vlan, "only frames of this VLAN (the tag's, or the port's VLAN for untagged frames)")
           ->check(CLI::Range(1, 4094));
       c.add_option("--filter", a.filter, "a tcpdump filter expression ('icmp', 'tcp port 80', ...)");
       c.add_option("--count,-c", a.packets, "end after this many frames")->check(CLI::Range(uint64_t{1}, uint64_t{1} << 53));
       c.add_option("-w,--write", a.write, "write a pcap stream to FILE, or to stdout with -: capture ... -w - | tcpdump -r -");
       c.add_option("--snaplen,-s", a.snaplen, "bytes kept of each frame (default 262144)")
           ->check(CLI::Range(64u, 262144u));
     },
     nullptr, nullptr, nullptr, run_capture},
};

}  // namespace

std::span<const Verb> capture_verbs() { return kCaptureVerbs; }

}  // namespace kvnet::cli
