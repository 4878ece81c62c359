// The OpenCV side of head pose (pesuite::imageio): pose axes drawn where the rotation puts them,
// annotated samples, the facesynth contact sheet, and JPEG background photos.
#include <opencv2/imgcodecs.hpp>

#include <filesystem>

#include "pesuite/core/error.h"
#include "pesuite/imageio/head_pose_draw.h"
#include "test_util.h"

using namespace pesuite;
using pesuite::test::TempDir;

namespace {
// Which of B, G, R dominates a pixel (anti-aliased lines are not exactly 255): 0, 1, 2, or -1 for dark.
int dominant(const cv::Mat& img, int row, int col) {
  const cv::Vec3b p = img.at<cv::Vec3b>(row, col);
  for (int c = 0; c < 3; ++c)
    if (p[c] > 150 && p[(c + 1) % 3] < 60 && p[(c + 2) % 3] < 60) return c;
  return p[0] + p[1] + p[2] < 30 ? -1 : 3;
}
}  // namespace

TEST(HeadPoseDraw, AxesFollowTheConvention) {
  // Frontal: x axis to the right (red), -y down (green), z straight at the viewer (blue, a dot).
  cv::Mat img(101, 101, CV_8UC3, cv::Scalar(0, 0, 0));
  imageio::draw_pose_axes(img, {0, 0, 0}, 51, 51, 40);
  EXPECT_EQ(dominant(img, 50, 85), 2);  // BGR red at (x 85, y 50), 0-based: 35 px right of the centre
  EXPECT_EQ(dominant(img, 85, 50), 1);  // green 35 px down
  EXPECT_EQ(dominant(img, 15, 50), -1);  // nothing up
  // Yaw 90: the face looks to the image's left, so the blue z axis points left.
  cv::Mat turned(101, 101, CV_8UC3, cv::Scalar(0, 0, 0));
  imageio::draw_pose_axes(turned, {90, 0, 0}, 51, 51, 40);
  EXPECT_EQ(dominant(turned, 50, 15), 0);
  EXPECT_EQ(dominant(turned, 50, 85), -1);
}

TEST(HeadPoseDraw, ContactSheetAndJpegBackgrounds) {
  const std::string mesh = pesuite::test::sample_data("face-mesh");
  if (mesh.empty()) GTEST_SKIP() << "../shared/data/face-mesh absent (set PESUITE_TEST_DATA)";
  TempDir dir;
  std::filesystem::create_directories(dir / "photos");
  cv::Mat photo(60, 90, CV_8UC3, cv::Scalar(10, 200, 30));  // BGR: green
  ASSERT_TRUE(cv::imwrite(dir / "photos/p.jpg", photo));
  const auto spec = datasets::parse_spec("facesynth:?n=10&size=48&photo_p=1&backgrounds=" + (dir / "photos") + "&mesh=" + mesh);
  const auto synth = imageio::make_facesynth(spec);
  ASSERT_TRUE(synth.options().photos);
  EXPECT_EQ(synth.options().photos->size(), 1u);
  // Every sample has the photo behind it: the top-left pixel is green-dominated.
  const auto s = synth.sample(0);
  EXPECT_EQ(s.params.background, 4);
  EXPECT_GT(s.image.at(0, 0)[1], 120);
  // The datasets-only make_facesynth reads PNG photos only, and says so.
  EXPECT_THROW(datasets::make_facesynth(spec), pesuite::core::InputError);
  imageio::write_facesynth_sheet(synth, 10, dir / "sheet.png");
  const cv::Mat sheet = cv::imread(dir / "sheet.png");
  EXPECT_EQ(sheet.cols, 4 * 48);  // ceil(sqrt(10)) = 4 columns, 3 rows
  EXPECT_EQ(sheet.rows, 3 * 48);
  const cv::Mat one = imageio::annotated_sample(s);
  EXPECT_EQ(one.size(), cv::Size(48, 48));
  EXPECT_THROW(imageio::annotated_sample(synth.label(1)), pesuite::core::InputError);
}
