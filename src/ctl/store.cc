#include "ctl/store.h"

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>

#include "net/bytes.h"

namespace kvnet::ctl {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS bridges(
  name TEXT PRIMARY KEY, position INTEGER NOT NULL, type TEXT NOT NULL,
  mac_aging INTEGER NOT NULL, mac_table_size INTEGER NOT NULL,
  conntrack_max INTEGER NOT NULL DEFAULT 16384, conntrack_timeouts TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS ports(
  name TEXT PRIMARY KEY, bridge TEXT NOT NULL REFERENCES bridges(name),
  position INTEGER NOT NULL, type TEXT NOT NULL, spec TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS fdb(
  bridge TEXT NOT NULL REFERENCES bridges(name), vlan INTEGER NOT NULL, mac TEXT NOT NULL,
  port TEXT NOT NULL, remote TEXT NOT NULL DEFAULT '', PRIMARY KEY(bridge, vlan, mac));
CREATE TABLE IF NOT EXISTS containers(
  name TEXT PRIMARY KEY, position INTEGER NOT NULL, bridge TEXT NOT NULL, port TEXT NOT NULL,
  ip TEXT NOT NULL, gw TEXT NOT NULL, mac TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS security_groups(name TEXT PRIMARY KEY, position INTEGER NOT NULL, spec TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS vms(name TEXT PRIMARY KEY, position INTEGER NOT NULL, spec TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS gateways(name TEXT PRIMARY KEY, position INTEGER NOT NULL, spec TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS mirrors(
  name TEXT PRIMARY KEY, bridge TEXT NOT NULL REFERENCES bridges(name), position INTEGER NOT NULL, spec TEXT NOT NULL);
INSERT OR IGNORE INTO meta(key, value) VALUES('schema', '1');
)sql";

struct Stmt {
  sqlite3_stmt* s = nullptr;
  ~Stmt() { sqlite3_finalize(s); }
};

std::string col(sqlite3_stmt* s, int i) {
  const unsigned char* t = sqlite3_column_text(s, i);
  return t ? reinterpret_cast<const char*>(t) : "";
}

}  // namespace

Result<std::unique_ptr<Store>> Store::open(const std::string& path) {
  auto st = std::unique_ptr<Store>(new Store());
  st->path_ = path;
  const auto dir = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  if (sqlite3_open_v2(path.c_str(), &st->db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK)
    return Error{"database '" + path + "': cannot open: " + st->errmsg()};
  sqlite3_busy_timeout(st->db_, 5000);
  for (const char* sql : {"PRAGMA journal_mode=WAL;", "PRAGMA synchronous=FULL;", "PRAGMA foreign_keys=ON;"})
    if (auto s = st->exec(sql); !s) return s.error();
  if (auto s = st->exec(kSchema); !s) return s.error();
  // Databases from before tunnels have no fdb.remote column.
  if (!st->has_column("fdb", "remote"))
    if (auto s = st->exec("ALTER TABLE fdb ADD COLUMN remote TEXT NOT NULL DEFAULT '';"); !s) return s.error();
  // Databases from before the firewall have no conntrack settings.
  if (!st->has_column("bridges", "conntrack_max"))
    if (auto s = st->exec("ALTER TABLE bridges ADD COLUMN conntrack_max INTEGER NOT NULL DEFAULT 16384;"
                          "ALTER TABLE bridges ADD COLUMN conntrack_timeouts TEXT NOT NULL DEFAULT '';");
        !s)
      return s.error();
  return st;
}

Store::~Store() {
  if (db_) sqlite3_close(db_);
}

bool Store::has_column(const char* table, const char* column) {
  Stmt s;
  const std::string sql = std::string("PRAGMA table_info(") + table + ")";
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s.s, nullptr) != SQLITE_OK) return false;
  while (sqlite3_step(s.s) == SQLITE_ROW)
    if (col(s.s, 1) == column) return true;
  return false;
}

std::string Store::errmsg() const { return db_ ? sqlite3_errmsg(db_) : "out of memory"; }

Status Store::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string m = err ? err : errmsg();
    sqlite3_free(err);
    return Error{"database '" + path_ + "': " + m};
  }
  return Ok{};
}

Result<Topology> Store::load() {
  // The rows become a Topology directly (a port's row holds its settings in
  // the same flow-map form `export` writes), and the whole goes through the
  // same validation as any topology file: a database edited by hand cannot
  // smuggle in bad values. Any read error fails the load: a partial
  // configuration must never be taken for the whole one (the next save
  // would erase the rest).
  auto prepare = [&](const char* sql, Stmt& st) -> Status {
    if (sqlite3_prepare_v2(db_, sql, -1, &st.s, nullptr) != SQLITE_OK) return Error{"database '" + path_ + "': " + errmsg()};
    return Ok{};
  };
  auto finished = [&](int rc) -> Status {
    if (rc != SQLITE_DONE) return Error{"database '" + path_ + "': reading the configuration: " + errmsg()};
    return Ok{};
  };
  auto invalid = [&](const std::string& what) {
    return Error{"database '" + path_ + "': stored configuration is invalid: " + what};
  };
  Topology t;
  {
    Stmt g;
    if (auto s = prepare("SELECT spec FROM security_groups ORDER BY position", g); !s) return s.error();
    int grc;
    while ((grc = sqlite3_step(g.s)) == SQLITE_ROW) {
      auto sg = parse_sg(col(g.s, 0));
      if (!sg) return invalid(sg.error().message);
      t.security_groups.push_back(std::move(*sg));
    }
    if (auto s = finished(grc); !s) return s.error();
  }
  Stmt b;
  if (auto s = prepare("SELECT name, type, mac_aging, mac_table_size, conntrack_max, conntrack_timeouts FROM bridges "
                       "ORDER BY position",
                       b);
      !s)
    return s.error();
  int rc;
  while ((rc = sqlite3_step(b.s)) == SQLITE_ROW) {
    Settings settings;
    if (col(b.s, 1) != "hub") settings = {{"mac_aging", col(b.s, 2)}, {"mac_table_size", col(b.s, 3)}};
    settings.push_back({"conntrack_max", col(b.s, 4)});
    if (!col(b.s, 5).empty()) settings.push_back({"conntrack_timeouts", col(b.s, 5)});
    auto br = make_bridge(col(b.s, 0), col(b.s, 1), settings);
    if (!br) return invalid(br.error().message);
    Stmt p;
    if (auto s = prepare("SELECT spec FROM ports WHERE bridge = ? ORDER BY position", p); !s) return s.error();
    sqlite3_bind_text(p.s, 1, br->name.c_str(), -1, SQLITE_TRANSIENT);
    int prc;
    while ((prc = sqlite3_step(p.s)) == SQLITE_ROW) {
      auto port = parse_port(*br, col(p.s, 0));
      if (!port) return invalid(port.error().message);
      br->ports.push_back(std::move(*port));
    }
    if (auto s = finished(prc); !s) return s.error();
    Stmt f;
    if (auto s = prepare("SELECT vlan, mac, port, remote FROM fdb WHERE bridge = ? ORDER BY rowid", f); !s) return s.error();
    sqlite3_bind_text(f.s, 1, br->name.c_str(), -1, SQLITE_TRANSIENT);
    int frc;
    while ((frc = sqlite3_step(f.s)) == SQLITE_ROW) {
      auto mac = net::Mac::parse(col(f.s, 1));
      if (!mac) return invalid("bridge '" + br->name + "': static FDB entry: bad MAC '" + col(f.s, 1) + "'");
      br->fdb.push_back({static_cast<uint16_t>(sqlite3_column_int(f.s, 0)), mac->u64(), col(f.s, 2), {}, col(f.s, 3)});
    }
    if (auto s = finished(frc); !s) return s.error();
    Stmt m;  // (databases from before mirrors get the empty table from kSchema)
    if (auto s = prepare("SELECT spec FROM mirrors WHERE bridge = ? ORDER BY position", m); !s) return s.error();
    sqlite3_bind_text(m.s, 1, br->name.c_str(), -1, SQLITE_TRANSIENT);
    int mrc;
    while ((mrc = sqlite3_step(m.s)) == SQLITE_ROW) {
      auto mirror = parse_mirror(*br, col(m.s, 0));
      if (!mirror) return invalid(mirror.error().message);
      br->mirrors.push_back(std::move(*mirror));
    }
    if (auto s = finished(mrc); !s) return s.error();
    t.bridges.push_back(std::move(*br));
  }
  if (auto s = finished(rc); !s) return s.error();
  Stmt c;
  if (auto s = prepare("SELECT name, bridge, port, ip, gw, mac FROM containers ORDER BY position", c); !s)
    return s.error();
  while ((rc = sqlite3_step(c.s)) == SQLITE_ROW)
    t.containers.push_back({col(c.s, 0), col(c.s, 1), col(c.s, 2), col(c.s, 3), col(c.s, 4), col(c.s, 5), {}});
  if (auto s = finished(rc); !s) return s.error();
  Stmt v;
  if (auto s = prepare("SELECT spec FROM vms ORDER BY position", v); !s) return s.error();
  while ((rc = sqlite3_step(v.s)) == SQLITE_ROW) {
    auto vm = parse_vm(col(v.s, 0));
    if (!vm) return invalid(vm.error().message);
    t.vms.push_back(std::move(*vm));
  }
  if (auto s = finished(rc); !s) return s.error();
  Stmt gw;
  if (auto s = prepare("SELECT spec FROM gateways ORDER BY position", gw); !s) return s.error();
  while ((rc = sqlite3_step(gw.s)) == SQLITE_ROW) {
    auto g = parse_gateway(col(gw.s, 0));
    if (!g) return invalid(g.error().message);
    t.gateways.push_back(std::move(*g));
  }
  if (auto s = finished(rc); !s) return s.error();
  if (auto s = validate(t, ParseOptions{.allow_dangling_patches = true}); !s) return invalid(s.error().message);
  return t;
}

// ------------------------------------------------------------ writing

namespace {

}  // namespace

// One table as the writer sees it: its key columns, the column that names
// the list a row belongs to ("" none: one list), whether rows are ordered by a
// position column, and the other columns (after key, list and position).
struct StoreTable {
  const char* name;
  std::vector<const char*> key;  // includes `list` if the key does
  const char* list;
  bool positioned;
  std::vector<const char*> values;
};

// A list of rows as `next` wants it: keys (the key columns' values) in
// order, and each row's other values, computed only when asked for.
struct StoreRows {
  std::vector<std::vector<std::string>> keys;
  std::function<std::vector<std::string>(size_t)> values;
  // Rows whose values may have changed (the plan's); null: any row (compared).
  std::function<bool(size_t)> candidate;
};

namespace {

const StoreTable kBridges{"bridges", {"name"}, "", true,
                        {"type", "mac_aging", "mac_table_size", "conntrack_max", "conntrack_timeouts"}};
const StoreTable kPorts{"ports", {"name"}, "bridge", true, {"type", "spec"}};
const StoreTable kFdb{"fdb", {"bridge", "vlan", "mac"}, "bridge", false, {"port", "remote"}};
const StoreTable kMirrors{"mirrors", {"name"}, "bridge", true, {"spec"}};
const StoreTable kContainers{"containers", {"name"}, "", true, {"bridge", "port", "ip", "gw", "mac"}};
const StoreTable kGroups{"security_groups", {"name"}, "", true, {"spec"}};
const StoreTable kVms{"vms", {"name"}, "", true, {"spec"}};
const StoreTable kGateways{"gateways", {"name"}, "", true, {"spec"}};

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& x : v) out += (out.empty() ? "" : "\x1f") + x;
  return out;
}

std::string fdb_mac(const FdbSpec& f) { return net::Mac::from_u64(f.mac).str(); }

}  // namespace

// Writes one list's rows: with `del`, rows no longer wanted are deleted;
// with `upsert`, a row whose key is new is inserted and one whose position or
// values changed is updated in place (its rowid stays: the fdb table's
// order). What is unchanged is not touched.
Status Store::sync_list(const StoreTable& t, const std::string& list, const StoreRows& want, bool upsert, bool del) {
  auto fail = [&](const std::string& what) { return Error{"database '" + path_ + "': " + t.name + ": " + what + ": " + errmsg()}; };
  const bool listed = *t.list != 0;
  const bool compare = !want.candidate;
  std::string cols;
  for (const char* k : t.key) cols += std::string(cols.empty() ? "" : ", ") + k;
  const size_t nkey = t.key.size();
  std::string select = "SELECT " + cols + (t.positioned ? ", position" : "");
  if (compare)
    for (const char* v : t.values) select += std::string(", ") + v;
  select += std::string(" FROM ") + t.name + (listed ? std::string(" WHERE ") + t.list + " = ?" : "");
  struct Have {
    int64_t position;
    std::vector<std::string> values;
    bool seen = false;
  };
  std::map<std::string, Have> have;
  {
    Stmt q;
    if (sqlite3_prepare_v2(db_, select.c_str(), -1, &q.s, nullptr) != SQLITE_OK) return fail("reading");
    if (listed) sqlite3_bind_text(q.s, 1, list.c_str(), -1, SQLITE_TRANSIENT);
    int rc;
    while ((rc = sqlite3_step(q.s)) == SQLITE_ROW) {
      std::vector<std::string> key;
      for (size_t i = 0; i < nkey; ++i) key.push_back(col(q.s, static_cast<int>(i)));
      Have h{t.positioned ? sqlite3_column_int64(q.s, static_cast<int>(nkey)) : 0, {}};
      if (compare)
        for (size_t i = 0; i < t.values.size(); ++i) h.values.push_back(col(q.s, static_cast<int>(nkey + (t.positioned ? 1 : 0) + i)));
      have.emplace(join(key), std::move(h));
    }
    if (rc != SQLITE_DONE) return fail("reading");
  }
  auto text = [](sqlite3_stmt* s, int i, const std::string& v) { sqlite3_bind_text(s, i, v.c_str(), -1, SQLITE_TRANSIENT); };
  std::string where;
  for (const char* k : t.key) where += std::string(where.empty() ? "" : " AND ") + k + " = ?";
  bool list_in_key = false;
  for (const char* k : t.key) list_in_key |= listed && std::string(k) == t.list;
  if (listed && !list_in_key) where += std::string(" AND ") + t.list + " = ?";
  if (del) {
    std::set<std::string> wanted;
    for (const auto& k : want.keys) wanted.insert(join(k));
    for (const auto& [k, h] : have) {
      if (wanted.count(k)) continue;
      Stmt d;
      const std::string sql = std::string("DELETE FROM ") + t.name + " WHERE " + where;
      if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &d.s, nullptr) != SQLITE_OK) return fail("preparing");
      int b = 1;
      size_t from = 0;
      for (size_t j = 0; j <= k.size(); ++j)
        if (j == k.size() || k[j] == '\x1f') {
          text(d.s, b++, k.substr(from, j - from));
          from = j + 1;
        }
      if (listed && !list_in_key) text(d.s, b++, list);
      if (sqlite3_step(d.s) != SQLITE_DONE) return fail("deleting");
    }
  }
  // Positions: a row keeps its stored one while the order allows it; a new or
  // moved row takes the next one up (so an append, a removal or an edit
  // moves nobody else).
  int64_t prev = -1;
  for (size_t i = 0; i < want.keys.size() && upsert; ++i) {
    const std::string k = join(want.keys[i]);
    auto it = have.find(k);
    int64_t pos = prev + 1;
    if (it != have.end()) {
      it->second.seen = true;
      if (!t.positioned || it->second.position > prev) pos = it->second.position;
    }
    prev = pos;
    const bool moved = it != have.end() && t.positioned && pos != it->second.position;
    std::vector<std::string> values;
    if (it == have.end() || moved || compare || want.candidate(i)) values = want.values(i);
    if (it != have.end() && !moved && (compare ? values == it->second.values : !want.candidate(i))) continue;
    Stmt w;
    std::string sql;
    if (it == have.end()) {
      std::string names = cols, marks;
      if (listed && !list_in_key) names += std::string(", ") + t.list;
      if (t.positioned) names += ", position";
      for (const char* v : t.values) names += std::string(", ") + v;
      const size_t n = nkey + (listed && !list_in_key ? 1 : 0) + (t.positioned ? 1 : 0) + t.values.size();
      for (size_t j = 0; j < n; ++j) marks += j ? ",?" : "?";
      sql = std::string("INSERT INTO ") + t.name + "(" + names + ") VALUES(" + marks + ")";
    } else {
      std::string set = t.positioned ? "position = ?" : "";
      for (const char* v : t.values) set += std::string(set.empty() ? "" : ", ") + v + " = ?";
      sql = std::string("UPDATE ") + t.name + " SET " + set + " WHERE " + where;
    }
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &w.s, nullptr) != SQLITE_OK) return fail("preparing");
    int b = 1;
    if (it == have.end()) {
      for (const auto& kv : want.keys[i]) text(w.s, b++, kv);
      if (listed && !list_in_key) text(w.s, b++, list);
      if (t.positioned) sqlite3_bind_int64(w.s, b++, pos);
      for (const auto& v : values) text(w.s, b++, v);
    } else {
      if (t.positioned) sqlite3_bind_int64(w.s, b++, pos);
      for (const auto& v : values) text(w.s, b++, v);
      for (const auto& kv : want.keys[i]) text(w.s, b++, kv);
      if (listed && !list_in_key) text(w.s, b++, list);
    }
    if (sqlite3_step(w.s) != SQLITE_DONE) return fail("'" + want.keys[i].back() + "'");
  }
  return Ok{};
}

// What `next` wants of the tables, for the objects `scope` names (all of
// them without a plan), written in one transaction.
Status Store::write(const Topology& next, const Plan* plan) {
  if (auto s = exec("BEGIN IMMEDIATE;"); !s) return s;
  auto st = write_rows(next, plan);
  if (!st) {
    exec("ROLLBACK;").ok();  // best effort: the error above is what matters
    return st;
  }
  if (auto s = exec("COMMIT;"); !s) {
    const std::string m = "database '" + path_ + "': commit: " + errmsg();
    exec("ROLLBACK;").ok();
    return Error{m};
  }
  return Ok{};
}

Status Store::write_rows(const Topology& next, const Plan* plan) {
  const bool all = plan == nullptr;
  using Names = std::set<std::string>;
  auto names = [](const std::vector<std::string>& v) { return Names(v.begin(), v.end()); };
  Names fresh_bridges, touched_bridges;  // bridges whose every row is written; bridges with a changed row
  Names ports, fdb, mirrors;             // changed rows ("B/P", "B 10 MAC", "B/M")
  if (plan) {
    fresh_bridges = names(plan->bridges_added);
    for (const auto& b : plan->bridges_removed) touched_bridges.insert(b);
    for (const auto& r : plan->ports_added) ports.insert(r.path());
    for (const auto& r : plan->ports_reconfigured) ports.insert(r.path());
    for (const auto& r : plan->ports_removed) touched_bridges.insert(r.bridge);
    for (const auto& r : plan->ports_added) touched_bridges.insert(r.bridge);
    for (const auto& r : plan->ports_reconfigured) touched_bridges.insert(r.bridge);
    for (const auto& [b, f] : plan->fdb_added) fdb.insert(b + " " + std::to_string(f.vlan) + " " + fdb_mac(f));
    for (const auto& [b, f] : plan->fdb_added) touched_bridges.insert(b);
    for (const auto& [b, f] : plan->fdb_removed) touched_bridges.insert(b);
    for (const auto& l : plan->lines)
      if (l.what == "mirror") {
        mirrors.insert(l.object);
        touched_bridges.insert(l.object.substr(0, l.object.find('/')));
      }
    for (const auto& b : fresh_bridges) touched_bridges.insert(b);
  }
  // Bridges first (ports and mirrors refer to them), removed ones last.
  const Names changed_bridges = plan ? names(plan->bridges_changed) : Names{};
  StoreRows bw;
  for (const auto& b : next.bridges) bw.keys.push_back({b.name});
  bw.values = [&](size_t i) -> std::vector<std::string> {
    const BridgeSpec& b = next.bridges[i];
    return {std::string(dp::to_string(b.type)), std::to_string(b.settings.mac_aging_sec),
            std::to_string(b.settings.mac_table_size), std::to_string(b.settings.conntrack_max),
            conntrack_timeouts_str(b.settings.conntrack_timeouts)};
  };
  if (!all)
    bw.candidate = [&](size_t i) {
      return fresh_bridges.count(next.bridges[i].name) > 0 || changed_bridges.count(next.bridges[i].name) > 0;
    };
  if (auto s = sync_list(kBridges, "", bw, true, false); !s) return s;
  // Each bridge's ports, static entries and mirrors; those of removed bridges.
  Names lists = touched_bridges;
  if (all) {
    Stmt q;
    if (sqlite3_prepare_v2(db_, "SELECT name FROM bridges", -1, &q.s, nullptr) != SQLITE_OK)
      return Error{"database '" + path_ + "': reading: " + errmsg()};
    while (sqlite3_step(q.s) == SQLITE_ROW) lists.insert(col(q.s, 0));
    for (const auto& b : next.bridges) lists.insert(b.name);
  }
  // Deletes of every list before any insert: a port or mirror may move
  // from one bridge to another (its name is its key).
  static const BridgeSpec kNone{};
  for (const bool upsert : {false, true})
    for (const auto& name : lists) {
      const BridgeSpec* found = next.find_bridge(name);
      const BridgeSpec& b = found ? *found : kNone;
      const bool fresh = all || fresh_bridges.count(name);
      StoreRows pw, fw, mw;
      for (const auto& p : b.ports) pw.keys.push_back({p.name});
      pw.values = [&](size_t i) -> std::vector<std::string> {
        return {std::string(b.ports[i].kind->name()), port_to_yaml(b.ports[i], b.type)};
      };
      for (const auto& f : b.fdb) fw.keys.push_back({name, std::to_string(f.vlan), fdb_mac(f)});
      fw.values = [&](size_t i) -> std::vector<std::string> { return {b.fdb[i].port, b.fdb[i].remote_ip}; };
      for (const auto& m : b.mirrors) mw.keys.push_back({m.name});
      mw.values = [&](size_t i) -> std::vector<std::string> { return {mirror_to_yaml(b.mirrors[i])}; };
      if (!all) {
        pw.candidate = [&](size_t i) { return fresh || ports.count(name + "/" + b.ports[i].name) > 0; };
        fw.candidate = [&](size_t i) {
          return fresh || fdb.count(name + " " + std::to_string(b.fdb[i].vlan) + " " + fdb_mac(b.fdb[i])) > 0;
        };
        mw.candidate = [&](size_t i) { return fresh || mirrors.count(name + "/" + b.mirrors[i].name) > 0; };
      }
      if (auto s = sync_list(kFdb, name, fw, upsert, !upsert); !s) return s;
      if (auto s = sync_list(kMirrors, name, mw, upsert, !upsert); !s) return s;
      if (auto s = sync_list(kPorts, name, pw, upsert, !upsert); !s) return s;
    }
  if (auto s = sync_list(kBridges, "", bw, false, true); !s) return s;
  // The lists that are not a bridge's.
  auto global = [&](const StoreTable& t, const auto& items, bool touched, const Names& changed, auto values) -> Status {
    if (!all && !touched) return Ok{};
    StoreRows w;
    for (const auto& x : items) w.keys.push_back({x.name});
    w.values = [&](size_t i) -> std::vector<std::string> { return values(items[i]); };
    if (!all) w.candidate = [&](size_t i) { return changed.count(items[i].name) > 0; };
    return sync_list(t, "", w, true, true);
  };
  Names cts, groups, vms, gws;
  if (plan) {
    for (const auto& c : plan->containers_added) cts.insert(c.name);
    groups = names(plan->groups_added);
    for (const auto& g : plan->groups_changed) groups.insert(g);
    vms = names(plan->vms_added);
    for (const auto& v : plan->vms_changed) vms.insert(v);
    gws = names(plan->gateways_added);
    for (const auto& g : plan->gateways_changed) gws.insert(g);
  }
  if (auto s = global(kContainers, next.containers, plan && (!plan->containers_added.empty() || !plan->containers_removed.empty()),
                      cts, [](const ContainerSpec& c) { return std::vector<std::string>{c.bridge, c.port, c.ip, c.gw, c.mac}; });
      !s)
    return s;
  if (auto s = global(kGroups, next.security_groups, plan && (!groups.empty() || !plan->groups_removed.empty()), groups,
                      [](const SecurityGroupSpec& g) { return std::vector<std::string>{sg_to_yaml(g)}; });
      !s)
    return s;
  if (auto s = global(kVms, next.vms, plan && (!vms.empty() || !plan->vms_removed.empty()), vms,
                      [](const VmSpec& v) { return std::vector<std::string>{vm_to_yaml(v)}; });
      !s)
    return s;
  return global(kGateways, next.gateways, plan && plan->gateways_touched(), gws,
                [](const GatewaySpec& g) { return std::vector<std::string>{gateway_to_yaml(g)}; });
}

Status Store::save(const Topology& t) { return write(t, nullptr); }

Status Store::save(const Topology& next, const Plan& plan) { return write(next, &plan); }

int64_t Store::total_changes() const { return sqlite3_total_changes64(db_); }

}  // namespace kvnet::ctl
