// coco: COCO "instances" JSON (images, annotations, categories) and the folder of its images.
// Category ids are not contiguous (1..90 with gaps for 80 classes); they are mapped to 0..K-1 in
// increasing id order, the mapping detectron2 and torchvision's references use. load_coco_masks
// (coco_mask.h) reads each kept object's "segmentation" (polygons, uncompressed or compressed RLE)
// in the same pass, aligned with the boxes.
#include <algorithm>
#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "pesuite/datasets/coco_mask.h"
#include "pesuite/datasets/image_record.h"
#include "pesuite/core/atomic_file.h"
#include "pesuite/core/error.h"

namespace pesuite::datasets {
namespace fs = std::filesystem;

namespace {

// images= when given; else the folder beside the JSON named like it (instances_val2017.json ->
// val2017/ next to it or next to its annotations/ folder); else the JSON's own folder.
std::string image_folder(const DatasetSpec& spec) {
  if (spec.has("images")) {
    if (!fs::is_directory(spec.get("images"))) throw core::InputError(spec.get("images") + ": image folder missing (coco images=)");
    return spec.get("images");
  }
  const fs::path json = fs::absolute(spec.path);
  std::string stem = json.stem().string();
  if (stem.rfind("instances_", 0) == 0) stem = stem.substr(10);
  for (const fs::path& p : {json.parent_path() / stem, json.parent_path().parent_path() / stem})
    if (fs::is_directory(p)) return p.string();
  return json.parent_path().string();
}

double number(const nlohmann::json& v, const std::string& place) {
  if (!v.is_number()) throw core::InputError(place + " must be a number, got " + v.dump());
  return v.get<double>();
}

// The loader; with `masks`, each kept object's segmentation too (masks[record][box]).
ImageDataset load(const DatasetSpec& spec, std::vector<std::vector<Rle>>* masks) {
  const std::string& file = spec.path;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(core::read_file(file));
  } catch (const nlohmann::json::parse_error& e) {
    throw core::InputError(file + ": byte " + std::to_string(e.byte) + ": JSON error: " + e.what());
  }
  for (const char* key : {"images", "annotations", "categories"})
    if (!j.contains(key) || !j[key].is_array())
      throw core::InputError(file + ": no \"" + key + "\" array (is this a COCO instances file?)");
  const bool keep_crowd = spec.get_bool("crowd");
  const std::string folder = image_folder(spec);

  ImageDataset set;
  set.source = spec.text;
  set.detection = true;
  try {
    // Categories in increasing id order -> contiguous class indices.
    std::vector<std::pair<std::int64_t, std::string>> cats;
    for (std::size_t i = 0; i < j["categories"].size(); ++i) {
      const auto& c = j["categories"][i];
      const std::string place = file + ": categories[" + std::to_string(i) + "]";
      if (!c.contains("id") || !c["id"].is_number_integer()) throw core::InputError(place + ": no integer \"id\"");
      cats.emplace_back(c["id"].get<std::int64_t>(), c.value("name", std::to_string(c["id"].get<std::int64_t>())));
    }
    std::sort(cats.begin(), cats.end());
    std::map<std::int64_t, std::int64_t> class_of;
    for (const auto& [id, name] : cats) {
      if (class_of.count(id)) throw core::InputError(file + ": category id " + std::to_string(id) + " appears twice");
      class_of[id] = static_cast<std::int64_t>(set.classes.size());
      set.classes.push_back(name);
    }

    std::map<std::int64_t, std::size_t> record_of;  // image id -> record index
    std::vector<std::pair<std::int64_t, ImageRecord>> images;
    for (std::size_t i = 0; i < j["images"].size(); ++i) {
      const auto& im = j["images"][i];
      const std::string place = file + ": images[" + std::to_string(i) + "]";
      if (!im.contains("id") || !im["id"].is_number_integer()) throw core::InputError(place + ": no integer \"id\"");
      if (!im.contains("file_name") || !im["file_name"].is_string()) throw core::InputError(place + ": no \"file_name\"");
      ImageRecord r;
      r.id = std::to_string(im["id"].get<std::int64_t>());
      r.file = (fs::path(folder) / im["file_name"].get<std::string>()).string();
      r.width = static_cast<std::int64_t>(number(im.value("width", nlohmann::json(0)), place + ".width"));
      r.height = static_cast<std::int64_t>(number(im.value("height", nlohmann::json(0)), place + ".height"));
      if (r.width < 0 || r.height < 0) throw core::InputError(place + " (id " + r.id + "): negative width or height");
      images.emplace_back(im["id"].get<std::int64_t>(), std::move(r));
    }
    // Sorted by image id, the order torchvision's CocoDetection and pycocotools' getImgIds give.
    std::stable_sort(images.begin(), images.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& [id, r] : images) {
      if (record_of.count(id)) throw core::InputError(file + ": image id " + std::to_string(id) + " appears twice");
      record_of[id] = set.records.size();
      set.records.push_back(std::move(r));
    }
    if (masks) masks->assign(set.records.size(), {});

    const auto& anns = j["annotations"];
    for (std::size_t i = 0; i < anns.size(); ++i) {
      const auto& a = anns[i];
      std::string place = file + ": annotations[" + std::to_string(i) + "]";
      if (a.contains("id")) place += " (id " + a["id"].dump() + ")";
      if (!a.contains("image_id") || !a["image_id"].is_number_integer()) throw core::InputError(place + ": no integer \"image_id\"");
      const auto img = record_of.find(a["image_id"].get<std::int64_t>());
      if (img == record_of.end()) throw core::InputError(place + ": image_id " + a["image_id"].dump() + " is not in \"images\"");
      if (!a.contains("category_id") || !a["category_id"].is_number_integer())
        throw core::InputError(place + ": no integer \"category_id\"");
      const auto cls = class_of.find(a["category_id"].get<std::int64_t>());
      if (cls == class_of.end()) throw core::InputError(place + ": category_id " + a["category_id"].dump() + " is not in \"categories\"");
      if (!a.contains("bbox") || !a["bbox"].is_array() || a["bbox"].size() != 4)
        throw core::InputError(place + ": \"bbox\" must be [x, y, width, height]");
      const auto& bb = a["bbox"];
      Box b;
      b.x1 = number(bb[0], place + ".bbox[0]");
      b.y1 = number(bb[1], place + ".bbox[1]");
      const double w = number(bb[2], place + ".bbox[2]"), h = number(bb[3], place + ".bbox[3]");
      if (w < 0 || h < 0) throw core::InputError(place + ": negative box size " + bb.dump());
      b.x2 = b.x1 + w;
      b.y2 = b.y1 + h;
      b.label = cls->second;
      b.crowd = a.value("iscrowd", 0) != 0;
      if (b.crowd && !keep_crowd) continue;
      if (masks) {
        const auto& r = set.records[img->second];
        (*masks)[img->second].push_back(a.contains("segmentation") ? rle_from_annotation(a["segmentation"], r.height, r.width, place) : Rle{});
      }
      set.records[img->second].boxes.push_back(b);
    }
  } catch (const nlohmann::json::exception& e) {  // a field of the wrong JSON type somewhere
    throw core::InputError(file + ": " + e.what());
  }
  if (spec.has("limit") && static_cast<std::int64_t>(set.records.size()) > spec.get_int("limit")) {
    set.records.resize(spec.get_int("limit"));
    if (masks) masks->resize(set.records.size());
  }
  return set;
}

}  // namespace

ImageDataset load_coco(const DatasetSpec& spec) { return load(spec, nullptr); }

std::vector<std::vector<Rle>> load_coco_masks(const DatasetSpec& spec, ImageDataset* records) {
  if (spec.format != "coco") throw core::InputError("load_coco_masks: '" + spec.text + "' is not a coco: spec");
  std::vector<std::vector<Rle>> masks;
  auto set = load(spec, &masks);
  if (records) *records = std::move(set);
  return masks;
}

}  // namespace pesuite::datasets
