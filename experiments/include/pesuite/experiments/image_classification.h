#pragma once
// Train and evaluate a ViT image classifier from a config (the engine behind `pesuite vision
// train` and the cpvt-fmnist table): data from a dataset spec, model from the vision registry with
// any positional encoding, AdamW + warm-up/cosine through the shared Trainer, a run folder with
// metrics, checkpoints and plots, and test accuracy at several input sizes without fine-tuning
// (images upsampled), which is CPVT's resolution-generalisation study.
//
//   auto cfg = image_classification_defaults();
//   cfg.merge_file("experiments/configs/vision/fmnist-vit+peg.toml");
//   cfg.apply_set("model.pe=rope2d");
//   ClassificationResult r = run_image_classification(cfg, "runs");
//   r.accuracy_at_size[56];
#include <cstdint>
#include <map>
#include <string>

#include "pesuite/experiments/config.h"

namespace pesuite::experiments {

Config image_classification_defaults();

struct ClassificationResult {
  std::map<std::int64_t, double> accuracy_at_size;  // test top-1 by input side length
  double train_seconds = 0;
  double train_images_per_second = 0;
  std::string run_path;
};

// Checks the whole config (dataset, model, encoding) before any training starts.
ClassificationResult run_image_classification(const Config& config, const std::string& runs_root);

}  // namespace pesuite::experiments
