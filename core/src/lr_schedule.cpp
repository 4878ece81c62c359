#include "pesuite/core/lr_schedule.h"

#include <algorithm>
#include <cmath>

#include "pesuite/core/error.h"

namespace pesuite::core {

LrSchedule LrSchedule::constant(double base_lr) {
  LrSchedule s;
  s.base_lr_ = s.current_lr_ = base_lr;
  return s;
}

LrSchedule LrSchedule::warmup_cosine(double base_lr, std::int64_t warmup, std::int64_t total, double min_lr_ratio) {
  LrSchedule s = constant(base_lr);
  s.kind_ = "warmup_cosine";
  s.warmup_ = std::max<std::int64_t>(0, warmup);
  s.total_ = std::max<std::int64_t>(1, total);
  s.min_lr_ratio_ = min_lr_ratio;
  return s;
}

LrSchedule LrSchedule::plateau(double base_lr, double factor, std::int64_t patience, double min_lr, double threshold) {
  LrSchedule s = constant(base_lr);
  s.kind_ = "plateau";
  s.factor_ = factor;
  s.patience_ = patience;
  s.min_lr_ = min_lr;
  s.threshold_ = threshold;
  return s;
}

double LrSchedule::lr_at(std::int64_t step) const {
  if (kind_ == "plateau") return current_lr_;
  if (kind_ == "constant") return base_lr_;
  if (step < warmup_) return base_lr_ * static_cast<double>(step + 1) / static_cast<double>(warmup_);
  const double span = std::max<std::int64_t>(1, total_ - warmup_);
  const double t = std::min(1.0, static_cast<double>(step - warmup_) / span);
  const double min_lr = base_lr_ * min_lr_ratio_;
  return min_lr + 0.5 * (base_lr_ - min_lr) * (1.0 + std::cos(M_PI * t));
}

void LrSchedule::observe(double value) {
  if (kind_ != "plateau") return;
  // PyTorch's ReduceLROnPlateau, mode min, relative threshold.
  if (!has_best_ || value < best_ * (1.0 - threshold_)) {
    best_ = value;
    has_best_ = true;
    bad_epochs_ = 0;
  } else if (++bad_epochs_ > patience_) {
    current_lr_ = std::max(min_lr_, current_lr_ * factor_);
    bad_epochs_ = 0;
  }
}

nlohmann::json LrSchedule::state() const {
  return {{"kind", kind_},         {"base_lr", base_lr_},   {"min_lr_ratio", min_lr_ratio_}, {"factor", factor_},
          {"min_lr", min_lr_},     {"threshold", threshold_}, {"warmup", warmup_},         {"total", total_},
          {"patience", patience_}, {"current_lr", current_lr_}, {"best", best_},            {"has_best", has_best_},
          {"bad_epochs", bad_epochs_}};
}

void LrSchedule::load_state(const nlohmann::json& j, const std::string& source) {
  try {
    kind_ = j.at("kind").get<std::string>();
    base_lr_ = j.at("base_lr");
    min_lr_ratio_ = j.at("min_lr_ratio");
    factor_ = j.at("factor");
    min_lr_ = j.at("min_lr");
    threshold_ = j.at("threshold");
    warmup_ = j.at("warmup");
    total_ = j.at("total");
    patience_ = j.at("patience");
    current_lr_ = j.at("current_lr");
    best_ = j.at("best");
    has_best_ = j.at("has_best");
    bad_epochs_ = j.at("bad_epochs");
  } catch (const nlohmann::json::exception& e) {
    throw InputError(source + ": bad scheduler state: " + e.what());
  }
}

}  // namespace pesuite::core
