#pragma once
// Caption pretraining of the VLM (vlm.h) on `scenes:` counting captions ("a photo of two brown
// bears and a red apple.": objects, colours, counts, never a position), the engine behind
// `pesuite vlm train|caption` and the `vlm` pipeline.
//
//   auto cfg = vlm_training_defaults();
//   cfg.merge_file("experiments/configs/vision/vlm-micro.toml");
//   VlmTrainResult r = run_vlm_training(cfg, "runs");
//   r.token_accuracy, r.perplexity;                  // next-token, on held-out scenes (data.test)
//   Vlm vlm = load_vlm(r.vlm_file);                   // frozen from here on (pin_training.h)
//
// A sequence is "<image>caption<|endofchunk|>" (OpenFlamingo's format), the loss next-token
// cross-entropy on every token after <image>. Like the LLM under OpenFlamingo, the language model
// also knows boxes as text: a share (train.text_fraction) of each batch's rows are box texts
// ("the {class} is located at [3, 0, 12, 7].", "In the image is a {class} located at [...]." and
// other wordings, located_text) with a random class and a random well-formed box, so the LM knows
// digits and the answer's syntax (as an LLM knows coordinates as text) but nothing ties them to
// places in an image. A share of those rows (train.text_with_image) follow the row's <image>: the
// LM then writes boxes after an image too, boxes that say nothing about it. Everything is trained
// (image tower, resampler, gated cross-attention, LM) from scratch, unless model.vision_init names
// a CLIP checkpoint (clip train) whose image tower starts the VLM's (model.freeze_vision keeps it
// frozen, as OpenFlamingo keeps CLIP's).
// The vocabulary is the BPE ids of the training and test captions, every class name of the scene
// bank (training and held-out classes, singular), PIN's prompt and the digits / list symbols.
// Each step's batch is a function of (seed, step). Checkpoints and resume through core::Trainer;
// the finished model is written once more as <run>/vlm.safetensors (save_vlm, config in its
// metadata).
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "pesuite/core/config.h"
#include "pesuite/vision/clip_training.h"
#include "pesuite/vision/vlm.h"

namespace pesuite::vision {

core::Config vlm_training_defaults();
std::vector<std::string> vlm_dataset_specs(const core::Config& cfg);  // data.train, data.test (${data} expanded, bank= added)

// Padded token rows and their next-token targets: targets[b, t] = ids[b, t + 1] where that token
// is in the loss, else -100 (and at the last position).
struct TokenBatch {
  torch::Tensor ids;      // int64 [B, T], VlmVocab::kPad after each row's end
  torch::Tensor targets;  // int64 [B, T]
};
// rows[b] and in_loss[b] of equal length: whether token t of row b is predicted in the loss.
TokenBatch pad_token_rows(const std::vector<std::vector<std::int64_t>>& rows, const std::vector<std::vector<bool>>& in_loss);
// Mean cross-entropy over the targets that are not -100 (float32).
torch::Tensor next_token_loss(const torch::Tensor& logits, const torch::Tensor& targets);
// A data-parallel rank's part of that mean over a global batch: its rows' summed cross-entropy
// times world_size / global_targets (the global batch's count of targets that are not -100), so
// that GradientSync's mean over ranks is the single-process gradient even when shares hold
// different numbers of targets. The rows may be a slice of the batch padded as a whole: the
// padding is never a target, and a causal LM never reads it.
torch::Tensor share_of_next_token_loss(const torch::Tensor& logits, const torch::Tensor& targets, double global_targets, int world_size);

// The words a VLM for these scenes needs (see above).
VlmVocab scene_vocabulary(const ClipTokenizer& tok, const std::vector<const ClipScenes*>& sets);
// A box text: one of located_templates() ("the {c} is located at{b}", PIN's own wording "In the
// image is a {c} located at{b}", ...) with a name of `names` and a well-formed random box of `bins`
// cells (two uniform cells per axis, sorted; box_answer's text), drawn from `rng`. Nothing in it
// depends on an image.
std::string located_text(std::mt19937_64& rng, std::int64_t bins, const std::vector<std::string>& names);
const std::vector<std::string>& located_templates();

struct CaptionScores {
  double token_accuracy = 0;           // argmax next token == the caption's, over caption tokens and <|endofchunk|>
  double perplexity = 0;               // exp(mean cross-entropy) over the same tokens
  double shuffled_token_accuracy = 0;  // the same with every scene's image swapped for the next scene's
  std::int64_t tokens = 0, scenes = 0;
};
CaptionScores caption_scores(Vlm& vlm, const ClipTokenizer& tok, const ClipScenes& data, std::int64_t batch, const torch::Device& device);
// Greedy decoding of a caption after <image> (up to max_tokens or <|endofchunk|>): one text per image.
std::vector<std::string> caption_images(Vlm& vlm, const ClipTokenizer& tok, const torch::Tensor& images, std::int64_t max_tokens,
                                        const torch::Device& device);

struct VlmTrainResult {
  bool finished = true;
  std::int64_t steps = 0, total_steps = 0;
  double train_seconds = 0, final_loss = 0;
  std::string run_path, checkpoint, vlm_file;
  CaptionScores test;
  std::int64_t parameters = 0;
};
// Data-parallel under several ranks (core/distributed.h): each rank trains on its rows of every
// global batch, weighted by the global batch's target-token count (one process's gradient); rank 0
// alone evaluates and writes the VLM file (the other ranks' results have no test scores).
VlmTrainResult run_vlm_training(const core::Config& config, const std::string& runs_root, const std::string& resume = "");
core::Config vlm_resume_config(const std::string& run_or_checkpoint);
// The VLM a config describes, for a vocabulary: model.name's preset with the model.* overrides.
Vlm build_vlm(const core::Config& cfg, const VlmVocab& vocab);
// Copies the image tower of a CLIP checkpoint (load_clip_checkpoint) into the VLM's; InputError
// naming the file and the tensor when the towers differ in shape.
void init_vision_from_clip(Vlm& vlm, const std::string& clip_checkpoint);

}  // namespace pesuite::vision
