#pragma once
// Face crops with yaw / pitch / roll labels for head-pose training and testing, from any head-pose
// row of the format registry: facesynth: (rendered, exact labels), 300wlp:, aflw2000:, biwi:.
// Hopenet's protocol: a loose crop around the landmarks' box (training: margin k drawn in
// [0.2, 0.4] with Pose_300W_LP's multiples; testing: the record's box, AFLW2000's k = 0.2), then
// training: the shorter side resized to img_size * 240 / 224 and a random img_size square cut;
// testing: the shorter side resized to img_size and the centre square (torchvision Scale +
// RandomCrop / CenterCrop); a horizontal flip with p = 0.5 negates yaw and roll. Resampling is
// PIL's bilinear (a triangle filter widened when shrinking), pixels outside the image are black
// (PIL's crop). Plain C++: no OpenCV needed for facesynth: and PNG files (JPEG needs OpenCV).
//
// Every view is a function of (seed, step, slot) through its own random stream, so batches do not
// depend on threads and an interrupted run resumes bit for bit.
//
//   HeadPoseDataOptions o;  o.img_size = 64;
//   auto train = HeadPoseData::open("facesynth:?n=2000&seed=0&size=96", o, /*train=*/true);
//   HeadPoseBatch b = train->train_batch({3, 17, 42}, /*stream=*/step, /*strong=*/false);
//   // b.images [3, 3, 64, 64] normalised, b.targets [3, 3] (yaw, pitch, roll) degrees
//   auto test = HeadPoseData::open("aflw2000:/data/AFLW2000", o, /*train=*/false);
//   HeadPoseBatch t = test->test_batch(0, 16);
#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pesuite/datasets/facesynth.h"
#include "pesuite/datasets/head_pose.h"

namespace pesuite::vision {

struct HeadPoseDataOptions {
  std::int64_t img_size = 224;
  std::int64_t limit = 0;           // 0 = every face
  std::uint64_t seed = 0;
  bool flip = true;                 // training: horizontal flip with p = 0.5
  std::array<double, 2> k_range{0.2, 0.4};  // training: loose-crop margin, uniform
  double resize_ratio = 240.0 / 224.0;      // training: shorter side to img_size * this, then a random square
  std::array<float, 3> mean{0.485f, 0.456f, 0.406f}, std{0.229f, 0.224f, 0.225f};
  double filter = 0;                // testing: leave out faces with any |angle| > filter degrees (0 = keep all)
  std::int64_t cache_mb = 2048;     // decoded / rendered images kept in memory up to this size
};

struct HeadPoseItem {
  std::string id;
  datasets::EulerAngles pose;      // degrees, datasets/euler.h's convention
  datasets::FaceBox landmark_box;  // tight box of the landmarks (training crops grow from it)
  datasets::FaceBox box;           // the test crop (the format's protocol)
  std::string file;                // image file ("" for rendered faces)
  std::int64_t synth_index = -1;   // facesynth: the sample index
};

struct HeadPoseBatch {
  torch::Tensor images;   // float [B, 3, S, S], normalised
  torch::Tensor targets;  // float [B, 3] yaw, pitch, roll in degrees (flipped views: yaw and roll negated)
  torch::Tensor flipped;  // bool [B]
};

// Photometric strength of a view (the semi-supervised trainer's strong views).
struct ViewAugment {
  double brightness = 0, contrast = 0;  // factors drawn in [1 - f, 1 + f]
  double noise = 0;                     // Gaussian pixel noise sigma up to this (0..255)
  double cutout = 0;                    // a zeroed square of side up to this fraction of the crop (p = 0.5)
  static ViewAugment strong() { return {0.4, 0.4, 12, 0.4}; }
};

class HeadPoseData {
 public:
  // InputError naming the spec for a format without head-pose labels, an empty set, or a bad key.
  static std::unique_ptr<HeadPoseData> open(const std::string& spec, const HeadPoseDataOptions& options, bool train);

  std::string spec, format;
  std::vector<HeadPoseItem> items;
  std::int64_t dropped = 0;  // left out by options.filter (and the format's own filter)
  std::int64_t size() const { return static_cast<std::int64_t>(items.size()); }

  // The whole image of item i (rendered or decoded; kept when the cache allows).
  datasets::RgbImage image(std::int64_t i) const;
  // Training views of items `indices`, view j drawn from the stream (seed, stream, first + j): a
  // loose crop with k in k_range, resize + random square, flip (p = 0.5 when options.flip), then
  // `augment`. `first`: the position of indices[0] in its batch, so that a rank's share of a batch
  // (core/distributed.h) gets the views the whole batch would have.
  HeadPoseBatch train_batch(const std::vector<std::int64_t>& indices, std::uint64_t stream, const ViewAugment& augment = {},
                            std::int64_t first = 0) const;
  // Weak and strong views of the same crops (same geometry and flip), for pseudo-labels: `weak`
  // with no photometric change, `strong` with `augment`.
  std::pair<HeadPoseBatch, HeadPoseBatch> weak_strong_batch(const std::vector<std::int64_t>& indices, std::uint64_t stream,
                                                            const ViewAugment& augment, std::int64_t first = 0) const;
  // Test views of items [begin, end): the record's box, shorter side to img_size, centre square.
  HeadPoseBatch test_batch(std::int64_t begin, std::int64_t end) const;
  // A test view of any image and box (the `vision headpose` command).
  torch::Tensor test_view(const datasets::RgbImage& image, const datasets::FaceBox& box) const;

  const HeadPoseDataOptions& options() const { return options_; }

 private:
  class BatchTensors;  // head_pose_data.cpp
  // Both batches of weak_strong_batch; with need_weak false and a photometric `augment`, the weak
  // images are neither allocated nor written (train_batch returns only the strong one).
  std::pair<HeadPoseBatch, HeadPoseBatch> views(const std::vector<std::int64_t>& indices, std::uint64_t stream,
                                                const ViewAugment& augment, std::int64_t first, bool need_weak) const;
  HeadPoseDataOptions options_;
  std::optional<datasets::FaceSynth> synth_;
  std::vector<datasets::RgbImage> cache_;  // empty: not cached
  std::shared_ptr<BatchTensors> batch_tensors_;  // the batches' image tensors, used again once let go
};

// The crop Hopenet's PIL code makes: rect (left, top, right, bottom) of `image` (black outside),
// resized so that its shorter side is `short_side` with PIL's bilinear filter, of which the
// out_w x out_h window at (ox, oy) is returned as float [H, W, 3] (0..255), mirrored when `flip`.
torch::Tensor crop_resize(const datasets::RgbImage& image, const std::array<std::int64_t, 4>& rect, std::int64_t short_side,
                          std::int64_t ox, std::int64_t oy, std::int64_t out_w, std::int64_t out_h, bool flip);

// The test view of any image and box with `options`' size and normalisation: float [3, S, S].
torch::Tensor head_pose_test_view(const datasets::RgbImage& image, const datasets::FaceBox& box, const HeadPoseDataOptions& options);

// An image file as RGB: PNG always, JPEG and others through OpenCV when the build has it
// (InputError naming the file otherwise).
datasets::RgbImage read_face_image(const std::string& path);

}  // namespace pesuite::vision
