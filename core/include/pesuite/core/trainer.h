#pragma once
// The training loop every frontend shares: steps of (loss -> backward -> clip -> AdamW step ->
// schedule), periodic checkpoints, resume, a progress line, and a hard stop on a non-finite loss
// that keeps the last good checkpoint.
//
//   TrainerOptions opts;  opts.total_steps = 1000;  opts.checkpoint_every = 100;  opts.ckpt_dir = run.ckpt_dir();
//   Trainer trainer(*model, optimizer, schedule, opts);
//   if (resume) trainer.resume(run.ckpt_dir() + "/last.safetensors");
//   trainer.fit([&](std::int64_t step, std::mt19937_64& rng) { return loss_of_batch(step); },
//               [&](TrainState& st, double loss) { if (st.step % 100 == 0) log(...); return true; });
//
// Batches must be a function of the step (and of data_rng, which is checkpointed): then a run of
// 2N steps equals, bitwise on CPU, N steps + resume + N steps.
//
// With several processes (distributed.h: torchrun / Slurm variables or `pesuite --nproc`), fit()
// starts from rank 0's weights, averages the step's loss over ranks and all-reduces gradients during
// backward; only rank 0 writes checkpoints. The loss function then computes the loss of this rank's
// share of the batch (World::batch_share), scaled by the share's loss_scale.
#include <torch/torch.h>

#include <functional>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>

#include "pesuite/core/checkpoint.h"
#include "pesuite/core/lr_schedule.h"
#include "pesuite/core/cuda_graph.h"
#include "pesuite/core/distributed.h"

namespace pesuite::core {

// A non-finite loss: training stopped, the last checkpoint (if any) is intact.
class TrainingDiverged : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct TrainerOptions {
  std::int64_t total_steps = 0;
  std::int64_t checkpoint_every = 0;  // steps; 0 = only at the end
  double clip_grad_norm = 0;          // 0 = off
  std::string ckpt_dir;               // "" = no checkpoints
  std::string label = "train";        // progress-line label
  std::uint64_t data_seed = 0;
};

class Trainer {
 public:
  using LossFn = std::function<torch::Tensor(std::int64_t step, std::mt19937_64& data_rng)>;
  // Called after every step; return false to stop early (the state is checkpointed then).
  using StepHook = std::function<bool(TrainState& state, double loss)>;

  Trainer(torch::nn::Module& model, torch::optim::AdamW& optimizer, LrSchedule& schedule, TrainerOptions options);

  // One step's batch for fit_graphed: `stage` copies it into the static input tensors of shape
  // `key` (runs eagerly, every step), `loss` computes the loss from those tensors only (captured
  // once per key as a CUDA graph with backward, clipping and the optimiser step, then replayed).
  struct StagedStep {
    std::string key;
    std::function<void()> stage;
    std::function<torch::Tensor()> loss;
  };
  using StagedLossFn = std::function<StagedStep(std::int64_t step, std::mt19937_64& data_rng)>;

  void resume(const std::string& checkpoint_path);
  TrainState fit(const LossFn& loss_fn, const StepHook& on_step = {});
  // fit, with every step a replayed CUDA graph per input shape (heads/cuda_graph.h); needs a
  // core::FusedAdamW optimiser. A non-finite loss is seen after its step (the weights have taken
  // it; the last checkpoint is intact). Without a CUDA build the steps simply run eagerly; a step
  // that cannot be captured says why on stderr and it and every later step run eagerly.
  TrainState fit_graphed(const StagedLossFn& staged, const StepHook& on_step = {});
  void save(const std::string& file_name = "last.safetensors");

  TrainState& state() { return state_; }
  std::mt19937_64& data_rng() { return data_rng_; }
  std::string last_checkpoint() const { return last_checkpoint_; }

 private:
  void apply_lr();
  TrainState loop(const std::function<double()>& one_step, const StepHook& on_step);
  void backward_and_step(const torch::Tensor& loss);  // backward, clipping, optimiser step
  torch::nn::Module& model_;
  torch::optim::AdamW& optimizer_;
  LrSchedule& schedule_;
  TrainerOptions options_;
  TrainState state_;
  std::mt19937_64 data_rng_;
  std::string last_checkpoint_;
  std::unique_ptr<dist::GradientSync> sync_;      // world size > 1 (distributed.h)
  std::unique_ptr<core::StepGraphs> graphs_;       // fit_graphed
  std::map<std::string, torch::Tensor> graph_losses_;  // fit_graphed: each shape's loss output
  bool graphs_failed_ = false;                         // fit_graphed: a capture failed, eager from then on
};

}  // namespace pesuite::core
