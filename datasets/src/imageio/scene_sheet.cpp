// Contact sheets of composited scenes: boxes and class names drawn over enlarged scenes.
#include "pesuite/imageio/scene_sheet.h"

#include <algorithm>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "pesuite/core/atomic_file.h"
#include "pesuite/core/error.h"

namespace pesuite::imageio {

namespace {

// Distinct, saturated box colours, one per class (cycled).
cv::Scalar class_colour(std::int64_t label) {
  static const int palette[][3] = {{230, 25, 75}, {60, 180, 75},  {255, 225, 25}, {0, 130, 200},  {245, 130, 48},
                                   {145, 30, 180}, {70, 240, 240}, {240, 50, 230}, {210, 245, 60}, {250, 190, 212},
                                   {0, 128, 128},  {220, 190, 255}, {170, 110, 40}, {255, 250, 200}, {128, 0, 0}};
  const auto& p = palette[static_cast<std::size_t>(label) % (sizeof palette / sizeof palette[0])];
  return cv::Scalar(p[0], p[1], p[2]);
}

// Text with a dark outline, legible on any background.
void label(cv::Mat& img, const std::string& text, cv::Point at, double scale, const cv::Scalar& colour) {
  cv::putText(img, text, at, cv::FONT_HERSHEY_SIMPLEX, scale, cv::Scalar(0, 0, 0), 3, cv::LINE_AA);
  cv::putText(img, text, at, cv::FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv::LINE_AA);
}

}  // namespace

cv::Mat scene_sheet(const datasets::ScenesDataset& set, const SceneSheetOptions& o) {
  if (!set.images.defined() || set.images.size(0) == 0) throw core::InputError(set.source + ": no scene to draw");
  if (o.columns < 1 || o.cell < 16 || o.max_scenes < 1) throw core::InputError("scene sheet: columns >= 1, cell >= 16 and max_scenes >= 1 needed");
  const std::int64_t n = std::min<std::int64_t>(set.images.size(0), o.max_scenes);
  const int cols = static_cast<int>(std::min<std::int64_t>(o.columns, n));
  const int rows = static_cast<int>((n + cols - 1) / cols);
  const int gap = 4, text_h = o.captions ? 16 : 0;
  const int ch = o.cell + text_h;
  cv::Mat sheet(rows * (ch + gap) + gap, cols * (o.cell + gap) + gap, CV_8UC3, cv::Scalar(32, 32, 32));
  const int H = static_cast<int>(set.images.size(1)), W = static_cast<int>(set.images.size(2));
  const double sx = static_cast<double>(o.cell) / W, sy = static_cast<double>(o.cell) / H;
  const torch::Tensor images = set.images.contiguous();
  for (std::int64_t i = 0; i < n; ++i) {
    const int r = static_cast<int>(i / cols), c = static_cast<int>(i % cols);
    const cv::Rect at(gap + c * (o.cell + gap), gap + r * (ch + gap), o.cell, o.cell);
    const cv::Mat scene(H, W, CV_8UC3, images[i].data_ptr<std::uint8_t>());
    cv::Mat cell;
    cv::resize(scene, cell, cv::Size(o.cell, o.cell), 0, 0, (o.cell >= W) ? cv::INTER_NEAREST : cv::INTER_AREA);
    for (const auto& obj : set.objects[static_cast<std::size_t>(i)]) {
      if (obj.visible_pixels == 0) continue;
      const cv::Scalar colour = class_colour(obj.label);
      const cv::Point p1(static_cast<int>(obj.box.x1 * sx), static_cast<int>(obj.box.y1 * sy));
      const cv::Point p2(static_cast<int>(obj.box.x2 * sx) - 1, static_cast<int>(obj.box.y2 * sy) - 1);
      cv::rectangle(cell, p1, p2, colour, 1, cv::LINE_8);
      const std::string name = set.classes[static_cast<std::size_t>(obj.label)];
      label(cell, name, cv::Point(p1.x + 2, std::max(10, p1.y + 10)), 0.35, colour);
    }
    cell.copyTo(sheet(at));
    if (o.captions && !set.captions[static_cast<std::size_t>(i)].empty()) {
      std::string text = set.captions[static_cast<std::size_t>(i)][0];
      // Cut to the cell's width (about 5.5 px per character at this scale).
      const auto fit = static_cast<std::size_t>(std::max(4, o.cell / 6));
      if (text.size() > fit) text = text.substr(0, fit - 3) + "...";
      cv::putText(sheet, text, cv::Point(at.x, at.y + o.cell + 12), cv::FONT_HERSHEY_SIMPLEX, 0.33, cv::Scalar(230, 230, 230), 1,
                  cv::LINE_AA);
    }
  }
  return sheet;
}

void write_scene_sheet(const std::string& path, const datasets::ScenesDataset& set, const SceneSheetOptions& o) {
  cv::Mat bgr;
  cv::cvtColor(scene_sheet(set, o), bgr, cv::COLOR_RGB2BGR);
  std::vector<unsigned char> png;
  if (!cv::imencode(".png", bgr, png)) throw core::InputError(path + ": cannot encode the sheet as PNG");
  core::write_file_atomic(path, std::string(png.begin(), png.end()));
}

}  // namespace pesuite::imageio
