#include "pesuite/core/config.h"

#include <sstream>

#include "pesuite/core/atomic_file.h"
#include "pesuite/core/error.h"

namespace pesuite::core {
namespace {

std::string type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table: return "table";
    case toml::node_type::array: return "array";
    case toml::node_type::string: return "string";
    case toml::node_type::integer: return "integer";
    case toml::node_type::floating_point: return "float";
    case toml::node_type::boolean: return "boolean";
    default: return "date/time";
  }
}

std::string place(const std::string& source, const toml::node& n) {
  const auto& src = n.source();
  if (src.begin.line == 0) return source;
  return source + ":" + std::to_string(src.begin.line);
}

// Whether `value` may replace `schema` (same type; an integer where a float is expected; arrays
// whose elements match the schema array's first element, or any array when that is empty).
bool compatible(const toml::node& schema, const toml::node& value) {
  if (schema.type() == value.type()) {
    if (schema.is_array()) {
      const auto& sa = *schema.as_array();
      const auto& va = *value.as_array();
      if (sa.empty()) return true;
      for (const auto& e : va)
        if (!compatible(sa[0], e)) return false;
    }
    return true;
  }
  return schema.is_floating_point() && value.is_integer();
}

toml::node_view<const toml::node> find(const toml::table& t, const std::string& key) {
  return t.at_path(key);
}

}  // namespace

Config Config::from_toml_string(const std::string& text, const std::string& source) {
  Config c;
  try {
    c.table_ = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    throw InputError(source + ":" + std::to_string(e.source().begin.line) + ":" +
                     std::to_string(e.source().begin.column) + ": " + std::string(e.description()));
  }
  return c;
}

void Config::merge_file(const std::string& path) { merge_string(read_file(path), path); }

void Config::merge_string(const std::string& text, const std::string& source) {
  toml::table overrides;
  try {
    overrides = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    throw InputError(source + ":" + std::to_string(e.source().begin.line) + ":" +
                     std::to_string(e.source().begin.column) + ": " + std::string(e.description()));
  }
  merge_table(overrides, source, "");
}

void Config::merge_table(const toml::table& overrides, const std::string& source, const std::string& prefix) {
  for (const auto& [k, v] : overrides) {
    const std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (v.is_table()) {
      auto existing = find(table_, key);
      if (!existing || !existing.is_table()) {
        throw InputError(place(source, v) + ": unknown section [" + key + "]");
      }
      merge_table(*v.as_table(), source, key);
    } else {
      set(key, v, place(source, v));
    }
  }
}

void Config::set(const std::string& key, const toml::node& value, const std::string& where) {
  auto existing = find(table_, key);
  if (!existing) {
    // Say which keys would have been valid at that level.
    const auto dot = key.rfind('.');
    const std::string parent = dot == std::string::npos ? "" : key.substr(0, dot);
    const toml::table* level = parent.empty() ? &table_ : find(table_, parent).as_table();
    std::string valid;
    if (level)
      for (const auto& [k, v] : *level)
        if (!v.is_table()) valid += (valid.empty() ? "" : ", ") + std::string(k.str());
    throw InputError(where + ": unknown key '" + key + "'" + (valid.empty() ? "" : " (valid here: " + valid + ")"));
  }
  if (existing.is_table()) throw InputError(where + ": '" + key + "' is a section, not a value");
  if (!compatible(*existing.node(), value))
    throw InputError(where + ": key '" + key + "' expects " + type_name(*existing.node()) + ", got " + type_name(value));
  // Walk to the parent table and replace the value, keeping floats floats.
  const auto dot = key.rfind('.');
  toml::table* parent = dot == std::string::npos ? &table_ : table_.at_path(key.substr(0, dot)).as_table();
  const std::string leaf = dot == std::string::npos ? key : key.substr(dot + 1);
  if (existing.is_floating_point() && value.is_integer())
    parent->insert_or_assign(leaf, static_cast<double>(value.as_integer()->get()));
  else
    parent->insert_or_assign(leaf, value);
}

void Config::apply_set(const std::string& assignment) {
  const std::string where = "--set " + assignment;
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) throw InputError(where + ": expected key=value");
  const std::string key = assignment.substr(0, eq);
  const std::string raw = assignment.substr(eq + 1);
  auto existing = find(table_, key);
  if (!existing) {
    set(key, toml::value<std::string>(raw), where);  // throws the unknown-key error
  }
  toml::table parsed;
  bool ok = false;
  try {
    parsed = toml::parse("v = " + raw);
    ok = true;
  } catch (const toml::parse_error&) {
  }
  if (ok) {
    const toml::node* v = parsed.get("v");
    if (existing.is_string() && !v->is_string()) {
      set(key, toml::value<std::string>(raw), where);  // model.pe=lap:k=8 and friends
    } else {
      set(key, *v, where);
    }
  } else if (existing.is_string()) {
    set(key, toml::value<std::string>(raw), where);
  } else {
    throw InputError(where + ": key '" + key + "' expects " + type_name(*existing.node()) + ", cannot parse '" + raw + "'");
  }
}

bool Config::contains(const std::string& key) const { return static_cast<bool>(find(table_, key)); }

const toml::node& Config::at(const std::string& key) const {
  auto n = find(table_, key);
  if (!n) throw InputError("config: no key '" + key + "'");
  return *n.node();
}

std::int64_t Config::get_int(const std::string& key) const {
  const auto& n = at(key);
  if (!n.is_integer()) throw InputError("config: key '" + key + "' is " + type_name(n) + ", not integer");
  return n.as_integer()->get();
}

double Config::get_double(const std::string& key) const {
  const auto& n = at(key);
  if (n.is_integer()) return static_cast<double>(n.as_integer()->get());
  if (!n.is_floating_point()) throw InputError("config: key '" + key + "' is " + type_name(n) + ", not float");
  return n.as_floating_point()->get();
}

bool Config::get_bool(const std::string& key) const {
  const auto& n = at(key);
  if (!n.is_boolean()) throw InputError("config: key '" + key + "' is " + type_name(n) + ", not boolean");
  return n.as_boolean()->get();
}

std::string Config::get_string(const std::string& key) const {
  const auto& n = at(key);
  if (!n.is_string()) throw InputError("config: key '" + key + "' is " + type_name(n) + ", not string");
  return n.as_string()->get();
}

std::vector<std::string> Config::get_strings(const std::string& key) const {
  const auto& n = at(key);
  std::vector<std::string> out;
  if (!n.is_array()) throw InputError("config: key '" + key + "' is " + type_name(n) + ", not array");
  for (const auto& e : *n.as_array()) {
    if (!e.is_string()) throw InputError("config: key '" + key + "' must hold strings");
    out.push_back(e.as_string()->get());
  }
  return out;
}

std::vector<std::int64_t> Config::get_ints(const std::string& key) const {
  const auto& n = at(key);
  std::vector<std::int64_t> out;
  if (!n.is_array()) throw InputError("config: key '" + key + "' is " + type_name(n) + ", not array");
  for (const auto& e : *n.as_array()) {
    if (!e.is_integer()) throw InputError("config: key '" + key + "' must hold integers");
    out.push_back(e.as_integer()->get());
  }
  return out;
}

std::vector<double> Config::get_doubles(const std::string& key) const {
  const auto& n = at(key);
  std::vector<double> out;
  if (!n.is_array()) throw InputError("config: key '" + key + "' is " + type_name(n) + ", not array");
  for (const auto& e : *n.as_array()) {
    if (e.is_integer()) out.push_back(static_cast<double>(e.as_integer()->get()));
    else if (e.is_floating_point()) out.push_back(e.as_floating_point()->get());
    else throw InputError("config: key '" + key + "' must hold numbers");
  }
  return out;
}

std::string Config::to_toml() const {
  // Basic strings only, newlines escaped: toml++ writes "\nx" as '''<newline>x''' (TOML drops a
  // newline right after the opening quotes) or, without multi-line strings, as a literal string
  // holding a raw newline (not TOML at all). Either way the value would not survive a round trip
  // (found by fuzz_toml_config).
  constexpr auto flags = toml::toml_formatter::default_flags & ~toml::format_flags::allow_multi_line_strings &
                         ~toml::format_flags::allow_literal_strings;
  std::ostringstream ss;
  ss << toml::toml_formatter{table_, flags} << "\n";
  return ss.str();
}

}  // namespace pesuite::core
