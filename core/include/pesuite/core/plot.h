#pragma once
// Line plots as PNG (OpenCV; in the pesuite::plot target, built when OpenCV is found): metric
// curves of a run, accuracy against test size per encoding, and so on.
//
//   pesuite::core::PlotSeries s{"train_loss", {1, 2, 3}, {0.9, 0.5, 0.4}};
//   pesuite::core::line_plot("runs/x/plots/loss.png", {s}, {"loss", "epoch", "loss"});
#include <string>
#include <vector>

namespace pesuite::core {

struct PlotSeries {
  std::string name;
  std::vector<double> x, y;
};

struct PlotLabels {
  std::string title, x_label, y_label;
};

// Writes a PNG atomically; non-finite points are skipped. InputError if the file can't be written.
void line_plot(const std::string& png_path, const std::vector<PlotSeries>& series, const PlotLabels& labels,
               int width = 800, int height = 500);

}  // namespace pesuite::core
