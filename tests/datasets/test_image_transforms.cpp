// pesuite::imageio transforms and the prefetching loader: boxes follow the pixels exactly, the
// normalisation is the closed form, and batches depend on (seed, epoch) only, not on thread count.
#include <opencv2/imgcodecs.hpp>

#include <filesystem>

#include "pesuite/core/error.h"
#include "pesuite/imageio/loader.h"
#include "test_util.h"

using namespace pesuite;
using imageio::Box;

namespace {

// Every pixel distinct: value = (7x + 13y + 31c) mod 256.
cv::Mat pattern(int w, int h) {
  cv::Mat m(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) m.at<cv::Vec3b>(y, x)[c] = static_cast<uchar>((7 * x + 13 * y + 31 * c) % 256);
  return m;
}

datasets::ImageClassificationSet synthetic_set(int n) {
  datasets::ImageClassificationSet set;
  set.images = torch::empty({n, 40, 50, 3}, torch::kUInt8);
  for (int i = 0; i < n; ++i) {
    cv::Mat p = pattern(50 + i, 40 + i)(cv::Rect(i, i, 50, 40)).clone();
    std::memcpy(set.images[i].data_ptr(), p.data, 40 * 50 * 3);
  }
  set.labels = torch::arange(n, torch::kInt64);
  set.source = "synthetic";
  return set;
}

std::vector<imageio::Batch> epoch_batches(std::shared_ptr<const imageio::ImageSource> src, int workers, std::uint64_t seed,
                                          std::int64_t epoch) {
  imageio::LoaderOptions lo;
  lo.batch_size = 4;
  lo.workers = workers;
  lo.seed = seed;
  lo.prefetch = 2;
  auto t = imageio::TransformOptions::train(24);
  imageio::Loader loader(std::move(src), t, lo);
  loader.start_epoch(epoch);
  std::vector<imageio::Batch> out;
  while (auto b = loader.next()) out.push_back(std::move(*b));
  return out;
}

}  // namespace

TEST(Transforms, FlipMovesPixelsAndBoxesExactly) {
  const cv::Mat img = pattern(100, 50);
  std::vector<Box> boxes(1);
  boxes[0].x1 = 10, boxes[0].y1 = 5, boxes[0].x2 = 30, boxes[0].y2 = 20;
  const cv::Mat f = imageio::hflip(img, boxes);
  EXPECT_DOUBLE_EQ(boxes[0].x1, 70);
  EXPECT_DOUBLE_EQ(boxes[0].x2, 90);
  EXPECT_DOUBLE_EQ(boxes[0].y1, 5);
  EXPECT_DOUBLE_EQ(boxes[0].y2, 20);
  for (int x : {0, 17, 99}) EXPECT_EQ(f.at<cv::Vec3b>(9, 99 - x), img.at<cv::Vec3b>(9, x));
  // Flipping twice is the identity, pixels and boxes.
  const cv::Mat ff = imageio::hflip(f, boxes);
  EXPECT_EQ(cv::norm(ff, img, cv::NORM_INF), 0);
  EXPECT_DOUBLE_EQ(boxes[0].x1, 10);
}

TEST(Transforms, ResizeAndCropMoveBoxes) {
  std::vector<Box> boxes(2);
  boxes[0].x1 = 10, boxes[0].y1 = 10, boxes[0].x2 = 50, boxes[0].y2 = 30;
  boxes[1].x1 = 0, boxes[1].y1 = 0, boxes[1].x2 = 4, boxes[1].y2 = 4;  // outside the crop: dropped
  cv::Mat c = imageio::crop(pattern(100, 50), boxes, cv::Rect(20, 5, 40, 40));
  ASSERT_EQ(boxes.size(), 1u);
  EXPECT_DOUBLE_EQ(boxes[0].x1, 0);  // clipped
  EXPECT_DOUBLE_EQ(boxes[0].x2, 30);
  EXPECT_DOUBLE_EQ(boxes[0].y1, 5);
  cv::Mat r = imageio::resize(c, boxes, 20, 80);
  EXPECT_EQ(r.size(), cv::Size(20, 80));
  EXPECT_DOUBLE_EQ(boxes[0].x2, 15);
  EXPECT_DOUBLE_EQ(boxes[0].y2, 50);
}

TEST(Transforms, RandomResizedCropStaysInsideAndIsSeeded) {
  const auto t = imageio::TransformOptions::train(32);
  for (std::uint64_t i = 0; i < 200; ++i) {
    imageio::SampleRng a(1, 2, i), b(1, 2, i);
    const cv::Rect r = imageio::random_resized_crop_rect(500, 375, t, a);
    EXPECT_EQ(r, imageio::random_resized_crop_rect(500, 375, t, b));
    EXPECT_GE(r.x, 0);
    EXPECT_GE(r.y, 0);
    EXPECT_LE(r.x + r.width, 500);
    EXPECT_LE(r.y + r.height, 375);
    const double area = double(r.width) * r.height / (500.0 * 375.0), ratio = double(r.width) / r.height;
    EXPECT_GE(area, 0.07);
    EXPECT_LE(ratio, 4.0 / 3 + 0.02);
    EXPECT_GE(ratio, 3.0 / 4 - 0.02);
  }
}

TEST(Transforms, NormaliseIsTheClosedForm) {
  cv::Mat img(2, 3, CV_8UC3);
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 3; ++x) img.at<cv::Vec3b>(y, x) = cv::Vec3b(uchar(40 * x + y), uchar(255 - 30 * x), uchar(100 + y));
  const std::array<float, 3> mean{0.485f, 0.456f, 0.406f}, std{0.229f, 0.224f, 0.225f};
  const torch::Tensor t = imageio::to_tensor(img, mean, std);
  ASSERT_EQ(t.sizes(), (std::vector<int64_t>{3, 2, 3}));
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 2; ++y)
      for (int x = 0; x < 3; ++x)
        EXPECT_NEAR(t[c][y][x].item<float>(), (img.at<cv::Vec3b>(y, x)[c] / 255.0 - mean[c]) / std[c], 1e-5);
  // Grey images use the first channel's statistics.
  const torch::Tensor g = imageio::to_tensor(cv::Mat(1, 1, CV_8UC1, cv::Scalar(255)), mean, std);
  EXPECT_NEAR(g[0][0][0].item<float>(), (1.0 - 0.485) / 0.229, 1e-5);
}

TEST(Transforms, JitterKeepsSizeAndChangesPixels) {
  const auto t = imageio::TransformOptions::train(16);
  imageio::SampleRng rng(0, 0, 3);
  const cv::Mat img = pattern(16, 16), j = imageio::color_jitter(img, t, rng);
  EXPECT_EQ(j.size(), img.size());
  EXPECT_EQ(j.type(), img.type());
  EXPECT_GT(cv::norm(j, img, cv::NORM_L1), 0);
}

TEST(Loader, SameBatchesForAnyThreadCount) {
  auto src = std::make_shared<imageio::TensorSource>(synthetic_set(10));
  const auto one = epoch_batches(src, 1, 7, 3), two = epoch_batches(src, 2, 7, 3), four = epoch_batches(src, 4, 7, 3);
  ASSERT_EQ(one.size(), 3u);  // 4 + 4 + 2
  EXPECT_EQ(one[2].images.size(0), 2);
  for (std::size_t b = 0; b < one.size(); ++b) {
    EXPECT_EQ(one[b].indices, two[b].indices);
    EXPECT_TRUE(torch::equal(one[b].images, two[b].images));
    EXPECT_TRUE(torch::equal(one[b].images, four[b].images));
    EXPECT_TRUE(torch::equal(one[b].labels, four[b].labels));
  }
  EXPECT_EQ(one[0].images.sizes(), (std::vector<int64_t>{4, 3, 24, 24}));
  // Another seed or epoch gives another order and other augmentations.
  const auto other = epoch_batches(src, 2, 8, 3), later = epoch_batches(src, 2, 7, 4);
  EXPECT_FALSE(torch::equal(one[0].images, other[0].images));
  EXPECT_FALSE(torch::equal(one[0].images, later[0].images));
}

TEST(Loader, FilesWithBoxesAndABadFile) {
  test::TempDir dir;
  datasets::ImageDataset set;
  set.detection = true;
  for (int i = 0; i < 5; ++i) {
    datasets::ImageRecord r;
    r.file = dir / ("img" + std::to_string(i) + ".png");
    ASSERT_TRUE(cv::imwrite(r.file, pattern(60, 40)));
    Box b;
    b.x1 = 0, b.y1 = 0, b.x2 = 60, b.y2 = 40;  // the whole image: survives any crop
    r.boxes.push_back(b);
    set.records.push_back(r);
  }
  imageio::LoaderOptions lo;
  lo.batch_size = 2;
  lo.workers = 2;
  imageio::Loader loader(std::make_shared<imageio::RecordSource>(set), imageio::TransformOptions::train(20), lo);
  loader.start_epoch(0);
  std::int64_t seen = 0;
  while (auto b = loader.next()) {
    for (const auto& boxes : b->boxes) {
      ASSERT_EQ(boxes.size(), 1u);
      EXPECT_NEAR(boxes[0].x2 - boxes[0].x1, 20, 1e-9);  // the crop covers the box; resized to the output
    }
    seen += b->images.size(0);
  }
  EXPECT_EQ(seen, 5);
  set.records[3].file = dir / "missing.png";
  imageio::Loader bad(std::make_shared<imageio::RecordSource>(set), imageio::TransformOptions::eval(20), lo);
  bad.start_epoch(0);
  EXPECT_THROW(
      {
        while (bad.next()) {
        }
      },
      pesuite::core::InputError);
}
