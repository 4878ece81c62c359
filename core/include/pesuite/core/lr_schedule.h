#pragma once
// Learning-rate schedules with explicit, serialisable state (saved in every checkpoint), so that a
// resumed run continues exactly where it stopped.
//
//   LrSchedule s = LrSchedule::warmup_cosine(/*base_lr=*/1e-3, /*warmup=*/100, /*total=*/1000);
//   double lr = s.lr_at(step);                   // warm-up then cosine (stateless)
//   LrSchedule p = LrSchedule::plateau(1e-3, /*factor=*/0.5, /*patience=*/10);
//   p.observe(val_loss);  p.lr_at(step);         // reduce-on-plateau (stateful)
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace pesuite::core {

class LrSchedule {
 public:
  static LrSchedule constant(double base_lr);
  static LrSchedule warmup_cosine(double base_lr, std::int64_t warmup_steps, std::int64_t total_steps,
                                  double min_lr_ratio = 0.0);
  static LrSchedule plateau(double base_lr, double factor, std::int64_t patience, double min_lr = 0.0,
                            double threshold = 1e-4);

  double lr_at(std::int64_t step) const;
  // Reduce-on-plateau: report a validation value (lower is better); no-op for other kinds.
  void observe(double value);

  nlohmann::json state() const;
  void load_state(const nlohmann::json& state, const std::string& source);
  const std::string& kind() const { return kind_; }

 private:
  std::string kind_ = "constant";
  double base_lr_ = 1e-3, min_lr_ratio_ = 0, factor_ = 0.5, min_lr_ = 0, threshold_ = 1e-4;
  std::int64_t warmup_ = 0, total_ = 1, patience_ = 10;
  // plateau state
  double current_lr_ = 1e-3, best_ = 0;
  bool has_best_ = false;
  std::int64_t bad_epochs_ = 0;
};

}  // namespace pesuite::core
