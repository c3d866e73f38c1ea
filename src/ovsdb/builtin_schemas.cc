// The two databases kvnetd serves, in ovsdb/schema.h's compact notation.
//
// Open_vSwitch follows the schema of Open vSwitch 3.1 (Debian 12's
// openvswitch-common; its version 8.3.1): the clients' IDL compares the
// server's schema with the one they were built with and warns about every
// table or column it lacks, so all are here, with their types. A unit test
// (tests/unit/ovsdb/schema_test.cc) checks this against the schema file of
// the installed openvswitch-common, column by column.
#include <cstdlib>

#include "base/log.h"
#include "ovsdb/schema.h"

namespace kvnet::ovsdb {

namespace {

constexpr std::string_view kVswitch = R"(
database Open_vSwitch 8.3.1
table Open_vSwitch root maxRows=1
  datapaths map<string,uuid->Datapath>
  bridges uuid->Bridge 0..*
  manager_options uuid->Manager 0..*
  ssl uuid->SSL 0..1
  other_config map<string,string>
  external_ids map<string,string>
  next_cfg integer
  cur_cfg integer
  statistics map<string,string> ephemeral
  ovs_version string 0..1
  db_version string 0..1
  system_type string 0..1
  system_version string 0..1
  datapath_types string 0..*
  iface_types string 0..*
  dpdk_initialized boolean
  dpdk_version string 0..1
table Bridge index=name
  name string immutable
  datapath_type string
  datapath_version string
  datapath_id string 0..1 ephemeral
  stp_enable boolean
  rstp_enable boolean
  mcast_snooping_enable boolean
  ports uuid->Port 0..*
  mirrors uuid->Mirror 0..*
  netflow uuid->NetFlow 0..1
  sflow uuid->sFlow 0..1
  ipfix uuid->IPFIX 0..1
  controller uuid->Controller 0..*
  protocols string{OpenFlow10|OpenFlow11|OpenFlow12|OpenFlow13|OpenFlow14|OpenFlow15} 0..*
  fail_mode string{standalone|secure} 0..1
  status map<string,string> ephemeral
  rstp_status map<string,string> ephemeral
  other_config map<string,string>
  external_ids map<string,string>
  flood_vlans integer[0..4095] 0..4096
  flow_tables map<integer[0..254],uuid->Flow_Table>
  auto_attach uuid->AutoAttach 0..1
table Port index=name
  name string immutable
  interfaces uuid->Interface 1..*
  trunks integer[0..4095] 0..4096
  cvlans integer[0..4095] 0..4096
  tag integer[0..4095] 0..1
  vlan_mode string{trunk|access|native-tagged|native-untagged|dot1q-tunnel} 0..1
  qos uuid->QoS 0..1
  mac string 0..1
  bond_mode string{balance-tcp|balance-slb|active-backup} 0..1
  lacp string{active|passive|off} 0..1
  bond_updelay integer
  bond_downdelay integer
  bond_active_slave string 0..1
  bond_fake_iface boolean
  fake_bridge boolean
  status map<string,string> ephemeral
  rstp_status map<string,string> ephemeral
  rstp_statistics map<string,integer> ephemeral
  statistics map<string,integer> ephemeral
  protected boolean
  other_config map<string,string>
  external_ids map<string,string>
table Interface index=name
  name string immutable
  type string
  options map<string,string>
  ingress_policing_rate integer[0..]
  ingress_policing_burst integer[0..]
  ingress_policing_kpkts_rate integer[0..]
  ingress_policing_kpkts_burst integer[0..]
  mac_in_use string 0..1 ephemeral
  mac string 0..1
  ifindex integer[0..4294967295] 0..1 ephemeral
  external_ids map<string,string>
  ofport integer 0..1
  ofport_request integer[1..65279] 0..1
  bfd map<string,string>
  bfd_status map<string,string> ephemeral
  cfm_mpid integer 0..1
  cfm_remote_mpids integer 0..* ephemeral
  cfm_flap_count integer 0..1
  cfm_fault boolean 0..1 ephemeral
  cfm_fault_status string 0..* ephemeral
  cfm_remote_opstate string{up|down} 0..1 ephemeral
  cfm_health integer[0..100] 0..1 ephemeral
  lacp_current boolean 0..1 ephemeral
  lldp map<string,string>
  other_config map<string,string>
  statistics map<string,integer> ephemeral
  status map<string,string> ephemeral
  admin_state string{up|down} 0..1 ephemeral
  link_state string{up|down} 0..1 ephemeral
  link_resets integer 0..1 ephemeral
  link_speed integer 0..1 ephemeral
  duplex string{half|full} 0..1 ephemeral
  mtu integer 0..1 ephemeral
  mtu_request integer[1..] 0..1
  error string 0..1
table Flow_Table
  name string 0..1
  flow_limit integer[0..] 0..1
  overflow_policy string{refuse|evict} 0..1
  groups string 0..*
  prefixes string 0..3
  external_ids map<string,string>
table QoS root
  type string
  queues map<integer[0..4294967295],uuid->Queue>
  other_config map<string,string>
  external_ids map<string,string>
table Queue root
  dscp integer[0..63] 0..1
  other_config map<string,string>
  external_ids map<string,string>
table Mirror
  name string
  select_all boolean
  select_src_port uuid->Port(weak) 0..*
  select_dst_port uuid->Port(weak) 0..*
  select_vlan integer[0..4095] 0..4096
  output_port uuid->Port(weak) 0..1
  output_vlan integer[1..4095] 0..1
  snaplen integer[14..65535] 0..1
  statistics map<string,integer> ephemeral
  external_ids map<string,string>
table NetFlow
  targets string 1..*
  engine_type integer[0..255] 0..1
  engine_id integer[0..255] 0..1
  add_id_to_interface boolean
  active_timeout integer[-1..]
  external_ids map<string,string>
table sFlow
  targets string 1..*
  sampling integer 0..1
  polling integer 0..1
  header integer 0..1
  agent string 0..1
  external_ids map<string,string>
table IPFIX
  targets string 0..*
  sampling integer[1..4294967295] 0..1
  obs_domain_id integer[0..4294967295] 0..1
  obs_point_id integer[0..4294967295] 0..1
  cache_active_timeout integer[0..4200] 0..1
  cache_max_flows integer[0..4294967295] 0..1
  other_config map<string,string>
  external_ids map<string,string>
table Flow_Sample_Collector_Set root index=id+bridge
  id integer[0..4294967295]
  bridge uuid->Bridge
  ipfix uuid->IPFIX 0..1
  external_ids map<string,string>
table Controller
  type string{primary|service} 0..1
  target string
  max_backoff integer[1000..] 0..1
  inactivity_probe integer 0..1
  connection_mode string{in-band|out-of-band} 0..1
  local_ip string 0..1
  local_netmask string 0..1
  local_gateway string 0..1
  enable_async_messages boolean 0..1
  controller_queue_size integer[1..512] 0..1
  controller_rate_limit integer[100..] 0..1
  controller_burst_limit integer[25..] 0..1
  other_config map<string,string>
  external_ids map<string,string>
  is_connected boolean ephemeral
  role string{other|master|slave} 0..1 ephemeral
  status map<string,string> ephemeral
table Manager index=target
  target string
  max_backoff integer[1000..] 0..1
  inactivity_probe integer 0..1
  connection_mode string{in-band|out-of-band} 0..1
  other_config map<string,string>
  external_ids map<string,string>
  is_connected boolean ephemeral
  status map<string,string> ephemeral
table Datapath
  datapath_version string
  ct_zones map<integer[0..65535],uuid->CT_Zone>
  capabilities map<string,string>
  external_ids map<string,string>
table CT_Zone
  timeout_policy uuid->CT_Timeout_Policy 0..1
  external_ids map<string,string>
table CT_Timeout_Policy
  timeouts map<string{tcp_syn_sent|tcp_syn_recv|tcp_established|tcp_fin_wait|tcp_close_wait|tcp_last_ack|tcp_time_wait|tcp_close|tcp_syn_sent2|tcp_retransmit|tcp_unack|udp_first|udp_single|udp_multiple|icmp_first|icmp_reply},integer[0..4294967295]>
  external_ids map<string,string>
table SSL maxRows=1
  private_key string
  certificate string
  ca_cert string
  bootstrap_ca_cert boolean
  external_ids map<string,string>
table AutoAttach
  system_name string
  system_description string
  mappings map<integer[0..16777215],integer[0..4095]>
)";

// ovsdb-server's own database, as its clients read it: one row per database.
constexpr std::string_view kServer = R"(
database _Server 1.2.0
table Database root
  name string
  model string{standalone|clustered|relay}
  connected boolean
  leader boolean
  schema string 0..1
  cid uuid 0..1
  sid uuid 0..1
  index integer 0..1
)";

DatabaseSchema built_in(std::string_view text) {
  auto s = parse_schema_text(text);
  if (!s) {
    // A built-in schema that does not parse is a bug of this file; the unit
    // tests parse both.
    log_error("ovsdb: built-in schema: " + s.error().message);
    std::abort();
  }
  return std::move(*s);
}

}  // namespace

const DatabaseSchema& vswitch_schema() {
  static const DatabaseSchema s = built_in(kVswitch);
  return s;
}

const DatabaseSchema& server_schema() {
  static const DatabaseSchema s = built_in(kServer);
  return s;
}

}  // namespace kvnet::ovsdb
