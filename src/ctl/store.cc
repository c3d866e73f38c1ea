#include "ctl/store.h"

#include <filesystem>
#include <map>
#include <memory>

#include "ctl/objects.h"

namespace kvnet::ctl {
namespace {

// The tables are the object types' (ctl/objects.h); this is the store's own.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
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
  for (const ObjectType* type : object_types())
    if (auto s = st->exec(std::string(type->schema()).c_str()); !s) return s.error();
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

// The store's side of the object types' rows.
class Store::Rows final : public RowWriter, public RowReader {
 public:
  explicit Rows(Store& st) : st_(st) {}

  Status insert(const char* sql, const std::vector<std::string>& values, const std::string& what) override {
    std::unique_ptr<Stmt>& s = prepared_[sql];
    if (!s) {
      s = std::make_unique<Stmt>();
      if (sqlite3_prepare_v2(st_.db_, sql, -1, &s->s, nullptr) != SQLITE_OK)
        return Error{"database '" + st_.path_ + "': preparing: " + st_.errmsg()};
    }
    sqlite3_reset(s->s);
    for (size_t i = 0; i < values.size(); ++i)
      sqlite3_bind_text(s->s, static_cast<int>(i + 1), values[i].c_str(), -1, SQLITE_TRANSIENT);
    if (sqlite3_step(s->s) != SQLITE_DONE) return Error{"database '" + st_.path_ + "': " + what + ": " + st_.errmsg()};
    return Ok{};
  }

  // Any read error fails the load: a partial configuration must never be
  // taken for the whole one (the next save would erase the rest).
  Status select(const char* sql, const std::function<Status(const Row&)>& each) override {
    Stmt s;
    if (sqlite3_prepare_v2(st_.db_, sql, -1, &s.s, nullptr) != SQLITE_OK)
      return Error{"database '" + st_.path_ + "': " + st_.errmsg()};
    int rc;
    Row row;
    while ((rc = sqlite3_step(s.s)) == SQLITE_ROW) {
      row.resize(sqlite3_column_count(s.s));
      for (size_t i = 0; i < row.size(); ++i) row[i] = col(s.s, static_cast<int>(i));
      if (auto st = each(row); !st)
        return Error{"database '" + st_.path_ + "': stored configuration is invalid: " + st.error().message};
    }
    if (rc != SQLITE_DONE) return Error{"database '" + st_.path_ + "': reading the configuration: " + st_.errmsg()};
    return Ok{};
  }

 private:
  Store& st_;
  std::map<std::string, std::unique_ptr<Stmt>> prepared_;
};

Result<Topology> Store::load() {
  // Each object type turns its rows into objects (a port's or a VM's row
  // holds its settings in the same flow-map form `export` writes), and the
  // whole goes through the same validation as any topology file: a database
  // edited by hand cannot smuggle in bad values.
  Topology t;
  Rows rows(*this);
  for (const ObjectType* type : object_types())
    if (auto s = type->load(rows, t); !s) return s.error();
  if (auto s = validate(t, ParseOptions{.allow_dangling_patches = true}); !s)
    return Error{"database '" + path_ + "': stored configuration is invalid: " + s.error().message};
  return t;
}

Status Store::save(const Topology& t) {
  if (auto s = exec("BEGIN IMMEDIATE;"); !s) return s;
  auto fail = [&](const std::string& what) -> Status {
    const std::string m = "database '" + path_ + "': " + what + ": " + errmsg();
    exec("ROLLBACK;").ok();  // best effort: the error above is what matters
    return Error{m};
  };
  auto types = object_types();
  for (auto type = types.rbegin(); type != types.rend(); ++type) {  // children first
    auto tables = (*type)->tables();
    for (auto table = tables.rbegin(); table != tables.rend(); ++table)
      if (!exec(("DELETE FROM " + std::string(*table) + ";").c_str())) return fail("clearing");
  }
  {
    Rows rows(*this);
    for (const ObjectType* type : types)
      if (auto s = type->save(rows, t); !s) {
        exec("ROLLBACK;").ok();
        return s;
      }
  }
  if (auto s = exec("COMMIT;"); !s) return fail("commit");
  return Ok{};
}

}  // namespace kvnet::ctl
