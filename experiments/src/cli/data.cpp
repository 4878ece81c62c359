#include <iostream>

#include "cli.h"
#include "pesuite/datasets/formats.h"
#include "pesuite/datasets/inspect.h"
#ifdef PESUITE_HAVE_OPENCV
#include "pesuite/imageio/inspect.h"
#include "pesuite/imageio/sheet.h"
#endif
#include "pesuite/core/error.h"

namespace pesuite::cli {

void add_data_commands(CLI::App& app) {
  auto* data = app.add_subcommand("data", "Dataset tools");
  data->require_subcommand(1);
  auto* inspect = data->add_subcommand("inspect", "Summarise a dataset given by its spec (<format>:<path>[?k=v&...])");
  static std::string spec_text;
  static bool json = false;
  static datasets::InspectOptions options;
  static std::string sheet;
  static std::int64_t sheet_count = 64;
  inspect->add_option("spec", spec_text, "Dataset spec, e.g. tu:/data/MUTAG.zip, voc:/data/VOC2012?split=val or csl:?seed=0")
      ->required();
  inspect->add_flag("--json", json, "Machine-readable output");
  inspect->add_flag("--items", options.items, "One record per image / graph");
  inspect->add_flag("--skip-bad", options.skip_bad, "Count unreadable images as warnings instead of failing");
  inspect->add_option("--sheet", sheet,
                      "Also write a contact sheet PNG: scenes with boxes (scenes:), faces with pose axes (facesynth:, 300wlp:, aflw2000:, biwi:)");
  inspect->add_option("--sheet-count", sheet_count, "Tiles on the contact sheet (the first ones)")->check(CLI::PositiveNumber);
  inspect->callback([]() {
    const auto spec = datasets::parse_spec(spec_text);
#ifndef PESUITE_HAVE_OPENCV
    if (!sheet.empty()) throw core::InputError("--sheet " + sheet + ": contact sheets need a build with OpenCV");
#endif
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
#ifdef PESUITE_HAVE_OPENCV
    if (!sheet.empty()) {
      imageio::SheetOptions o;
      o.count = sheet_count;
      imageio::write_contact_sheet(spec, sheet, o);
      summary["sheet"] = sheet;
    }
#endif
    std::cout << (json ? summary.dump(2) + "\n" : datasets::inspect_text(summary));
  });
}

}  // namespace pesuite::cli
