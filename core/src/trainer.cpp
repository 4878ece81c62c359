#include "pesuite/core/trainer.h"

#include <cmath>
#include <cstdio>
#include <iostream>

#include "pesuite/core/distributed.h"
#include "pesuite/core/error.h"
#include "pesuite/core/progress.h"
#include "pesuite/core/atomic_file.h"
#include "pesuite/core/optim.h"

namespace pesuite::core {

Trainer::Trainer(torch::nn::Module& model, torch::optim::AdamW& optimizer, LrSchedule& schedule, TrainerOptions options)
    : model_(model), optimizer_(optimizer), schedule_(schedule), options_(std::move(options)),
      data_rng_(options_.data_seed) {
  if (!options_.ckpt_dir.empty() && dist::World::get().writer()) make_dirs(options_.ckpt_dir);
}

void Trainer::resume(const std::string& checkpoint_path) {
  state_ = load_checkpoint(checkpoint_path, model_, optimizer_, schedule_, data_rng_);
  last_checkpoint_ = checkpoint_path;
}

void Trainer::apply_lr() {
  const double lr = schedule_.lr_at(state_.step);
  for (auto& g : optimizer_.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
}

void Trainer::save(const std::string& file_name) {
  if (options_.ckpt_dir.empty()) return;
  const std::string path = options_.ckpt_dir + "/" + file_name;
  last_checkpoint_ = path;
  if (!dist::World::get().writer()) return;  // rank 0 writes; its checkpoint is every rank's
  save_checkpoint(path, model_, optimizer_, schedule_, state_, data_rng_);
  last_checkpoint_ = path;
}

TrainState Trainer::fit(const LossFn& loss_fn, const StepHook& on_step) {
  auto& world = dist::World::get();
  // Several processes: rank 0's weights everywhere, then gradients all-reduced during backward.
  if (world.distributed() && !sync_) sync_ = std::make_unique<dist::GradientSync>(world, model_);
  return loop(
      [&] {
        // With several ranks the gradients are views into GradientSync's buckets: it zeroes them.
        if (sync_) sync_->begin();
        else optimizer_.zero_grad();
        torch::Tensor loss = loss_fn(state_.step, data_rng_);
        // The ranks' mean: all of them see the same value, so all stop together on a non-finite one.
        const double value = world.mean(loss.item<double>());
        if (!std::isfinite(value)) return value;  // before the step: the weights stay as they were
        backward_and_step(loss);
        return value;
      },
      on_step);
}

TrainState Trainer::fit_graphed(const StagedLossFn& staged, const StepHook& on_step) {
  auto& world = dist::World::get();
  auto* fused = dynamic_cast<core::FusedAdamW*>(&optimizer_);
  if (fused == nullptr) throw std::logic_error("Trainer::fit_graphed needs a core::FusedAdamW optimiser");
  const auto params = model_.parameters();
  const auto device = params.empty() ? torch::Device(torch::kCPU) : params.front().device();
  // Several ranks: the gradient all-reduces are launched inside the step, so on CUDA (NCCL) they
  // are captured and replayed with it; the CPU's Gloo collectives cannot be, and a CPU step is
  // never captured anyway: there the option is refused rather than silently meaning nothing.
  if (world.distributed() && !device.is_cuda())
    throw InputError("train.cuda_graphs with several processes needs CUDA (NCCL; world size " + std::to_string(world.size()) + " on " +
                     device.str() + "); set train.cuda_graphs=false");
  fused->set_graph_safe(true);
  if (device.is_cuda() && core::StepGraphs::available() && !fused->uses_fused_kernel())
    throw std::logic_error("Trainer::fit_graphed: on CUDA the optimiser step must be the fused kernel (float32 "
                           "parameters, no amsgrad), else a captured step would freeze its learning rate");
  if (!graphs_) graphs_ = std::make_unique<core::StepGraphs>(device);
  // Made on the capture's side stream, so that its accumulator hooks can be captured (cuda_graph.h).
  if (world.distributed() && !sync_) graphs_->on_side_stream([&] { sync_ = std::make_unique<dist::GradientSync>(world, model_); });
  return loop(
      [&] {
        const StagedStep s = staged(state_.step, data_rng_);
        auto& out = graph_losses_[s.key];  // the step writes its loss here (static memory)
        if (!out.defined()) out = torch::zeros({}, torch::TensorOptions().device(device));
        auto prepare = [&] {
          s.stage();
          fused->stage_lr();
        };
        auto step = [&] {
          if (sync_) sync_->begin();
          else optimizer_.zero_grad();
          auto loss = s.loss();
          backward_and_step(loss);
          out.copy_(loss.detach());
        };
        if (graphs_failed_) {
          prepare();
          step();
        } else {
          try {
            if (graphs_->run(s.key, prepare, step) == core::StepGraphs::Ran::replayed) fused->replayed();
          } catch (const core::CaptureError& e) {
            // A step that cannot be captured (an op of this model or data that syncs the host):
            // nothing of it ran, so this step and the rest run eagerly, as bench vit does. Any
            // other error of the step (bad data, say) is not retried: it ends the run as in fit.
            std::cerr << e.what() << "; the remaining steps run eagerly\n";
            graphs_failed_ = true;
            prepare();
            step();
          }
        }
        return world.mean(out.item<double>());  // the ranks' mean, as fit's
      },
      on_step);
}

void Trainer::backward_and_step(const torch::Tensor& loss) {
  // A rank whose share of the batch is empty has no graph: its gradients count as zeros.
  if (!sync_ || loss.requires_grad()) loss.backward();
  if (sync_) sync_->end();
  if (options_.clip_grad_norm > 0) core::clip_grad_norm(model_.parameters(), options_.clip_grad_norm);
  optimizer_.step();
}

TrainState Trainer::loop(const std::function<double()>& one_step, const StepHook& on_step) {
  Progress bar(options_.total_steps, options_.label);
  bar.tick(state_.step);
  model_.train();
  while (state_.step < options_.total_steps) {
    apply_lr();
    const double value = one_step();
    if (!std::isfinite(value)) {
      bar.finish();
      throw TrainingDiverged("step " + std::to_string(state_.step) + ": loss is " + std::to_string(value) +
                             "; training stopped" +
                             (last_checkpoint_.empty() ? std::string(" (no checkpoint written yet)")
                                                       : "; last good checkpoint: " + last_checkpoint_));
    }
    ++state_.step;
    char status[48];
    std::snprintf(status, sizeof status, "loss %.4g", value);
    bar.tick(1, status);
    const bool go_on = on_step ? on_step(state_, value) : true;
    if (options_.checkpoint_every > 0 && state_.step % options_.checkpoint_every == 0) save();
    if (!go_on) break;
  }
  bar.finish();
  save();
  return state_;
}

}  // namespace pesuite::core
