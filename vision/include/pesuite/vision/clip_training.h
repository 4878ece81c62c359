#pragma once
// Train a CLIP (clip.h) on the captions of `scenes:` and evaluate it zero-shot (the engine behind
// `pesuite clip train|eval|zeroshot` and the clip-* tables).
//
//   auto cfg = clip_training_defaults();
//   cfg.merge_file("experiments/configs/vision/clip-scenes-tiny.toml");
//   ClipTrainResult r = run_clip_training(cfg, "runs");
//   r.zero_shot.at("test").accuracy;       // seen classes, unseen drawings
//   r.zero_shot.at("heldout").accuracy;    // classes no training caption named
//   r.zero_shot.at("seen").accuracy;       // the training drawings, pasted into new scenes
//   // later: load it again (config from the checkpoint's metadata)
//   LoadedClip m = load_clip_checkpoint(r.checkpoint, torch::kCPU);
//
// Training (as open_clip's train.py): symmetric InfoNCE, the mean of image->text and text->image
// cross-entropy over the batch's B x B logits exp(logit_scale) * cos; logit_scale starts at
// ln(1/0.07) and is clamped to [0, ln 100] after every step; AdamW (betas 0.9 / 0.98, eps 1e-6)
// with no weight decay on gains, biases, embeddings and logit_scale, cosine schedule with linear
// warm-up, gradient clipping, bf16 autocast on CUDA (loss in float32). Each step's batch is a
// function of (seed, step): a permutation of the training scenes per epoch, and one of each
// scene's captions (counting or position caption) drawn per step; no flips (captions name
// positions). Checkpoints and resume through core::Trainer: an interrupted run continues bit for
// bit on CPU.
//
// Zero-shot classification: class weights from prompt templates (zero_shot_weights, clip.h), one
// prediction per scene (the argmax class); a prediction is correct when that class is present in
// the scene (for the single-object evaluation scenes of the defaults: plain top-1). Held-out
// classes are evaluated among themselves (the heldout split's class list).
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "pesuite/core/config.h"
#include "pesuite/datasets/scenes.h"
#include "pesuite/vision/clip.h"
#include "pesuite/vision/clip_tokenizer.h"

namespace pesuite::vision {

core::Config clip_training_defaults();
// data.train, then the zero-shot sets below, ${data} expanded and data.bank added.
std::vector<std::string> clip_dataset_specs(const core::Config& cfg);
// The zero-shot sets, named as in ClipTrainResult::zero_shot: "test" (data.test: unseen drawings of
// the training classes), "heldout" (data.heldout: classes no training caption named, among
// themselves) and "seen" (data.seen: the training drawings pasted into new scenes), each where set.
std::vector<std::pair<std::string, std::string>> clip_zero_shot_specs(const core::Config& cfg);
// The CLIP a config describes: model.name's preset with the model.* overrides (0 = the preset's).
Clip build_clip(const core::Config& cfg);

// Scenes for CLIP: pixels normalised with OpenAI's mean / std, and everything the analyses need.
struct ClipScenes {
  std::string spec;
  torch::Tensor images;     // float [N, 3, S, S], normalised (kClipMean / kClipStd)
  torch::Tensor targets;    // float [N, C] multi-hot over `classes`
  torch::Tensor instances;  // uint8 [N, S, S]: 0 background, k + 1 = object k
  std::vector<std::vector<datasets::SceneObject>> objects;
  std::vector<std::vector<std::string>> captions;
  std::vector<std::string> classes;  // this split's class names (labels index these)
  std::vector<std::string> heldout;  // the held-out classes' names
  std::int64_t size() const { return images.defined() ? images.size(0) : 0; }
};
// Renders the scenes of a spec (building the object bank first when OpenCV is there and it is
// missing). InputError for a spec that is not scenes:.
ClipScenes load_clip_scenes(const std::string& spec);

// A CLIP with the config it was trained with.
struct LoadedClip {
  Clip model{nullptr};
  core::Config config;
  std::string source;
};
// A checkpoint written by run_clip_training (model.* tensors, config in its metadata) or a CLIP
// file (save_clip, or a converted OpenAI / OpenCLIP checkpoint: scripts/convert/clip_to_safetensors.py;
// then the defaults are its config). Eval mode, on `device`. InputError for a missing file or a
// missing / mis-shaped tensor (naming it and both shapes).
LoadedClip load_clip_checkpoint(const std::string& path, const torch::Device& device);

// The tokenizer of data.vocab (${data} expanded).
ClipTokenizer clip_tokenizer(const core::Config& cfg);

struct ZeroShotResult {
  double accuracy = 0;               // fraction of scenes whose predicted class is present
  std::int64_t images = 0, classes = 0;
  double chance = 0;                 // expected accuracy of a uniform random guess
  torch::Tensor predictions;         // int64 [N]
  std::vector<std::int64_t> per_class_correct, per_class_total;  // by the first object's class
};
// Zero-shot accuracy of `model` on `data` over data.classes with `templates` (warns on stderr
// when a prompt does not fit the context and is truncated). class_weights: optional precomputed
// [K, E] (zero_shot_weights).
ZeroShotResult zero_shot_eval(Clip& model, const ClipTokenizer& tokenizer, const ClipScenes& data,
                              const std::vector<std::string>& templates, std::int64_t batch, const torch::Device& device,
                              bool bf16, torch::Tensor class_weights = {});
// Image embeddings of a set, in batches (eval mode, no grad): float [N, E] on the CPU.
torch::Tensor encode_images(Clip& model, const torch::Tensor& images, std::int64_t batch, const torch::Device& device, bool bf16);
// Whether a prediction hits a present class: [N] bool.
torch::Tensor zero_shot_hits(const torch::Tensor& predictions, const torch::Tensor& targets);

struct ClipTrainResult {
  bool finished = true;
  std::int64_t steps = 0, total_steps = 0;
  double train_seconds = 0, final_loss = 0, logit_scale = 0;
  std::string run_path, checkpoint;
  std::map<std::string, ZeroShotResult> zero_shot;  // "test"; "heldout", "seen" (when data.heldout / data.seen are set)
  std::map<std::string, double> metrics;            // analysis metrics (clip_analysis.h), when enabled
};

// Checks the config, trains, evaluates zero-shot and (analysis.* switches) runs the analyses of
// clip_analysis.h on the test scenes. `resume`: a run folder or a checkpoint inside one.
ClipTrainResult run_clip_training(const core::Config& config, const std::string& runs_root, const std::string& resume = "");
// The config of a run folder (its config.toml over the defaults), for --resume.
core::Config clip_resume_config(const std::string& run_or_checkpoint);

bool clip_use_bf16(const core::Config& cfg, const torch::Device& device);

}  // namespace pesuite::vision
