// voc: Pascal VOC layout — Annotations/<id>.xml, JPEGImages/<id>.jpg, ImageSets/Main/<split>.txt.
// Tolerant where the VOC devkit and common tools are (float coordinates as LabelImg writes them,
// empty or absent difficult/truncated/size fields); strict where a box would be made up (no
// bndbox, a coordinate that is not a number).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <pugixml.hpp>

#include "pesuite/datasets/image_record.h"
#include "pesuite/core/error.h"
#include "pesuite/core/parse.h"

namespace pesuite::datasets {
namespace fs = std::filesystem;

namespace {

// The 20 VOC classes in the devkit's order: used whenever every name is one of them, so that class
// indices are the same for every split and match published VOC models.
const std::vector<std::string> kVocClasses = {
    "aeroplane", "bicycle", "bird",  "boat",        "bottle", "bus",         "car",   "cat",       "chair", "cow",
    "diningtable", "dog",  "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor"};

std::string trim(std::string s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

struct RawObject {
  std::string name;
  Box box;
};

// 0/1 flags: empty or absent = 0 (VOC tools write <difficult/> and omit it freely).
bool flag(const pugi::xml_node& obj, const char* tag, const std::string& place) {
  const std::string v = trim(obj.child(tag).text().as_string());
  if (v.empty()) return false;
  if (auto d = core::parse_double(v)) return *d != 0;
  throw core::InputError(place + ": <" + tag + "> '" + v + "' is not 0 or 1");
}

double coordinate(const pugi::xml_node& bndbox, const char* tag, const std::string& place) {
  const pugi::xml_node n = bndbox.child(tag);
  if (!n) throw core::InputError(place + ": <bndbox> has no <" + tag + ">");
  const std::string v = trim(n.text().as_string());
  if (auto d = core::parse_double(v)) return *d;
  throw core::InputError(place + ": <bndbox><" + tag + "> '" + v + "' is not a number");
}

std::int64_t size_field(const pugi::xml_node& size, const char* tag, const std::string& file) {
  const std::string v = trim(size.child(tag).text().as_string());
  if (v.empty()) return 0;  // unknown: filled in when the image is decoded
  if (auto d = core::parse_double(v); d && *d >= 0) return static_cast<std::int64_t>(*d);
  throw core::InputError(file + ": <size><" + tag + "> '" + v + "' is not a non-negative number");
}

std::vector<std::string> split_ids(const fs::path& root, const std::string& split) {
  std::vector<std::string> ids;
  if (split == "all") {  // every annotation, whatever the ImageSets say (e.g. BCCD's 364)
    const fs::path ann = root / "Annotations";
    if (!fs::is_directory(ann)) throw core::InputError(ann.string() + ": missing (expected the Pascal VOC layout)");
    for (const auto& e : fs::directory_iterator(ann))
      if (e.path().extension() == ".xml") ids.push_back(e.path().stem().string());
    std::sort(ids.begin(), ids.end());
    return ids;
  }
  const fs::path list = root / "ImageSets" / "Main" / (split + ".txt");
  std::ifstream in(list);
  if (!in) throw core::InputError(list.string() + ": missing (split '" + split + "'; use split=all to read every annotation)");
  for (std::string line; std::getline(in, line);) {
    line = trim(line);
    // Per-class lists (aeroplane_train.txt) carry "<id> <-1|0|1>"; the id is the first field.
    if (!line.empty()) ids.push_back(line.substr(0, line.find_first_of(" \t")));
  }
  return ids;
}

}  // namespace

ImageDataset load_voc(const DatasetSpec& spec) {
  const fs::path root = spec.path;
  if (!fs::is_directory(root)) throw core::InputError(spec.path + ": not a directory (voc: takes the VOC root folder)");
  const bool keep_difficult = spec.get_bool("difficult");
  std::vector<std::string> ids = split_ids(root, spec.get("split"));
  if (spec.has("limit") && static_cast<std::int64_t>(ids.size()) > spec.get_int("limit")) ids.resize(spec.get_int("limit"));

  ImageDataset set;
  set.source = spec.text;
  set.detection = true;
  std::vector<std::vector<RawObject>> objects;
  std::set<std::string> names;
  for (const auto& id : ids) {
    const std::string file = (root / "Annotations" / (id + ".xml")).string();
    pugi::xml_document doc;
    const pugi::xml_parse_result parsed = doc.load_file(file.c_str());
    if (!parsed) {
      if (!fs::exists(file)) throw core::InputError(file + ": missing (listed in the split)");
      throw core::InputError(file + ": offset " + std::to_string(parsed.offset) + ": XML error: " + parsed.description());
    }
    const pugi::xml_node ann = doc.child("annotation");
    if (!ann) throw core::InputError(file + ": no <annotation> root element");
    ImageRecord r;
    r.id = id;
    r.width = size_field(ann.child("size"), "width", file);
    r.height = size_field(ann.child("size"), "height", file);
    // The devkit finds images by id; <filename> is a fallback for sets whose ids differ from file names.
    fs::path image = root / "JPEGImages" / (id + ".jpg");
    const std::string listed = trim(ann.child("filename").text().as_string());
    if (!fs::exists(image) && !listed.empty() && fs::exists(root / "JPEGImages" / listed)) image = root / "JPEGImages" / listed;
    r.file = image.string();
    std::vector<RawObject> objs;
    int k = 0;
    for (const pugi::xml_node obj : ann.children("object")) {
      ++k;
      RawObject o;
      o.name = trim(obj.child("name").text().as_string());
      const std::string place = file + ": <object> " + std::to_string(k) + (o.name.empty() ? "" : " (" + o.name + ")");
      if (o.name.empty()) throw core::InputError(place + ": no <name>");
      const pugi::xml_node bb = obj.child("bndbox");
      if (!bb) throw core::InputError(place + ": no <bndbox>");
      o.box.x1 = coordinate(bb, "xmin", place);
      o.box.y1 = coordinate(bb, "ymin", place);
      o.box.x2 = coordinate(bb, "xmax", place);
      o.box.y2 = coordinate(bb, "ymax", place);
      o.box.difficult = flag(obj, "difficult", place);
      o.box.truncated = flag(obj, "truncated", place);
      if (o.box.difficult && !keep_difficult) continue;
      names.insert(o.name);
      objs.push_back(std::move(o));
    }
    objects.push_back(std::move(objs));
    set.records.push_back(std::move(r));
  }

  if (spec.has("classes")) {
    std::string list = spec.get("classes");
    for (std::size_t p = 0; p <= list.size();) {
      const auto q = std::min(list.find(',', p), list.size());
      if (q > p) set.classes.push_back(trim(list.substr(p, q - p)));
      p = q + 1;
    }
  } else if (std::all_of(names.begin(), names.end(), [](const std::string& n) {
               return std::find(kVocClasses.begin(), kVocClasses.end(), n) != kVocClasses.end();
             })) {
    set.classes = kVocClasses;
  } else {
    set.classes.assign(names.begin(), names.end());  // sorted: deterministic for a given split
  }
  std::map<std::string, std::int64_t> index;
  for (std::size_t c = 0; c < set.classes.size(); ++c) index[set.classes[c]] = static_cast<std::int64_t>(c);
  for (std::size_t i = 0; i < set.records.size(); ++i)
    for (auto& o : objects[i]) {
      auto it = index.find(o.name);
      if (it == index.end())
        throw core::InputError(root.string() + "/Annotations/" + set.records[i].id + ".xml: class '" + o.name +
                         "' is not in classes=" + spec.get("classes"));
      o.box.label = it->second;
      set.records[i].boxes.push_back(o.box);
    }
  return set;
}

}  // namespace pesuite::datasets
