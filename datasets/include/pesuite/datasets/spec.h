#pragma once
// The dataset spec, the one way a dataset is named anywhere in pesuite (CLI, configs, C++):
//   <format>:<path>[?key=value&key=value...]
// e.g. tu:/data/MUTAG.zip   ogb:/data/ogbg_molesol?split=scaffold   csl:?seed=0
//      idx:/usr/share/datasets/fashion-mnist?split=train   voc:/data/VOC2012?split=val
//
//   auto spec = pesuite::datasets::parse_spec("csl:?seed=3");   // validated against the format table
//   int seed = spec.get_int("seed");                          // default filled in when absent
//
// Unknown formats and keys, and values of the wrong type, are InputErrors listing the valid ones.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace pesuite::datasets {

struct Format;  // the format registry's row (formats.h)

struct DatasetSpec {
  std::string text;    // as given
  std::string format;
  std::string path;
  std::map<std::string, std::string> params;  // every key of the format; defaults filled in

  bool has(const std::string& key) const;  // present and non-empty
  std::string get(const std::string& key) const;
  std::int64_t get_int(const std::string& key) const;  // core::InputError naming spec and key
  double get_double(const std::string& key) const;
  bool get_bool(const std::string& key) const;  // 1/0/true/false/yes/no
  std::vector<std::int64_t> get_int_list(const std::string& key) const;  // "2,3,4" or "2-4"
  const Format& info() const;  // its row in the format registry (formats.h)
};

// Parses and validates against the format's row (formats.h): format known, keys known, values of
// the right type, path present when the format needs one.
DatasetSpec parse_spec(const std::string& text);

// Where `${data}` in dataset specs points: `configured` when not empty (a config's data.root), else
// $PESUITE_DATA, else ../shared/data beside the source tree (the shared samples).
std::string data_root(const std::string& configured = "");
// Every `${data}` in a spec text replaced by `root`.
std::string expand_data_root(const std::string& spec, const std::string& root);

}  // namespace pesuite::datasets
