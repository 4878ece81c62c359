// Table descriptions (tables.h): one TOML file per table, read and checked here. Every key is known
// (a typo is an error naming the file and the key), rows are listed or made as a grid of key values.
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>

#include <toml++/toml.h>

#include "pesuite/core/error.h"
#include "pesuite/experiments/pipelines.h"
#include "pesuite/experiments/tables.h"

namespace pesuite::experiments {
namespace {

namespace fs = std::filesystem;

// Reads one table, remembering which keys were read so that unknown ones are reported.
class Reader {
 public:
  Reader(const toml::table& t, std::string file, std::string where) : t_(t), file_(std::move(file)), where_(std::move(where)) {}

  std::string text(const std::string& key, const std::string& fallback = "", bool required = false) {
    seen_.insert(key);
    const auto* node = t_.get(key);
    if (!node) {
      if (required) fail(key, "is required");
      return fallback;
    }
    if (auto v = node->value<std::string>()) return *v;
    fail(key, "must be a string");
    return "";
  }
  double number(const std::string& key, double fallback) {
    seen_.insert(key);
    const auto* node = t_.get(key);
    if (!node) return fallback;
    if (auto v = node->value<double>()) return *v;
    fail(key, "must be a number");
    return 0;
  }
  std::optional<double> optional_number(const std::string& key) {
    if (!t_.get(key)) {
      seen_.insert(key);
      return std::nullopt;
    }
    return number(key, 0);
  }
  bool boolean(const std::string& key, bool fallback) {
    seen_.insert(key);
    const auto* node = t_.get(key);
    if (!node) return fallback;
    if (auto v = node->value<bool>()) return *v;
    fail(key, "must be true or false");
    return false;
  }
  std::vector<std::string> strings(const std::string& key) {
    seen_.insert(key);
    std::vector<std::string> out;
    const auto* node = t_.get(key);
    if (!node) return out;
    const auto* arr = node->as_array();
    if (!arr) fail(key, "must be an array of strings");
    for (const auto& item : *arr) {
      auto v = item.value<std::string>();
      if (!v) fail(key, "must be an array of strings");
      out.push_back(*v);
    }
    return out;
  }
  std::vector<double> numbers(const std::string& key) {
    seen_.insert(key);
    std::vector<double> out;
    const auto* node = t_.get(key);
    if (!node) return out;
    const auto* arr = node->as_array();
    if (!arr) fail(key, "must be an array of numbers");
    for (const auto& item : *arr) {
      auto v = item.value<double>();
      if (!v) fail(key, "must be an array of numbers");
      out.push_back(*v);
    }
    return out;
  }
  // A table of string -> string (a row key) or string -> [strings] (a grid).
  std::map<std::string, std::vector<std::string>> string_lists(const std::string& key) {
    seen_.insert(key);
    std::map<std::string, std::vector<std::string>> out;
    const auto* node = t_.get(key);
    if (!node) return out;
    const auto* tab = node->as_table();
    if (!tab) fail(key, "must be a table");
    for (const auto& [k, v] : *tab) {
      const std::string name(k.str());
      if (auto s = v.value<std::string>()) {
        out[name] = {*s};
      } else if (const auto* arr = v.as_array()) {
        for (const auto& item : *arr) {
          auto s2 = item.value<std::string>();
          if (!s2) fail(key + "." + name, "must hold strings");
          out[name].push_back(*s2);
        }
      } else {
        fail(key + "." + name, "must be a string or an array of strings");
      }
    }
    return out;
  }
  core::ResultsTable::Key row_key(const std::string& key) {
    core::ResultsTable::Key out;
    for (const auto& [k, v] : string_lists(key)) {
      if (v.size() != 1) fail(key + "." + k, "must be one string");
      out[k] = v.front();
    }
    return out;
  }
  const toml::table* table(const std::string& key) {
    seen_.insert(key);
    const auto* node = t_.get(key);
    if (!node) return nullptr;
    if (!node->as_table()) fail(key, "must be a table");
    return node->as_table();
  }
  const toml::array* tables(const std::string& key) {
    seen_.insert(key);
    const auto* node = t_.get(key);
    if (!node) return nullptr;
    const auto* arr = node->as_array();
    if (!arr || !arr->is_array_of_tables()) fail(key, "must be an array of tables ([[" + key + "]])");
    return arr;
  }
  // Every key of the table was read.
  void done() const {
    for (const auto& [k, v] : t_) {
      const std::string name(k.str());
      if (!seen_.count(name)) fail(name, "is not a table-description key");
    }
  }
  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw core::InputError(file_ + ": " + (where_.empty() ? "" : where_ + ".") + key + " " + what);
  }
  const std::string& file() const { return file_; }

 private:
  const toml::table& t_;
  std::string file_, where_;
  std::set<std::string> seen_;
};

TableVersion read_version(Reader& top, const std::string& key, const std::string& file, bool quick) {
  TableVersion v;
  const toml::table* t = top.table(key);
  if (!t) return v;
  Reader r(*t, file, key);
  v.seeds = static_cast<int>(r.number("seeds", 1));
  if (v.seeds < 1) r.fail("seeds", "must be >= 1");
  v.sets = r.strings("sets");
  if (quick) v.only = r.string_lists("only");
  r.done();
  return v;
}

// "graph/csl-{model}+{pe}.toml" with the row's key values.
std::string fill(std::string pattern, const core::ResultsTable::Key& key) {
  for (const auto& [k, v] : key) {
    const std::string var = "{" + k + "}";
    for (auto pos = pattern.find(var); pos != std::string::npos; pos = pattern.find(var, pos + v.size()))
      pattern.replace(pos, var.size(), v);
  }
  return pattern;
}

void grid_rows(const std::map<std::string, std::vector<std::string>>& grid, const std::vector<std::string>& keys,
               const std::string& config, std::vector<TableRow>& rows) {
  // In the order of `keys`, the first key varying slowest.
  std::vector<core::ResultsTable::Key> partial = {{}};
  for (const auto& k : keys) {
    std::vector<core::ResultsTable::Key> next;
    for (const auto& p : partial)
      for (const auto& v : grid.at(k)) {
        auto q = p;
        q[k] = v;
        next.push_back(q);
      }
    partial = next;
  }
  for (const auto& key : partial) rows.push_back({key, fill(config, key), {}, ""});
}

}  // namespace

std::vector<TableRow> TableSpec::rows_for(bool quick_version) const {
  if (!quick_version || quick.only.empty()) return rows;
  std::vector<TableRow> out;
  for (const auto& r : rows) {
    bool keep = true;
    for (const auto& [k, allowed] : quick.only)
      keep = keep && std::find(allowed.begin(), allowed.end(), r.key.at(k)) != allowed.end();
    if (keep) out.push_back(r);
  }
  return out;
}

namespace {
// A key value as part of a file name: letters, digits and '.' kept (lower case), '%' as "pct", any
// other run of characters as one '-'.
std::string file_name_part(const std::string& value) {
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '.')
      out += static_cast<char>(std::tolower(c));
    else if (c == '%')
      out += "pct";
    else if (!out.empty() && out.back() != '-')
      out += '-';
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? "x" : out;
}
}  // namespace

std::string TableSpec::unit_stem(const TableRow& row) const {
  std::string stem = fs::path(row.config).stem().string();
  const auto same_config = std::count_if(rows.begin(), rows.end(), [&](const TableRow& o) { return o.config == row.config; });
  if (same_config > 1)
    for (const auto& k : keys) stem += "-" + file_name_part(row.key.at(k));
  return stem;
}

TableSpec load_table(const std::string& path) {
  toml::table doc;
  try {
    doc = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    throw core::InputError(path + ":" + std::to_string(b.line) + ":" + std::to_string(b.column) + ": " + std::string(e.description()));
  }
  TableSpec t;
  t.source = path;
  t.name = fs::path(path).stem().string();
  Reader r(doc, path, "");
  t.title = r.text("title", "", true);
  t.help = r.text("help", "", true);
  t.pipeline = r.text("pipeline", "", true);
  try {
    pipeline(t.pipeline);
  } catch (const core::InputError& e) {
    r.fail("pipeline", std::string("is not valid: ") + e.what());
  }
  t.protocol = r.text("protocol");
  t.in_quick = r.boolean("in_quick", false);
  t.digits = static_cast<int>(r.number("digits", 4));
  t.order = r.number("order", 100);
  t.keys = r.strings("keys");
  if (t.keys.empty()) r.fail("keys", "must name at least one key column");
  t.notes = r.strings("notes");
  t.sets = r.strings("sets");
  t.full = read_version(r, "full", path, false);
  t.quick = read_version(r, "quick", path, true);

  if (const toml::table* g = r.table("rows")) {
    Reader gr(*g, path, "rows");
    const std::string config = gr.text("config", "", true);
    const auto grid = gr.string_lists("grid");
    gr.done();
    for (const auto& k : t.keys)
      if (!grid.count(k)) gr.fail("grid", "has no values for key column '" + k + "'");
    grid_rows(grid, t.keys, config, t.rows);
  }
  if (const toml::array* rows = r.tables("row")) {
    for (std::size_t i = 0; i < rows->size(); ++i) {
      Reader rr(*(*rows)[i].as_table(), path, "row[" + std::to_string(i) + "]");
      TableRow row;
      row.key = rr.row_key("key");
      row.config = fill(rr.text("config", "", true), row.key);
      row.sets = rr.strings("sets");
      row.reference = rr.text("reference");
      rr.done();
      t.rows.push_back(row);
    }
  }
  if (t.rows.empty()) r.fail("rows", "the table has no rows ([rows] grid or [[row]] entries)");
  for (const auto& row : t.rows) {
    if (row.key.size() != t.keys.size()) r.fail("row", "a row's key must set exactly the key columns");
    for (const auto& k : t.keys)
      if (!row.key.count(k)) r.fail("row", "a row has no value for key column '" + k + "'");
  }
  for (const auto& [k, v] : t.quick.only)
    if (std::find(t.keys.begin(), t.keys.end(), k) == t.keys.end()) r.fail("quick.only", "names '" + k + "', not a key column");
  // Two rows saving under one unit name would overwrite (and, with --claim, skip) each other's runs.
  std::map<std::string, std::size_t> unit_rows;
  for (std::size_t i = 0; i < t.rows.size(); ++i) {
    const auto [it, fresh] = unit_rows.emplace(t.unit_stem(t.rows[i]), i);
    if (!fresh)
      r.fail("row", "entries " + std::to_string(it->second) + " and " + std::to_string(i) + " would save their runs under one name '" +
                        it->first + "': give them distinct key values");
  }

  if (const toml::array* cols = r.tables("column")) {
    for (std::size_t i = 0; i < cols->size(); ++i) {
      Reader cr(*(*cols)[i].as_table(), path, "column[" + std::to_string(i) + "]");
      TableColumn c;
      c.label = cr.text("label", "", true);
      c.metric = cr.text("metric", "", true);
      c.scale = cr.number("scale", 1);
      cr.done();
      t.columns.push_back(c);
    }
  }
  if (t.columns.empty()) r.fail("column", "the table has no columns ([[column]] entries)");
  auto has_column = [&](const std::string& label) {
    return std::any_of(t.columns.begin(), t.columns.end(), [&](const TableColumn& c) { return c.label == label; });
  };
  if (const toml::array* checks = r.tables("check")) {
    for (std::size_t i = 0; i < checks->size(); ++i) {
      Reader kr(*(*checks)[i].as_table(), path, "check[" + std::to_string(i) + "]");
      TableCheck c;
      c.row = kr.row_key("row");
      if (auto than = kr.row_key("than"); !than.empty()) c.than = than;
      c.column = kr.text("column", "", true);
      c.min = kr.optional_number("min");
      c.max = kr.optional_number("max");
      c.claim = kr.text("claim", "", true);
      kr.done();
      if (!has_column(c.column)) kr.fail("column", "'" + c.column + "' is not a column label");
      if (!c.min && !c.max) kr.fail("min", "or max is required");
      auto is_row = [&](const core::ResultsTable::Key& k) {
        return std::any_of(t.rows.begin(), t.rows.end(), [&](const TableRow& row) { return row.key == k; });
      };
      if (!is_row(c.row)) kr.fail("row", "is not the key of a row of the table");
      if (c.than && !is_row(*c.than)) kr.fail("than", "is not the key of a row of the table");
      t.checks.push_back(c);
    }
  }
  if (const toml::table* p = r.table("plot")) {
    Reader pr(*p, path, "plot");
    TablePlot plot;
    plot.file = pr.text("file", "", true);
    plot.title = pr.text("title", t.name);
    plot.x_label = pr.text("x_label");
    plot.y_label = pr.text("y_label");
    plot.series = pr.text("series", "", true);
    plot.x = pr.numbers("x");
    plot.columns = pr.strings("columns");
    pr.done();
    if (plot.x.size() != plot.columns.size()) pr.fail("x", "must have one value per plotted column");
    for (const auto& c : plot.columns)
      if (!has_column(c)) pr.fail("columns", "'" + c + "' is not a column label");
    if (std::find(t.keys.begin(), t.keys.end(), plot.series) == t.keys.end()) pr.fail("series", "must be a key column");
    t.plot = plot;
  }
  r.done();
  return t;
}

std::string default_config_dir() {
  if (const char* env = std::getenv("PESUITE_CONFIGS"); env && *env) return env;
  return PESUITE_CONFIG_DIR;  // the source tree's experiments/configs
}

std::vector<TableSpec> list_tables(const std::string& config_dir) {
  const fs::path dir = fs::path(config_dir) / "tables";
  if (!fs::is_directory(dir)) throw core::InputError(dir.string() + ": no table descriptions (not a config folder)");
  std::vector<TableSpec> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".toml") out.push_back(load_table(e.path().string()));
  std::sort(out.begin(), out.end(), [](const TableSpec& a, const TableSpec& b) {
    return a.order != b.order ? a.order < b.order : a.name < b.name;
  });
  return out;
}

}  // namespace pesuite::experiments
