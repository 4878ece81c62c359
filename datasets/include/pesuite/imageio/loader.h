#pragma once
// The prefetching image loader (pesuite::imageio): decodes and augments a batch's images in
// parallel (TBB, `workers` threads) on a background thread while the caller trains on the previous
// batches; at most `prefetch` finished batches wait in a bounded queue. Batches are the same for a
// given (seed, epoch) whatever the worker count: the order is a seeded shuffle and each sample's
// augmentation uses SampleRng(seed, epoch, index).
//
//   auto spec = pesuite::datasets::parse_spec("voc:/data/VOC2012?split=train");
//   pesuite::imageio::LoaderOptions lo;
//   lo.batch_size = 32; lo.workers = 4; lo.seed = 0;
//   pesuite::imageio::Loader loader(pesuite::imageio::make_source(spec),
//                                   pesuite::imageio::TransformOptions::train(224), lo);
//   for (std::int64_t epoch = 0; epoch < 10; ++epoch) {
//     loader.start_epoch(epoch);
//     while (auto batch = loader.next()) train_step(batch->images, batch->labels, batch->boxes);
//   }
// A file that fails to decode ends the epoch with its InputError, thrown from next().
#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "pesuite/imageio/decode.h"
#include "pesuite/imageio/transforms.h"

namespace pesuite::imageio {

// What the loader reads: N samples, each an image with a label and/or boxes.
class ImageSource {
 public:
  virtual ~ImageSource() = default;
  virtual std::int64_t size() const = 0;
  virtual cv::Mat image(std::int64_t i) const = 0;  // uint8 RGB (or grey); core::InputError naming the file
  virtual int channels() const { return 3; }  // of every image (decoded files are RGB)
  virtual std::int64_t label(std::int64_t) const { return -1; }
  virtual std::vector<Box> boxes(std::int64_t) const { return {}; }
};

// Files listed by records (imagefolder, voc, coco), decoded on demand.
class RecordSource : public ImageSource {
 public:
  explicit RecordSource(datasets::ImageDataset set) : set_(std::move(set)) {}
  std::int64_t size() const override { return static_cast<std::int64_t>(set_.records.size()); }
  cv::Mat image(std::int64_t i) const override { return decode_image(set_.records[i].file); }
  std::int64_t label(std::int64_t i) const override { return set_.records[i].label; }
  std::vector<Box> boxes(std::int64_t i) const override { return set_.records[i].boxes; }
  const datasets::ImageDataset& dataset() const { return set_; }

 private:
  datasets::ImageDataset set_;
};

// Pixels already in memory (idx, cifar).
class TensorSource : public ImageSource {
 public:
  explicit TensorSource(datasets::ImageClassificationSet set);
  std::int64_t size() const override { return set_.images.size(0); }
  cv::Mat image(std::int64_t i) const override { return image_at(set_, i); }
  int channels() const override { return set_.images.dim() == 4 ? static_cast<int>(set_.images.size(3)) : 1; }
  std::int64_t label(std::int64_t i) const override { return set_.labels[i].item<std::int64_t>(); }

 private:
  datasets::ImageClassificationSet set_;
};

// Any image format of the spec table: idx/cifar in memory, imagefolder/voc/coco as records.
std::shared_ptr<const ImageSource> make_source(const datasets::DatasetSpec& spec);

struct LoaderOptions {
  std::int64_t batch_size = 32;
  int workers = 0;         // decode threads; 0 = all cores
  int prefetch = 4;        // finished batches kept ready
  bool shuffle = true;
  bool drop_last = false;  // drop a last, smaller batch
  std::uint64_t seed = 0;
};

struct Batch {
  torch::Tensor images;                 // float [B, C, H, W], normalised
  torch::Tensor labels;                 // int64 [B] (-1 where the source has none)
  std::vector<std::vector<Box>> boxes;  // per image, in output pixels
  std::vector<std::int64_t> indices;    // source indices
};

class Loader {
 public:
  Loader(std::shared_ptr<const ImageSource> source, TransformOptions transform, LoaderOptions options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  void start_epoch(std::int64_t epoch);  // stops any epoch in flight, reshuffles, starts decoding
  std::optional<Batch> next();           // nullopt when the epoch is done; rethrows a decode error
  std::int64_t batches_per_epoch() const;
  // The source indices of an epoch, in batch order (the seeded shuffle, or 0..N-1).
  std::vector<std::int64_t> order(std::int64_t epoch) const;

 private:
  void stop();
  void produce(std::int64_t epoch, std::vector<std::int64_t> order);
  Batch make_batch(std::int64_t epoch, const std::int64_t* idx, std::int64_t n) const;

  std::shared_ptr<const ImageSource> source_;
  TransformOptions transform_;
  LoaderOptions options_;
  std::thread producer_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Batch> ready_;
  std::exception_ptr error_;
  bool done_ = true, stopping_ = false;
};

}  // namespace pesuite::imageio
