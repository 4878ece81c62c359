#pragma once
// A small synthetic object bank for the scenes: tests (no openclipart needed): five classes of
// cut-outs in known colours and shapes (disc, square, triangle, ring, cross), each drawing
// striped with a darker shade of its colour every 2 pixels (fine detail that only a larger render
// can show), 4 training and 2 test drawings per class, plus one background photo.
#include <torch/torch.h>

#include <array>
#include <cmath>
#include <memory>
#include <string>

#include "pesuite/datasets/scene_bank.h"
#include "test_util.h"

namespace pesuite::test {

struct SyntheticClass {
  const char* folder;
  const char* singular;
  const char* plural;
  std::array<std::uint8_t, 3> rgb;
  const char* colour;  // what colour_name should say
};

inline const std::array<SyntheticClass, 5>& synthetic_classes() {
  static const std::array<SyntheticClass, 5> c = {{
      {"shapes/discs", "disc", "discs", {220, 30, 30}, "red"},
      {"shapes/squares", "square", "squares", {30, 160, 40}, "green"},
      {"shapes/triangles", "triangle", "triangles", {40, 60, 220}, "blue"},
      {"shapes/rings", "ring", "rings", {240, 220, 40}, "yellow"},
      {"shapes/crosses", "cross", "crosses", {140, 40, 200}, "purple"},
  }};
  return c;
}

// Drawing k of class c: h x w RGBA, alpha 255 inside the shape and 0 outside.
inline torch::Tensor synthetic_object(std::size_t c, int k) {
  const int h = 48 + 12 * (k % 4), w = 96 - 8 * (k % 3);
  torch::Tensor t = torch::zeros({h, w, 4}, torch::kUInt8);
  auto a = t.accessor<std::uint8_t, 3>();
  const auto& rgb = synthetic_classes()[c].rgb;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const double u = (x + 0.5) / w * 2 - 1, v = (y + 0.5) / h * 2 - 1, r = std::sqrt(u * u + v * v);
      bool in = false;
      switch (c) {
        case 0: in = r <= 1; break;
        case 1: in = true; break;
        case 2: in = v >= -1 + 2 * std::abs(u) - 1e-9; break;
        case 3: in = r <= 1 && r >= 0.55; break;
        default: in = std::abs(u) <= 0.3 || std::abs(v) <= 0.3; break;
      }
      if (!in) continue;
      // Stripes, 2 px on and 2 px off, turned by drawing (so drawings differ): 0.75 of the colour.
      const int coord = (k % 2 == 0) ? x : y;
      const double shade = ((coord / 2) % 2 == 0) ? 1.0 : 0.75;
      for (int ch = 0; ch < 3; ++ch) a[y][x][ch] = static_cast<std::uint8_t>(std::lround(rgb[static_cast<std::size_t>(ch)] * shade));
      a[y][x][3] = 255;
    }
  return t;
}

inline datasets::SceneBank synthetic_bank(bool with_photo = true) {
  datasets::SceneBank b;
  for (std::size_t c = 0; c < synthetic_classes().size(); ++c) {
    const auto& sc = synthetic_classes()[c];
    b.classes.push_back(sc.folder);
    b.singular.push_back(sc.singular);
    b.plural.push_back(sc.plural);
    b.class_images.push_back(10);
    for (int k = 0; k < 6; ++k) {
      b.objects.push_back(synthetic_object(c, k));
      b.object_class.push_back(static_cast<std::int64_t>(c));
      b.object_test.push_back(k >= 4 ? 1 : 0);
      b.object_files.push_back(std::string(sc.folder) + "/drawing" + std::to_string(k) + ".png");
    }
  }
  if (with_photo) {
    // A photo with detail: a diagonal ramp plus a fine checker.
    torch::Tensor p = torch::zeros({120, 160, 3}, torch::kUInt8);
    auto a = p.accessor<std::uint8_t, 3>();
    for (int y = 0; y < 120; ++y)
      for (int x = 0; x < 160; ++x) {
        const int fine = ((x / 3 + y / 3) % 2) * 40;
        a[y][x][0] = static_cast<std::uint8_t>(x + fine);
        a[y][x][1] = static_cast<std::uint8_t>(y * 2);
        a[y][x][2] = static_cast<std::uint8_t>(200 - fine);
      }
    b.photos.push_back(p);
    b.photo_files.push_back("synthetic/photo.png");
  }
  b.info["source"] = "synthetic";
  return b;
}

inline std::shared_ptr<const datasets::SceneBank> synthetic_bank_ptr(bool with_photo = true) {
  return std::make_shared<const datasets::SceneBank>(synthetic_bank(with_photo));
}

// The synthetic bank as a file (scenes:?...&bank=<this>), written once per test process into a
// folder removed at exit.
inline std::string synthetic_bank_file() {
  static const TempDir dir;
  static const std::string path = [] {
    const auto p = dir / "bank.safetensors";
    datasets::save_scene_bank(p, synthetic_bank());
    return p;
  }();
  return path;
}

}  // namespace pesuite::test
