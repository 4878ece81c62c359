// The format registry (formats.h): one row per format, its keys and its loader. Explicit on purpose
// (no self-registering statics). Keep help strings short: `pesuite list datasets` prints them.
#include "pesuite/datasets/formats.h"

#include <filesystem>

#include "pesuite/core/error.h"
#include "pesuite/core/registry.h"
#include "pesuite/datasets/cifar.h"

namespace pesuite::datasets {
namespace {

using core::ParamInfo;

ParamInfo limit_key() { return ParamInfo::integer("limit", "", "use only the first N images", 1); }

Format head_pose_row(std::string name, std::string help, std::vector<ParamInfo> keys,
                     std::function<HeadPoseDataset(const DatasetSpec&)> load) {
  Format f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.keys = std::move(keys);
  f.load_head_pose = std::move(load);
  f.inspect = [](const DatasetSpec& s, const InspectOptions& o) { return inspect_head_pose(s, o); };
  return f;
}

Format facesynth_row(std::string help, std::vector<ParamInfo> keys) {
  Format f;
  f.name = "facesynth";
  f.help = std::move(help);
  f.needs_path = false;
  f.keys = std::move(keys);
  f.make_faces = make_facesynth;
  f.inspect = inspect_facesynth;
  return f;
}

// Scenes are also a multi-label image set (the classes present in each scene), which is how
// `vision train` reads them.
Format scenes_row(std::string help, std::vector<ParamInfo> keys) {
  Format f;
  f.name = "scenes";
  f.help = std::move(help);
  f.needs_path = false;
  f.keys = std::move(keys);
  f.make_scenes = [](const DatasetSpec& s) { return generate_scenes(s); };
  f.load_images = [](const DatasetSpec& s) {
    ScenesDataset set = generate_scenes(s);
    ImageClassificationSet out;
    out.images = set.images;
    out.labels = set.targets;
    out.classes = set.classes;
    out.source = s.text;
    return out;
  };
  f.inspect = [](const DatasetSpec& s, const InspectOptions& o) { return inspect_scenes(generate_scenes(s), o.items); };
  f.missing = [](const DatasetSpec& s) -> std::string {
    try {
      const std::string bank = scene_bank_path(s);  // InputError when neither a bank nor the clip-art is here
      if (std::filesystem::exists(bank) || std::filesystem::is_directory(SceneBankOptions::from_spec(s).clipart)) return "";
      return bank + " (scene bank; no clip-art here to build it: Debian's openclipart-png)";
    } catch (const core::InputError& e) {
      return e.what();
    }
  };
  return f;
}

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
      // ---- head pose: face images on disk with pose labels, and rendered faces ----
      head_pose_row("300wlp", "300W-LP head pose, release layout (AFW/, AFW_Flip/, HELEN/, ... each NAME.jpg + NAME.mat: Pose_Para, pt2d 2x68)", {
                       ParamInfo::text("filter", "99", "drop samples with any |angle| above this many degrees (empty: keep all)"),
                       ParamInfo::text("folders", "", "comma-separated subfolders (default: each of AFW, AFW_Flip, HELEN, HELEN_Flip, IBUG, IBUG_Flip, LFPW, LFPW_Flip present)"),
                       ParamInfo::choice("split", "all", "a fixed hold-out by face (every rotation and flip of a face on the same side)", {"all", "train", "val"}),
                       ParamInfo::real("val_fraction", "0.05", "share of faces in split=val", 0),
                       ParamInfo::choice("crop", "train", "loose crop of the record's box: train (Hopenet 300W-LP: 0.6, 2, 0.6, 0.6) | test (AFLW2000: 2, 2, 2, 0.6)", {"train", "test"}),
                       ParamInfo::text("k", "0.2", "margin k of the record's box (Hopenet training draws k in [0.2, 0.4) from landmark_box)"),
                       ParamInfo::choice("flip_order", "face", "_Flip landmarks: face (68-point mirror permutation applied, index i = the same facial point) | file (as stored)", {"face", "file"}),
                       ParamInfo::text("limit", "", "use only the first N images (after filter and split)")},
                    load_300wlp),
      head_pose_row("aflw2000", "AFLW2000-3D head pose (imageNNNNN.jpg + .mat: Pose_Para, pt2d 2x21 with -1 for missing points, pt3d_68)", {
                       ParamInfo::text("filter", "99", "drop samples with any |angle| above this many degrees (empty: keep all; 99 keeps 1,969 of 2,000)"),
                       ParamInfo::choice("crop", "test", "loose crop of the record's box: test (Hopenet AFLW2000: 2, 2, 2, 0.6) | train (0.6, 2, 0.6, 0.6)", {"train", "test"}),
                       ParamInfo::text("k", "0.2", "margin k of the record's box"),
                       ParamInfo::choice("missing", "skip", "landmarks marked -1: skip (box from the visible points) | keep (as the released code: min / max over all)", {"skip", "keep"}),
                       ParamInfo::text("limit", "", "use only the first N images (after filter)")},
                    load_aflw2000),
      head_pose_row("biwi", "BIWI Kinect Head Pose (NN/frame_XXXXX_rgb.png + frame_XXXXX_pose.txt; angles as Hopenet converts them)", {
                       ParamInfo::text("filter", "99", "drop samples with any |angle| above this many degrees (empty: keep all)"),
                       ParamInfo::text("subjects", "", "subject folders by number, e.g. 1-16 or 1,5,9 (default: all)"),
                       ParamInfo::text("k", "0.35", "loose-crop margin around the face box (NN/dockerface-frame_XXXXX_rgb.txt, else the whole image)"),
                       ParamInfo::text("limit", "", "use only the first N images (after filter)")},
                    load_biwi),
      facesynth_row("rendered head-pose faces (PRNet's textured mean face), exact yaw / pitch / roll, 68 landmarks, box", {
                       ParamInfo::text("n", "10000", "number of samples"),
                       ParamInfo::text("seed", "0", "seed: sample i depends only on (seed, i)"),
                       ParamInfo::text("size", "224", "image size N or WxH (the scene does not depend on it)"),
                       ParamInfo::text("yaw", "-90,90", "yaw range lo,hi in degrees (or one value)"),
                       ParamInfo::text("pitch", "-45,45", "pitch range lo,hi in degrees"),
                       ParamInfo::text("roll", "-45,45", "roll range lo,hi in degrees"),
                       ParamInfo::text("full_range", "0", "1: yaw uniform over [-180, 180) (with head=auto a head is drawn behind the mask)"),
                       ParamInfo::text("scale", "0.45,0.7", "68-landmark box size / image size, range"),
                       ParamInfo::text("shift", "0.06", "face centre offset up to this fraction of the size"),
                       ParamInfo::text("light", "75", "light direction up to this many degrees from the view axis"),
                       ParamInfo::text("ambient", "0.25,0.6", "ambient light share range (diffuse = 1 - ambient)"),
                       ParamInfo::text("blur", "0.006", "Gaussian blur sigma up to this fraction of the image size"),
                       ParamInfo::text("noise", "6", "pixel noise standard deviation up to this (0..255)"),
                       ParamInfo::text("supersample", "2", "anti-aliasing samples per pixel side"),
                       ParamInfo::text("head", "auto", "1: a hair-coloured head behind the face mask (seen from behind); auto = on with full_range"),
                       ParamInfo::text("mesh", "", "face-mesh folder (default: $PESUITE_FACE_MESH, $PESUITE_DATA/face-mesh, ../shared/data/face-mesh)"),
                       ParamInfo::text("backgrounds", "", "folder of background photos (PNG; JPEG too with OpenCV), used for photo_p of the samples"),
                       ParamInfo::text("photo_p", "0.5", "share of photo backgrounds when backgrounds= is given")}),
      // ---- composited scenes (boxes, masks, captions; multi-label classification as images) ----
      scenes_row("composited clip-art scenes (openclipart-png cut-outs) with boxes, masks and captions", {
                       ParamInfo::text("n", "1000", "number of scenes"),
                       ParamInfo::text("size", "64", "image side in pixels (scenes are resolution-independent: any size renders the same scene)"),
                       ParamInfo::text("seed", "0", "scene seed"),
                       ParamInfo::choice("split", "train", "train | test (unseen drawings of the same classes) | heldout (the held-out classes only)", {"train", "test", "heldout"}),
                       ParamInfo::text("min_objects", "1", "fewest objects drawn per scene"),
                       ParamInfo::text("max_objects", "4", "most objects drawn per scene (at most 32)"),
                       ParamInfo::text("min_scale", "0.25", "smallest object: its longer side as a fraction of the image side"),
                       ParamInfo::text("max_scale", "0.5", "largest object, same unit"),
                       ParamInfo::text("max_iou", "0.3", "largest IoU between two objects' boxes"),
                       ParamInfo::text("max_cover", "0.5", "largest share of an object's box that later objects may cover"),
                       ParamInfo::text("flip", "0.5", "probability of a horizontal flip"),
                       ParamInfo::text("tries", "50", "placement draws per object; after them it is dropped and counted"),
                       ParamInfo::text("holdout", "0", "classes held out for zero-shot tests: a count N (chosen with holdout_seed) or names a,b,c"),
                       ParamInfo::text("holdout_seed", "0", "which N classes holdout=N holds out"),
                       ParamInfo::text("backgrounds", "gradient,noise,stripes,checker,photo", "background kinds to draw from (also solid); photo only when the bank has photos"),
                       ParamInfo::text("bank", "", "object bank file (default: built from clipart into $PESUITE_CACHE/scenes)"),
                       ParamInfo::text("clipart", "/usr/share/openclipart/png", "openclipart-png's folder (bank building)"),
                       ParamInfo::text("categories", "default", "class folder globs under clipart, comma-separated (bank building; default: 35 object folders)"),
                       ParamInfo::text("min_per_class", "8", "a folder is a class when it holds at least this many PNGs"),
                       ParamInfo::text("per_class", "24", "cut-outs per class in the bank, at most (bank building)"),
                       ParamInfo::text("object_px", "96", "longest side of a stored cut-out in pixels (bank building)"),
                       ParamInfo::text("test_fraction", "0.25", "share of each class's drawings kept for test scenes (bank building)"),
                       ParamInfo::text("photos", "auto", "background photos: auto (mypaint-data-extras' when installed) | none | a folder (bank building)"),
                       ParamInfo::text("bank_seed", "0", "which drawings go into the bank and which are test ones (bank building)")}),
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

HeadPoseDataset load_head_pose_dataset(const DatasetSpec& spec) {
  const Format& f = spec.info();
  if (!f.load_head_pose) {
    std::vector<std::string> names;
    for (const auto& row : formats())
      if (row.load_head_pose) names.push_back(row.name);
    throw core::InputError("dataset spec '" + spec.text + "': '" + spec.format + "' is not a format of head-pose images (" +
                           core::join_names(names) + ")" + (f.make_faces ? "; its faces are rendered (make_faces)" : ""));
  }
  return f.load_head_pose(spec);
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
