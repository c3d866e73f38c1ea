#include "ctl/store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
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
  for (const ObjectType* type : object_types())
    if (auto s = st->exec(std::string(type->schema()).c_str()); !s) return s.error();
  // Databases from before tunnels have no fdb.remote column.
  if (!st->has_column("fdb", "remote"))
    if (auto s = st->exec("ALTER TABLE fdb ADD COLUMN remote TEXT NOT NULL DEFAULT '';"); !s) return s.error();
  // Databases from before the cluster have no containers.network column.
  if (!st->has_column("containers", "network"))
    if (auto s = st->exec("ALTER TABLE containers ADD COLUMN network TEXT NOT NULL DEFAULT '';"); !s) return s.error();
  // Databases from before the firewall have no conntrack settings.
  if (!st->has_column("bridges", "conntrack_max"))
    if (auto s = st->exec("ALTER TABLE bridges ADD COLUMN conntrack_max INTEGER NOT NULL DEFAULT 16384;"
                          "ALTER TABLE bridges ADD COLUMN conntrack_timeouts TEXT NOT NULL DEFAULT '';");
        !s)
      return s.error();
  // Databases from before the kernel fast path have no fast_path setting.
  if (!st->has_column("bridges", "fast_path"))
    if (auto s = st->exec("ALTER TABLE bridges ADD COLUMN fast_path INTEGER NOT NULL DEFAULT 1;"); !s) return s.error();
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
class Store::Rows final : public RowReader {
 public:
  explicit Rows(Store& st) : st_(st) {}

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

// The rows the object types write, compared with the stored ones. Each
// type's save() inserts its rows as before; the writer reads a table's
// stored rows (the columns the INSERT names) the first time it sees the
// table and matches each row written by its primary key: the same row is
// left alone, a changed one updated in place, a new one inserted. finish()
// deletes the stored rows no longer written (children first), then updates
// and inserts (parents first, in the order they came). Foreign keys are
// checked at commit (defer_foreign_keys).
class Store::Writer final : public RowWriter {
 public:
  explicit Writer(Store& st) : st_(st) {}

  Status insert(const char* sql, const std::vector<std::string>& values, const std::string& what) override {
    Table* t = table(sql);
    if (!t) return Error{"database '" + st_.path_ + "': " + what + ": cannot read the stored rows: " + st_.errmsg()};
    if (values.size() != t->columns.size())
      return Error{"database '" + st_.path_ + "': " + what + ": " + std::to_string(values.size()) + " values for " +
                   std::to_string(t->columns.size()) + " columns of " + t->name};
    auto it = t->stored.find(key(*t, values));
    if (it == t->stored.end() || it->second.kept) {
      t->fresh.push_back({values, what});
      return Ok{};
    }
    it->second.kept = true;
    if (it->second.values != values) t->changed.push_back({it->second.rowid, values, what});
    return Ok{};
  }

  Status exec(const char*, const std::vector<std::string>&, const std::string& what) override {
    return Error{"database '" + st_.path_ + "': " + what + ": a whole save writes rows, not statements"};
  }

  // `tables`: every table of every type, parents first (a table nothing was
  // written to this time loses all its rows).
  Status finish(const std::vector<std::string>& tables) {
    for (auto name = tables.rbegin(); name != tables.rend(); ++name) {
      const auto t = std::find_if(order_.begin(), order_.end(), [&](const Table* x) { return x->name == *name; });
      if (t == order_.end()) {
        if (auto s = step("DELETE FROM " + *name, {}, "clearing " + *name); !s) return s;
        continue;
      }
      for (const auto& [k, row] : (*t)->stored)
        if (!row.kept)
          if (auto s = step("DELETE FROM " + *name + " WHERE rowid = ?", {std::to_string(row.rowid)}, "deleting"); !s)
            return s;
    }
    for (Table* t : order_) {
      std::string update;
      for (const auto& c : t->columns) update += (update.empty() ? "" : ", ") + c + " = ?";
      update = "UPDATE " + t->name + " SET " + update + " WHERE rowid = ?";
      for (auto& [rowid, values, what] : t->changed) {
        values.push_back(std::to_string(rowid));
        if (auto s = step(update, values, what); !s) return s;
      }
      for (const auto& [values, what] : t->fresh)
        if (auto s = step(t->insert, values, what); !s) return s;
    }
    return Ok{};
  }

 private:
  struct Stored {
    int64_t rowid = 0;
    std::vector<std::string> values;
    bool kept = false;  // written again (as it is or changed)
  };
  struct Changed {
    int64_t rowid;
    std::vector<std::string> values;
    std::string what;
  };
  struct Table {
    std::string name, insert;
    std::vector<std::string> columns;  // as the INSERT lists them
    std::vector<size_t> key;           // the primary key's columns (indices into columns)
    std::map<std::vector<std::string>, Stored> stored;
    std::vector<Changed> changed;
    std::vector<std::pair<std::vector<std::string>, std::string>> fresh;
  };

  static std::vector<std::string> key(const Table& t, const std::vector<std::string>& values) {
    if (t.key.empty()) return values;  // no primary key: the whole row
    std::vector<std::string> k;
    for (size_t i : t.key) k.push_back(values[i]);
    return k;
  }

  // The table an INSERT writes ("INSERT INTO t(a, b) VALUES(?,?)" or
  // "INSERT INTO t VALUES(?,?,...)"), its stored rows read on first use.
  Table* table(const char* sql) {
    auto& slot = tables_[sql];
    if (slot) return slot.get();
    const std::string text = sql;
    const auto into = text.find("INTO "), values = text.find("VALUES");
    if (into == std::string::npos || values == std::string::npos) return nullptr;
    std::string head = text.substr(into + 5, values - into - 5), listed;
    if (const auto open = head.find('('); open != std::string::npos) {
      const auto close = head.find(')', open);
      if (close == std::string::npos) return nullptr;
      listed = head.substr(open + 1, close - open - 1);
      head.resize(open);
    }
    auto t = std::make_unique<Table>();
    t->name = head;
    while (!t->name.empty() && t->name.back() == ' ') t->name.pop_back();
    t->insert = text;
    // The table's columns and primary key (PRAGMA table_info: cid, name,
    // type, notnull, default, pk).
    std::vector<std::string> all;
    std::map<std::string, int> pk;
    {
      Stmt q;
      const std::string info = "PRAGMA table_info(" + t->name + ")";
      if (sqlite3_prepare_v2(st_.db_, info.c_str(), -1, &q.s, nullptr) != SQLITE_OK) return nullptr;
      while (sqlite3_step(q.s) == SQLITE_ROW) {
        all.push_back(col(q.s, 1));
        if (const int k = sqlite3_column_int(q.s, 5); k > 0) pk[col(q.s, 1)] = k;
      }
    }
    if (listed.empty()) {
      t->columns = all;
    } else {
      for (size_t from = 0; from <= listed.size();) {
        auto comma = listed.find(',', from);
        if (comma == std::string::npos) comma = listed.size();
        std::string c = listed.substr(from, comma - from);
        c.erase(0, c.find_first_not_of(' '));
        c.erase(c.find_last_not_of(' ') + 1);
        t->columns.push_back(c);
        from = comma + 1;
      }
    }
    std::vector<std::pair<int, size_t>> pk_columns;
    for (size_t i = 0; i < t->columns.size(); ++i)
      if (auto it = pk.find(t->columns[i]); it != pk.end()) pk_columns.push_back({it->second, i});
    std::sort(pk_columns.begin(), pk_columns.end());
    if (pk_columns.size() == pk.size())
      for (const auto& [n, i] : pk_columns) t->key.push_back(i);
    std::string select = "SELECT rowid";
    for (const auto& c : t->columns) select += ", " + c;
    select += " FROM " + t->name;
    Stmt q;
    if (sqlite3_prepare_v2(st_.db_, select.c_str(), -1, &q.s, nullptr) != SQLITE_OK) return nullptr;
    int rc;
    while ((rc = sqlite3_step(q.s)) == SQLITE_ROW) {
      Stored row{sqlite3_column_int64(q.s, 0), {}, false};
      for (int i = 1; i < sqlite3_column_count(q.s); ++i) row.values.push_back(col(q.s, i));
      auto k = key(*t, row.values);
      t->stored.emplace(std::move(k), std::move(row));
    }
    if (rc != SQLITE_DONE) return nullptr;
    order_.push_back(t.get());
    slot = std::move(t);
    return slot.get();
  }

  Status step(const std::string& sql, const std::vector<std::string>& values, const std::string& what) {
    std::unique_ptr<Stmt>& s = prepared_[sql];
    if (!s) {
      s = std::make_unique<Stmt>();
      if (sqlite3_prepare_v2(st_.db_, sql.c_str(), -1, &s->s, nullptr) != SQLITE_OK)
        return Error{"database '" + st_.path_ + "': preparing: " + st_.errmsg()};
    }
    sqlite3_reset(s->s);
    for (size_t i = 0; i < values.size(); ++i)
      sqlite3_bind_text(s->s, static_cast<int>(i + 1), values[i].c_str(), -1, SQLITE_TRANSIENT);
    if (sqlite3_step(s->s) != SQLITE_DONE) return Error{"database '" + st_.path_ + "': " + what + ": " + st_.errmsg()};
    return Ok{};
  }

  Store& st_;
  std::map<std::string, std::unique_ptr<Table>> tables_;  // by INSERT text
  std::vector<Table*> order_;                              // as first written: parents first
  std::map<std::string, std::unique_ptr<Stmt>> prepared_;
};

// A scoped save's writer: the types' statements, run as they come.
class Store::Patcher final : public RowWriter {
 public:
  explicit Patcher(Store& st) : st_(st) {}
  Status insert(const char* sql, const std::vector<std::string>& values, const std::string& what) override {
    return exec(sql, values, what);
  }
  Status exec(const char* sql, const std::vector<std::string>& values, const std::string& what) override {
    Stmt s;
    if (sqlite3_prepare_v2(st_.db_, sql, -1, &s.s, nullptr) != SQLITE_OK)
      return Error{"database '" + st_.path_ + "': preparing: " + st_.errmsg()};
    for (size_t i = 0; i < values.size(); ++i)
      sqlite3_bind_text(s.s, static_cast<int>(i + 1), values[i].c_str(), -1, SQLITE_TRANSIENT);
    if (sqlite3_step(s.s) != SQLITE_DONE) return Error{"database '" + st_.path_ + "': " + what + ": " + st_.errmsg()};
    return Ok{};
  }

 private:
  Store& st_;
};

int64_t Store::total_changes() const { return db_ ? sqlite3_total_changes64(db_) : 0; }

Status Store::save(const Topology& t, const Scope& scope) {
  if (auto s = exec("BEGIN IMMEDIATE; PRAGMA defer_foreign_keys=ON;"); !s) return s;
  auto rollback = [&](Status s) {
    exec("ROLLBACK;").ok();  // best effort: the error `s` is what matters
    return s;
  };
  if (!scope.whole()) {
    Patcher w(*this);
    for (const ObjectType* type : object_types())
      if (auto s = type->save_scope(w, t, scope); !s) return rollback(s);
  } else {
    Writer w(*this);
    std::vector<std::string> tables;
    for (const ObjectType* type : object_types()) {
      for (const char* table : type->tables()) tables.push_back(table);
      if (auto s = type->save(w, t); !s) return rollback(s);
    }
    if (auto s = w.finish(tables); !s) return rollback(s);
  }
  if (auto s = exec("COMMIT;"); !s) return rollback(s);
  return Ok{};
}

}  // namespace kvnet::ctl
