#pragma once
// For resume tests: two checkpoints hold the same model weights and optimiser state, bit for bit.
//
//   EXPECT_GT(expect_same_checkpoint_state(full_run_ckpt, resumed_run_ckpt), 20);
#include <gtest/gtest.h>

#include <string>

#include "pesuite/core/safetensors.h"

namespace pesuite::test {

// Every "model.*" and "optim.*" tensor of a is in b and equal to it; returns how many were compared.
inline int expect_same_checkpoint_state(const std::string& a_ckpt, const std::string& b_ckpt) {
  const auto a = core::load_safetensors(a_ckpt), b = core::load_safetensors(b_ckpt);
  int compared = 0;
  for (const auto& [name, t] : a.tensors)
    if (name.rfind("model.", 0) == 0 || name.rfind("optim.", 0) == 0) {
      const auto it = b.tensors.find(name);
      EXPECT_TRUE(it != b.tensors.end()) << name << " missing from " << b_ckpt;
      if (it == b.tensors.end()) continue;
      EXPECT_TRUE(torch::equal(t, it->second)) << name;
      ++compared;
    }
  return compared;
}

}  // namespace pesuite::test
