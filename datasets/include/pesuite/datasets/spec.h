#pragma once
// The dataset spec, the one way a dataset is named anywhere in pesuite (CLI, configs, C++):
//   <format>:<path>[?key=value&key=value...]
// e.g. tu:/data/MUTAG.zip   ogb:/data/ogbg_molesol?split=scaffold   csl:?seed=0
//      idx:/usr/share/datasets/fashion-mnist?split=train   voc:/data/VOC2012?split=val
//
//   auto spec = pesuite::datasets::parse_spec("csl:?seed=3");   // validated against the format table
//   int seed = spec.get_int("seed");                          // default filled in when absent
//
// Unknown formats and keys are InputErrors listing the valid ones.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace pesuite::datasets {

enum class DatasetKind { Graph, Image };

struct SpecKey {
  std::string name;
  std::string default_value;  // "" = no default (optional)
  std::string help;
};

struct FormatInfo {
  std::string name;
  DatasetKind kind;
  bool needs_path;  // generators (csl:, grid:, ...) take no path
  std::string help;
  std::vector<SpecKey> keys;
};

// The format table: every format pesuite reads or generates, with its keys and defaults.
const std::vector<FormatInfo>& formats();
const FormatInfo& format_info(const std::string& name);  // InputError listing valid names

struct DatasetSpec {
  std::string text;    // as given
  std::string format;
  std::string path;
  std::map<std::string, std::string> params;  // every key of the format; defaults filled in

  bool has(const std::string& key) const;  // present and non-empty
  std::string get(const std::string& key) const;
  std::int64_t get_int(const std::string& key) const;  // InputError naming spec and key
  double get_double(const std::string& key) const;
  bool get_bool(const std::string& key) const;  // 1/0/true/false/yes/no
  std::vector<std::int64_t> get_int_list(const std::string& key) const;  // "2,3,4" or "2-4"
  const FormatInfo& info() const { return format_info(format); }
};

// Parses and validates (format known, keys known, path present when the format needs one).
DatasetSpec parse_spec(const std::string& text);

}  // namespace pesuite::datasets
