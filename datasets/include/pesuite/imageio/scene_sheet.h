#pragma once
// Contact sheet of `scenes:` (pesuite::imageio, OpenCV): a grid of scenes, each enlarged to a
// cell (nearest neighbour, so pixels stay honest), with every object's visible box and class name
// drawn, written as a PNG (atomically). For `pesuite data inspect scenes:?... --sheet out.png`.
//
//   auto set = pesuite::datasets::generate_scenes(pesuite::datasets::parse_spec("scenes:?n=32"));
//   pesuite::imageio::write_scene_sheet("sheet.png", set, {});
#include <opencv2/core.hpp>

#include <cstdint>
#include <string>

#include "pesuite/datasets/scenes.h"

namespace pesuite::imageio {

struct SceneSheetOptions {
  int columns = 8;
  int cell = 192;                // cell side in pixels (scenes are scaled to it)
  std::int64_t max_scenes = 64;  // the first this many scenes
  bool captions = true;          // the counting caption under each cell
};

// RGB uint8 sheet. InputError when the set holds no scene or the options are out of range.
cv::Mat scene_sheet(const datasets::ScenesDataset& set, const SceneSheetOptions& options);
// PNG written through a temporary file and a rename; InputError naming the path when it cannot be.
void write_scene_sheet(const std::string& path, const datasets::ScenesDataset& set, const SceneSheetOptions& options);

}  // namespace pesuite::imageio
