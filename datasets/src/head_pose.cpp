// Head-pose records: Hopenet's loose crop, landmark boxes and mirroring, the format rows, dispatch
// by format and the `pesuite data inspect` summary.
#include "pesuite/datasets/head_pose.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "pesuite/datasets/facesynth.h"
#include "pesuite/datasets/formats.h"
#include "pesuite/core/error.h"

namespace pesuite::datasets {

FaceBox loose_box(const FaceBox& t, const LooseCrop& c) {
  // Sequential, as deep-head-pose: x_max grows by a fraction of the width already widened on the left.
  FaceBox b = t;
  b.x1 -= c.left * c.k * std::abs(b.x2 - b.x1);
  b.y1 -= c.top * c.k * std::abs(b.y2 - b.y1);
  b.x2 += c.right * c.k * std::abs(b.x2 - b.x1);
  b.y2 += c.bottom * c.k * std::abs(b.y2 - b.y1);
  return b;
}

std::array<std::int64_t, 4> crop_rect(const FaceBox& b) {
  // Python's int() truncates towards zero (so -3.7 -> -3), unlike floor.
  auto trunc = [](double v) { return static_cast<std::int64_t>(std::trunc(v)); };
  return {trunc(b.x1), trunc(b.y1), trunc(b.x2), trunc(b.y2)};
}

bool landmark_missing(const Point2& p) { return p[0] == -1.0 || p[1] == -1.0; }

FaceBox landmark_box(const std::vector<Point2>& points, bool keep_missing) {
  double x1 = std::numeric_limits<double>::infinity(), y1 = x1, x2 = -x1, y2 = -x1;
  bool any = false;
  for (const auto& p : points) {
    if (!keep_missing && landmark_missing(p)) continue;
    x1 = std::min(x1, p[0]), y1 = std::min(y1, p[1]);
    x2 = std::max(x2, p[0]), y2 = std::max(y2, p[1]);
    any = true;
  }
  if (!any) return {};
  return {x1, y1, x2, y2};
}

const std::array<int, 68>& mirror_permutation_68() {
  static const std::array<int, 68> perm = [] {
    std::array<int, 68> p{};
    for (int i = 0; i < 68; ++i) p[i] = i;
    auto reverse = [&](int lo, int hi) {  // lo..hi inclusive map onto each other end to end
      for (int i = lo; i <= hi; ++i) p[i] = hi - (i - lo);
    };
    auto swap_ranges = [&](int a_lo, int a_hi, int b_hi) {  // a_lo..a_hi <-> b_hi..(b_hi - len + 1)
      for (int i = a_lo; i <= a_hi; ++i) {
        const int j = b_hi - (i - a_lo);
        p[i] = j;
        p[j] = i;
      }
    };
    reverse(0, 16);            // jaw
    swap_ranges(17, 21, 26);   // brows: 17..21 <-> 26..22
    reverse(31, 35);           // nose base (27..30, the bridge, stays)
    swap_ranges(36, 39, 45);   // eyes, upper lid and corners: 36..39 <-> 45..42
    swap_ranges(40, 41, 47);   // lower lid: 40, 41 <-> 47, 46
    reverse(48, 54);           // outer lip, upper
    reverse(55, 59);           // outer lip, lower
    reverse(60, 64);           // inner lip, upper
    reverse(65, 67);           // inner lip, lower
    return p;
  }();
  return perm;
}

std::vector<Point2> mirror_landmarks(const std::vector<Point2>& points, double image_width) {
  std::vector<Point2> out(points.size());
  const bool reorder = points.size() == 68;
  for (std::size_t i = 0; i < points.size(); ++i) {
    const Point2& p = points[reorder ? mirror_permutation_68()[i] : i];
    out[i] = landmark_missing(p) ? p : Point2{image_width + 1 - p[0], p[1]};
  }
  return out;
}

FaceBox mirror_box(const FaceBox& b, double image_width) {
  return {image_width + 1 - b.x2, b.y1, image_width + 1 - b.x1, b.y2};
}

HeadPoseRecord flip_record(const HeadPoseRecord& r, double image_width) {
  HeadPoseRecord f = r;
  f.pose = flip_angles(r.pose);
  // Pose_Para keeps the file's meaning (pitch, yaw, roll in radians): the angles follow the flip.
  if (f.pose_para.size() >= 3) f.pose_para[1] = -f.pose_para[1], f.pose_para[2] = -f.pose_para[2];
  f.landmarks = mirror_landmarks(r.landmarks, image_width);
  if (r.landmarks_3d.size() == 68)
    for (int k = 0; k < 68; ++k) {
      const auto& p = r.landmarks_3d[mirror_permutation_68()[k]];
      f.landmarks_3d[k] = {image_width + 1 - p[0], p[1], p[2]};
    }
  f.landmark_box = mirror_box(r.landmark_box, image_width);
  f.box = mirror_box(r.box, image_width);
  f.mirrored = !r.mirrored;
  return f;
}

namespace {

nlohmann::json box_json(const FaceBox& b) { return {b.x1, b.y1, b.x2, b.y2}; }

nlohmann::json angle_range(const std::vector<double>& v) {
  if (v.empty()) return nullptr;
  double lo = v[0], hi = v[0], sum = 0;
  for (double x : v) lo = std::min(lo, x), hi = std::max(hi, x), sum += x;
  return {{"min", lo}, {"max", hi}, {"mean", sum / static_cast<double>(v.size())}};
}

}  // namespace

nlohmann::json inspect_head_pose(const HeadPoseDataset& set, const InspectOptions& options) {
  nlohmann::json j;
  j["images"] = set.records.size();
  j["euler"] = "degrees; R = Rx(-pitch) Ry(-yaw) Rz(-roll), y-up face, image y down (300W-LP Pose_Para)";
  j["filter_degrees"] = set.filter_degrees;
  j["dropped"] = set.dropped.size();
  if (!set.dropped.empty()) {
    nlohmann::json d = nlohmann::json::array();
    for (const auto& r : set.dropped)
      d.push_back({{"id", r.id}, {"yaw", r.pose.yaw}, {"pitch", r.pose.pitch}, {"roll", r.pose.roll}});
    j["dropped_items"] = d;
  }
  std::vector<double> yaw, pitch, roll;
  std::int64_t mirrored = 0;
  std::map<std::size_t, std::int64_t> points;
  for (const auto& r : set.records) {
    yaw.push_back(r.pose.yaw), pitch.push_back(r.pose.pitch), roll.push_back(r.pose.roll);
    mirrored += r.mirrored;
    ++points[r.landmarks.size()];
  }
  j["yaw"] = angle_range(yaw);
  j["pitch"] = angle_range(pitch);
  j["roll"] = angle_range(roll);
  if (set.format == "300wlp") j["mirrored"] = mirrored;
  nlohmann::json lm = nlohmann::json::object();
  for (const auto& [n, count] : points) lm[std::to_string(n)] = count;
  j["landmarks_per_image"] = lm;
  if (options.items) {
    nlohmann::json items = nlohmann::json::array();
    for (const auto& r : set.records)
      items.push_back({{"file", r.file}, {"yaw", r.pose.yaw}, {"pitch", r.pose.pitch}, {"roll", r.pose.roll},
                       {"box", box_json(r.box)}});
    j["items"] = items;
  }
  return j;
}

nlohmann::json inspect_head_pose(const DatasetSpec& spec, const InspectOptions& options) {
  if (spec.format == "facesynth") return inspect_facesynth(spec, options);
  nlohmann::json j = inspect_head_pose(load_head_pose_dataset(spec), options);
  return j;
}

}  // namespace pesuite::datasets
