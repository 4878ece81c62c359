#include "pesuite/datasets/inspect.h"
#include "pesuite/heads/error.h"

namespace pesuite::datasets {

// Placeholder: replaced when the image loaders land.
nlohmann::json inspect_image_dataset(const DatasetSpec& spec, const InspectOptions&) {
  throw InputError("dataset spec '" + spec.text + "': the '" + spec.format + "' loader is not built yet");
}

}  // namespace pesuite::datasets
