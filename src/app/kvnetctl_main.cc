// kvnetctl: configure and inspect a running kvnetd. Verbs follow ovs-vsctl
// where users know them; every verb has --help and --format json.
//
// Every verb is one row of kVerbs: its name and help, the arguments it
// declares, how they become an API request, and how the answer is shown to a
// human (`--format json` prints the answer's result as is). main() only
// builds the command line from the table and runs the chosen row.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include "ctl/kinds/kind.h"
#include "daemon/api_client.h"
#include "dp/bridge.h"
#include "app/cli_errors.h"
#include "app/kvnetctl.h"

namespace kvnet::cli {

json options(const std::vector<std::string>& kvs, const char* verb) {
  json o = json::object();
  for (const auto& kv : kvs) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) throw Failure{std::string(verb) + ": '" + kv + "' is not KEY=VALUE", 2};
    o[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return o;
}

json call(const Args& a, const json& req) {
  // --timeout, or 60 s (longer when the verb itself waits longer: vm stop --timeout).
  const double wait_s = a.api_timeout > 0 ? a.api_timeout : std::max(60.0, a.timeout + 10);
  auto r = kvnet::daemon::api_call(a.socket, req, static_cast<int>(wait_s * 1000));
  if (!r && r.error().message.find("timed out") != std::string::npos)
    throw Failure{fmt::format("kvnetd did not answer within {:g} s (--timeout)", wait_s), 1};
  if (!r) throw Failure{r.error().message, 1};
  if (!(*r).value("ok", false)) throw Failure{(*r).value("error", std::string("unknown error")), 1};
  // Warnings beside the result (its own are printed with it): on stderr,
  // so that JSON on stdout stays the result.
  if ((*r).contains("warnings") && (*r)["warnings"].is_array())
    for (const auto& w : (*r)["warnings"])
      if (w.is_string()) std::cerr << "kvnetctl: warning: " << w.get<std::string>() << "\n";
  return (*r)["result"];
}

std::string str(const json& j, const char* key) { return j[key].get<std::string>(); }

}  // namespace kvnet::cli

namespace {

using namespace kvnet::cli;

// --- human output ---

void print_show(const json& r, const Args&) {
  std::cout << "kvnetd (db " << str(r, "db") << ")\n";
  for (const auto& b : r["bridges"]) {
    std::cout << "    Bridge " << str(b, "name") << "\n        type: " << str(b, "type");
    if (b.contains("mac_aging")) std::cout << "  mac_aging: " << b["mac_aging"] << "  mac_table_size: " << b["mac_table_size"];
    if (b.value("conntrack_max", kvnet::dp::kConntrackSize) != kvnet::dp::kConntrackSize)
      std::cout << "  conntrack_max: " << b["conntrack_max"];
    if (b.contains("conntrack_timeouts_changed")) std::cout << "  conntrack_timeouts: " << str(b, "conntrack_timeouts_changed");
    if (b.contains("carried_mtu")) std::cout << "  carried_mtu: " << b["carried_mtu"];
    std::cout << "\n";
    for (const auto& p : b["ports"]) {
      std::cout << "        Port " << str(p, "name") << "\n            type: " << str(p, "type");
      if (p.contains("peer")) std::cout << "  peer: " << str(p, "peer");
      if (p.value("dangling", false)) std::cout << "  (DANGLING: the peer port does not exist)";
      if (p["mtu"] != 1500) std::cout << "  mtu: " << p["mtu"];
      std::cout << "\n";
      if (p.contains("vlan_mode")) {
        std::cout << "            vlan_mode: " << str(p, "vlan_mode") << "  pvid: " << p["pvid"];
        for (const char* k : {"allowed", "tagged", "untagged"})
          if (p.contains(k)) std::cout << "  " << k << ": " << str(p, k);
        if (p.value("vlan_default", false)) std::cout << "  (default)";
        if (p.contains("network")) std::cout << "  network: " << str(p, "network");
        std::cout << "\n";
      }
      if (p.contains("external_ids")) {
        std::cout << "            external_ids:";
        for (const auto& [k, v] : p["external_ids"].items()) std::cout << " " << k << "=" << v.get<std::string>();
        std::cout << "\n";
      }
      if (p.contains("error")) std::cout << "            error: \"" << str(p, "error") << "\"\n";
      else if (p.contains("backend") && !str(p, "backend").empty())
        std::cout << "            attached: " << str(p, "backend") << "\n";
    }
    for (const auto& m : b.value("mirrors", json::array())) {
      std::cout << "        Mirror " << str(m, "name") << "\n            select:";
      if (m["select_all"].get<bool>()) std::cout << " all";
      for (const char* k : {"select_src_ports", "select_dst_ports"})
        if (!m[k].empty()) {
          std::string ports;
          for (const auto& x : m[k]) ports += (ports.empty() ? "" : ",") + x.get<std::string>();
          std::cout << "  " << std::string_view(k).substr(7) << ": " << ports;
        }
      if (!str(m, "select_vlans").empty()) std::cout << "  vlans: " << str(m, "select_vlans");
      std::cout << "\n            output: " << str(m, "output") << "\n";
    }
  }
  for (const auto& c : r["containers"]) {
    std::cout << "    Container " << str(c, "name") << "\n        bridge: " << str(c, "bridge") << "  port: " << str(c, "port");
    if (!str(c, "ip").empty()) std::cout << "  ip: " << str(c, "ip");
    if (!str(c, "gw").empty()) std::cout << "  gw: " << str(c, "gw");
    if (!str(c, "network").empty()) std::cout << "  network: " << str(c, "network");
    std::cout << "\n";
  }
}

// Stages as "name (counter N, ...)" joined by arrows; "-" when there are none.
std::string stage_chain(const json& stages) {
  std::string out;
  for (const auto& st : stages) {
    if (!out.empty()) out += " -> ";
    out += str(st, "name");
    std::string cs;
    for (auto it = st["counters"].begin(); it != st["counters"].end(); ++it)
      cs += fmt::format("{}{} {}", cs.empty() ? "" : ", ", it.key(), it->get<uint64_t>());
    if (!cs.empty()) out += " (" + cs + ")";
  }
  return out.empty() ? "-" : out;
}

void print_pipeline(const json& r, const Args&) {
  for (const auto& b : r) {
    std::cout << fmt::format("Bridge {} ({})\n", str(b, "bridge"), str(b, "type"));
    std::cout << "  order:   admit -> bridge ingress -> port ingress -> forward -> port egress -> bridge egress"
                 " -> output\n";
    std::cout << "  ingress: " << stage_chain(b["ingress"]) << "\n";
    std::cout << "  forward: " << str(b, "forward") << "\n";
    std::cout << "  egress:  " << stage_chain(b["egress"]) << "\n";
    for (const auto& p : b["ports"]) {
      if (p["ingress"].empty() && p["egress"].empty()) continue;
      std::cout << fmt::format("  port {}: ingress {}; egress {}\n", str(p, "port"), stage_chain(p["ingress"]),
                               stage_chain(p["egress"]));
    }
  }
}

// A cluster's br-int also names the network of each VLAN and the host
// behind each remote: "02:..  on h2 (10.96.0.2) via vx-cluster, network blue".
void print_fdb(const json& r, const Args&) {
  bool remotes = false;
  for (const auto& e : r) remotes |= e.contains("remote");
  std::cout << fmt::format(" {:<10} {:>4}  {:<17}  {:>4}{}\n", "port", "VLAN", "MAC", "Age", remotes ? "  remote" : "");
  for (const auto& e : r) {
    std::string where;
    if (e.contains("host")) where = "  on " + str(e, "host") + " (" + str(e, "remote") + ") via " + str(e, "port");
    else if (e.contains("remote")) where = "  " + str(e, "remote");
    if (e.contains("network")) where += (where.empty() ? "  " : ", ") + std::string("network ") + str(e, "network");
    std::cout << fmt::format(" {:<10} {:>4}  {:<17}  {:>4}{}\n", str(e, "port"), e["vlan"].get<int>(), str(e, "mac"),
                             e["static"].get<bool>() ? std::string("static") : std::to_string(e["age"].get<uint64_t>()),
                             where);
  }
}

void print_lines(const json& r, const Args&) {
  for (const auto& b : r) std::cout << b.get<std::string>() << "\n";
}

// apply's answer: the plan's changes, one line each, when kvnetd reports
// them ("changes"); else the ports added and removed.
// The plan a change carried out (or, dry run, would carry out): one line per
// change, `no change` when there is none.
void print_apply(const json& r, const Args&) {
  const json none = json::array();
  const json& changes = r.contains("changes") && r["changes"].is_array() ? r["changes"] : none;
  if (changes.empty()) std::cout << "no change\n";
  for (const auto& c : changes) std::cout << (c.is_string() ? c.get<std::string>() : c.dump()) << "\n";
}

void print_kinds(const json& r, const Args&) {
  for (const auto& k : r) {
    std::cout << fmt::format("{:<10} {}\n", str(k, "name"), str(k, "summary"));
    for (const auto& key : k["keys"]) std::cout << fmt::format("{:<10}   {}: {}\n", "", str(key, "key"), str(key, "help"));
  }
}

// --- requests that need more than copying arguments ---

json add_br_request(const Args& a) {
  json o = options(a.kvs, "add-br");
  json req{{"cmd", "add-br"}, {"bridge", a.bridge}, {"may_exist", a.may_exist}};
  if (o.contains("type")) {
    req["type"] = o["type"];
    o.erase("type");
  }
  req["options"] = o;
  return req;
}

json trace_request(const Args& a) {
  std::string in, flow;
  for (const auto& word : a.kvs) {
    std::stringstream ss(word);
    std::string f;
    while (std::getline(ss, f, ',')) {
      if (f.rfind("in_port=", 0) == 0) in = f.substr(8);
      else if (!f.empty()) flow += (flow.empty() ? "" : ",") + f;
    }
  }
  if (in.empty()) throw Failure{"trace: in_port=PORT is required", 2};
  return {{"cmd", "trace"}, {"bridge", a.bridge}, {"in_port", in}, {"flow", flow}};
}

// trace; with --draw also the picture of the frame's path (kvnetctl_draw.cc).
void run_trace(const Args& a) {
  const json req = trace_request(a);
  if (!a.draw_to.empty()) return draw_trace(a, req);
  json r = call(a, req);
  if (a.format == "json") {
    r.erase("text");
    std::cout << r.dump(2) << "\n";
  } else {
    std::cout << str(r, "text");
  }
}

json apply_request(const Args& a) {
  std::ifstream in(a.file);
  if (!in) throw Failure{a.file + ": cannot open: " + std::strerror(errno), 1};
  std::stringstream ss;
  ss << in.rdbuf();
  const auto abs = std::filesystem::absolute(a.file);
  json r = {{"cmd", "apply"}, {"yaml", ss.str()}, {"file", a.file}, {"base_dir", abs.parent_path().string()},
            {"dry_run", a.dry_run}};
  if (!a.host.empty()) r["host"] = a.host;
  return r;
}

// --- ovs-vsctl's lookups, answered from `show` ---

json show_of(const Args& a) { return call(a, {{"cmd", "show"}}); }

const json* bridge_in(const json& show, const std::string& name) {
  for (const auto& b : show["bridges"])
    if (b["name"] == name) return &b;
  return nullptr;
}

void run_list_ports(const Args& a) {
  const json r = show_of(a);
  const json* b = bridge_in(r, a.bridge);
  if (!b) throw Failure{"bridge '" + a.bridge + "' does not exist", 1};
  std::vector<std::string> names;
  // As ovs-vsctl: sorted, without the bridge's own port (an internal port
  // of the bridge's name, as `ovs-vsctl add-br` makes it).
  for (const auto& p : (*b)["ports"])
    if (p["name"] != a.bridge) names.push_back(p["name"].get<std::string>());
  std::sort(names.begin(), names.end());
  if (a.format == "json") std::cout << json(names).dump(2) << "\n";
  else
    for (const auto& n : names) std::cout << n << "\n";
}

void run_port_to_br(const Args& a) {
  const json r = show_of(a);
  for (const auto& b : r["bridges"])
    for (const auto& p : b["ports"])
      if (p["name"] == a.port) {
        if (a.format == "json") std::cout << json{{"port", a.port}, {"bridge", b["name"]}}.dump(2) << "\n";
        else std::cout << str(b, "name") << "\n";
        return;
      }
  throw Failure{"port '" + a.port + "' does not exist", 1};
}

// As ovs-vsctl: exit 0 if the bridge exists, 2 if not (and no message).
void run_br_exists(const Args& a) {
  const bool exists = bridge_in(show_of(a), a.bridge) != nullptr;
  if (a.format == "json") std::cout << json{{"bridge", a.bridge}, {"exists", exists}}.dump(2) << "\n";
  if (!exists) throw Failure{"", 2};
}

// --- bash completion, generated from the command line built from the verb
// table: verbs and group verbs, each one's options, and the live bridges and
// ports for the arguments named `bridge`, `port` and `record`. ---

const CLI::App* g_app = nullptr;  // set by main() before any verb runs

std::vector<const CLI::App*> subcommands_of(const CLI::App& a) {
  return a.get_subcommands([](const CLI::App*) { return true; });
}

std::string shell_words(const std::vector<std::string>& w) {
  std::string out;
  for (const auto& x : w) out += (out.empty() ? "" : " ") + x;
  return out;
}

void completion_cases(const CLI::App& a, const std::string& path, std::string& words, std::string& opts,
                      std::string& args) {
  std::vector<std::string> subs, flags, positionals;
  for (const CLI::App* s : subcommands_of(a)) subs.push_back(s->get_name());
  if (path.empty()) subs.push_back("help");
  for (const CLI::Option* o : a.get_options()) {
    if (o->nonpositional()) {
      for (const auto& l : o->get_lnames()) flags.push_back("--" + l);
    } else {
      positionals.push_back(o->get_name());
    }
  }
  flags.push_back("--help");
  words += fmt::format("    \"{}\") echo \"{}\" ;;\n", path, shell_words(subs));
  opts += fmt::format("    \"{}\") echo \"{}\" ;;\n", path, shell_words(flags));
  if (!positionals.empty()) args += fmt::format("    \"{}\") echo \"{}\" ;;\n", path, shell_words(positionals));
  for (const CLI::App* s : subcommands_of(a))
    completion_cases(*s, path.empty() ? s->get_name() : path + " " + s->get_name(), words, opts, args);
}

std::string completion_script(const CLI::App& app) {
  std::string words, opts, args;
  completion_cases(app, "", words, opts, args);
  return fmt::format(R"SH(# bash completion for kvnetctl, generated by `kvnetctl completion bash`
# from kvnetctl's verb table; install: ./run install (or source this file).
_kvnetctl_words() {{
  case "$1" in
{}  esac
}}
_kvnetctl_opts() {{
  case "$1" in
{}  esac
}}
# A verb's positional arguments, by name: bridge, port, record, table ...
_kvnetctl_args() {{
  case "$1" in
{}  esac
}}
_kvnetctl_bridges() {{ kvnetctl "${{_kvnetctl_sock[@]}}" list-br 2>/dev/null; }}
_kvnetctl_ports() {{
  local b
  for b in $(_kvnetctl_bridges); do kvnetctl "${{_kvnetctl_sock[@]}}" list-ports "$b" 2>/dev/null; done
}}
_kvnetctl() {{
  local cur=${{COMP_WORDS[COMP_CWORD]}} prev=${{COMP_WORDS[COMP_CWORD-1]}} path="" i w n=0
  _kvnetctl_sock=()
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=${{COMP_WORDS[i]}}
    case "$w" in
      --socket) _kvnetctl_sock=(--socket "${{COMP_WORDS[i+1]}}"); ((i++)) ;;
      --format|--timeout) ((i++)) ;;
      -*) ;;
      *)
        if ((n == 0)) && [[ " $(_kvnetctl_words "$path") " == *" $w "* ]]; then
          path="${{path:+$path }}$w"
        else
          ((n++))
        fi ;;
    esac
  done
  case "$prev" in
    --format) COMPREPLY=($(compgen -W "human json" -- "$cur")); return ;;
    --socket|-w|--file|-o) COMPREPLY=($(compgen -f -- "$cur")); return ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$(_kvnetctl_opts "$path")" -- "$cur"))
    return
  fi
  local names="" arg
  ((n == 0)) && names=$(_kvnetctl_words "$path")
  read -r -a arg <<<"$(_kvnetctl_args "$path")"
  case "${{arg[n]:-}}" in
    bridge) names+=" $(_kvnetctl_bridges)" ;;
    port|args) names+=" $(_kvnetctl_ports)" ;;
    record) names+=" $(_kvnetctl_bridges) $(_kvnetctl_ports)" ;;
    table) names+=" port bridge" ;;
  esac
  COMPREPLY=($(compgen -W "$names" -- "$cur"))
}}
complete -F _kvnetctl kvnetctl
)SH",
                     words, opts, args);
}

void run_completion(const Args& a) {
  if (a.name != "bash") throw Failure{"completion: only bash is supported (completion bash)", 2};
  std::cout << completion_script(*g_app);
}

// --- the verbs ---

const Verb kVerbs[] = {
    {"", "add-br", "add a bridge: add-br NAME [type=switch|learning|hub] [mac_aging=S] [mac_table_size=N]",
     [](CLI::App& c, Args& a) {
       c.add_option("bridge", a.bridge, "bridge name")->required();
       c.add_option("options", a.kvs, "KEY=VALUE settings");
       c.add_flag("--may-exist", a.may_exist, "no error if the bridge exists");
     },
     add_br_request, nullptr},
    {"", "del-br", "delete a bridge and its ports",
     [](CLI::App& c, Args& a) {
       c.add_option("bridge", a.bridge, "bridge name")->required();
       c.add_flag("--if-exists", a.if_exists, "no error if it does not exist");
       c.add_flag("--with-containers", a.with_containers, "also delete the containers plugged into it");
     },
     [](const Args& a) -> json {
       return {{"cmd", "del-br"}, {"bridge", a.bridge}, {"if_exists", a.if_exists}, {"with_containers", a.with_containers}};
     },
     nullptr},
    {"", "list-br", "list bridges", [](CLI::App&, Args&) {}, [](const Args&) -> json { return {{"cmd", "list-br"}}; },
     print_lines},
    {"", "list-ports", "the ports of a bridge, sorted: list-ports BR",
     [](CLI::App& c, Args& a) { c.add_option("bridge", a.bridge, "bridge")->required(); }, nullptr, nullptr, nullptr,
     run_list_ports},
    {"", "port-to-br", "the bridge a port is on: port-to-br PORT",
     [](CLI::App& c, Args& a) { c.add_option("port", a.port, "port")->required(); }, nullptr, nullptr, nullptr,
     run_port_to_br},
    {"", "br-exists", "exit 0 if the bridge exists, 2 if not: br-exists BR",
     [](CLI::App& c, Args& a) { c.add_option("bridge", a.bridge, "bridge")->required(); }, nullptr, nullptr, nullptr,
     run_br_exists},
    {"", "add-port",
     "add a port: add-port BR PORT [type=KIND] [KIND's keys] [vlan_mode=.. pvid=.. allowed=.. tagged=.. "
     "untagged=..] [mtu=..]",
     [](CLI::App& c, Args& a) {
       c.add_option("bridge", a.bridge, "bridge")->required();
       c.add_option("port", a.port, "port name (for system ports: the kernel interface)")->required();
       c.add_option("options", a.kvs, "KEY=VALUE settings");
       c.add_flag("--may-exist", a.may_exist, "no error if the port exists on this bridge");
     },
     [](const Args& a) -> json {
       return {{"cmd", "add-port"}, {"bridge", a.bridge}, {"port", a.port}, {"options", options(a.kvs, "add-port")},
               {"may_exist", a.may_exist}};
     },
     nullptr},
    {"", "del-port", "delete a port: del-port [BR] PORT",
     [](CLI::App& c, Args& a) {
       c.add_option("args", a.del_args, "[BR] PORT")->required()->expected(1, 2);
       c.add_flag("--if-exists", a.if_exists, "no error if it does not exist");
     },
     [](const Args& a) -> json {
       json req{{"cmd", "del-port"}, {"port", a.del_args.back()}, {"if_exists", a.if_exists}};
       if (a.del_args.size() == 2) req["bridge"] = a.del_args[0];
       return req;
     },
     nullptr},
    {"", "set", "set port PORT KEY=VALUE... | set bridge BR mac_aging=S mac_table_size=N conntrack_max=N conntrack_timeouts=NAME:S,...",
     [](CLI::App& c, Args& a) {
       c.add_option("table", a.table, "port | bridge")->required()->check(CLI::IsMember({"port", "bridge"}));
       c.add_option("record", a.name, "port or bridge name")->required();
       c.add_option("options", a.kvs, "KEY=VALUE (an empty VALUE removes the key)")->required();
     },
     [](const Args& a) -> json {
       return {{"cmd", a.table == "port" ? "set-port" : "set-bridge"}, {a.table, a.name}, {"options", options(a.kvs, "set")}};
     },
     nullptr},
    {"", "get", "one setting of a port or bridge, as ovs-vsctl get: get port|bridge NAME KEY",
     [](CLI::App& c, Args& a) {
       c.add_option("table", a.table, "port | bridge")->required()->check(CLI::IsMember({"port", "bridge"}));
       c.add_option("record", a.name, "port or bridge name")->required();
       c.add_option("key", a.key, "a key as show and export name it (pvid, vlan_mode, mtu, peer, mac_aging ...)")
           ->required();
     },
     [](const Args& a) -> json { return {{"cmd", "get"}, {"table", a.table}, {"name", a.name}, {"key", a.key}}; },
     [](const json& r, const Args&) { std::cout << str(r, "value") << "\n"; }},
    {"", "show", "the configuration as a tree, like ovs-vsctl show", [](CLI::App&, Args&) {},
     [](const Args&) -> json { return {{"cmd", "show"}}; }, print_show},
    {"", "add-flow", "add a flow to a switch's OpenFlow tables, in ovs-ofctl's syntax: add-flow BR FLOW",
     [](CLI::App& c, Args& a) {
       c.add_option("bridge", a.bridge, "switch")->required();
       c.add_option("flow", a.flow, "e.g. priority=4,in_port=p1,dl_vlan=1,actions=mod_vlan_vid:101,NORMAL")->required();
     },
     [](const Args& a) -> json { return {{"cmd", "add-flow"}, {"bridge", a.bridge}, {"flow", a.flow}}; }, nullptr},
    {"", "add-flows", "add the flows of FILE, one per line (# starts a comment; - reads stdin), all or none: add-flows BR FILE",
     [](CLI::App& c, Args& a) {
       c.add_option("bridge", a.bridge, "switch")->required();
       c.add_option("file", a.file, "flows file, or - for stdin")->required();
     },
     [](const Args& a) -> json {
       std::ifstream f;
       if (a.file != "-") {
         f.open(a.file);
         if (!f) throw Failure{"add-flows: cannot read '" + a.file + "'", 1};
       }
       std::istream& in = a.file == "-" ? std::cin : f;
       json flows = json::array();
       for (std::string line; std::getline(in, line);) {
         const auto start = line.find_first_not_of(" \t");
         if (start == std::string::npos || line[start] == '#') continue;
         flows.push_back(line.substr(start));
       }
       if (flows.empty()) throw Failure{"add-flows: '" + a.file + "' holds no flow", 1};
       return {{"cmd", "add-flow"}, {"bridge", a.bridge}, {"flows", flows}};
     },
     nullptr},
    {"", "mod-flows", "give the flows FLOW selects its actions: mod-flows BR FLOW [--strict]",
     [](CLI::App& c, Args& a) {
       c.add_option("bridge", a.bridge, "switch")->required();
       c.add_option("flow", a.flow, "a match and actions=...")->required();
       c.add_flag("--strict", a.strict, "only the flow of exactly this match and priority");
     },
     [](const Args& a) -> json {
       return {{"cmd", "mod-flows"}, {"bridge", a.bridge}, {"flow", a.flow}, {"strict", a.strict}};
     },
     nullptr},
    {"", "del-flows", "delete the flows FLOW selects (every flow without FLOW): del-flows BR [FLOW] [--strict]",
     [](CLI::App& c, Args& a) {
       c.add_option("bridge", a.bridge, "switch")->required();
       c.add_option("flow", a.flow, "a match (cookie=V/M, out_port=P, table=T too)");
       c.add_flag("--strict", a.strict, "only the flow of exactly this match and priority");
     },
     [](const Args& a) -> json {
       return {{"cmd", "del-flows"}, {"bridge", a.bridge}, {"flow", a.flow}, {"strict", a.strict}};
     },
     nullptr},
    {"", "dump-flows", "a switch's flows with their counters, as ovs-ofctl dump-flows: dump-flows BR [FLOW]",
     [](CLI::App& c, Args& a) {
       c.add_option("bridge", a.bridge, "switch")->required();
       c.add_option("flow", a.flow, "only the flows this match selects");
     },
     [](const Args& a) -> json { return {{"cmd", "dump-flows"}, {"bridge", a.bridge}, {"flow", a.flow}}; },
     [](const json& r, const Args&) {
       for (const auto& f : r) std::cout << f["line"].get<std::string>() << "\n";
     }},
    {"", "fdb-show", "the MAC table of a bridge",
     [](CLI::App& c, Args& a) { c.add_option("bridge", a.bridge, "bridge")->required(); },
     [](const Args& a) -> json { return {{"cmd", "fdb-show"}, {"bridge", a.bridge}}; }, print_fdb},
    {"", "fdb-flush", "forget every learned MAC of a bridge (static entries stay)",
     [](CLI::App& c, Args& a) { c.add_option("bridge", a.bridge, "bridge")->required(); },
     [](const Args& a) -> json { return {{"cmd", "fdb-flush"}, {"bridge", a.bridge}}; },
     [](const json& r, const Args&) { std::cout << "flushed " << r["flushed"] << " entries\n"; }},
    {"", "fdb-add",
     "add a static entry: fdb-add BR VLAN MAC PORT [remote_ip=ADDR] (VLAN 0 on learning bridges; remote_ip: the "
     "remote VTEP behind MAC, for tunnel ports)",
     [](CLI::App& c, Args& a) {
       c.add_option("bridge", a.bridge)->required();
       c.add_option("vlan", a.vlan)->required()->check(CLI::Range(0, 4094));
       c.add_option("mac", a.mac)->required();
       c.add_option("port", a.port)->required();
       c.add_option("options", a.kvs, "remote_ip=ADDR");
     },
     [](const Args& a) -> json {
       json r = {{"cmd", "fdb-add"}, {"bridge", a.bridge}, {"vlan", a.vlan}, {"mac", a.mac}, {"port", a.port}};
       const json o = options(a.kvs, "fdb-add");
       for (auto it = o.begin(); it != o.end(); ++it) {
         if (it.key() != "remote_ip") throw Failure{"fdb-add: unknown option '" + it.key() + "' (remote_ip=ADDR)", 2};
         r["remote_ip"] = *it;
       }
       return r;
     },
     nullptr},
    {"", "fdb-del", "delete a static entry: fdb-del BR VLAN MAC",
     [](CLI::App& c, Args& a) {
       c.add_option("bridge", a.bridge)->required();
       c.add_option("vlan", a.vlan)->required()->check(CLI::Range(0, 4094));
       c.add_option("mac", a.mac)->required();
     },
     [](const Args& a) -> json { return {{"cmd", "fdb-del"}, {"bridge", a.bridge}, {"vlan", a.vlan}, {"mac", a.mac}}; },
     nullptr},
    {"", "stats", "per-port counters and drop reasons; --watch: rates per second; --clear: reset them",
     declare_stats, nullptr, nullptr, nullptr, run_stats},
    {"", "pipeline", "each bridge's pipeline stages, in frame order, with their counters",
     [](CLI::App& c, Args& a) { c.add_option("bridge", a.bridge, "only this bridge"); },
     [](const Args& a) -> json { return {{"cmd", "pipeline"}, {"bridge", a.bridge}}; }, print_pipeline},
    {"", "trace",
     "trace BR in_port=PORT FIELD=VALUE...: one frame through the live switch (nothing is sent or learned)",
     [](CLI::App& c, Args& a) {
       c.add_option("bridge", a.bridge)->required();
       c.add_option("fields", a.kvs, "in_port=PORT and OVS flow fields (dl_src=.. dl_dst=.. dl_vlan=.. arp ...)")
           ->required();
       c.add_option("--draw", a.draw_to, "also draw the topology with the frame's path: FILE.svg|.png|.dot");
     },
     nullptr, nullptr, nullptr, run_trace},
    {"", "apply",
     "make the configuration equal to a topology file (only the difference is applied, in one transaction)",
     [](CLI::App& c, Args& a) {
       c.add_option("file", a.file, "topology YAML")->required();
       c.add_flag("--dry-run", a.dry_run, "print the plan, change nothing");
       c.add_option("--host", a.host, "a file with a 'hosts:' section: the host to apply");
     },
     apply_request, print_apply},
    {"", "kinds", "the port kinds, what each is for, and its own option keys", [](CLI::App&, Args&) {},
     [](const Args&) -> json { return {{"cmd", "kinds"}}; }, print_kinds},
    {"", "export", "the configuration as a topology file that apply accepts", [](CLI::App&, Args&) {},
     [](const Args&) -> json { return {{"cmd", "export"}}; },
     [](const json& r, const Args&) { std::cout << str(r, "yaml"); }},
    {"", "completion", "print a bash completion script (completion bash), generated from the verbs",
     [](CLI::App& c, Args& a) { c.add_option("shell", a.name, "bash")->required(); }, nullptr, nullptr, nullptr,
     run_completion},
};

const std::map<std::string, const char*> kGroups = {
    {"ct", "containers: network namespaces with a veth into a bridge"},
    {"vm", "virtual machines: QEMU guests whose NICs are ports of the switch"},
    {"sg", "security groups: stateful allow rules for the ports that use them"},
    {"conntrack", "the firewalls' connection tracking tables"},
    {"gw", "NAT gateway networks: an internal port with NAT (nftables), DHCP and DNS (dnsmasq)"},
    {"cluster", "the cluster on etcd this host belongs to: the store and the hosts"},
    {"network", "cluster-wide networks: a VNI, a subnet and an MTU for ports on any host"},
    {"image", "the image store: base images for VMs' disks"},
    {"fastpath", "the kernel fast path: eBPF programs that forward established flows without leaving the kernel"},
    {"mirror", "port mirrors (SPAN/RSPAN, OVS's Mirror table): copies of selected traffic to a port or a VLAN"}};

void run_verb(const Verb& v, const Args& a) {
  if (v.run) return v.run(a);
  json r = call(a, v.request(a));
  // What kvnetd accepted but warns about (ctl/warnings.h); JSON keeps them in the result.
  if (a.format != "json" && r.is_object() && r.contains("warnings") && r["warnings"].is_array())
    for (const auto& w : r["warnings"])
      if (w.is_string()) std::cerr << "kvnetctl: warning: " << w.get<std::string>() << "\n";
  if (a.format == "json") {
    if (v.json_view) v.json_view(r);
    std::cout << r.dump(2) << "\n";
  } else if (v.human) {
    v.human(r, a);
  }
}

// The command line from the table; `chosen` is set to the verb given.
void build_cli(CLI::App& app, Args& a, const Verb*& chosen) {
  app.require_subcommand(1);
  app.add_option("--socket", a.socket, "kvnetd's API socket (env KVNET_SOCKET)")->capture_default_str();
  app.add_option("--format", a.format, "output format")->check(CLI::IsMember({"human", "json"}))->capture_default_str();
  app.set_version_flag("--version", "kvnetctl 0.1.0");
  app.footer(
      "ovs-vsctl's own command lines are taken too, run by kvnetd as one change and printed as ovs-vsctl prints:\n"
      "  kvnetctl -- --may-exist add-br br-int -- add-port br-int vnet0 tag=10 -- set Interface vnet0 "
      "external-ids:iface-id=X\n"
      "  kvnetctl list Interface vnet0;  kvnetctl --bare --columns=name find Port tag=10;  kvnetctl get Port vnet0 tag\n"
      "(docs/ovs-compat.md lists what is taken).");
  app.add_option("--timeout", a.api_timeout, "seconds to wait for kvnetd's answer (default 60)")
      ->check(CLI::PositiveNumber);
  app.fallthrough();
  std::map<std::string, CLI::App*> groups;
  std::vector<const Verb*> all;
  for (const Verb& v : kVerbs) all.push_back(&v);
  for (const Verb& v : ct_verbs()) all.push_back(&v);
  for (const Verb& v : vm_verbs()) all.push_back(&v);
  for (const Verb& v : sg_verbs()) all.push_back(&v);
  for (const Verb& v : gw_verbs()) all.push_back(&v);
  for (const Verb& v : draw_verbs()) all.push_back(&v);
  for (const Verb& v : mirror_verbs()) all.push_back(&v);
  for (const Verb& v : capture_verbs()) all.push_back(&v);
  for (const Verb& v : cluster_verbs()) all.push_back(&v);
  for (const Verb& v : network_verbs()) all.push_back(&v);
  for (const Verb& v : image_verbs()) all.push_back(&v);
  for (const Verb& v : fastpath_verbs()) all.push_back(&v);
  for (const Verb* vp : all) {
    const Verb& v = *vp;
    CLI::App* parent = &app;
    if (*v.group) {
      auto& g = groups[v.group];
      if (!g) {
        g = app.add_subcommand(v.group, kGroups.at(v.group));
        g->require_subcommand(1);
      }
      parent = g;
    }
    CLI::App* cmd = parent->add_subcommand(v.name, v.help);
    v.declare(*cmd, a);
    if (std::string_view(v.name) == "add-port") {  // the kinds come from their table, not from this text
      std::string kinds = "Port types (type=..., default system):\n";
      for (const kvnet::ctl::PortKind* k : kvnet::ctl::port_kinds()) {
        kinds += fmt::format("  {:<9} {}\n", k->name(), k->summary());
        for (const auto& key : k->keys()) kinds += fmt::format("  {:<9}   {}: {}\n", "", key.key, key.help);
      }
      cmd->footer(kinds);
    }
    cmd->callback([&chosen, &v] { chosen = &v; });
  }
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// The first word of argv[from..] that is not an option of `app` (or its
// value); "" if none. Sets `at` to its index.
std::string first_word(const CLI::App& app, int argc, char** argv, int from, int& at) {
  for (int i = from; i < argc; ++i) {
    const std::string w = argv[i];
    if (w.empty() || w[0] != '-') {
      at = i;
      return w;
    }
    // An option that takes a value as the next word (--socket PATH).
    if (w.find('=') == std::string::npos) {
      const CLI::Option* o = nullptr;
      try {
        o = app.get_option_no_throw(w);
      } catch (...) {
      }
      if (o && o->get_type_size() != 0) ++i;
    }
  }
  return "";
}

// "unknown command 'list-port'; did you mean 'list-ports'?", for a verb (or
// a group's verb) that does not exist; "" when the words are known. CLI11
// would only say that a subcommand is required.
std::string unknown_verb(const CLI::App& app, int argc, char** argv) {
  const CLI::App* level = &app;
  int at = 0;
  std::string prefix;
  for (int from = 1;; from = at + 1) {
    const std::string w = first_word(*level, argc, argv, from, at);
    if (w.empty() || (level == &app && w == "help")) return "";
    std::vector<std::string> names;
    const CLI::App* next = nullptr;
    for (const CLI::App* sub : level->get_subcommands([](const CLI::App*) { return true; })) {
      names.push_back(sub->get_name());
      if (sub->get_name() == w) next = sub;
    }
    if (level == &app) names.push_back("help");
    if (std::find(names.begin(), names.end(), w) == names.end()) {
      std::string best;
      size_t best_d = SIZE_MAX;
      for (const auto& n : names)
        if (const size_t d = edit_distance(w, n); d < best_d) best_d = d, best = n;
      std::string msg = "unknown command '" + prefix + w + "'";
      if (best_d <= std::max<size_t>(2, w.size() / 3)) msg += "; did you mean '" + prefix + best + "'?";
      return msg + " (kvnetctl " + (prefix.empty() ? "" : prefix) + "--help lists them)";
    }
    if (!next || next->get_subcommands([](const CLI::App*) { return true; }).empty()) return "";
    level = next;
    prefix += w + " ";
  }
}

// ovs-vsctl's command-line forms (ovsdb/vsctl.h), run by kvnetd's `vsctl`
// verb as one change: `--` chains, ovs-vsctl's global options, its database
// commands (list, find, get/set/clear/add/remove on Bridge, Port, Interface),
// verbs kvnetctl does not have. kvnetctl's own verbs keep their meaning:
// `set port P pvid=10`, `get bridge B mac_aging`.
constexpr const char* kVsctlOnly[] = {"list", "find", "clear", "add", "remove", "list-ifaces", "iface-to-br"};
constexpr const char* kVsctlVerbs[] = {"add-br",     "del-br",     "list-br", "add-port", "del-port",
                                       "list-ports", "port-to-br", "br-exists", "set",      "get"};
constexpr const char* kVsctlOptions[] = {"--may-exist", "--if-exists", "--bare", "--no-wait", "--wait", "--oneline",
                                         "--dry-run"};

std::optional<int> run_vsctl_form(int argc, char** argv, Args& a) {
  std::vector<std::string> rest;
  for (int i = 1; i < argc; ++i) {
    const std::string w = argv[i];
    auto value = [&](const char* name, std::string& into) {
      const std::string n = name;
      if (w == n && i + 1 < argc) {
        into = argv[++i];
        return true;
      }
      if (w.starts_with(n + "=")) {
        into = w.substr(n.size() + 1);
        return true;
      }
      return false;
    };
    std::string t;
    if (rest.empty() && (value("--socket", a.socket) || value("--format", a.format))) continue;
    if (rest.empty() && value("--timeout", t)) {
      try {
        a.api_timeout = std::stod(t);
      } catch (...) {
        return std::nullopt;  // CLI11 says what is wrong
      }
      continue;
    }
    rest.push_back(w);
  }
  if (rest.empty()) return std::nullopt;
  auto in = [](const std::string& w, const auto& list) { return std::find(std::begin(list), std::end(list), w) != std::end(list); };
  const std::string& first = rest[0];
  bool vsctl = first == "--" || in(first, kVsctlOptions) || first.starts_with("--columns=") || first.starts_with("--db=") ||
               in(first, kVsctlOnly);
  if (!vsctl && (first == "set" || first == "get") && rest.size() > 1) {
    const std::string& table = rest[1];
    vsctl = table == "Bridge" || table == "Port" || table == "Interface" || table == "interface" ||
            table == "Open_vSwitch" || table == "open_vswitch" || table == "Mirror" || table == "mirror";
  }
  if (!vsctl && in(first, kVsctlVerbs)) vsctl = std::find(rest.begin(), rest.end(), "--") != rest.end();
  if (!vsctl) return std::nullopt;
  if (a.format != "human" && a.format != "json") throw Failure{"--format: '" + a.format + "' is not human or json", 2};
  const json r = call(a, json{{"cmd", "vsctl"}, {"args", rest}});
  if (a.format == "json") std::cout << r.dump(2) << "\n";
  else std::cout << r.value("output", std::string());
  return r.value("exit_code", 0);
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (const char* s = std::getenv("KVNET_SOCKET"); s && *s) args.socket = s;
  CLI::App app{"kvnetctl: configure and inspect kvnetd (verbs follow ovs-vsctl)", "kvnetctl"};
  const Verb* chosen = nullptr;
  build_cli(app, args, chosen);
  g_app = &app;
  try {
    if (auto code = run_vsctl_form(argc, argv, args)) return *code;
  } catch (const Failure& f) {
    if (args.format == "json") std::cerr << json{{"error", f.msg}, {"exit", f.code}}.dump() << "\n";
    else std::cerr << "kvnetctl: " << f.msg << "\n";
    return f.code;
  }
  if (const std::string bad = unknown_verb(app, argc, argv); !bad.empty()) {
    std::cerr << "kvnetctl: " << bad << "\n";
    return 2;
  }
  int help_at = 0;
  if (first_word(app, argc, argv, 1, help_at) == "help") {  // as --help
    std::cout << app.help();
    return 0;
  }
  try {
    app.parse(argc, argv);
    if (chosen) run_verb(*chosen, args);
  } catch (const CLI::ParseError& e) {
    return kvnet::app::report_cli_error(app, e);
  } catch (const Failure& f) {
    // empty: the exit status says it all
    if (!f.msg.empty()) {
      if (args.format == "json") std::cerr << json{{"error", f.msg}, {"exit", f.code}}.dump() << "\n";
      else std::cerr << "kvnetctl: " << f.msg << "\n";
    }
    return f.code;
  } catch (const std::exception& e) {
    if (args.format == "json") std::cerr << json{{"error", e.what()}, {"exit", 1}}.dump() << "\n";
    else std::cerr << "kvnetctl: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
