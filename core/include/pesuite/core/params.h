#pragma once
// The one grammar of named parameter specs in pesuite: positional encodings of both frontends
// (`model.pe = "rope2d:base=100"`, `--pe lap:k=8,norm=none`) and anything else of the form
//   name[:key=value[,key=value...]]        (';' also separates items; spaces around items are ignored)
// A schema (one ParamInfo per key) gives every key its default, its type, its range or its choices;
// resolve() checks a spec against it once and fills in the defaults, so that code reading the
// values later cannot meet a malformed one. Every error is an InputError naming what the spec is
// for, the spec, the key, and the valid keys or values.
//
//   const std::vector<core::ParamInfo> schema = {
//       core::ParamInfo::integer("k", "10", "number of eigenvectors", 1),
//       core::ParamInfo::choice("norm", "sym", "Laplacian", {"none", "sym", "rw"})};
//   core::NamedSpec spec = core::parse_named_spec("lap:k=8", "graph pe");
//   core::Params p = core::resolve(spec, schema, "graph pe");   // {"k": "8", "norm": "sym"}
//   std::int64_t k = p.integer("k");
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace pesuite::core {

enum class ParamType { text, integer, real, boolean, choice };

struct ParamInfo {
  std::string key;
  std::string default_value;  // "" = no default (optional text)
  std::string help;
  ParamType type = ParamType::text;
  std::vector<std::string> choices;  // ParamType::choice
  double min = -1e300;               // integer / real: smallest allowed value

  static ParamInfo text(std::string key, std::string default_value, std::string help);
  static ParamInfo integer(std::string key, std::string default_value, std::string help, double min = -1e300);
  static ParamInfo real(std::string key, std::string default_value, std::string help, double min = -1e300);
  static ParamInfo boolean(std::string key, std::string default_value, std::string help);
  static ParamInfo choice(std::string key, std::string default_value, std::string help, std::vector<std::string> choices);
  // "k=10" style one-line summary of the key and its default.
  std::string with_default() const { return key + "=" + default_value; }
};

// Whether `value` is valid for `info`; the reason otherwise (for the error message).
std::string check_value(const ParamInfo& info, const std::string& value);

struct NamedSpec {
  std::string text;                           // as given
  std::string name;
  std::map<std::string, std::string> params;  // as given (no defaults)
};

// Grammar only (empty name, item without '=', empty key, a key given twice are errors).
NamedSpec parse_named_spec(const std::string& text, const std::string& what);

// Resolved values: every key of the schema, defaults filled in, all of them valid.
class Params {
 public:
  Params() = default;
  Params(std::string name, std::map<std::string, std::string> values) : name_(std::move(name)), values_(std::move(values)) {}
  const std::string& name() const { return name_; }
  const std::map<std::string, std::string>& values() const { return values_; }
  bool has(const std::string& key) const { return values_.count(key) > 0; }
  const std::string& text(const std::string& key) const;  // InputError for a key not in the schema
  std::int64_t integer(const std::string& key) const;
  double real(const std::string& key) const;
  bool boolean(const std::string& key) const;
  // "name:k=v,..." over every key in key order (a cache key: the same for every spelling).
  std::string canonical() const;
  // The same restricted to `keys` (e.g. the keys a computation reads, not its encoder's).
  std::string canonical(const std::vector<std::string>& keys) const;

 private:
  std::string name_;
  std::map<std::string, std::string> values_;
};

// Checks `spec` against `schema` (unknown keys, wrong types, out of range, not a choice) and fills
// in the defaults. `what` names the spec's purpose in errors ("pe", "graph pe", ...).
Params resolve(const NamedSpec& spec, const std::vector<ParamInfo>& schema, const std::string& what);

// "a, b, c": for the lists of valid names in error messages.
std::string join_names(const std::vector<std::string>& names);

}  // namespace pesuite::core
