#pragma once
// `pesuite data inspect <spec> --sheet out.png` (pesuite::imageio, OpenCV): a contact sheet of the
// first scenes / faces of any dataset whose row draws one, chosen by the row's loader kind:
//   make_scenes     (scenes:)                    scenes with every object's box and class (scene_sheet.h)
//   make_faces      (facesynth:)                 rendered faces with pose axes, landmarks, box (head_pose_draw.h)
//   load_head_pose  (300wlp:, aflw2000:, biwi:)  each image cropped to its record's loose box, pose
//                                                axes at the landmark box's centre, "yaw pitch roll"
//
//   pesuite::imageio::write_contact_sheet(pesuite::datasets::parse_spec("scenes:?n=16"), "sheet.png", {});
#include <cstdint>
#include <string>

#include "pesuite/datasets/head_pose.h"
#include "pesuite/datasets/spec.h"

namespace pesuite::imageio {

struct SheetOptions {
  std::int64_t count = 64;  // at most this many tiles (the first ones)
  int columns = 8;
  int cell = 192;           // tile side in pixels (facesynth: its own image size)
};

// InputError when the spec's format draws no sheet (naming the ones that do), when there is
// nothing to draw, or the file cannot be written.
void write_contact_sheet(const datasets::DatasetSpec& spec, const std::string& path, const SheetOptions& options);

// The head-pose sheet of records on disk: columns x rows tiles of cell x cell pixels (no gap).
void write_head_pose_sheet(const datasets::HeadPoseDataset& set, const std::string& path, const SheetOptions& options);

}  // namespace pesuite::imageio
