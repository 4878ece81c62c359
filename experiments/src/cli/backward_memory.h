#pragma once
// Where one backward pass peaks in GPU memory: hooks on every autograd node reachable from the loss
// record the caching allocator's allocated bytes when the node starts and the peak reached while it
// runs (`bench vit --memory-trace`; CUDA builds, LibTorch's FunctionPreHook / FunctionPostHook).
// The nodes' peaks together are the backward's peak; the top rows say which node holds it and
// how far above its entry it climbs (the node's own transient buffers).
//
//   BackwardMemory trace(read_mb, reset_peak);   // the allocator readers of the caller
//   trace.attach(loss);                          // before loss.backward()
//   loss.backward();
//   auto rows = trace.top(8);                    // {name, entry_mb, peak_mb}, highest peak first
#include <torch/torch.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include <torch/csrc/autograd/function_hook.h>

namespace pesuite::cli {

class BackwardMemory {
 public:
  struct Row {
    std::string name;
    double entry_mb = 0, peak_mb = 0;
  };
  // read_mb(peak): allocated MiB now (false) or the peak since reset_peak() (true).
  BackwardMemory(std::function<double(bool)> read_mb, std::function<void()> reset_peak)
      : read_mb_(std::move(read_mb)), reset_peak_(std::move(reset_peak)) {}

  // Hooks every node of loss's graph once (the graph owns them; they die with it).
  void attach(const torch::Tensor& loss) {
    std::vector<torch::autograd::Node*> todo;
    std::unordered_set<torch::autograd::Node*> seen;
    if (auto fn = loss.grad_fn()) todo.push_back(fn.get());
    while (!todo.empty()) {
      auto* node = todo.back();
      todo.pop_back();
      if (!seen.insert(node).second) continue;
      node->add_pre_hook(std::make_unique<Enter>(this, node->name()));
      node->add_post_hook(std::make_unique<Leave>(this));
      for (const auto& edge : node->next_edges())
        if (edge.function) todo.push_back(edge.function.get());
    }
  }

  // The nodes by their peak, highest first (at most n).
  std::vector<Row> top(std::size_t n) const {
    auto rows = rows_;
    std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.peak_mb > b.peak_mb; });
    if (rows.size() > n) rows.resize(n);
    return rows;
  }
  double peak_mb() const {
    double p = 0;
    for (const auto& r : rows_) p = std::max(p, r.peak_mb);
    return p;
  }
  std::size_t nodes() const { return rows_.size(); }

 private:
  // Nodes run one at a time on a device's backward thread: the open row is the last one pushed.
  struct Enter : torch::autograd::FunctionPreHook {
    Enter(BackwardMemory* t, std::string n) : trace(t), name(std::move(n)) {}
    torch::autograd::variable_list operator()(const torch::autograd::variable_list& grads) override {
      trace->rows_.push_back({name, trace->read_mb_(false), 0});
      trace->reset_peak_();
      return grads;
    }
    BackwardMemory* trace;
    std::string name;
  };
  struct Leave : torch::autograd::FunctionPostHook {
    explicit Leave(BackwardMemory* t) : trace(t) {}
    torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                              const torch::autograd::variable_list& /*inputs*/) override {
      if (!trace->rows_.empty()) trace->rows_.back().peak_mb = trace->read_mb_(true);
      return outputs;
    }
    BackwardMemory* trace;
  };

  std::function<double(bool)> read_mb_;
  std::function<void()> reset_peak_;
  std::vector<Row> rows_;
};

}  // namespace pesuite::cli
