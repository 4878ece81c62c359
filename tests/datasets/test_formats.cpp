// The format registry (datasets/formats.h): every format writes a tiny dataset in its real format
// (generators: make one) and reads it back through its row, through `data inspect` too; a row
// without a case here fails, so a new format cannot land untested.
#include <opencv2/imgcodecs.hpp>

#include <filesystem>
#include <functional>
#include <map>

#include "format_writers.h"
#ifdef PESUITE_HAVE_MATIO
#include "mat_writer.h"
#endif
#include "scene_test_bank.h"
#include "pesuite/core/error.h"
#include "pesuite/datasets/formats.h"
#include "pesuite/datasets/inspect.h"
#include "test_util.h"

using namespace pesuite;
using pesuite::test::TempDir;
namespace fs = std::filesystem;

namespace {

void write_jpeg(const std::string& path, int w, int h) {
  fs::create_directories(fs::path(path).parent_path());
  ASSERT_TRUE(cv::imwrite(path, cv::Mat(h, w, CV_8UC3, cv::Scalar(40, 90, 200))));
}

// A case: write the dataset under `dir`, return its spec; `check` verifies what the row read.
struct RoundTrip {
  std::function<std::string(const std::string& dir)> write;
  std::function<void(const datasets::DatasetSpec& spec)> check;
};

void expect_graphs(const datasets::DatasetSpec& spec, std::size_t graphs, const std::string& task) {
  const auto ds = datasets::load_graph_dataset(spec);
  EXPECT_EQ(ds.graphs.size(), graphs) << spec.text;
  EXPECT_EQ(ds.task, task) << spec.text;
}

std::map<std::string, RoundTrip> format_writers() {
  using datasets::DatasetSpec;
  std::map<std::string, RoundTrip> w;
  w["tu"] = {[](const std::string& d) {
               test::write_tu_zip(d + "/TOY.zip", "TOY", test::tu_files());
               return "tu:" + d + "/TOY.zip";
             },
             [](const DatasetSpec& s) {
               const auto ds = datasets::load_graph_dataset(s);
               ASSERT_EQ(ds.graphs.size(), 2u);
               EXPECT_EQ(ds.graphs[0].num_nodes, 3);
               EXPECT_EQ(ds.graphs[1].graph_label, 1);
             }};
  w["ogb"] = {[](const std::string& d) {
                test::write_ogb(d + "/ogbg_toy");
                return "ogb:" + d + "/ogbg_toy";
              },
              [](const DatasetSpec& s) {
                const auto ds = datasets::load_graph_dataset(s);
                ASSERT_EQ(ds.graphs.size(), 2u);
                EXPECT_DOUBLE_EQ(ds.graphs[1].graph_targets[0], 1.5);
                EXPECT_EQ(ds.metric, "rmse");
                EXPECT_TRUE(ds.categorical_features);
              }};
  w["linqs"] = {[](const std::string& d) {
                  test::write_linqs(d + "/toy", "toy");
                  return "linqs:" + d + "/toy";
                },
                [](const DatasetSpec& s) {
                  const auto ds = datasets::load_graph_dataset(s);
                  ASSERT_EQ(ds.graphs.size(), 1u);
                  EXPECT_EQ(ds.graphs[0].num_edges(), 2);
                }};
  w["edgelist"] = {[](const std::string& d) {
                     test::write_text(d + "/e.txt", "# a triangle\n0 1\n1 2\n2 0\n");
                     return "edgelist:" + d + "/e.txt";
                   },
                   [](const DatasetSpec& s) { EXPECT_EQ(datasets::load_graph_dataset(s).graphs[0].num_edges(), 3); }};
  w["csl"] = {[](const std::string&) { return std::string("csl:?per_class=2"); },
              [](const DatasetSpec& s) { expect_graphs(s, 20, "graph_classification"); }};
  w["grid"] = {[](const std::string&) { return std::string("grid:?rows=3&cols=4"); },
               [](const DatasetSpec& s) { EXPECT_EQ(datasets::load_graph_dataset(s).graphs[0].num_edges(), 17); }};
  w["regular"] = {[](const std::string&) { return std::string("regular:?nodes=20&degree=3&graphs=2"); },
                  [](const DatasetSpec& s) { EXPECT_EQ(datasets::load_graph_dataset(s).graphs[1].num_edges(), 30); }};
  w["count"] = {[](const std::string&) { return std::string("count:?graphs=5&nodes=6-8"); },
                [](const DatasetSpec& s) { expect_graphs(s, 5, "graph_regression"); }};
  w["idx"] = {[](const std::string& d) {
                test::write_idx(d + "/mnist", "train", 3, 4, 5);
                return "idx:" + d + "/mnist";
              },
              [](const DatasetSpec& s) {
                const auto set = datasets::load_image_tensors(s);
                ASSERT_EQ(set.images.sizes(), (std::vector<std::int64_t>{3, 4, 5}));
                EXPECT_EQ(set.images[2][1][3].item<int>(), (2 * 7 + 1 * 5 + 3) % 256);
                EXPECT_EQ(set.labels[2].item<std::int64_t>(), 2);
              }};
  w["cifar10"] = {[](const std::string& d) {
                    for (int b = 1; b <= 5; ++b) test::write_text(d + "/data_batch_" + std::to_string(b) + ".bin", test::cifar_record({7}, b));
                    test::write_text(d + "/test_batch.bin", test::cifar_record({2}, 0));
                    return "cifar10:" + d;
                  },
                  [](const DatasetSpec& s) {
                    const auto set = datasets::load_image_tensors(s);
                    ASSERT_EQ(set.images.sizes(), (std::vector<std::int64_t>{5, 32, 32, 3}));
                    EXPECT_EQ(set.labels[4].item<std::int64_t>(), 7);
                  }};
  w["cifar100"] = {[](const std::string& d) {
                     test::write_text(d + "/train.bin", test::cifar_record({3, 42}, 0));
                     return "cifar100:" + d;
                   },
                   [](const DatasetSpec& s) { EXPECT_EQ(datasets::load_image_tensors(s).labels[0].item<std::int64_t>(), 42); }};
  w["imagefolder"] = {[](const std::string& d) {
                        write_jpeg(d + "/cat/1.jpg", 16, 12);
                        write_jpeg(d + "/dog/2.jpg", 16, 12);
                        return "imagefolder:" + d;
                      },
                      [](const DatasetSpec& s) {
                        const auto set = datasets::load_image_dataset(s);
                        ASSERT_EQ(set.records.size(), 2u);
                        EXPECT_EQ(set.classes, (std::vector<std::string>{"cat", "dog"}));
                        EXPECT_EQ(set.records[1].label, 1);
                      }};
  w["voc"] = {[](const std::string& d) {
                write_jpeg(d + "/JPEGImages/a.jpg", 64, 48);
                test::write_text(d + "/ImageSets/Main/train.txt", "a\n");
                test::write_text(d + "/Annotations/a.xml",
                                 "<annotation><size><width>64</width><height>48</height></size><object><name>cat</name>"
                                 "<difficult>0</difficult><bndbox><xmin>3</xmin><ymin>4</ymin><xmax>30</xmax><ymax>40</ymax>"
                                 "</bndbox></object></annotation>");
                return "voc:" + d;
              },
              [](const DatasetSpec& s) {
                const auto set = datasets::load_image_dataset(s);
                ASSERT_EQ(set.records.size(), 1u);
                ASSERT_EQ(set.records[0].boxes.size(), 1u);
                EXPECT_EQ(set.records[0].boxes[0].x2, 30);
                EXPECT_EQ(set.classes[static_cast<std::size_t>(set.records[0].boxes[0].label)], "cat");
              }};
  w["coco"] = {[](const std::string& d) {
                 write_jpeg(d + "/images/1.jpg", 32, 24);
                 test::write_text(d + "/ann.json",
                                  R"({"images": [{"id": 1, "file_name": "1.jpg", "width": 32, "height": 24}],
                                      "annotations": [{"id": 5, "image_id": 1, "category_id": 18, "bbox": [2, 3, 10, 8], "area": 80, "iscrowd": 0}],
                                      "categories": [{"id": 18, "name": "dog"}]})");
                 return "coco:" + d + "/ann.json?images=" + d + "/images";
               },
               [](const DatasetSpec& s) {
                 const auto set = datasets::load_image_dataset(s);
                 ASSERT_EQ(set.records.size(), 1u);
                 ASSERT_EQ(set.records[0].boxes.size(), 1u);
                 EXPECT_EQ(set.records[0].boxes[0].x2, 12);
                 EXPECT_EQ(set.classes[0], "dog");
               }};
  // Head pose: the release layouts with real MATLAB v5 labels (libmatio), and BIWI's text poses.
#ifdef PESUITE_HAVE_MATIO
  w["300wlp"] = {[](const std::string& d) {
                   write_jpeg(d + "/AFW/AFW_1_1_0.jpg", 96, 96);
                   test::write_mat(d + "/AFW/AFW_1_1_0.mat", {test::pose_para(10, -20, 5), test::pt2d(68, 20, 15)});
                   return "300wlp:" + d;
                 },
                 [](const DatasetSpec& s) {
                   const auto set = datasets::load_head_pose_dataset(s);
                   ASSERT_EQ(set.records.size(), 1u);
                   EXPECT_NEAR(set.records[0].pose.yaw, -20, 1e-4);
                   EXPECT_NEAR(set.records[0].pose.pitch, 10, 1e-4);
                   EXPECT_EQ(set.records[0].landmarks.size(), 68u);
                 }};
  w["aflw2000"] = {[](const std::string& d) {
                     write_jpeg(d + "/image00001.jpg", 96, 96);
                     test::write_mat(d + "/image00001.mat", {test::pose_para(-5, 30, 0), test::pt2d(21, 20, 15, {3})});
                     write_jpeg(d + "/image00002.jpg", 96, 96);
                     test::write_mat(d + "/image00002.mat", {test::pose_para(0, 120, 0), test::pt2d(21, 20, 15)});
                     return "aflw2000:" + d;
                   },
                   [](const DatasetSpec& s) {
                     const auto set = datasets::load_head_pose_dataset(s);
                     ASSERT_EQ(set.records.size(), 1u);  // yaw 120 is outside the protocol's [-99, 99]
                     EXPECT_EQ(set.dropped.size(), 1u);
                     EXPECT_NEAR(set.records[0].pose.yaw, 30, 1e-4);
                   }};
#endif
  w["biwi"] = {[](const std::string& d) {
                 // Identity rotation: yaw = pitch = roll = 0 as Hopenet converts it.
                 test::write_text(d + "/01/frame_00001_pose.txt", "1 0 0 \n0 1 0 \n0 0 1 \n\n10 20 900 \n");
                 EXPECT_TRUE(cv::imwrite(d + "/01/frame_00001_rgb.png", cv::Mat(24, 32, CV_8UC3, cv::Scalar(90, 90, 90))));
                 return "biwi:" + d;
               },
               [](const DatasetSpec& s) {
                 const auto set = datasets::load_head_pose_dataset(s);
                 ASSERT_EQ(set.records.size(), 1u);
                 EXPECT_NEAR(set.records[0].pose.yaw, 0, 1e-12);
                 EXPECT_EQ(set.records[0].width, 32);
               }};
  // Generators: the face renderer (reads the sample mesh) and the scenes (a bank the test writes).
  w["facesynth"] = {[](const std::string&) { return std::string("facesynth:?n=3&size=32&seed=4"); },
                    [](const DatasetSpec& s) {
                      const auto mesh = test::sample_data("face-mesh");
                      PESUITE_SKIP_WITHOUT_SAMPLE(mesh, "face-mesh/");
                      const auto synth = s.info().make_faces(s);
                      const auto a = synth.sample(2);
                      EXPECT_EQ(a.image.width, 32);
                      EXPECT_EQ(synth.sample(2).image.pixels, a.image.pixels);  // same seed, same image
                    }};
  w["scenes"] = {[](const std::string& d) {
                   datasets::save_scene_bank(d + "/bank.safetensors", test::synthetic_bank());
                   return "scenes:?n=4&size=32&bank=" + d + "/bank.safetensors";
                 },
                 [](const DatasetSpec& s) {
                   const auto set = s.info().make_scenes(s);
                   ASSERT_EQ(set.images.sizes(), (std::vector<std::int64_t>{4, 32, 32, 3}));
                   EXPECT_EQ(set.captions.size(), 4u);
                   const auto view = datasets::load_image_tensors(s);  // the multi-label classification view
                   EXPECT_EQ(view.labels.sizes(), set.targets.sizes());
                 }};
  return w;
}

}  // namespace

TEST(Formats, EveryFormatRoundTrips) {
  const auto writers = format_writers();
  for (const auto& f : datasets::formats()) {
    SCOPED_TRACE(f.name);
    const auto it = writers.find(f.name);
    ASSERT_NE(it, writers.end()) << "format '" << f.name << "' has no round-trip case in tests/datasets/test_formats.cpp";
    ASSERT_TRUE(f.load_graphs || f.load_records || f.load_images || f.load_head_pose || f.make_faces || f.make_scenes)
        << "a row without a loader";
    TempDir dir;
    const auto spec = datasets::parse_spec(it->second.write(dir.str()));
    EXPECT_EQ(spec.format, f.name);
    it->second.check(spec);
    if (f.make_faces && test::sample_data("face-mesh").empty()) {  // the renderer needs the sample mesh
      if (test::ci_requires_samples()) ADD_FAILURE() << "sample face-mesh/ is missing under CI";
      std::cout << "[ NOTE ] " << f.name << ": data inspect not checked (sample face-mesh/ not found)\n";
      continue;
    }
    // `data inspect` reads it through the same row.
    const auto summary = datasets::inspect(spec, {});
    EXPECT_EQ(summary.at("format"), f.name);
    if (!f.inspect) EXPECT_TRUE(summary.contains(f.load_graphs ? "graphs" : "images")) << summary.dump();
  }
  for (const auto& [name, w] : writers) EXPECT_NO_THROW(datasets::format(name)) << name << " has a case but no row";
}

TEST(Formats, SpecKeysAreTypedByTheRow) {
  auto error_of = [](const std::string& text) {
    try {
      datasets::parse_spec(text);
    } catch (const core::InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error_of("idx:/x?split=val").find("key 'split' must be one of train, test"), std::string::npos);
  EXPECT_NE(error_of("csl:?seed=zero").find("key 'seed' must be an integer"), std::string::npos);
  EXPECT_NE(error_of("grid:?rows=0").find("key 'rows' must be >= 1"), std::string::npos);
  EXPECT_NE(error_of("voc:/x?difficult=maybe").find("true or false"), std::string::npos);
  EXPECT_NE(error_of("voc:/x?colour=red").find("unknown key 'colour' for format 'voc'"), std::string::npos);
  EXPECT_NE(error_of("bogus:/x").find("dataset format 'bogus' is unknown"), std::string::npos);
  EXPECT_EQ(datasets::parse_spec("idx:/x?limit=").get("limit"), "");  // an optional key left empty
}
