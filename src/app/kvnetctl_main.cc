// kvnetctl: configure and inspect a running kvnetd. Verbs follow ovs-vsctl
// where users know them; every verb has --help and --format json.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "daemon/api.h"

namespace {

using json = nlohmann::json;
using kvnet::daemon::api_call;

std::string g_socket = "/run/kvnet/kvnetd.sock";
std::string g_format = "human";

struct Failure {
  std::string msg;
  int code;
};

// key=value words into an options object; a word without '=' is a usage error.
json options(const std::vector<std::string>& kvs, const char* verb) {
  json o = json::object();
  for (const auto& kv : kvs) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      throw Failure{std::string(verb) + ": '" + kv + "' is not KEY=VALUE", 2};
    o[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return o;
}

json call(json req) {
  auto r = api_call(g_socket, req);
  if (!r) throw Failure{r.error().message, 1};
  if (!(*r).value("ok", false)) throw Failure{(*r).value("error", std::string("unknown error")), 1};
  return (*r)["result"];
}

void print_json(const json& j) { std::cout << j.dump(2) << "\n"; }

void print_show(const json& r) {
  std::cout << "kvnetd (db " << r["db"].get<std::string>() << ")\n";
  for (const auto& b : r["bridges"]) {
    std::cout << "    Bridge " << b["name"].get<std::string>() << "\n        type: " << b["type"].get<std::string>();
    if (b.contains("mac_aging"))
      std::cout << "  mac_aging: " << b["mac_aging"] << "  mac_table_size: " << b["mac_table_size"];
    std::cout << "\n";
    for (const auto& p : b["ports"]) {
      std::cout << "        Port " << p["name"].get<std::string>() << "\n            type: " << p["type"].get<std::string>();
      if (p.contains("peer")) std::cout << "  peer: " << p["peer"].get<std::string>();
      if (p["mtu"] != 1500) std::cout << "  mtu: " << p["mtu"];
      std::cout << "\n";
      if (p.contains("vlan_mode")) {
        std::cout << "            vlan_mode: " << p["vlan_mode"].get<std::string>() << "  pvid: " << p["pvid"];
        for (const char* k : {"allowed", "tagged", "untagged"})
          if (p.contains(k)) std::cout << "  " << k << ": " << p[k].get<std::string>();
        std::cout << "\n";
      }
      if (p.contains("error")) std::cout << "            error: \"" << p["error"].get<std::string>() << "\"\n";
      else if (p.contains("backend") && !p["backend"].get<std::string>().empty())
        std::cout << "            attached: " << p["backend"].get<std::string>() << "\n";
    }
  }
  for (const auto& c : r["containers"]) {
    std::cout << "    Container " << c["name"].get<std::string>() << "\n        bridge: " << c["bridge"].get<std::string>()
              << "  port: " << c["port"].get<std::string>();
    if (!c["ip"].get<std::string>().empty()) std::cout << "  ip: " << c["ip"].get<std::string>();
    if (!c["gw"].get<std::string>().empty()) std::cout << "  gw: " << c["gw"].get<std::string>();
    std::cout << "\n";
  }
}

void print_stats(const json& r) {
  size_t wb = 6, wp = 4;
  for (const auto& p : r) {
    wb = std::max(wb, p["bridge"].get<std::string>().size());
    wp = std::max(wp, p["port"].get<std::string>().size());
  }
  std::cout << fmt::format("{:<{}}  {:<{}}  {:<8} {:>10} {:>13} {:>10} {:>13} {:>8}\n", "BRIDGE", wb, "PORT", wp, "TYPE",
                           "RX_PKTS", "RX_BYTES", "TX_PKTS", "TX_BYTES", "DROPS");
  std::string reasons;
  for (const auto& p : r) {
    std::cout << fmt::format("{:<{}}  {:<{}}  {:<8} {:>10} {:>13} {:>10} {:>13} {:>8}\n", p["bridge"].get<std::string>(), wb,
                             p["port"].get<std::string>(), wp, p["type"].get<std::string>(),
                             p["rx_packets"].get<uint64_t>(), p["rx_bytes"].get<uint64_t>(),
                             p["tx_packets"].get<uint64_t>(), p["tx_bytes"].get<uint64_t>(),
                             p["drops_total"].get<uint64_t>());
    for (auto it = p["drops"].begin(); it != p["drops"].end(); ++it)
      reasons += fmt::format("  {}/{}: {} {}\n", p["bridge"].get<std::string>(), p["port"].get<std::string>(), it.key(),
                             it->get<uint64_t>());
  }
  if (!reasons.empty()) std::cout << "\ndrops by reason:\n" << reasons;
}

void print_fdb(const json& r) {
  std::cout << fmt::format(" {:<10} {:>4}  {:<17}  {:>4}\n", "port", "VLAN", "MAC", "Age");
  for (const auto& e : r)
    std::cout << fmt::format(" {:<10} {:>4}  {:<17}  {:>4}\n", e["port"].get<std::string>(), e["vlan"].get<int>(),
                             e["mac"].get<std::string>(),
                             e["static"].get<bool>() ? std::string("static") : std::to_string(e["age"].get<uint64_t>()));
}

void out(const json& r, const std::function<void(const json&)>& human) {
  if (g_format == "json") print_json(r);
  else if (human) human(r);
}

}  // namespace

int main(int argc, char** argv) {
  if (const char* s = std::getenv("KVNET_SOCKET"); s && *s) g_socket = s;
  CLI::App app{"kvnetctl: configure and inspect kvnetd (verbs follow ovs-vsctl)"};
  app.require_subcommand(1);
  app.add_option("--socket", g_socket, "kvnetd's API socket (env KVNET_SOCKET)")->capture_default_str();
  app.add_option("--format", g_format, "output format")->check(CLI::IsMember({"human", "json"}))->capture_default_str();
  app.set_version_flag("--version", "kvnetctl 0.1.0");
  app.fallthrough();

  std::string name, bridge, port, file, mac, ip, gw;
  std::vector<std::string> kvs, cmd;
  int vlan = 0;
  bool may_exist = false, if_exists = false;
  std::function<void()> action;

  auto* add_br = app.add_subcommand("add-br", "add a bridge: add-br NAME [type=switch|learning|hub] [mac_aging=S] [mac_table_size=N]");
  add_br->add_option("bridge", bridge, "bridge name")->required();
  add_br->add_option("options", kvs, "KEY=VALUE settings");
  add_br->add_flag("--may-exist", may_exist, "no error if the bridge exists");
  add_br->callback([&] {
    json o = options(kvs, "add-br");
    json req{{"cmd", "add-br"}, {"bridge", bridge}, {"may_exist", may_exist}};
    if (o.contains("type")) {
      req["type"] = o["type"];
      o.erase("type");
    }
    req["options"] = o;
    action = [&, req] { out(call(req), nullptr); };
  });

  auto* del_br = app.add_subcommand("del-br", "delete a bridge and its ports");
  del_br->add_option("bridge", bridge, "bridge name")->required();
  del_br->add_flag("--if-exists", if_exists, "no error if it does not exist");
  del_br->callback([&] { action = [&] { out(call({{"cmd", "del-br"}, {"bridge", bridge}, {"if_exists", if_exists}}), nullptr); }; });

  auto* list_br = app.add_subcommand("list-br", "list bridges");
  list_br->callback([&] {
    action = [&] {
      out(call({{"cmd", "list-br"}}), [](const json& r) {
        for (const auto& b : r) std::cout << b.get<std::string>() << "\n";
      });
    };
  });

  auto* add_port = app.add_subcommand(
      "add-port",
      "add a port: add-port BR PORT [type=tap|system|internal|patch|pcap] [peer=BR/PORT] [vlan_mode=.. pvid=.. "
      "allowed=.. tagged=.. untagged=..] [mtu=..]");
  add_port->add_option("bridge", bridge, "bridge")->required();
  add_port->add_option("port", port, "port name (for system ports: the kernel interface)")->required();
  add_port->add_option("options", kvs, "KEY=VALUE settings");
  add_port->add_flag("--may-exist", may_exist, "no error if the port exists on this bridge");
  add_port->callback([&] {
    json req{{"cmd", "add-port"}, {"bridge", bridge}, {"port", port}, {"options", options(kvs, "add-port")},
             {"may_exist", may_exist}};
    action = [&, req] { out(call(req), nullptr); };
  });

  auto* del_port = app.add_subcommand("del-port", "delete a port: del-port [BR] PORT");
  std::vector<std::string> del_args;
  del_port->add_option("args", del_args, "[BR] PORT")->required()->expected(1, 2);
  del_port->add_flag("--if-exists", if_exists, "no error if it does not exist");
  del_port->callback([&] {
    json req{{"cmd", "del-port"}, {"port", del_args.back()}, {"if_exists", if_exists}};
    if (del_args.size() == 2) req["bridge"] = del_args[0];
    action = [&, req] { out(call(req), nullptr); };
  });

  auto* set = app.add_subcommand("set", "set port PORT KEY=VALUE... | set bridge BR mac_aging=S mac_table_size=N");
  std::string table;
  set->add_option("table", table, "port | bridge")->required()->check(CLI::IsMember({"port", "bridge"}));
  set->add_option("record", name, "port or bridge name")->required();
  set->add_option("options", kvs, "KEY=VALUE (an empty VALUE removes the key)")->required();
  set->callback([&] {
    json req{{"cmd", table == "port" ? "set-port" : "set-bridge"}, {table, name}, {"options", options(kvs, "set")}};
    action = [&, req] { out(call(req), nullptr); };
  });

  auto* show = app.add_subcommand("show", "the configuration as a tree, like ovs-vsctl show");
  show->callback([&] { action = [&] { out(call({{"cmd", "show"}}), print_show); }; });

  auto* fdb_show = app.add_subcommand("fdb-show", "the MAC table of a bridge");
  fdb_show->add_option("bridge", bridge, "bridge")->required();
  fdb_show->callback([&] { action = [&] { out(call({{"cmd", "fdb-show"}, {"bridge", bridge}}), print_fdb); }; });

  auto* fdb_flush = app.add_subcommand("fdb-flush", "forget every learned MAC of a bridge (static entries stay)");
  fdb_flush->add_option("bridge", bridge, "bridge")->required();
  fdb_flush->callback([&] {
    action = [&] {
      out(call({{"cmd", "fdb-flush"}, {"bridge", bridge}}),
          [](const json& r) { std::cout << "flushed " << r["flushed"] << " entries\n"; });
    };
  });

  auto* fdb_add = app.add_subcommand("fdb-add", "add a static entry: fdb-add BR VLAN MAC PORT (VLAN 0 on learning bridges)");
  fdb_add->add_option("bridge", bridge)->required();
  fdb_add->add_option("vlan", vlan)->required()->check(CLI::Range(0, 4094));
  fdb_add->add_option("mac", mac)->required();
  fdb_add->add_option("port", port)->required();
  fdb_add->callback([&] {
    action = [&] { out(call({{"cmd", "fdb-add"}, {"bridge", bridge}, {"vlan", vlan}, {"mac", mac}, {"port", port}}), nullptr); };
  });

  auto* fdb_del = app.add_subcommand("fdb-del", "delete a static entry: fdb-del BR VLAN MAC");
  fdb_del->add_option("bridge", bridge)->required();
  fdb_del->add_option("vlan", vlan)->required()->check(CLI::Range(0, 4094));
  fdb_del->add_option("mac", mac)->required();
  fdb_del->callback([&] {
    action = [&] { out(call({{"cmd", "fdb-del"}, {"bridge", bridge}, {"vlan", vlan}, {"mac", mac}}), nullptr); };
  });

  auto* stats = app.add_subcommand("stats", "per-port counters and drop reasons");
  stats->add_option("port", port, "only this port");
  stats->callback([&] { action = [&] { out(call({{"cmd", "stats"}, {"port", port}}), print_stats); }; });

  auto* trace = app.add_subcommand("trace", "trace BR in_port=PORT FIELD=VALUE...: one frame through the live switch (nothing is sent or learned)");
  trace->add_option("bridge", bridge)->required();
  trace->add_option("fields", kvs, "in_port=PORT and OVS flow fields (dl_src=.. dl_dst=.. dl_vlan=.. arp ...)")->required();
  trace->callback([&] {
    std::string in, flow;
    for (const auto& word : kvs) {
      std::stringstream ss(word);
      std::string f;
      while (std::getline(ss, f, ',')) {
        if (f.rfind("in_port=", 0) == 0) in = f.substr(8);
        else if (!f.empty()) flow += (flow.empty() ? "" : ",") + f;
      }
    }
    if (in.empty()) throw Failure{"trace: in_port=PORT is required", 2};
    json req{{"cmd", "trace"}, {"bridge", bridge}, {"in_port", in}, {"flow", flow}};
    action = [&, req] {
      json r = call(req);
      if (g_format == "json") {
        r.erase("text");
        print_json(r);
      } else {
        std::cout << r["text"].get<std::string>();
      }
    };
  });

  auto* apply = app.add_subcommand("apply", "make the configuration equal to a topology file (only the difference is applied, in one transaction)");
  apply->add_option("file", file, "topology YAML")->required();
  bool dry_run = false;
  apply->add_flag("--dry-run", dry_run, "print the plan, change nothing");
  apply->callback([&] {
    action = [&] {
      std::ifstream in(file);
      if (!in) throw Failure{file + ": cannot open: " + std::strerror(errno), 1};
      std::stringstream ss;
      ss << in.rdbuf();
      const auto abs = std::filesystem::absolute(file);
      json r = call({{"cmd", "apply"}, {"yaml", ss.str()}, {"file", file}, {"base_dir", abs.parent_path().string()},
                     {"dry_run", dry_run}});
      out(r, [](const json& r) {
        if (!r.value("changed", false)) {
          std::cout << "no change\n";
          return;
        }
        for (const auto& line : r["changes"]) std::cout << line.get<std::string>() << "\n";
      });
    };
  });

  auto* exp = app.add_subcommand("export", "the configuration as a topology file that apply accepts");
  exp->callback([&] {
    action = [&] {
      out(call({{"cmd", "export"}}), [](const json& r) { std::cout << r["yaml"].get<std::string>(); });
    };
  });

  auto* ct = app.add_subcommand("ct", "containers: network namespaces with a veth into a bridge");
  ct->require_subcommand(1);
  auto* ct_add = ct->add_subcommand("add", "ct add NAME --bridge BR [--port PORT] [--ip CIDR] [--gw IP] [--mac MAC] [KEY=VALUE port options]");
  ct_add->add_option("name", name)->required();
  ct_add->add_option("--bridge", bridge, "bridge to plug into")->required();
  ct_add->add_option("--port", port, "the veth's host end (default ct-NAME)");
  ct_add->add_option("--ip", ip, "address of eth0, CIDR");
  ct_add->add_option("--gw", gw, "default gateway");
  ct_add->add_option("--mac", mac, "MAC of eth0");
  ct_add->add_option("options", kvs, "port options: vlan_mode=.. pvid=.. ...");
  ct_add->callback([&] {
    json req{{"cmd", "ct-add"}, {"name", name}, {"bridge", bridge}, {"options", options(kvs, "ct add")}};
    if (!port.empty()) req["port"] = port;
    if (!ip.empty()) req["ip"] = ip;
    if (!gw.empty()) req["gw"] = gw;
    if (!mac.empty()) req["mac"] = mac;
    action = [&, req] { out(call(req), nullptr); };
  });
  auto* ct_del = ct->add_subcommand("del", "ct del NAME: remove the container, its namespace and port");
  ct_del->add_option("name", name)->required();
  ct_del->callback([&] { action = [&] { out(call({{"cmd", "ct-del"}, {"name", name}}), nullptr); }; });
  auto* ct_list = ct->add_subcommand("list", "list containers");
  ct_list->callback([&] {
    action = [&] {
      out(call({{"cmd", "ct-list"}}), [](const json& r) {
        std::cout << fmt::format("{:<15} {:<15} {:<15} {:<18} {}\n", "NAME", "BRIDGE", "PORT", "IP", "NETNS");
        for (const auto& c : r)
          std::cout << fmt::format("{:<15} {:<15} {:<15} {:<18} {}\n", c["name"].get<std::string>(),
                                   c["bridge"].get<std::string>(), c["port"].get<std::string>(),
                                   c["ip"].get<std::string>(), c["netns"].get<bool>() ? "yes" : "MISSING");
      });
    };
  });
  auto* ct_exec = ct->add_subcommand("exec", "ct exec NAME -- CMD...: run a command inside the container");
  ct_exec->add_option("name", name)->required();
  ct_exec->add_option("cmd", cmd, "command and arguments (after --)")->required();
  ct_exec->callback([&] {
    action = [&] {
      bool found = false;
      for (const auto& c : call({{"cmd", "ct-list"}})) found = found || c["name"] == name;
      if (!found) throw Failure{"container '" + name + "' does not exist", 1};
      std::vector<char*> args = {const_cast<char*>("ip"), const_cast<char*>("netns"), const_cast<char*>("exec"),
                                 name.data()};
      for (auto& c : cmd) args.push_back(c.data());
      args.push_back(nullptr);
      execvp("ip", args.data());
      throw Failure{std::string("cannot run ip netns exec: ") + std::strerror(errno), 1};
    };
  });

  try {
    app.parse(argc, argv);
    if (action) action();
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const Failure& f) {
    std::cerr << "kvnetctl: " << f.msg << "\n";
    return f.code;
  } catch (const std::exception& e) {
    std::cerr << "kvnetctl: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
