#pragma once
// Train and evaluate a ViT image classifier from a config (the engine behind `pesuite vision
// train|eval|attention` and the cpvt-* tables): data from a dataset spec, model from the vision
// registry with any positional encoding, AdamW + warm-up/cosine through the shared Trainer (label
// smoothing, mixup / cutmix, gradient clipping, drop-path, bf16 autocast on CUDA), a run folder
// with metrics, checkpoints and plots, and test top-1 / top-5 (or mAP, with per_class_ap.csv, for
// multi-label data: voc:, coco:) at several input sizes without fine-tuning, which is CPVT's
// resolution study. idx: / cifar: sets are held in memory; imagefolder: / voc: / coco: are streamed
// from their files every epoch (image_data.h, image_stream.h).
//
//   auto cfg = image_classification_defaults();
//   cfg.merge_file("experiments/configs/vision/fmnist-vit+peg.toml");
//   cfg.apply_set("model.pe=rope2d");
//   ClassificationResult r = run_image_classification(cfg, "runs");
//   r.accuracy_at_size[56];
//   // later: continue an interrupted run, or evaluate its checkpoint at other sizes
//   run_image_classification(resume_config(r.run_path), "runs", r.run_path);
//   auto e = evaluate_checkpoint(checkpoint_config(r.run_path + "/ckpt/last.safetensors"),
//                                r.run_path + "/ckpt/last.safetensors", {28, 56});
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "pesuite/core/config.h"
#include "pesuite/vision/image_data.h"
#include "pesuite/vision/vit.h"

namespace pesuite::vision {

core::Config image_classification_defaults();

// The dataset specs a classification config names (data.train, data.test), ${data} expanded.
std::vector<std::string> classification_dataset_specs(const core::Config& cfg);

// Test metrics at one input side length.
struct SizeMetrics {
  double top1 = 0, top5 = 0;  // single-label (NaN for multi-label data)
  double map = 0;             // multi-label mean average precision (NaN for single-label data)
  double loss = 0;            // mean test loss of the training objective
  std::vector<double> per_class_ap;  // multi-label: AP of each class (NaN: no positive in the test set)
};

struct ClassificationResult {
  std::map<std::int64_t, double> accuracy_at_size;  // the headline metric: top-1, or mAP when multi-label
  std::map<std::int64_t, SizeMetrics> metrics_at_size;
  std::string metric = "top1";  // "top1" | "mAP"
  bool finished = true;         // false: stopped by train.stop_after_steps (resume to continue)
  std::int64_t steps = 0, total_steps = 0;
  double train_seconds = 0;
  double train_images_per_second = 0;
  std::string run_path;
  std::string checkpoint;  // the last checkpoint written
  std::vector<std::string> class_names;
  std::int64_t skipped_images = 0;  // data.skip_bad: missing / corrupt images left out
};

// Checks the whole config (dataset, model, encoding) before any training starts. With `resume`
// (a run folder, or a checkpoint inside one), training continues in that folder from its last
// checkpoint, bitwise-identically on CPU to a run that was never interrupted.
ClassificationResult run_image_classification(const core::Config& config, const std::string& runs_root,
                                              const std::string& resume = "");

// The config of a run folder (its config.toml over the defaults), for --resume.
core::Config resume_config(const std::string& run_or_checkpoint);
// The config a checkpoint was trained with: saved in its metadata, else its run folder's
// config.toml; the defaults when neither is there.
core::Config checkpoint_config(const std::string& checkpoint);
// Resolves a run folder or checkpoint to (run folder, checkpoint file).
std::pair<std::string, std::string> resolve_checkpoint(const std::string& run_or_checkpoint);

// The model of `config` with the weights of `checkpoint` (the class count is read from the
// checkpoint's head), in eval mode on `device`.
vision::ViT load_classifier(const core::Config& config, const std::string& checkpoint, const torch::Device& device);

// Test metrics of a model at each size, no fine-tuning (in memory: images resized bilinearly;
// streamed: each size decoded with the eval transform).
std::map<std::int64_t, SizeMetrics> evaluate_at_sizes(vision::ViT& model, ImageData& data,
                                                      const std::vector<std::int64_t>& sizes, std::int64_t batch,
                                                      const torch::Device& device, bool bf16);
std::map<std::int64_t, SizeMetrics> evaluate_at_sizes(vision::ViT& model, const ImageSet& set,
                                                      const std::vector<std::int64_t>& sizes, std::int64_t batch,
                                                      const torch::Device& device, bool bf16);
// As the config says (eval.resize, eval.batch_size): "interpolate" is evaluate_at_sizes on `test`;
// "render" evaluates size s on data.test re-made with size=s (scenes: rendered at s pixels, the
// same scenes with more detail), `test` itself at its own size. InputError for another mode, or
// render with a test format that has no size key.
std::map<std::int64_t, SizeMetrics> evaluate_test_sizes(const core::Config& config, vision::ViT& model, ImageData& test,
                                                        const std::vector<std::int64_t>& sizes, const torch::Device& device, bool bf16);

struct CheckpointEval {
  std::string checkpoint;
  std::string metric;  // "top1" | "mAP"
  std::map<std::int64_t, SizeMetrics> metrics_at_size;
  std::vector<std::string> class_names;
};
CheckpointEval evaluate_checkpoint(const core::Config& config, const std::string& checkpoint,
                                   const std::vector<std::int64_t>& sizes);

}  // namespace pesuite::vision
