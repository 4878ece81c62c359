#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include "pesuite/core/plot.h"
#include "test_util.h"

TEST(Plot, WritesAPngWithTheCurves) {
  pesuite::test::TempDir dir;
  pesuite::core::PlotSeries a{"train", {1, 2, 3, 4}, {1.0, 0.6, 0.4, 0.3}};
  pesuite::core::PlotSeries b{"val", {1, 2, 3, 4}, {1.1, 0.8, std::nan(""), 0.5}};
  pesuite::core::line_plot(dir / "loss.png", {a, b}, {"loss", "epoch", "loss"}, 640, 400);
  cv::Mat img = cv::imread(dir / "loss.png");
  ASSERT_FALSE(img.empty());
  EXPECT_EQ(img.cols, 640);
  EXPECT_EQ(img.rows, 400);
  // Some pixels carry the first series' colour (BGR 180,119,31).
  cv::Mat mask;
  cv::inRange(img, cv::Scalar(170, 110, 20), cv::Scalar(190, 130, 45), mask);
  EXPECT_GT(cv::countNonZero(mask), 50);
}
