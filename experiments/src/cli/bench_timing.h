// Timing shared by the benchmarks: a device synchronisation, blocks of steps each timed from one
// synchronisation to the next (no host sync inside a block), and the median block.
//
//   auto blocks = time_blocks(dev, /*repeats=*/3, /*steps=*/30, [&] { step(); });
//   double per_second = steps * batch / median(blocks);
#pragma once

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <vector>

#if __has_include(<torch/cuda.h>)
#include <torch/cuda.h>
#endif

namespace pesuite::cli {

inline void sync(const torch::Device& dev) {
  if (dev.is_cuda()) torch::cuda::synchronize(dev.index() < 0 ? -1 : dev.index());
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Seconds of each of `repeats` blocks of `steps` calls of step().
template <typename Step>
std::vector<double> time_blocks(const torch::Device& dev, int repeats, int steps, Step&& step) {
  std::vector<double> blocks;
  for (int r = 0; r < repeats; ++r) {
    sync(dev);
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < steps; ++i) step();
    sync(dev);
    blocks.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return blocks;
}

}  // namespace pesuite::cli
