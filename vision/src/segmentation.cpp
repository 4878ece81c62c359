// Zero-shot segmentation maps (decomposition, attention rollout) and their metrics.
#include "pesuite/vision/segmentation.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "pesuite/core/error.h"

namespace pesuite::vision {
namespace {

std::string shape_str(const torch::Tensor& t) { return t.defined() ? c10::str(t.sizes()) : std::string("undefined"); }

// np.spacing(1): what the paper adds to denominators.
constexpr double kEps = std::numeric_limits<double>::epsilon();

void check_grid(const heads::TokenLayout& layout, std::int64_t tokens, const char* who) {
  if (!layout.is_grid()) throw core::InputError(std::string(who) + ": needs a grid token layout");
  if (tokens != layout.prefix + layout.height * layout.width)
    throw core::InputError(std::string(who) + ": " + std::to_string(tokens) + " tokens do not match " + std::to_string(layout.prefix) +
                     " prefix + " + std::to_string(layout.height) + " x " + std::to_string(layout.width) + " patches");
}

}  // namespace

torch::Tensor zero_shot_classify(const torch::Tensor& outputs, const torch::Tensor& class_embeds) {
  if (!outputs.defined() || outputs.dim() != 2 || !class_embeds.defined() || class_embeds.dim() != 2 ||
      outputs.size(1) != class_embeds.size(1) || class_embeds.size(0) == 0)
    throw core::InputError("zero_shot_classify: outputs [B, E] and class embeddings [K >= 1, E] needed, got " + shape_str(outputs) +
                     " and " + shape_str(class_embeds));
  return torch::matmul(outputs, class_embeds.to(outputs.options()).t()).argmax(1);
}

torch::Tensor decomposition_heatmap(const heads::Decomposition& d, const torch::Tensor& class_embeds,
                                    const torch::Tensor& classes, const heads::TokenLayout& layout,
                                    const std::vector<std::int64_t>& layers) {
  if (!classes.defined() || classes.dim() != 1 || (d.tokens.defined() && classes.size(0) != d.tokens.size(0)))
    throw core::InputError("decomposition_heatmap: classes must be [" + (d.tokens.defined() ? std::to_string(d.tokens.size(0)) : std::string("B")) +
                           "], got " + shape_str(classes));
  return decomposition_heatmaps(d, class_embeds, torch::arange(classes.size(0), torch::kInt64), classes, layout, layers);
}

torch::Tensor decomposition_heatmaps(const heads::Decomposition& d, const torch::Tensor& class_embeds, const torch::Tensor& images,
                                     const torch::Tensor& classes, const heads::TokenLayout& layout,
                                     const std::vector<std::int64_t>& layers) {
  if (!d.tokens.defined())
    throw core::InputError("decomposition_heatmap: the decomposition has no per-token terms (DecomposeOptions().spatial(true))");
  const auto B = d.tokens.size(0), L = d.tokens.size(1), M = d.tokens.size(2), E = d.tokens.size(4);
  check_grid(layout, M, "decomposition_heatmap");
  if (!class_embeds.defined() || class_embeds.dim() != 2 || class_embeds.size(1) != E || class_embeds.size(0) == 0)
    throw core::InputError("decomposition_heatmap: class embeddings must be [K >= 1, " + std::to_string(E) + "], got " +
                     shape_str(class_embeds));
  if (!classes.defined() || classes.dim() != 1 || !images.defined() || images.dim() != 1 || images.size(0) != classes.size(0))
    throw core::InputError("decomposition_heatmap: images and classes must be [P] each, got " + shape_str(images) + " and " + shape_str(classes));
  const auto P = classes.size(0);
  auto cls = classes.to(torch::kCPU, torch::kInt64), img = images.to(torch::kCPU, torch::kInt64);
  if (P > 0 && (cls.min().item<std::int64_t>() < 0 || cls.max().item<std::int64_t>() >= class_embeds.size(0)))
    throw core::InputError("decomposition_heatmap: a class index is outside [0, " + std::to_string(class_embeds.size(0)) + ")");
  if (P > 0 && (img.min().item<std::int64_t>() < 0 || img.max().item<std::int64_t>() >= B))
    throw core::InputError("decomposition_heatmap: an image index is outside the batch [0, " + std::to_string(B) + ")");
  torch::Tensor sel = d.tokens;
  if (!layers.empty()) {
    for (auto l : layers)
      if (l < 0 || l >= L)
        throw core::InputError("decomposition_heatmap: layer " + std::to_string(l) + " is out of range (0.." + std::to_string(L - 1) + ")");
    sel = d.tokens.index_select(1, torch::tensor(layers, torch::kInt64).to(d.tokens.device()));
  }
  auto per_token = sel.sum(std::vector<std::int64_t>{1, 3}).narrow(1, layout.prefix, M - layout.prefix);  // [B, hw, E]
  per_token = per_token.index_select(0, img.to(per_token.device()));                                     // [P, hw, E]
  auto ce = class_embeds.to(per_token.options());
  auto direction = ce.index_select(0, cls.to(ce.device())) - ce.mean(0, true);  // [P, E]
  return torch::einsum("bme,be->bm", {per_token, direction}).view({P, layout.height, layout.width});
}

torch::Tensor attention_rollout(const std::vector<torch::Tensor>& probs, const heads::TokenLayout& layout, double residual) {
  if (probs.empty()) throw core::InputError("attention_rollout: no layers");
  if (!(residual >= 0 && residual <= 1)) throw core::InputError("attention_rollout: residual weight must be in [0, 1]");
  const auto& p0 = probs.front();
  if (!p0.defined() || p0.dim() != 4 || p0.size(2) != p0.size(3))
    throw core::InputError("attention_rollout: probabilities must be [B, H, N, N], got " + shape_str(p0));
  const auto B = p0.size(0), N = p0.size(2);
  check_grid(layout, N, "attention_rollout");
  auto eye = torch::eye(N, p0.options()).unsqueeze(0);
  auto R = eye.expand({B, N, N}).clone();
  for (const auto& p : probs) {
    if (!p.defined() || p.sizes() != p0.sizes())
      throw core::InputError("attention_rollout: every layer's probabilities must be " + shape_str(p0) + ", got " + shape_str(p));
    auto A = residual * eye + (1 - residual) * p.mean(1);
    A = A / A.sum(-1, true);
    R = torch::matmul(A, R);
  }
  auto rows = layout.prefix > 0 ? R.select(1, 0) : R.mean(1);  // [B, N]
  return rows.narrow(1, layout.prefix, N - layout.prefix).reshape({B, layout.height, layout.width});
}

torch::Tensor upsample_heatmap(const torch::Tensor& maps, std::int64_t height, std::int64_t width) {
  if (!maps.defined() || maps.dim() != 3) throw core::InputError("upsample_heatmap: maps must be [B, h, w], got " + shape_str(maps));
  if (height <= 0 || width <= 0) throw core::InputError("upsample_heatmap: size must be positive");
  namespace F = torch::nn::functional;
  return F::interpolate(maps.unsqueeze(1), F::InterpolateFuncOptions()
                                               .size(std::vector<std::int64_t>{height, width})
                                               .mode(torch::kBilinear)
                                               .align_corners(false))
      .squeeze(1);
}

torch::Tensor normalize_heatmap(const torch::Tensor& maps) {
  if (!maps.defined() || (maps.dim() != 2 && maps.dim() != 3))
    throw core::InputError("normalize_heatmap: maps must be [H, W] or [B, H, W], got " + shape_str(maps));
  auto m = (maps.dim() == 2 ? maps.unsqueeze(0) : maps).clamp_min(0);
  auto flat = m.flatten(1);
  auto lo = std::get<0>(flat.min(1, true)).unsqueeze(-1), hi = std::get<0>(flat.max(1, true)).unsqueeze(-1);
  auto out = (m - lo) / (hi - lo);  // 0 / 0 = NaN for a constant map, as in the paper
  return maps.dim() == 2 ? out.squeeze(0) : out;
}

double step_average_precision(const torch::Tensor& scores, const torch::Tensor& labels) {
  if (!scores.defined() || !labels.defined() || scores.numel() != labels.numel())
    throw core::InputError("step_average_precision: scores and labels must have the same number of elements");
  auto s = scores.to(torch::kCPU, torch::kFloat64).contiguous().view(-1);
  auto y = labels.to(torch::kCPU).ne(0).contiguous().view(-1);
  const auto n = s.numel();
  const double* sv = s.data_ptr<double>();
  const bool* yv = y.data_ptr<bool>();
  std::int64_t positives = 0;
  for (std::int64_t i = 0; i < n; ++i) positives += yv[i];
  if (positives == 0) return 0.0;
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) { return sv[a] > sv[b]; });
  double ap = 0, prev_recall = 0;
  std::int64_t tp = 0;
  for (std::int64_t k = 0; k < n; ++k) {
    tp += yv[order[static_cast<std::size_t>(k)]];
    const bool group_end = k + 1 == n || sv[order[static_cast<std::size_t>(k + 1)]] != sv[order[static_cast<std::size_t>(k)]];
    if (!group_end) continue;
    const double recall = static_cast<double>(tp) / static_cast<double>(positives);
    const double precision = static_cast<double>(tp) / static_cast<double>(k + 1);
    ap += (recall - prev_recall) * precision;
    prev_recall = recall;
  }
  return ap;
}

void SegmentationMeter::add(const torch::Tensor& heatmap, const torch::Tensor& mask, double threshold, const torch::Tensor& ignore) {
  if (!heatmap.defined() || heatmap.dim() != 2 || !mask.defined() || mask.sizes() != heatmap.sizes())
    throw core::InputError("SegmentationMeter: heatmap and mask must both be [H, W], got " + shape_str(heatmap) + " and " +
                     shape_str(mask));
  if (ignore.defined() && ignore.sizes() != heatmap.sizes())
    throw core::InputError("SegmentationMeter: the ignored pixels must be " + shape_str(heatmap) + ", got " + shape_str(ignore));
  auto h = heatmap.to(torch::kCPU, torch::kFloat64);
  auto fg = mask.to(torch::kCPU).ne(0);
  // The paper thresholds at the map's mean: with a NaN map (a constant one normalised) every
  // comparison is false, so everything is background.
  const double thr = threshold >= 0 ? threshold : h.mean().item<double>();
  auto pred = h.gt(thr);
  if (ignore.defined()) {  // the scored pixels only (the threshold above is the whole map's)
    const auto keep = ignore.to(torch::kCPU).eq(0).reshape(-1);
    h = h.reshape(-1).masked_select(keep);
    fg = fg.reshape(-1).masked_select(keep);
    pred = pred.reshape(-1).masked_select(keep);
  }
  correct += pred.eq(fg).sum().item<std::int64_t>();
  labeled += fg.numel();
  for (int c = 0; c < 2; ++c) {
    auto pc = c ? pred : pred.logical_not();
    auto mc = c ? fg : fg.logical_not();
    const auto inter = pc.logical_and(mc).sum().item<std::int64_t>();
    intersection[c] += inter;
    union_[c] += pc.sum().item<std::int64_t>() + mc.sum().item<std::int64_t>() - inter;
  }
  auto zero_nan = [](const torch::Tensor& t) { return torch::where(torch::isnan(t), torch::zeros_like(t), t); };
  auto scores = torch::cat({zero_nan(1 - h).view(-1), zero_nan(h).view(-1)});
  auto labels = torch::cat({fg.logical_not().view(-1), fg.view(-1)});
  ap_.push_back(step_average_precision(scores, labels));
}

double SegmentationMeter::pixel_accuracy() const { return static_cast<double>(correct) / (kEps + static_cast<double>(labeled)); }

double SegmentationMeter::mean_iou() const {
  double s = 0;
  for (int c = 0; c < 2; ++c) s += static_cast<double>(intersection[c]) / (kEps + static_cast<double>(union_[c]));
  return s / 2;
}

double SegmentationMeter::mean_ap() const {
  if (ap_.empty()) return 0.0;
  return std::accumulate(ap_.begin(), ap_.end(), 0.0) / static_cast<double>(ap_.size());
}

}  // namespace pesuite::vision
