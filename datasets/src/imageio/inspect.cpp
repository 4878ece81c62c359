#include "pesuite/imageio/inspect.h"

#include <tbb/parallel_for.h>

#include "pesuite/core/error.h"
#include "pesuite/datasets/formats.h"
#include "pesuite/imageio/decode.h"

namespace pesuite::imageio {

nlohmann::json inspect_images(const datasets::DatasetSpec& spec, const datasets::InspectOptions& options) {
  if (!spec.info().load_records) return datasets::inspect(spec, options);
  datasets::ImageDataset set = datasets::load_image_dataset(spec);
  const std::size_t n = set.records.size();
  std::vector<std::string> errors(n);
  std::vector<cv::Size> sizes(n);
  tbb::parallel_for(std::size_t(0), n, [&](std::size_t i) {
    try {
      const cv::Mat img = decode_image(set.records[i].file);
      sizes[i] = img.size();
    } catch (const core::InputError& e) {
      errors[i] = e.what();
    }
  });
  // Reported in record order, whatever order the threads finished in.
  nlohmann::json warnings = nlohmann::json::array();
  std::int64_t mismatched = 0;
  std::vector<datasets::ImageRecord> good;
  for (std::size_t i = 0; i < n; ++i) {
    if (!errors[i].empty()) {
      if (!options.skip_bad) throw core::InputError(errors[i]);
      warnings.push_back(errors[i]);
      continue;
    }
    auto& r = set.records[i];
    // Annotated sizes are sometimes wrong (0, or swapped); the decoded size is what boxes live in.
    if ((r.width > 0 || r.height > 0) && (r.width != sizes[i].width || r.height != sizes[i].height)) ++mismatched;
    r.width = sizes[i].width;
    r.height = sizes[i].height;
    good.push_back(std::move(r));
  }
  set.records = std::move(good);
  nlohmann::json j = datasets::inspect_records(set, options);
  j["decoded"] = true;
  if (mismatched) j["size_mismatch"] = mismatched;
  if (options.skip_bad) {
    j["bad_images"] = warnings.size();
    if (!warnings.empty()) j["warnings"] = warnings;
  }
  return j;
}

}  // namespace pesuite::imageio
