// The format registry (formats.h): one row per format, its keys and its loader. Explicit on purpose
// (no self-registering statics). Keep help strings short: `pesuite list datasets` prints them.
#include "pesuite/datasets/formats.h"

#include "pesuite/core/error.h"
#include "pesuite/core/registry.h"
#include "pesuite/datasets/cifar.h"

namespace pesuite::datasets {
namespace {

using core::ParamInfo;

ParamInfo limit_key() { return ParamInfo::integer("limit", "", "use only the first N images", 1); }

}  // namespace

const std::vector<Format>& formats() {
  static const std::vector<Format> table = {
      // ---- graphs ----
      {"tu", "TU Dortmund graph collection (official zip or folder)", true,
       {ParamInfo::text("name", "", "dataset name when the path is a folder holding several (default: folder/zip name)"),
        ParamInfo::boolean("node_attr", "1", "use DS_node_attributes when present")},
       load_tu, {}, {}},
      {"ogb", "OGB graph-property raw layout (raw/*.csv.gz, split/<name>/)", true,
       {ParamInfo::text("split", "scaffold", "split folder name under split/"),
        ParamInfo::text("subset", "", "train|valid|test (default: all)")},
       load_ogb, {}, {}},
      {"linqs", "LINQS citation graph (Cora/CiteSeer .content + .cites, zipped or not)", true,
       {ParamInfo::text("name", "", "file stem (default: detected)")},
       load_linqs, {}, {}},
      {"edgelist", "plain text edge list (# comments, optional weight column)", true,
       {ParamInfo::boolean("directed", "0", "keep edges directed"),
        ParamInfo::choice("weighted", "auto", "read a third weight column: auto|0|1", {"auto", "0", "1"}),
        ParamInfo::choice("base", "auto", "node id base: auto|0|1", {"auto", "0", "1"})},
       load_edgelist, {}, {}},
      {"csl", "Circular Skip Links (Murphy et al. 2019), 150 graphs of 41 nodes", false,
       {ParamInfo::integer("seed", "0", "seed of the random node permutations"),
        ParamInfo::integer("per_class", "15", "graphs per class", 1)},
       generate_csl, {}, {}},
      {"grid", "2D grid graph (scale tests)", false,
       {ParamInfo::integer("rows", "30", "rows", 1), ParamInfo::integer("cols", "30", "columns", 1),
        ParamInfo::integer("graphs", "1", "number of copies", 1)},
       generate_grid, {}, {}},
      {"regular", "random d-regular graph (configuration model, seeded)", false,
       {ParamInfo::integer("nodes", "1000", "nodes", 1), ParamInfo::integer("degree", "4", "degree", 0),
        ParamInfo::integer("seed", "0", "seed"), ParamInfo::integer("graphs", "1", "number of graphs", 1)},
       generate_regular, {}, {}},
      {"count", "random graphs labelled with exact 3..6-cycle counts (SPE counting task)", false,
       {ParamInfo::integer("graphs", "1000", "number of graphs", 1), ParamInfo::text("nodes", "10-30", "node count range lo-hi"),
        ParamInfo::real("p", "0.15", "edge probability", 0), ParamInfo::integer("seed", "0", "seed")},
       generate_count, {}, {}},
      // ---- images in memory ----
      {"idx", "MNIST / Fashion-MNIST IDX files (gzipped or not)", true,
       {ParamInfo::choice("split", "train", "train|test", {"train", "test"}), limit_key()},
       {}, {}, load_idx_dataset},
      {"cifar10", "CIFAR-10 binary batches (data_batch_1..5.bin, test_batch.bin)", true,
       {ParamInfo::choice("split", "train", "train|test", {"train", "test"}), limit_key()},
       {}, {}, load_cifar_dataset},
      {"cifar100", "CIFAR-100 binary batches (train.bin, test.bin)", true,
       {ParamInfo::choice("split", "train", "train|test", {"train", "test"}),
        ParamInfo::choice("labels", "fine", "fine (100 classes)|coarse (20 superclasses)", {"fine", "coarse"}), limit_key()},
       {}, {}, load_cifar_dataset},
      // ---- image files (decoded by pesuite::imageio) ----
      {"imagefolder", "class-per-folder JPEG/PNG tree (ImageNet layout), classes sorted by name", true,
       {ParamInfo::text("split", "", "subfolder holding the class folders (e.g. train, val)"), limit_key()},
       {}, load_imagefolder, {}},
      {"voc", "Pascal VOC (Annotations/, JPEGImages/, ImageSets/Main/)", true,
       {ParamInfo::text("split", "train", "ImageSets/Main/<split>.txt, or all = every Annotations/*.xml"),
        ParamInfo::boolean("difficult", "1", "keep difficult objects (flagged)"),
        ParamInfo::text("classes", "", "class order, comma-separated (default: the 20 VOC classes, else names sorted)"),
        limit_key()},
       {}, load_voc, {}},
      {"coco", "COCO instances JSON (path = annotation file)", true,
       {ParamInfo::text("images", "", "image folder (default: <name>/ beside the JSON or its folder, else the JSON's folder)"),
        ParamInfo::boolean("crowd", "1", "keep iscrowd objects (flagged)"), limit_key()},
       {}, load_coco, {}},
  };
  return table;
}

const Format& format(const std::string& name) { return core::find_row(formats(), name, "dataset format"); }

const Format& DatasetSpec::info() const { return datasets::format(format); }

GraphDataset load_graph_dataset(const DatasetSpec& spec) {
  const Format& f = spec.info();
  if (!f.load_graphs) throw core::InputError("dataset spec '" + spec.text + "': format '" + spec.format + "' is not a graph format");
  GraphDataset ds = f.load_graphs(spec);
  ds.spec = spec.text;
  return ds;
}

ImageDataset load_image_dataset(const DatasetSpec& spec) {
  const Format& f = spec.info();
  if (!f.load_records) {
    std::vector<std::string> names;
    for (const auto& row : formats())
      if (row.load_records) names.push_back(row.name);
    throw core::InputError("dataset spec '" + spec.text + "': '" + spec.format + "' is not a format of image files (" +
                           core::join_names(names) + ")");
  }
  return f.load_records(spec);
}

ImageClassificationSet load_image_tensors(const DatasetSpec& spec) {
  const Format& f = spec.info();
  if (!f.load_images) {
    std::vector<std::string> names;
    for (const auto& row : formats())
      if (row.load_images) names.push_back(row.name);
    throw core::InputError("dataset spec '" + spec.text + "': '" + spec.format + "' is not decoded into memory (" +
                           core::join_names(names) + ")" + (f.load_records ? "; its images are read from their files" : ""));
  }
  return f.load_images(spec);
}

}  // namespace pesuite::datasets
