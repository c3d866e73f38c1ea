#include "ctl/store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <memory>

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
  // The configuration is root's alone, also in a database an older kvnet
  // created 0644 (SQLite gives -wal and -shm the database's mode).
  for (const char* suffix : {"", "-wal", "-shm"}) {
    const int fd = ::open((path + suffix).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) continue;
    struct stat sb{};
    if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && (sb.st_mode & 077)) fchmod(fd, sb.st_mode & 0700);
    ::close(fd);
  }
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

Status Store::save(const Topology& t) {
  if (auto s = exec("BEGIN IMMEDIATE;"); !s) return s;
  auto fail = [&](const std::string& what) -> Status {
    const std::string m = "database '" + path_ + "': " + what + ": " + errmsg();
    exec("ROLLBACK;").ok();  // best effort: the error above is what matters
    return Error{m};
  };
  if (!exec("DELETE FROM mirrors; DELETE FROM gateways; DELETE FROM security_groups; DELETE FROM vms; DELETE FROM containers; DELETE FROM fdb; DELETE FROM ports; DELETE FROM bridges;"))
    return fail("clearing");
  Stmt b, p, f, c, v, g, gw, m;
  if (sqlite3_prepare_v2(db_, "INSERT INTO bridges VALUES(?,?,?,?,?,?,?)", -1, &b.s, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(db_, "INSERT INTO ports VALUES(?,?,?,?,?)", -1, &p.s, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(db_, "INSERT INTO fdb(bridge, vlan, mac, port, remote) VALUES(?,?,?,?,?)", -1, &f.s, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(db_, "INSERT INTO containers VALUES(?,?,?,?,?,?,?)", -1, &c.s, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(db_, "INSERT INTO vms VALUES(?,?,?)", -1, &v.s, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(db_, "INSERT INTO security_groups VALUES(?,?,?)", -1, &g.s, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(db_, "INSERT INTO gateways VALUES(?,?,?)", -1, &gw.s, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(db_, "INSERT INTO mirrors(name, bridge, position, spec) VALUES(?,?,?,?)", -1, &m.s, nullptr) !=
          SQLITE_OK)
    return fail("preparing");
  auto text = [](sqlite3_stmt* s, int i, const std::string& v) { sqlite3_bind_text(s, i, v.c_str(), -1, SQLITE_TRANSIENT); };
  int bpos = 0;
  for (const auto& br : t.bridges) {
    sqlite3_reset(b.s);
    text(b.s, 1, br.name);
    sqlite3_bind_int(b.s, 2, bpos++);
    text(b.s, 3, std::string(dp::to_string(br.type)));
    sqlite3_bind_int64(b.s, 4, br.settings.mac_aging_sec);
    sqlite3_bind_int64(b.s, 5, br.settings.mac_table_size);
    sqlite3_bind_int64(b.s, 6, br.settings.conntrack_max);
    text(b.s, 7, conntrack_timeouts_str(br.settings.conntrack_timeouts));
    if (sqlite3_step(b.s) != SQLITE_DONE) return fail("bridge '" + br.name + "'");
    int ppos = 0;
    for (const auto& port : br.ports) {
      sqlite3_reset(p.s);
      text(p.s, 1, port.name);
      text(p.s, 2, br.name);
      sqlite3_bind_int(p.s, 3, ppos++);
      text(p.s, 4, std::string(port.kind->name()));
      text(p.s, 5, port_to_yaml(port, br.type));
      if (sqlite3_step(p.s) != SQLITE_DONE) return fail("port '" + port.name + "'");
    }
    for (const auto& e : br.fdb) {
      sqlite3_reset(f.s);
      text(f.s, 1, br.name);
      sqlite3_bind_int(f.s, 2, e.vlan);
      text(f.s, 3, net::Mac::from_u64(e.mac).str());
      text(f.s, 4, e.port);
      text(f.s, 5, e.remote_ip);
      if (sqlite3_step(f.s) != SQLITE_DONE) return fail("static FDB entry");
    }
    int mpos = 0;
    for (const auto& x : br.mirrors) {
      sqlite3_reset(m.s);
      text(m.s, 1, x.name);
      text(m.s, 2, br.name);
      sqlite3_bind_int(m.s, 3, mpos++);
      text(m.s, 4, mirror_to_yaml(x));
      if (sqlite3_step(m.s) != SQLITE_DONE) return fail("mirror '" + x.name + "'");
    }
  }
  int cpos = 0;
  for (const auto& ct : t.containers) {
    sqlite3_reset(c.s);
    text(c.s, 1, ct.name);
    sqlite3_bind_int(c.s, 2, cpos++);
    text(c.s, 3, ct.bridge);
    text(c.s, 4, ct.port);
    text(c.s, 5, ct.ip);
    text(c.s, 6, ct.gw);
    text(c.s, 7, ct.mac);
    if (sqlite3_step(c.s) != SQLITE_DONE) return fail("container '" + ct.name + "'");
  }
  int gpos = 0;
  for (const auto& sg : t.security_groups) {
    sqlite3_reset(g.s);
    text(g.s, 1, sg.name);
    sqlite3_bind_int(g.s, 2, gpos++);
    text(g.s, 3, sg_to_yaml(sg));
    if (sqlite3_step(g.s) != SQLITE_DONE) return fail("security group '" + sg.name + "'");
  }
  int vpos = 0;
  for (const auto& vm : t.vms) {
    sqlite3_reset(v.s);
    text(v.s, 1, vm.name);
    sqlite3_bind_int(v.s, 2, vpos++);
    text(v.s, 3, vm_to_yaml(vm));
    if (sqlite3_step(v.s) != SQLITE_DONE) return fail("vm '" + vm.name + "'");
  }
  int gwpos = 0;
  for (const auto& x : t.gateways) {
    sqlite3_reset(gw.s);
    text(gw.s, 1, x.name);
    sqlite3_bind_int(gw.s, 2, gwpos++);
    text(gw.s, 3, gateway_to_yaml(x));
    if (sqlite3_step(gw.s) != SQLITE_DONE) return fail("gateway '" + x.name + "'");
  }
  if (auto s = exec("COMMIT;"); !s) return fail("commit");
  return Ok{};
}

}  // namespace kvnet::ctl
