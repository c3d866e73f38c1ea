// kvnetd: the live switch daemon. Locks its database, socket and pidfile,
// binds its API socket, restores its configuration from SQLite, runs the
// datapath thread over real ports, and serves kvnetctl's API from its control
// loop until SIGTERM/SIGINT (SIGHUP reopens the log file). With --metrics it
// also serves Prometheus metrics; under systemd it reports readiness
// (sd_notify) and logs to the journal.
#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <optional>
#include <set>

#include "app/cli_errors.h"
#include "base/log.h"
#include "ctl/store.h"
#include "daemon/api.h"
#include "daemon/cluster_host.h"
#include "daemon/ct_dhcp.h"
#include "daemon/vm_host.h"
#include "daemon/event_loop.h"
#include "daemon/gateway_host.h"
#include "daemon/host_mounts.h"
#include "daemon/http_dashboard.h"
#include "daemon/image_store.h"
#include "daemon/instance_lock.h"
#include "daemon/listen_address.h"
#include "daemon/loop_call.h"
#include "daemon/metrics.h"
#include "daemon/metrics_server.h"
#include "daemon/ovs_binding.h"
#include "daemon/ovsdb_listener.h"
#include "daemon/request_log.h"
#include "daemon/sd_notify.h"
#include "daemon/service.h"
#include "dp/datapath.h"
#include "io/fastpath.h"
#include "io/runtime.h"

namespace {

using namespace kvnet;

constexpr const char* kVersion = "0.1.0";
// How long a scrape waits for the control loop (busy with a long change).
constexpr std::chrono::milliseconds kScrapeTimeout{5000};

void log(const std::string& msg) { log_info(msg); }

struct Options {
  std::string db = "/var/lib/kvnet/kvnet.db", sock = "/run/kvnet/kvnetd.sock", pidfile, pcap_dir, vm_dir, gw_dir;
  std::string image_dir, disk_dir;
  std::string guest_dir = "/var/cache/kvnet/guest";
  std::string http, http_token_file;  // the dashboard: off unless --http
  bool foreground = false;
  size_t pool_frames = 4096;
  std::string metrics;  // ADDR:PORT, "" off
  std::optional<daemon::ListenAddress> metrics_addr;
  std::string log_level = "info", log_file;
  bool syslog = false;
  bool no_fast_path = false;
  daemon::ClusterFlags cluster;  // --cluster ...: "" urls: standalone
  std::optional<daemon::ClusterOptions> cluster_opts;
  std::vector<std::string> ovsdb;  // --ovsdb as given; ovsdb_paths: the sockets
  std::vector<std::string> ovsdb_paths;
};

constexpr const char* kOvsdbDefault = "/var/run/openvswitch/db.sock";  // where OVS's tools look

// One --ovsdb value: unix:PATH (or punix:PATH, ovsdb-server's spelling), or
// "default".
kvnet::Result<std::string> ovsdb_path(const std::string& v) {
  if (v == "default") return std::string(kOvsdbDefault);
  for (const char* prefix : {"unix:", "punix:"})
    if (v.starts_with(prefix) && v.size() > std::string_view(prefix).size())
      return std::filesystem::absolute(v.substr(std::string_view(prefix).size())).string();
  return kvnet::Error{"--ovsdb '" + v + "': give unix:PATH or default (" + kOvsdbDefault +
                      "); OVSDB is served on Unix sockets only"};
}

// Forks into the background; the parent exits once the child reports ready
// (status byte 0) or failed (1) through the pipe. Returns the pipe's write
// end (in the child).
Result<int> daemonize() {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) return Error{std::string("cannot create a pipe: ") + std::strerror(errno)};
  const pid_t pid = fork();
  if (pid < 0) return Error{std::string("cannot fork: ") + std::strerror(errno)};
  if (pid > 0) {
    close(p[1]);
    char status = 1;
    const bool got = read(p[0], &status, 1) == 1;
    _exit(got && status == 0 ? 0 : 1);
  }
  close(p[0]);
  setsid();
  if (chdir("/") < 0) return Error{std::string("cannot change to /: ") + std::strerror(errno)};
  const int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    dup2(null, STDIN_FILENO);
    dup2(null, STDOUT_FILENO);  // logs stay on stderr
    close(null);
  }
  return p[1];
}

// The locks that make this the only kvnetd on its database, socket and
// pidfile; taken before anything is touched.
struct Locks {
  daemon::InstanceLock db, sock, pidfile;
};

Result<Locks> take_locks(const Options& o) {
  daemon::LockOptions lo{.log = log};
  Locks l;
  auto db = daemon::InstanceLock::acquire(o.db + ".lock", "database '" + o.db + "'", lo);
  if (!db) return db.error();
  l.db = std::move(*db);
  // The socket's directory lets the socket's group in (umask 077 would make it 0700).
  const auto sock_dir = std::filesystem::path(o.sock).parent_path();
  if (std::error_code ec; std::filesystem::create_directories(sock_dir, ec)) chmod(sock_dir.c_str(), 0750);
  auto sock = daemon::InstanceLock::acquire(o.sock + ".lock", "socket '" + o.sock + "'", lo);
  if (!sock) return sock.error();
  l.sock = std::move(*sock);
  if (!o.pidfile.empty()) {
    auto pid = daemon::InstanceLock::acquire(o.pidfile, "pidfile '" + o.pidfile + "'", lo);
    if (!pid) return pid.error();
    l.pidfile = std::move(*pid);
  }
  return l;
}

// Logs what the periodic retry of vanished interfaces changed.
void retry_vanished(daemon::Service& svc) {
  const auto before = svc.vanished();
  const int back = svc.retry_vanished();
  for (const auto& [port, why] : svc.vanished())
    if (!before.count(port)) log_warn("port '" + port + "' lost its interface: " + why);
  if (back > 0) log(fmt::format("re-attached {} port(s) whose interface came back", back));
}

void log_restored(const daemon::Service& svc, const std::string& db) {
  for (const auto& [port, why] : svc.vanished()) log_warn("port '" + port + "' is configured but not attached: " + why);
  size_t nports = 0;
  for (const auto& b : svc.config().bridges) nports += b.ports.size();
  log(fmt::format("restored {} bridge(s), {} port(s), {} container(s), {} vm(s), {} gateway(s) from {}",
                  svc.config().bridges.size(), nports, svc.config().containers.size(), svc.config().vms.size(),
                  svc.config().gateways.size(), db));
}

// Everything after the command line: returns the exit status. `report`
// tells a waiting parent (background mode) whether we are up.
int run(const Options& o, const std::function<void(char)>& report) {
  Locks* held = nullptr;
  auto fail = [&](const std::string& msg) {
    log_error(msg);
    // A log file or syslog is not where whoever started us looks first.
    if (logger().target() == LogTarget::kFile || logger().target() == LogTarget::kSyslog)
      std::fprintf(stderr, "kvnetd: %s\n", msg.c_str());
    if (held) held->pidfile.remove_and_release();  // ours: not left behind
    report(1);
    return 1;
  };
  auto locks = take_locks(o);
  if (!locks) return fail(locks.error().message);
  held = &*locks;
  auto loop = daemon::EventLoop::create();
  if (!loop) return fail(loop.error().message);
  (*loop)->set_error_sink([](const std::string& m) { log_error(m); });
  // Before any thread starts: the datapath and HTTP threads inherit the blocked mask.
  auto on_signal = [&](int signo) {
    if (signo != SIGHUP) return (*loop)->stop();
    // logrotate moved the file: continue in a new one at the same path.
    if (auto s = logger().reopen(); !s) log_error(s.error().message);
    else if (logger().target() == LogTarget::kFile) log("SIGHUP: reopened the log file " + logger().file());
  };
  if (auto s = (*loop)->on_signals({SIGTERM, SIGINT, SIGHUP}, on_signal); !s) return fail(s.error().message);

  daemon::Service* svc_ptr = nullptr;  // requests wait in the backlog until the loop runs
  daemon::ApiServer server(**loop, o.sock, [&](const nlohmann::json& req, const daemon::ApiPeer& peer) {
    return daemon::handle_and_log(*svc_ptr, req, peer);
  });
  server.add_stream("capture", [&](const nlohmann::json& req) -> kvnet::Result<daemon::ApiStreamStart> {
    return svc_ptr->capture(req);
  });
  if (auto s = server.listen(); !s) return fail(s.error().message);
  // Bound now, before anything is restored (a busy port changes nothing);
  // served once the Service is up. Scrapes ask the control loop, which runs
  // only when the Service exists.
  std::unique_ptr<daemon::MetricsServer> metrics;
  if (o.metrics_addr) {
    daemon::EventLoop& lp = **loop;
    metrics = std::make_unique<daemon::MetricsServer>(*o.metrics_addr, [&lp, &svc_ptr]() -> Result<std::string> {
      auto snap = daemon::loop_call(
          lp,
          [&svc_ptr] {
            if (!svc_ptr) throw std::runtime_error("kvnetd is starting");
            return svc_ptr->metrics_snapshot();
          },
          kScrapeTimeout);
      if (!snap) return snap.error();
      snap->version = kVersion;
      snap->process = daemon::read_process_stats();
      return daemon::render_metrics(*snap);
    });
    if (auto s = metrics->bind(); !s) return fail(s.error().message);
  }
  std::unique_ptr<daemon::DashboardServer> dashboard;
  if (!o.http.empty()) {
    auto d = daemon::DashboardServer::create(
        **loop, [&](const nlohmann::json& req) { return daemon::handle_and_log(*svc_ptr, req, daemon::ApiPeer{.via = "the dashboard"}); },
        {.address = o.http, .token_file = o.http_token_file, .log = log});
    if (!d) return fail(d.error().message);
    dashboard = std::move(*d);
  }

  auto store = ctl::Store::open(o.db);
  if (!store) return fail(store.error().message);
  dp::Datapath datapath(o.pool_frames, net::kHeadroom + net::kMaxGsoFrameLen);
  // The kernel fast path (io/fastpath.h), before any port exists; outlives
  // the runtime (declared first, destroyed after its thread stopped).
  std::unique_ptr<io::FastPath> fast;
  std::string fast_off = "kvnetd was started with --no-fast-path";
  // KVNET_FAST_PATH=off does what --no-fast-path does (the test suite's
  // second run of the integration tests; kvnetd started by any means).
  if (const char* e = std::getenv("KVNET_FAST_PATH"); e && std::string_view(e) == "off") {
    fast_off = "KVNET_FAST_PATH=off in kvnetd's environment";
    log("fast path: off: " + fast_off + "; every frame takes the slow path (user space)");
  } else if (o.no_fast_path) {
    log("fast path: off: " + fast_off);
  } else {
    if (auto f = io::FastPath::open(); !f) {
      fast_off = f.error().message;
      log_warn("fast path: off: " + fast_off + "; every frame takes the slow path (user space)");
    } else {
      fast = std::move(*f);
      fast->bind(datapath);
      datapath.set_fast_path(fast.get());
      io::set_kernel_tunnel_hooks(fast.get());  // VXLAN endpoints become kernel vxlan devices (io/kernel_vxlan.h)
      log("fast path: eBPF programs loaded (tc ingress and socket filters on kernel ports)");
    }
  }
  auto runtime = io::Runtime::create(datapath);
  if (!runtime) return fail(runtime.error().message);
  daemon::Service svc(std::move(*store), **runtime, daemon::kernel_backends(o.pcap_dir));
  svc.set_fast_path(fast.get(), fast_off);
  daemon::VmHost vms(**loop, {o.vm_dir, o.guest_dir, o.disk_dir});
  svc.set_vm_host(&vms);
  daemon::ImageStore images(**loop, o.image_dir);
  if (auto s = images.load(); s) {
    svc.set_image_store(&images);
    vms.set_images([&images](const std::string& name) { return images.base(name); });
  } else {
    log_warn(s.error().message + ": no image store (kvnetctl image says so)");
  }
  {
    std::error_code ec;
    std::filesystem::create_directories(o.disk_dir, ec);
    if (ec) log_warn("disk directory '" + o.disk_dir + "': " + ec.message() + ": VMs of images cannot be added");
    else ::chmod(o.disk_dir.c_str(), 0700);
  }
  daemon::GatewayHostOptions gwo{.root = o.gw_dir};
  if (const char* d = std::getenv("KVNET_DNSMASQ"); d && *d) gwo.dnsmasq = d;
  daemon::KernelGatewayHost gateways(**loop, gwo);
  svc.set_gateway_host(&gateways);
  // Containers with ip=dhcp: their udhcpc's script, pidfile, lease and log.
  const char* busybox = std::getenv("KVNET_BUSYBOX");
  daemon::CtDhcpClients ct_dhcp(**loop, (std::filesystem::path(o.db).parent_path() / "containers").string(),
                                busybox && *busybox ? busybox : "busybox");
  svc.set_ct_dhcp(&ct_dhcp);
  // In a cluster: publishes this host, keeps its lease, watches the store.
  std::unique_ptr<daemon::ClusterHost> cluster;
  if (o.cluster_opts) {
    cluster = std::make_unique<daemon::ClusterHost>(**loop, *o.cluster_opts);
    svc.set_cluster(cluster.get());
  }
  if (auto s = svc.restore(); !s) return fail(s.error().message);
  log_restored(svc, o.db);
  // OVSDB for Open vSwitch's tools (daemon/ovs_binding.h), after restore:
  // its rows start from the restored configuration.
  std::unique_ptr<daemon::OvsdbListener> ovsdb;
  if (!o.ovsdb_paths.empty()) {
    ovsdb = std::make_unique<daemon::OvsdbListener>(**loop, svc.ovs_binding().server());
    for (const auto& path : o.ovsdb_paths) {
      std::error_code ec;
      std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
      if (auto s = ovsdb->listen(path); !s) {
        svc.shutdown();
        return fail(s.error().message);
      }
      log("OVSDB (Open_vSwitch) on unix:" + path);
    }
  }
  // The database's live columns (statistics, link state), once it exists
  // (--ovsdb, or kvnetctl's first ovs-vsctl form).
  (*loop)->add_periodic(std::chrono::milliseconds(5000), [&svc] {
    if (svc.has_ovs_binding()) svc.ovs_binding().refresh();
  });
  svc_ptr = &svc;
  if (auto s = (*runtime)->start(); !s) {
    svc.shutdown();
    return fail(s.error().message);
  }
  (*loop)->add_periodic(std::chrono::milliseconds(2000), [&] { retry_vanished(svc); });
  // OpenFlow flows' idle_timeout and hard_timeout (seconds, as OVS's).
  (*loop)->add_periodic(std::chrono::milliseconds(1000), [&svc] { svc.expire_flows(); });
  if (cluster) {
    auto local = [&] {
      std::vector<std::string> vm_names, ct_names;
      std::set<std::string> groups;
      int64_t ports = 0;
      for (const auto& v : svc.config().vms) vm_names.push_back(v.name);
      for (const auto& c : svc.config().containers) ct_names.push_back(c.name);
      for (const auto& b : svc.config().bridges) {
        ports += static_cast<int64_t>(b.ports.size());
        for (const auto& p : b.ports) groups.insert(p.security.groups.begin(), p.security.groups.end());
      }
      cluster->set_local(std::move(vm_names), std::move(ct_names), ports, {groups.begin(), groups.end()});
      svc.cluster_tick();
    };
    local();
    (*loop)->add_periodic(std::chrono::milliseconds(2000), local);
    cluster->on_change([&svc](const cluster::ClusterState::Delta&) { svc.cluster_changed(); });
    cluster->start();
    log("cluster: joining as host '" + o.cluster_opts->host + "' (underlay " + o.cluster_opts->underlay_ip + ") at " +
        cluster->client().endpoints_text());
  }
  if (metrics) {
    if (auto s = metrics->start(); !s) {
      (*runtime)->stop();
      svc.shutdown();
      return fail(s.error().message);
    }
    log("metrics at http://" + o.metrics_addr->str() + "/metrics");
  }
  log("listening on " + o.sock);
  if (dashboard) {
    dashboard->start();
    log("dashboard on " + dashboard->url() +
        (dashboard->read_only() ? " (read-only)" : " (changes need the token of --http-token-file)"));
  }
  report(0);
  if (auto s = daemon::sd_notify("READY=1\nSTATUS=listening on " + o.sock); !s) log_warn(s.error().message);
  (*loop)->run();
  log("stopping");
  ovsdb.reset();  // its sessions go before the Service's database
  server.end_streams("kvnetd is stopping");  // captures read from the datapath: end them first
  (void)daemon::sd_notify("STOPPING=1");
  if (metrics) metrics->stop();
  if (dashboard) dashboard->stop();
  if (cluster) cluster->stop();  // the lease goes: the others see this host leave
  (*runtime)->stop();
  svc.shutdown();
  locks->pidfile.remove_and_release();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kvnetd: kvnet's switch daemon", "kvnetd"};
  Options o;
  if (const char* g = std::getenv("KVNET_GUEST_DIR"); g && *g) o.guest_dir = g;
  app.add_option("--db", o.db, "SQLite configuration database")->capture_default_str();
  app.add_option("--socket", o.sock, "API socket (mode 0660)")->capture_default_str();
  app.add_flag("--foreground", o.foreground, "stay in the foreground (default: run in the background)");
  app.add_option("--pcap-dir", o.pcap_dir, "the only directory pcap ports may write to (default: pcap/ next to --db)");
  app.add_option("--pidfile", o.pidfile, "write the daemon's pid here (default /run/kvnet/kvnetd.pid in the background)");
  app.add_option("--pool-frames", o.pool_frames, "frame buffers (64 KiB each, allocated lazily)")
      ->check(CLI::Range(256, 1 << 20))
      ->capture_default_str();
  app.add_option("--vm-dir", o.vm_dir, "VMs' sockets, logs and pidfiles (default: vms/ next to --db)");
  app.add_option("--image-dir", o.image_dir, "the image store: base images for VMs' disks (default: images/ next to --db)");
  app.add_option("--disk-dir", o.disk_dir, "image VMs' disks, overlays of their images (default: disks/ next to --db)");
  app.add_option("--gw-dir", o.gw_dir,
                 "gateways' dnsmasq configurations, leases, pidfiles and logs (default: gateways/ next to --db)");
  app.add_option("--guest-dir", o.guest_dir, "kvnet's guest image, from guest/build.sh (env KVNET_GUEST_DIR)")
      ->capture_default_str();
  app.add_option("--metrics", o.metrics,
                 "serve Prometheus metrics at http://ADDR:PORT/metrics (PORT or :PORT: 127.0.0.1; default off)");
  app.add_option("--log-level", o.log_level, "the least important messages logged")
      ->check(CLI::IsMember({"debug", "info", "warn", "warning", "error"}))
      ->capture_default_str();
  app.add_option("--log-file", o.log_file, "append the log to this file (reopened on SIGHUP; default stderr, or "
                                           "the journal under systemd)");
  app.add_flag("--syslog", o.syslog, "log through syslog(3), facility daemon");
  app.add_flag("--no-fast-path", o.no_fast_path,
               "keep every frame on the slow path (no eBPF programs on the ports; per bridge: set bridge B fast_path=false)");
  app.add_option("--http", o.http,
                 "serve the web dashboard on ADDR:PORT (PORT or :PORT: 127.0.0.1; [V6]:PORT; default: off)");
  app.add_option("--http-token-file", o.http_token_file,
                 "a file (not readable by everyone) holding the secret that the dashboard's changing requests "
                 "must carry; without it the dashboard is read-only")
      ->needs("--http");
  app.add_option("--cluster", o.cluster.urls,
                 "join the cluster whose store is this etcd: client URLs, comma-separated (http://10.96.0.100:2379); "
                 "default: standalone");
  app.add_option("--host", o.cluster.host, "this host's name in the cluster (default: the machine's)")->needs("--cluster");
  app.add_option("--underlay-ip", o.cluster.underlay_ip,
                 "this host's VTEP address (default: the address it reaches the store from)")
      ->needs("--cluster");
  app.add_option("--cluster-ttl", o.cluster.ttl_s, "seconds without a keepalive before the others see this host down")
      ->capture_default_str()
      ->needs("--cluster");
  app.add_option("--cluster-cacert", o.cluster.cacert, "the CA that signed etcd's certificate (https endpoints)")
      ->needs("--cluster");
  app.add_option("--cluster-cert", o.cluster.cert, "this host's client certificate for etcd")->needs("--cluster");
  app.add_option("--cluster-key", o.cluster.key, "the key of --cluster-cert")->needs("--cluster");
  app.add_option("--cluster-user", o.cluster.user, "etcd's auth: NAME or NAME:PASSWORD")->needs("--cluster");
  app.add_option("--cluster-password-file", o.cluster.password_file, "etcd's auth: a file holding the password")
      ->needs("--cluster-user");
  app.add_option("--ovsdb", o.ovsdb,
                 "serve the Open_vSwitch database (OVSDB, RFC 7047) for ovs-vsctl, libvirt and ovsdbapp on unix:PATH; "
                 "'default' is unix:" + std::string(kOvsdbDefault) + " (repeatable; default: off)");
  app.set_version_flag("--version", std::string("kvnetd ") + kVersion);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return kvnet::app::report_cli_error(app, e);
  }
  // Everything kvnetd and its children (dnsmasq, QEMU) create -- the
  // database and its -wal/-shm, logs, leases, pidfiles, captures -- is
  // readable by root only; the API socket is made 0660 on purpose.
  ::umask(077);
  if (!o.metrics.empty()) {
    auto a = daemon::parse_listen_address(o.metrics, "--metrics");
    if (!a) {
      std::fprintf(stderr, "kvnetd: %s\n", a.error().message.c_str());
      return 2;
    }
    o.metrics_addr = *a;
  }
  if (!o.cluster.urls.empty()) {
    o.cluster.version = kVersion;
    auto c = daemon::cluster_options(o.cluster);
    if (!c) {
      std::fprintf(stderr, "kvnetd: %s\n", c.error().message.c_str());
      return 2;
    }
    o.cluster_opts = *c;
  }
  for (const auto& v : o.ovsdb) {
    auto p = ovsdb_path(v);
    if (!p) {
      std::fprintf(stderr, "kvnetd: %s\n", p.error().message.c_str());
      return 2;
    }
    o.ovsdb_paths.push_back(*p);
  }
  if (!o.log_file.empty()) o.log_file = std::filesystem::absolute(o.log_file).string();
  {
    auto level = parse_log_level(o.log_level);  // checked by CLI11 already
    if (auto s = logger().configure({.level = level ? *level : LogLevel::kInfo, .file = o.log_file, .syslog = o.syslog});
        !s) {
      std::fprintf(stderr, "kvnetd: %s\n", s.error().message.c_str());
      return 1;
    }
  }
  if (!o.foreground && o.pidfile.empty()) o.pidfile = "/run/kvnet/kvnetd.pid";
  // The daemon changes to "/": make the paths it was given absolute first.
  o.db = std::filesystem::absolute(o.db).string();
  o.sock = std::filesystem::absolute(o.sock).string();
  if (!o.pidfile.empty()) o.pidfile = std::filesystem::absolute(o.pidfile).string();
  o.vm_dir = o.vm_dir.empty() ? (std::filesystem::path(o.db).parent_path() / "vms").string()
                              : std::filesystem::absolute(o.vm_dir).string();
  o.guest_dir = std::filesystem::absolute(o.guest_dir).string();
  if (!o.http_token_file.empty()) o.http_token_file = std::filesystem::absolute(o.http_token_file).string();
  o.gw_dir = o.gw_dir.empty() ? (std::filesystem::path(o.db).parent_path() / "gateways").string()
                              : std::filesystem::absolute(o.gw_dir).string();
  o.image_dir = o.image_dir.empty() ? (std::filesystem::path(o.db).parent_path() / "images").string()
                                    : std::filesystem::absolute(o.image_dir).string();
  o.disk_dir = o.disk_dir.empty() ? (std::filesystem::path(o.db).parent_path() / "disks").string()
                                  : std::filesystem::absolute(o.disk_dir).string();
  o.pcap_dir = o.pcap_dir.empty() ? (std::filesystem::path(o.db).parent_path() / "pcap").string()
                                  : std::filesystem::absolute(o.pcap_dir).string();

  signal(SIGPIPE, SIG_IGN);
  // A closing terminal must not stop the switch; once the loop blocks it,
  // SIGHUP (blocked signals are queued even when ignored) reopens the log.
  signal(SIGHUP, SIG_IGN);
  // Looks at our ancestors: before daemonizing.
  if (const auto mounts = daemon::choose_host_mounts(); mounts.warning) log_warn(mounts.note);
  else if (mounts.entered) log(mounts.note);
  else log_debug(mounts.note);
  int ready_fd = -1;
  if (!o.foreground) {
    auto fd = daemonize();
    if (!fd) {
      log_error(fd.error().message);
      return 1;
    }
    ready_fd = *fd;
  }
  return run(o, [&](char status) {
    if (ready_fd >= 0) {
      (void)!write(ready_fd, &status, 1);
      close(ready_fd);
      ready_fd = -1;
    }
  });
}
