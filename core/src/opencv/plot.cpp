#include "pesuite/core/plot.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "pesuite/core/atomic_file.h"
#include "pesuite/core/error.h"

namespace pesuite::core {
namespace {

// Tick spacing of 1, 2 or 5 times a power of ten giving about `n` ticks over [lo, hi].
double nice_step(double lo, double hi, int n) {
  const double raw = (hi - lo) / std::max(1, n);
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * p >= raw) return m * p;
  return 10 * p;
}

std::string tick_label(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", std::abs(v) < 1e-12 ? 0.0 : v);
  return buf;
}

const cv::Scalar kColours[] = {{180, 119, 31}, {14, 127, 255}, {44, 160, 44}, {40, 39, 214},
                               {189, 103, 148}, {75, 86, 140}, {194, 119, 227}, {127, 127, 127}};

}  // namespace

void line_plot(const std::string& png_path, const std::vector<PlotSeries>& series, const PlotLabels& labels, int width,
               int height) {
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  for (const auto& s : series)
    for (std::size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i)
      if (std::isfinite(s.x[i]) && std::isfinite(s.y[i])) {
        x0 = std::min(x0, s.x[i]), x1 = std::max(x1, s.x[i]);
        y0 = std::min(y0, s.y[i]), y1 = std::max(y1, s.y[i]);
      }
  if (!std::isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (x1 - x0 < 1e-12) x0 -= 0.5, x1 += 0.5;
  if (y1 - y0 < 1e-12) y0 -= 0.5, y1 += 0.5;
  const double ypad = 0.05 * (y1 - y0);
  y0 -= ypad, y1 += ypad;

  cv::Mat img(height, width, CV_8UC3, cv::Scalar(255, 255, 255));
  const int left = 80, right = 170, top = 40, bottom = 60;
  const int pw = width - left - right, ph = height - top - bottom;
  auto px = [&](double x) { return left + static_cast<int>((x - x0) / (x1 - x0) * pw); };
  auto py = [&](double y) { return top + ph - static_cast<int>((y - y0) / (y1 - y0) * ph); };
  const auto font = cv::FONT_HERSHEY_SIMPLEX;
  const cv::Scalar black(0, 0, 0), grid(225, 225, 225);

  for (int axis = 0; axis < 2; ++axis) {
    const double lo = axis ? y0 : x0, hi = axis ? y1 : x1, step = nice_step(lo, hi, axis ? 6 : 8);
    for (double t = std::ceil(lo / step) * step; t <= hi + 1e-9 * step; t += step) {
      if (axis) {
        cv::line(img, {left, py(t)}, {left + pw, py(t)}, grid, 1);
        cv::putText(img, tick_label(t), {5, py(t) + 4}, font, 0.4, black, 1, cv::LINE_AA);
      } else {
        cv::line(img, {px(t), top}, {px(t), top + ph}, grid, 1);
        cv::putText(img, tick_label(t), {px(t) - 12, top + ph + 18}, font, 0.4, black, 1, cv::LINE_AA);
      }
    }
  }
  cv::rectangle(img, {left, top}, {left + pw, top + ph}, black, 1);
  cv::putText(img, labels.title, {left, 25}, font, 0.6, black, 1, cv::LINE_AA);
  cv::putText(img, labels.x_label, {left + pw / 2 - 30, height - 15}, font, 0.5, black, 1, cv::LINE_AA);
  cv::putText(img, labels.y_label, {5, top - 10}, font, 0.45, black, 1, cv::LINE_AA);

  for (std::size_t k = 0; k < series.size(); ++k) {
    const auto& s = series[k];
    const cv::Scalar colour = kColours[k % 8];
    std::vector<cv::Point> pts;
    for (std::size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i)
      if (std::isfinite(s.x[i]) && std::isfinite(s.y[i])) pts.emplace_back(px(s.x[i]), py(s.y[i]));
    if (pts.size() > 1) cv::polylines(img, pts, false, colour, 2, cv::LINE_AA);
    for (const auto& p : pts) cv::circle(img, p, 3, colour, cv::FILLED, cv::LINE_AA);
    const int ly = top + 15 + 20 * static_cast<int>(k);
    cv::line(img, {left + pw + 10, ly - 4}, {left + pw + 30, ly - 4}, colour, 2);
    cv::putText(img, s.name, {left + pw + 35, ly}, font, 0.45, black, 1, cv::LINE_AA);
  }
  std::vector<unsigned char> png;
  if (!cv::imencode(".png", img, png)) throw InputError(png_path + ": PNG encoding failed");
  write_file_atomic(png_path, std::string(png.begin(), png.end()));
}

}  // namespace pesuite::core
