// The API's verbs come from one table per object type (daemon/verbs.h),
// concatenated by Service::commands(): every verb once, with its flags.
#include "daemon/verbs.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "daemon/service.h"

namespace kvnet::daemon {
namespace {

TEST(Verbs, EveryVerbIsListedOnceWithItsFlags) {
  std::map<std::string, std::pair<bool, bool>> seen;  // name -> (changes_config, changes_state)
  for (const Verb& v : Service::commands()) {
    EXPECT_TRUE(seen.emplace(v.name, std::make_pair(v.changes_config, v.changes_state)).second) << v.name << " twice";
    EXPECT_NE(v.handler, nullptr) << v.name;
  }
  const std::set<std::string> all = {
      "ping", "add-br", "del-br", "list-br", "add-port", "del-port", "set-port", "set-bridge", "fdb-add", "fdb-del",
      "fdb-show", "fdb-flush", "show", "get", "stats", "stats-clear", "pipeline", "trace", "draw", "apply", "export",
      "ct-add", "ct-del", "ct-list", "kinds", "sg-add", "sg-del", "sg-rule-add", "sg-rule-del", "sg-list", "sg-show",
      "conntrack-list", "conntrack-flush", "vm-add", "vm-del", "vm-start", "vm-stop", "vm-kill", "vm-restart", "vm-list",
      "vm-show", "vm-console", "gw-add", "gw-del", "gw-list", "gw-show", "mirror-add", "mirror-del", "mirror-list",
      "cluster-status", "cluster-hosts", "network-add", "network-del", "network-list", "network-show",
      "image-import", "image-list", "image-show", "image-del", "vm-migrate", "vm-migration", "vm-exec", "vm-exec-status",
      "fastpath-show", "fastpath-dump", "fastpath-flush", "vsctl", "add-flow",
      "mod-flows", "del-flows", "dump-flows"};
  std::set<std::string> names;
  for (const auto& [n, f] : seen) names.insert(n);
  EXPECT_EQ(names, all);
  // Configuration changes, and changes of what runs (logged as changes too).
  for (const char* n : {"add-br", "set-port", "fdb-add", "apply", "ct-add", "sg-rule-del", "vm-add", "gw-del", "mirror-add",
                        "vsctl"})
    EXPECT_EQ(seen[n], std::make_pair(true, false)) << n;
  for (const char* n : {"fdb-flush", "stats-clear", "conntrack-flush", "vm-start", "vm-stop", "vm-kill", "vm-restart",
                        "image-import", "image-del", "vm-migrate", "vm-exec", "fastpath-flush", "add-flow", "mod-flows",
                        "del-flows"})
    EXPECT_EQ(seen[n], std::make_pair(false, true)) << n;
  for (const char* n : {"ping", "show", "get", "stats", "trace", "draw", "export", "kinds", "sg-show", "gw-list", "mirror-list", "cluster-status", "cluster-hosts",
                        "image-list", "image-show", "vm-migration", "vm-exec-status", "fastpath-show", "fastpath-dump",
                        "dump-flows"})
    EXPECT_EQ(seen[n], std::make_pair(false, false)) << n;
}

}  // namespace
}  // namespace kvnet::daemon
