#include "pesuite/datasets/cifar.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "pesuite/core/atomic_file.h"
#include "pesuite/core/error.h"

namespace pesuite::datasets {
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kSide = 32, kPixels = 3 * kSide * kSide;

// The folder that holds the batches: the path itself, or the archive's top folder inside it.
std::string batch_folder(const std::string& path, const std::string& probe, const std::string& sub) {
  if (!fs::is_directory(path)) throw core::InputError(path + ": not a directory (cifar takes the folder of the .bin batches)");
  if (fs::exists(fs::path(path) / probe)) return path;
  if (fs::exists(fs::path(path) / sub / probe)) return (fs::path(path) / sub).string();
  throw core::InputError(path + ": no " + probe + " here or in " + sub + "/ (expected the CIFAR binary layout)");
}

std::vector<std::string> read_names(const std::string& file, std::int64_t count) {
  std::vector<std::string> names;
  std::ifstream in(file);
  for (std::string line; in && std::getline(in, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) names.push_back(line);
  }
  if (static_cast<std::int64_t>(names.size()) != count) {  // absent or unexpected: plain numbers
    names.clear();
    for (std::int64_t c = 0; c < count; ++c) names.push_back(std::to_string(c));
  }
  return names;
}

}  // namespace

ImageClassificationSet load_cifar_dataset(const DatasetSpec& spec) {
  const bool hundred = spec.format == "cifar100";
  const std::string split = spec.get("split");
  const std::string which = hundred ? spec.get("labels") : "fine";  // both keys checked by the row

  std::vector<std::string> files;
  std::string folder;
  if (hundred) {
    folder = batch_folder(spec.path, split + ".bin", "cifar-100-binary");
    files.push_back(folder + "/" + split + ".bin");
  } else {
    folder = batch_folder(spec.path, split == "train" ? "data_batch_1.bin" : "test_batch.bin", "cifar-10-batches-bin");
    if (split == "test") files.push_back(folder + "/test_batch.bin");
    else
      for (int b = 1; b <= 5; ++b) files.push_back(folder + "/data_batch_" + std::to_string(b) + ".bin");
  }
  const std::int64_t label_bytes = hundred ? 2 : 1, record = label_bytes + kPixels;
  const std::int64_t label_offset = hundred && which == "fine" ? 1 : 0;
  const std::int64_t num_classes = hundred ? (which == "fine" ? 100 : 20) : 10;
  const std::int64_t limit = spec.has("limit") ? spec.get_int("limit") : -1;

  std::vector<std::string> blobs;
  std::int64_t total = 0;
  for (const auto& f : files) {
    if (limit >= 0 && total >= limit) break;
    if (!fs::exists(f)) throw core::InputError(f + ": missing (CIFAR " + split + " split)");
    blobs.push_back(core::read_file(f));
    const auto size = static_cast<std::int64_t>(blobs.back().size());
    if (size == 0 || size % record != 0)
      throw core::InputError(f + ": " + std::to_string(size) + " bytes is not a whole number of " + std::to_string(record) +
                       "-byte CIFAR records (truncated, or the wrong CIFAR variant?)");
    total += size / record;
  }
  if (limit >= 0) total = std::min(total, limit);

  ImageClassificationSet set;
  set.images = torch::empty({total, kSide, kSide, 3}, torch::kUInt8);
  set.labels = torch::empty({total}, torch::kInt64);
  auto* img = set.images.data_ptr<std::uint8_t>();
  auto* lab = set.labels.data_ptr<std::int64_t>();
  std::int64_t n = 0;
  for (std::size_t b = 0; b < blobs.size() && n < total; ++b) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(blobs[b].data());
    const std::int64_t count = static_cast<std::int64_t>(blobs[b].size()) / record;
    for (std::int64_t i = 0; i < count && n < total; ++i, ++n) {
      const std::uint8_t* r = p + i * record;
      const std::int64_t label = r[label_offset];
      if (label >= num_classes)
        throw core::InputError(files[b] + ": record " + std::to_string(i) + ": label " + std::to_string(label) +
                         " is out of range (" + std::to_string(num_classes) + " classes)");
      lab[n] = label;
      // Planar RGB -> interleaved HWC, the layout OpenCV and the IDX loader use.
      const std::uint8_t* px = r + label_bytes;
      std::uint8_t* out = img + n * kPixels;
      for (std::int64_t k = 0; k < kSide * kSide; ++k)
        for (int c = 0; c < 3; ++c) out[k * 3 + c] = px[c * kSide * kSide + k];
    }
  }
  const std::string names_file =
      hundred ? folder + "/" + which + "_label_names.txt" : folder + "/batches.meta.txt";
  set.classes = read_names(names_file, num_classes);
  set.source = spec.text;
  return set;
}

}  // namespace pesuite::datasets
