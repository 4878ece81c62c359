// Training and evaluation on image files streamed through pesuite::imageio (voc:, coco:,
// imagefolder:), on datasets this test writes in the real formats (JPEGs by OpenCV, VOC XML, COCO
// JSON): image-level targets with VOC's "difficult", finite metrics in [0, 1], per-class AP, bitwise
// resume from the middle of an epoch, batches independent of the decode thread count, and the bad
// inputs (metric asked of the wrong kind of data, a corrupt or missing JPEG).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "pesuite/datasets/image_record.h"
#include "pesuite/vision/classifier_training.h"
#include "pesuite/vision/image_stream.h"
#include "pesuite/core/atomic_file.h"
#include "pesuite/core/error.h"
#include "checkpoint_compare.h"
#include "test_util.h"

using namespace pesuite;
using namespace pesuite::vision;
using pesuite::test::run_cli;
using pesuite::test::TempDir;
namespace fs = std::filesystem;

namespace {

const char* kColours[] = {"blue", "green", "red"};  // sorted: the class order voc: gives them

// Image i shows the classes of the bits of (i % 7 + 1) as filled rectangles of their colour (BGR).
std::vector<int> classes_of(int i) {
  std::vector<int> out;
  for (int c = 0; c < 3; ++c)
    if ((i % 7 + 1) >> c & 1) out.push_back(c);
  return out;
}

void write_jpeg(const std::string& path, int i) {
  cv::Mat img(40, 48, CV_8UC3, cv::Scalar(90, 90, 90));
  const cv::Scalar bgr[] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}};
  for (int c : classes_of(i)) cv::rectangle(img, cv::Rect(4 + 14 * c, 6 + (i % 3) * 4, 12, 20), bgr[c], cv::FILLED);
  fs::create_directories(fs::path(path).parent_path());
  ASSERT_TRUE(cv::imwrite(path, img));
}

// VOC tree: train = img0..img{n_train-1}, val = the next n_val. Extra objects marked difficult:
// image 1 a red one (red becomes "ignore"), image 2 a blue one and image 3 a red one (both classes
// present anyway: no change), image 4 a green one (green becomes "ignore").
void write_voc(const std::string& root, int n_train, int n_val) {
  std::string train, val;
  for (int i = 0; i < n_train + n_val; ++i) {
    const std::string id = "img" + std::to_string(i);
    write_jpeg(root + "/JPEGImages/" + id + ".jpg", i);
    std::string objects;
    auto object = [&](int c, int difficult) {
      objects += std::string("<object><name>") + kColours[c] + "</name><difficult>" + std::to_string(difficult) +
                 "</difficult><bndbox><xmin>" + std::to_string(5 + 14 * c) + "</xmin><ymin>7</ymin><xmax>" +
                 std::to_string(16 + 14 * c) + "</xmax><ymax>30</ymax></bndbox></object>";
    };
    if (i == 2) object(0, 1);  // before the plain object: the order must not matter
    for (int c : classes_of(i)) object(c, 0);
    if (i == 1) object(2, 1);
    if (i == 3) object(2, 1);
    if (i == 4) object(1, 1);
    pesuite::core::write_file_atomic(root + "/Annotations/" + id + ".xml",
                      "<annotation><filename>" + id + ".jpg</filename><size><width>48</width><height>40</height><depth>3</depth></size>" +
                          objects + "</annotation>");
    (i < n_train ? train : val) += id + "\n";
  }
  pesuite::core::write_file_atomic(root + "/ImageSets/Main/train.txt", train);
  pesuite::core::write_file_atomic(root + "/ImageSets/Main/val.txt", val);
}

// COCO instances JSON + images/ for images 0..n-1, categories with non-contiguous ids.
void write_coco(const std::string& root, int n) {
  nlohmann::json j{{"images", nlohmann::json::array()}, {"annotations", nlohmann::json::array()}, {"categories", nlohmann::json::array()}};
  const int ids[] = {1, 5, 9};
  for (int c = 0; c < 3; ++c) j["categories"].push_back({{"id", ids[c]}, {"name", kColours[c]}});
  int ann = 1;
  for (int i = 0; i < n; ++i) {
    const std::string file = "im" + std::to_string(i) + ".jpg";
    write_jpeg(root + "/images/" + file, i);
    j["images"].push_back({{"id", 100 + i}, {"file_name", file}, {"width", 48}, {"height", 40}});
    for (int c : classes_of(i))
      j["annotations"].push_back({{"id", ann++}, {"image_id", 100 + i}, {"category_id", ids[c]}, {"bbox", {4 + 14 * c, 6, 12, 20}},
                                  {"area", 240}, {"iscrowd", 0}});
  }
  pesuite::core::write_file_atomic(root + "/instances.json", j.dump());
}

// ImageFolder: <root>/<split>/<class>/*.jpg, class = the single colour shown.
void write_imagefolder(const std::string& root, const std::string& split, int n) {
  for (int i = 0; i < n; ++i) {
    const int c = i % 3;
    write_jpeg(root + "/" + split + "/" + kColours[c] + "/" + std::to_string(i) + ".jpg", (1 << c) - 1);
  }
}

// A tiny ViT on 32 px crops, 2 epochs of batches of 8.
pesuite::core::Config tiny_config(const std::string& train, const std::string& test) {
  pesuite::core::Config cfg = image_classification_defaults();
  for (const std::string s :
       {"model.name=vit_tiny_patch4_32", "model.img_size=32", "model.patch_size=8", "model.dim=32", "model.depth=1",
        "model.heads=2", "model.pe=peg", "device=cpu", "train.batch_size=8", "train.epochs=2", "train.log_every=1",
        "train.crop_scale=[0.5, 1.0]", "train.color_jitter=0.2", "data.workers=2", "eval.sizes=[32, 48]", "eval.batch_size=5"})
    cfg.apply_set(s);
  cfg.apply_set("data.train=" + train);
  cfg.apply_set("data.test=" + test);
  return cfg;
}

void expect_unit(double v, const std::string& what) {
  EXPECT_TRUE(std::isfinite(v) && v >= 0 && v <= 1) << what << " = " << v;
}

}  // namespace

TEST(ImageTraining, VocTargetsMarkDifficultOnlyClassesIgnored) {
  TempDir dir;
  write_voc(dir / "voc", 6, 0);
  auto set = datasets::load_voc(datasets::parse_spec("voc:" + dir.str() + "/voc?split=train"));
  ASSERT_EQ(set.classes, (std::vector<std::string>{"blue", "green", "red"}));
  // Rows: img0 {blue}, img1 {green} + difficult red, img2 {blue, green} + difficult blue,
  // img3 {red} + difficult red, img4 {blue, red} + difficult green, img5 {green, red}.
  auto expected = torch::tensor({1.f, 0.f, 0.f, 0.f, 1.f, -1.f, 1.f, 1.f, 0.f, 0.f, 0.f, 1.f, 1.f, -1.f, 1.f, 0.f, 1.f, 1.f}).view({6, 3});
  EXPECT_TRUE(torch::equal(image_level_targets(set), expected)) << image_level_targets(set);
}

// Batch k of an epoch is the same with 1 or 2 decode threads, and when the stream starts at k (as a
// resumed run does) rather than running through batches 0..k-1.
TEST(ImageTraining, StreamedBatchesAreAFunctionOfSeedEpochAndIndex) {
  TempDir dir;
  write_voc(dir / "voc", 20, 0);
  ImageDataOptions o;
  o.img_size = 32;
  o.seed = 3;
  o.color_jitter = 0.3;
  o.workers = 1;
  auto a = open_image_data("voc:" + dir.str() + "/voc?split=train", ImageRole::Train, o);
  o.workers = 2;
  o.prefetch = 1;
  auto b = open_image_data("voc:" + dir.str() + "/voc?split=train", ImageRole::Train, o);
  EXPECT_TRUE(a->streamed && a->multi_label);
  EXPECT_EQ(a->size, 20);
  std::vector<ImageBatch> seq;
  for (int k = 0; k < 3; ++k) seq.push_back(a->train_batch(1, k, 3 + k, 6));
  auto late = b->train_batch(1, 2, 5, 6);  // straight to batch 2 of epoch 1
  EXPECT_TRUE(torch::equal(seq[2].images, late.images));
  EXPECT_TRUE(torch::equal(seq[2].targets, late.targets));
  EXPECT_EQ(late.images.sizes(), (std::vector<int64_t>{6, 3, 32, 32}));
  EXPECT_TRUE(torch::equal(b->train_batch(1, 0, 3, 6).images, seq[0].images));  // back to the start: repositions
  EXPECT_FALSE(torch::equal(a->train_batch(2, 0, 6, 6).images, seq[0].images));  // another epoch, another batch
}

TEST(ImageTraining, VocTrainsEvaluatesAndResumesBitwise) {
  TempDir dir;
  write_voc(dir / "voc", 24, 10);
  const std::string voc = "voc:" + dir.str() + "/voc";
  pesuite::core::Config cfg = tiny_config(voc + "?split=train", voc + "?split=val");
  cfg.apply_set("train.checkpoint_every=2");
  auto full = run_image_classification(cfg, dir / "runs");
  ASSERT_TRUE(full.finished);
  EXPECT_EQ(full.steps, 6);
  EXPECT_EQ(full.metric, "mAP");
  ASSERT_EQ(full.metrics_at_size.size(), 2u);
  for (const auto& [s, m] : full.metrics_at_size) {
    expect_unit(m.map, "mAP@" + std::to_string(s));
    EXPECT_TRUE(std::isnan(m.top1));
    ASSERT_EQ(m.per_class_ap.size(), 3u);
    for (double ap : m.per_class_ap) expect_unit(ap, "AP");
  }
  const auto csv = pesuite::core::read_file(full.run_path + "/per_class_ap.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "class,ap@32,ap@48");
  EXPECT_NE(csv.find("\ngreen,"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\nmAP,"), std::string::npos) << csv;

  // Stopped in the middle of epoch 2 (step 4 of 3 per epoch), resumed: the same weights, bit for bit.
  pesuite::core::Config part_cfg = cfg;
  part_cfg.apply_set("train.stop_after_steps=4");
  auto part = run_image_classification(part_cfg, dir / "runs");
  ASSERT_FALSE(part.finished);
  pesuite::core::Config rest_cfg = resume_config(part.run_path);
  rest_cfg.apply_set("train.stop_after_steps=0");
  auto rest = run_image_classification(rest_cfg, dir / "runs", part.run_path);
  ASSERT_TRUE(rest.finished);
  EXPECT_GT(test::expect_same_checkpoint_state(full.checkpoint, rest.checkpoint), 10);
  EXPECT_EQ(rest.accuracy_at_size, full.accuracy_at_size);

  // Evaluating the checkpoint repeats the run's test.
  auto e = evaluate_checkpoint(checkpoint_config(full.checkpoint), full.checkpoint, {32});
  EXPECT_EQ(e.metric, "mAP");
  EXPECT_EQ(e.metrics_at_size.at(32).map, full.metrics_at_size.at(32).map);
  EXPECT_EQ(e.class_names, (std::vector<std::string>{"blue", "green", "red"}));
}

TEST(ImageTraining, CocoAndImagefolderTrain) {
  TempDir dir;
  write_coco(dir / "coco", 12);
  const std::string coco = "coco:" + dir.str() + "/coco/instances.json?images=" + dir.str() + "/coco/images";
  pesuite::core::Config cfg = tiny_config(coco, coco);
  cfg.apply_set("train.epochs=1");
  auto r = run_image_classification(cfg, dir / "runs");
  EXPECT_EQ(r.metric, "mAP");
  EXPECT_EQ(r.steps, 1);
  expect_unit(r.accuracy_at_size.at(32), "coco mAP");

  write_imagefolder(dir / "folder", "train", 18);
  write_imagefolder(dir / "folder", "val", 6);
  const std::string folder = "imagefolder:" + dir.str() + "/folder";
  cfg = tiny_config(folder + "?split=train", folder + "?split=val");
  cfg.apply_set("train.epochs=1");
  r = run_image_classification(cfg, dir / "runs");
  EXPECT_EQ(r.metric, "top1");
  EXPECT_EQ(r.steps, 2);
  for (const auto& [s, m] : r.metrics_at_size) {
    expect_unit(m.top1, "top1");
    EXPECT_NEAR(m.top1 * 6, std::round(m.top1 * 6), 1e-9) << "top1 over the 6 val images: " << m.top1;
    // 3 classes, top-5: k is clamped to the class count (torch::topk would throw for k > 3), so
    // every label is found.
    EXPECT_EQ(m.top5, 1.0);
    EXPECT_TRUE(std::isnan(m.map));
  }
}

TEST(ImageTraining, MetricOfTheWrongKindIsAnErrorBeforeTraining) {
  TempDir dir;
  write_imagefolder(dir / "folder", "train", 6);
  write_voc(dir / "voc", 6, 3);
  const std::string folder = "imagefolder:" + dir.str() + "/folder?split=train", voc = "voc:" + dir.str() + "/voc";
  auto expect_error = [&](pesuite::core::Config cfg, const std::string& piece) {
    try {
      run_image_classification(cfg, dir / "runs");
      ADD_FAILURE() << "no error; expected one with '" << piece << "'";
    } catch (const pesuite::core::InputError& e) {
      EXPECT_NE(std::string(e.what()).find(piece), std::string::npos) << e.what();
    }
  };
  pesuite::core::Config cfg = tiny_config(folder, folder);
  cfg.apply_set("eval.metric=mAP");
  expect_error(cfg, "'mAP' needs multi-label data");
  cfg = tiny_config(voc + "?split=train", voc + "?split=val");
  cfg.apply_set("eval.metric=top1");
  expect_error(cfg, "is multi-label");
  cfg = tiny_config(voc + "?split=train", voc + "?split=val");
  cfg.apply_set("train.loss=ce");
  expect_error(cfg, "'ce' needs single-label data");
  expect_error(tiny_config(voc + "?split=train", folder), "is multi-label but data.test");
  EXPECT_FALSE(fs::exists(dir / "runs"));  // nothing was started
}

// A corrupt JPEG stops training with exit 2 and the file's name, or with data.skip_bad is left out
// and counted; a missing one is found before the run starts.
TEST(ImageTraining, BadJpegExit2NamingTheFileOrSkipped) {
  TempDir dir;
  write_voc(dir / "voc", 16, 4);
  const std::string bad = dir / "voc/JPEGImages/img5.jpg";
  const auto bytes = pesuite::core::read_file(bad);
  pesuite::core::write_file_atomic(bad, bytes.substr(0, bytes.size() / 2));  // cut short: no end-of-image marker
  const std::string args = " --runs " + dir.str() + "/runs --set 'data.train=voc:" + dir.str() + "/voc?split=train'" +
                           " --set 'data.test=voc:" + dir.str() + "/voc?split=val' --set model.name=vit_tiny_patch4_32" +
                           " --set model.img_size=32 --set model.patch_size=8 --set model.dim=32 --set model.depth=1" +
                           " --set model.heads=2 --set train.batch_size=8 --set train.epochs=1 --set 'eval.sizes=[32]' --set device=cpu";
  auto r = run_cli("vision train" + args);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find(bad), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("error: "), std::string::npos) << r.err;

  r = run_cli("vision train --json --set data.skip_bad=true" + args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["skipped_images"], 1);
  expect_unit(j["test_map@32"].get<double>(), "mAP");
  EXPECT_NE(pesuite::core::read_file(j["run"].get<std::string>() + "/log.txt").find("img5.jpg"), std::string::npos);

  fs::remove(bad);
  fs::remove_all(dir / "runs");
  r = run_cli("vision train" + args);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find(bad + ": missing"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "runs"));
}

// The shipped BCCD config (voc: through the streaming loader, ${data} = data.root) for a few steps.
TEST(ImageTraining, VocBccdConfigRunsAFewSteps) {
  const std::string bccd = pesuite::test::sample_data("voc-bccd");
  PESUITE_SKIP_WITHOUT_SAMPLE(bccd, "voc-bccd/");
  TempDir dir;
  const std::string config = std::string(PESUITE_SOURCE_DIR) + "/experiments/configs/vision/voc-bccd-vit+peg.toml";
  auto r = run_cli("vision train --json --config " + config + " --runs " + dir.str() + "/runs --set data.root=" +
                   fs::path(bccd).parent_path().string() + " --set data.train_limit=32 --set data.test_limit=20" +
                   " --set train.batch_size=16 --set train.epochs=1 --set 'eval.sizes=[64]' --set device=cpu");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.value("finished", false)) << j.dump();
  EXPECT_EQ(j["steps"], 2);
  const double map = j["test_map@64"].get<double>();
  EXPECT_TRUE(map >= 0 && map <= 1) << map;
  EXPECT_EQ(j["test_ap@64"].size(), 3u);
  EXPECT_TRUE(j["test_ap@64"].contains("Platelets")) << j.dump();
  EXPECT_TRUE(fs::exists(j["run"].get<std::string>() + "/per_class_ap.csv"));
  r = run_cli("vision eval --json --ckpt " + j["run"].get<std::string>() + "/ckpt/last.safetensors");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["test_map@64"], j["test_map@64"]);
}
