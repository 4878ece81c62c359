// COCO instance masks (datasets/coco_mask.h) with pycocotools' semantics: a polygon's pixels, run
// lengths, the compressed counts string (hand-encoded vectors), unions, and load_coco_masks on files
// the test writes and on the coco-tiny sample.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include <nlohmann/json.hpp>

#include "pesuite/core/atomic_file.h"
#include "pesuite/core/error.h"
#include "pesuite/datasets/coco_mask.h"
#include "pesuite/datasets/formats.h"
#include "test_util.h"

using namespace pesuite;
using namespace pesuite::datasets;

namespace {

// Foreground pixels of a row-major mask inside [x0, x1) x [y0, y1), and outside it.
std::pair<std::int64_t, std::int64_t> inside_outside(const std::vector<std::uint8_t>& m, std::int64_t w, std::int64_t x0, std::int64_t y0,
                                                     std::int64_t x1, std::int64_t y1) {
  std::int64_t in = 0, out = 0;
  for (std::size_t i = 0; i < m.size(); ++i) {
    const auto y = static_cast<std::int64_t>(i) / w, x = static_cast<std::int64_t>(i) % w;
    if (!m[i]) continue;
    (x >= x0 && x < x1 && y >= y0 && y < y1 ? in : out) += 1;
  }
  return {in, out};
}

}  // namespace

TEST(CocoMask, RectanglePolygonCoversExactlyItsPixels) {
  // Corners (2, 3) and (6, 7) in pixel-edge coordinates: columns 2..5, rows 3..6 (pycocotools:
  // the boundary upsampled 5x crosses column centres x + 0.5 at rows 3 and 7).
  const Rle r = rle_from_polygon({2, 3, 6, 3, 6, 7, 2, 7}, /*height=*/10, /*width=*/12);
  EXPECT_EQ(r.counts, (std::vector<std::uint32_t>{23, 4, 6, 4, 6, 4, 6, 4, 63}));
  EXPECT_EQ(rle_area(r), 16);
  const auto m = rle_decode(r);
  EXPECT_EQ(inside_outside(m, 12, 2, 3, 6, 7), (std::pair<std::int64_t, std::int64_t>{16, 0}));
  // Any vertex order and direction gives the same mask.
  EXPECT_EQ(rle_from_polygon({6, 7, 6, 3, 2, 3, 2, 7}, 10, 12).counts, r.counts);
  // Encoding the decoded mask gives the same runs.
  EXPECT_EQ(rle_encode(m, 10, 12).counts, r.counts);
  EXPECT_THROW(rle_from_polygon({1, 2, 3, 4}, 10, 12), core::InputError);
  EXPECT_THROW(rle_from_polygon({1, 2, 3, 4, 5}, 10, 12), core::InputError);
}

TEST(CocoMask, CompressedCountsMatchHandEncodedStrings) {
  // 23 needs two characters (bit 4 set would read as a sign); counts after the third are stored
  // as differences to the one two before: 4-4, 6-6, ... = 0, 63-6 = 57 -> "i1".
  const Rle rect = rle_from_counts({23, 4, 6, 4, 6, 4, 6, 4, 63}, 10, 12);
  EXPECT_EQ(rle_to_string(rect), "g04600000i1");
  EXPECT_EQ(rle_from_string("g04600000i1", 10, 12).counts, rect.counts);
  // A negative difference (2 - 10 = -8 -> 'H', sign-extended on reading) and 100 - 3 = 97 -> "Q3".
  const Rle neg = rle_from_counts({5, 10, 3, 2, 100}, 10, 12);
  EXPECT_EQ(rle_to_string(neg), "5:3HQ3");
  EXPECT_EQ(rle_from_string("5:3HQ3", 10, 12).counts, neg.counts);
  EXPECT_EQ(rle_area(neg), 12);
  EXPECT_THROW(rle_from_string("5:3HQ", 10, 12), core::InputError);   // ends inside a number... or wrong total
  EXPECT_THROW(rle_from_string("5:3H~3", 10, 12), core::InputError);  // '~' is outside the alphabet
  EXPECT_THROW(rle_from_counts({5, 10}, 10, 12), core::InputError);   // does not sum to 120
}

TEST(CocoMask, UnionAndAnnotationForms) {
  const Rle a = rle_from_polygon({0, 0, 4, 0, 4, 4, 0, 4}, 8, 8), b = rle_from_polygon({2, 2, 6, 2, 6, 6, 2, 6}, 8, 8);
  EXPECT_EQ(rle_area(a), 16);
  EXPECT_EQ(rle_area(rle_union({a, b})), 16 + 16 - 4);
  // The three forms of "segmentation" give one mask.
  const auto poly = nlohmann::json::parse("[[0, 0, 4, 0, 4, 4, 0, 4], [2, 2, 6, 2, 6, 6, 2, 6]]");
  const Rle u = rle_from_annotation(poly, 8, 8, "ann");
  nlohmann::json raw{{"size", {8, 8}}, {"counts", u.counts}};
  nlohmann::json compressed{{"size", {8, 8}}, {"counts", rle_to_string(u)}};
  EXPECT_EQ(rle_from_annotation(raw, 8, 8, "ann").counts, u.counts);
  EXPECT_EQ(rle_from_annotation(compressed, 8, 8, "ann").counts, u.counts);
  EXPECT_TRUE(rle_from_annotation(nlohmann::json::array(), 8, 8, "ann").empty());
  // Errors name the annotation.
  auto error_of = [](const nlohmann::json& seg) {
    try {
      rle_from_annotation(seg, 8, 8, "ann 7");
    } catch (const core::InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error_of(nlohmann::json::parse(R"({"size": [8, 9], "counts": [72]})")).find("differs from the image's 8 x 8"), std::string::npos);
  EXPECT_NE(error_of(nlohmann::json::parse(R"([[0, 0, 1]])")).find("ann 7.segmentation[0]"), std::string::npos);
  EXPECT_NE(error_of(nlohmann::json::parse(R"({"size": [8, 8], "counts": [60]})")).find("ann 7.segmentation.counts"), std::string::npos);
}

TEST(CocoMask, LoaderReadsMasksOfEveryFormAlignedWithBoxes) {
  test::TempDir dir;
  core::write_file_atomic(dir / "ann.json", R"({
    "images": [{"id": 1, "file_name": "1.jpg", "width": 12, "height": 10}],
    "annotations": [
      {"id": 1, "image_id": 1, "category_id": 3, "bbox": [2, 3, 4, 4], "iscrowd": 0, "segmentation": [[2, 3, 6, 3, 6, 7, 2, 7]]},
      {"id": 2, "image_id": 1, "category_id": 3, "bbox": [0, 0, 1, 1], "iscrowd": 1, "segmentation": {"size": [10, 12], "counts": "5:3HQ3"}},
      {"id": 3, "image_id": 1, "category_id": 3, "bbox": [0, 0, 1, 1], "iscrowd": 1, "segmentation": {"size": [10, 12], "counts": [5, 10, 3, 2, 100]}}],
    "categories": [{"id": 3, "name": "car"}]})");
  const auto spec = parse_spec("coco:" + dir / "ann.json");
  const auto set = load_image_dataset(spec);
  const auto masks = load_coco_masks(spec);
  ASSERT_EQ(set.records.size(), 1u);
  ASSERT_EQ(masks.size(), 1u);
  ASSERT_EQ(set.records[0].boxes.size(), 3u);
  ASSERT_EQ(masks[0].size(), 3u);
  EXPECT_EQ(rle_area(masks[0][0]), 16);
  EXPECT_EQ(rle_area(masks[0][1]), 12);
  EXPECT_EQ(masks[0][1].counts, masks[0][2].counts);
  // crowd=0 leaves the crowd objects out of both, aligned.
  const auto no_crowd = parse_spec("coco:" + dir / "ann.json" + "?crowd=0");
  EXPECT_EQ(load_image_dataset(no_crowd).records[0].boxes.size(), 1u);
  ASSERT_EQ(load_coco_masks(no_crowd)[0].size(), 1u);
  EXPECT_EQ(rle_area(load_coco_masks(no_crowd)[0][0]), 16);
  EXPECT_THROW(load_coco_masks(parse_spec("voc:" + dir.str())), core::InputError);
}

// Nearest neighbour with aligned pixel centres (PIL's NEAREST): output pixel X takes input
// floor((X + 0.5) w / W).
TEST(CocoMask, ResizeNearestTakesThePixelUnderEachCentre) {
  const std::vector<std::uint8_t> row{1, 0, 2};
  EXPECT_EQ(resize_mask_nearest(row, 1, 3, 1, 2), (std::vector<std::uint8_t>{1, 2}));              // centres 0.75, 2.25
  EXPECT_EQ(resize_mask_nearest({1, 0}, 1, 2, 1, 4), (std::vector<std::uint8_t>{1, 1, 0, 0}));     // each pixel twice
  EXPECT_EQ(resize_mask_nearest({1, 0}, 2, 1, 4, 1), (std::vector<std::uint8_t>{1, 1, 0, 0}));     // rows as columns
  EXPECT_EQ(resize_mask_nearest(row, 1, 3, 1, 3), row);                                            // the same size: itself
  // Halving a mask of 2 x 2 blocks keeps one pixel of each block: a quarter of the pixels.
  const Rle r = rle_from_polygon({2, 4, 12, 4, 12, 10, 2, 10}, 20, 16);  // 10 x 6 pixels
  const auto half = resize_mask_nearest(rle_decode(r), 20, 16, 10, 8);
  EXPECT_EQ(std::count(half.begin(), half.end(), 1), rle_area(r) / 4);
  EXPECT_THROW(resize_mask_nearest(row, 2, 3, 1, 1), core::InputError);
  EXPECT_THROW(resize_mask_nearest(row, 1, 3, 0, 1), core::InputError);
}

TEST(CocoMask, CocoTinySample) {
  const auto json = test::sample_data("coco-tiny/instances_train2017_small.json");
  PESUITE_SKIP_WITHOUT_SAMPLE(json, "coco-tiny/instances_train2017_small.json");
  const auto j = nlohmann::json::parse(core::read_file(json));
  std::map<std::int64_t, std::pair<std::int64_t, std::int64_t>> size;  // image id -> (h, w)
  for (const auto& im : j["images"]) size[im["id"].get<std::int64_t>()] = {im["height"].get<std::int64_t>(), im["width"].get<std::int64_t>()};
  int polygons = 0, rles = 0;
  for (const auto& a : j["annotations"]) {
    const auto [h, w] = size.at(a["image_id"].get<std::int64_t>());
    const Rle r = rle_from_annotation(a["segmentation"], h, w, "annotation " + a["id"].dump());
    std::uint64_t total = 0;
    for (auto c : r.counts) total += c;
    ASSERT_EQ(total, static_cast<std::uint64_t>(h * w));
    const double area = a["area"].get<double>();
    if (a["segmentation"].is_object()) {
      // The one crowd region (uncompressed counts, 336 x 500): 7378 foreground pixels (the sum of
      // its odd-indexed counts, counted separately in Python) whose extent, decoded column-major,
      // is x 0..481, y 35..185: the annotation's bbox [0, 35, 481, 150] within a pixel. (Its "area"
      // field, 8340, is not the mask's pixel count.)
      EXPECT_EQ(rle_area(r), 7378);
      const auto m = rle_decode(r);
      std::int64_t x0 = w, y0 = h, x1 = -1, y1 = -1;
      for (std::int64_t y = 0; y < h; ++y)
        for (std::int64_t x = 0; x < w; ++x)
          if (m[static_cast<std::size_t>(y * w + x)]) x0 = std::min(x0, x), y0 = std::min(y0, y), x1 = std::max(x1, x), y1 = std::max(y1, y);
      const auto& bb = a["bbox"];
      EXPECT_EQ(x0, 0);
      EXPECT_EQ(y0, 35);
      EXPECT_NEAR(static_cast<double>(x1 - x0 + 1), bb[2].get<double>(), 1.0);
      EXPECT_NEAR(static_cast<double>(y1 - y0 + 1), bb[3].get<double>(), 1.0);
      // The compressed form of the same mask reads back to the same runs.
      EXPECT_EQ(rle_from_string(rle_to_string(r), h, w).counts, r.counts);
      ++rles;
    } else {
      // A polygon's area is its exact (shoelace) area; the rasterised pixels differ by less than
      // the boundary's length.
      double perimeter = 0;
      for (const auto& poly : a["segmentation"]) {
        const auto n = poly.size() / 2;
        for (std::size_t k = 0; k < n; ++k) {
          const auto l = (k + 1) % n;
          perimeter += std::hypot(poly[2 * l].get<double>() - poly[2 * k].get<double>(), poly[2 * l + 1].get<double>() - poly[2 * k + 1].get<double>());
        }
      }
      EXPECT_LE(std::abs(static_cast<double>(rle_area(r)) - area), perimeter) << a["id"];
      ++polygons;
    }
  }
  EXPECT_EQ(polygons, 196);
  EXPECT_EQ(rles, 1);
  const auto spec = parse_spec("coco:" + json);
  const auto set = load_image_dataset(spec);
  const auto masks = load_coco_masks(spec);
  ASSERT_EQ(masks.size(), set.records.size());
  std::size_t with_mask = 0;
  for (std::size_t r = 0; r < masks.size(); ++r) {
    ASSERT_EQ(masks[r].size(), set.records[r].boxes.size());
    for (const auto& m : masks[r]) {
      with_mask += !m.empty();
      EXPECT_EQ(m.height, set.records[r].height);
      EXPECT_EQ(m.width, set.records[r].width);
    }
  }
  EXPECT_EQ(with_mask, 197u);
}
