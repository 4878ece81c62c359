// The summary `pesuite data inspect` prints for a set of image records.
#include <algorithm>
#include <map>

#include "pesuite/datasets/image_record.h"
#include "pesuite/datasets/inspect.h"
#include "pesuite/core/error.h"

namespace pesuite::datasets {

nlohmann::json inspect_records(const ImageDataset& set, const InspectOptions& options) {
  nlohmann::json j;
  j["images"] = set.records.size();
  j["classes"] = set.classes.size();
  std::vector<std::int64_t> per_class(set.classes.size(), 0);
  std::int64_t objects = 0, difficult = 0, crowd = 0, unknown_size = 0;
  std::map<std::pair<std::int64_t, std::int64_t>, std::int64_t> sizes;
  for (const auto& r : set.records) {
    if (r.width > 0 && r.height > 0) ++sizes[{r.width, r.height}];
    else ++unknown_size;
    if (!set.detection && r.label >= 0 && r.label < static_cast<std::int64_t>(per_class.size())) ++per_class[r.label];
    for (const auto& b : r.boxes) {
      ++objects;
      difficult += b.difficult;
      crowd += b.crowd;
      if (b.label >= 0 && b.label < static_cast<std::int64_t>(per_class.size())) ++per_class[b.label];
    }
  }
  nlohmann::json counts = nlohmann::json::object();
  for (std::size_t c = 0; c < set.classes.size(); ++c) counts[set.classes[c]] = per_class[c];
  if (set.detection) {
    j["objects"] = objects;
    j["difficult"] = difficult;
    j["crowd"] = crowd;
    j["objects_per_class"] = counts;
  } else {
    j["images_per_class"] = counts;
  }
  // The most common sizes first (a detection set has many; a resized classification set has one).
  std::vector<std::pair<std::int64_t, std::pair<std::int64_t, std::int64_t>>> by_count;
  for (const auto& [wh, n] : sizes) by_count.push_back({-n, wh});
  std::sort(by_count.begin(), by_count.end());
  nlohmann::json size_json = nlohmann::json::object();
  if (!sizes.empty()) {
    std::int64_t wmin = INT64_MAX, wmax = 0, hmin = INT64_MAX, hmax = 0;
    for (const auto& [wh, n] : sizes) {
      wmin = std::min(wmin, wh.first), wmax = std::max(wmax, wh.first);
      hmin = std::min(hmin, wh.second), hmax = std::max(hmax, wh.second);
    }
    size_json["distinct"] = sizes.size();
    size_json["width"] = {wmin, wmax};
    size_json["height"] = {hmin, hmax};
    nlohmann::json common = nlohmann::json::object();
    for (std::size_t i = 0; i < by_count.size() && i < 10; ++i)
      common[std::to_string(by_count[i].second.first) + "x" + std::to_string(by_count[i].second.second)] = -by_count[i].first;
    size_json["most_common"] = common;
  }
  if (unknown_size) size_json["unknown"] = unknown_size;
  j["image_sizes"] = size_json;
  if (options.items) {
    nlohmann::json items = nlohmann::json::array();
    for (const auto& r : set.records) {
      nlohmann::json it = {{"file", r.file}, {"width", r.width}, {"height", r.height}};
      if (set.detection) {
        nlohmann::json boxes = nlohmann::json::array();
        for (const auto& b : r.boxes) boxes.push_back({b.x1, b.y1, b.x2, b.y2, b.label});
        it["boxes"] = boxes;
      } else {
        it["label"] = r.label;
      }
      items.push_back(std::move(it));
    }
    j["items"] = items;
  }
  return j;
}

}  // namespace pesuite::datasets
