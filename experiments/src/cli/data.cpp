#include <iostream>

#include "cli.h"
#include "pesuite/datasets/inspect.h"

namespace pesuite::cli {

void add_data_commands(CLI::App& app) {
  auto* data = app.add_subcommand("data", "Dataset tools");
  data->require_subcommand(1);
  auto* inspect = data->add_subcommand("inspect", "Summarise a dataset given by its spec (<format>:<path>[?k=v&...])");
  static std::string spec_text;
  static bool json = false;
  static datasets::InspectOptions options;
  inspect->add_option("spec", spec_text, "Dataset spec, e.g. tu:/data/MUTAG.zip or csl:?seed=0")->required();
  inspect->add_flag("--json", json, "Machine-readable output");
  inspect->add_flag("--items", options.items, "One record per image / graph");
  inspect->add_flag("--skip-bad", options.skip_bad, "Count unreadable images as warnings instead of failing");
  inspect->callback([]() {
    const auto spec = datasets::parse_spec(spec_text);
    const auto summary = datasets::inspect(spec, options);
    std::cout << (json ? summary.dump(2) + "\n" : datasets::inspect_text(summary));
  });
}

}  // namespace pesuite::cli
