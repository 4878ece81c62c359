#include "pesuite/datasets/spec.h"

#include "pesuite/datasets/formats.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "pesuite/core/error.h"
#include "pesuite/core/parse.h"

namespace pesuite::datasets {

DatasetSpec parse_spec(const std::string& text) {
  DatasetSpec spec;
  spec.text = text;
  const auto colon = text.find(':');
  if (colon == std::string::npos || colon == 0)
    throw core::InputError("dataset spec '" + text + "': expected <format>:<path>[?key=value&...]");
  spec.format = text.substr(0, colon);
  const Format& info = format(spec.format);
  std::string rest = text.substr(colon + 1);
  std::string query;
  if (auto q = rest.find('?'); q != std::string::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  spec.path = rest;
  if (info.needs_path && spec.path.empty())
    throw core::InputError("dataset spec '" + text + "': format '" + spec.format + "' needs a path");
  if (!info.needs_path && !spec.path.empty())
    throw core::InputError("dataset spec '" + text + "': format '" + spec.format + "' is generated and takes no path (use " +
                     spec.format + ":?key=value)");
  for (const auto& k : info.keys) spec.params[k.key] = k.default_value;
  std::stringstream ss(query);
  std::string item;
  while (std::getline(ss, item, '&')) {
    if (item.empty()) continue;
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      throw core::InputError("dataset spec '" + text + "': expected key=value, got '" + item + "'");
    const std::string key = item.substr(0, eq);
    const auto k = std::find_if(info.keys.begin(), info.keys.end(), [&](const core::ParamInfo& p) { return p.key == key; });
    if (k == info.keys.end()) {
      std::vector<std::string> valid;
      for (const auto& p : info.keys) valid.push_back(p.key);
      throw core::InputError("dataset spec '" + text + "': unknown key '" + key + "' for format '" + spec.format +
                             "' (valid: " + (valid.empty() ? "none" : core::join_names(valid)) + ")");
    }
    const std::string value = item.substr(eq + 1);
    if (const auto why = core::check_value(*k, value); !why.empty() && !(value.empty() && k->default_value.empty()))
      throw core::InputError("dataset spec '" + text + "': key '" + key + "' " + why);
    spec.params[key] = value;
  }
  return spec;
}

bool DatasetSpec::has(const std::string& key) const {
  auto it = params.find(key);
  return it != params.end() && !it->second.empty();
}

std::string DatasetSpec::get(const std::string& key) const {
  auto it = params.find(key);
  if (it == params.end()) throw core::InputError("dataset spec '" + text + "': format '" + format + "' has no key '" + key + "'");
  return it->second;
}

std::int64_t DatasetSpec::get_int(const std::string& key) const {
  const std::string v = get(key);
  if (auto x = core::parse_int(v)) return *x;
  throw core::InputError("dataset spec '" + text + "': key '" + key + "' must be an integer, got '" + v + "'");
}

double DatasetSpec::get_double(const std::string& key) const {
  const std::string v = get(key);
  if (auto x = core::parse_double(v)) return *x;
  throw core::InputError("dataset spec '" + text + "': key '" + key + "' must be a number, got '" + v + "'");
}

bool DatasetSpec::get_bool(const std::string& key) const {
  const std::string v = get(key);
  if (auto x = core::parse_bool(v)) return *x;
  throw core::InputError("dataset spec '" + text + "': key '" + key + "' must be 0/1/true/false, got '" + v + "'");
}

std::vector<std::int64_t> DatasetSpec::get_int_list(const std::string& key) const {
  const std::string v = get(key);
  std::vector<std::int64_t> out;
  auto bad = [&]() {
    return core::InputError("dataset spec '" + text + "': key '" + key + "' must be integers like 2,3,4 or 2-4, got '" + v + "'");
  };
  std::stringstream ss(v);
  std::string part;
  while (std::getline(ss, part, ',')) {
    try {
      const auto dash = part.find('-', 1);
      if (dash == std::string::npos) {
        out.push_back(std::stoll(part));
      } else {
        const long long lo = std::stoll(part.substr(0, dash)), hi = std::stoll(part.substr(dash + 1));
        if (hi < lo) throw bad();
        for (long long i = lo; i <= hi; ++i) out.push_back(i);
      }
    } catch (const core::InputError&) {
      throw;
    } catch (const std::exception&) {
      throw bad();
    }
  }
  if (out.empty()) throw bad();
  return out;
}

std::string data_root(const std::string& configured) {
  if (!configured.empty()) return configured;
  if (const char* env = std::getenv("PESUITE_DATA"); env && *env) return env;
  return std::filesystem::path(PESUITE_DEFAULT_DATA_DIR).lexically_normal().string();
}

std::string expand_data_root(const std::string& spec, const std::string& root) {
  std::string out = spec;
  const std::string var = "${data}";
  for (auto pos = out.find(var); pos != std::string::npos; pos = out.find(var, pos + root.size()))
    out.replace(pos, var.size(), root);
  return out;
}

}  // namespace pesuite::datasets
