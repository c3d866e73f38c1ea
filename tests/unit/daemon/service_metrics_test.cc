// The Service's metrics snapshot and `stats-clear`.
#include <gtest/gtest.h>

#include "daemon/metrics.h"
#include "service_fixture.h"

namespace kvnet::daemon {
namespace {

class ServiceMetricsTest : public ServiceFixture {
 protected:
  dp::Port& port(const std::string& name) {
    for (const auto& p : dp().ports())
      if (p && p->name == name) return *p;
    throw std::runtime_error("no port " + name);
  }
};

TEST_F(ServiceMetricsTest, TheSnapshotHasEveryPortBridgeAndContainer) {
  ok({{"cmd", "add-br"}, {"bridge", "br0"}});
  ok({{"cmd", "add-br"}, {"bridge", "hub0"}, {"type", "hub"}});
  ok({{"cmd", "add-port"}, {"bridge", "br0"}, {"port", "p1"}, {"options", json::object()}});
  ok({{"cmd", "add-port"}, {"bridge", "hub0"}, {"port", "h1"}, {"options", json::object()}});
  port("p1").counters.rx_packets = 5;
  port("p1").counters.drop(dp::Drop::kRunt);
  const MetricsSnapshot s = main_.svc->metrics_snapshot();
  ASSERT_EQ(s.dp.ports.size(), 2u);
  ASSERT_EQ(s.dp.bridges.size(), 2u);
  for (const auto& b : s.dp.bridges) {
    if (b.name == "br0") {
      EXPECT_EQ(b.fdb_entries, 0u);
    } else {
      EXPECT_FALSE(b.fdb_entries.has_value());  // hub0
    }
    EXPECT_FALSE(b.conntrack_entries.has_value());  // no security groups
  }
  const std::string text = render_metrics(s);
  EXPECT_NE(text.find("kvnet_port_rx_packets_total{bridge=\"br0\",port=\"p1\",kind=\"system\"} 5\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("kvnet_port_drops_total{bridge=\"br0\",port=\"p1\",reason=\"runt\"} 1\n"), std::string::npos);
  EXPECT_TRUE(s.vms.empty());
  EXPECT_EQ(s.containers, 0u);
}

TEST_F(ServiceMetricsTest, StatsClearZeroesOnePortOrAll) {
  ok({{"cmd", "add-br"}, {"bridge", "br0"}});
  ok({{"cmd", "add-port"}, {"bridge", "br0"}, {"port", "p1"}, {"options", json::object()}});
  ok({{"cmd", "add-port"}, {"bridge", "br0"}, {"port", "p2"}, {"options", json::object()}});
  for (const char* n : {"p1", "p2"}) {
    port(n).counters.rx_packets = 9;
    port(n).counters.tx_bytes = 900;
    port(n).counters.drop(dp::Drop::kOversize);
  }
  EXPECT_EQ(ok({{"cmd", "stats-clear"}, {"port", "p1"}})["cleared"], 1);
  EXPECT_EQ(port("p1").counters.rx_packets, 0u);
  EXPECT_EQ(port("p1").counters.total_drops(), 0u);
  EXPECT_EQ(port("p2").counters.rx_packets, 9u);
  json stats = ok({{"cmd", "stats"}});
  for (const auto& row : stats) EXPECT_EQ(row["rx_packets"], row["port"] == "p1" ? 0 : 9) << row.dump();
  EXPECT_EQ(ok({{"cmd", "stats-clear"}})["cleared"], 2);
  EXPECT_EQ(port("p2").counters.tx_bytes, 0u);
  EXPECT_EQ(err({{"cmd", "stats-clear"}, {"port", "nope"}}), "port 'nope' does not exist");
}

}  // namespace
}  // namespace kvnet::daemon
