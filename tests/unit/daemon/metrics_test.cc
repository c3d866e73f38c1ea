// The Prometheus exposition: escaping, names, family headers, kvnetd's
// metrics from a snapshot (checked by promtool when it is installed), the
// loop-time histogram, and listen addresses.
#include "daemon/metrics.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>

#include "daemon/listen_address.h"

namespace kvnet::daemon {
namespace {

TEST(Exposition, EscapesLabelValuesAndHelpAsTheFormatWants) {
  EXPECT_EQ(escape_label_value(R"(a"b\c)"), R"(a\"b\\c)");
  EXPECT_EQ(escape_label_value("two\nlines"), "two\\nlines");
  EXPECT_EQ(escape_label_value("\xff"), "\xEF\xBF\xBD");
  EXPECT_EQ(escape_help("back\\slash \"quoted\"\nnext"), "back\\\\slash \"quoted\"\\nnext");
}

TEST(Exposition, NamesAndValues) {
  EXPECT_TRUE(valid_metric_name("kvnet_port_rx_packets_total"));
  EXPECT_TRUE(valid_metric_name("job:rate5m"));
  EXPECT_FALSE(valid_metric_name("9lives"));
  EXPECT_FALSE(valid_metric_name("kvnet-port"));
  EXPECT_FALSE(valid_metric_name(""));
  EXPECT_TRUE(valid_label_name("bridge"));
  EXPECT_FALSE(valid_label_name("a:b"));
  EXPECT_FALSE(valid_label_name("__name__"));
  EXPECT_EQ(format_value(0.5), "0.5");
  EXPECT_EQ(format_value(1e-06), "1e-06");
  EXPECT_EQ(format_value(3.0), "3");
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(format_value(std::nan("")), "NaN");
}

TEST(Exposition, AFamilyHeaderComesOnceWithItsFirstSampleAndEmptyFamiliesAreLeftOut) {
  Exposition e;
  e.family("a_total", MetricType::kCounter, "As.");
  e.sample({{"port", "p\"1"}}, uint64_t{3});
  e.sample({{"port", "p2"}}, uint64_t{4});
  e.family("empty", MetricType::kGauge, "Never sampled.");
  e.family("h_seconds", MetricType::kHistogram, "Hs.");
  e.bucket({}, "0.5", 1);
  e.bucket({}, "+Inf", 2);
  e.sample({}, 1.25, "_sum");
  e.sample({}, uint64_t{2}, "_count");
  EXPECT_EQ(e.text(),
            "# HELP a_total As.\n# TYPE a_total counter\n"
            "a_total{port=\"p\\\"1\"} 3\na_total{port=\"p2\"} 4\n"
            "# HELP h_seconds Hs.\n# TYPE h_seconds histogram\n"
            "h_seconds_bucket{le=\"0.5\"} 1\nh_seconds_bucket{le=\"+Inf\"} 2\nh_seconds_sum 1.25\nh_seconds_count 2\n");
}

TEST(LoopTimes, BucketsAreCumulativeAndInfIsTheCount) {
  io::LoopTimes t;
  t.record(500);         // <= 1 us
  t.record(1'000);       // <= 1 us (bounds are inclusive)
  t.record(30'000);      // <= 50 us
  t.record(90'000'000);  // above every bound
  EXPECT_EQ(t.count, 4u);
  EXPECT_EQ(t.sum_ns, 500u + 1'000u + 30'000u + 90'000'000u);
  EXPECT_EQ(t.cumulative(0), 2u);
  EXPECT_EQ(t.cumulative(4), 2u);  // 25 us
  EXPECT_EQ(t.cumulative(5), 3u);  // 50 us
  EXPECT_EQ(t.cumulative(io::LoopTimes::kBoundsNs.size() - 1), 3u);
  EXPECT_EQ(t.cumulative(io::LoopTimes::kBoundsNs.size()), 4u);
}

MetricsSnapshot sample_snapshot() {
  MetricsSnapshot s;
  dp::PortCounters c;
  c.rx_packets = 10;
  c.rx_bytes = 1000;
  c.tx_packets = 7;
  c.tx_bytes = 700;
  c.drop(dp::Drop::kVlanNotAllowed);
  c.drop(dp::Drop::kVlanNotAllowed);
  s.dp.ports.push_back({0, "br0", "ct-a", "system", c});
  s.dp.ports.push_back({1, "br0", "we\"ird\\name", "tap", {}});
  s.dp.ports.push_back({2, "br0", "vx0", "vxlan", {}});
  s.dp.bridges.push_back({"br0", 5u, 2u});
  s.dp.bridges.push_back({"hub0", std::nullopt, std::nullopt});
  s.dp.tunnels.push_back({"br0", "vx0", 3, 4});
  s.dp.loop.record(2'000);
  s.dp.loop.record(40'000);
  s.detached = {"vx0"};
  s.vms = {{"vm1", VmState::kRunning}};
  s.containers = 1;
  MetricsSnapshot::Cluster cl;
  cl.round_trips = 40;
  cl.errors = 2;
  cl.resyncs = 1;
  cl.watch_revision = 17;
  cl.applied_revision = 16;
  cl.hosts_up = 2;
  cl.hosts_down = 1;
  cl.bindings = 9;
  cl.remote_stations = 6;
  cl.arp_entries = 9;
  cl.joined = cl.connected = true;
  cl.lag_bounds = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
  cl.lag_buckets = {1, 3, 3, 3, 3, 3, 3, 3, 3, 3};
  cl.lag_count = 3;
  cl.lag_sum = 0.009;
  s.cluster = cl;
  s.version = "0.1.0";
  s.process = read_process_stats();
  return s;
}

bool has_line(const std::string& text, const std::string& line) { return text.find("\n" + line + "\n") != std::string::npos; }

TEST(Metrics, KvnetdsMetricsFromASnapshot) {
  const std::string t = render_metrics(sample_snapshot());
  EXPECT_TRUE(has_line(t, "kvnet_up 1")) << t;
  EXPECT_TRUE(has_line(t, "kvnet_build_info{version=\"0.1.0\"} 1")) << t;
  EXPECT_TRUE(has_line(t, "# TYPE kvnet_port_rx_packets_total counter"));
  EXPECT_TRUE(has_line(t, "kvnet_port_rx_packets_total{bridge=\"br0\",port=\"ct-a\",kind=\"system\"} 10")) << t;
  EXPECT_TRUE(has_line(t, "kvnet_port_tx_bytes_total{bridge=\"br0\",port=\"ct-a\",kind=\"system\"} 700"));
  EXPECT_TRUE(has_line(t, "kvnet_port_rx_packets_total{bridge=\"br0\",port=\"we\\\"ird\\\\name\",kind=\"tap\"} 0"));
  EXPECT_TRUE(has_line(t, "kvnet_port_drops_total{bridge=\"br0\",port=\"ct-a\",reason=\"vlan_not_allowed\"} 2"));
  EXPECT_TRUE(has_line(t, "kvnet_port_drops_total{bridge=\"br0\",port=\"ct-a\",reason=\"fw_denied\"} 0"));
  EXPECT_TRUE(has_line(t, "kvnet_port_attached{bridge=\"br0\",port=\"vx0\",kind=\"vxlan\"} 0"));
  EXPECT_TRUE(has_line(t, "kvnet_port_attached{bridge=\"br0\",port=\"ct-a\",kind=\"system\"} 1"));
  EXPECT_TRUE(has_line(t, "kvnet_bridge_fdb_entries{bridge=\"br0\"} 5"));
  EXPECT_EQ(t.find("kvnet_bridge_fdb_entries{bridge=\"hub0\"}"), std::string::npos);  // a hub has no FDB
  EXPECT_TRUE(has_line(t, "kvnet_bridge_conntrack_entries{bridge=\"br0\"} 2"));
  EXPECT_TRUE(has_line(t, "kvnet_tunnel_remotes{bridge=\"br0\",port=\"vx0\"} 3"));
  EXPECT_TRUE(has_line(t, "kvnet_tunnel_learned_macs{bridge=\"br0\",port=\"vx0\"} 4"));
  EXPECT_TRUE(has_line(t, "kvnet_vm_state{vm=\"vm1\",state=\"running\"} 1"));
  EXPECT_TRUE(has_line(t, "kvnet_vm_state{vm=\"vm1\",state=\"stopped\"} 0"));
  EXPECT_TRUE(has_line(t, "kvnet_containers 1"));
  EXPECT_TRUE(has_line(t, "# TYPE kvnet_datapath_loop_seconds histogram"));
  EXPECT_TRUE(has_line(t, "kvnet_datapath_loop_seconds_bucket{le=\"1e-06\"} 0")) << t;
  EXPECT_TRUE(has_line(t, "kvnet_datapath_loop_seconds_bucket{le=\"2.5e-06\"} 1"));
  EXPECT_TRUE(has_line(t, "kvnet_datapath_loop_seconds_bucket{le=\"5e-05\"} 2"));
  EXPECT_TRUE(has_line(t, "kvnet_datapath_loop_seconds_bucket{le=\"+Inf\"} 2"));
  EXPECT_TRUE(has_line(t, "kvnet_datapath_loop_seconds_sum 4.2e-05"));
  EXPECT_TRUE(has_line(t, "kvnet_datapath_loop_seconds_count 2"));
  EXPECT_NE(t.find("\nprocess_resident_memory_bytes "), std::string::npos);
  EXPECT_TRUE(t.ends_with("\n"));
  EXPECT_TRUE(has_line(t, "kvnet_cluster_store_round_trips_total 40"));
  EXPECT_TRUE(has_line(t, "kvnet_cluster_store_errors_total 2"));
  EXPECT_TRUE(has_line(t, "kvnet_cluster_revision{of=\"applied\"} 16"));
  EXPECT_TRUE(has_line(t, "kvnet_cluster_remote_hosts{state=\"down\"} 1"));
  EXPECT_TRUE(has_line(t, "kvnet_cluster_bindings 9"));
  EXPECT_TRUE(has_line(t, "kvnet_cluster_remote_stations 6"));
  EXPECT_TRUE(has_line(t, "kvnet_cluster_watch_lag_seconds_bucket{le=\"0.005\"} 3"));
  EXPECT_TRUE(has_line(t, "kvnet_cluster_watch_lag_seconds_count 3"));
  MetricsSnapshot standalone = sample_snapshot();
  standalone.cluster.reset();
  EXPECT_EQ(render_metrics(standalone).find("kvnet_cluster_"), std::string::npos);
}

TEST(Metrics, TheProcessKnowsItself) {
  const ProcessStats p = read_process_stats();
  EXPECT_GT(p.resident_bytes, 0u);
  EXPECT_GT(p.open_fds, 2u);
  EXPECT_GT(p.start_time_s, 1.6e9);  // after 2020
  EXPECT_GE(p.cpu_seconds, 0.0);
}

TEST(Metrics, PromtoolAcceptsThem) {
  if (access("/usr/bin/promtool", X_OK) != 0) GTEST_SKIP() << "promtool is not installed";
  const auto file = std::filesystem::path(::testing::TempDir()) / ("kvnet-metrics-" + std::to_string(getpid()));
  std::ofstream(file) << render_metrics(sample_snapshot());
  const std::string cmd = "/usr/bin/promtool check metrics < " + file.string() + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) out += buf;
  const int rc = pclose(p);
  std::filesystem::remove(file);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out, "") << out;  // no lint findings either
}

TEST(ListenAddress, PortAloneMeansLocalhost) {
  auto a = parse_listen_address("9101", "--metrics");
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 9101);
  EXPECT_EQ(a->str(), "127.0.0.1:9101");
  EXPECT_EQ(parse_listen_address(":9101", "--metrics")->str(), "127.0.0.1:9101");
  EXPECT_EQ(parse_listen_address("localhost:80", "--metrics")->str(), "127.0.0.1:80");
  EXPECT_EQ(parse_listen_address("0.0.0.0:9101", "--metrics")->str(), "0.0.0.0:9101");
  EXPECT_EQ(parse_listen_address("10.1.2.3:65535", "--metrics")->str(), "10.1.2.3:65535");
  auto v6 = parse_listen_address("[::1]:9101", "--metrics");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_TRUE(v6->ipv6());
  EXPECT_EQ(v6->str(), "[::1]:9101");
}

TEST(ListenAddress, BadAddressesNameWhatWasGivenAndTheExpectedForm) {
  auto err = [](const char* s) {
    auto a = parse_listen_address(s, "--metrics");
    return a ? std::string("accepted") : a.error().message;
  };
  EXPECT_EQ(err("0"), "--metrics '0': the port 0 is out of range 1-65535 (expected ADDR:PORT, :PORT or PORT)");
  EXPECT_EQ(err("70000"), "--metrics '70000': the port 70000 is out of range 1-65535 (expected ADDR:PORT, :PORT or PORT)");
  EXPECT_EQ(err("1.2.3.4:http"),
            "--metrics '1.2.3.4:http': the port 'http' is not a number (expected ADDR:PORT, :PORT or PORT)");
  EXPECT_EQ(err("example.com:80"),
            "--metrics 'example.com:80': 'example.com' is not an IP address (expected ADDR:PORT, :PORT or PORT)");
  EXPECT_EQ(err("300.1.1.1:80"),
            "--metrics '300.1.1.1:80': '300.1.1.1' is not an IP address (expected ADDR:PORT, :PORT or PORT)");
  EXPECT_EQ(err("::1:80"),
            "--metrics '::1:80': an IPv6 address must be in brackets ([::1]:PORT) (expected ADDR:PORT, :PORT or PORT)");
  EXPECT_EQ(err("[::1"), "--metrics '[::1': an IPv6 address in brackets lacks its ']' (expected ADDR:PORT, :PORT or PORT)");
  EXPECT_EQ(err("[::1]"), "--metrics '[::1]': no port after the address (expected ADDR:PORT, :PORT or PORT)");
  EXPECT_EQ(err(""), "--metrics '': the port '' is not a number (expected ADDR:PORT, :PORT or PORT)");
  EXPECT_EQ(err("1.2.3.4:"), "--metrics '1.2.3.4:': the port '' is not a number (expected ADDR:PORT, :PORT or PORT)");
  EXPECT_EQ(err("+80"), "--metrics '+80': the port '+80' is not a number (expected ADDR:PORT, :PORT or PORT)");
}

}  // namespace
}  // namespace kvnet::daemon
