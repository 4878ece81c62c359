#pragma once
// Building the `scenes:` object bank (pesuite::imageio, OpenCV): decodes the chosen
// openclipart-png cut-outs once, crops each to its visible pixels, shrinks it so its longer side
// is at most object_px (area filter on premultiplied alpha, stored straight), adds the background
// photos (shorter side at most 256 px), and writes one safetensors file (layout in
// pesuite/datasets/scene_bank.h) that the torch-only renderer reads anywhere.
//
//   auto spec = pesuite::datasets::parse_spec("scenes:?n=100&size=64");
//   std::string path = pesuite::imageio::ensure_scene_bank(spec);   // built once, then cached
//   auto set = pesuite::datasets::generate_scenes(spec);             // finds the same bank
//
//   pesuite::datasets::SceneBankOptions o;  o.per_class = 16;
//   pesuite::datasets::SceneBank bank = pesuite::imageio::build_scene_bank(o);
//   pesuite::datasets::save_scene_bank("bank.safetensors", bank);    // carry it to a GPU node
//
// A PNG that does not decode, is over 24 megapixels (openclipart has one of 10561 x 16000), has
// no transparent pixel (a picture, not a cut-out) or no visible one, is left out and listed in
// the bank's info["skipped"] (JSON array of reasons). InputError when openclipart
// is missing (naming Debian's openclipart-png) or a photo does not decode.
#include <string>

#include "pesuite/datasets/scene_bank.h"

namespace pesuite::imageio {

// threads: 0 = all cores (TBB). The result does not depend on the thread count.
datasets::SceneBank build_scene_bank(const datasets::SceneBankOptions& options, int threads = 0);

// The bank a `scenes:` spec uses (datasets::scene_bank_path: bank= or the cache path), built and
// written there (atomically) when it is not there yet. Returns its path. progress: one line on
// stderr while building, when stderr is a terminal.
std::string ensure_scene_bank(const datasets::DatasetSpec& spec, int threads = 0, bool progress = false);

}  // namespace pesuite::imageio
