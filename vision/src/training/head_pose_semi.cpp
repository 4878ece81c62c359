// The semi-supervised head-pose mechanics (head_pose_training.h): the adaptive confidence
// threshold and flip agreement.
#include <algorithm>
#include <cmath>

#include "pesuite/core/error.h"
#include "pesuite/vision/head_pose_training.h"

namespace pesuite::vision {

AdaptiveThreshold::AdaptiveThreshold(double keep_start, double keep_end, double momentum)
    : keep_start_(keep_start), keep_end_(keep_end), momentum_(momentum) {
  for (double k : {keep_start, keep_end})
    if (!(k > 0 && k <= 1)) throw core::InputError("semi.keep_start / semi.keep_end: must be in (0, 1]");
  if (!(momentum >= 0 && momentum < 1)) throw core::InputError("semi.ema: must be in [0, 1)");
}

double AdaptiveThreshold::keep_at(double progress) const {
  const double t = std::clamp(progress, 0.0, 1.0);
  return keep_start_ + (keep_end_ - keep_start_) * t;
}

double AdaptiveThreshold::update(std::vector<double> c, double progress) {
  c.erase(std::remove_if(c.begin(), c.end(), [](double v) { return !std::isfinite(v); }), c.end());
  if (c.empty()) return value_;
  std::sort(c.begin(), c.end());
  // The value with a share 1 - keep of the batch below it (linear interpolation between ranks).
  const double q = (1 - keep_at(progress)) * static_cast<double>(c.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(q));
  const auto hi = std::min(lo + 1, c.size() - 1);
  const double quantile = c[lo] + (q - static_cast<double>(lo)) * (c[hi] - c[lo]);
  value_ = initialised_ ? momentum_ * value_ + (1 - momentum_) * quantile : quantile;
  initialised_ = true;
  return value_;
}

nlohmann::json AdaptiveThreshold::state() const { return {{"value", value_}, {"initialised", initialised_}}; }

void AdaptiveThreshold::load_state(const nlohmann::json& s) {
  if (!s.is_object()) return;
  value_ = s.value("value", 0.0);
  initialised_ = s.value("initialised", false);
}

torch::Tensor flip_agreement(const torch::Tensor& rotation, const torch::Tensor& rotation_of_mirror) {
  return -geodesic_degrees(rotation, flip_rotation(rotation_of_mirror));
}

}  // namespace pesuite::vision
