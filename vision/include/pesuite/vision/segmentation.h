#pragma once
// Zero-shot segmentation from a decomposition (Gandelsman et al., section 5; clip_text_span's
// compute_segmentations.py), attention rollout as a baseline map, and the paper's metrics
// (pixel accuracy, mIoU, mAP of heatmaps against binary masks).
//
//   using namespace pesuite::vision;
//   auto weights = zero_shot_weights(model, tokenizer, class_names);      // [K, E] (clip.h)
//   auto s = clip_residual_stream(model->visual, images);                 // decompose.h
//   auto d = heads::decompose(s, clip_readout(model->visual, s.residual.size(1)));  // spatial terms
//   // (decompose_clip_image(model->visual, images) does both when the probabilities are not needed)
//   auto classes = zero_shot_classify(d.output, weights);                 // [B]
//   auto layout = model->visual->layout_for(64, 64);
//   auto maps = decomposition_heatmap(d, weights, classes, layout);       // [B, 8, 8]
//   std::vector<torch::Tensor> probs;  for (auto& a : s.attention) probs.push_back(a.probs);
//   auto rollout = attention_rollout(probs, layout);                      // [B, 8, 8] baseline
//   SegmentationMeter meter;
//   for (b...) meter.add(normalize_heatmap(upsample_heatmap(maps, 64, 64))[b], masks[b]);
//   meter.pixel_accuracy(); meter.mean_iou(); meter.mean_ap();
//
// The paper's pipeline, which these functions follow: per-token terms summed over heads and the
// chosen layers, dotted with (class text embedding - mean over the classes' embeddings), on the
// patch grid; bilinear upsampling to the image; clipped at 0 and min-max normalised per image;
// foreground where the map exceeds its mean. Pixel accuracy and IoU count pixels over the whole
// dataset (two classes: background, foreground; mIoU is their mean); AP is sklearn's
// average_precision_score per image over both channels ((1 - map, background), (map,
// foreground)), averaged over images.
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "pesuite/heads/decomposition.h"
#include "pesuite/heads/positional.h"

namespace pesuite::vision {

// argmax over classes of output @ class_embeds^T (class_embeds [K, E]): [B] int64.
torch::Tensor zero_shot_classify(const torch::Tensor& outputs, const torch::Tensor& class_embeds);

// Per-patch evidence for each image's class: sum over the chosen attention layers (empty = all)
// and heads of the per-token terms (d.tokens, needs DecomposeOptions::spatial), dotted with
// class_embeds[classes[b]] - class_embeds.mean(0); prefix (class) tokens dropped; [B, h, w].
torch::Tensor decomposition_heatmap(const heads::Decomposition& d, const torch::Tensor& class_embeds,
                                    const torch::Tensor& classes, const heads::TokenLayout& layout,
                                    const std::vector<std::int64_t>& layers = {});
// The same for P (image, class) pairs: pair k is image images[k] of the batch with class
// classes[k] (an image with several classes, e.g. COCO's, is summed over layers and heads once). [P, h, w].
torch::Tensor decomposition_heatmaps(const heads::Decomposition& d, const torch::Tensor& class_embeds, const torch::Tensor& images,
                                     const torch::Tensor& classes, const heads::TokenLayout& layout,
                                     const std::vector<std::int64_t>& layers = {});

// Attention rollout (Abnar and Zuidema 2020): per layer A = r I + (1 - r) mean_h(P), rows
// renormalised, multiplied from the first layer up; the class token's row over the patches (or,
// without prefix tokens, the mean row). probs: per layer [B, H, N, N]. [B, h, w].
torch::Tensor attention_rollout(const std::vector<torch::Tensor>& probs, const heads::TokenLayout& layout,
                                double residual = 0.5);

// [B, h, w] -> [B, height, width], bilinear, corners not aligned (F.interpolate's default).
torch::Tensor upsample_heatmap(const torch::Tensor& maps, std::int64_t height, std::int64_t width);
// Per image: clip at 0, then (m - min) / (max - min). A constant map (0 / 0, e.g. one with no
// positive evidence anywhere) comes back NaN, as in the paper; SegmentationMeter then predicts all
// background and scores both AP channels as 0 everywhere (one tie: AP = 1/2). [B, H, W] or [H, W].
torch::Tensor normalize_heatmap(const torch::Tensor& maps);

// sklearn.metrics.average_precision_score for binary labels (not interpolated, unlike
// classification.h's VOC average_precision): sum over score thresholds (from high
// to low, ties grouped) of (recall step) x precision. 0 when there is no positive (sklearn's nan,
// which the paper's nan_to_num turns into 0). scores, labels: any shape, same numel.
double step_average_precision(const torch::Tensor& scores, const torch::Tensor& labels);

// Accumulates the paper's three numbers over images.
class SegmentationMeter {
 public:
  // heatmap: [H, W] normalised to [0, 1] (NaN counts as 0); mask: [H, W] (nonzero = foreground).
  // Foreground prediction: heatmap > threshold, the heatmap's mean (over every pixel) when
  // threshold < 0. ignore: [H, W] bool or undefined; its true pixels are scored as neither class
  // (left out of every count and of AP), as COCO's crowd regions.
  void add(const torch::Tensor& heatmap, const torch::Tensor& mask, double threshold = -1.0, const torch::Tensor& ignore = {});
  double pixel_accuracy() const;  // correct / labelled pixels
  double mean_iou() const;        // mean over {background, foreground} of intersection / union
  double mean_ap() const;          // mean over images of step_average_precision (both channels)
  std::int64_t images() const { return static_cast<std::int64_t>(ap_.size()); }

  std::int64_t correct = 0, labeled = 0;
  std::int64_t intersection[2] = {0, 0}, union_[2] = {0, 0};

 private:
  std::vector<double> ap_;
};

}  // namespace pesuite::vision
