// Contact sheets of any dataset whose row draws one (sheet.h): dispatch by the row's loader kind,
// and the head-pose sheet of images on disk.
#include "pesuite/imageio/sheet.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "pesuite/core/atomic_file.h"
#include "pesuite/core/error.h"
#include "pesuite/core/registry.h"
#include "pesuite/datasets/formats.h"
#include "pesuite/imageio/decode.h"
#include "pesuite/imageio/head_pose_draw.h"
#include "pesuite/imageio/scene_sheet.h"

namespace pesuite::imageio {

namespace {

void write_png(const std::string& path, const cv::Mat& bgr) {
  std::vector<unsigned char> png;
  if (!cv::imencode(".png", bgr, png)) throw core::InputError(path + ": cannot encode the contact sheet as PNG");
  core::write_file_atomic(path, std::string(png.begin(), png.end()));
}

}  // namespace

void write_head_pose_sheet(const datasets::HeadPoseDataset& set, const std::string& path, const SheetOptions& o) {
  const auto n = static_cast<int>(std::min<std::int64_t>(o.count, static_cast<std::int64_t>(set.records.size())));
  if (n <= 0) throw core::InputError(set.source + ": no image to draw");
  const int cols = std::min(o.columns, n), rows = (n + cols - 1) / cols, cell = o.cell;
  cv::Mat sheet(rows * cell, cols * cell, CV_8UC3, cv::Scalar(32, 32, 32));
  for (int i = 0; i < n; ++i) {
    const auto& r = set.records[static_cast<std::size_t>(i)];
    cv::Mat bgr;
    cv::cvtColor(decode_image(r.file), bgr, cv::COLOR_RGB2BGR);  // InputError naming the file
    // The record's loose crop (1-based corners), clamped to the image, scaled into the cell.
    const int x1 = std::clamp(static_cast<int>(std::floor(r.box.x1 - 1)), 0, bgr.cols - 1);
    const int y1 = std::clamp(static_cast<int>(std::floor(r.box.y1 - 1)), 0, bgr.rows - 1);
    const int x2 = std::clamp(static_cast<int>(std::ceil(r.box.x2 - 1)), x1 + 1, bgr.cols);
    const int y2 = std::clamp(static_cast<int>(std::ceil(r.box.y2 - 1)), y1 + 1, bgr.rows);
    const double s = static_cast<double>(cell) / std::max(x2 - x1, y2 - y1);
    cv::Mat tile(cell, cell, CV_8UC3, cv::Scalar(32, 32, 32)), part;
    const int tw = std::max(1, static_cast<int>(std::lround((x2 - x1) * s))), th = std::max(1, static_cast<int>(std::lround((y2 - y1) * s)));
    cv::resize(bgr(cv::Rect(x1, y1, x2 - x1, y2 - y1)), part, cv::Size(std::min(tw, cell), std::min(th, cell)), 0, 0, cv::INTER_AREA);
    part.copyTo(tile(cv::Rect(0, 0, part.cols, part.rows)));
    // Axes at the landmark box's centre, in tile coordinates (1-based as the labels).
    const double cx = ((r.landmark_box.x1 + r.landmark_box.x2) / 2 - 1 - x1) * s + 1;
    const double cy = ((r.landmark_box.y1 + r.landmark_box.y2) / 2 - 1 - y1) * s + 1;
    draw_pose_axes(tile, r.pose, cx, cy, 0.3 * cell);
    char text[64];
    std::snprintf(text, sizeof text, "%.0f %.0f %.0f", r.pose.yaw, r.pose.pitch, r.pose.roll);
    cv::putText(tile, text, {3, 14}, cv::FONT_HERSHEY_SIMPLEX, 0.4, cv::Scalar(0, 0, 0), 3, cv::LINE_AA);
    cv::putText(tile, text, {3, 14}, cv::FONT_HERSHEY_SIMPLEX, 0.4, cv::Scalar(255, 255, 255), 1, cv::LINE_AA);
    tile.copyTo(sheet(cv::Rect((i % cols) * cell, (i / cols) * cell, cell, cell)));
  }
  write_png(path, sheet);
}

void write_contact_sheet(const datasets::DatasetSpec& spec, const std::string& path, const SheetOptions& o) {
  if (o.count < 1 || o.columns < 1 || o.cell < 16)
    throw core::InputError("contact sheet: count >= 1, columns >= 1 and cell >= 16 needed");
  const datasets::Format& f = spec.info();
  if (f.make_scenes) {
    SceneSheetOptions so;
    so.columns = o.columns;
    so.cell = o.cell;
    so.max_scenes = o.count;
    write_scene_sheet(path, f.make_scenes(spec), so);
  } else if (f.make_faces) {
    const datasets::FaceSynth synth = imageio::make_facesynth(spec);  // JPEG backgrounds too
    const std::int64_t n = std::min(o.count, synth.size());
    write_facesynth_sheet(synth, n, path, static_cast<int>(std::min<std::int64_t>(o.columns, n)));
  } else if (f.load_head_pose) {
    write_head_pose_sheet(f.load_head_pose(spec), path, o);
  } else {
    std::vector<std::string> names;
    for (const auto& row : datasets::formats())
      if (row.make_scenes || row.make_faces || row.load_head_pose) names.push_back(row.name);
    throw core::InputError("dataset spec '" + spec.text + "': no contact sheet for format '" + spec.format + "' (--sheet draws " +
                           core::join_names(names) + ")");
  }
}

}  // namespace pesuite::imageio
