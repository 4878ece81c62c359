#include "pesuite/core/progress.h"

#include <unistd.h>

#include <cstdio>
#include <sstream>

namespace pesuite::core {

bool Progress::is_terminal() { return ::isatty(STDERR_FILENO) == 1; }

Progress::Progress(std::int64_t total, std::string label, bool enabled)
    : total_(total), label_(std::move(label)), enabled_(enabled),
      start_(std::chrono::steady_clock::now()), last_draw_(start_ - std::chrono::seconds(1)) {}

Progress::~Progress() { finish(); }

static std::string duration(double s) {
  char buf[32];
  if (s < 0 || s > 1e7) return "--:--";
  const int t = static_cast<int>(s + 0.5);
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%02d:%02d", t / 60, t % 60);
  return buf;
}

std::string Progress::line(const std::string& status) const {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? done_ / elapsed : 0;
  const double frac = total_ > 0 ? static_cast<double>(done_) / total_ : 0;
  const int width = 24, filled = static_cast<int>(frac * width);
  std::ostringstream s;
  s << label_ << " [" << std::string(filled, '#') << std::string(width - filled, '.') << "] " << done_ << "/" << total_;
  char r[32];
  std::snprintf(r, sizeof r, " %.1f/s", rate);
  s << r << " ETA " << (rate > 0 ? duration((total_ - done_) / rate) : "--:--");
  if (!status.empty()) s << "  " << status;
  return s.str();
}

void Progress::tick(std::int64_t n, const std::string& status) {
  done_ += n;
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100) && done_ < total_) return;  // redraw at most 10x/s
  last_draw_ = now;
  std::fprintf(stderr, "\r\033[K%s", line(status).c_str());
  std::fflush(stderr);
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (enabled_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  }
}

}  // namespace pesuite::core
