#pragma once
// COCO instance masks (no torch, no OpenCV): run-length encodings as pycocotools' maskApi.c
// defines them, polygons rasterised the way its rleFrPoly does (so pixel counts match
// pycocotools.mask.area exactly), the compressed string form of `counts`, union, decoding, area.
//
//   using namespace pesuite::datasets;
//   Rle a = rle_from_polygon({10, 10, 20, 10, 20, 30, 10, 30}, /*height=*/40, /*width=*/50);
//   Rle b = rle_from_string("...", 40, 50);                   // compressed counts (iscrowd / results)
//   Rle c = rle_from_counts({5, 3, 1992}, 40, 50);           // uncompressed counts list
//   Rle u = rle_union({a, b});
//   rle_area(u);                                               // foreground pixels
//   std::vector<std::uint8_t> m = rle_decode(u);               // row-major [height * width], 0 / 1
//   std::string s = rle_to_string(u);                          // back to the compressed form
//   auto masks = load_coco_masks(parse_spec("coco:instances_val2017.json"));   // masks[record][box]
//   auto small = resize_mask_nearest(rle_decode(u), 40, 50, 20, 25);            // PIL's NEAREST
//
// Runs alternate background / foreground starting with background (a mask starting with
// foreground has a first count of 0), over the pixels in column-major order (index x * height + y),
// as COCO stores them. rle_from_annotation reads an annotation's "segmentation" in any of its three
// forms: a list of polygons [[x0, y0, x1, y1, ...], ...] (their union), {"size": [h, w], "counts":
// [..]} (uncompressed) or {"size": [h, w], "counts": "..."} (compressed).
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pesuite/datasets/spec.h"

namespace pesuite::datasets {

struct ImageDataset;  // image_record.h

struct Rle {
  std::int64_t height = 0, width = 0;
  std::vector<std::uint32_t> counts;  // empty: no mask
  bool empty() const { return counts.empty(); }
};

// One polygon (x0, y0, x1, y1, ...; at least 3 points), pycocotools' rasterisation (boundary
// upsampled 5x, pixel centres inside by its rule). InputError for an odd or too short list.
Rle rle_from_polygon(const std::vector<double>& xy, std::int64_t height, std::int64_t width);
// Uncompressed counts. InputError when they do not sum to height * width.
Rle rle_from_counts(const std::vector<std::uint32_t>& counts, std::int64_t height, std::int64_t width);
// pycocotools' compressed counts string (6 bits a character, characters 48..111, counts after the
// third stored as differences to the one two before). InputError for a character outside the
// alphabet, a truncated number, or counts that do not sum to height * width.
Rle rle_from_string(const std::string& s, std::int64_t height, std::int64_t width);
std::string rle_to_string(const Rle& rle);
// Union of masks of one size (rleMerge with intersect = 0). InputError when sizes differ.
Rle rle_union(const std::vector<Rle>& masks);
std::int64_t rle_area(const Rle& rle);
// Row-major height * width bytes, 1 = foreground.
std::vector<std::uint8_t> rle_decode(const Rle& rle);
// Row-major 0 / non-0 bytes -> RLE (rleEncode on the transposed mask).
Rle rle_encode(const std::vector<std::uint8_t>& mask, std::int64_t height, std::int64_t width);
// A row-major mask of height x width resized to out_height x out_width by nearest neighbour with
// pixel centres aligned (PIL's NEAREST, torchvision's Resize(..., NEAREST) for segmentation
// targets): output pixel (Y, X) takes input (floor((Y + 0.5) h / H), floor((X + 0.5) w / W)).
std::vector<std::uint8_t> resize_mask_nearest(const std::vector<std::uint8_t>& mask, std::int64_t height, std::int64_t width,
                                              std::int64_t out_height, std::int64_t out_width);

// An annotation's "segmentation" (any of the three forms) for an image of height x width (the RLE
// forms carry their own size, which must match when height and width are > 0). `place` names the
// annotation in errors. An absent or empty segmentation gives an empty Rle.
Rle rle_from_annotation(const nlohmann::json& segmentation, std::int64_t height, std::int64_t width, const std::string& place);

// The instance masks of a coco: spec's objects, aligned with load_coco's records and boxes (same
// order, same crowd filter and limit): masks[r][b] belongs to records[r].boxes[b] (empty when the
// annotation has no segmentation). Polygons need the image's width and height in the JSON.
// InputError naming the file and the annotation for a malformed segmentation. With `records`,
// load_coco's dataset comes back there too (one read of the file).
std::vector<std::vector<Rle>> load_coco_masks(const DatasetSpec& spec, ImageDataset* records = nullptr);

}  // namespace pesuite::datasets
