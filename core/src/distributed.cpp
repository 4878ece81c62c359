#include "pesuite/core/distributed.h"

// c10d's Gloo process group is compiled into LibTorch (Debian's 1.13 and pip's 2.x); its header
// needs Gloo's own headers (Debian: libgloo-dev) and this switch.
#if __has_include(<gloo/algorithm.h>)
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#define PESUITE_HAVE_GLOO 1
#endif
// NCCL for CUDA tensors where the LibTorch is a CUDA one and nccl.h was found (core/CMakeLists.txt).
#ifdef PESUITE_WITH_NCCL
#ifndef USE_C10D_NCCL
#define USE_C10D_NCCL
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#include <c10/cuda/CUDAFunctions.h>
#endif
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/version.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>

#include "pesuite/core/error.h"
#include "pesuite/core/rank.h"

namespace pesuite::core::dist {

BatchShare batch_share(std::int64_t size, int rank, int world_size) {
  BatchShare s;
  const auto n = std::max<std::int64_t>(0, size);
  // Contiguous shares whose sizes differ by at most one, the larger ones first.
  const std::int64_t base = n / world_size, extra = n % world_size;
  s.begin = rank * base + std::min<std::int64_t>(rank, extra);
  s.end = s.begin + base + (rank < extra ? 1 : 0);
  s.loss_scale = n == 0 ? 0.0 : static_cast<double>(s.end - s.begin) * world_size / static_cast<double>(n);
  return s;
}

struct World::Group {
  c10::intrusive_ptr<c10d::Store> store;
#ifdef PESUITE_HAVE_GLOO
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;  // CPU tensors (and CUDA ones when there is no NCCL)
#endif
#ifdef PESUITE_WITH_NCCL
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;  // CUDA tensors
#endif
  // Runs `op` on the process group for tensors like t: NCCL for CUDA tensors when it is there.
  template <class Op>
  c10::intrusive_ptr<c10d::Work> run(const torch::Tensor& t, Op op) {
#ifdef PESUITE_WITH_NCCL
    if (nccl && (t.is_cuda() || !has_gloo())) return op(*nccl);
#endif
#ifdef PESUITE_HAVE_GLOO
    return op(*gloo);
#else
    (void)t, (void)op;
    throw std::logic_error("no process group");
#endif
  }
  bool has_gloo() const {
#ifdef PESUITE_HAVE_GLOO
    return static_cast<bool>(gloo);
#else
    return false;
#endif
  }
  // Small tensors of World's own (a loss to average, flags): where the process group takes them.
  torch::Device scalar_device() const { return has_gloo() ? torch::Device(torch::kCPU) : torch::Device(torch::kCUDA); }
  // A CPU tensor where only NCCL is there (pip's LibTorch ships no Gloo headers): through the GPU.
  bool needs_staging(const torch::Tensor& t) const { return !t.is_cuda() && !has_gloo(); }
};

class World::Pending {
 public:
  c10::intrusive_ptr<c10d::Work> work;
  std::vector<torch::Tensor> tensors;
};

World& World::get() {
  static World world(launch_from_environment());
  return world;
}

World::World(const Launch& launch) : launch_(launch), group_(std::make_unique<Group>()) {
  if (!launch_.launched) return;
  const auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(launch_.timeout);
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(launch_.master_port);
    so.isServer = rank() == 0;
    so.numWorkers = static_cast<std::size_t>(size());
    so.waitWorkers = true;
    so.timeout = timeout;
    group_->store = c10::make_intrusive<c10d::TCPStore>(launch_.master_addr, so);
#ifdef PESUITE_HAVE_GLOO
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    // Loopback for a one-machine world, else the interface that reaches the master address.
    const bool local = launch_.master_addr == "127.0.0.1" || launch_.master_addr == "localhost";
    options->devices.push_back(local ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                     : c10d::ProcessGroupGloo::createDefaultDevice());
    group_->gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(c10::make_intrusive<c10d::PrefixStore>("gloo", group_->store),
                                                              rank(), size(), options);
#endif
#ifdef PESUITE_WITH_NCCL
    if (torch::cuda::is_available()) {
      // One GPU per process, chosen by LOCAL_RANK: "cuda" (no index) then means this GPU everywhere.
      c10::cuda::set_device(static_cast<c10::DeviceIndex>(local_rank() % torch::cuda::device_count()));
      setenv("NCCL_NVLS_ENABLE", "0", 0);  // NVLink multicast off unless asked for (the GPU machines here)
      auto nopts = c10d::ProcessGroupNCCL::Options::create();
      nopts->timeout = timeout;
      group_->nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(c10::make_intrusive<c10d::PrefixStore>("nccl", group_->store),
                                                                rank(), size(), nopts);
    }
#endif
  } catch (const std::exception& e) {
    fail("rendezvous at " + launch_.master_addr + ":" + std::to_string(launch_.master_port) + " (" + launch_.source + ")", e);
  }
#if !defined(PESUITE_HAVE_GLOO)
  bool have_nccl = false;
#ifdef PESUITE_WITH_NCCL
  have_nccl = static_cast<bool>(group_->nccl);
#endif
  if (!have_nccl)
    throw InputError("world size " + std::to_string(size()) + " (" + launch_.source +
                     "): this build has no process group (Gloo's headers were missing: install libgloo-dev and rebuild; "
                     "or NCCL on a CUDA machine)");
#endif
}

World::~World() = default;

void World::shutdown() {
#if defined(PESUITE_WITH_NCCL) && (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4))
  // As torch.distributed.destroy_process_group(): NCCL's communicators go before the process does.
  if (group_ && group_->nccl) {
    try {
      group_->nccl->shutdown();
    } catch (const std::exception&) {
    }
    group_->nccl.reset();
  }
#endif
}

bool World::has_cpu_group() {
#ifdef PESUITE_HAVE_GLOO
  return true;
#else
  return false;
#endif
}

void World::fail(const std::string& what, const std::exception& e) const {
  std::string why = e.what();
  if (auto nl = why.find('\n'); nl != std::string::npos) why = why.substr(0, nl);  // c10 appends backtraces
  throw DistributedError("rank " + std::to_string(rank()) + " of " + std::to_string(size()) + ": " + what +
                         " failed (another rank may have died or hung; timeout " + std::to_string(launch_.timeout.count()) +
                         " s): " + why);
}

std::shared_ptr<World::Pending> World::all_reduce_sum_async(torch::Tensor& flat) {
  auto p = std::make_shared<Pending>();
  p->tensors = {group_->needs_staging(flat) ? flat.to(torch::kCUDA) : flat};
  try {
    p->work = group_->run(p->tensors[0], [&](auto& pg) { return pg.allreduce(p->tensors); });
    if (!p->tensors[0].is_same(flat)) {  // staged: finish now and copy back
      p->work->wait();
      p->work.reset();
      flat.copy_(p->tensors[0]);
    }
  } catch (const std::exception& e) {
    fail("all-reduce", e);
  }
  return p;
}

void World::wait(Pending& pending) {
  try {
    if (pending.work) pending.work->wait();
  } catch (const std::exception& e) {
    fail("all-reduce", e);
  }
}

void World::all_reduce_sum(std::vector<torch::Tensor>& tensors) {
  if (!distributed()) return;
  for (auto& t : tensors) {
    auto p = all_reduce_sum_async(t);
    wait(*p);
  }
}

void World::broadcast(std::vector<torch::Tensor>& tensors, int root) {
  if (!distributed()) return;
  try {
    for (auto& t : tensors) {
      std::vector<at::Tensor> one{group_->needs_staging(t) ? t.to(torch::kCUDA) : t};
      c10d::BroadcastOptions o;
      o.rootRank = root;
      group_->run(one[0], [&](auto& pg) { return pg.broadcast(one, o); })->wait();
      if (!one[0].is_same(t)) t.copy_(one[0]);
    }
  } catch (const std::exception& e) {
    fail("broadcast", e);
  }
}

void World::barrier() {
  if (!distributed()) return;
  std::vector<torch::Tensor> one{torch::zeros({1}, torch::TensorOptions().device(group_->scalar_device()))};
  all_reduce_sum(one);  // a barrier every backend has, on the tensors it takes
}

double World::mean(double value) {
  if (!distributed() || size() == 1) return value;
  std::vector<torch::Tensor> t{torch::tensor({value}, torch::kFloat64).to(group_->scalar_device())};
  all_reduce_sum(t);
  return t[0].item<double>() / size();
}

void World::broadcast(std::vector<double>& values) {
  if (!distributed() || values.empty()) return;
  std::vector<torch::Tensor> t{torch::tensor(values, torch::kFloat64).to(group_->scalar_device())};
  broadcast(t, 0);
  const auto back = t[0].cpu();
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = back[static_cast<std::int64_t>(i)].item<double>();
}

std::string World::share_from_rank0(const std::string& key, const std::string& value) {
  if (!distributed()) return value;
  const std::string k = "pesuite/" + std::to_string(shared_keys_++) + "/" + key;
  try {
    if (rank() == 0) {
      group_->store->set(k, std::vector<std::uint8_t>(value.begin(), value.end()));
      return value;
    }
    const auto bytes = group_->store->get(k);
    return std::string(bytes.begin(), bytes.end());
  } catch (const std::exception& e) {
    fail("sharing '" + key + "' through the store", e);
  }
}

// ---- sum_over_ranks, gather_shares ----
namespace {

struct SumOverRanks : torch::autograd::Function<SumOverRanks> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, World* world) {
    ctx->saved_data["world"] = reinterpret_cast<std::int64_t>(world);
    std::vector<torch::Tensor> t{x.detach().contiguous().clone()};
    world->all_reduce_sum(t);
    return t[0];
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grad) {
    auto* world = reinterpret_cast<World*>(ctx->saved_data["world"].toInt());
    std::vector<torch::Tensor> g{grad[0].contiguous().clone()};
    world->all_reduce_sum(g);
    return {g[0], torch::Tensor()};
  }
};

}  // namespace

torch::Tensor sum_over_ranks(World& world, const torch::Tensor& x) { return world.distributed() ? SumOverRanks::apply(x, &world) : x; }

torch::Tensor gather_shares(World& world, const torch::Tensor& local, const BatchShare& share, std::int64_t total) {
  if (local.size(0) != share.end - share.begin)
    throw std::logic_error("gather_shares: " + std::to_string(local.size(0)) + " rows for a share of " + std::to_string(share.end - share.begin));
  if (!world.distributed()) return local;
  // Each rank's rows in zeros of the global shape, summed over the ranks: an all-gather of unequal
  // shares through the one collective every backend has (adding zeros is exact). Backward: the
  // gradient summed over the ranks, then this rank's rows (the padding's gradient).
  auto rest = local.sizes().vec();
  rest[0] = 0;
  const auto zeros = [&](std::int64_t rows) {
    rest[0] = rows;
    return torch::zeros(rest, local.options());
  };
  return sum_over_ranks(world, torch::cat({zeros(share.begin), local, zeros(total - share.end)}));
}

// ---- GradientSync ----
// As torch's DDP with gradient_as_bucket_view: every parameter's .grad is a view into its bucket's
// flat buffer, so autograd accumulates straight into the buffer and nothing is copied; a hook after
// each parameter's AccumulateGrad counts arrivals and launches a bucket once it is complete.

namespace {

// A view's start in its bucket: the next multiple of 16 elements (64 bytes of float32).
std::int64_t bucket_aligned(std::int64_t n) { return (n + 15) / 16 * 16; }

// Removed again by ~GradientSync (del_post_hook), so it never outlives what it calls.
struct AfterAccumulate : torch::autograd::FunctionPostHook {
  explicit AfterAccumulate(std::function<void()> fn) : fn_(std::move(fn)) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs, const torch::autograd::variable_list&) override {
    fn_();
    return outputs;
  }
  std::function<void()> fn_;
};

}  // namespace

struct GradientSync::Bucket {
  std::vector<std::size_t> params;
  std::vector<std::int64_t> offsets;
  std::vector<bool> arrived;
  torch::Tensor flat;
  std::size_t ready = 0;
  std::shared_ptr<World::Pending> pending;
};

GradientSync::GradientSync(World& world, torch::nn::Module& model, std::int64_t bucket_bytes) : world_(world) {
  for (auto& p : model.parameters())
    if (p.requires_grad()) params_.push_back(p);
  // Rank 0's weights everywhere (and its buffers: batch-norm statistics), so the ranks start equal.
  std::vector<torch::Tensor> state;
  for (auto& p : params_) state.push_back(p.detach());
  for (auto& b : model.buffers()) state.push_back(b);
  {
    torch::NoGradGuard no_grad;
    world_.broadcast(state, 0);
  }
  // Buckets in reverse registration order (gradients arrive roughly last layer first), one dtype
  // and device each, up to bucket_bytes.
  bucket_of_.assign(params_.size(), 0);
  slot_of_.assign(params_.size(), 0);
  for (std::size_t k = params_.size(); k-- > 0;) {
    const auto& p = params_[k];
    const std::int64_t bytes = p.numel() * static_cast<std::int64_t>(p.element_size());
    Bucket* b = buckets_.empty() ? nullptr : buckets_.back().get();
    // Each view starts on a 64-byte boundary, as a tensor of its own would (CUDA's multi-tensor
    // kernels, e.g. the gradient norm, take their vectorised path only for aligned tensors).
    auto next_offset = [&](const Bucket& in) { return in.params.empty() ? 0 : bucket_aligned(used(in)); };
    const bool fits = b != nullptr && params_[b->params.front()].scalar_type() == p.scalar_type() &&
                      params_[b->params.front()].device() == p.device() &&
                      next_offset(*b) * static_cast<std::int64_t>(p.element_size()) + bytes <= bucket_bytes;
    if (!fits) {
      buckets_.push_back(std::make_unique<Bucket>());
      b = buckets_.back().get();
    }
    const std::int64_t offset = next_offset(*b);
    bucket_of_[k] = buckets_.size() - 1;
    slot_of_[k] = b->params.size();
    b->params.push_back(k);
    b->offsets.push_back(offset);
  }
  for (auto& b : buckets_) {
    b->flat = torch::zeros({used(*b)}, params_[b->params.back()].options());
    b->arrived.assign(b->params.size(), false);
  }
  views_.resize(params_.size());
  for (std::size_t k = 0; k < params_.size(); ++k) {
    const Bucket& b = *buckets_[bucket_of_[k]];
    views_[k] = b.flat.narrow(0, b.offsets[slot_of_[k]], params_[k].numel()).view(params_[k].sizes());
    // The accumulator must outlive each forward pass (the parameter holds it weakly), as in DDP.
    auto acc = torch::autograd::impl::grad_accumulator(params_[k]);
    hook_keys_.push_back(acc->add_post_hook(std::make_unique<AfterAccumulate>([this, k] { on_ready(k); })));
    accumulators_.push_back(std::move(acc));
  }
}

std::int64_t GradientSync::used(const Bucket& b) const { return b.offsets.back() + params_[b.params.back()].numel(); }

GradientSync::~GradientSync() {
  for (std::size_t k = 0; k < accumulators_.size(); ++k) accumulators_[k]->del_post_hook(hook_keys_[k]);
}

void GradientSync::begin() {
  torch::NoGradGuard no_grad;
  for (auto& b : buckets_) {
    b->flat.zero_();
    b->ready = 0;
    std::fill(b->arrived.begin(), b->arrived.end(), false);
    b->pending.reset();
  }
  for (std::size_t k = 0; k < params_.size(); ++k) params_[k].mutable_grad() = views_[k];  // zero_grad may have dropped them
  next_launch_ = 0;
  active_ = true;
}

void GradientSync::on_ready(std::size_t param) {
  if (!active_) return;  // a backward pass outside training (e.g. an analysis): not ours to sync
  Bucket& b = *buckets_[bucket_of_[param]];
  const auto slot = slot_of_[param];
  auto& p = params_[param];
  if (!p.grad().is_same(views_[param])) {  // something replaced .grad: take its values into the bucket
    torch::NoGradGuard no_grad;
    views_[param].copy_(p.grad());
    p.mutable_grad() = views_[param];
  }
  if (!b.arrived[slot]) {
    b.arrived[slot] = true;
    ++b.ready;
  }
  launch_ready();
}

void GradientSync::launch_ready() {
  while (next_launch_ < buckets_.size() && buckets_[next_launch_]->ready == buckets_[next_launch_]->params.size()) {
    Bucket& b = *buckets_[next_launch_++];
    b.pending = world_.all_reduce_sum_async(b.flat);
  }
}

void GradientSync::end() {
  if (!active_) return;
  active_ = false;
  // Parameters without a gradient this step keep their zeros; then every bucket is launched.
  for (auto& bp : buckets_) {
    std::fill(bp->arrived.begin(), bp->arrived.end(), true);
    bp->ready = bp->params.size();
  }
  launch_ready();
  torch::NoGradGuard no_grad;
  for (auto& bp : buckets_) {
    world_.wait(*bp->pending);
    if (world_.size() > 1) bp->flat.div_(world_.size());  // the gradients (views into flat) are the mean
  }
}

}  // namespace pesuite::core::dist

namespace pesuite::core::dist {

bool is_distributed() { return World::get().distributed(); }
bool is_writer() { return World::get().writer(); }
std::string share_from_rank0(const std::string& key, const std::string& value) { return World::get().share_from_rank0(key, value); }

}  // namespace pesuite::core::dist
