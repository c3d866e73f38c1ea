// A kvnetd Service for tests, as service_test.cc builds one: a fake backend
// opener (every port gets a DiscardBackend; `opened_` records the names), a
// real SQLite store in a temp directory, the datapath run inline, no
// container namespaces. ok()/err() send one API request.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include "daemon/service.h"

namespace kvnet::daemon {

// One kvnetd: its datapath, runtime and Service over a database.
struct TestInstance {
  std::unique_ptr<dp::Datapath> dp;
  std::unique_ptr<io::Runtime> rt;
  std::unique_ptr<Service> svc;
  void reset() {  // the Service first, the datapath last
    svc.reset();
    rt.reset();
    dp.reset();
  }
};

class ServiceFixture : public ::testing::Test {
 protected:
  using Instance = TestInstance;
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("kvnet-svc-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->test_suite_name() + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    main_ = make(dir_ / "a");
  }
  void TearDown() override {
    main_.reset();
    std::filesystem::remove_all(dir_);
  }

  Instance make(const std::filesystem::path& db_dir) {
    Instance i;
    i.dp = std::make_unique<dp::Datapath>(512);
    i.rt = std::make_unique<io::Runtime>(*i.dp);  // not started: calls run inline
    auto store = ctl::Store::open((db_dir / "kvnet.db").string());
    EXPECT_TRUE(store.ok());
    auto opener = [this](const ctl::PortSpec& p) -> Result<std::unique_ptr<dp::PortBackend>> {
      opened_.insert(p.name);
      ++opens_;
      return std::unique_ptr<dp::PortBackend>(std::make_unique<dp::DiscardBackend>());
    };
    i.svc = std::make_unique<Service>(std::move(*store), *i.rt, opener, ServiceOptions{.manage_containers = false});
    if (before_restore_) before_restore_(*i.svc);  // hosts (VMs, gateways) a test plugs in
    EXPECT_TRUE(i.svc->restore().ok());
    return i;
  }
  // The same database, opened by a new kvnetd.
  void restart() {
    main_.reset();
    main_ = make(dir_ / "a");
  }

  json ok(const json& req, Instance* in = nullptr) {
    json r = (in ? in : &main_)->svc->handle(req);
    EXPECT_TRUE(r["ok"].get<bool>()) << req.dump() << " -> " << r.dump();
    return r["result"];
  }
  std::string err(const json& req) {
    json r = main_.svc->handle(req);
    EXPECT_FALSE(r["ok"].get<bool>()) << req.dump() << " -> " << r.dump();
    return r.value("error", "");
  }
  std::string exported(Instance* in = nullptr) { return ok({{"cmd", "export"}}, in)["yaml"]; }
  const ctl::Topology& config() const { return main_.svc->config(); }
  dp::Datapath& dp() { return *main_.dp; }

  std::function<void(Service&)> before_restore_;
  std::filesystem::path dir_;
  Instance main_;
  std::set<std::string> opened_;  // ports the fake opener was asked for
  int opens_ = 0;                 // and how many times
};

}  // namespace kvnet::daemon
