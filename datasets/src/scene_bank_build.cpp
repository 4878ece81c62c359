// Building the `scenes:` object bank from openclipart-png with libpng and our own area resize
// (no OpenCV): the same bytes as the OpenCV builder it replaces (tested against OpenCV where it is).
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "pesuite/core/atomic_file.h"
#include "pesuite/core/error.h"
#include "pesuite/datasets/area_resize.h"
#include "pesuite/datasets/png.h"
#include "pesuite/datasets/scene_bank.h"
#include "pesuite/datasets/scene_text.h"

namespace pesuite::datasets {

namespace {

constexpr int kPhotoSide = 256;                    // stored photos: shorter side at most this
constexpr std::uint64_t kMaxPixels = 24'000'000;   // larger PNGs are skipped (one is 10561 x 16000)

torch::Tensor to_tensor(const std::vector<std::uint8_t>& data, int h, int w, int c) {
  return torch::from_blob(const_cast<std::uint8_t*>(data.data()), {h, w, c}, torch::kUInt8).clone();
}

// One cut-out as uint8 RGBA (straight alpha), cropped to alpha > 0 and shrunk so that its longer
// side is at most `side`; undefined with `why` set when it is not a usable cut-out.
torch::Tensor cut_out(const std::string& path, int side, std::string& why) {
  PngPixels img;
  try {
    img = decode_png(core::read_file(path), path, /*keep_alpha=*/true, kMaxPixels);
  } catch (const core::InputError& e) {
    why = e.what();
    return {};
  }
  if (img.channels != 4) {
    why = path + ": no alpha channel (not a cut-out)";
    return {};
  }
  const int W = img.width, H = img.height;
  const auto alpha = [&](int y, int x) { return img.data[(static_cast<std::size_t>(y) * W + x) * 4 + 3]; };
  int amin = 255, x1 = W, y1 = H, x2 = -1, y2 = -1;
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      const int a = alpha(y, x);
      amin = std::min(amin, a);
      if (a > 0) x1 = std::min(x1, x), x2 = std::max(x2, x), y1 = std::min(y1, y), y2 = std::max(y2, y);
    }
  if (amin >= 255) {
    why = path + ": no transparent pixel (a picture, not a cut-out)";
    return {};
  }
  if (x2 < 0) {
    why = path + ": no visible pixel";
    return {};
  }
  const int cw = x2 - x1 + 1, ch = y2 - y1 + 1;
  std::vector<std::uint8_t> crop(static_cast<std::size_t>(cw) * ch * 4);
  for (int y = 0; y < ch; ++y)
    std::copy_n(img.data.data() + (static_cast<std::size_t>(y + y1) * W + x1) * 4, static_cast<std::size_t>(cw) * 4,
                crop.data() + static_cast<std::size_t>(y) * cw * 4);
  const int longer = std::max(cw, ch);
  if (longer <= side) return to_tensor(crop, ch, cw, 4);
  // Shrink premultiplied (transparent pixels' colour must not bleed into the edges), then divide.
  // Each step is the float operation the OpenCV builder did (convertTo, mul, resize, divide).
  const float to_unit = static_cast<float>(1.0 / 255.0);
  std::vector<float> f(crop.size());
  for (std::size_t i = 0; i < crop.size(); i += 4) {
    const float a = static_cast<float>(crop[i + 3]) * to_unit;
    for (int c = 0; c < 3; ++c) f[i + c] = (static_cast<float>(crop[i + c]) * to_unit) * a;
    f[i + 3] = a;
  }
  const double scale = static_cast<double>(side) / longer;
  const int dw = std::max(1, static_cast<int>(std::lround(cw * scale))), dh = std::max(1, static_cast<int>(std::lround(ch * scale)));
  std::vector<float> small = area_resize(f.data(), cw, ch, 4, dw, dh);
  std::vector<std::uint8_t> out(small.size());
  const float eps = static_cast<float>(1e-6);
  const auto to_byte = [](float v) {
    const long r = std::lrint(v * 255.f);
    return static_cast<std::uint8_t>(r < 0 ? 0 : r > 255 ? 255 : r);
  };
  for (std::size_t i = 0; i < small.size(); i += 4) {
    const float a = small[i + 3];
    for (int c = 0; c < 3; ++c) out[i + c] = a <= eps ? 0 : to_byte(small[i + c] / std::max(a, eps));
    out[i + 3] = to_byte(a);
  }
  return to_tensor(out, dh, dw, 4);
}

// A background photo as RGB: at most 2:1 (centre crop), shorter side at most kPhotoSide.
torch::Tensor photo(const std::string& path) {
  std::string lower = path;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower.size() < 4 || lower.compare(lower.size() - 4, 4, ".png") != 0)
    throw core::InputError(path + ": background photos are read as PNG (this file is not; convert it, or give photos=none)");
  const PngPixels rgb = decode_png(core::read_file(path), path, /*keep_alpha=*/false);
  const int s = std::min(rgb.width, rgb.height);
  const int kw = std::min(rgb.width, 2 * s), kh = std::min(rgb.height, 2 * s);
  const int kx = (rgb.width - kw) / 2, ky = (rgb.height - kh) / 2;
  std::vector<std::uint8_t> keep(static_cast<std::size_t>(kw) * kh * 3);
  for (int y = 0; y < kh; ++y)
    std::copy_n(rgb.data.data() + (static_cast<std::size_t>(y + ky) * rgb.width + kx) * 3, static_cast<std::size_t>(kw) * 3,
                keep.data() + static_cast<std::size_t>(y) * kw * 3);
  if (s <= kPhotoSide) return to_tensor(keep, kh, kw, 3);
  const double scale = static_cast<double>(kPhotoSide) / s;
  const int dw = static_cast<int>(std::lround(kw * scale)), dh = static_cast<int>(std::lround(kh * scale));
  return to_tensor(area_resize(keep.data(), kw, kh, 3, dw, dh), dh, dw, 3);
}

}  // namespace

SceneBank build_scene_bank(const SceneBankOptions& o, int threads) {
  const ClipartListing L = list_clipart(o);
  struct Job {
    std::size_t cls;
    std::string file;
    std::uint8_t test;
  };
  std::vector<Job> jobs;
  for (std::size_t c = 0; c < L.classes.size(); ++c)
    for (std::size_t k = 0; k < L.classes[c].files.size(); ++k) jobs.push_back({c, L.classes[c].files[k], L.classes[c].test[k]});
  std::vector<torch::Tensor> cut(jobs.size()), photos(L.photos.size());
  std::vector<std::string> why(jobs.size()), photo_error(L.photos.size());
  tbb::task_arena arena(threads > 0 ? threads : tbb::task_arena::automatic);
  arena.execute([&] {
    tbb::parallel_for(std::size_t(0), jobs.size(), [&](std::size_t i) {
      cut[i] = cut_out(o.clipart + "/" + jobs[i].file, static_cast<int>(o.object_px), why[i]);
    });
    tbb::parallel_for(std::size_t(0), L.photos.size(), [&](std::size_t i) {
      try {
        photos[i] = photo(L.photos[i]);
      } catch (const core::InputError& e) {
        photo_error[i] = e.what();
      }
    });
  });
  for (const auto& e : photo_error)
    if (!e.empty()) throw core::InputError(e);
  SceneBank b;
  std::vector<std::int64_t> class_index(L.classes.size(), -1);
  nlohmann::json skipped = nlohmann::json::array();
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    if (!cut[i].defined()) {
      skipped.push_back(why[i]);
      continue;
    }
    const std::size_t c = jobs[i].cls;
    if (class_index[c] < 0) {
      class_index[c] = b.num_classes();
      b.classes.push_back(L.classes[c].id);
      auto [one, many] = class_nouns(L.classes[c].id);
      b.singular.push_back(one);
      b.plural.push_back(many);
      b.class_images.push_back(L.classes[c].images);
    }
    b.objects.push_back(cut[i]);
    b.object_class.push_back(class_index[c]);
    b.object_test.push_back(jobs[i].test);
    b.object_files.push_back(jobs[i].file);
  }
  if (b.objects.empty()) throw core::InputError(o.clipart + ": no usable cut-out among the chosen PNGs");
  for (std::size_t i = 0; i < photos.size(); ++i) {
    b.photos.push_back(photos[i]);
    b.photo_files.push_back(L.photos[i]);
  }
  b.info["source"] = o.clipart;
  b.info["builder"] = kSceneBankBuilderVersion;
  b.info["key"] = L.key;
  b.info["settings"] = o.settings().dump();
  b.info["skipped"] = skipped.dump();
  b.info["alpha"] = "straight";
  return b;
}

std::string ensure_scene_bank(const DatasetSpec& spec, int threads, bool progress) {
  const std::string path = scene_bank_path(spec);  // lists the clip-art: InputError naming openclipart-png when absent
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) return path;
  const bool tty = progress && isatty(2);
  const auto t0 = std::chrono::steady_clock::now();
  const auto options = SceneBankOptions::from_spec(spec);
  if (!std::filesystem::is_directory(options.clipart, ec))
    throw core::InputError(path + ": no such scene bank, and no clip-art to build it from: " + options.clipart +
                           " is missing; install Debian's openclipart-png (apt-get install openclipart-png)");
  if (tty) std::fprintf(stderr, "  building the scene object bank from %s (once) ...", options.clipart.c_str());
  const SceneBank bank = build_scene_bank(options, threads);
  if (const auto parent = std::filesystem::path(path).parent_path(); !parent.empty()) core::make_dirs(parent.string());
  save_scene_bank(path, bank);
  if (tty)
    std::fprintf(stderr, " %lld cut-outs, %lld classes, %.1f s\n", static_cast<long long>(bank.num_objects()),
                 static_cast<long long>(bank.num_classes()), std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return path;
}

}  // namespace pesuite::datasets
