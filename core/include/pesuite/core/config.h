#pragma once
// Experiment configuration: a schema of defaults (a TOML table) that TOML files and `--set
// key=value` override. Keys not in the schema and values of the wrong type are InputErrors naming
// the file and line (or the --set argument). The resolved config is what a run folder saves.
//
//   auto cfg = pesuite::core::Config::from_toml_string(R"(
//     [train]
//     epochs = 10
//     lr = 1e-3
//   )", "<defaults>");
//   cfg.merge_file("experiments/configs/graph/csl-gine+lap.toml");
//   cfg.apply_set("train.lr=5e-4");
//   double lr = cfg.get_double("train.lr");
#include <cstdint>
#include <string>
#include <vector>

#include <toml++/toml.h>

namespace pesuite::core {

class Config {
 public:
  // The defaults define the schema: every key a config may set, and its type.
  static Config from_toml_string(const std::string& text, const std::string& source);

  // Overrides from a TOML file; errors name `path:line:column`.
  void merge_file(const std::string& path);
  void merge_string(const std::string& text, const std::string& source);
  // "section.key=value", value in TOML syntax or a bare string ("model.pe=lap").
  void apply_set(const std::string& assignment);

  bool contains(const std::string& dotted_key) const;
  std::int64_t get_int(const std::string& key) const;
  double get_double(const std::string& key) const;  // integers are accepted
  bool get_bool(const std::string& key) const;
  std::string get_string(const std::string& key) const;
  std::vector<std::string> get_strings(const std::string& key) const;
  std::vector<std::int64_t> get_ints(const std::string& key) const;
  std::vector<double> get_doubles(const std::string& key) const;

  // Sets a key that already exists in the schema (programmatic override, same type rules).
  void set(const std::string& dotted_key, const toml::node& value, const std::string& source);

  std::string to_toml() const;
  const toml::table& table() const { return table_; }

 private:
  void merge_table(const toml::table& overrides, const std::string& source, const std::string& prefix);
  const toml::node& at(const std::string& key) const;
  toml::table table_;
};

}  // namespace pesuite::core
