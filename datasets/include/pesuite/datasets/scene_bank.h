#pragma once
// The object bank of the `scenes:` generator: clip-art cut-outs (RGBA), their classes, caption
// nouns and train / test split, and optional background photos, in one safetensors file. The bank
// is made once where Debian's openclipart-png is (build_scene_bank below: libpng and our own area
// resize, no OpenCV; the first `scenes:` spec builds it into the cache); scenes are then rendered
// from it with torch alone, anywhere the file is (`scenes:?bank=FILE` where the clip-art is not).
//
//   std::string path = pesuite::datasets::ensure_scene_bank(pesuite::datasets::parse_spec("scenes:?n=8"));
//   auto bank = pesuite::datasets::load_scene_bank(path);  // InputError if not a bank
//   bank.objects[7];                                    // uint8 [h, w, 4], straight alpha
//   bank.classes[bank.object_class[7]];                 // "animals/mammals/bears"
//   pesuite::datasets::save_scene_bank("copy.safetensors", bank);
//
// File layout (safetensors; Python reads it with numpy): tensors
//   object_pixels  U8  [P]     every object's h*w*4 RGBA bytes, row-major, concatenated
//   object_offset  I64 [M]     first byte of object m in object_pixels
//   object_shape   I64 [M, 2]  (h, w) of object m
//   object_class   I64 [M]     class index of object m
//   object_test    U8  [M]     1 = test instance, 0 = training instance
//   class_images   I64 [C]     PNGs in the class folder before the per-class cap
//   photo_pixels   U8  [Q], photo_offset I64 [B], photo_shape I64 [B, 2]   RGB photos (B may be 0)
// and metadata: format = "pesuite-scene-bank", version, classes / singular / plural /
// object_files / photo_files (JSON arrays of strings), and the builder's settings.
// Alpha is straight (not premultiplied), as in the PNGs: uint8 premultiplied colour would lose
// the colour of faint pixels; the renderer premultiplies in float before resampling.
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "pesuite/datasets/spec.h"

namespace pesuite::datasets {

struct SceneBank {
  std::vector<std::string> classes;         // class id: the folder under the clip-art root
  std::vector<std::string> singular;        // caption noun per class ("bear")
  std::vector<std::string> plural;          // ("bears")
  std::vector<std::int64_t> class_images;   // PNGs found in the class folder (before the cap)
  std::vector<torch::Tensor> objects;       // uint8 [h, w, 4] RGBA, straight alpha
  std::vector<std::int64_t> object_class;   // class index per object
  std::vector<std::uint8_t> object_test;    // 1 = test instance
  std::vector<std::string> object_files;    // source file per object (under the root)
  std::vector<torch::Tensor> photos;        // uint8 [h, w, 3] background photos
  std::vector<std::string> photo_files;
  std::map<std::string, std::string> info;  // where it came from: source, builder, settings

  std::int64_t num_classes() const { return static_cast<std::int64_t>(classes.size()); }
  std::int64_t num_objects() const { return static_cast<std::int64_t>(objects.size()); }
};

// Atomic write. InputError when the bank is inconsistent (sizes of the lists, shapes, indices).
void save_scene_bank(const std::string& path, const SceneBank& bank);
// InputError naming the file and what is wrong: not a safetensors file, not a bank (the missing
// tensor or metadata key), wrong dtype / shape, offsets outside the pixel buffer, bad class index.
SceneBank load_scene_bank(const std::string& path);
// The same checks on a bank in memory (`source` names it in messages).
void check_scene_bank(const SceneBank& bank, const std::string& source);

// How a bank is made from openclipart-png (the spec keys of the `scenes:` format that only the
// bank builder reads; see scenes.h for all keys).
struct SceneBankOptions {
  std::string clipart = "/usr/share/openclipart/png";
  std::vector<std::string> categories;  // folder globs (fnmatch) relative to clipart; default_categories()
  std::int64_t min_per_class = 8;       // a folder is a class when it holds at least this many PNGs
  std::int64_t per_class = 24;          // at most this many cut-outs per class in the bank
  std::int64_t object_px = 96;          // longest side of a stored cut-out
  double test_fraction = 0.25;          // share of each class's drawings kept for test scenes
  std::string photos = "auto";          // background photos: auto | none | a folder
  std::uint64_t split_seed = 0;         // which drawings are picked and which are test ones

  static std::vector<std::string> default_categories();
  static SceneBankOptions from_spec(const DatasetSpec& spec);
  // What a bank records of how it was made (its metadata "settings"): categories, min_per_class,
  // per_class, object_px, test_fraction, photos (the folder read, "" for none), bank_seed.
  nlohmann::json settings() const;
  // The photo folder to read: "" for none; for auto, /usr/share/mypaint/backgrounds (Debian's
  // mypaint-data-extras: paper, canvas and cork photos) when it is there.
  std::string photo_dir() const;
};

// What the builder will decode: the classes, for each the chosen files and their split, and the
// photos. Pure listing (no decoding), so it lives here and is tested without OpenCV.
struct ClipartClass {
  std::string id;                       // folder under the root
  std::int64_t images = 0;              // PNGs in the folder
  std::vector<std::string> files;       // chosen, relative to the root
  std::vector<std::uint8_t> test;       // per chosen file
};
struct ClipartListing {
  std::vector<ClipartClass> classes;
  std::vector<std::string> photos;      // absolute paths
  std::string key;                      // hash of every PNG's path and size, the options, the builder version
};

// Classes are the folders matching a category glob that hold at least min_per_class PNGs
// directly (each image belongs to the folder it sits in; a folder's subfolders are classes of
// their own). Variants of one drawing (names that differ only in a trailing number or a _bw / _bn
// suffix, e.g. apple_01.png / apple_02.png / apple_bw.png) form a group: at most two of a group are
// kept, and a group is wholly train or wholly test, so test scenes show drawings never seen in
// training. Groups are shuffled with split_seed; the first ones fill the class up to per_class,
// the first round(test_fraction * chosen) files' groups become test ones (at least one group
// each side). Folders with a single group are not classes. InputError when the root is missing
// (naming Debian's openclipart-png) or no folder qualifies.
ClipartListing list_clipart(const SceneBankOptions& options);

// "<cache>/scenes/bank-<key>.safetensors" with <cache> = $PESUITE_CACHE, else
// $XDG_CACHE_HOME/pesuite, else ~/.cache/pesuite.
std::string default_scene_bank_path(const ClipartListing& listing);
// Where a spec's bank is: its bank= key when given; else, on a machine without the clip-art folder,
// the one bank in <cache>/scenes built with the spec's settings (photos=auto matches any photos:
// carry the cache folder to a GPU node and set PESUITE_CACHE); else default_scene_bank_path of
// the listing (InputError naming openclipart-png when the folder is missing).
std::string scene_bank_path(const DatasetSpec& spec);
// The banks in <cache>/scenes whose settings are `options`' (read from their headers only).
std::vector<std::string> cached_scene_banks(const SceneBankOptions& options);

// Building (scene_bank_build.cpp): decodes the chosen cut-outs (libpng, as OpenCV's imdecode
// IMREAD_UNCHANGED would), crops each to its visible pixels, shrinks it so its longer side is at
// most object_px (area filter on premultiplied alpha, as cv::resize INTER_AREA, stored straight),
// adds the background photos (PNG; at most 2:1, shorter side at most 256 px). The bytes are those
// of the OpenCV builder this replaced (test_scenes_imageio.cpp compares them where OpenCV is).
// A PNG that does not decode, is over 24 megapixels (openclipart has one of 10561 x 16000), has no
// transparent pixel (a picture, not a cut-out) or no visible one, is left out and listed in
// info["skipped"] (JSON array of reasons). InputError when openclipart is missing (naming Debian's
// openclipart-png) or a photo does not decode. threads: 0 = all cores (TBB); the result does not
// depend on the thread count.
SceneBank build_scene_bank(const SceneBankOptions& options, int threads = 0);
// The bank a `scenes:` spec uses (scene_bank_path: bank= or the cache path), built and written
// there (atomically) when it is not there yet. Returns its path. progress: one line on stderr
// while building, when stderr is a terminal. InputError naming openclipart-png when the bank must
// be built and the clip-art is not installed.
std::string ensure_scene_bank(const DatasetSpec& spec, int threads = 0, bool progress = false);

// Bump when the builder's output changes for the same input, so cached banks are rebuilt.
constexpr const char* kSceneBankBuilderVersion = "scene-bank-1";

}  // namespace pesuite::datasets
