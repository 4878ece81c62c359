// `pesuite data inspect` on scenes: and the head-pose formats: the summary's counts and class list,
// the --sheet contact sheet (its PNG size), and the bad inputs (no openclipart-png: exit 2 naming
// the Debian package; --sheet on a format that draws none).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "pesuite/core/atomic_file.h"
#include "test_util.h"

using pesuite::test::run_cli;
using pesuite::test::TempDir;
namespace fs = std::filesystem;

namespace {

// Width and height from a PNG's IHDR.
std::pair<int, int> png_size(const std::string& path) {
  const std::string b = pesuite::core::read_file(path);
  EXPECT_GE(b.size(), 24u);
  EXPECT_EQ(b.compare(1, 3, "PNG"), 0);
  auto be32 = [&](std::size_t at) {
    return (static_cast<unsigned char>(b[at]) << 24) | (static_cast<unsigned char>(b[at + 1]) << 16) |
           (static_cast<unsigned char>(b[at + 2]) << 8) | static_cast<unsigned char>(b[at + 3]);
  };
  return {static_cast<int>(be32(16)), static_cast<int>(be32(20))};
}

const char* kClipart = "/usr/share/openclipart/png";

// Contact sheets are drawn with OpenCV; a CLI built without it refuses --sheet (exit 2).
bool cli_has_opencv() { return run_cli("version").out.find("opencv yes") != std::string::npos; }

}  // namespace

TEST(CliScenes, NoClipartExit2NamingThePackage) {
  TempDir dir;
  // An empty cache: no bank built elsewhere with these settings to fall back on.
  ::setenv("PESUITE_CACHE", (dir / "cache").c_str(), 1);
  auto r = run_cli("data inspect 'scenes:?n=2&clipart=" + dir / "none" + "'");
  ::unsetenv("PESUITE_CACHE");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("openclipart-png"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(dir / "none"), std::string::npos) << r.err;
}

TEST(CliScenes, InspectCountsClassesAndSheet) {
  if (!fs::is_directory(kClipart)) GTEST_SKIP() << kClipart << " absent (Debian package openclipart-png not installed)";
  TempDir dir;
  ::setenv("PESUITE_CACHE", (dir / "cache").c_str(), 1);  // the bank is built here, from the clip-art
  const std::string spec = "'scenes:?n=10&size=48&categories=animals/mammals/bears,food/fruit&per_class=8&photos=none'";
  auto r = run_cli("data inspect " + spec + " --json --sheet " + dir / "sheet.png");
  ::unsetenv("PESUITE_CACHE");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["scenes"], 10);
  EXPECT_EQ(j["num_classes"], 2);
  ASSERT_EQ(j["classes"].size(), 2u);
  EXPECT_EQ(j["classes"][0]["name"], "bear");
  EXPECT_EQ(j["classes"][1]["name"], "fruit");
  std::int64_t objects = 0;
  for (const auto& c : j["classes"]) {
    objects += c["objects"].get<std::int64_t>();
    EXPECT_LE(c["scenes"].get<std::int64_t>(), 10);
  }
  EXPECT_EQ(objects, j["objects"].get<std::int64_t>());
  EXPECT_EQ(j["sheet"], dir / "sheet.png");
  // 8 columns of 192 px cells, 4 px gaps, 16 px caption rows: 2 rows for 10 scenes.
  EXPECT_EQ(png_size(dir / "sheet.png"), std::make_pair(4 + 8 * (192 + 4), 4 + 2 * (192 + 16 + 4)));
  // Fewer tiles on request.
  ::setenv("PESUITE_CACHE", (dir / "cache").c_str(), 1);
  r = run_cli("data inspect " + spec + " --sheet " + dir / "three.png --sheet-count 3");
  ::unsetenv("PESUITE_CACHE");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(png_size(dir / "three.png"), std::make_pair(4 + 3 * (192 + 4), 4 + 192 + 16 + 4));
}

TEST(CliScenes, SheetsOfHeadPoseFormats) {
  TempDir dir;
  const std::string mesh = pesuite::test::sample_data("face-mesh");
  PESUITE_SKIP_WITHOUT_SAMPLE(mesh, "face-mesh");
  auto r = run_cli("data inspect 'facesynth:?n=5&size=64&mesh=" + mesh + "' --sheet " + dir / "faces.png");
  if (!cli_has_opencv()) {
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("contact sheets need a build with OpenCV"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(dir / "faces.png"));
    return;
  }
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(png_size(dir / "faces.png"), std::make_pair(5 * 64, 64));
  const std::string aflw = pesuite::test::sample_data("aflw2000-sample");
  PESUITE_SKIP_WITHOUT_SAMPLE(aflw, "aflw2000-sample");
  r = run_cli("data inspect 'aflw2000:" + aflw + "' --json --sheet " + dir / "aflw.png");
  if (r.exit_code == 2 && r.err.find("libmatio") != std::string::npos) GTEST_SKIP() << "built without libmatio: " << r.err;
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const int n = nlohmann::json::parse(r.out)["images"];
  ASSERT_GT(n, 0);
  const int cols = std::min(n, 8);
  EXPECT_EQ(png_size(dir / "aflw.png"), std::make_pair(cols * 192, (n + cols - 1) / cols * 192));
}

TEST(CliScenes, SheetOfAFormatThatDrawsNoneExit2) {
  TempDir dir;
  auto r = run_cli("data inspect 'csl:?seed=0' --sheet " + dir / "x.png");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find(cli_has_opencv() ? "no contact sheet for format 'csl'" : "contact sheets need a build with OpenCV"),
            std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "x.png"));
}
