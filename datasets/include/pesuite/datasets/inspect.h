#pragma once
// `pesuite data inspect <spec>`: a summary of any dataset as JSON (graphs: graphs, nodes, edges,
// label distribution, isolated nodes, components; images: images, objects, classes, sizes), and the
// same as human-readable text.
//
//   auto summary = pesuite::datasets::inspect(pesuite::datasets::parse_spec("csl:?seed=0"), {});
//   std::cout << pesuite::datasets::inspect_text(summary);
#include <nlohmann/json.hpp>

#include "pesuite/datasets/spec.h"

namespace pesuite::datasets {

struct InspectOptions {
  bool items = false;     // one record per image / graph
  bool skip_bad = false;  // count unreadable images as warnings instead of failing
};

nlohmann::json inspect(const DatasetSpec& spec, const InspectOptions& options);
std::string inspect_text(const nlohmann::json& summary);

// Per-kind implementations (datasets/src/graph_inspect.cpp, image_inspect.cpp).
nlohmann::json inspect_graph_dataset(const DatasetSpec& spec, const InspectOptions& options);
// Images without OpenCV: IDX / CIFAR in full; imagefolder / voc / coco from their annotations only
// (sizes as annotated, files not opened). pesuite::imageio's inspect_images decodes every file.
nlohmann::json inspect_image_dataset(const DatasetSpec& spec, const InspectOptions& options);

struct ImageDataset;
// The summary of a set of image records (image_dataset.cpp): counts, objects per class, sizes, items.
nlohmann::json inspect_records(const ImageDataset& set, const InspectOptions& options);

}  // namespace pesuite::datasets
