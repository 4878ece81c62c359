#pragma once
// The format registry: one row per dataset format pesuite reads or generates, and every dispatch
// by format reads its row: the keys a spec may set (with defaults, types and help), whether it
// takes a path, and its loader(s). A format exists here only with a loader:
//   load_graphs   graph datasets (tu:, ogb:, linqs:, edgelist:, and the generators csl:, grid:, ...)
//   load_records  image files with their annotations (imagefolder:, voc:, coco:): decoded later by
//                 pesuite::imageio, streamed during training
//   load_images   pixels decoded into memory at once (idx:, cifar10:, cifar100:; scenes: as multi-label)
//   load_head_pose  face images on disk with yaw / pitch / roll, landmarks, boxes (300wlp:, aflw2000:, biwi:)
//   make_faces    the face renderer of exactly labelled head poses (facesynth:)
//   make_scenes   composited scenes with boxes, masks and captions (scenes:)
// `pesuite list datasets` prints the table; `pesuite data inspect` summarises any spec by its
// row's loader kind (inspect.h).
//
//   for (const auto& f : pesuite::datasets::formats()) std::cout << f.name << "  " << f.help << "\n";
//   const auto& row = pesuite::datasets::format("voc");
//   auto set = row.load_records(pesuite::datasets::parse_spec("voc:/data/VOC2012?split=val"));
//
// Adding a format: its loader in its own file of datasets/src/ and its row in formats.cpp
// (docs/EXTENDING.md).
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pesuite/core/params.h"
#include "pesuite/datasets/facesynth.h"
#include "pesuite/datasets/graph_dataset.h"
#include "pesuite/datasets/head_pose.h"
#include "pesuite/datasets/idx.h"
#include "pesuite/datasets/image_record.h"
#include "pesuite/datasets/inspect.h"
#include "pesuite/datasets/scenes.h"
#include "pesuite/datasets/spec.h"

namespace pesuite::datasets {

enum class DatasetKind { Graph, Image };

struct Format {
  std::string name;
  std::string help;
  bool needs_path = true;  // generators (csl:, grid:, ...) take none
  std::vector<core::ParamInfo> keys;
  std::function<GraphDataset(const DatasetSpec&)> load_graphs;
  std::function<ImageDataset(const DatasetSpec&)> load_records;
  std::function<ImageClassificationSet(const DatasetSpec&)> load_images;
  std::function<HeadPoseDataset(const DatasetSpec&)> load_head_pose;
  std::function<FaceSynth(const DatasetSpec&)> make_faces;
  std::function<ScenesDataset(const DatasetSpec&)> make_scenes;
  // What this machine lacks to load a spec (a sentence; "" when nothing), for formats whose data is
  // not simply the spec's path (scenes: needs its object bank or the clip-art to build it). Tables
  // report such rows as missing data instead of failing. Empty: only the path is checked.
  std::function<std::string(const DatasetSpec&)> missing;
  // Its own `data inspect` summary, where the loader kind's default says too little (empty: the default).
  std::function<nlohmann::json(const DatasetSpec&, const InspectOptions&)> inspect;

  DatasetKind kind() const { return load_graphs ? DatasetKind::Graph : DatasetKind::Image; }
  const char* kind_name() const {
    return load_graphs ? "graphs" : make_scenes ? "scenes" : make_faces ? "rendered faces" : load_head_pose ? "head-pose images"
                      : load_records ? "image files" : "images";
  }
};

// The table (formats.cpp), in `pesuite list datasets` order.
const std::vector<Format>& formats();
const Format& format(const std::string& name);  // InputError listing the valid names

// Through the spec's row; InputError naming the spec when its format has no loader of that kind.
GraphDataset load_graph_dataset(const DatasetSpec& spec);
ImageDataset load_image_dataset(const DatasetSpec& spec);
ImageClassificationSet load_image_tensors(const DatasetSpec& spec);
HeadPoseDataset load_head_pose_dataset(const DatasetSpec& spec);

}  // namespace pesuite::datasets
