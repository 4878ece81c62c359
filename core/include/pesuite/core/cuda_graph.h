#pragma once
// Replaying a whole training step (forward, backward, optimiser) as one CUDA graph per input shape.
//
// A small model (a 10-layer GNN on ZINC-sized batches) launches some 600 kernels per step, each a
// few microseconds of GPU work: the step is bound by the CPU that launches them. A CUDA graph records
// the launches once and replays them with one call. For that the step must see the same shapes and
// the same memory every time: the caller keeps one set of static input tensors per shape (graph
// batches: static_batch.h pads them to a few shapes), copies each batch into them in `prepare`, and
// `step` reads only those and writes its outputs in place into tensors allocated before it.
// Restrictions inside `step`: no host synchronisation (.item(), nonzero, printing a CUDA tensor), no
// host-dependent control flow that changes between calls; the learning rate must come from a
// device tensor (core::FusedAdamW::set_graph_safe).
//
//   pesuite::core::StepGraphs graphs(device);          // the model's device
//   auto ran = graphs.run(shape.key(),
//       [&] { slot.copy_from(next_batch); opt.stage_lr(); },            // eager, every call
//       [&] { opt.zero_grad(); auto loss = loss_of(model, slot); loss.backward(); opt.step();
//             last_loss.copy_(loss); });                                // eager, captured or replayed
//   if (ran == pesuite::core::StepGraphs::Ran::replayed) opt.replayed();
//
// Each shape runs eagerly `eager_runs` times first (warm-up: cuBLAS workspaces, optimiser state,
// autograd), then is captured and from then on replayed. All of it runs on a side stream that is
// ordered after and before the caller's stream. For a device other than CUDA, or without a CUDA
// LibTorch (available() false), run() calls prepare and step eagerly.
#include <c10/core/Device.h>

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

namespace pesuite::core {

// What StepGraphs::run throws when a step cannot be captured (nothing of that step ran), so that
// a caller can go on eagerly without mistaking another error of the step for it.
class CaptureError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class StepGraphs {
 public:
  enum class Ran { eager, captured, replayed };
  explicit StepGraphs(c10::Device device, int eager_runs = 2);
  ~StepGraphs();
  StepGraphs(const StepGraphs&) = delete;
  StepGraphs& operator=(const StepGraphs&) = delete;

  // Runs one step for inputs of shape `key` (see above). Throws CaptureError, naming the key, when
  // the capture fails (an op in `step` that cannot be captured); no graph is kept then.
  Ran run(const std::string& key, const std::function<void()>& prepare, const std::function<void()>& step);
  // Runs `fn` eagerly on the side stream that run() warms up and captures on, ordered after and
  // before the caller's stream. Build here what autograd runs inside the step but that is made
  // before it, such as core::dist::GradientSync's gradient accumulators: autograd runs a node on
  // the stream it was made on, and a node of the legacy default stream cannot join a capture
  // (cudaErrorStreamCaptureImplicit; PyTorch asks the same of DDP under CUDA graphs).
  void on_side_stream(const std::function<void()>& fn);
  std::size_t captured() const;  // graphs held (one per shape)
  static bool available();       // built against a CUDA LibTorch

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  c10::Device device_;
  int eager_runs_;
};

}  // namespace pesuite::core
