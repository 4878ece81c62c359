#pragma once
// The one record type of every file-based image dataset (ImageFolder, Pascal VOC, COCO): which
// file, how big, which class(es) and which boxes. Parsing annotations needs no OpenCV and no torch;
// decoding the files is pesuite::imageio's job (pesuite/imageio/decode.h).
//
//   auto set = pesuite::datasets::load_image_dataset(pesuite::datasets::parse_spec("voc:/data/VOC2012?split=val"));  // formats.h
//   for (const auto& r : set.records)
//     for (const auto& b : r.boxes) std::cout << r.file << " " << set.classes[b.label] << " " << b.x1 << "\n";
//
// Box coordinates are pixels as the annotation gives them (VOC: 1-based corners, as the devkit
// writes them; COCO: x, y, x + w, y + h), so that a record round-trips to its source format.
#include <cstdint>
#include <string>
#include <vector>

#include "pesuite/datasets/spec.h"

namespace pesuite::datasets {

struct Box {
  double x1 = 0, y1 = 0, x2 = 0, y2 = 0;
  std::int64_t label = 0;  // index into ImageDataset::classes
  bool difficult = false;  // VOC <difficult>1: excluded from VOC mAP
  bool truncated = false;  // VOC <truncated>
  bool crowd = false;      // COCO iscrowd: a region of many instances, ignored by COCO AP
};

struct ImageRecord {
  std::string file;                  // absolute or spec-relative path of the image
  std::int64_t width = 0;            // from the annotation; 0 = unknown until decoded
  std::int64_t height = 0;
  std::int64_t label = -1;           // classification label (ImageFolder); -1 for detection sets
  std::vector<Box> boxes;            // detection objects (VOC, COCO); empty for classification
  std::string id;                    // VOC image id, COCO image id, or the file stem
};

struct ImageDataset {
  std::vector<ImageRecord> records;
  std::vector<std::string> classes;  // class index -> name
  std::string source;                // the spec text
  bool detection = false;            // boxes (VOC, COCO) rather than one label per image
};

// One loader per format; load_image_dataset (formats.h) picks by the spec.
ImageDataset load_imagefolder(const DatasetSpec& spec);  // imagefolder.cpp
ImageDataset load_voc(const DatasetSpec& spec);          // voc.cpp
ImageDataset load_coco(const DatasetSpec& spec);         // coco.cpp

}  // namespace pesuite::datasets
