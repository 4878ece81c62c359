// `pesuite bench attention`: forward + backward time of pesuite's MultiHeadAttention (fused and
// plain paths, every in-attention positional term) next to torch::nn::MultiheadAttention, in one run.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "bench_timing.h"
#include "cli.h"
#include "pesuite/heads/attention.h"
#include "pesuite/core/error.h"
#include "pesuite/heads/pe_registry.h"
#include "pesuite/core/runtime.h"
#include "pesuite/core/torch_compat.h"

namespace pesuite::cli {
namespace {

struct BenchArgs {
  std::string device = "cpu";
  std::int64_t batch = 64, tokens = 197, dim = 384, heads = 6;
  int iters = 10, warmup = 2, threads = 0;
  std::string amp = "none";  // none | bf16 | fp16 (autocast, CUDA only)
  bool json = false;
};

struct Row {
  std::string name;
  double median_ms = 0, min_ms = 0;
};

// One variant: a module (its parameter gradients are cleared before each step so nothing grows)
// and a step that runs the forward and returns a scalar loss. `sdpa_math` restricts LibTorch 2.x's
// attention to its math composition for this variant (shows whether the fused kernel pays off).
struct Variant {
  std::string name;
  std::shared_ptr<torch::nn::Module> module;
  std::function<torch::Tensor()> step;
  bool sdpa_math = false;
};

// Interleaved rounds (every variant once per round) rather than one variant after another, so that
// a shared machine's changing load spreads over all variants instead of biasing the ratios.
std::vector<Row> time_all(const std::vector<Variant>& variants, const BenchArgs& a, const torch::Device& dev,
                          torch::Dtype amp) {
  std::vector<std::vector<double>> ms(variants.size());
  for (int round = 0; round < a.warmup + a.iters; ++round) {
    for (size_t v = 0; v < variants.size(); ++v) {
      for (auto& p : variants[v].module->parameters()) p.mutable_grad() = torch::Tensor();
      sync(dev);
      auto t0 = std::chrono::steady_clock::now();
      {
        std::optional<core::SdpaBackendGuard> math;
        if (variants[v].sdpa_math) math.emplace(false, false, true);
        torch::Tensor loss;
        if (amp != torch::kFloat32) {
          core::AutocastGuard guard(dev, amp);
          loss = variants[v].step().to(torch::kFloat32);
        } else {
          loss = variants[v].step();
        }
        loss.backward();
      }
      sync(dev);
      auto t1 = std::chrono::steady_clock::now();
      if (round >= a.warmup) ms[v].push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
  }
  std::vector<Row> rows;
  for (size_t v = 0; v < variants.size(); ++v) {
    auto& m = ms[v];
    std::sort(m.begin(), m.end());
    rows.push_back({variants[v].name, m[m.size() / 2], m.front()});
  }
  return rows;
}

void run(const BenchArgs& a) {
  if (a.iters < 1 || a.warmup < 0) throw core::InputError("bench attention: --iters must be >= 1 and --warmup >= 0");
  if (a.batch < 1 || a.tokens < 1 || a.dim < 1 || a.heads < 1 || a.dim % a.heads)
    throw core::InputError("bench attention: need batch, tokens, heads >= 1 and dim divisible by heads");
  if (a.threads > 0) core::set_threads(a.threads);
  const torch::Device dev = core::parse_device(a.device);
  torch::Dtype amp = torch::kFloat32;
  if (a.amp == "bf16") amp = torch::kBFloat16;
  else if (a.amp == "fp16") amp = torch::kFloat16;
  else if (a.amp != "none") throw core::InputError("bench attention: --amp must be none, bf16 or fp16, got '" + a.amp + "'");
  if (amp != torch::kFloat32 && !dev.is_cuda()) throw core::InputError("bench attention: --amp needs a CUDA device");
  torch::manual_seed(0);
  const auto B = a.batch, N = a.tokens, D = a.dim, H = a.heads;

  // 197 = class token + 14 x 14: use a grid when tokens - 1 is a square, so 2D terms can run.
  const auto side = static_cast<std::int64_t>(std::llround(std::sqrt(static_cast<double>(N - 1))));
  const bool grid = N > 1 && side * side == N - 1;
  heads::AttentionArgs args;
  args.layout = grid ? heads::TokenLayout::grid(side, side, 1) : heads::TokenLayout::sequence();
  auto x = torch::randn({B, N, D}, torch::TensorOptions().device(dev));

  std::vector<Variant> variants;
  {
    torch::nn::MultiheadAttention ref(torch::nn::MultiheadAttentionOptions(D, H));
    ref->to(dev);
    auto xt = x.transpose(0, 1).contiguous();  // torch's C++ module is sequence-first
    variants.push_back({"torch::nn::MultiheadAttention", ref.ptr(), [ref, xt]() mutable {
                          return std::get<0>(ref->forward(xt, xt, xt, torch::Tensor(), /*need_weights=*/false)).sum();
                        }});
  }
  auto ours = [&](const std::string& label, heads::PositionalTermPtr term, bool fused, bool capture,
                  bool sdpa_math = false) {
    heads::MultiHeadAttention m(heads::MultiHeadAttentionOptions(D, H).fused(fused), std::move(term));
    m->to(dev);
    if (capture) m->set_capture(heads::CaptureOptions().probs(true).contributions(true));
    variants.push_back({label, m.ptr(), [m, x, args]() mutable { return m(x, args).sum(); }, sdpa_math});
  };
  ours("pesuite fused (none)", nullptr, true, false);
  ours("pesuite plain (none)", nullptr, false, false);
  if (core::kHasFusedAttention) ours("pesuite fused, sdpa math only", nullptr, true, false, true);
  ours("pesuite capture probs+contrib", nullptr, true, true);
  heads::PeShape shape;
  shape.dim = D, shape.heads = H, shape.prefix = grid ? 1 : 0;
  if (grid) shape.grid_h = shape.grid_w = side;
  for (const auto& info : heads::list_pes()) {
    if (info.kind != "bias" && info.kind != "rotary") continue;
    if (!grid && (info.name == "relbias2d" || info.name == "alibi2d")) continue;
    if (!grid && info.name == "rope2d") continue;
    if ((info.name == "rope2d" && (D / H) % 4) || (info.name == "rope1d" && (D / H) % 2)) continue;
    ours("pesuite fused + " + info.name, heads::create_pe(info.name, shape).term, true, false);
  }
  const auto rows = time_all(variants, a, dev, amp);

  const double base = rows.front().median_ms;
  if (a.json) {
    nlohmann::json out;
    out["device"] = dev.str();
    out["torch"] = TORCH_VERSION;
    out["fused_kernel"] = core::kHasFusedAttention;
    out["amp"] = a.amp;
    out["shape"] = {{"batch", B}, {"tokens", N}, {"dim", D}, {"heads", H}, {"iters", a.iters}, {"grid", grid}};
    for (const auto& r : rows)
      out["rows"].push_back({{"name", r.name}, {"median_ms", r.median_ms}, {"min_ms", r.min_ms}, {"ratio_to_torch", r.median_ms / base}});
    std::cout << out.dump(2) << "\n";
    return;
  }
  std::cout << "attention forward+backward, device " << dev.str() << ", torch " << TORCH_VERSION << ", B=" << B
            << " N=" << N << " D=" << D << " H=" << H << (grid ? " (class token + grid)" : "") << ", amp " << a.amp
            << ", " << a.iters
            << " interleaved rounds after " << a.warmup << " warm-up" << (core::kHasFusedAttention ? "" : "; no fused kernel in this LibTorch") << "\n";
  std::cout << std::left << std::setw(34) << "variant" << std::right << std::setw(12) << "median ms" << std::setw(10)
            << "min ms" << std::setw(10) << "x torch" << "\n";
  for (const auto& r : rows)
    std::cout << std::left << std::setw(34) << r.name << std::right << std::fixed << std::setprecision(2) << std::setw(12)
              << r.median_ms << std::setw(10) << r.min_ms << std::setw(10) << std::setprecision(3) << r.median_ms / base << "\n";
}

}  // namespace

void add_bench_attention(CLI::App& bench) {
  auto* cmd = bench.add_subcommand("attention", "Forward+backward time of attention paths and positional terms vs torch MHA");
  static BenchArgs a;
  cmd->add_option("--device", a.device, "cpu | cuda | cuda:N | auto")->capture_default_str();
  cmd->add_option("--batch", a.batch, "Batch size")->capture_default_str();
  cmd->add_option("--tokens", a.tokens, "Tokens per sample (1 + square = class token + grid)")->capture_default_str();
  cmd->add_option("--dim", a.dim, "Model width")->capture_default_str();
  cmd->add_option("--heads", a.heads, "Heads")->capture_default_str();
  cmd->add_option("--iters", a.iters, "Timed iterations")->capture_default_str();
  cmd->add_option("--warmup", a.warmup, "Untimed iterations first")->capture_default_str();
  cmd->add_option("--threads", a.threads, "Intra-op threads (0 = torch's default)")->capture_default_str();
  cmd->add_option("--amp", a.amp, "none | bf16 | fp16: autocast for every variant (CUDA)")->capture_default_str();
  cmd->add_flag("--json", a.json, "Machine-readable output");
  cmd->callback([]() { run(a); });
}

}  // namespace pesuite::cli
