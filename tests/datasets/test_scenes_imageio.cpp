// The scenes: bank builder and contact sheet (pesuite::imageio, OpenCV): a clip-art folder of RGBA
// PNGs written here, the bank cache, the sheet PNG, and the real openclipart-png when installed
// (skipped with the reason when it is not). DISABLED_RenderRate prints the render rate:
//   build/tests/datasets/test_scenes_imageio --gtest_also_run_disabled_tests --gtest_filter='*RenderRate*'
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <ctime>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "pesuite/datasets/formats.h"
#include "pesuite/datasets/scenes.h"
#include "pesuite/core/error.h"
#include "pesuite/imageio/scene_bank_builder.h"
#include "pesuite/imageio/scene_sheet.h"
#include "scene_test_bank.h"
#include "test_util.h"

using namespace pesuite;
using pesuite::test::TempDir;
namespace fs = std::filesystem;

namespace {

// A filled disc of `bgr` on a transparent background (transparent pixels black, as many
// clip-art files have them), size x size pixels, hard-edged: every visible pixel is the colour.
void write_disc(const std::string& path, int size, cv::Scalar bgr) {
  fs::create_directories(fs::path(path).parent_path());
  cv::Mat img(size, size, CV_8UC4, cv::Scalar(0, 0, 0, 0));
  cv::circle(img, cv::Point(size / 2, size / 2), size / 3, cv::Scalar(bgr[0], bgr[1], bgr[2], 255), cv::FILLED, cv::LINE_8);
  ASSERT_TRUE(cv::imwrite(path, img));
}

// things/apples (red discs, 11 drawings + one opaque picture) and things/pears (green discs).
std::string make_clipart(const TempDir& dir) {
  const std::string root = dir / "clipart";
  for (int k = 0; k < 11; ++k) write_disc(root + "/things/apples/apple" + std::string(1, static_cast<char>('a' + k)) + ".png", 60 + 25 * k, {30, 30, 220});
  for (int k = 0; k < 9; ++k) write_disc(root + "/things/pears/pear" + std::string(1, static_cast<char>('a' + k)) + ".png", 50 + 10 * k, {40, 160, 30});
  EXPECT_TRUE(cv::imwrite(root + "/things/apples/picture.png", cv::Mat(40, 40, CV_8UC3, cv::Scalar(1, 2, 3))));
  return root;
}

std::string spec_for(const std::string& root, const std::string& extra = "") {
  return "scenes:?clipart=" + root + "&categories=things/*&per_class=20&object_px=64&photos=none" + extra;
}

}  // namespace

TEST(SceneBankBuilder, CutsOutShrinksAndKeepsStraightColour) {
  TempDir dir;
  const std::string root = make_clipart(dir);
  fs::create_directories(dir / "photos");
  ASSERT_TRUE(cv::imwrite(dir / "photos/wide.png", cv::Mat(300, 900, CV_8UC3, cv::Scalar(10, 200, 90))));
  datasets::SceneBankOptions o;
  o.clipart = root;
  o.categories = {"things/*"};
  o.per_class = 20;
  o.object_px = 64;
  o.photos = dir / "photos";
  const auto bank = imageio::build_scene_bank(o, 2);
  EXPECT_EQ(bank.classes, (std::vector<std::string>{"things/apples", "things/pears"}));
  EXPECT_EQ(bank.singular, (std::vector<std::string>{"apple", "pear"}));
  EXPECT_EQ(bank.class_images, (std::vector<std::int64_t>{12, 9}));
  EXPECT_EQ(bank.num_objects(), 11 + 9);  // the opaque picture is left out ...
  EXPECT_NE(bank.info.at("skipped").find("picture.png"), std::string::npos);  // ... and listed
  for (std::int64_t m = 0; m < bank.num_objects(); ++m) {
    const auto& t = bank.objects[static_cast<std::size_t>(m)];
    EXPECT_LE(std::max(t.size(0), t.size(1)), 64);
    // Cropped to the disc: the first and last rows hold visible pixels.
    EXPECT_GT(t.select(0, 0).select(1, 3).max().item<int>(), 0);
    EXPECT_GT(t.select(0, t.size(0) - 1).select(1, 3).max().item<int>(), 0);
    // Straight alpha: even faint edge pixels keep the disc's colour (no dark fringe from the
    // transparent black around it).
    const bool apple = bank.object_class[static_cast<std::size_t>(m)] == 0;
    const auto visible = t.select(2, 3).ge(16);
    const auto red = t.select(2, 0).index({visible}).to(torch::kInt32), green = t.select(2, 1).index({visible}).to(torch::kInt32);
    if (apple) {
      EXPECT_GE(red.min().item<int>(), 205);
      EXPECT_LE(green.max().item<int>(), 45);
    } else {
      EXPECT_GE(green.min().item<int>(), 145);
    }
  }
  // Both sides of the split, whole drawings.
  std::int64_t tests = 0;
  for (auto t : bank.object_test) tests += t;
  EXPECT_GE(tests, 4);
  EXPECT_LE(tests, 7);
  // The photo: 2:1 at most, shorter side 256.
  ASSERT_EQ(bank.photos.size(), 1u);
  EXPECT_EQ(bank.photos[0].size(0), 256);
  EXPECT_EQ(bank.photos[0].size(1), 512);
  EXPECT_EQ(bank.photos[0][0][0][1].item<int>(), 200);  // RGB order
  // The same input gives the same bank whatever the thread count.
  const auto again = imageio::build_scene_bank(o, 1);
  ASSERT_EQ(again.num_objects(), bank.num_objects());
  for (std::size_t i = 0; i < bank.objects.size(); ++i) EXPECT_TRUE(torch::equal(again.objects[i], bank.objects[i]));
  // Scenes of it caption the colours.
  datasets::SceneGenerator g(std::make_shared<const datasets::SceneBank>(bank), datasets::SceneOptions{}, "test");
  EXPECT_EQ(g.object_colours()[0], "red");
  EXPECT_EQ(g.object_colours()[static_cast<std::size_t>(bank.num_objects() - 1)], "green");
}

TEST(SceneBankBuilder, EnsureBuildsOnceIntoTheCacheOrTheGivenFile) {
  TempDir dir;
  const std::string root = make_clipart(dir);
  ::setenv("PESUITE_CACHE", (dir / "cache").c_str(), 1);
  const auto spec = datasets::parse_spec(spec_for(root, "&n=6&size=32"));
  // Before building, the torch-only side says how to get a bank.
  try {
    datasets::generate_scenes(spec);
    ADD_FAILURE() << "no pesuite::core::InputError";
  } catch (const pesuite::core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("not built yet"), std::string::npos) << e.what();
  }
  const std::string path = imageio::ensure_scene_bank(spec);
  EXPECT_EQ(path.rfind(dir / "cache/scenes/bank-", 0), 0u) << path;
  const auto built = fs::last_write_time(path);
  EXPECT_EQ(imageio::ensure_scene_bank(spec), path);  // cached: not rebuilt
  EXPECT_EQ(fs::last_write_time(path), built);
  const auto set = datasets::generate_scenes(spec, 1);
  EXPECT_EQ(set.images.size(0), 6);
  EXPECT_EQ(set.classes, (std::vector<std::string>{"apple", "pear"}));
  // Other bank settings, another cache entry.
  EXPECT_NE(imageio::ensure_scene_bank(datasets::parse_spec(spec_for(root, "&object_px=32"))), path);
  // bank=FILE that does not exist yet is built there.
  const auto given = datasets::parse_spec(spec_for(root, "&bank=" + (dir / "mine/bank.safetensors")));
  EXPECT_EQ(imageio::ensure_scene_bank(given), dir / "mine/bank.safetensors");
  EXPECT_EQ(datasets::load_scene_bank(dir / "mine/bank.safetensors").num_objects(), 20);
  ::unsetenv("PESUITE_CACHE");
}

TEST(SceneSheet, WritesAGridWithBoxes) {
  TempDir dir;
  datasets::SceneGenerator g(test::synthetic_bank_ptr(), datasets::SceneOptions::from_spec(datasets::parse_spec("scenes:?n=10&size=64")),
                             "test");
  const auto set = datasets::generate_scenes(g, "scenes:?n=10&size=64", 1);
  imageio::SceneSheetOptions o;
  o.columns = 4;
  o.cell = 128;
  imageio::write_scene_sheet(dir / "sheet.png", set, o);
  const cv::Mat back = cv::imread(dir / "sheet.png", cv::IMREAD_COLOR);
  ASSERT_FALSE(back.empty());
  EXPECT_EQ(back.cols, 4 + 4 * (128 + 4));
  EXPECT_EQ(back.rows, 4 + 3 * (128 + 16 + 4));
  // The last object of the first scene (drawn last) has its box in its class colour: both lower
  // corners of the rectangle are that colour.
  const auto& last = set.objects[0].back();
  ASSERT_GT(last.visible_pixels, 0);
  const int y2 = 4 + static_cast<int>(last.box.y2 * 2) - 1;
  const cv::Vec3b left = back.at<cv::Vec3b>(y2, 4 + static_cast<int>(last.box.x1 * 2));
  const cv::Vec3b right = back.at<cv::Vec3b>(y2, 4 + static_cast<int>(last.box.x2 * 2) - 1);
  EXPECT_EQ(left, right);
  EXPECT_GT(std::max({left[0], left[1], left[2]}), 100);
  try {
    fs::create_directories(dir / "taken/sheet.png");  // a folder where the file should go
    imageio::write_scene_sheet(dir / "taken/sheet.png", set, o);
    ADD_FAILURE() << "no pesuite::core::InputError";
  } catch (const pesuite::core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("sheet.png"), std::string::npos);
  }
}

namespace {
const char* kClipart = "/usr/share/openclipart/png";
}

TEST(SceneBankBuilder, RealOpenclipart) {
  if (!fs::is_directory(kClipart)) GTEST_SKIP() << kClipart << " absent (Debian package openclipart-png not installed)";
  TempDir dir;
  datasets::SceneBankOptions o;  // the defaults of the scenes: format
  const auto t0 = std::chrono::steady_clock::now();
  const auto bank = imageio::build_scene_bank(o);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  datasets::save_scene_bank(dir / "bank.safetensors", bank);
  const double mib = static_cast<double>(fs::file_size(dir / "bank.safetensors")) / (1024.0 * 1024.0);
  std::printf("    openclipart bank: %lld classes, %lld cut-outs, %zu photos, %zu skipped, %.1f MiB, built in %.1f s\n",
              static_cast<long long>(bank.num_classes()), static_cast<long long>(bank.num_objects()), bank.photos.size(),
              nlohmann::json::parse(bank.info.at("skipped")).size(), mib, seconds);
  for (const auto& why : nlohmann::json::parse(bank.info.at("skipped"))) std::printf("      skipped %s\n", why.get<std::string>().c_str());
  EXPECT_GE(bank.num_classes(), 25);
  EXPECT_LT(mib, 40.0);
  EXPECT_NE(std::find(bank.singular.begin(), bank.singular.end(), "bear"), bank.singular.end());
  for (const auto& t : bank.objects) EXPECT_LE(std::max(t.size(0), t.size(1)), 96);
  const auto spec = datasets::parse_spec("scenes:?n=16&size=64&holdout=5&bank=" + (dir / "bank.safetensors"));
  const auto set = datasets::generate_scenes(spec, 1);
  EXPECT_EQ(set.heldout.size(), 5u);
  std::int64_t objects = 0;
  for (const auto& objs : set.objects) objects += static_cast<std::int64_t>(objs.size());
  EXPECT_GE(objects, 16);
  std::printf("    e.g. \"%s\" / \"%s\"\n", set.captions[0][0].c_str(), set.captions[0][1].c_str());
  if (const char* out = std::getenv("PESUITE_SCENES_SHEET")) imageio::write_scene_sheet(out, set, {});
}

// Render rate of the real bank at 64 and 128 px, 1 and 2 threads (a measurement, not a test).
TEST(SceneBankBuilder, DISABLED_RenderRate) {
  if (!fs::is_directory(kClipart)) GTEST_SKIP() << kClipart << " absent";
  TempDir dir;
  const auto bank = std::make_shared<const datasets::SceneBank>(imageio::build_scene_bank({}));
  torch::set_num_threads(1);
  for (int size : {64, 128})
    for (int threads : {1, 2}) {
      const std::string q = "scenes:?n=400&size=" + std::to_string(size);
      datasets::SceneGenerator g(bank, datasets::SceneOptions::from_spec(datasets::parse_spec(q)), q);
      datasets::generate_scenes(g, q, threads);  // warm-up
      const auto t0 = std::chrono::steady_clock::now();
      const std::clock_t c0 = std::clock();
      const auto set = datasets::generate_scenes(g, q, threads);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const double cpu = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
      std::printf("    %d px, %d thread(s): %.0f scenes/s wall, %.0f scenes per CPU second\n", size, threads, 400 / s, 400 / cpu);
    }
}
