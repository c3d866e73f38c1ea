// Port kinds: the registry, and each kind's options through parse, emit and
// compare, as the topology file, export and the plan use them.
#include "ctl/kinds/kind.h"

#include <gtest/gtest.h>

#include "ctl/kinds/patch.h"
#include "ctl/kinds/pcap.h"
#include "ctl/kinds/tap.h"
#include "ctl/topology.h"

namespace kvnet::ctl {
namespace {

TEST(PortKinds, TableListsEveryKindOnce) {
  EXPECT_EQ(port_kind_names(), "pcap, patch, tap, system, internal, vxlan, geneve, gre");
  for (const PortKind* k : port_kinds()) {
    EXPECT_EQ(find_port_kind(k->name()), k);
    EXPECT_FALSE(k->summary().empty()) << k->name();
  }
  EXPECT_EQ(find_port_kind("wormhole"), nullptr);
  EXPECT_TRUE(find_port_kind("patch")->is_patch());
  EXPECT_TRUE(find_port_kind("patch")->tag().patch);
  EXPECT_FALSE(find_port_kind("tap")->tag().patch);
  EXPECT_TRUE(find_port_kind("system")->container_port());
  EXPECT_TRUE(find_port_kind("pcap")->offline());
  EXPECT_FALSE(find_port_kind("tap")->offline());
}

BridgeSpec switch_bridge() {
  BridgeSpec b;
  b.name = "b";
  return b;
}

TEST(PortKinds, OptionsRoundTripThroughSettings) {
  const BridgeSpec b = switch_bridge();
  for (const Settings& s : std::vector<Settings>{{{"type", "pcap"}, {"rx", "/x/in.pcap"}, {"tx", "/x/out.pcap"}},
                                                 {{"type", "patch"}, {"peer", "c/q"}},
                                                 {{"type", "tap"}, {"persistent", "true"}},
                                                 {{"type", "internal"}},
                                                 {{"type", "system"}}}) {
    auto p = make_port(b, "p", s);
    ASSERT_TRUE(p.ok()) << p.error().message;
    // What the kind writes back parses to the same port.
    auto again = parse_port(b, port_to_yaml(*p, b.type));
    ASSERT_TRUE(again.ok()) << again.error().message;
    EXPECT_EQ(port_fields(*again, b.type), port_fields(*p, b.type));
    EXPECT_TRUE(p->kind->same_backend(*p->options, *again->options));
  }
}

TEST(PortKinds, TypedOptions) {
  const BridgeSpec b = switch_bridge();
  auto tap = make_port(b, "v0", {{"type", "tap"}, {"persistent", "yes"}});
  ASSERT_TRUE(tap.ok());
  ASSERT_NE(tap->as<TapOptions>(), nullptr);
  EXPECT_TRUE(tap->as<TapOptions>()->persistent);
  EXPECT_EQ(tap->as<PcapOptions>(), nullptr);
  auto patch = make_port(b, "x", {{"type", "patch"}, {"peer", "c/q"}});
  ASSERT_TRUE(patch.ok());
  EXPECT_EQ(patch->as<PatchOptions>()->peer_bridge, "c");
  EXPECT_EQ(patch->as<PatchOptions>()->peer_port, "q");
  auto other = make_port(b, "x", {{"type", "patch"}, {"peer", "c/r"}});
  EXPECT_FALSE(patch->kind->same_backend(*patch->options, *other->options));
}

TEST(PortKinds, KeysOfOtherKindsAreNamed) {
  const BridgeSpec b = switch_bridge();
  EXPECT_EQ(make_port(b, "p", {{"type", "system"}, {"persistent", "true"}}).error().message,
            "bridge 'b': port 'p': 'persistent' applies to tap ports only");
  EXPECT_EQ(make_port(b, "p", {{"type", "tap"}, {"peer", "c/q"}}).error().message,
            "bridge 'b': port 'p': 'peer' applies to patch ports only");
  EXPECT_NE(make_port(b, "p", {{"type", "tap"}, {"speed", "10G"}}).error().message.find("unknown key 'speed'"),
            std::string::npos);
  EXPECT_EQ(make_port(b, "p", {{"type", "tap"}, {"persistent", "maybe"}}).error().message,
            "bridge 'b': port 'p': persistent 'maybe' must be true or false");
}

TEST(PortKinds, DefaultKindIsSystemAsInOvsVsctl) {
  auto p = make_port(switch_bridge(), "eth9", {});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->kind->name(), "system");
}

TEST(PortKinds, UpdateKeepsOtherSettingsAndDropsListsOfOtherModes) {
  const BridgeSpec b = switch_bridge();
  auto p = make_port(b, "p", {{"type", "tap"}, {"persistent", "true"}, {"vlan_mode", "trunk"}, {"allowed", "10,20"}});
  ASSERT_TRUE(p.ok());
  auto q = update_port(b, *p, {{"vlan_mode", "access"}, {"pvid", "20"}});
  ASSERT_TRUE(q.ok()) << q.error().message;
  EXPECT_TRUE(q->as<TapOptions>()->persistent);
  EXPECT_FALSE(q->vlan.allowed.has_value());
  EXPECT_EQ(q->vlan.pvid, 20);
  auto r = update_port(b, *q, {{"persistent", ""}});  // an empty value removes the key
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->as<TapOptions>()->persistent);
}

}  // namespace
}  // namespace kvnet::ctl
