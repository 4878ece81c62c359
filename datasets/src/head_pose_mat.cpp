// 300wlp: and aflw2000: — JPEG + MATLAB .mat pairs (Pose_Para 1x7 = pitch, yaw, roll in radians,
// tx, ty, tz, scale; pt2d 2xN), read through libmatio (mat_file.h). Files are read in parallel
// (TBB), in blocks so that limit= stops early; errors and order are those of a serial read.
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "pesuite/datasets/head_pose.h"
#include "head_pose_internal.h"
#include "pesuite/datasets/mat_file.h"
#include "pesuite/core/error.h"

namespace pesuite::datasets {
namespace fs = std::filesystem;

namespace {

constexpr double kPi = 3.14159265358979323846;

const std::vector<std::string> k300wlpFolders = {"AFW",  "AFW_Flip",  "HELEN", "HELEN_Flip",
                                                 "IBUG", "IBUG_Flip", "LFPW",  "LFPW_Flip"};

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string part; std::getline(ss, part, ',');) {
    const auto b = part.find_first_not_of(" \t"), e = part.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(part.substr(b, e - b + 1));
  }
  return out;
}

// The .mat files of a folder with their images beside them, sorted by name. The image is the
// release's NAME.jpg, or NAME.png where there is no .jpg (a copy converted to PNG reads in a build
// without OpenCV, e.g. the GPU machine's). A .mat without an image, or an image without its .mat,
// is an InputError naming the missing file.
std::vector<std::pair<std::string, std::string>> mat_image_pairs(const fs::path& dir) {
  std::set<std::string> mats;
  std::map<std::string, std::string> images;  // stem -> extension (.jpg wins over .png)
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    const auto ext = e.path().extension().string();
    const auto stem = e.path().stem().string();
    if (ext == ".mat") mats.insert(stem);
    else if (ext == ".jpg") images[stem] = ext;
    else if (ext == ".png") images.emplace(stem, ext);
  }
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const auto& stem : mats) {
    const auto image = images.find(stem);
    if (image == images.end())
      throw core::InputError((dir / (stem + ".jpg")).string() + ": missing (the image beside " + stem + ".mat)");
    pairs.push_back({(dir / (stem + ".mat")).string(), (dir / (stem + image->second)).string()});
  }
  for (const auto& [stem, ext] : images)
    if (!mats.count(stem))
      throw core::InputError((dir / (stem + ".mat")).string() + ": missing (the annotation beside " + stem + ext + ")");
  return pairs;
}

LooseCrop crop_of(const DatasetSpec& spec) {
  const std::string c = spec.get("crop");
  const double k = spec.get_double("k");
  if (c == "train") return LooseCrop::hopenet_train(k);
  return LooseCrop::hopenet_test(k);  // the row's choice: train | test
}

// FNV-1a: a split that is the same on every machine and standard library.
std::uint64_t fnv1a(const std::string& s) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

}  // namespace

double head_pose_filter(const DatasetSpec& spec) {
  if (!spec.has("filter")) return 0;
  const double f = spec.get_double("filter");
  if (!(f > 0)) throw core::InputError("dataset spec '" + spec.text + "': filter must be a positive number of degrees (or empty for none)");
  return f;
}

HeadPoseDataset head_pose_set(const DatasetSpec& spec, const std::string& format, const std::string& takes) {
  if (!fs::is_directory(spec.path)) throw core::InputError(spec.path + ": not a directory (" + format + ": takes " + takes + ")");
  HeadPoseDataset set;
  set.source = spec.text;
  set.format = format;
  set.filter_degrees = head_pose_filter(spec);
  return set;
}

bool outside_filter(const EulerAngles& a, double filter) {
  return filter > 0 && (std::abs(a.yaw) > filter || std::abs(a.pitch) > filter || std::abs(a.roll) > filter);
}

void read_in_blocks(HeadPoseDataset& set, std::size_t n, std::int64_t limit,
                    const std::function<HeadPoseRecord(std::size_t)>& read,
                    const std::function<bool(const HeadPoseRecord&)>& keep) {
  const std::size_t block = 512;
  for (std::size_t begin = 0; begin < n; begin += block) {
    const std::size_t end = std::min(n, begin + block);
    std::vector<HeadPoseRecord> got(end - begin);
    std::vector<std::exception_ptr> errors(end - begin);
    tbb::parallel_for(begin, end, [&](std::size_t i) {
      try {
        got[i - begin] = read(i);
      } catch (...) {
        errors[i - begin] = std::current_exception();
      }
    });
    for (std::size_t i = 0; i < got.size(); ++i) {
      if (errors[i]) std::rethrow_exception(errors[i]);  // the first bad file in file order
      HeadPoseRecord& r = got[i];
      if (!keep(r)) continue;  // another split: neither kept nor counted as dropped
      if (outside_filter(r.pose, set.filter_degrees)) {
        set.dropped.push_back({r.id, r.pose});
        continue;
      }
      set.records.push_back(std::move(r));
      if (limit > 0 && static_cast<std::int64_t>(set.records.size()) >= limit) return;
    }
  }
}

HeadPoseRecord read_pose_mat(const std::string& mat_path, const std::vector<std::size_t>& landmark_counts) {
  MatFile mat(mat_path);
  HeadPoseRecord r;
  r.annotation = mat_path;
  const MatMatrix pose = mat.matrix("Pose_Para");
  pose.require_shape(1, 7);
  pose.require_finite();
  r.pose_para = pose.data;
  // Pose_Para = [pitch, yaw, roll, tx, ty, tz, scale], radians (deep-head-pose utils.get_ypr_from_mat).
  r.pose.pitch = pose.data[0] * 180 / kPi;
  r.pose.yaw = pose.data[1] * 180 / kPi;
  r.pose.roll = pose.data[2] * 180 / kPi;
  const MatMatrix pt = mat.matrix("pt2d");
  const bool count_ok = std::find(landmark_counts.begin(), landmark_counts.end(), pt.cols) != landmark_counts.end();
  if (pt.rows != 2 || !count_ok) {
    std::string expected;
    for (auto c : landmark_counts) expected += (expected.empty() ? "2x" : " or 2x") + std::to_string(c);
    throw core::InputError(mat_path + ": 'pt2d' is " + std::to_string(pt.rows) + "x" + std::to_string(pt.cols) + ", expected " + expected);
  }
  pt.require_finite();
  r.landmarks.resize(pt.cols);
  for (std::size_t i = 0; i < pt.cols; ++i) r.landmarks[i] = {pt(0, i), pt(1, i)};
  if (mat.has("pt3d_68")) {
    const MatMatrix p3 = mat.matrix("pt3d_68");
    p3.require_shape(3, 68);
    p3.require_finite();
    r.landmarks_3d.resize(68);
    for (std::size_t i = 0; i < 68; ++i) r.landmarks_3d[i] = {p3(0, i), p3(1, i), p3(2, i)};
  }
  return r;
}

HeadPoseDataset load_300wlp(const DatasetSpec& spec) {
  const fs::path root = spec.path;
  HeadPoseDataset set = head_pose_set(spec, "300wlp", "the 300W_LP root folder");
  const LooseCrop crop = crop_of(spec);
  const std::string split = spec.get("split");
  const double val_fraction = spec.get_double("val_fraction");
  if (!(val_fraction >= 0 && val_fraction <= 1))
    throw core::InputError("dataset spec '" + spec.text + "': val_fraction must be in [0, 1]");
  const std::string flip_order = spec.get("flip_order");

  std::vector<std::string> folders;
  if (spec.has("folders")) {
    folders = split_list(spec.get("folders"));
    for (const auto& f : folders)
      if (!fs::is_directory(root / f)) throw core::InputError((root / f).string() + ": missing (listed in folders=)");
  } else {
    for (const auto& f : k300wlpFolders)
      if (fs::is_directory(root / f)) folders.push_back(f);
    if (folders.empty())
      throw core::InputError(spec.path + ": none of AFW, AFW_Flip, HELEN, HELEN_Flip, IBUG, IBUG_Flip, LFPW, LFPW_Flip "
                                   "(expected the 300W-LP release layout)");
  }
  struct Item {
    std::string mat, image, folder, stem;
  };
  std::vector<Item> items;
  for (const auto& f : folders)
    for (auto& [mat, image] : mat_image_pairs(root / f)) items.push_back({mat, image, f, fs::path(mat).stem().string()});

  auto read = [&](std::size_t i) {
    const Item& it = items[i];
    HeadPoseRecord r = read_pose_mat(it.mat, {68});
    r.file = it.image;
    r.id = it.folder + "/" + it.stem;
    r.mirrored = it.folder.size() > 5 && it.folder.compare(it.folder.size() - 5, 5, "_Flip") == 0;
    // _Flip files mirror x but keep the order of the points (REFERENCES.md): reorder to the face's.
    if (r.mirrored && flip_order == "face") {
      std::vector<Point2> p(68);
      for (int k = 0; k < 68; ++k) p[k] = r.landmarks[mirror_permutation_68()[k]];
      r.landmarks = std::move(p);
    }
    r.landmark_box = landmark_box(r.landmarks);
    r.box = loose_box(r.landmark_box, crop);
    return r;
  };
  // Faces are NAME_<rotation>: every rotation of a face, and its flip, share the stem without it.
  auto keep = [&](const HeadPoseRecord& r) {
    if (split == "all") return true;
    const std::string stem = fs::path(r.annotation).stem().string();
    const std::string face = stem.substr(0, stem.rfind('_'));
    const bool val = static_cast<double>(fnv1a(face) % 1000000) < val_fraction * 1e6;
    return (split == "val") == val;
  };
  read_in_blocks(set, items.size(), spec.has("limit") ? spec.get_int("limit") : 0, read, keep);
  return set;
}

HeadPoseDataset load_aflw2000(const DatasetSpec& spec) {
  const fs::path root = spec.path;
  HeadPoseDataset set = head_pose_set(spec, "aflw2000", "the AFLW2000 folder");
  const LooseCrop crop = crop_of(spec);
  const std::string missing = spec.get("missing");
  const auto pairs = mat_image_pairs(root);
  if (pairs.empty()) throw core::InputError(spec.path + ": no .mat files (expected AFLW2000's imageNNNNN.jpg + imageNNNNN.mat)");
  auto read = [&](std::size_t i) {
    HeadPoseRecord r = read_pose_mat(pairs[i].first, {21, 68});
    r.file = pairs[i].second;
    r.id = fs::path(pairs[i].first).stem().string();
    r.landmark_box = landmark_box(r.landmarks, missing == "keep");
    r.box = loose_box(r.landmark_box, crop);
    return r;
  };
  read_in_blocks(set, pairs.size(), spec.has("limit") ? spec.get_int("limit") : 0, read,
                 [](const HeadPoseRecord&) { return true; });
  return set;
}

}  // namespace pesuite::datasets
