#pragma once
// Training checkpoints as one safetensors file: model state ("model.<name>"), AdamW state
// ("optim.<name>.exp_avg" / ".exp_avg_sq" / ".max_exp_avg_sq" / ".step"), torch's RNG states
// ("rng.cpu", "rng.cuda.<i>" per CUDA device), in __metadata__ the step, epoch, best value, schedule,
// data-order RNG and any extra JSON. Loading into fresh objects continues a run bitwise on CPU; on
// CUDA only up to float rounding (atomic adds; docs/reproducibility.md).
//
//   TrainState st{...};
//   save_checkpoint(run.ckpt_dir() + "/last.safetensors", *model, optimizer, schedule, st, data_rng);
//   TrainState back = load_checkpoint(path, *model, optimizer, schedule, data_rng);
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>
#include <random>
#include <string>

#include "pesuite/core/lr_schedule.h"

namespace pesuite::core {

struct TrainState {
  std::int64_t step = 0;   // optimiser steps done
  std::int64_t epoch = 0;  // epochs done
  double best = std::numeric_limits<double>::quiet_NaN();  // best validation value so far
  std::int64_t best_step = -1;
  nlohmann::json extra = nlohmann::json::object();  // anything else a trainer needs back
};

void save_checkpoint(const std::string& path, const torch::nn::Module& model, torch::optim::AdamW& optimizer,
                     const LrSchedule& schedule, const TrainState& state, const std::mt19937_64& data_rng);

// InputError naming the file for anything that does not fit the model or optimiser.
TrainState load_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::AdamW& optimizer,
                           LrSchedule& schedule, std::mt19937_64& data_rng);

}  // namespace pesuite::core
