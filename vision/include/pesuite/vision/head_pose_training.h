#pragma once
// Head-pose training and evaluation from a config (`pesuite vision train` with task = "headpose",
// the headpose / headpose-semi tables): a backbone + head of head_pose_heads.h, data from any
// head-pose format (head_pose_data.h: facesynth:, 300wlp:, aflw2000:, biwi:) with Hopenet's loose
// crop and flip, AdamW + warm-up / cosine through the shared core::Trainer (bf16 autocast on CUDA,
// checkpoints, resume bit for bit on CPU), and test metrics on every named test set: MAE of yaw,
// pitch, roll and their mean (AFLW2000's protocol: faces with any angle outside [-99, 99] left out;
// the fullrange head's errors are wrapped), the geodesic error of the rotations, and the
// predict-the-training-mean baseline's MAE beside them.
//
// Semi-supervised (SemiUHPE-style, semi.enabled): data.labelled_fraction of the training faces keep
// their labels, the rest are unlabelled. Every step after semi.start_fraction of training, the
// model (eval mode, no gradient) predicts a weak view of an unlabelled batch and its mirror image;
// their disagreement after un-flipping (geodesic degrees) is the confidence, pseudo-labels are
// kept where it is within an adaptive threshold (AdaptiveThreshold: an EMA of a batch quantile
// whose kept share ramps from semi.keep_start to semi.keep_end), and the model is trained on a
// strong view of the same crop (colour, noise, cutout; flipped with p = 0.5, the pseudo-label's
// yaw and roll negated with it) against them, weighted by semi.weight.
//
//   auto cfg = head_pose_defaults();
//   cfg.merge_file("experiments/configs/vision/headpose-hopenet-r50.toml");
//   HeadPoseResult r = run_head_pose(cfg, "runs");
//   r.sets["aflw2000"].mae;                       // mean of yaw / pitch / roll MAE, degrees
//   run_head_pose(head_pose_resume_config(r.run_path), "runs", r.run_path);   // continue
//   HeadPoseNet net = load_head_pose_model(r.checkpoint, torch::kCPU, &cfg);
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pesuite/core/config.h"
#include "pesuite/vision/head_pose_data.h"
#include "pesuite/vision/head_pose_heads.h"

namespace pesuite::vision {

core::Config head_pose_defaults();
// Whether a config file (or --set list) asks for task = "headpose".
bool is_head_pose_config(const std::string& config_file, const std::vector<std::string>& sets);

// data.train and every data.test spec not in eval.optional, ${data} expanded (what must exist).
std::vector<std::string> head_pose_dataset_specs(const core::Config& cfg);
// data.test as (name, spec) pairs, ${data} expanded.
std::vector<std::pair<std::string, std::string>> head_pose_test_sets(const core::Config& cfg);

struct HeadPoseSetMetrics {
  std::int64_t n = 0, dropped = 0;
  double yaw = 0, pitch = 0, roll = 0, mae = 0;  // mean absolute errors, degrees
  double geodesic = 0;                           // mean geodesic error of the rotations, degrees
  double baseline_mae = 0;                       // predicting the training labels' mean for every face
};

struct HeadPoseResult {
  std::map<std::string, HeadPoseSetMetrics> sets;  // by the test set's name (eval / data.test "name=spec")
  bool finished = true;
  std::int64_t steps = 0, total_steps = 0;
  std::int64_t labelled = 0, unlabelled = 0;
  double train_seconds = 0, train_images_per_second = 0;
  double view_seconds = 0;     // of train_seconds, inside train_batch / weak_strong_batch (building the views on the CPU)
  double final_threshold = 0;  // semi: the confidence threshold at the end (geodesic degrees)
  std::string run_path, checkpoint;
};

HeadPoseResult run_head_pose(const core::Config& config, const std::string& runs_root, const std::string& resume = "");
core::Config head_pose_resume_config(const std::string& run_or_checkpoint);
// The config saved in a checkpoint (over the defaults).
core::Config head_pose_checkpoint_config(const std::string& checkpoint);
HeadPoseNet build_head_pose_model(const core::Config& cfg);
// The model of a checkpoint written by run_head_pose, in eval mode; `config_out`: its config.
HeadPoseNet load_head_pose_model(const std::string& checkpoint, const torch::Device& device, core::Config* config_out = nullptr);
HeadPoseDataOptions head_pose_data_options(const core::Config& cfg, bool train);

// Test metrics of a model on a set. mean_pose: the training labels' mean (the baseline's guess).
// wrapped: angular errors wrapped to [0, 180] (the fullrange head).
HeadPoseSetMetrics evaluate_head_pose(HeadPoseNet& model, const HeadPoseData& data, std::int64_t batch, const torch::Device& device,
                                      bool bf16, const std::array<double, 3>& mean_pose, bool wrapped);

// ---- semi-supervised mechanics ----------------------------------------------------------------
// The threshold pseudo-labels must reach: each update takes the quantile of a batch's confidences
// below which a share 1 - keep(progress) lies, keep ramping linearly from keep_start to keep_end
// over training, and moves the threshold towards it by (1 - momentum) (the first update sets it).
// Confidences are "higher is surer"; a sample is kept when its confidence >= the threshold.
class AdaptiveThreshold {
 public:
  AdaptiveThreshold(double keep_start = 0.3, double keep_end = 0.8, double momentum = 0.9);
  double update(std::vector<double> confidences, double progress);  // returns the new threshold
  double value() const { return value_; }
  bool initialised() const { return initialised_; }
  double keep_at(double progress) const;
  nlohmann::json state() const;
  void load_state(const nlohmann::json& s);

 private:
  double keep_start_, keep_end_, momentum_;
  double value_ = 0;
  bool initialised_ = false;
};

// Flip agreement as a confidence: minus the geodesic degrees between the rotation predicted for a
// view and the un-flipped rotation predicted for its mirror image (F R' F). [B].
torch::Tensor flip_agreement(const torch::Tensor& rotation, const torch::Tensor& rotation_of_mirror);

}  // namespace pesuite::vision
