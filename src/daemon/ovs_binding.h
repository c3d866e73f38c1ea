// The Open_vSwitch database as a view of kvnetd's configuration, both ways
// (`kvnetd --ovsdb`, docs/ovs-compat.md):
//
//   configuration -> rows   every change, whichever front end made it
//                           (kvnetctl, apply, the cluster, an OVSDB client),
//                           becomes rows of Bridge, Port, Interface and
//                           Mirror, published to every monitor; the live
//                           switch's facts (ofport, mac_in_use, link_state,
//                           admin_state, statistics, error) follow, and are
//                           refreshed every few seconds (refresh()).
//   transaction -> change   a transaction that changes Bridge, Port or
//                           Interface rows is translated into the next
//                           configuration and applied as one change before
//                           it commits; kvnet's refusal is the transaction's
//                           error ("kvnet error", its message as details).
//
// Port mapping: a kvnet port is an OVS Port with one Interface of its name.
//   Interface.type     ""/system, internal, tap, patch, vxlan, geneve, gre
//                      (and kvnet's own kinds by name: pcap)
//   Interface.options  the kind's keys; OVS's names where they differ
//                      (patch peer=PORT, a tunnel's key=VNI)
//   Port.tag/trunks/vlan_mode/cvlans   the port's VLAN settings (below)
//   Interface.external_ids             the port's external_ids (stored)
//   Interface.mtu_request              the port's mtu
// Columns kvnet has no meaning for (Port.external_ids, other_config,
// Bridge.fail_mode, protocols ...) keep what clients write, until kvnetd
// stops.
//
// VLANs: OVS's port without tag, trunks or vlan_mode carries every VLAN
// and untagged frames in VLAN 0; its kvnet equivalent is native-untagged
// with pvid 1 (untagged frames in VLAN 1) allowing 1-4094.
//
// Thread-safety: the control loop only.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "base/result.h"
#include "ctl/plan.h"
#include "ctl/topology.h"
#include "io/dp_commands.h"
#include "io/netdev.h"
#include "ovsdb/server.h"

namespace kvnet::daemon {

class OvsBinding {
 public:
  struct Source {
    std::function<const ctl::Topology&()> config;
    // Applies a whole next configuration as one change (Service::change).
    std::function<Result<ctl::Plan>(const ctl::Topology&)> change;
    // The live switch: each port's datapath id and counters; the ports
    // configured without a device, and why.
    std::function<std::vector<io::PortCountersRow>()> counters;
    std::function<std::map<std::string, std::string>()> detached;
    std::string version;  // kvnetd's, for Open_vSwitch's system_version
  };

  explicit OvsBinding(Source src);
  OvsBinding(const OvsBinding&) = delete;
  OvsBinding& operator=(const OvsBinding&) = delete;

  ovsdb::Server& server() { return server_; }
  // Whether changes made by OVSDB clients are logged (not those of the API's
  // vsctl verb, which the API's log has).
  void set_logging(bool on) { log_ = on; }
  // The plan lines of the last change a transaction made ("+ port br0/p1").
  const std::vector<std::string>& last_changes() const { return last_changes_; }

  // The configuration changed: rows follow it and monitors see the change.
  // Called from Service::on_changed; a transaction's own change is synced
  // once it has committed.
  void sync() { sync(false); }
  // The live facts (statistics, link state, each kernel interface's MAC,
  // MTU, flags), without a configuration change.
  void refresh() { sync(true); }

 private:
  void sync(bool refresh_all);
  Status validate(const ovsdb::Database& next, const ovsdb::Changes& changes);

  Source src_;
  ovsdb::Server server_;
  bool in_txn_ = false;
  bool log_ = true;
  std::string comment_;  // the transaction's "comment" operation, if any
  std::vector<std::string> last_changes_;
  // Each port's canonical settings when its rows were last made: a port
  // whose settings did not change keeps the columns as a client wrote them.
  std::map<std::string, ctl::Fields> made_;
  std::map<std::string, std::optional<io::IfFacts>> facts_;  // kernel ports' facts, as last read
};

// --- the mapping, for the binding and its tests ---

// A port's VLAN settings as Port columns (tag, trunks, vlan_mode, cvlans,
// other_config:qinq-ethtype), and the settings (ctl::Settings, as
// make_port takes them) that Port columns stand for.
struct OvsVlanColumns {
  std::optional<int64_t> tag;
  std::vector<int64_t> trunks;
  std::string vlan_mode;  // "" none
  std::vector<int64_t> cvlans;
  std::string qinq_ethtype;  // "" default (802.1ad)
  bool operator==(const OvsVlanColumns&) const = default;
};
OvsVlanColumns vlan_columns(const dp::VlanConfig& v);
Result<ctl::Settings> vlan_settings(const OvsVlanColumns& c);

}  // namespace kvnet::daemon
