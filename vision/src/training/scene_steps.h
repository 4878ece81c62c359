#pragma once
// What the pipelines that train on `scenes:` share (clip_training.cpp, vlm_training.cpp,
// pin_training.cpp): their dataset specs and each step's draw of scenes (a resume's paths: core/run_files.h).
//
//   auto specs = scene_specs(cfg, {"data.train", "data.test"});   // ${data} expanded, data.bank added
//   auto perm = epoch_permutation(seed, epoch, n);                  // the epoch's order of the scenes
//   std::mt19937_64 rng = step_rng(seed, step);                     // the step's own draws
#include <torch/torch.h>

#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "pesuite/core/config.h"
#include "pesuite/core/error.h"
#include "pesuite/datasets/spec.h"

namespace pesuite::vision {

// The config's specs under `keys`, ${data} expanded (data.root), and data.bank added to every
// scenes: spec that names no bank.
inline std::vector<std::string> scene_specs(const core::Config& cfg, const std::vector<std::string>& keys) {
  const auto root = datasets::data_root(cfg.get_string("data.root"));
  const auto bank = cfg.get_string("data.bank");
  std::vector<std::string> out;
  for (const auto& key : keys) {
    auto s = datasets::expand_data_root(cfg.get_string(key), root);
    if (!bank.empty() && s.rfind("scenes:", 0) == 0 && s.find("bank=") == std::string::npos)
      s += std::string(s.find('?') == std::string::npos ? "?" : "&") + "bank=" + bank;
    out.push_back(s);
  }
  return out;
}

// A permutation of [0, n) per (seed, epoch): Fisher-Yates with a generator of its own.
inline std::vector<std::int64_t> epoch_permutation(std::uint64_t seed, std::int64_t epoch, std::int64_t n) {
  std::vector<std::int64_t> perm(static_cast<std::size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ULL + static_cast<std::uint64_t>(epoch) + 1);
  for (std::size_t i = perm.size(); i > 1; --i) std::swap(perm[i - 1], perm[static_cast<std::size_t>(rng() % i)]);
  return perm;
}

// The generator of one step's draws (which caption, which object, the number texts).
inline std::mt19937_64 step_rng(std::uint64_t seed, std::int64_t step) {
  return std::mt19937_64(seed * 0xBF58476D1CE4E5B9ULL + static_cast<std::uint64_t>(step));
}

// AdamW groups as open_clip makes them: no weight decay on gains and biases (fewer than 2
// dimensions) nor on parameters whose name contains one of `no_decay_names`; frozen parameters
// (requires_grad off) are left out.
inline std::vector<torch::optim::OptimizerParamGroup> adamw_groups(torch::nn::Module& model, const torch::optim::AdamWOptions& o,
                                                                   const std::vector<std::string>& no_decay_names) {
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& p : model.named_parameters()) {
    if (!p.value().requires_grad()) continue;
    bool exclude = p.value().dim() < 2;
    for (const auto& n : no_decay_names) exclude = exclude || p.key().find(n) != std::string::npos;
    (exclude ? no_decay : decay).push_back(p.value());
  }
  auto nd = std::make_unique<torch::optim::AdamWOptions>(o);
  nd->weight_decay(0.0);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(o));
  groups.emplace_back(no_decay, std::move(nd));
  return groups;
}

}  // namespace pesuite::vision
