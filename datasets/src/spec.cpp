#include "pesuite/datasets/spec.h"

#include <algorithm>
#include <sstream>

#include "pesuite/heads/error.h"
#include "pesuite/heads/parse.h"

namespace pesuite::datasets {

// One row per format. Keys not listed here are rejected. Keep help strings short: they are what
// `pesuite list datasets` prints.
const std::vector<FormatInfo>& formats() {
  static const std::vector<FormatInfo> table = {
      // ---- graphs ----
      {"tu", DatasetKind::Graph, true, "TU Dortmund graph collection (official zip or folder)",
       {{"name", "", "dataset name when the path is a folder holding several (default: folder/zip name)"},
        {"node_attr", "1", "use DS_node_attributes when present"}}},
      {"ogb", DatasetKind::Graph, true, "OGB graph-property raw layout (raw/*.csv.gz, split/<name>/)",
       {{"split", "scaffold", "split folder name under split/"}, {"subset", "", "train|valid|test (default: all)"}}},
      {"linqs", DatasetKind::Graph, true, "LINQS citation graph (Cora/CiteSeer .content + .cites, zipped or not)",
       {{"name", "", "file stem (default: detected)"}}},
      {"edgelist", DatasetKind::Graph, true, "plain text edge list (# comments, optional weight column)",
       {{"directed", "0", "keep edges directed"}, {"weighted", "auto", "read a third weight column: auto|0|1"},
        {"base", "auto", "node id base: auto|0|1"}}},
      {"csl", DatasetKind::Graph, false, "Circular Skip Links (Murphy et al. 2019), 150 graphs of 41 nodes",
       {{"seed", "0", "seed of the random node permutations"}, {"per_class", "15", "graphs per class"}}},
      {"grid", DatasetKind::Graph, false, "2D grid graph (scale tests)",
       {{"rows", "30", "rows"}, {"cols", "30", "columns"}, {"graphs", "1", "number of copies"}}},
      {"regular", DatasetKind::Graph, false, "random d-regular graph (configuration model, seeded)",
       {{"nodes", "1000", "nodes"}, {"degree", "4", "degree"}, {"seed", "0", "seed"}, {"graphs", "1", "number of graphs"}}},
      {"count", DatasetKind::Graph, false, "random graphs labelled with exact 3..6-cycle counts (SPE counting task)",
       {{"graphs", "1000", "number of graphs"}, {"nodes", "10-30", "node count range lo-hi"},
        {"p", "0.15", "edge probability"}, {"seed", "0", "seed"}}},
      // ---- images ----
      {"idx", DatasetKind::Image, true, "MNIST / Fashion-MNIST IDX files (gzipped or not)",
       {{"split", "train", "train|test"}, {"limit", "", "use only the first N images"}}},
      {"cifar10", DatasetKind::Image, true, "CIFAR-10 binary batches (data_batch_1..5.bin, test_batch.bin)",
       {{"split", "train", "train|test"}, {"limit", "", "use only the first N images"}}},
      {"cifar100", DatasetKind::Image, true, "CIFAR-100 binary batches (train.bin, test.bin)",
       {{"split", "train", "train|test"}, {"labels", "fine", "fine (100 classes)|coarse (20 superclasses)"},
        {"limit", "", "use only the first N images"}}},
      {"imagefolder", DatasetKind::Image, true, "class-per-folder JPEG/PNG tree (ImageNet layout), classes sorted by name",
       {{"split", "", "subfolder holding the class folders (e.g. train, val)"}, {"limit", "", "use only the first N images"}}},
      {"voc", DatasetKind::Image, true, "Pascal VOC (Annotations/, JPEGImages/, ImageSets/Main/)",
       {{"split", "train", "ImageSets/Main/<split>.txt, or all = every Annotations/*.xml"},
        {"difficult", "1", "keep difficult objects (flagged)"},
        {"classes", "", "class order, comma-separated (default: the 20 VOC classes, else names sorted)"},
        {"limit", "", "use only the first N images"}}},
      {"coco", DatasetKind::Image, true, "COCO instances JSON (path = annotation file)",
       {{"images", "", "image folder (default: <name>/ beside the JSON or its folder, else the JSON's folder)"},
        {"crowd", "1", "keep iscrowd objects (flagged)"}, {"limit", "", "use only the first N images"}}},
      {"aflw2000", DatasetKind::Image, true, "AFLW2000-3D head pose (.jpg + .mat)",
       {{"filter", "99", "drop samples with any |angle| above this many degrees"}}},
      {"300wlp", DatasetKind::Image, true, "300W-LP head pose (.jpg + .mat)",
       {{"filter", "99", "drop samples with any |angle| above this many degrees"}}},
  };
  return table;
}

const FormatInfo& format_info(const std::string& name) {
  for (const auto& f : formats())
    if (f.name == name) return f;
  std::string valid;
  for (const auto& f : formats()) valid += (valid.empty() ? "" : ", ") + f.name;
  throw InputError("dataset format '" + name + "' is unknown (valid: " + valid + ")");
}

DatasetSpec parse_spec(const std::string& text) {
  DatasetSpec spec;
  spec.text = text;
  const auto colon = text.find(':');
  if (colon == std::string::npos || colon == 0)
    throw InputError("dataset spec '" + text + "': expected <format>:<path>[?key=value&...]");
  spec.format = text.substr(0, colon);
  const FormatInfo& info = format_info(spec.format);
  std::string rest = text.substr(colon + 1);
  std::string query;
  if (auto q = rest.find('?'); q != std::string::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  spec.path = rest;
  if (info.needs_path && spec.path.empty())
    throw InputError("dataset spec '" + text + "': format '" + spec.format + "' needs a path");
  if (!info.needs_path && !spec.path.empty())
    throw InputError("dataset spec '" + text + "': format '" + spec.format + "' is generated and takes no path (use " +
                     spec.format + ":?key=value)");
  for (const auto& k : info.keys) spec.params[k.name] = k.default_value;
  std::stringstream ss(query);
  std::string item;
  while (std::getline(ss, item, '&')) {
    if (item.empty()) continue;
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      throw InputError("dataset spec '" + text + "': expected key=value, got '" + item + "'");
    const std::string key = item.substr(0, eq);
    const bool known = std::any_of(info.keys.begin(), info.keys.end(), [&](const SpecKey& k) { return k.name == key; });
    if (!known) {
      std::string valid;
      for (const auto& k : info.keys) valid += (valid.empty() ? "" : ", ") + k.name;
      throw InputError("dataset spec '" + text + "': unknown key '" + key + "' for format '" + spec.format +
                       "' (valid: " + (valid.empty() ? "none" : valid) + ")");
    }
    spec.params[key] = item.substr(eq + 1);
  }
  return spec;
}

bool DatasetSpec::has(const std::string& key) const {
  auto it = params.find(key);
  return it != params.end() && !it->second.empty();
}

std::string DatasetSpec::get(const std::string& key) const {
  auto it = params.find(key);
  if (it == params.end()) throw InputError("dataset spec '" + text + "': format '" + format + "' has no key '" + key + "'");
  return it->second;
}

std::int64_t DatasetSpec::get_int(const std::string& key) const {
  const std::string v = get(key);
  if (auto x = parse_int(v)) return *x;
  throw InputError("dataset spec '" + text + "': key '" + key + "' must be an integer, got '" + v + "'");
}

double DatasetSpec::get_double(const std::string& key) const {
  const std::string v = get(key);
  if (auto x = parse_double(v)) return *x;
  throw InputError("dataset spec '" + text + "': key '" + key + "' must be a number, got '" + v + "'");
}

bool DatasetSpec::get_bool(const std::string& key) const {
  const std::string v = get(key);
  if (auto x = parse_bool(v)) return *x;
  throw InputError("dataset spec '" + text + "': key '" + key + "' must be 0/1/true/false, got '" + v + "'");
}

std::vector<std::int64_t> DatasetSpec::get_int_list(const std::string& key) const {
  const std::string v = get(key);
  std::vector<std::int64_t> out;
  auto bad = [&]() {
    return InputError("dataset spec '" + text + "': key '" + key + "' must be integers like 2,3,4 or 2-4, got '" + v + "'");
  };
  std::stringstream ss(v);
  std::string part;
  while (std::getline(ss, part, ',')) {
    try {
      const auto dash = part.find('-', 1);
      if (dash == std::string::npos) {
        out.push_back(std::stoll(part));
      } else {
        const long long lo = std::stoll(part.substr(0, dash)), hi = std::stoll(part.substr(dash + 1));
        if (hi < lo) throw bad();
        for (long long i = lo; i <= hi; ++i) out.push_back(i);
      }
    } catch (const InputError&) {
      throw;
    } catch (const std::exception&) {
      throw bad();
    }
  }
  if (out.empty()) throw bad();
  return out;
}

}  // namespace pesuite::datasets
