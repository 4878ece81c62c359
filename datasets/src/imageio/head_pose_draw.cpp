// Pose axes, annotated facesynth samples, the contact sheet, and JPEG/PNG background photos.
#include "pesuite/imageio/head_pose_draw.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "pesuite/core/atomic_file.h"
#include "pesuite/core/error.h"
#include "pesuite/imageio/decode.h"

namespace pesuite::imageio {
namespace fs = std::filesystem;

namespace {

constexpr int kShift = 4;  // sub-pixel drawing: coordinates in 1/16 pixel

// 1-based label coordinates -> OpenCV's fixed-point pixel centres (0-based).
cv::Point fixed(double x, double y) {
  return {static_cast<int>(std::lround((x - 1) * (1 << kShift))), static_cast<int>(std::lround((y - 1) * (1 << kShift)))};
}

}  // namespace

void draw_pose_axes(cv::Mat& image, const datasets::EulerAngles& pose, double cx, double cy, double size, bool rgb) {
  const datasets::Matrix3 r = datasets::rotation_from_euler(pose);
  // Column k of R is head axis k in the camera frame (y up); the image's y runs down.
  auto tip = [&](int k, double sign) { return fixed(cx + sign * size * r[0][k], cy - sign * size * r[1][k]); };
  const cv::Scalar red = rgb ? cv::Scalar(255, 0, 0) : cv::Scalar(0, 0, 255);
  const cv::Scalar blue = rgb ? cv::Scalar(0, 0, 255) : cv::Scalar(255, 0, 0);
  const int thick = std::max(1, static_cast<int>(std::lround(size / 40)));
  const cv::Point o = fixed(cx, cy);
  cv::line(image, o, tip(0, 1), red, thick, cv::LINE_AA, kShift);
  cv::line(image, o, tip(1, -1), cv::Scalar(0, 255, 0), thick, cv::LINE_AA, kShift);  // Hopenet draws -y (down the face)
  cv::line(image, o, tip(2, 1), blue, thick, cv::LINE_AA, kShift);
}

cv::Mat annotated_sample(const datasets::FaceSample& s) {
  if (s.image.pixels.empty()) throw core::InputError("annotated_sample: sample " + std::to_string(s.index) + " has no pixels (label only)");
  cv::Mat rgb(s.image.height, s.image.width, CV_8UC3, const_cast<std::uint8_t*>(s.image.pixels.data()));
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  const double side = std::min(s.image.width, s.image.height);
  cv::rectangle(bgr, fixed(s.box.x1, s.box.y1), fixed(s.box.x2, s.box.y2), cv::Scalar(0, 255, 255), 1, cv::LINE_AA, kShift);
  const int radius = std::max(1, static_cast<int>(side / 150)) << kShift;
  for (const auto& p : s.landmarks) cv::circle(bgr, fixed(p[0], p[1]), radius, cv::Scalar(255, 255, 0), -1, cv::LINE_AA, kShift);
  draw_pose_axes(bgr, s.pose, s.view.cx, s.view.cy, 0.3 * side);
  return bgr;
}

void write_facesynth_sheet(const datasets::FaceSynth& synth, std::int64_t count, const std::string& path, int columns) {
  count = std::min(count, synth.size());
  if (count <= 0) throw core::InputError(path + ": no samples to draw");
  const int cols = columns > 0 ? columns : static_cast<int>(std::ceil(std::sqrt(static_cast<double>(count))));
  const int rows = static_cast<int>((count + cols - 1) / cols);
  const int w = synth.options().width, h = synth.options().height;
  cv::Mat sheet(rows * h, cols * w, CV_8UC3, cv::Scalar(32, 32, 32));
  const auto samples = synth.render_range(0, count);
  const double font = std::max(0.25, std::min(w, h) / 448.0);
  for (std::int64_t i = 0; i < count; ++i) {
    cv::Mat tile = annotated_sample(samples[i]);
    char text[64];
    std::snprintf(text, sizeof(text), "%.0f %.0f %.0f", samples[i].pose.yaw, samples[i].pose.pitch, samples[i].pose.roll);
    cv::putText(tile, text, {2, static_cast<int>(14 * font / 0.5) + 2}, cv::FONT_HERSHEY_SIMPLEX, font, cv::Scalar(255, 255, 255), 1, cv::LINE_AA);
    tile.copyTo(sheet(cv::Rect(static_cast<int>(i % cols) * w, static_cast<int>(i / cols) * h, w, h)));
  }
  std::vector<std::uint8_t> png;
  if (!cv::imencode(".png", sheet, png)) throw core::InputError(path + ": cannot encode the contact sheet as PNG");
  core::write_file_atomic(path, std::string(png.begin(), png.end()));
}

std::vector<datasets::RgbImage> load_background_photos(const std::string& dir, std::size_t max_images) {
  if (!fs::is_directory(dir)) throw core::InputError(dir + ": not a directory (backgrounds= takes a folder of photos)");
  std::vector<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    std::string ext = e.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    if (e.is_regular_file() && (ext == ".png" || ext == ".jpg" || ext == ".jpeg")) files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  if (files.size() > max_images) files.resize(max_images);
  std::vector<datasets::RgbImage> out;
  for (const auto& f : files) {
    const cv::Mat m = decode_image(f);  // RGB, core::InputError naming the file
    datasets::RgbImage img(m.cols, m.rows);
    for (int y = 0; y < m.rows; ++y) std::memcpy(img.at(y, 0), m.ptr<std::uint8_t>(y), static_cast<std::size_t>(m.cols) * 3);
    out.push_back(std::move(img));
  }
  return out;
}

datasets::FaceSynth make_facesynth(const datasets::DatasetSpec& spec) {
  datasets::FaceSynthOptions o = datasets::facesynth_options(spec);
  if (spec.has("backgrounds")) {
    auto photos = load_background_photos(spec.get("backgrounds"));
    if (photos.empty()) throw core::InputError(spec.get("backgrounds") + ": no .png / .jpg photos");
    o.photos = std::make_shared<const std::vector<datasets::RgbImage>>(std::move(photos));
  }
  const std::string dir = spec.has("mesh") ? spec.get("mesh") : datasets::default_face_mesh_dir();
  return datasets::FaceSynth(o, std::make_shared<const datasets::FaceMesh>(datasets::load_face_mesh(dir)));
}

}  // namespace pesuite::imageio
