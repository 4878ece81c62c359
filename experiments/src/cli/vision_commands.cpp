#include <iostream>

#include <nlohmann/json.hpp>

#include "cli.h"
#include "pesuite/experiments/image_classification.h"
#include "pesuite/heads/runtime.h"

namespace pesuite::cli {

void add_vision_commands(CLI::App& app) {
  auto* vision = app.add_subcommand("vision", "Image frontend: train and evaluate ViT / CPVT with any positional encoding");
  vision->require_subcommand(1);

  auto* train = vision->add_subcommand("train", "Train an image classifier from a config (experiments/configs/vision/*.toml)");
  static ConfigOptions config;
  static std::string runs = "runs";
  static bool json = false;
  add_config_options(*train, config);
  train->add_option("--runs", runs, "Folder of run folders")->capture_default_str();
  train->add_flag("--json", json, "Print the result as JSON");
  train->callback([]() {
    auto cfg = experiments::image_classification_defaults();
    if (!config.config_file.empty()) cfg.merge_file(config.config_file);
    for (const auto& s : config.sets) cfg.apply_set(s);
    const auto r = experiments::run_image_classification(cfg, runs);
    nlohmann::json out{{"run", r.run_path}, {"train_seconds", r.train_seconds},
                       {"train_images_per_second", r.train_images_per_second}};
    for (const auto& [size, acc] : r.accuracy_at_size) out["test_acc@" + std::to_string(size)] = acc;
    if (json) {
      std::cout << out.dump(2) << "\n";
    } else {
      std::cout << "run " << r.run_path << "\n";
      for (const auto& [size, acc] : r.accuracy_at_size) std::cout << "test accuracy at " << size << " px: " << 100 * acc << " %\n";
    }
  });
}

}  // namespace pesuite::cli
