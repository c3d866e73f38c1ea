// A real etcd (Debian's etcd-server) for tests: one member on loopback
// ports of its own, in a fresh data directory; stopped (by its pid) and
// removed when the object goes. Missing etcd fails the test: `./run`
// installs it.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "cluster/etcd.h"
#include "free_port.h"

namespace kvnet::cluster::testing {

using kvnet::testing::free_port;


class EtcdServer {
 public:
  // Extra flags go to etcd as given (TLS, auth tests).
  explicit EtcdServer(std::vector<std::string> extra = {}, bool tls = false) : extra_(std::move(extra)), tls_(tls) {
    signal(SIGPIPE, SIG_IGN);  // as kvnetd: OpenSSL writes to a refused TLS connection with write(2)
    dir_ = std::filesystem::temp_directory_path() / ("kvnet-etcd-" + std::to_string(getpid()) + "-" + std::to_string(counter()++));
    std::filesystem::create_directories(dir_);
    start();
  }
  ~EtcdServer() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  void start() {
    if (!client_port_) client_port_ = free_port(), peer_port_ = free_port();
    const std::string scheme = tls_ ? "https://" : "http://";
    const std::string client = scheme + "127.0.0.1:" + std::to_string(client_port_);
    const std::string peer = "http://127.0.0.1:" + std::to_string(peer_port_);
    std::vector<std::string> args = {"etcd", "--name", "t", "--data-dir", (dir_ / "data").string(),
                                     "--listen-client-urls", client, "--advertise-client-urls", client,
                                     "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                                     "--initial-cluster", "t=" + peer, "--logger", "zap", "--log-outputs", "stderr"};
    args.insert(args.end(), extra_.begin(), extra_.end());
    pid_ = fork();
    if (pid_ == 0) {
      const int log = open((dir_ / "etcd.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
      if (log >= 0) dup2(log, STDERR_FILENO), dup2(log, STDOUT_FILENO);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execvp("etcd", argv.data());
      _exit(127);
    }
    url_ = client;
  }
  // Kills it (SIGKILL when `hard`) and waits for it.
  void stop(bool hard = false) {
    if (pid_ <= 0) return;
    kill(pid_, hard ? SIGKILL : SIGTERM);
    int st = 0;
    waitpid(pid_, &st, 0);
    pid_ = -1;
  }
  bool running() const { return pid_ > 0; }
  const std::string& url() const { return url_; }
  const std::filesystem::path& dir() const { return dir_; }
  EtcdOptions options() const {
    EtcdOptions o;
    o.endpoints = *parse_endpoints(url_);
    return o;
  }
  // Waits until it answers (10 s); false if it does not (its log says why).
  bool wait_ready(EtcdOptions o) const {
    EtcdClient c(std::move(o));
    for (int i = 0; i < 200; ++i) {
      if (c.status()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  bool wait_ready() const { return wait_ready(options()); }

 private:
  static int& counter() {
    static int n = 0;
    return n;
  }
  std::vector<std::string> extra_;
  bool tls_;
  std::filesystem::path dir_;
  uint16_t client_port_ = 0, peer_port_ = 0;
  pid_t pid_ = -1;
  std::string url_;
};

}  // namespace kvnet::cluster::testing
