// COCO images as localisation scenes for PIN's domain-shift figure (pin_training.h): each image
// squashed to the VLM's square input, its boxes scaled with it. Built only with OpenCV.
#include <algorithm>
#include <array>
#include <cmath>

#include "pesuite/core/error.h"
#include "pesuite/datasets/image_record.h"
#include "pesuite/imageio/decode.h"
#include "pesuite/imageio/transforms.h"
#include "pesuite/vision/pin_training.h"

namespace pesuite::vision {

ClipScenes coco_localisation_scenes(const std::string& text, std::int64_t size, const std::function<bool(const std::string&)>& keep) {
  const auto spec = datasets::parse_spec(text);
  if (spec.format != "coco") throw core::InputError("dataset spec '" + text + "': the domain-shift set needs a coco: spec, not " + spec.format + ":");
  if (size <= 0) throw core::InputError("coco_localisation_scenes: the image size must be positive");
  const auto set = datasets::load_coco(spec);  // crowd regions are left out unless the spec keeps them
  ClipScenes out;
  out.spec = text;
  out.classes = set.classes;
  std::vector<torch::Tensor> images;
  std::array<float, 3> mean{}, stdev{};
  for (std::size_t c = 0; c < 3; ++c) mean[c] = static_cast<float>(kClipMean[c]), stdev[c] = static_cast<float>(kClipStd[c]);
  for (const auto& rec : set.records) {
    std::vector<datasets::Box> boxes;
    for (const auto& b : rec.boxes)
      if (!b.crowd && keep(set.classes.at(static_cast<std::size_t>(b.label)))) boxes.push_back(b);
    if (boxes.empty()) continue;
    const cv::Mat img = imageio::decode_image(rec.file);
    const cv::Mat resized = imageio::resize(img, boxes, static_cast<int>(size), static_cast<int>(size));
    if (boxes.empty()) continue;
    auto t = torch::empty({3, size, size}, torch::kFloat32);
    imageio::normalize_into(resized, mean, stdev, t.data_ptr<float>());
    images.push_back(t);
    std::vector<datasets::SceneObject> objs;
    for (const auto& b : boxes) {
      datasets::SceneObject o;
      o.label = b.label;
      o.box = b;
      o.full_box = b;
      o.visible_pixels = std::max<std::int64_t>(1, std::llround((b.x2 - b.x1) * (b.y2 - b.y1)));
      objs.push_back(o);
    }
    out.objects.push_back(std::move(objs));
    out.captions.emplace_back();
  }
  if (!images.empty()) out.images = torch::stack(images);
  return out;
}

}  // namespace pesuite::vision
