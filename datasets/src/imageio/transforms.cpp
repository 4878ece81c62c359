#include "pesuite/imageio/transforms.h"

#include <algorithm>
#include <cmath>

#include <opencv2/imgproc.hpp>

namespace pesuite::imageio {

namespace {

std::uint64_t mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

}  // namespace

SampleRng::SampleRng(std::uint64_t seed, std::uint64_t epoch, std::uint64_t index)
    : state_(mix(mix(mix(seed + 0x9E3779B97F4A7C15ULL) ^ epoch) + index)) {}

std::uint64_t SampleRng::next() {
  state_ += 0x9E3779B97F4A7C15ULL;
  return mix(state_);
}

double SampleRng::uniform(double lo, double hi) {
  return lo + (hi - lo) * static_cast<double>(next() >> 11) * 0x1.0p-53;
}

std::int64_t SampleRng::integer(std::int64_t lo, std::int64_t hi) {
  if (hi <= lo) return lo;
  return lo + static_cast<std::int64_t>(next() % static_cast<std::uint64_t>(hi - lo + 1));
}

TransformOptions TransformOptions::train(int size) {
  TransformOptions o;
  o.width = o.height = size;
  o.random_crop = true;
  o.flip = 0.5;
  o.brightness = o.contrast = o.saturation = 0.4;
  o.hue = 0.1;
  return o;
}

TransformOptions TransformOptions::eval(int size) {
  TransformOptions o;
  o.width = o.height = size;
  return o;
}

cv::Mat resize(const cv::Mat& img, std::vector<Box>& boxes, int width, int height) {
  if (img.cols == width && img.rows == height) return img;
  const double sx = static_cast<double>(width) / img.cols, sy = static_cast<double>(height) / img.rows;
  for (auto& b : boxes) b.x1 *= sx, b.x2 *= sx, b.y1 *= sy, b.y2 *= sy;
  cv::Mat out;
  // Area averaging when shrinking (no aliasing), bilinear when enlarging.
  cv::resize(img, out, cv::Size(width, height), 0, 0, sx < 1 && sy < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
  return out;
}

cv::Mat hflip(const cv::Mat& img, std::vector<Box>& boxes) {
  const double w = img.cols;
  for (auto& b : boxes) {
    const double x1 = w - b.x2, x2 = w - b.x1;
    b.x1 = x1, b.x2 = x2;
  }
  cv::Mat out;
  cv::flip(img, out, 1);
  return out;
}

cv::Mat crop(const cv::Mat& img, std::vector<Box>& boxes, const cv::Rect& rect) {
  const cv::Rect r = rect & cv::Rect(0, 0, img.cols, img.rows);
  std::vector<Box> kept;
  for (auto b : boxes) {
    b.x1 = std::clamp(b.x1 - r.x, 0.0, double(r.width)), b.x2 = std::clamp(b.x2 - r.x, 0.0, double(r.width));
    b.y1 = std::clamp(b.y1 - r.y, 0.0, double(r.height)), b.y2 = std::clamp(b.y2 - r.y, 0.0, double(r.height));
    if (b.x2 > b.x1 && b.y2 > b.y1) kept.push_back(b);
  }
  boxes = std::move(kept);
  return img(r);  // a view; the next step (resize) copies
}

cv::Rect random_resized_crop_rect(int width, int height, const TransformOptions& o, SampleRng& rng) {
  const double area = static_cast<double>(width) * height;
  const double log_lo = std::log(o.ratio_min), log_hi = std::log(o.ratio_max);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target = area * rng.uniform(o.scale_min, o.scale_max);
    const double ratio = std::exp(rng.uniform(log_lo, log_hi));
    const int w = static_cast<int>(std::lround(std::sqrt(target * ratio)));
    const int h = static_cast<int>(std::lround(std::sqrt(target / ratio)));
    if (w > 0 && h > 0 && w <= width && h <= height) {
      const int y = static_cast<int>(rng.integer(0, height - h));
      const int x = static_cast<int>(rng.integer(0, width - w));
      return {x, y, w, h};
    }
  }
  const double in_ratio = static_cast<double>(width) / height;
  int w = width, h = height;
  if (in_ratio < o.ratio_min) h = static_cast<int>(std::lround(w / o.ratio_min));
  else if (in_ratio > o.ratio_max) w = static_cast<int>(std::lround(h * o.ratio_max));
  return {(width - w) / 2, (height - h) / 2, w, h};
}

cv::Mat color_jitter(const cv::Mat& img, const TransformOptions& o, SampleRng& rng) {
  auto factor = [&](double f) { return rng.uniform(std::max(0.0, 1 - f), 1 + f); };
  // Draw every factor whether used or not, so that enabling one does not shift the others.
  const double b = factor(o.brightness), c = factor(o.contrast), s = factor(o.saturation);
  const double h = rng.uniform(-o.hue, o.hue);
  // A fresh buffer first: the steps below work in place, and `img` may view the dataset's memory.
  cv::Mat out;
  if (o.brightness > 0) img.convertTo(out, -1, b, 0);
  else out = img.clone();
  if (o.contrast > 0) {
    cv::Mat grey;
    if (out.channels() == 3) cv::cvtColor(out, grey, cv::COLOR_RGB2GRAY);
    else grey = out;
    const double mean = cv::mean(grey)[0];
    out.convertTo(out, -1, c, (1 - c) * mean);
  }
  if (out.channels() == 3 && o.saturation > 0) {
    cv::Mat grey, grey3;
    cv::cvtColor(out, grey, cv::COLOR_RGB2GRAY);
    cv::cvtColor(grey, grey3, cv::COLOR_GRAY2RGB);
    cv::addWeighted(out, s, grey3, 1 - s, 0, out);
  }
  if (out.channels() == 3 && o.hue > 0) {
    cv::Mat hsv;
    cv::cvtColor(out, hsv, cv::COLOR_RGB2HSV_FULL);  // hue over 0..255 = one full turn
    const int shift = static_cast<int>(std::lround(h * 256));
    std::vector<cv::Mat> planes;
    cv::split(hsv, planes);
    cv::Mat lut(1, 256, CV_8U);
    for (int v = 0; v < 256; ++v) lut.at<std::uint8_t>(v) = static_cast<std::uint8_t>((v + shift + 512) % 256);
    cv::LUT(planes[0], lut, planes[0]);
    cv::merge(planes, hsv);
    cv::cvtColor(hsv, out, cv::COLOR_HSV2RGB_FULL);
  }
  return out;
}

cv::Mat apply(const TransformOptions& o, const cv::Mat& img, std::vector<Box>& boxes, SampleRng& rng) {
  cv::Mat out = img;
  if (o.random_crop) out = crop(out, boxes, random_resized_crop_rect(out.cols, out.rows, o, rng));
  out = resize(out, boxes, o.width, o.height);
  if (o.flip > 0 && rng.coin(o.flip)) out = hflip(out, boxes);
  if (o.brightness > 0 || o.contrast > 0 || o.saturation > 0 || o.hue > 0) out = color_jitter(out, o, rng);
  return out;
}

void normalize_into(const cv::Mat& img, const std::array<float, 3>& mean, const std::array<float, 3>& std, float* out) {
  const int c = img.channels(), plane = img.rows * img.cols;
  float scale[3], shift[3];
  for (int k = 0; k < c; ++k) {
    const int m = c == 3 ? k : 0;
    scale[k] = 1.0f / (255.0f * std[m]);
    shift[k] = -mean[m] / std[m];
  }
  for (int y = 0; y < img.rows; ++y) {
    const std::uint8_t* row = img.ptr<std::uint8_t>(y);
    for (int x = 0; x < img.cols; ++x)
      for (int k = 0; k < c; ++k) out[k * plane + y * img.cols + x] = row[x * c + k] * scale[k] + shift[k];
  }
}

torch::Tensor to_tensor(const cv::Mat& img, const std::array<float, 3>& mean, const std::array<float, 3>& std) {
  torch::Tensor t = torch::empty({img.channels(), img.rows, img.cols}, torch::kFloat32);
  normalize_into(img, mean, std, t.data_ptr<float>());
  return t;
}

}  // namespace pesuite::imageio
