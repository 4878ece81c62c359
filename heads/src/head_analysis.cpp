// Head analysis: entropy, attention distance, CLS maps, positional similarity, importance and pruning.
#include "pesuite/heads/head_analysis.h"

#include <algorithm>
#include <numeric>

#include "pesuite/core/error.h"

namespace pesuite::heads {
namespace {

torch::Tensor as_4d(const torch::Tensor& probs, const std::string& who) {
  if (probs.dim() == 3) return probs.unsqueeze(0);
  if (probs.dim() == 4) return probs;
  throw core::InputError(who + ": probabilities must be [B, H, Nq, Nk] or [H, Nq, Nk]");
}

}  // namespace

torch::Tensor attention_entropy(const torch::Tensor& probs, const torch::Tensor& query_mask) {
  auto p = as_4d(probs, "attention_entropy");
  auto ent = -torch::xlogy(p, p).sum(-1);  // [B, H, Nq]
  if (!query_mask.defined()) return ent.mean(std::vector<std::int64_t>{0, 2});
  if (query_mask.dim() != 2 || query_mask.size(0) != p.size(0) || query_mask.size(1) != p.size(2))
    throw core::InputError("attention_entropy: query_mask must be [B, Nq]");
  auto w = (~query_mask.to(torch::kBool)).to(ent.dtype()).unsqueeze(1);  // [B, 1, Nq]
  return (ent * w).sum(std::vector<std::int64_t>{0, 2}) / (w.sum(std::vector<std::int64_t>{0, 2}) * 1.0);
}

torch::Tensor mean_attention_distance(const torch::Tensor& probs, const TokenLayout& layout) {
  auto p = as_4d(probs, "mean_attention_distance");
  const auto pre = layout.prefix;
  const auto nq = p.size(2) - pre, nk = p.size(3) - pre;
  if (nq <= 0 || nk <= 0) throw core::InputError("mean_attention_distance: no positioned tokens");
  TokenLayout body = layout;
  body.prefix = 0;
  auto d = relative_distance(nq, nk, body, p.options());
  auto sub = p.narrow(2, pre, nq).narrow(3, pre, nk);
  return (sub * d).sum(-1).mean(std::vector<std::int64_t>{0, 2});
}

torch::Tensor cls_attention_maps(const torch::Tensor& probs, const TokenLayout& layout, std::int64_t query) {
  if (!layout.is_grid()) throw core::InputError("cls_attention_maps: needs a grid token layout");
  auto p = as_4d(probs, "cls_attention_maps");
  const auto cells = layout.height * layout.width;
  if (p.size(3) != layout.prefix + cells) throw core::InputError("cls_attention_maps: keys do not match prefix + grid");
  if (query < 0 || query >= p.size(2)) throw core::InputError("cls_attention_maps: query index out of range");
  auto m = p.select(2, query).narrow(-1, layout.prefix, cells).reshape({p.size(0), p.size(1), layout.height, layout.width});
  return probs.dim() == 3 ? m.squeeze(0) : m;
}

torch::Tensor positional_similarity(const torch::Tensor& embedding) {
  if (embedding.dim() != 2) throw core::InputError("positional_similarity: embedding must be [P, D]");
  auto e = embedding / embedding.norm(2, 1, true).clamp_min(1e-12);
  return torch::matmul(e, e.t());
}

torch::Tensor positional_similarity_maps(const torch::Tensor& embedding, const TokenLayout& layout) {
  if (!layout.is_grid()) throw core::InputError("positional_similarity_maps: needs a grid token layout");
  const auto cells = layout.height * layout.width;
  if (embedding.dim() != 2 || embedding.size(0) != layout.prefix + cells)
    throw core::InputError("positional_similarity_maps: embedding must be [prefix + h*w, D]");
  return positional_similarity(embedding.narrow(0, layout.prefix, cells)).view({cells, layout.height, layout.width});
}

torch::Tensor head_importance(const std::vector<MultiHeadAttention>& layers, const std::function<torch::Tensor()>& next_loss,
                              std::int64_t batches, bool normalize_per_layer) {
  if (layers.empty()) throw core::InputError("head_importance: no layers");
  if (batches <= 0) throw core::InputError("head_importance: batches must be > 0");
  const auto H = layers.front()->heads();
  for (const auto& l : layers)
    if (l->heads() != H) throw core::InputError("head_importance: all layers must have the same head count");
  std::vector<bool> had;
  std::vector<torch::Tensor> gates;
  for (const auto& l : layers) {
    had.push_back(l->head_gates().defined());
    if (!had.back()) l.ptr()->enable_head_gates(true);
    gates.push_back(l->head_gates());
  }
  auto total = torch::zeros({static_cast<std::int64_t>(layers.size()), H}, torch::kFloat64);
  for (std::int64_t b = 0; b < batches; ++b) {
    auto loss = next_loss();
    auto grads = torch::autograd::grad({loss}, gates, {}, /*retain_graph=*/false, /*create_graph=*/false,
                                       /*allow_unused=*/true);
    for (size_t l = 0; l < grads.size(); ++l)
      if (grads[l].defined()) total[static_cast<std::int64_t>(l)] += grads[l].detach().abs().to(torch::kCPU, torch::kFloat64);
  }
  for (size_t l = 0; l < layers.size(); ++l)
    if (!had[l]) layers[l].ptr()->enable_head_gates(false);
  auto imp = total / static_cast<double>(batches);
  if (normalize_per_layer) imp = imp / (imp.norm(2, 1, true) + 1e-20);
  return imp;
}

std::vector<std::pair<std::int64_t, std::int64_t>> rank_heads(const torch::Tensor& importance) {
  if (importance.dim() != 2) throw core::InputError("rank_heads: importance must be [L, H]");
  auto imp = importance.to(torch::kCPU, torch::kFloat64).contiguous();
  const auto L = imp.size(0), H = imp.size(1);
  const double* v = imp.data_ptr<double>();
  std::vector<std::int64_t> order(static_cast<size_t>(L * H));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) { return v[a] < v[b]; });
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  for (auto i : order) out.emplace_back(i / H, i % H);
  return out;
}

torch::Tensor prune_mask(const torch::Tensor& importance, std::int64_t count) {
  auto ranked = rank_heads(importance);
  const auto L = importance.size(0), H = importance.size(1);
  auto keep = torch::ones({L, H});
  std::vector<std::int64_t> left(static_cast<size_t>(L), H);
  std::int64_t pruned = 0;
  for (const auto& [l, h] : ranked) {
    if (pruned >= count) break;
    if (left[static_cast<size_t>(l)] <= 1) continue;
    keep[l][h] = 0;
    --left[static_cast<size_t>(l)];
    ++pruned;
  }
  return keep;
}

void apply_head_mask(const std::vector<MultiHeadAttention>& layers, const torch::Tensor& keep) {
  if (keep.dim() != 2 || keep.size(0) != static_cast<std::int64_t>(layers.size()))
    throw core::InputError("apply_head_mask: keep must be [L, H] with L = " + std::to_string(layers.size()));
  for (size_t l = 0; l < layers.size(); ++l) {
    HeadIntervention iv;
    iv.keep = keep[static_cast<std::int64_t>(l)].clone();
    layers[l].ptr()->set_intervention(iv);
  }
}

}  // namespace pesuite::heads
