// `pesuite bench vit`: training and inference images per second of the timm-style ViTs of vision/
// (random 224x224 images, 1000 classes, AdamW, optional bf16 autocast), the figure to put next to
// scripts/reference/bench_vit.py (the same model and optimiser in PyTorch eager).
//
//   pesuite bench vit --model deit_small_patch16 --batch 256 --amp bf16 --device cuda --json
//   pesuite bench vit --model cpvt_tiny --fast-path --cuda-graphs --json      # the GPU fast path
//   pesuite bench vit --model cpvt_small --fast-path --cuda-graphs --recompute-gelu --json  # less memory
//   pesuite bench vit --model cpvt_small --fast-path --memory-trace --json  # where the backward peaks
//   pesuite bench vit --model cpvt_tiny --latency --amp none --cuda-graphs --json  # batch-1 latency
//   pesuite --nproc 2 bench vit --model deit_small_patch16 --json   # data-parallel: --batch per rank
//
// --fast-path: fused CUDA kernels and bf16 weight copies (ViTImpl::set_fast_path, fast_ops.h; the
// first training step makes the copies, --weight-copies makes them before an inference-only run);
// --cuda-graphs: every training step (forward, backward, fused AdamW, weight-copy refresh) and every
// inference step replayed as one CUDA graph (core::StepGraphs). Peak GPU memory per phase (the
// caching allocator's peak of allocated bytes) is reported on CUDA, and train_forward_mb: what one
// training forward leaves allocated for its backward (the saved activations).
// Under `--nproc N` (or torchrun's variables) each rank trains on its own --batch images and the
// gradients are all-reduced as `vision train` does it (core::dist::GradientSync): the figure next
// to scripts/reference/bench_vit.py --ddp under torchrun. Rank 0 prints; train_img_s is per rank,
// train_img_s_all_ranks the world's (the ranks step in lockstep).
//
// Timing: `warmup` untimed steps, then `repeats` blocks of `steps` steps, each block timed from a
// device synchronisation to the next; the median block gives the figure. No host synchronisation
// inside a block (the loss is summed on the device and read once at the end).
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <iomanip>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backward_memory.h"
#include "bench_timing.h"
#include "cli.h"
#include "kernel_trace.h"
#include "pesuite/core/error.h"
#include "pesuite/core/optim.h"
#include "pesuite/core/runtime.h"
#include "pesuite/core/torch_compat.h"
#include "pesuite/core/cuda_graph.h"
#include "pesuite/core/distributed.h"
#include "pesuite/vision/fast_ops.h"
#include "pesuite/vision/vit.h"

#if PESUITE_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace pesuite::cli {
namespace {

struct VitBenchArgs {
  std::string model = "deit_tiny_patch16";
  std::string pe;  // empty: the preset's own positional encoding
  std::string device = "auto";
  std::string amp = "bf16";  // bf16 | fp16 | none (autocast; CUDA only)
  std::int64_t batch = 256, img = 224, classes = 1000;
  int steps = 30, warmup = 10, repeats = 3, threads = 0;
  double lr = 5e-4, weight_decay = 0.05;
  bool json = false, no_fused_adamw = false, skip_train = false, skip_infer = false, native_layer_norm = false;
  bool fast_path = false, cuda_graphs = false, latency = false, recompute_gelu = false, memory_trace = false;
  bool weight_copies = false;
  std::string profile;  // trace prefix: <profile>-train.json / -infer.json (5 steps after timing)
};

// With --profile: five more steps under the Kineto profiler, after the timed blocks (so the
// figures never include profiling overhead).
template <typename Step>
void profile_steps(const VitBenchArgs& a, const torch::Device& dev, const std::string& phase, Step& step) {
  if (a.profile.empty()) return;
  KernelTrace trace;
  if (!trace.start()) return;
  for (int i = 0; i < 5; ++i) step();
  sync(dev);
  trace.stop(a.profile + "-" + phase + ".json");
}

// Peak bytes the caching allocator handed out since the last reset (CUDA builds; 0 elsewhere).
void reset_peak_memory(const torch::Device& dev) {
#if PESUITE_WITH_CUDA
  if (dev.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(dev.has_index() ? dev.index() : c10::cuda::current_device());
#else
  (void)dev;
#endif
}
// The caching allocator's allocated bytes in MiB, all pools: now (`peak` false) or the peak since
// the last reset (CUDA builds; 0 elsewhere).
double allocated_mb(const torch::Device& dev, bool peak) {
#if PESUITE_WITH_CUDA
  if (!dev.is_cuda()) return 0;
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(dev.has_index() ? dev.index() : c10::cuda::current_device());
  const auto& all_pools = stats.allocated_bytes[0];
  return static_cast<double>(peak ? all_pools.peak : all_pools.current) / (1024.0 * 1024.0);
#else
  (void)dev;
  (void)peak;
  return 0;
#endif
}
double peak_memory_mb(const torch::Device& dev) { return allocated_mb(dev, true); }
double allocated_memory_mb(const torch::Device& dev) { return allocated_mb(dev, false); }

void run(VitBenchArgs a) {
  if (a.steps < 1 || a.warmup < 0 || a.repeats < 1) throw core::InputError("bench vit: need --steps >= 1, --warmup >= 0, --repeats >= 1");
  if (a.batch < 1) throw core::InputError("bench vit: --batch must be >= 1");
  if (a.latency) {  // batch-1 latency: inference only, every call timed to its own synchronisation
    a.batch = 1;
    a.skip_train = true;
    a.skip_infer = false;
  }
  if (a.threads > 0) core::set_threads(a.threads);
  const torch::Device dev = core::parse_device(a.device);
  torch::Dtype amp = torch::kFloat32;
  if (a.amp == "bf16") amp = torch::kBFloat16;
  else if (a.amp == "fp16") amp = torch::kFloat16;
  else if (a.amp != "none") throw core::InputError("bench vit: --amp must be bf16, fp16 or none, got '" + a.amp + "'");
  const bool autocast = amp != torch::kFloat32 && dev.is_cuda();  // autocast is a CUDA feature here
  if (dev.is_cuda()) at::globalContext().setBenchmarkCuDNN(true);  // as timm's train script
  auto& world = core::dist::World::get();  // launched by --nproc / torchrun: data-parallel steps
  // On CUDA the captured step holds the NCCL all-reduces too (a capture that fails is reported and
  // the step runs eagerly, as below); Gloo's CPU collectives cannot be captured.
  if (world.distributed() && a.cuda_graphs && !a.skip_train && !dev.is_cuda())
    throw core::InputError("bench vit: --cuda-graphs with several ranks needs CUDA (NCCL; world size " + std::to_string(world.size()) +
                           " on " + dev.str() + "); drop --cuda-graphs or add --skip-train");

  core::seed_all(0);
  auto model = vision::create_vit(a.model, [&](vision::ViTOptions& o) {
    o.img_size(a.img).num_classes(a.classes).column_norm_grads(!a.native_layer_norm);
    if (!a.pe.empty()) o.pe(a.pe);
  });
  model->to(dev);
  std::string fast_status = "off";
  if (a.fast_path) {
    model->set_recompute_gelu(a.recompute_gelu);
    fast_status = model->set_fast_path(true);
    if (a.weight_copies) model->hold_weight_copies();
    std::cerr << "bench vit: fast path: " << fast_status << "\n";
  }
  const bool fast_kernels = a.fast_path && dev.is_cuda() && vision::fast_ops() != nullptr;
  const bool graphed = a.cuda_graphs && dev.is_cuda() && core::StepGraphs::available();
  // A capture that fails (an op that cannot be captured) is reported, and that phase goes on with
  // eager steps, so the figures still come (marked: cuda_graphs false, graph_error).
  std::string graph_error;
  auto capture_failed = [&](const char* phase, const std::exception& e) {
    graph_error += std::string(graph_error.empty() ? "" : "; ") + phase + ": " + e.what();
    std::cerr << "bench vit: " << phase << " CUDA graph capture failed, eager steps from here: " << e.what() << "\n";
  };
  std::int64_t params = 0;
  for (const auto& p : model->parameters()) params += p.numel();

  auto opts = torch::TensorOptions().device(dev);
  auto images = torch::randn({a.batch, model->options.in_chans(), a.img, a.img}, opts);  // grey presets take 1 channel
  auto labels = torch::randint(a.classes, {a.batch}, opts.dtype(torch::kInt64));

  double train_ips = 0, infer_ips = 0, last_loss = 0, train_peak_mb = 0, infer_peak_mb = 0, latency_ms = 0;
  double train_forward_mb = 0;  // what one training forward leaves allocated for its backward
  nlohmann::ordered_json memory_trace;  // --memory-trace: one eager step's memory by phase and backward node
  bool fused = false;
  std::vector<double> train_blocks, infer_blocks;

  if (!a.skip_train) {
    // The trainer's optimiser (weight decay on weights only); --no-fused-adamw: LibTorch's own AdamW.
    const auto defaults = torch::optim::AdamWOptions(a.lr).weight_decay(a.weight_decay);
    std::unique_ptr<torch::optim::AdamW> opt_owner;
    if (a.no_fused_adamw) opt_owner = std::make_unique<torch::optim::AdamW>(model->adamw_groups(defaults), defaults);
    else opt_owner = std::make_unique<core::FusedAdamW>(model->adamw_groups(defaults), defaults);
    auto& opt = *opt_owner;
    fused = !a.no_fused_adamw && PESUITE_FUSED_ADAMW_CUDA && dev.is_cuda();
    auto* fused_opt = dynamic_cast<core::FusedAdamW*>(&opt);
    std::unique_ptr<core::StepGraphs> graphs;
    if (graphed) {
      if (fused_opt == nullptr || !fused_opt->uses_fused_kernel())
        throw core::InputError("bench vit: --cuda-graphs needs the fused AdamW step (drop --no-fused-adamw; LibTorch >= 2.3)");
      fused_opt->set_graph_safe(true);
      graphs = std::make_unique<core::StepGraphs>(dev);
    }
    model->train();
    // Several ranks: rank 0's weights everywhere, gradients all-reduced during backward (views into
    // the buckets, which begin() zeroes in place of zero_grad).
    std::unique_ptr<core::dist::GradientSync> gradient_sync;
    if (world.distributed()) {
      auto make = [&] { gradient_sync = std::make_unique<core::dist::GradientSync>(world, *model); };
      if (graphs) graphs->on_side_stream(make);  // its hooks then join the capture (cuda_graph.h)
      else make();
    }
    auto loss_sum = torch::zeros({}, opts.dtype(torch::kFloat32));
    // One training forward and its loss (under autocast when asked): the step's, and the
    // memory measurements' after the timed blocks.
    auto training_loss = [&] {
      std::optional<core::AutocastGuard> guard;
      if (autocast) guard.emplace(dev, amp);
      return torch::nn::functional::cross_entropy(model->forward(images).to(torch::kFloat32), labels);
    };
    auto body = [&] {
      if (gradient_sync) gradient_sync->begin();
      else opt.zero_grad();
      auto loss = training_loss();
      loss.backward();
      if (gradient_sync) gradient_sync->end();
      opt.step();
      model->refresh_weight_copies();  // the bf16 copies follow the step (no-op without --fast-path)
      loss_sum.add_(loss.detach());
    };
    auto step = [&] {
      if (!graphs) return body();
      try {
        const auto ran = graphs->run("train", [&] { fused_opt->stage_lr(); }, body);
        if (ran == core::StepGraphs::Ran::replayed) fused_opt->replayed();
      } catch (const core::CaptureError& e) {  // a step that cannot be captured; other errors end the run
        capture_failed("train", e);
        graphs.reset();
        fused_opt->set_graph_safe(false);
        body();
      }
    };
    reset_peak_memory(dev);
    for (int i = 0; i < a.warmup; ++i) step();
    train_blocks = time_blocks(dev, a.repeats, a.steps, step);
    last_loss = loss_sum.item<double>() / (a.warmup + a.repeats * a.steps);
    train_ips = a.batch * a.steps / median(train_blocks);
    train_peak_mb = peak_memory_mb(dev);
    profile_steps(a, dev, "train", step);
    // One more forward, uncaptured, without its backward: the growth of allocated bytes is what the
    // autograd graph saved (activations; bf16 weight copies are made before it, so not counted).
    sync(dev);
    const double before = allocated_memory_mb(dev);
    {
      auto saved = training_loss();
      sync(dev);
      train_forward_mb = allocated_memory_mb(dev) - before;
    }
    if (a.memory_trace) {
      // One more eager step's memory, phase by phase, and the backward's nodes by their peak.
      opt.zero_grad();
      sync(dev);
      memory_trace["before_forward_mb"] = allocated_memory_mb(dev);
      reset_peak_memory(dev);
      auto loss = training_loss();
      sync(dev);
      memory_trace["forward_peak_mb"] = peak_memory_mb(dev);
      memory_trace["before_backward_mb"] = allocated_memory_mb(dev);
      BackwardMemory trace([&](bool peak) { return allocated_mb(dev, peak); }, [&] { reset_peak_memory(dev); });
      trace.attach(loss);
      loss.backward();
      sync(dev);
      loss.reset();
      memory_trace["backward_peak_mb"] = trace.peak_mb();
      memory_trace["backward_nodes"] = trace.nodes();
      auto& rows = memory_trace["top_nodes"] = nlohmann::ordered_json::array();
      for (const auto& r : trace.top(12)) rows.push_back({{"node", r.name}, {"entry_mb", r.entry_mb}, {"peak_mb", r.peak_mb}});
      opt.zero_grad();
    }
  }

  if (!a.skip_infer) {
    model->eval();
    c10::InferenceMode inference;
    auto out_sum = torch::zeros({}, opts.dtype(torch::kFloat32));
    auto body = [&] {
      std::optional<core::AutocastGuard> guard;
      if (autocast) guard.emplace(dev, amp);
      out_sum.add_(model->forward(images).select(1, 0).sum().to(torch::kFloat32));
    };
    std::unique_ptr<core::StepGraphs> graphs;
    if (graphed) graphs = std::make_unique<core::StepGraphs>(dev);
    auto step = [&] {
      if (!graphs) return body();
      try {
        graphs->run("infer", [] {}, body);
      } catch (const core::CaptureError& e) {  // a step that cannot be captured; other errors end the run
        capture_failed("infer", e);
        graphs.reset();
        body();
      }
    };
    reset_peak_memory(dev);
    for (int i = 0; i < a.warmup; ++i) step();
    if (a.latency) {
      // Each call from an idle device to its result: the median of steps x repeats calls.
      std::vector<double> calls;
      for (int i = 0; i < a.steps * a.repeats; ++i) {
        sync(dev);
        const auto t0 = std::chrono::steady_clock::now();
        step();
        sync(dev);
        calls.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      }
      latency_ms = median(calls);
      infer_blocks = {};
      infer_ips = 1000.0 / latency_ms;
    } else {
      infer_blocks = time_blocks(dev, a.repeats, a.steps, step);
      infer_ips = a.batch * a.steps / median(infer_blocks);
    }
    (void)out_sum.item<double>();
    infer_peak_mb = peak_memory_mb(dev);
    profile_steps(a, dev, "infer", step);
  }

  if (!world.writer()) return;  // rank 0 reports
  if (a.json) {
    nlohmann::ordered_json out;
    out["framework"] = "pesuite";
    out["model"] = a.model;
    out["pe"] = model->options.pe();
    out["threads"] = core::threads();
    out["torch"] = TORCH_VERSION;
    out["device"] = dev.str();
    out["amp"] = autocast ? a.amp : "none";
    out["batch"] = a.batch;
    out["img"] = a.img;
    out["params"] = params;
    out["steps"] = a.steps;
    out["repeats"] = a.repeats;
    out["fused_adamw"] = fused;
    out["layer_norm"] = a.native_layer_norm ? "native" : "auto";  // auto: heads::layer_norm picks
    out["sdpa_kernel"] = core::kHasFusedAttention;
    out["fast_path"] = a.fast_path;
    out["fast_kernels"] = fast_kernels;  // the fused CUDA kernels ran (else the unfused ops)
    out["fast_path_status"] = fast_status;
    out["recompute_gelu"] = a.fast_path && a.recompute_gelu;
    out["weight_copies"] = model->holds_weight_copies();  // held at the end of the run
    out["cuda_graphs"] = graphed && graph_error.empty();
    if (!graph_error.empty()) out["graph_error"] = graph_error;
    out["train_peak_mb"] = train_peak_mb;
    out["infer_peak_mb"] = infer_peak_mb;
    if (!a.skip_train) out["train_forward_mb"] = train_forward_mb;
    if (!memory_trace.is_null()) out["memory_trace"] = memory_trace;
    if (a.latency) out["latency_ms"] = latency_ms;
    out["world_size"] = world.size();
    out["train_img_s"] = train_ips;
    out["train_img_s_all_ranks"] = train_ips * world.size();
    out["infer_img_s"] = infer_ips;
    out["train_block_s"] = train_blocks;
    out["infer_block_s"] = infer_blocks;
    out["mean_loss"] = last_loss;
    std::cout << out.dump() << "\n";
    return;
  }
  std::cout << "bench vit: " << a.model << " (pe " << model->options.pe() << ", " << params << " parameters), device " << dev.str()
            << (dev.is_cpu() ? " (" + std::to_string(core::threads()) + " threads)" : std::string()) << ", torch "
            << TORCH_VERSION << ", batch " << a.batch << ", " << a.img << "x" << a.img << ", amp "
            << (autocast ? a.amp : "none") << ", AdamW " << (fused ? "fused" : "torch::optim") << ", median of "
            << a.repeats << " blocks of " << a.steps << " steps after " << a.warmup << " warm-up"
            << (world.distributed() ? ", " + std::to_string(world.size()) + " ranks (batch per rank)" : std::string()) << "\n";
  std::cout << std::fixed << std::setprecision(1);
  if (!a.skip_train)
    std::cout << "  training:  " << train_ips << " img/s" << (world.distributed() ? " per rank, " + std::to_string(train_ips * world.size()) + " in all" : std::string())
              << " (mean loss " << std::setprecision(4) << last_loss << ")\n";
  std::cout << std::setprecision(1);
  if (!a.skip_infer) std::cout << "  inference: " << infer_ips << " img/s\n";
  if (a.latency) std::cout << "  batch-1 latency: " << std::setprecision(3) << latency_ms << " ms\n";
  if (a.fast_path) std::cout << "  fast path: " << fast_status << (graphed ? ", CUDA graphs" : "") << "\n";
}

}  // namespace

void add_bench_vit(CLI::App& bench) {
  auto* cmd = bench.add_subcommand("vit", "Training and inference images/s of a ViT preset (AdamW, autocast)");
  static VitBenchArgs a;
  cmd->add_option("--model", a.model, "ViT preset (pesuite list models)")->capture_default_str();
  cmd->add_option("--pe", a.pe, "Positional encoding instead of the preset's (e.g. learned, peg, none; pesuite list pe)");
  cmd->add_option("--device", a.device, "cpu | cuda | cuda:N | auto")->capture_default_str();
  cmd->add_option("--batch", a.batch, "Images per step")->capture_default_str();
  cmd->add_option("--img", a.img, "Image side (pixels)")->capture_default_str();
  cmd->add_option("--classes", a.classes, "Classifier outputs")->capture_default_str();
  cmd->add_option("--amp", a.amp, "bf16 | fp16 | none: autocast (CUDA only; ignored on CPU)")->capture_default_str();
  cmd->add_option("--steps", a.steps, "Timed steps per block")->capture_default_str();
  cmd->add_option("--warmup", a.warmup, "Untimed steps first")->capture_default_str();
  cmd->add_option("--repeats", a.repeats, "Timed blocks (the median is reported)")->capture_default_str();
  cmd->add_option("--threads", a.threads, "Intra-op threads (0 = torch's default)")->capture_default_str();
  cmd->add_option("--lr", a.lr, "AdamW learning rate")->capture_default_str();
  cmd->add_option("--weight-decay", a.weight_decay, "AdamW weight decay (not on biases, norms, tokens, PE)")->capture_default_str();
  cmd->add_flag("--no-fused-adamw", a.no_fused_adamw, "Use torch::optim::AdamW even where ATen's fused kernel exists");
  cmd->add_flag("--skip-train", a.skip_train, "Inference only");
  cmd->add_flag("--skip-infer", a.skip_infer, "Training only");
  cmd->add_flag("--json", a.json, "One JSON line");
  cmd->add_flag("--native-layer-norm", a.native_layer_norm,
                "LibTorch's LayerNorm backward throughout (default: weight/bias gradients as one matrix product on CUDA where faster, heads/layer_norm.h)");
  cmd->add_option("--profile", a.profile, "Also trace 5 steps per phase to PREFIX-train.json / PREFIX-infer.json (Kineto, LibTorch 2.x)");
  cmd->add_flag("--fast-path", a.fast_path,
                "The GPU fast path: fused residual-add + LayerNorm and bias + GELU(erf) kernels, bf16 weight copies (train.fast_path)");
  cmd->add_flag("--recompute-gelu", a.recompute_gelu,
                "With --fast-path: recompute each MLP's GELU in the backward instead of keeping it (train.recompute_gelu)");
  cmd->add_flag("--weight-copies", a.weight_copies,
                "With --fast-path: make the bf16 weight copies up front, so that --skip-train inference reads them (faster batch-1 calls, "
                "more memory) instead of casting each weight in every forward");
  cmd->add_flag("--cuda-graphs", a.cuda_graphs, "Replay each training step and each inference step as one CUDA graph (CUDA builds)");
  cmd->add_flag("--memory-trace", a.memory_trace,
                "After training, one more eager step: allocated MiB by phase and the backward's nodes by their peak (CUDA; JSON memory_trace)");
  cmd->add_flag("--latency", a.latency, "Batch-1 inference latency: every call timed to its own synchronisation (median, ms)");
  cmd->callback([]() { run(a); });
}

}  // namespace pesuite::cli
