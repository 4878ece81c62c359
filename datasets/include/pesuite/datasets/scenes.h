#pragma once
// The `scenes:` generator: clip-art cut-outs from an object bank (scene_bank.h) composited onto
// procedural or photo backgrounds, with exact labels: per object its class, box, instance mask
// (from alpha), colour word and position word, and per scene captions ("a photo of two bears and
// a red apple."). Torch only (no OpenCV), so scenes are made wherever the bank file is.
//
//   auto spec = pesuite::datasets::parse_spec("scenes:?n=1000&size=64&split=train&holdout=4");
//   pesuite::datasets::ScenesDataset set = pesuite::datasets::generate_scenes(spec);
//   set.images;      // uint8 [N, 64, 64, 3]
//   set.instances;   // uint8 [N, 64, 64]: 0 background, k + 1 where object k is visible
//   set.targets;     // float [N, C] multi-hot over set.classes (multi-label classification)
//   set.objects[i][k].box;  set.captions[i][0];
//
//   pesuite::datasets::SceneGenerator gen(spec);   // streaming: one scene at a time
//   pesuite::datasets::Scene s = gen.render_scene(42);
//   pesuite::datasets::Scene big = gen.render(gen.layout(42), 128);  // the same scene, at 128 px
//
// A scene is defined in resolution-independent units (the image is [0, 1] x [0, 1], y down):
// objects have a position and size in those units and backgrounds are functions of them, so the
// same scene rendered at 128 px shows more detail than at 64 px, and the 128 px render
// area-downsampled to 64 px is close to the 64 px render (tested: mean difference below one grey
// level on smooth backgrounds). Cut-outs are resampled from the bank's pixels by exact area
// (box) integration at sub-pixel positions, in premultiplied alpha; upscaling a cut-out beyond
// its stored size (object_px) gives soft blocks, so raise object_px for renders above ~200 px.
// Photos are resized with LibTorch's bilinear interpolate with antialias; stripes and checkers
// are supersampled 4 x 4. Layouts and captions do not depend on the output size.
//
// Everything is seeded: scene i of (seed, split) has the same layout, labels and captions on every
// machine, and the same pixels, bit for bit, for any thread count on one build and machine (other
// CPUs or LibTorch builds may round a pixel the other way: float sums in other orders).
// Boxes: `box` is the tight box of the visible pixels (the instance mask), in pixels, x2 / y2
// exclusive (x1 = first column, x2 = last column + 1); `full_box` is the whole pasted cut-out,
// including parts hidden under later objects. An object pasted later occludes earlier ones: their
// masks lose those pixels. Placement: each object is drawn a class, an instance, a scale and a
// position (wholly inside the image); it is kept when its full box has IoU <= max_iou with every
// earlier one and no earlier object gets more than max_cover of its box area covered by later
// boxes (summed); after `tries` draws of scale and position it is dropped, and Scene::dropped counts
// it (captions and labels only name placed objects). Position words use the full box's centre.
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pesuite/datasets/image_record.h"
#include "pesuite/datasets/scene_bank.h"
#include "pesuite/datasets/spec.h"

namespace pesuite::datasets {

// The spec keys the renderer reads (the bank builder's are SceneBankOptions).
struct SceneOptions {
  std::int64_t n = 1000;             // scenes
  std::int64_t size = 64;            // output side in pixels (square)
  std::uint64_t seed = 0;
  std::string split = "train";       // train | test | heldout
  std::int64_t min_objects = 1, max_objects = 4;
  double min_scale = 0.25, max_scale = 0.5;  // object's longer side, fraction of the image side
  double max_iou = 0.3;
  double max_cover = 0.5;
  double flip = 0.5;                 // probability of a horizontal flip
  std::int64_t tries = 50;           // placement draws per object before it is dropped
  std::string holdout = "0";         // N classes (chosen with holdout_seed) or a comma list of names
  std::uint64_t holdout_seed = 0;
  std::vector<std::string> backgrounds = {"gradient", "noise", "stripes", "checker", "photo"};
  std::int64_t min_per_class = 8;    // bank classes with fewer PNGs in their folder are not used

  static SceneOptions from_spec(const DatasetSpec& spec);  // core::InputError naming the spec and key
};

// The background of a scene, as numbers (resolution-independent).
struct SceneBackground {
  std::string kind;                  // solid | gradient | noise | stripes | checker | photo
  std::array<float, 3> colour0{}, colour1{};  // RGB in [0, 1]
  double angle = 0;                  // gradient / stripes direction, radians
  double frequency = 0;              // stripes per unit, checker cells per side, noise lattice cells
  double phase = 0;                  // stripes phase, fraction of a period
  std::uint64_t noise_seed = 0;
  std::int64_t photo = -1;           // bank photo index
  double crop_x = 0, crop_y = 0, crop_side = 1;  // photo crop: fractions of the photo's sides
};

struct SceneObject {
  std::int64_t label = 0;            // index into the split's classes (SceneGenerator::classes())
  std::int64_t bank_class = 0;       // class index in the bank
  std::int64_t instance = 0;         // object index in the bank
  double x = 0, y = 0, w = 0, h = 0; // full extent in scene units (top left, size)
  bool flipped = false;
  std::string colour;                // colour word (dominant colour of the cut-out, scene_text.h)
  std::string position;              // position word of the full box's centre
  Box box;                           // visible part, pixels, x2 / y2 exclusive; zeros if none visible
  Box full_box;                      // whole cut-out, pixels (fractional)
  std::int64_t visible_pixels = 0;   // pixels of the instance mask
};

struct SceneLayout {
  std::int64_t index = 0;
  SceneBackground background;
  std::vector<SceneObject> objects;  // in paste order; pixel fields unset
  std::int64_t dropped = 0;          // objects that found no place
  std::vector<std::string> captions; // [0] counting, [1] position, [2] names (counting without colours)
};

struct Scene {
  std::int64_t index = 0;
  torch::Tensor image;               // uint8 [H, W, 3]
  torch::Tensor instances;           // uint8 [H, W]: 0 background, k + 1 = objects[k] visible
  std::vector<SceneObject> objects;
  std::int64_t dropped = 0;
  std::string background;            // its kind
  std::vector<std::string> captions;

  torch::Tensor mask(std::size_t k) const { return instances.eq(static_cast<std::int64_t>(k + 1)); }  // bool [H, W]
};

class SceneGenerator {
 public:
  // Loads the bank at scene_bank_path(spec): InputError when it is missing (with how to build
  // it) or not a bank, when holdout leaves no class on either side, or a key is out of range.
  explicit SceneGenerator(const DatasetSpec& spec);
  SceneGenerator(std::shared_ptr<const SceneBank> bank, SceneOptions options, std::string source = "scenes");

  std::int64_t size() const { return options_.n; }
  const SceneOptions& options() const { return options_; }
  const SceneBank& bank() const { return *bank_; }
  // Class names (caption nouns, singular) of this split, in bank order; labels index these.
  // train and test share one list (the classes not held out); heldout lists the held-out ones.
  const std::vector<std::string>& classes() const { return class_names_; }
  const std::vector<std::int64_t>& class_ids() const { return split_classes_; }   // bank indices
  const std::vector<std::int64_t>& heldout_classes() const { return heldout_; }  // bank indices
  // The colour word of every bank object (computed once, from its pixels).
  const std::vector<std::string>& object_colours() const { return colours_; }

  SceneLayout layout(std::int64_t index) const;
  // Thread-safe (const, no shared state): renders may run in parallel.
  Scene render(const SceneLayout& layout, std::int64_t size) const;
  Scene render_scene(std::int64_t index) const { return render(layout(index), options_.size); }

 private:
  void init();
  std::shared_ptr<const SceneBank> bank_;
  SceneOptions options_;
  std::string source_;
  std::vector<std::int64_t> split_classes_, heldout_;
  std::vector<std::string> class_names_;
  std::vector<std::int64_t> label_of_class_;                 // bank class -> label (-1 outside the split)
  std::vector<std::vector<std::int64_t>> instances_;        // per label, the bank objects of this split
  std::vector<std::string> colours_;
  std::vector<std::string> kinds_;                           // background kinds in use
};

struct ScenesDataset {
  torch::Tensor images;              // uint8 [N, H, W, 3]
  torch::Tensor instances;           // uint8 [N, H, W]
  torch::Tensor targets;             // float [N, C]: 1 where a class has a placed object
  std::vector<std::vector<SceneObject>> objects;
  std::vector<std::vector<std::string>> captions;
  std::vector<std::int64_t> dropped;
  std::vector<std::string> backgrounds;  // kind per scene
  std::vector<std::string> classes;      // this split's class names; labels index these
  std::vector<std::string> class_folders;  // the bank class id of each
  std::vector<std::string> heldout;      // names of the held-out classes
  std::string split;
  std::string source;                    // the spec text
};

// All n scenes in memory, rendered in parallel (threads: 0 = all cores, TBB). Bitwise the same
// for any thread count. With more than one thread, keep torch's intra-op threads at 1
// (torch::set_num_threads(1)): each render is small, and nested OpenMP teams oversubscribe.
ScenesDataset generate_scenes(const DatasetSpec& spec, int threads = 0);
ScenesDataset generate_scenes(const SceneGenerator& generator, const std::string& source, int threads = 0);

// Image-level multi-hot targets of a set of object lists over `num_classes` labels: float [N, C].
torch::Tensor multi_hot(const std::vector<std::vector<SceneObject>>& objects, std::int64_t num_classes);


// `data inspect` summary: scenes, size, split, classes (with object counts), held-out classes,
// objects per scene, dropped objects, background kinds; with items, every scene's objects and
// captions.
nlohmann::json inspect_scenes(const ScenesDataset& set, bool items);

}  // namespace pesuite::datasets
