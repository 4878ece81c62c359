#include "pesuite/core/params.h"

#include <algorithm>
#include <sstream>

#include "pesuite/core/error.h"
#include "pesuite/core/parse.h"

namespace pesuite::core {
namespace {

std::string trim(const std::string& s) {
  const auto a = s.find_first_not_of(" \t");
  if (a == std::string::npos) return "";
  const auto b = s.find_last_not_of(" \t");
  return s.substr(a, b - a + 1);
}

std::string number(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

}  // namespace

ParamInfo ParamInfo::text(std::string key, std::string default_value, std::string help) {
  return {std::move(key), std::move(default_value), std::move(help), ParamType::text, {}, -1e300};
}
ParamInfo ParamInfo::integer(std::string key, std::string default_value, std::string help, double min) {
  return {std::move(key), std::move(default_value), std::move(help), ParamType::integer, {}, min};
}
ParamInfo ParamInfo::real(std::string key, std::string default_value, std::string help, double min) {
  return {std::move(key), std::move(default_value), std::move(help), ParamType::real, {}, min};
}
ParamInfo ParamInfo::boolean(std::string key, std::string default_value, std::string help) {
  return {std::move(key), std::move(default_value), std::move(help), ParamType::boolean, {}, -1e300};
}
ParamInfo ParamInfo::choice(std::string key, std::string default_value, std::string help, std::vector<std::string> choices) {
  return {std::move(key), std::move(default_value), std::move(help), ParamType::choice, std::move(choices), -1e300};
}

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

std::string check_value(const ParamInfo& info, const std::string& value) {
  switch (info.type) {
    case ParamType::text:
      return "";
    case ParamType::integer: {
      const auto v = parse_int(value);
      if (!v) return "must be an integer, got '" + value + "'";
      if (static_cast<double>(*v) < info.min) return "must be >= " + number(info.min) + ", got " + value;
      return "";
    }
    case ParamType::real: {
      const auto v = parse_double(value);
      if (!v) return "must be a number, got '" + value + "'";
      if (*v < info.min) return "must be >= " + number(info.min) + ", got " + value;
      return "";
    }
    case ParamType::boolean:
      return parse_bool(value) ? "" : "must be true or false (1/0, yes/no), got '" + value + "'";
    case ParamType::choice:
      if (std::find(info.choices.begin(), info.choices.end(), value) != info.choices.end()) return "";
      return "must be one of " + join_names(info.choices) + ", got '" + value + "'";
  }
  return "";
}

NamedSpec parse_named_spec(const std::string& text, const std::string& what) {
  NamedSpec spec;
  spec.text = text;
  const auto colon = text.find(':');
  spec.name = trim(text.substr(0, colon));
  if (spec.name.empty()) throw InputError(what + " spec '" + text + "': empty name");
  if (colon == std::string::npos) return spec;
  std::string rest = text.substr(colon + 1);
  std::replace(rest.begin(), rest.end(), ';', ',');
  std::stringstream ss(rest);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (trim(item).empty()) continue;
    const auto eq = item.find('=');
    if (eq == std::string::npos) throw InputError(what + " spec '" + text + "': expected key=value, got '" + trim(item) + "'");
    const auto key = trim(item.substr(0, eq));
    if (key.empty()) throw InputError(what + " spec '" + text + "': empty key in '" + trim(item) + "'");
    if (spec.params.count(key)) throw InputError(what + " spec '" + text + "': parameter '" + key + "' given twice");
    spec.params[key] = trim(item.substr(eq + 1));
  }
  return spec;
}

Params resolve(const NamedSpec& spec, const std::vector<ParamInfo>& schema, const std::string& what) {
  std::map<std::string, std::string> values;
  for (const auto& p : schema) values[p.key] = p.default_value;
  for (const auto& [key, value] : spec.params) {
    const auto it = std::find_if(schema.begin(), schema.end(), [&](const ParamInfo& p) { return p.key == key; });
    if (it == schema.end()) {
      std::vector<std::string> keys;
      for (const auto& p : schema) keys.push_back(p.key);
      throw InputError(what + " '" + spec.name + "': unknown parameter '" + key + "' in '" + spec.text +
                       "'; valid: " + (keys.empty() ? std::string("(none)") : join_names(keys)));
    }
    values[key] = value;
  }
  for (const auto& p : schema) {
    const auto& v = values[p.key];
    if (v.empty() && (p.type == ParamType::text || p.default_value.empty())) continue;  // optional, not given
    if (const auto why = check_value(p, v); !why.empty())
      throw InputError(what + " '" + spec.name + "': parameter '" + p.key + "' " + why);
  }
  return Params(spec.name, std::move(values));
}

const std::string& Params::text(const std::string& key) const {
  const auto it = values_.find(key);
  if (it == values_.end()) throw InputError("'" + name_ + "' has no parameter '" + key + "'");
  return it->second;
}

std::int64_t Params::integer(const std::string& key) const {
  if (const auto v = parse_int(text(key))) return *v;
  throw InputError("'" + name_ + "': parameter '" + key + "' must be an integer, got '" + text(key) + "'");
}

double Params::real(const std::string& key) const {
  if (const auto v = parse_double(text(key))) return *v;
  throw InputError("'" + name_ + "': parameter '" + key + "' must be a number, got '" + text(key) + "'");
}

bool Params::boolean(const std::string& key) const {
  if (const auto v = parse_bool(text(key))) return *v;
  throw InputError("'" + name_ + "': parameter '" + key + "' must be true or false, got '" + text(key) + "'");
}

std::string Params::canonical() const {
  std::string s = name_;
  char sep = ':';
  for (const auto& [k, v] : values_) {
    s += sep + k + "=" + v;
    sep = ',';
  }
  return s;
}

std::string Params::canonical(const std::vector<std::string>& keys) const {
  std::string s = name_;
  char sep = ':';
  for (const auto& [k, v] : values_) {
    if (std::find(keys.begin(), keys.end(), k) == keys.end()) continue;
    s += sep + k + "=" + v;
    sep = ',';
  }
  return s;
}

}  // namespace pesuite::core
