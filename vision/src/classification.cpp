#include "pesuite/vision/classification.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "pesuite/core/error.h"

namespace pesuite::vision {

torch::Tensor smooth_one_hot(const torch::Tensor& labels, std::int64_t classes, double smoothing) {
  const double off = smoothing / static_cast<double>(classes);
  auto t = torch::full({labels.size(0), classes}, off, torch::TensorOptions().dtype(torch::kFloat32).device(labels.device()));
  t.scatter_(1, labels.view({-1, 1}).to(torch::kLong), 1.0 - smoothing + off);
  return t;
}

torch::Tensor soft_cross_entropy(const torch::Tensor& logits, const torch::Tensor& targets) {
  return -(targets * torch::log_softmax(logits, 1)).sum(1).mean();
}

torch::Tensor multilabel_bce(const torch::Tensor& logits, const torch::Tensor& targets) {
  auto weight = (targets >= 0).to(logits.scalar_type());
  auto loss = torch::binary_cross_entropy_with_logits(logits, targets.clamp_min(0).to(logits.scalar_type()), weight,
                                                      {}, at::Reduction::Sum);
  return loss / weight.sum().clamp_min(1);
}

double sample_beta(double a, double b, std::mt19937_64& rng) {
  std::gamma_distribution<double> ga(a, 1.0), gb(b, 1.0);
  const double x = ga(rng), y = gb(rng);
  return x + y > 0 ? x / (x + y) : 0.5;
}

MixedBatch mix_batch(const torch::Tensor& images, const torch::Tensor& targets, const MixOptions& o,
                     std::mt19937_64& rng) {
  MixedBatch out;
  out.images = images;
  out.targets = targets;
  if (!o.enabled()) return out;
  std::uniform_real_distribution<double> u(0.0, 1.0);
  if (u(rng) >= o.prob()) return out;
  const bool cutmix = o.cutmix_alpha() > 0 && (o.mixup_alpha() <= 0 || u(rng) < o.switch_prob());
  double lam = cutmix ? sample_beta(o.cutmix_alpha(), o.cutmix_alpha(), rng) : sample_beta(o.mixup_alpha(), o.mixup_alpha(), rng);
  auto partner = images.flip(0);
  if (cutmix) {
    const auto H = images.size(2), W = images.size(3);
    const double cut = std::sqrt(1.0 - lam);
    const auto ch = static_cast<std::int64_t>(H * cut), cw = static_cast<std::int64_t>(W * cut);
    std::uniform_int_distribution<std::int64_t> cy(0, H - 1), cx(0, W - 1);
    const auto y = cy(rng), x = cx(rng);
    const auto y0 = std::clamp<std::int64_t>(y - ch / 2, 0, H), y1 = std::clamp<std::int64_t>(y + ch / 2, 0, H);
    const auto x0 = std::clamp<std::int64_t>(x - cw / 2, 0, W), x1 = std::clamp<std::int64_t>(x + cw / 2, 0, W);
    auto mixed = images.clone();
    using torch::indexing::Slice;
    mixed.index_put_({Slice(), Slice(), Slice(y0, y1), Slice(x0, x1)},
                     partner.index({Slice(), Slice(), Slice(y0, y1), Slice(x0, x1)}));
    lam = 1.0 - static_cast<double>((y1 - y0) * (x1 - x0)) / static_cast<double>(H * W);
    out.images = mixed;
  } else {
    out.images = images * lam + partner * (1.0 - lam);
  }
  // Ignored multi-label entries (< 0) stay ignored when either side ignores them.
  auto mixed_t = targets * lam + targets.flip(0) * (1.0 - lam);
  out.targets = torch::where((targets < 0) | (targets.flip(0) < 0), torch::full_like(targets, -1.0), mixed_t);
  out.lambda = lam;
  out.mixed = true;
  out.cutmix = cutmix;
  return out;
}

torch::Tensor topk_correct(const torch::Tensor& logits, const torch::Tensor& labels, std::int64_t k) {
  k = std::min<std::int64_t>(k, logits.size(1));
  auto top = std::get<1>(logits.topk(k, 1));
  return top.eq(labels.view({-1, 1}).to(top.device())).any(1);
}

double average_precision(const torch::Tensor& scores_in, const torch::Tensor& targets_in) {
  auto scores = scores_in.detach().to(torch::kCPU, torch::kDouble).contiguous();
  auto targets = targets_in.detach().to(torch::kCPU, torch::kDouble).contiguous();
  if (scores.dim() != 1 || targets.sizes() != scores.sizes())
    throw core::InputError("average_precision: scores and targets must be [N] of one length, got " + c10::str(scores.sizes()) +
                     " and " + c10::str(targets.sizes()));
  const auto n = scores.size(0);
  const double* s = scores.data_ptr<double>();
  const double* t = targets.data_ptr<double>();
  std::vector<std::int64_t> idx;
  std::int64_t positives = 0;
  for (std::int64_t i = 0; i < n; ++i)
    if (t[i] >= 0) {
      idx.push_back(i);
      positives += t[i] > 0;
    }
  if (positives == 0) return std::numeric_limits<double>::quiet_NaN();
  // Descending score; a run of tied scores is one threshold (its entries enter together).
  std::sort(idx.begin(), idx.end(), [&](std::int64_t a, std::int64_t b) { return s[a] > s[b] || (s[a] == s[b] && a < b); });
  std::vector<double> precision, recall;  // at the end of each threshold group
  std::int64_t tp = 0;
  for (std::size_t r = 0; r < idx.size(); ++r) {
    tp += t[idx[r]] > 0;
    if (r + 1 < idx.size() && s[idx[r + 1]] == s[idx[r]]) continue;  // inside a tie
    precision.push_back(static_cast<double>(tp) / static_cast<double>(r + 1));
    recall.push_back(static_cast<double>(tp) / static_cast<double>(positives));
  }
  for (std::size_t r = precision.size() - 1; r-- > 0;) precision[r] = std::max(precision[r], precision[r + 1]);
  double ap = 0, prev_recall = 0;
  for (std::size_t r = 0; r < precision.size(); ++r) {
    ap += (recall[r] - prev_recall) * precision[r];
    prev_recall = recall[r];
  }
  return ap;
}

MapResult mean_average_precision(const torch::Tensor& scores, const torch::Tensor& targets) {
  if (scores.dim() != 2 || targets.sizes() != scores.sizes())
    throw core::InputError("mean_average_precision: scores and targets must be [N, K] of one shape, got " + c10::str(scores.sizes()) +
                     " and " + c10::str(targets.sizes()));
  MapResult r;
  double sum = 0;
  std::int64_t counted = 0;
  for (std::int64_t k = 0; k < scores.size(1); ++k) {
    const double ap = average_precision(scores.select(1, k), targets.select(1, k));
    r.per_class.push_back(ap);
    if (std::isfinite(ap)) sum += ap, ++counted;
  }
  r.map = counted ? sum / static_cast<double>(counted) : std::numeric_limits<double>::quiet_NaN();
  return r;
}

MapResult mean_average_precision(const torch::Tensor& scores, const torch::Tensor& targets, const torch::Tensor& ignore) {
  if (ignore.sizes() != targets.sizes())
    throw core::InputError("mean_average_precision: ignore mask " + c10::str(ignore.sizes()) + " does not match targets " +
                     c10::str(targets.sizes()));
  auto t = targets.detach().to(torch::kCPU, torch::kDouble);
  return mean_average_precision(scores, torch::where(ignore.to(torch::kCPU, torch::kBool), torch::full_like(t, -1.0), t));
}

}  // namespace pesuite::vision
