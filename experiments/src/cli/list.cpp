#include <iomanip>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli.h"
#include "pesuite/datasets/formats.h"

namespace pesuite::cli {
namespace {

void print_catalogue(const std::vector<CatalogueEntry>& rows, bool json) {
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : rows) out.push_back({{"name", r.name}, {"kind", r.kind}, {"params", r.params}, {"help", r.help}});
    std::cout << out.dump(2) << "\n";
    return;
  }
  for (const auto& r : rows) {
    std::cout << std::left << std::setw(22) << r.name << std::setw(13) << r.kind << r.help << "\n";
    if (!r.params.empty()) std::cout << std::string(35, ' ') << r.params << "\n";
  }
}

void print_datasets(bool json) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& f : datasets::formats()) {
    nlohmann::json keys = nlohmann::json::array();
    for (const auto& k : f.keys) keys.push_back({{"key", k.key}, {"default", k.default_value}, {"help", k.help}});
    out.push_back({{"format", f.name}, {"kind", f.kind() == datasets::DatasetKind::Graph ? "graph" : "image"},
                   {"loader", f.kind_name()}, {"needs_path", f.needs_path}, {"help", f.help}, {"keys", keys}});
  }
  if (json) {
    std::cout << out.dump(2) << "\n";
    return;
  }
  for (const auto& f : datasets::formats()) {
    std::cout << f.name << ":" << (f.needs_path ? "<path>" : "") << "   " << f.help << "\n";
    for (const auto& k : f.keys)
      std::cout << "    " << std::left << std::setw(12) << k.key << std::setw(12)
                << (k.default_value.empty() ? "-" : k.default_value) << k.help << "\n";
  }
}

}  // namespace

void add_list_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("list", "List models, positional encodings or dataset formats");
  static std::string what;
  static bool json = false;
  cmd->add_option("what", what, "models | pes | datasets")->required()->check(CLI::IsMember({"models", "pes", "datasets"}));
  cmd->add_flag("--json", json, "Machine-readable output");
  cmd->callback([]() {
    if (what == "models") print_catalogue(model_catalogue(), json);
    else if (what == "pes") print_catalogue(pe_catalogue(), json);
    else print_datasets(json);
  });
}

}  // namespace pesuite::cli
// y
