#pragma once
// `pesuite data inspect` for image datasets with every file decoded (pesuite::imageio): sizes are
// the decoded ones, and a missing or corrupt image is an InputError naming it, or, with
// options.skip_bad, a counted warning ("bad_images", "warnings") and the image left out.
//
//   auto spec = pesuite::datasets::parse_spec("voc:/data/VOC2012?split=val");
//   nlohmann::json summary = pesuite::imageio::inspect_images(spec, {/*items=*/false, /*skip_bad=*/true});
#include "pesuite/datasets/inspect.h"

namespace pesuite::imageio {

// Any image format; idx/cifar (pixels already in memory) are summarised as pesuite::datasets does.
nlohmann::json inspect_images(const datasets::DatasetSpec& spec, const datasets::InspectOptions& options);

}  // namespace pesuite::imageio
