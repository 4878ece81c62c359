#include <iostream>

#include "cli.h"
#include "pesuite/datasets/formats.h"
#include "pesuite/datasets/inspect.h"
#ifdef PESUITE_HAVE_OPENCV
#include "pesuite/imageio/inspect.h"
#endif

namespace pesuite::cli {

void add_data_commands(CLI::App& app) {
  auto* data = app.add_subcommand("data", "Dataset tools");
  data->require_subcommand(1);
  auto* inspect = data->add_subcommand("inspect", "Summarise a dataset given by its spec (<format>:<path>[?k=v&...])");
  static std::string spec_text;
  static bool json = false;
  static datasets::InspectOptions options;
  inspect->add_option("spec", spec_text, "Dataset spec, e.g. tu:/data/MUTAG.zip, voc:/data/VOC2012?split=val or csl:?seed=0")
      ->required();
  inspect->add_flag("--json", json, "Machine-readable output");
  inspect->add_flag("--items", options.items, "One record per image / graph");
  inspect->add_flag("--skip-bad", options.skip_bad, "Count unreadable images as warnings instead of failing");
  inspect->callback([]() {
    const auto spec = datasets::parse_spec(spec_text);
    nlohmann::json summary;
#ifdef PESUITE_HAVE_OPENCV
    // With OpenCV every image file is decoded: real sizes, and corrupt files found.
    if (spec.info().kind() == datasets::DatasetKind::Image) {
      summary = imageio::inspect_images(spec, options);
      summary["spec"] = spec.text;
      summary["format"] = spec.format;
    } else {
      summary = datasets::inspect(spec, options);
    }
#else
    summary = datasets::inspect(spec, options);
#endif
    if (summary.contains("warnings"))
      for (const auto& w : summary["warnings"]) std::cerr << "warning: skipped " << w.get<std::string>() << "\n";
    std::cout << (json ? summary.dump(2) + "\n" : datasets::inspect_text(summary));
  });
}

}  // namespace pesuite::cli
