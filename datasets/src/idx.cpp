#include "pesuite/datasets/idx.h"

#include <cstdio>
#include <cstring>
#include <filesystem>

#include "pesuite/datasets/text_source.h"
#include "pesuite/core/atomic_file.h"
#include "pesuite/core/error.h"

namespace pesuite::datasets {
namespace fs = std::filesystem;

torch::Tensor read_idx(const std::string& path) {
  const std::string bytes = path.size() > 3 && path.substr(path.size() - 3) == ".gz" ? read_gzip(path).data : core::read_file(path);
  auto u8 = [&](std::size_t i) { return static_cast<unsigned char>(bytes[i]); };
  if (bytes.size() < 4) throw core::InputError(path + ": too short for an IDX header (" + std::to_string(bytes.size()) + " bytes)");
  if (u8(0) != 0 || u8(1) != 0)
    throw core::InputError(path + ": bad IDX magic (first two bytes must be zero; is this an IDX file?)");
  if (u8(2) != 0x08) {
    char type[8];
    std::snprintf(type, sizeof type, "0x%02x", u8(2));
    throw core::InputError(path + ": IDX element type " + type + " is not supported (only 0x08, unsigned byte)");
  }
  const int ndim = u8(3);
  if (ndim < 1 || ndim > 4) throw core::InputError(path + ": IDX header declares " + std::to_string(ndim) + " dimensions");
  const std::size_t header = 4 + 4 * static_cast<std::size_t>(ndim);
  if (bytes.size() < header) throw core::InputError(path + ": truncated IDX header");
  std::vector<int64_t> dims;
  std::size_t numel = 1;
  bool too_big = false;  // the product of the sizes overflows or exceeds the file (checked as it grows)
  for (int d = 0; d < ndim; ++d) {
    const std::size_t o = 4 + 4 * d;
    const std::uint32_t v = (std::uint32_t(u8(o)) << 24) | (u8(o + 1) << 16) | (u8(o + 2) << 8) | u8(o + 3);
    dims.push_back(v);
    if (v != 0 && numel > (bytes.size() - header) / v) too_big = true;
    else numel *= v;
  }
  if (too_big)
    throw core::InputError(path + ": IDX sizes " + c10::str(c10::IntArrayRef(dims)) + " need more bytes of data than the file's " +
                           std::to_string(bytes.size() - header));
  if (bytes.size() - header != numel)
    throw core::InputError(path + ": IDX sizes " + c10::str(c10::IntArrayRef(dims)) + " need " + std::to_string(numel) +
                     " bytes of data, the file has " + std::to_string(bytes.size() - header));
  torch::Tensor t = torch::empty(dims, torch::kUInt8);
  if (numel > 0) std::memcpy(t.data_ptr(), bytes.data() + header, numel);  // an empty tensor's data_ptr is null
  return t;
}

static std::string find_idx(const std::string& folder, const std::string& stem) {
  for (const std::string& name : {stem, stem + ".gz"})
    if (fs::exists(folder + "/" + name)) return folder + "/" + name;
  throw core::InputError(folder + ": no " + stem + " or " + stem + ".gz (expected the MNIST file layout)");
}

ImageClassificationSet load_idx_dataset(const DatasetSpec& spec) {
  if (!fs::is_directory(spec.path)) throw core::InputError(spec.path + ": not a directory (idx: takes the folder of the IDX files)");
  const std::string split = spec.get("split");
  const std::string prefix = split == "train" ? "train" : "t10k";
  const std::string images_path = find_idx(spec.path, prefix + "-images-idx3-ubyte");
  const std::string labels_path = find_idx(spec.path, prefix + "-labels-idx1-ubyte");
  ImageClassificationSet set;
  set.images = read_idx(images_path);
  set.labels = read_idx(labels_path);
  if (set.images.dim() != 3) throw core::InputError(images_path + ": expected 3 dimensions (N, H, W)");
  if (set.labels.dim() != 1) throw core::InputError(labels_path + ": expected 1 dimension (N)");
  if (set.images.size(0) != set.labels.size(0))
    throw core::InputError(labels_path + ": " + std::to_string(set.labels.size(0)) + " labels for " +
                     std::to_string(set.images.size(0)) + " images in " + images_path);
  set.labels = set.labels.to(torch::kInt64);
  if (spec.has("limit")) {
    const auto n = std::min<std::int64_t>(spec.get_int("limit"), set.images.size(0));
    set.images = set.images.slice(0, 0, n).clone();
    set.labels = set.labels.slice(0, 0, n).clone();
  }
  const auto num_classes = set.labels.numel() ? set.labels.max().item<std::int64_t>() + 1 : 0;
  // Fashion-MNIST's class names; plain digits otherwise.
  static const char* kFashion[] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
  const bool fashion = spec.path.find("fashion") != std::string::npos && num_classes <= 10;
  for (std::int64_t c = 0; c < num_classes; ++c) set.classes.push_back(fashion ? kFashion[c] : std::to_string(c));
  set.source = spec.text;
  return set;
}

}  // namespace pesuite::datasets
