#pragma once
// Data-parallel training over processes with PyTorch's own c10d: a TCPStore rendezvous, Gloo's
// process group for CPU tensors and NCCL's for CUDA tensors (CUDA builds where nccl.h is found; one
// GPU per process, LOCAL_RANK's, made the current device). One process per rank; rank,
// world size and rendezvous come from the environment that torchrun and Slurm set, or from
// `pesuite --nproc N`, which starts N ranks of itself on this machine (experiments/src/cli/nproc.cpp).
//
// The variables (RANK, WORLD_SIZE, ..., PESUITE_DIST_TIMEOUT_S) and their defaults: launch.h.
//
// The variables make a process group even at world size 1 (as torch's DDP: `pesuite --nproc 1`
// runs the whole path). Call World::get() before moving a model to "cuda": it picks the GPU.
// What a run does with N ranks (core::Trainer and the pipelines call this; user code rarely needs
// more than the first lines):
//
//   auto& world = pesuite::core::dist::World::get();   // world size 1 without the variables
//   auto share = world.batch_share(batch.size());       // this rank's [begin, end) of a global batch
//   loss = loss_of(items[share.begin .. share.end)) * share.loss_scale;
//   // core::Trainer: parameters and buffers broadcast from rank 0 at the start of fit(); every
//   // step's loss averaged over ranks (all ranks stop together on a non-finite loss); gradients
//   // all-reduced in buckets while the backward pass runs (GradientSync); rank 0 alone writes.
//
// The global batch of a step is the single-process batch split into N contiguous shares, each loss
// scaled by share * N / batch, so the averaged gradient is the single-process one up to float
// summation order. Batch norms use each rank's own statistics (as torch's DDP without SyncBatchNorm).
#include <torch/torch.h>

#include <chrono>
#include <functional>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "pesuite/core/launch.h"
#include "pesuite/core/rank.h"

namespace pesuite::core::dist {

// A collective or the rendezvous failed: another rank died, hung past the timeout, or never came.
class DistributedError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// This rank's contiguous share [begin, end) of a global batch of `size` items, and the factor
// (end - begin) * world / size that makes the ranks' mean of per-share mean losses the global mean.
struct BatchShare {
  std::int64_t begin = 0, end = 0;
  double loss_scale = 1.0;
  bool empty() const { return end <= begin; }
};
BatchShare batch_share(std::int64_t size, int rank, int world_size);

class World;
// The sum of x over the ranks, whose gradient is likewise the sum over the ranks of the gradients
// (as SyncBatchNorm's statistics). Without a process group it returns x.
//
//   auto total = dist::sum_over_ranks(world, x.sum(0));   // [C]: the global batch's column sums
torch::Tensor sum_over_ranks(World& world, const torch::Tensor& x);

// Every rank's share of a global batch, in rank order: [total, ...] from this rank's rows
// [share.end - share.begin, ...] (shares as batch_share gives them), on every rank. Differentiable:
// backward gives each rank the sum over ranks of the gradient of its own rows (the full gradient
// all-reduced, then its slice), so when every rank computes the same loss from the gathered rows
// (e.g. CLIP's in-batch negatives), GradientSync's mean over ranks is the single-process gradient.
// Without a process group it returns `local`.
//
//   auto img = dist::gather_shares(world, model->encode_image(x_share), share, batch);   // [batch, E]
torch::Tensor gather_shares(World& world, const torch::Tensor& local, const BatchShare& share, std::int64_t total);

class World {
 public:
  // The process's world, set up on first use (world size 1: no process group, every call local).
  static World& get();
  // For tests: a world of this launch (its rendezvous happens here). Most code uses get().
  explicit World(const Launch& launch);
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  int rank() const { return launch_.rank; }
  int size() const { return launch_.world_size; }
  int local_rank() const { return launch_.local_rank; }
  bool distributed() const { return launch_.launched; }  // a process group exists (any world size)
  bool writer() const { return launch_.rank == 0; }  // rank 0 alone writes run folders and checkpoints
  const Launch& launch() const { return launch_; }

  BatchShare batch_share(std::int64_t size) const { return dist::batch_share(size, rank(), size_of_world()); }

  // Collectives (in place; every rank calls them in the same order). DistributedError on failure.
  void all_reduce_sum(std::vector<torch::Tensor>& tensors);
  void broadcast(std::vector<torch::Tensor>& tensors, int root = 0);
  void barrier();
  double mean(double value);                      // over ranks
  void broadcast(std::vector<double>& values);    // rank 0's values everywhere
  // Ends the process group's communicators (torch's destroy_process_group); the CLI calls it last.
  void shutdown();
  // Whether this build has Gloo, the process group for CPU tensors (without it, CPU tensors go
  // through the GPU with NCCL, and several ranks need several GPUs).
  static bool has_cpu_group();

  // Rank 0's `value` on every rank (through the store): e.g. the run folder rank 0 created.
  std::string share_from_rank0(const std::string& key, const std::string& value);

  // Asynchronous sum for GradientSync: returns a handle to wait on.
  class Pending;
  std::shared_ptr<Pending> all_reduce_sum_async(torch::Tensor& flat);
  void wait(Pending& pending);

 private:
  int size_of_world() const { return launch_.world_size; }
  [[noreturn]] void fail(const std::string& what, const std::exception& e) const;
  struct Group;
  Launch launch_;
  std::unique_ptr<Group> group_;
  std::int64_t shared_keys_ = 0;
};

// Gradient all-reduce in buckets, launched from autograd hooks as each bucket's gradients arrive
// (in a fixed bucket order, as every rank must issue collectives in the same order), so the
// communication overlaps the rest of the backward pass. As torch's DDP with gradient_as_bucket_view:
// each parameter's .grad is a view into its bucket, so nothing is copied. Parameters that get no
// gradient on a step count as zeros. Construction broadcasts rank 0's parameters and buffers.
//
//   GradientSync sync(world, model);                 // once, after any resume
//   sync.begin(); loss.backward(); sync.end();       // every step; end() leaves averaged .grad()
class GradientSync {
 public:
  GradientSync(World& world, torch::nn::Module& model, std::int64_t bucket_bytes = 25 << 20);
  ~GradientSync();
  GradientSync(const GradientSync&) = delete;
  GradientSync& operator=(const GradientSync&) = delete;
  void begin();  // zeroes the buckets and points every .grad at its view
  void end();    // launches what is left, waits, divides by the world size
  std::size_t buckets() const { return buckets_.size(); }

 private:
  struct Bucket;
  void on_ready(std::size_t param);
  std::int64_t used(const Bucket& b) const;  // elements up to the end of its last parameter
  void launch_ready();
  World& world_;
  std::vector<torch::Tensor> params_, views_;
  std::vector<std::size_t> bucket_of_, slot_of_;  // per parameter
  std::vector<std::unique_ptr<Bucket>> buckets_;
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators_;
  std::vector<std::uintptr_t> hook_keys_;
  std::size_t next_launch_ = 0;
  bool active_ = false;
};

}  // namespace pesuite::core::dist
