// COCO images and instance masks as zero-shot segmentation samples (clip_analysis.h): the images
// decoded and resized for the model, each (image, category present) one sample whose mask is the
// union of the category's instances there, or each image one sample of all its instances (the
// zero-shot class's map). Built only with OpenCV.

#include <algorithm>
#include <array>
#include <map>

#include "pesuite/core/error.h"
#include "pesuite/core/parallel.h"
#include "pesuite/datasets/coco_mask.h"
#include "pesuite/datasets/image_record.h"
#include "pesuite/imageio/decode.h"
#include "pesuite/imageio/transforms.h"
#include "pesuite/vision/clip_analysis.h"

namespace pesuite::vision {

SegmentationSamples load_coco_segmentation(const std::string& text, std::int64_t size, CocoSamples per) {
  const auto spec = datasets::parse_spec(text);
  if (spec.format != "coco") throw core::InputError("dataset spec '" + text + "': COCO masks need a coco: spec, not " + spec.format + ":");
  if (size <= 0) throw core::InputError("load_coco_segmentation: the image size must be positive");
  datasets::ImageDataset set;
  const auto rles = datasets::load_coco_masks(spec, &set);
  const auto n = static_cast<std::int64_t>(set.records.size());

  // Per image and category (or per image: class -1, the zero-shot class): the union of the instances
  // (foreground) and of the crowd regions.
  struct Sample {
    std::int64_t image, cls;
    std::vector<datasets::Rle> instances, crowds;
  };
  std::vector<Sample> samples;
  for (std::int64_t r = 0; r < n; ++r) {
    std::map<std::int64_t, Sample> of_class;
    const auto& rec = set.records[static_cast<std::size_t>(r)];
    for (std::size_t b = 0; b < rec.boxes.size(); ++b) {
      const auto& m = rles[static_cast<std::size_t>(r)][b];
      if (m.empty()) continue;  // no segmentation: nothing to score against
      const std::int64_t cls = per == CocoSamples::per_category ? rec.boxes[b].label : -1;
      auto& s = of_class.try_emplace(cls, Sample{r, cls, {}, {}}).first->second;
      (rec.boxes[b].crowd ? s.crowds : s.instances).push_back(m);
    }
    for (auto& [c, s] : of_class)
      if (!s.instances.empty()) samples.push_back(std::move(s));  // a category present only as a crowd is not scored
  }
  if (samples.empty()) throw core::InputError("dataset spec '" + text + "': no image has an object with a segmentation");

  // Only the images with a sample are kept (renumbered in order).
  std::vector<std::int64_t> kept, index_of(static_cast<std::size_t>(n), -1);
  for (const auto& s : samples)
    if (index_of[static_cast<std::size_t>(s.image)] < 0) {
      index_of[static_cast<std::size_t>(s.image)] = static_cast<std::int64_t>(kept.size());
      kept.push_back(s.image);
    }
  SegmentationSamples out;
  out.spec = text;
  out.png_name = "coco";
  out.classes = set.classes;
  const auto N = static_cast<std::int64_t>(kept.size()), M = static_cast<std::int64_t>(samples.size());
  out.images = torch::empty({N, 3, size, size}, torch::kFloat32);
  out.masks = torch::empty({M, size, size}, torch::kUInt8);
  std::array<float, 3> mean{}, stdev{};
  for (std::size_t c = 0; c < 3; ++c) mean[c] = static_cast<float>(kClipMean[c]), stdev[c] = static_cast<float>(kClipStd[c]);
  core::parallel_for(0, N, 1, [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t i = lo; i < hi; ++i) {
      const auto& rec = set.records[static_cast<std::size_t>(kept[static_cast<std::size_t>(i)])];
      const cv::Mat img = imageio::decode_image(rec.file);
      // The masks were drawn at the JSON's size: a different picture would not line up with them.
      if (img.rows != rec.height || img.cols != rec.width)
        throw core::InputError(rec.file + ": decoded as " + std::to_string(img.cols) + " x " + std::to_string(img.rows) + ", but " +
                               spec.path + " gives image " + rec.id + " as " + std::to_string(rec.width) + " x " + std::to_string(rec.height));
      std::vector<datasets::Box> none;
      const cv::Mat resized = imageio::resize(img, none, static_cast<int>(size), static_cast<int>(size));
      imageio::normalize_into(resized, mean, stdev, out.images[i].data_ptr<float>());
    }
  });
  core::parallel_for(0, M, 1, [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t k = lo; k < hi; ++k) {
      const auto& s = samples[static_cast<std::size_t>(k)];
      const auto& rec = set.records[static_cast<std::size_t>(s.image)];
      auto fg = datasets::resize_mask_nearest(datasets::rle_decode(datasets::rle_union(s.instances)), rec.height, rec.width, size, size);
      if (!s.crowds.empty()) {
        const auto crowd = datasets::resize_mask_nearest(datasets::rle_decode(datasets::rle_union(s.crowds)), rec.height, rec.width, size, size);
        for (std::size_t p = 0; p < fg.size(); ++p)
          if (!fg[p] && crowd[p]) fg[p] = 2;  // not scored: a region of many instances, as pycocotools ignores it
      }
      std::copy(fg.begin(), fg.end(), out.masks[k].data_ptr<std::uint8_t>());
    }
  });
  for (const auto& s : samples) {
    out.image_of.push_back(index_of[static_cast<std::size_t>(s.image)]);
    out.class_of.push_back(s.cls);
  }
  return out;
}

}  // namespace pesuite::vision
