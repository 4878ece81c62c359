// A Kineto (PyTorch profiler) trace of a few benchmark steps, saved as Chrome-trace JSON: the same
// file torch.profiler's export_chrome_trace writes, so scripts/gpu/kernel_table.py can put our
// kernels next to the Python reference's. LibTorch 2.x with Kineto only; elsewhere start() says
// why it cannot and the benchmark carries on without a trace.
//
//   KernelTrace trace;
//   if (trace.start()) { for (int i = 0; i < 5; ++i) step(); sync(); trace.stop("/tmp/ours.json"); }
#pragma once

#include <torch/torch.h>

#include <iostream>

#include "pesuite/core/publish_file.h"
#include <string>

#if TORCH_VERSION_MAJOR >= 2 && __has_include(<torch/csrc/autograd/profiler_kineto.h>)
#include <torch/csrc/autograd/profiler_kineto.h>
#define PESUITE_HAS_KINETO_TRACE 1
#else
#define PESUITE_HAS_KINETO_TRACE 0
#endif

namespace pesuite::cli {

class KernelTrace {
 public:
  bool start() {
#if PESUITE_HAS_KINETO_TRACE
    namespace prof = torch::profiler::impl;
    const prof::ProfilerConfig config(prof::ProfilerState::KINETO);
    const std::set<prof::ActivityType> activities{prof::ActivityType::CPU, prof::ActivityType::CUDA};
    torch::autograd::profiler::prepareProfiler(config, activities);
    torch::autograd::profiler::enableProfiler(config, activities);
    active_ = true;
    return true;
#else
    std::cerr << "profile: this LibTorch has no Kineto profiler (2.x needed); no trace written\n";
    return false;
#endif
  }

  void stop(const std::string& path) {
#if PESUITE_HAS_KINETO_TRACE
    if (!active_) return;
    active_ = false;
    auto result = torch::autograd::profiler::disableProfiler();
    if (!result) return;
    // The profiler writes by path: into a temporary, then renamed onto `path` (never half-written).
    const std::string tmp = core::temporary_path_for(path);
    result->save(tmp);
    core::publish_file(tmp, path);
    std::cerr << "profile: trace written to " << path << "\n";
#else
    (void)path;
#endif
  }

 private:
  bool active_ = false;
};

}  // namespace pesuite::cli
