#pragma once
// The images a classifier trains and tests on, whatever their format: in memory (idx:, cifar10:,
// cifar100: — small binary files, decoded once) or streamed from files (imagefolder:, voc:, coco:
// — decoded and augmented each epoch by pesuite::imageio's prefetching Loader, see image_stream.h).
// Either way the batch of a training step is a function of (seed, epoch, index in the epoch), so an
// interrupted run resumes bit for bit.
//
//   ImageDataOptions o;
//   o.seed = 0; o.img_size = 64;                       // streamed: training crops are 64 x 64
//   auto train = open_image_data("voc:/data/VOC2012?split=train", ImageRole::Train, o);
//   auto test = open_image_data("voc:/data/VOC2012?split=val", ImageRole::Test, o);
//   ImageBatch b = train->train_batch(/*epoch=*/0, /*index=*/0, /*step=*/0, /*batch=*/32);
//   test->for_each_test_batch(64, 100, [](const torch::Tensor& x, const torch::Tensor& t) { ... });
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace pesuite::vision {

enum class ImageRole { Train, Test };

struct ImageDataOptions {
  std::vector<double> mean, std;  // 1 or C values; empty = auto (ImageNet for colour, Fashion-MNIST for grey)
  std::int64_t limit = 0;         // 0 = every image
  std::uint64_t seed = 0;
  bool hflip = true;              // training: horizontal flips (p = 0.5)
  // Streamed formats only:
  std::int64_t img_size = 224;    // training: random-resized-crop to this side
  double scale_min = 0.08, scale_max = 1.0;  // training: crop area range (fraction of the image)
  double color_jitter = 0.0;      // training: brightness / contrast / saturation factor
  double crop_pct = 0.875;        // testing: resize the shorter side to size / crop_pct, centre crop (timm)
  int workers = 0;                // decode threads, 0 = all cores (batches do not depend on it)
  int prefetch = 4;               // finished batches kept ready
  bool skip_bad = false;          // a missing / corrupt image is skipped and counted instead of an error
  // Training with several ranks (core/distributed.h): rows of a batch are mixed with the flipped
  // batch's (mixup / cutmix), so a rank decodes its share's partner rows too.
  bool mixes_rows = false;
};

struct ImageBatch {
  torch::Tensor images;   // float [B, C, H, W], normalised
  torch::Tensor targets;  // int64 [B] (single-label) or float [B, K] (1 present, 0 absent, -1 ignore)
};

class ImageData {
 public:
  virtual ~ImageData() = default;

  std::string spec;                      // as given
  std::int64_t size = 0;                 // images
  std::int64_t classes = 0;
  std::vector<std::string> class_names;  // may be empty (idx without names)
  bool multi_label = false;              // voc:, coco: (the set of object classes present)
  std::int64_t channels = 0;
  std::int64_t native_size = 0;          // in memory: the images' side; streamed: 0 (any size)
  bool streamed = false;

  // Batch `index` of `epoch` (`step` = the global step, which seeds the in-memory flips).
  virtual ImageBatch train_batch(std::int64_t epoch, std::int64_t index, std::int64_t step, std::int64_t batch) = 0;
  // Every image once, in order, at side `side` (in memory: bilinear resize; streamed: resize the
  // shorter side to side / crop_pct, centre crop). Skipped bad images are left out.
  virtual void for_each_test_batch(std::int64_t side, std::int64_t batch,
                                   const std::function<void(const torch::Tensor& images, const torch::Tensor& targets)>& fn) = 0;
  // Images skipped so far (skip_bad), and the first few messages.
  virtual std::int64_t skipped_images() const { return 0; }
  virtual std::vector<std::string> skipped_messages() const { return {}; }
};

// A labelled image set in memory (idx, cifar), normalised with the config's mean / std.
struct ImageSet {
  torch::Tensor images;   // float [N, C, H, W]
  torch::Tensor targets;  // int64 [N] (single-label) or float [N, K] multi-hot (1, 0, -1 = ignore)
  std::int64_t classes = 0;
  std::vector<std::string> class_names;
  bool multi_label = false;
};
// idx:, cifar10:, cifar100: (mean / std as ImageDataOptions); InputError for other formats.
ImageSet load_image_set(const std::string& spec, std::int64_t limit, const std::vector<double>& mean,
                        const std::vector<double>& std);
// An ImageSet as ImageData (the in-memory implementation).
std::unique_ptr<ImageData> in_memory_image_data(ImageSet set, const std::string& spec, const ImageDataOptions& options);

// Any image format of the spec table; InputError naming the spec for anything else.
std::unique_ptr<ImageData> open_image_data(const std::string& spec, ImageRole role, const ImageDataOptions& options);

// data.mean / data.std for `channels`-channel images: the given values (1 = every channel), or
// when empty ImageNet's (colour) / Fashion-MNIST's (grey). InputError when the count does not fit.
std::vector<float> resolve_norm(const std::vector<double>& values, std::int64_t channels, bool is_mean,
                                const std::string& spec);

}  // namespace pesuite::vision
