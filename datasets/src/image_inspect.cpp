#include <map>

#include "pesuite/datasets/formats.h"
#include "pesuite/datasets/inspect.h"
#include "pesuite/core/error.h"

namespace pesuite::datasets {

static nlohmann::json inspect_classification(const ImageClassificationSet& set, const InspectOptions& options) {
  nlohmann::json j;
  j["images"] = set.images.size(0);
  j["image_size"] = std::vector<int64_t>(set.images.sizes().begin() + 1, set.images.sizes().end());
  j["classes"] = set.classes.size();
  nlohmann::json per_class = nlohmann::json::object();
  const bool multi_label = set.labels.dim() == 2;  // multi-hot [N, K]: an image counts for every class it shows
  auto counts = multi_label ? (set.labels > 0).sum(0).to(torch::kInt64)
                            : torch::bincount(set.labels, {}, static_cast<int64_t>(set.classes.size()));
  for (std::size_t c = 0; c < set.classes.size(); ++c) per_class[set.classes[c]] = counts[c].item<int64_t>();
  j["images_per_class"] = per_class;
  if (multi_label) j["multi_label"] = true;
  if (options.items && !multi_label) {
    nlohmann::json items = nlohmann::json::array();
    auto labels = set.labels.accessor<int64_t, 1>();
    for (int64_t i = 0; i < set.images.size(0); ++i) items.push_back({{"index", i}, {"label", labels[i]}});
    j["items"] = items;
  }
  return j;
}

nlohmann::json inspect_image_dataset(const DatasetSpec& spec, const InspectOptions& options) {
  const Format& f = spec.info();
  if (f.load_images) return inspect_classification(f.load_images(spec), options);
  return inspect_records(load_image_dataset(spec), options);
}

}  // namespace pesuite::datasets
