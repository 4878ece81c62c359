// imagefolder: <root>[/<split>]/<class>/<image>, classes sorted by folder name (torchvision's
// ImageFolder order, so class indices agree with models trained there).
#include <algorithm>
#include <cctype>
#include <filesystem>

#include "pesuite/datasets/image_record.h"
#include "pesuite/core/error.h"

namespace pesuite::datasets {
namespace fs = std::filesystem;

static bool is_image_file(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp" || ext == ".webp" || ext == ".ppm" ||
         ext == ".pgm" || ext == ".tif" || ext == ".tiff";
}

ImageDataset load_imagefolder(const DatasetSpec& spec) {
  fs::path root = spec.path;
  if (spec.has("split")) root /= spec.get("split");
  if (!fs::is_directory(root))
    throw core::InputError(root.string() + ": not a directory (imagefolder: takes <root>[/<split>]/<class>/<image>)");
  ImageDataset set;
  set.source = spec.text;
  for (const auto& entry : fs::directory_iterator(root))
    if (entry.is_directory()) set.classes.push_back(entry.path().filename().string());
  std::sort(set.classes.begin(), set.classes.end());
  if (set.classes.empty()) throw core::InputError(root.string() + ": no class folders (imagefolder: expects <class>/<image>)");
  const std::int64_t limit = spec.has("limit") ? spec.get_int("limit") : -1;
  for (std::size_t c = 0; c < set.classes.size(); ++c) {
    std::vector<fs::path> files;
    // Follows symlinked files, as ImageNet trees built with `ln -s` need.
    for (const auto& entry : fs::recursive_directory_iterator(root / set.classes[c]))
      if (entry.is_regular_file() && is_image_file(entry.path())) files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      ImageRecord r;
      r.file = f.string();
      r.label = static_cast<std::int64_t>(c);
      r.id = f.stem().string();
      set.records.push_back(std::move(r));
    }
  }
  if (set.records.empty()) throw core::InputError(root.string() + ": no image files (.jpg, .jpeg, .png, ...) in the class folders");
  if (limit >= 0 && static_cast<std::int64_t>(set.records.size()) > limit) set.records.resize(limit);
  return set;
}

}  // namespace pesuite::datasets
