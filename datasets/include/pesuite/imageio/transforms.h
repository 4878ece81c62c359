#pragma once
// Image transforms with OpenCV for training and evaluation (pesuite::imageio): resize,
// random-resized-crop, horizontal flip, colour jitter, normalise to float CHW. Boxes (x1,y1,x2,y2
// in pixels) follow every geometric step. Randomness comes from a SampleRng made from
// (seed, epoch, sample index), so a sample's augmentation never depends on which thread ran it.
//
//   auto t = pesuite::imageio::TransformOptions::train(224);       // RRC(0.08-1) + flip 0.5 + jitter 0.4
//   pesuite::imageio::SampleRng rng(/*seed=*/0, /*epoch=*/3, /*index=*/42);
//   std::vector<pesuite::datasets::Box> boxes = record.boxes;
//   cv::Mat out = pesuite::imageio::apply(t, pesuite::imageio::decode_image(record.file), boxes, rng);
//   torch::Tensor x = pesuite::imageio::to_tensor(out, t.mean, t.std);   // float [3, 224, 224]
#include <opencv2/core.hpp>
#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <vector>

#include "pesuite/datasets/image_record.h"

namespace pesuite::imageio {

using datasets::Box;

// splitmix64 stream seeded from (seed, epoch, index): cheap, portable (no std:: distributions,
// whose output differs between standard libraries) and independent per sample.
class SampleRng {
 public:
  SampleRng(std::uint64_t seed, std::uint64_t epoch, std::uint64_t index);
  std::uint64_t next();
  double uniform(double lo = 0.0, double hi = 1.0);   // [lo, hi)
  std::int64_t integer(std::int64_t lo, std::int64_t hi);  // [lo, hi], inclusive
  bool coin(double p) { return uniform() < p; }

 private:
  std::uint64_t state_;
};

struct TransformOptions {
  int width = 224, height = 224;  // output size
  bool random_crop = false;       // random-resized-crop (torchvision semantics) instead of a plain resize
  double scale_min = 0.08, scale_max = 1.0;      // crop area, fraction of the image
  double ratio_min = 3.0 / 4, ratio_max = 4.0 / 3;  // crop aspect ratio w/h
  double flip = 0.0;                              // probability of a horizontal flip
  double brightness = 0, contrast = 0, saturation = 0, hue = 0;  // torchvision ColorJitter factors
  std::array<float, 3> mean = {0.485f, 0.456f, 0.406f};  // ImageNet, per RGB channel
  std::array<float, 3> std = {0.229f, 0.224f, 0.225f};

  static TransformOptions train(int size);  // RRC + flip 0.5 + jitter 0.4/0.4/0.4/0.1
  static TransformOptions eval(int size);   // resize only
};

// Geometric steps; boxes are moved with the pixels, clipped to the image, and dropped when nothing
// of them is left.
cv::Mat resize(const cv::Mat& img, std::vector<Box>& boxes, int width, int height);
cv::Mat hflip(const cv::Mat& img, std::vector<Box>& boxes);  // x -> W - x
cv::Mat crop(const cv::Mat& img, std::vector<Box>& boxes, const cv::Rect& rect);
// torchvision's RandomResizedCrop.get_params: 10 tries at a random area and log-uniform ratio,
// else the largest central crop within the ratio range.
cv::Rect random_resized_crop_rect(int width, int height, const TransformOptions& o, SampleRng& rng);

// Brightness, contrast, saturation, hue in that fixed order, factors drawn uniformly from
// [max(0, 1 - f), 1 + f] (hue: a shift in [-f, f] of a full turn). Grey images skip saturation/hue.
cv::Mat color_jitter(const cv::Mat& img, const TransformOptions& o, SampleRng& rng);

// All steps of `o` in order: crop-or-resize, flip, jitter. Returns uint8 of o.width x o.height.
cv::Mat apply(const TransformOptions& o, const cv::Mat& img, std::vector<Box>& boxes, SampleRng& rng);

// (px / 255 - mean[c]) / std[c], channel-first, written to out[C*H*W]; grey images use mean[0], std[0].
void normalize_into(const cv::Mat& img, const std::array<float, 3>& mean, const std::array<float, 3>& std, float* out);
torch::Tensor to_tensor(const cv::Mat& img, const std::array<float, 3>& mean, const std::array<float, 3>& std);

}  // namespace pesuite::imageio
