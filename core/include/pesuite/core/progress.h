#pragma once
// A one-line progress bar with rate and ETA on a terminal; silent when stderr is not a terminal
// (logs, CI), so that log files hold only what matters.
//
//   pesuite::core::Progress bar(steps, "train");
//   for (...) { ...; bar.tick(1, "loss 0.31"); }
//   bar.finish();
#include <chrono>
#include <cstdint>
#include <string>

namespace pesuite::core {

class Progress {
 public:
  Progress(std::int64_t total, std::string label, bool enabled = is_terminal());
  ~Progress();
  void tick(std::int64_t n = 1, const std::string& status = "");
  void finish();
  // The line as it would be drawn (exposed for tests).
  std::string line(const std::string& status) const;
  static bool is_terminal();

 private:
  std::int64_t total_, done_ = 0;
  std::string label_;
  bool enabled_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace pesuite::core
