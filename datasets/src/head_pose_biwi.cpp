// biwi: BIWI Kinect Head Pose (hpdb layout): NN/frame_XXXXX_rgb.png + NN/frame_XXXXX_pose.txt (a
// 3x3 rotation, then the head centre in mm). Angles as Hopenet's BIWI loader computes them
// (euler.h hopenet_biwi_euler); the face box is Hopenet's: NN/dockerface-frame_XXXXX_rgb.txt
// ("<score> x1 y1 x2 y2") when present, else the whole image, grown by the BIWI loose crop.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "head_pose_internal.h"
#include "pesuite/datasets/head_pose.h"
#include "pesuite/datasets/text_source.h"
#include "pesuite/core/error.h"
#include "pesuite/core/parse.h"

namespace pesuite::datasets {
namespace fs = std::filesystem;

namespace {

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

// Width and height from a PNG's IHDR chunk (the first chunk, bytes 16..23, big-endian), so that
// the whole-image box needs no decoding.
std::pair<std::int64_t, std::int64_t> png_size(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw core::InputError(path + ": missing (the image beside its _pose.txt)");
  unsigned char h[24] = {};
  in.read(reinterpret_cast<char*>(h), 24);
  static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (in.gcount() < 24 || !std::equal(sig, sig + 8, h) || std::string(reinterpret_cast<char*>(h + 12), 4) != "IHDR")
    throw core::InputError(path + ": not a PNG file (no PNG signature and IHDR header)");
  auto be32 = [&](int o) {
    return (std::int64_t(h[o]) << 24) | (std::int64_t(h[o + 1]) << 16) | (std::int64_t(h[o + 2]) << 8) | std::int64_t(h[o + 3]);
  };
  return {be32(16), be32(20)};
}

}  // namespace

void read_biwi_pose(const std::string& path, Matrix3& rotation, std::array<double, 3>& centre) {
  if (!fs::is_regular_file(path)) throw core::InputError(path + ": missing or unreadable (BIWI pose file)");
  const TextFile text = read_text_file(path);
  LineCursor lines(text.name, text.data);
  std::vector<double> v;
  while (lines.next())
    for (double d : lines.doubles(' ')) v.push_back(d);  // "file:line: 'x' is not a number"
  if (v.size() != 12)
    throw core::InputError(path + ": pose: expected 12 numbers (3x3 rotation, then the head centre), got " + std::to_string(v.size()));
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) rotation[i][j] = v[3 * i + j];
  centre = {v[9], v[10], v[11]};
}

HeadPoseDataset load_biwi(const DatasetSpec& spec) {
  const fs::path root = spec.path;
  HeadPoseDataset set = head_pose_set(spec, "biwi", "the folder of the subject folders 01..24");
  const double k = spec.get_double("k");
  std::set<std::int64_t> wanted;
  if (spec.has("subjects"))
    for (auto s : spec.get_int_list("subjects")) wanted.insert(s);

  std::vector<std::pair<std::int64_t, std::string>> subjects;
  for (const auto& e : fs::directory_iterator(root)) {
    const std::string name = e.path().filename().string();
    if (e.is_directory() && all_digits(name)) subjects.push_back({std::stoll(name), name});
  }
  std::sort(subjects.begin(), subjects.end());
  if (subjects.empty()) throw core::InputError(spec.path + ": no subject folders (expected BIWI's layout NN/frame_XXXXX_rgb.png)");
  // A range may name absent subjects (BIWI's folders are 01..24); naming none that exists is an error.
  if (!wanted.empty() && std::none_of(subjects.begin(), subjects.end(), [&](const auto& p) { return wanted.count(p.first) > 0; }))
    throw core::InputError(spec.path + ": subjects=" + spec.get("subjects") + " matches no subject folder");

  struct Item {
    fs::path dir;
    std::string subject, stem;  // stem = frame_XXXXX
  };
  std::vector<Item> items;
  const std::string suffix = "_pose.txt";
  for (const auto& [number, name] : subjects) {
    if (!wanted.empty() && !wanted.count(number)) continue;
    std::vector<std::string> stems;
    for (const auto& e : fs::directory_iterator(root / name)) {
      const std::string f = e.path().filename().string();
      if (f.size() > suffix.size() && f.compare(f.size() - suffix.size(), suffix.size(), suffix) == 0 && f.rfind("frame_", 0) == 0)
        stems.push_back(f.substr(0, f.size() - suffix.size()));
    }
    std::sort(stems.begin(), stems.end());
    for (auto& s : stems) items.push_back({root / name, name, s});
  }

  auto read = [&](std::size_t i) {
    const Item& it = items[i];
    HeadPoseRecord r;
    r.annotation = (it.dir / (it.stem + "_pose.txt")).string();
    r.file = (it.dir / (it.stem + "_rgb.png")).string();
    r.id = it.subject + "/" + it.stem;
    Matrix3 rot;
    read_biwi_pose(r.annotation, rot, r.head_centre);
    r.pose = hopenet_biwi_euler(rot);
    const auto [w, h] = png_size(r.file);
    r.width = w, r.height = h;
    // Hopenet: line.split(' '); fewer than 4 fields -> the whole image, else fields 1..4.
    FaceBox detector{0, 0, static_cast<double>(w), static_cast<double>(h)};
    const fs::path docker = it.dir / ("dockerface-" + it.stem + "_rgb.txt");
    if (fs::exists(docker)) {
      std::ifstream in(docker);
      std::string line;
      std::getline(in, line);
      std::istringstream ss(line);
      std::vector<std::string> tok;
      for (std::string t; ss >> t;) tok.push_back(t);
      if (tok.size() >= 5) {
        double c[4];
        for (int j = 0; j < 4; ++j) {
          const auto d = core::parse_double(tok[j + 1]);
          if (!d) throw core::InputError(core::where(docker.string(), 1) + ": box field " + std::to_string(j + 1) + " '" + tok[j + 1] + "' is not a number");
          c[j] = *d;
        }
        detector = {c[0], c[1], c[2], c[3]};
      }
    }
    r.landmark_box = detector;
    r.box = loose_box(detector, LooseCrop::hopenet_biwi(k));
    return r;
  };
  read_in_blocks(set, items.size(), spec.has("limit") ? spec.get_int("limit") : 0, read,
                 [](const HeadPoseRecord&) { return true; });
  return set;
}

}  // namespace pesuite::datasets
