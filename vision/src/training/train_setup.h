#pragma once
// The [train] keys every vision trainer reads the same way (classifier.cpp, head_pose_train.cpp,
// clip_training.cpp, vlm_training.cpp, pin_training.cpp): the learning-rate schedule and the
// trainer's options, and whether train.cuda_graphs replays the steps.
//
//   core::LrSchedule schedule = warmup_cosine_schedule(cfg, total);
//   core::Trainer trainer(*model, optimizer, schedule, trainer_options(cfg, total, "clip", seed, run, steps_per_epoch));
//   const auto st = use_step_graphs(cfg, device, optimizer, run) ? trainer.fit_graphed(staged) : trainer.fit(plain);
#include <cstdint>
#include <string>

#include "pesuite/core/config.h"
#include "pesuite/core/lr_schedule.h"
#include "pesuite/core/optim.h"
#include "pesuite/core/run_dir.h"
#include "pesuite/core/trainer.h"

namespace pesuite::vision {

// Warm-up over train.warmup_fraction of `total` steps to train.lr, then cosine to
// train.lr * train.min_lr_ratio.
inline core::LrSchedule warmup_cosine_schedule(const core::Config& cfg, std::int64_t total) {
  const auto warmup = static_cast<std::int64_t>(cfg.get_double("train.warmup_fraction") * static_cast<double>(total));
  return core::LrSchedule::warmup_cosine(cfg.get_double("train.lr"), warmup, total, cfg.get_double("train.min_lr_ratio"));
}

// `total` steps clipped to train.clip_grad_norm, no checkpoints (a trainer whose run keeps none).
inline core::TrainerOptions trainer_options(const core::Config& cfg, std::int64_t total, std::string label, std::uint64_t seed) {
  core::TrainerOptions o;
  o.total_steps = total;
  o.clip_grad_norm = cfg.get_double("train.clip_grad_norm");
  o.label = std::move(label);
  o.data_seed = seed;
  return o;
}

// ... and checkpoints in `run`'s folder every train.checkpoint_every steps (0 = once per epoch).
inline core::TrainerOptions trainer_options(const core::Config& cfg, std::int64_t total, std::string label, std::uint64_t seed,
                                            const core::RunDir& run, std::int64_t steps_per_epoch) {
  core::TrainerOptions o = trainer_options(cfg, total, std::move(label), seed);
  o.checkpoint_every = cfg.get_int("train.checkpoint_every") > 0 ? cfg.get_int("train.checkpoint_every") : steps_per_epoch;
  o.ckpt_dir = run.ckpt_dir();
  return o;
}

// Whether the steps go through Trainer::fit_graphed (train.cuda_graphs). On CUDA a captured step
// needs the fused AdamW kernel (LibTorch >= 2.3), else its learning rate would be frozen into the
// graph, and whatever else the caller cannot capture (`cannot_capture`: why, "" = nothing); when
// either stops it the steps run eagerly and the run's log says why. On the CPU nothing is captured:
// the plain steps, unless train.stage_on_cpu asks for the staged form (the tests' check that it
// trains as the plain steps do; fit_graphed refuses it for several processes).
inline bool use_step_graphs(const core::Config& cfg, const torch::Device& device, const core::FusedAdamW& optimizer, core::RunDir& run,
                            const std::string& cannot_capture = "") {
  if (!cfg.get_bool("train.cuda_graphs")) return false;
  if (!device.is_cuda()) return cfg.get_bool("train.stage_on_cpu");
  const std::string why = optimizer.uses_fused_kernel() ? cannot_capture : "this LibTorch has no fused AdamW kernel (>= 2.3)";
  if (why.empty()) return true;
  run.log("train.cuda_graphs: " + why + "; the steps run eagerly", false);
  return false;
}

}  // namespace pesuite::vision
