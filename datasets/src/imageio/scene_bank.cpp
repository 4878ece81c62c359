// The `scenes:` object bank builder: openclipart-png decoded with OpenCV, once.
#include "pesuite/imageio/scene_bank_builder.h"

#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "pesuite/datasets/scene_text.h"
#include "pesuite/core/atomic_file.h"
#include "pesuite/core/error.h"
#include "pesuite/imageio/decode.h"

namespace pesuite::imageio {

namespace {

constexpr int kPhotoSide = 256;  // stored photos: shorter side at most this

constexpr std::uint64_t kMaxPixels = 24'000'000;  // larger PNGs are skipped (one is 10561 x 16000)

std::uint32_t be32(const std::string& b, std::size_t at) {
  return (std::uint32_t(static_cast<unsigned char>(b[at])) << 24) | (std::uint32_t(static_cast<unsigned char>(b[at + 1])) << 16) |
         (std::uint32_t(static_cast<unsigned char>(b[at + 2])) << 8) | std::uint32_t(static_cast<unsigned char>(b[at + 3]));
}

// The PNG's bytes without its iCCP chunks: many openclipart files carry a broken sRGB profile
// that makes libpng print a warning per file, and colour profiles are not used here. Returns
// the width x height of IHDR through `pixels` (0 when the bytes are not a PNG).
std::string without_iccp(const std::string& b, std::uint64_t& pixels) {
  pixels = 0;
  static const char sig[] = "\x89PNG\r\n\x1a\n";
  if (b.size() < 33 || b.compare(0, 8, sig, 8) != 0) return b;
  pixels = std::uint64_t(be32(b, 16)) * be32(b, 20);
  std::string out = b.substr(0, 8);
  for (std::size_t at = 8; at + 12 <= b.size();) {
    const std::size_t len = be32(b, at), end = at + 12 + len;
    if (end > b.size()) return b;  // malformed: let the decoder say so
    if (b.compare(at + 4, 4, "iCCP") != 0) out.append(b, at, end - at);
    at = end;
  }
  return out;
}

cv::Mat decode_unchanged(const std::string& path) {
  std::uint64_t pixels = 0;
  const std::string bytes = without_iccp(core::read_file(path), pixels);
  if (pixels > kMaxPixels)
    throw core::InputError(path + ": " + std::to_string(pixels / 1000000) + " megapixels, over the " +
                     std::to_string(kMaxPixels / 1000000) + " the bank builder decodes");
  const cv::Mat buf(1, static_cast<int>(bytes.size()), CV_8U, const_cast<char*>(bytes.data()));
  cv::Mat img;
  try {
    img = cv::imdecode(buf, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    throw core::InputError(path + ": cannot decode image: " + e.what());
  }
  if (img.empty()) throw core::InputError(path + ": cannot decode image");
  return img;
}

// One cut-out as uint8 RGBA (straight alpha), cropped to alpha > 0 and shrunk to `side`; empty
// with `why` set when it is not a usable cut-out.
cv::Mat cut_out(const std::string& path, int side, std::string& why) {
  cv::Mat img;
  try {
    img = decode_unchanged(path);
  } catch (const core::InputError& e) {
    why = e.what();
    return {};
  }
  if (img.depth() == CV_16U) img.convertTo(img, CV_8U, 1.0 / 257.0);
  if (img.depth() != CV_8U) {
    why = path + ": unsupported pixel depth";
    return {};
  }
  cv::Mat rgba;
  if (img.channels() == 4) {
    cv::cvtColor(img, rgba, cv::COLOR_BGRA2RGBA);
  } else if (img.channels() == 2) {  // grey + alpha, should a decoder hand it over as such
    std::vector<cv::Mat> ga;
    cv::split(img, ga);
    cv::merge(std::vector<cv::Mat>{ga[0], ga[0], ga[0], ga[1]}, rgba);
  } else {
    why = path + ": no alpha channel (not a cut-out)";
    return {};
  }
  cv::Mat alpha;
  cv::extractChannel(rgba, alpha, 3);
  double amin = 0;
  cv::minMaxLoc(alpha, &amin);
  if (amin >= 255) {
    why = path + ": no transparent pixel (a picture, not a cut-out)";
    return {};
  }
  const cv::Rect box = cv::boundingRect(alpha > 0);
  if (box.area() == 0) {
    why = path + ": no visible pixel";
    return {};
  }
  rgba = rgba(box).clone();
  const int longer = std::max(rgba.rows, rgba.cols);
  if (longer <= side) return rgba;
  // Shrink premultiplied (transparent pixels' colour must not bleed into the edges), then divide.
  cv::Mat f;
  rgba.convertTo(f, CV_32FC4, 1.0 / 255.0);
  std::vector<cv::Mat> ch;
  cv::split(f, ch);
  for (int c = 0; c < 3; ++c) ch[c] = ch[c].mul(ch[3]);
  cv::merge(ch, f);
  const double scale = static_cast<double>(side) / longer;
  const cv::Size to(std::max(1, static_cast<int>(std::lround(rgba.cols * scale))), std::max(1, static_cast<int>(std::lround(rgba.rows * scale))));
  cv::resize(f, f, to, 0, 0, cv::INTER_AREA);
  cv::split(f, ch);
  for (int c = 0; c < 3; ++c) {
    cv::Mat safe;
    cv::max(ch[3], 1e-6, safe);
    cv::divide(ch[c], safe, ch[c]);
    ch[c].setTo(0, ch[3] <= 1e-6);
  }
  cv::merge(ch, f);
  cv::Mat out;
  f.convertTo(out, CV_8UC4, 255.0);  // saturating, rounded
  return out;
}

cv::Mat photo(const std::string& path) {
  cv::Mat rgb = decode_image(path);  // RGB, core::InputError naming the file
  // At most 2:1 (centre crop), shorter side at most kPhotoSide.
  const int s = std::min(rgb.rows, rgb.cols);
  const cv::Rect keep((rgb.cols - std::min(rgb.cols, 2 * s)) / 2, (rgb.rows - std::min(rgb.rows, 2 * s)) / 2,
                      std::min(rgb.cols, 2 * s), std::min(rgb.rows, 2 * s));
  rgb = rgb(keep).clone();
  if (s > kPhotoSide) {
    const double scale = static_cast<double>(kPhotoSide) / s;
    cv::resize(rgb, rgb, cv::Size(static_cast<int>(std::lround(rgb.cols * scale)), static_cast<int>(std::lround(rgb.rows * scale))), 0, 0,
               cv::INTER_AREA);
  }
  return rgb;
}

torch::Tensor to_tensor_u8(const cv::Mat& m) {
  return torch::from_blob(m.data, {m.rows, m.cols, m.channels()}, torch::kUInt8).clone();
}

}  // namespace

datasets::SceneBank build_scene_bank(const datasets::SceneBankOptions& o, int threads) {
  const datasets::ClipartListing L = datasets::list_clipart(o);
  struct Job {
    std::size_t cls;
    std::string file;
    std::uint8_t test;
  };
  std::vector<Job> jobs;
  for (std::size_t c = 0; c < L.classes.size(); ++c)
    for (std::size_t k = 0; k < L.classes[c].files.size(); ++k) jobs.push_back({c, L.classes[c].files[k], L.classes[c].test[k]});
  std::vector<cv::Mat> cut(jobs.size()), photos(L.photos.size());
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
  datasets::SceneBank b;
  std::vector<std::int64_t> class_index(L.classes.size(), -1);
  nlohmann::json skipped = nlohmann::json::array();
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    if (cut[i].empty()) {
      skipped.push_back(why[i]);
      continue;
    }
    const std::size_t c = jobs[i].cls;
    if (class_index[c] < 0) {
      class_index[c] = b.num_classes();
      b.classes.push_back(L.classes[c].id);
      auto [one, many] = datasets::class_nouns(L.classes[c].id);
      b.singular.push_back(one);
      b.plural.push_back(many);
      b.class_images.push_back(L.classes[c].images);
    }
    b.objects.push_back(to_tensor_u8(cut[i]));
    b.object_class.push_back(class_index[c]);
    b.object_test.push_back(jobs[i].test);
    b.object_files.push_back(jobs[i].file);
  }
  if (b.objects.empty()) throw core::InputError(o.clipart + ": no usable cut-out among the chosen PNGs");
  for (std::size_t i = 0; i < photos.size(); ++i) {
    b.photos.push_back(to_tensor_u8(photos[i]));
    b.photo_files.push_back(L.photos[i]);
  }
  nlohmann::json settings = {{"categories", o.categories.empty() ? datasets::SceneBankOptions::default_categories() : o.categories},
                             {"min_per_class", o.min_per_class}, {"per_class", o.per_class},   {"object_px", o.object_px},
                             {"test_fraction", o.test_fraction}, {"photos", o.photo_dir()},    {"bank_seed", o.split_seed}};
  b.info["source"] = o.clipart;
  b.info["builder"] = datasets::kSceneBankBuilderVersion;
  b.info["key"] = L.key;
  b.info["settings"] = settings.dump();
  b.info["skipped"] = skipped.dump();
  b.info["alpha"] = "straight";
  return b;
}

std::string ensure_scene_bank(const datasets::DatasetSpec& spec, int threads, bool progress) {
  const std::string path = datasets::scene_bank_path(spec);
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) return path;
  const bool tty = progress && isatty(2);
  const auto t0 = std::chrono::steady_clock::now();
  const auto options = datasets::SceneBankOptions::from_spec(spec);
  if (tty) std::fprintf(stderr, "  building the scene object bank from %s (once) ...", options.clipart.c_str());
  const datasets::SceneBank bank = build_scene_bank(options, threads);
  if (const auto parent = std::filesystem::path(path).parent_path(); !parent.empty()) core::make_dirs(parent.string());
  datasets::save_scene_bank(path, bank);
  if (tty)
    std::fprintf(stderr, " %lld cut-outs, %lld classes, %.1f s\n", static_cast<long long>(bank.num_objects()),
                 static_cast<long long>(bank.num_classes()),
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return path;
}

}  // namespace pesuite::imageio
