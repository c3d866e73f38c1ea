// kvnetd: the live switch daemon. Restores its configuration from SQLite,
// runs the datapath thread over real ports, and serves kvnetctl's API on a
// Unix socket until SIGTERM/SIGINT.
#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "daemon/api.h"
#include "daemon/service.h"
#include "ctl/store.h"
#include "dp/datapath.h"
#include "io/runtime.h"

namespace {

using namespace kvnet;

void log(const std::string& msg) {
  std::fprintf(stderr, "%s kvnetd[%d]: %s\n", fmt::format("{:%Y-%m-%dT%H:%M:%S}", fmt::localtime(std::time(nullptr))).c_str(),
               getpid(), msg.c_str());
}

// Forks into the background; the parent exits once the child reports ready
// (status byte 0) or failed (1) through a pipe.
int daemonize(int* ready_fd) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) return -1;
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid > 0) {
    close(p[1]);
    char status = 1;
    const bool got = read(p[0], &status, 1) == 1;
    _exit(got && status == 0 ? 0 : 1);
  }
  close(p[0]);
  setsid();
  if (chdir("/") < 0) return -1;
  const int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    dup2(null, STDIN_FILENO);
    dup2(null, STDOUT_FILENO);  // logs stay on stderr
    close(null);
  }
  *ready_fd = p[1];
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kvnetd: kvnet's switch daemon"};
  std::string db = "/var/lib/kvnet/kvnet.db", sock = "/run/kvnet/kvnetd.sock", pidfile, pcap_dir;
  bool foreground = false;
  size_t pool_frames = 4096;
  app.add_option("--db", db, "SQLite configuration database")->capture_default_str();
  app.add_option("--socket", sock, "API socket (mode 0660)")->capture_default_str();
  app.add_flag("--foreground", foreground, "stay in the foreground (default: run in the background)");
  app.add_option("--pcap-dir", pcap_dir, "the only directory pcap ports may write to (default: pcap/ next to --db)");
  app.add_option("--pidfile", pidfile, "write the daemon's pid here (default /run/kvnet/kvnetd.pid in the background)");
  app.add_option("--pool-frames", pool_frames, "frame buffers (64 KiB each, allocated lazily)")
      ->check(CLI::Range(256, 1 << 20))
      ->capture_default_str();
  app.set_version_flag("--version", "kvnetd 0.1.0");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (!foreground && pidfile.empty()) pidfile = "/run/kvnet/kvnetd.pid";
  // The daemon changes to "/": make the paths it was given absolute first.
  db = std::filesystem::absolute(db).string();
  sock = std::filesystem::absolute(sock).string();
  if (!pidfile.empty()) pidfile = std::filesystem::absolute(pidfile).string();
  pcap_dir = pcap_dir.empty() ? (std::filesystem::path(db).parent_path() / "pcap").string()
                              : std::filesystem::absolute(pcap_dir).string();

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);  // before threads start: they inherit it
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);  // no reload yet; a closing terminal must not stop the switch

  int ready_fd = -1;
  if (!foreground && daemonize(&ready_fd) < 0) {
    log(std::string("cannot fork: ") + std::strerror(errno));
    return 1;
  }
  auto report = [&](char status) {
    if (ready_fd >= 0) {
      (void)!write(ready_fd, &status, 1);
      close(ready_fd);
      ready_fd = -1;
    }
  };
  const int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
  if (sfd < 0) {
    log(std::string("signalfd: ") + std::strerror(errno));
    report(1);
    return 1;
  }

  auto store = ctl::Store::open(db);
  if (!store) {
    log(store.error().message);
    report(1);
    return 1;
  }
  dp::Datapath datapath(pool_frames, net::kHeadroom + net::kMaxGsoFrameLen);
  io::Runtime runtime(datapath);
  daemon::Service svc(std::move(*store), runtime, daemon::kernel_backends(pcap_dir));
  if (auto s = svc.restore(); !s) {
    log(s.error().message);
    report(1);
    return 1;
  }
  for (const auto& [port, why] : svc.vanished()) log("port '" + port + "' is configured but not attached: " + why);
  size_t nports = 0;
  for (const auto& b : svc.config().bridges) nports += b.ports.size();
  log(fmt::format("restored {} bridge(s), {} port(s), {} container(s) from {}", svc.config().bridges.size(), nports,
                  svc.config().containers.size(), db));
  daemon::ApiServer server(svc, sock);
  if (auto s = server.listen(); !s) {
    log(s.error().message);
    svc.shutdown();
    report(1);
    return 1;
  }
  if (!pidfile.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(pidfile).parent_path(), ec);
    std::ofstream(pidfile) << getpid() << "\n";
  }
  runtime.start();
  log("listening on " + sock);
  report(0);
  server.serve(sfd, 2000, [&] {
    const auto before = svc.vanished();
    const int back = svc.retry_vanished();
    for (const auto& [port, why] : svc.vanished())
      if (!before.count(port)) log("port '" + port + "' lost its interface: " + why);
    if (back > 0) log(fmt::format("re-attached {} port(s) whose interface came back", back));
  });
  log("stopping");
  runtime.stop();
  svc.shutdown();
  if (!pidfile.empty()) unlink(pidfile.c_str());
  return 0;
}
