#include "pesuite/imageio/loader.h"

#include "pesuite/datasets/formats.h"

#include <algorithm>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include "pesuite/core/error.h"

namespace pesuite::imageio {

TensorSource::TensorSource(datasets::ImageClassificationSet set) : set_(std::move(set)) {
  set_.images = set_.images.contiguous();  // image_at views rows of the tensor's memory
  set_.labels = set_.labels.contiguous();
}

std::shared_ptr<const ImageSource> make_source(const datasets::DatasetSpec& spec) {
  const datasets::Format& f = spec.info();
  if (f.load_images) return std::make_shared<TensorSource>(f.load_images(spec));
  return std::make_shared<RecordSource>(datasets::load_image_dataset(spec));
}

Loader::Loader(std::shared_ptr<const ImageSource> source, TransformOptions transform, LoaderOptions options)
    : source_(std::move(source)), transform_(transform), options_(options) {
  if (options_.batch_size < 1) throw core::InputError("loader: batch_size must be at least 1");
  if (options_.prefetch < 1) options_.prefetch = 1;
  if (options_.workers <= 0) options_.workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

Loader::~Loader() { stop(); }

std::int64_t Loader::batches_per_epoch() const {
  const std::int64_t n = source_->size(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

std::vector<std::int64_t> Loader::order(std::int64_t epoch) const {
  std::vector<std::int64_t> idx(source_->size());
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<std::int64_t>(i);
  if (options_.shuffle) {  // Fisher-Yates on a stream no sample uses (index = all ones)
    SampleRng rng(options_.seed, static_cast<std::uint64_t>(epoch), ~0ULL);
    for (std::int64_t i = static_cast<std::int64_t>(idx.size()) - 1; i > 0; --i) std::swap(idx[i], idx[rng.integer(0, i)]);
  }
  return idx;
}

void Loader::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (producer_.joinable()) producer_.join();
  std::lock_guard<std::mutex> lock(mutex_);
  ready_.clear();
  error_ = nullptr;
  done_ = true;
  stopping_ = false;
}

void Loader::start_epoch(std::int64_t epoch) {
  stop();
  done_ = false;
  producer_ = std::thread(&Loader::produce, this, epoch, order(epoch));
}

Batch Loader::make_batch(std::int64_t epoch, const std::int64_t* idx, std::int64_t n) const {
  const int channels = source_->channels();
  Batch batch;
  batch.images = torch::empty({n, channels, transform_.height, transform_.width}, torch::kFloat32);
  batch.labels = torch::empty({n}, torch::kInt64);
  batch.boxes.resize(n);
  batch.indices.assign(idx, idx + n);
  float* out = batch.images.data_ptr<float>();
  std::int64_t* labels = batch.labels.data_ptr<std::int64_t>();
  const std::int64_t stride = static_cast<std::int64_t>(channels) * transform_.height * transform_.width;
  // Each sample writes only its own slot, so the result does not depend on scheduling.
  tbb::parallel_for(tbb::blocked_range<std::int64_t>(0, n, 1), [&](const tbb::blocked_range<std::int64_t>& r) {
    for (std::int64_t k = r.begin(); k != r.end(); ++k) {
      SampleRng rng(options_.seed, static_cast<std::uint64_t>(epoch), static_cast<std::uint64_t>(idx[k]));
      std::vector<Box> boxes = source_->boxes(idx[k]);
      cv::Mat img = apply(transform_, source_->image(idx[k]), boxes, rng);
      if (img.channels() != channels)
        throw core::InputError("loader: sample " + std::to_string(idx[k]) + " has " + std::to_string(img.channels()) +
                         " channels, the batch " + std::to_string(channels));
      normalize_into(img, transform_.mean, transform_.std, out + k * stride);
      labels[k] = source_->label(idx[k]);
      batch.boxes[k] = std::move(boxes);
    }
  });
  return batch;
}

void Loader::produce(std::int64_t epoch, std::vector<std::int64_t> order) {
  tbb::task_arena arena(options_.workers);
  const std::int64_t batches = batches_per_epoch(), b = options_.batch_size, n = static_cast<std::int64_t>(order.size());
  try {
    for (std::int64_t i = 0; i < batches; ++i) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(lock, [&] { return stopping_ || static_cast<int>(ready_.size()) < options_.prefetch; });
        if (stopping_) return;
      }
      const std::int64_t count = std::min(b, n - i * b);
      Batch batch;
      arena.execute([&] { batch = make_batch(epoch, order.data() + i * b, count); });
      {
        std::lock_guard<std::mutex> lock(mutex_);
        ready_.push_back(std::move(batch));
      }
      changed_.notify_all();
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = std::current_exception();
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    done_ = true;
  }
  changed_.notify_all();
}

std::optional<Batch> Loader::next() {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return !ready_.empty() || done_; });
  if (!ready_.empty()) {
    Batch batch = std::move(ready_.front());
    ready_.pop_front();
    lock.unlock();
    changed_.notify_all();
    return batch;
  }
  if (error_) {
    auto e = error_;
    error_ = nullptr;
    std::rethrow_exception(e);
  }
  return std::nullopt;
}

}  // namespace pesuite::imageio
