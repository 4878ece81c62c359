#pragma once
// Image-classification pieces that do not depend on a model: soft targets (label smoothing),
// mixup / cutmix on a batch (seeded), top-k accuracy, and average precision for multi-label
// classification (Pascal VOC's all-points interpolation; mAP = mean over classes).
//
//   using namespace pesuite::vision;
//   auto t = smooth_one_hot(labels, /*classes=*/10, /*smoothing=*/0.1);          // [B, 10], rows sum to 1
//   std::mt19937_64 rng(seed * 1000003 + step);
//   MixedBatch m = mix_batch(images, t, MixOptions().mixup_alpha(0.8).cutmix_alpha(1.0), rng);
//   auto loss = soft_cross_entropy(model(m.images), m.targets);
//   double top5 = topk_correct(logits, labels, 5).to(torch::kFloat).mean().item<double>();
//   MapResult r = mean_average_precision(scores, targets);   // targets: 1 positive, 0 negative, -1 ignored
//   MapResult v = mean_average_precision(scores, present, difficult_only);   // or 0/1 targets + an ignore mask
#include <torch/torch.h>

#include <cstdint>
#include <random>
#include <vector>

namespace pesuite::vision {

// One-hot rows with label smoothing: 1 - e + e/K on the label, e/K elsewhere (as timm).
torch::Tensor smooth_one_hot(const torch::Tensor& labels, std::int64_t classes, double smoothing);

// Mean over the batch of -sum_k t_k log softmax(logits)_k. With t = smooth_one_hot(y, K, e) this is
// (1 - e) CE(y) + e * mean_k(-log p_k).
torch::Tensor soft_cross_entropy(const torch::Tensor& logits, const torch::Tensor& targets);

// Multi-label loss: mean binary cross-entropy with logits over the entries whose target is >= 0
// (targets of -1, e.g. VOC's "difficult", are ignored).
torch::Tensor multilabel_bce(const torch::Tensor& logits, const torch::Tensor& targets);

// Mixup (Zhang et al. 2018) and CutMix (Yun et al. 2019), batch-level as timm's default mode:
// lambda ~ Beta(alpha, alpha); sample i is mixed with sample B-1-i (the batch reversed); CutMix
// pastes one box of area (1 - lambda) H W and corrects lambda to the box actually pasted. Targets
// are mixed with the same lambda, so soft rows that sum to 1 still sum to 1.
struct MixOptions {
  bool enabled() const { return mixup_alpha_ > 0 || cutmix_alpha_ > 0; }
  TORCH_ARG(double, mixup_alpha) = 0.0;   // 0 = off
  TORCH_ARG(double, cutmix_alpha) = 0.0;  // 0 = off
  TORCH_ARG(double, prob) = 1.0;          // probability that a batch is mixed at all
  TORCH_ARG(double, switch_prob) = 0.5;   // with both on: probability of CutMix rather than mixup
};

struct MixedBatch {
  torch::Tensor images;   // [B, C, H, W]
  torch::Tensor targets;  // [B, K]
  double lambda = 1.0;    // weight of the original sample
  bool mixed = false;
  bool cutmix = false;
};

// Everything random comes from `rng`, so a batch is a function of the seed (resume replays it).
MixedBatch mix_batch(const torch::Tensor& images, const torch::Tensor& targets, const MixOptions& options,
                     std::mt19937_64& rng);

// A Beta(a, b) sample from two Gamma draws (std::gamma_distribution), a, b > 0.
double sample_beta(double a, double b, std::mt19937_64& rng);

// bool [N]: whether labels[i] is among the k highest logits of row i (k is capped at the class count).
torch::Tensor topk_correct(const torch::Tensor& logits, const torch::Tensor& labels, std::int64_t k);

// Average precision of one class, Pascal VOC 2010+ style ("all points"): rank by score
// (descending), precision made monotone from the right, AP = sum over ranks where recall rises of
// (recall step) x (interpolated precision). `targets`: 1 positive, 0 negative, < 0 ignored (left out
// of the ranking). NaN when the class has no positive. Tied scores are one threshold: precision and
// recall are taken only after the whole tie (all tied entries enter the ranking together), so AP
// does not depend on the order of the entries (a stable sort would credit whichever came first);
// without ties this is VOC's all-point AP exactly. Computed in double from the exact counts.
double average_precision(const torch::Tensor& scores, const torch::Tensor& targets);

struct MapResult {
  double map = 0;                  // mean over classes with at least one positive
  std::vector<double> per_class;   // NaN for classes without positives
};
// scores, targets: [N, K].
MapResult mean_average_precision(const torch::Tensor& scores, const torch::Tensor& targets);
// Same with an explicit ignore mask (bool [N, K], true = entry left out of its class's ranking),
// for 0/1 targets kept apart from VOC's "difficult" flags: equal to the call above with -1 there.
MapResult mean_average_precision(const torch::Tensor& scores, const torch::Tensor& targets, const torch::Tensor& ignore);

}  // namespace pesuite::vision
