// StepGraphs (cuda_graph.h): per-shape CUDA graphs of a training step.
#include "pesuite/core/cuda_graph.h"

#include <map>
#include <stdexcept>

#if PESUITE_WITH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <optional>
#endif

namespace pesuite::core {

#if PESUITE_WITH_CUDA
struct StepGraphs::Impl {
  std::map<std::string, std::pair<int, std::unique_ptr<at::cuda::CUDAGraph>>> shapes;  // eager runs, graph
  std::optional<c10::cuda::CUDAStream> side;
};

namespace {
// The side stream starts after what the caller queued (the batch's upload) ...
c10::cuda::CUDAStream side_after(std::optional<c10::cuda::CUDAStream>& side, const c10::cuda::CUDAStream& caller) {
  if (!side) side = c10::cuda::getStreamFromPool(/*isHighPriority=*/false, caller.device_index());
  at::cuda::CUDAEvent queued;
  queued.record(caller);
  queued.block(*side);
  return *side;
}
// ... and the caller's stream continues after the side stream's work.
void caller_after(const c10::cuda::CUDAStream& side, const c10::cuda::CUDAStream& caller) {
  at::cuda::CUDAEvent done;
  done.record(side);
  done.block(caller);
}
}  // namespace
#else
struct StepGraphs::Impl {};
#endif

StepGraphs::StepGraphs(c10::Device device, int eager_runs)
    : impl_(std::make_unique<Impl>()), device_(device), eager_runs_(eager_runs < 1 ? 1 : eager_runs) {}
StepGraphs::~StepGraphs() = default;

bool StepGraphs::available() {
#if PESUITE_WITH_CUDA
  return true;
#else
  return false;
#endif
}

std::size_t StepGraphs::captured() const {
#if PESUITE_WITH_CUDA
  std::size_t n = 0;
  for (const auto& [key, entry] : impl_->shapes) n += entry.second != nullptr;
  return n;
#else
  return 0;
#endif
}

StepGraphs::Ran StepGraphs::run(const std::string& key, const std::function<void()>& prepare,
                                const std::function<void()>& step) {
#if PESUITE_WITH_CUDA
  if (!device_.is_cuda()) {
    prepare();
    step();
    return Ran::eager;
  }
  c10::cuda::CUDAGuard on_device(device_);
  auto caller = c10::cuda::getCurrentCUDAStream();
  auto side = side_after(impl_->side, caller);
  Ran ran = Ran::eager;
  {
    c10::cuda::CUDAStreamGuard on_side(side);
    prepare();
    auto& [runs, graph] = impl_->shapes[key];
    if (graph) {
      graph->replay();
      ran = Ran::replayed;
    } else if (runs < eager_runs_) {
      step();
      ++runs;
    } else {
      auto g = std::make_unique<at::cuda::CUDAGraph>();
      try {
        g->capture_begin();
        step();
        g->capture_end();
      } catch (const std::exception& e) {
        try {
          g->capture_end();  // leave capture mode if the throw came from inside step
        } catch (...) {
        }
        throw CaptureError("CUDA graph capture of the training step failed for shape " + key + ": " + e.what() +
                           " (train without CUDA graphs)");
      }
      g->replay();  // capture records, it does not run: this is the step
      graph = std::move(g);
      ran = Ran::captured;
    }
  }
  caller_after(side, caller);
  return ran;
#else
  (void)key;
  prepare();
  step();
  return Ran::eager;
#endif
}

void StepGraphs::on_side_stream(const std::function<void()>& fn) {
#if PESUITE_WITH_CUDA
  if (device_.is_cuda()) {
    c10::cuda::CUDAGuard on_device(device_);
    auto caller = c10::cuda::getCurrentCUDAStream();
    auto side = side_after(impl_->side, caller);
    {
      c10::cuda::CUDAStreamGuard on_side(side);
      fn();
    }
    caller_after(side, caller);
    return;
  }
#endif
  fn();
}

}  // namespace pesuite::core
