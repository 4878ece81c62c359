// Streamed image data (imagefolder, voc, coco) through pesuite::imageio's prefetching Loader; see
// image_stream.h for the determinism argument. Built only with OpenCV.
#include "pesuite/vision/image_stream.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <mutex>
#include <set>
#include <stdexcept>

#include "pesuite/core/distributed.h"
#include "pesuite/core/error.h"
#include "pesuite/datasets/formats.h"
#include "pesuite/imageio/loader.h"

namespace pesuite::vision {
namespace {

namespace fs = std::filesystem;

// The records of a file-based set as the Loader reads them, plus what training needs around it:
// samples already trained on (a resumed epoch) come back as a placeholder without being decoded,
// bad files are counted when skipping them is allowed, and testing resizes + centre-crops here
// (the Loader's own eval transform only resizes). Boxes are not handed out: targets are
// image-level and come from the records.
class GuardedSource : public imageio::ImageSource {
 public:
  GuardedSource(datasets::ImageDataset set, bool skip_bad)
      : set_(std::move(set)), skip_bad_(skip_bad) {
    passed_over.assign(set_.records.size(), 0);
  }

  std::int64_t size() const override { return static_cast<std::int64_t>(set_.records.size()); }
  std::int64_t label(std::int64_t i) const override { return set_.records[static_cast<std::size_t>(i)].label; }

  cv::Mat image(std::int64_t i) const override {
    if (passed_over[static_cast<std::size_t>(i)]) return placeholder();
    cv::Mat img;
    try {
      img = imageio::decode_image(set_.records[static_cast<std::size_t>(i)].file);
    } catch (const core::InputError& e) {
      if (!skip_bad_) throw;
      std::lock_guard<std::mutex> lock(mutex_);
      if (bad_.insert(i).second && messages_.size() < 5) messages_.push_back(e.what());
      return placeholder();
    }
    return eval_side > 0 ? centre_crop(img) : img;
  }

  bool is_bad(std::int64_t i) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return bad_.count(i) > 0;
  }
  std::int64_t bad_count() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return static_cast<std::int64_t>(bad_.size());
  }
  std::vector<std::string> messages() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return messages_;
  }
  const datasets::ImageDataset& dataset() const { return set_; }

  // Written only while no Loader of this source runs (between epochs / test passes).
  std::vector<char> passed_over;
  int eval_side = 0;
  double crop_pct = 0.875;

 private:
  static cv::Mat placeholder() { return cv::Mat(8, 8, CV_8UC3, cv::Scalar(0, 0, 0)); }

  // timm's eval transform: shorter side to floor(side / crop_pct), then the central side x side.
  cv::Mat centre_crop(const cv::Mat& img) const {
    const int side = eval_side;
    const double shorter = std::floor(side / crop_pct);
    const double scale = shorter / std::min(img.cols, img.rows);
    const int w = std::max(side, static_cast<int>(img.cols * scale)), h = std::max(side, static_cast<int>(img.rows * scale));
    std::vector<imageio::Box> none;
    cv::Mat r = imageio::resize(img, none, w, h);
    const cv::Rect rect(static_cast<int>(std::lround((w - side) / 2.0)), static_cast<int>(std::lround((h - side) / 2.0)), side, side);
    return imageio::crop(r, none, rect).clone();
  }

  datasets::ImageDataset set_;
  bool skip_bad_;
  mutable std::mutex mutex_;
  mutable std::set<std::int64_t> bad_;
  mutable std::vector<std::string> messages_;
};

std::array<float, 3> norm3(const std::vector<double>& v, bool is_mean, const std::string& spec) {
  const auto f = resolve_norm(v, 3, is_mean, spec);
  return {f[0], f[1], f[2]};
}

class StreamedImageData : public ImageData {
 public:
  StreamedImageData(const datasets::DatasetSpec& ds_spec, const ImageDataOptions& o) : opts_(o) {
    datasets::ImageDataset set = datasets::load_image_dataset(ds_spec);
    spec = ds_spec.text;
    size = static_cast<std::int64_t>(set.records.size());
    class_names = set.classes;
    classes = static_cast<std::int64_t>(set.classes.size());
    multi_label = set.detection;
    channels = 3;  // decode_image gives RGB for grey and RGBA files too
    streamed = true;
    if (multi_label) {
      targets_ = image_level_targets(set);
    } else {
      std::vector<std::int64_t> labels;
      for (const auto& r : set.records) {
        if (r.label < 0 || r.label >= classes) throw core::InputError(r.file + ": label " + std::to_string(r.label) + " out of range in " + spec);
        labels.push_back(r.label);
      }
      targets_ = torch::tensor(labels, torch::kInt64);
    }
    // A missing file is found now rather than an epoch into training (corrupt ones only when decoded).
    if (!o.skip_bad)
      for (const auto& r : set.records)
        if (!fs::is_regular_file(r.file)) throw core::InputError(r.file + ": missing (image '" + r.id + "' of " + spec + ")");
    mean_ = norm3(o.mean, true, spec);
    std_ = norm3(o.std, false, spec);
    source_ = std::make_shared<GuardedSource>(std::move(set), o.skip_bad);
    source_->crop_pct = o.crop_pct;
  }

  ~StreamedImageData() override { train_.reset(); }  // joins the producer before the source goes

  ImageBatch train_batch(std::int64_t epoch, std::int64_t index, std::int64_t, std::int64_t batch) override {
    if (!train_ || epoch != epoch_ || index != next_ || batch != batch_) position(epoch, index, batch);
    auto b = train_->next();
    if (!b) throw std::logic_error("streamed data " + spec + ": epoch " + std::to_string(epoch) + " has no batch " + std::to_string(index));
    ++next_;
    return assemble(*b);
  }

  void for_each_test_batch(std::int64_t side, std::int64_t batch,
                           const std::function<void(const torch::Tensor&, const torch::Tensor&)>& fn) override {
    train_.reset();
    std::fill(source_->passed_over.begin(), source_->passed_over.end(), 0);
    source_->eval_side = static_cast<int>(side);
    auto t = imageio::TransformOptions::eval(static_cast<int>(side));  // a no-op resize after the centre crop
    t.mean = mean_;
    t.std = std_;
    const auto lo = loader_options(batch, /*shuffle=*/false);
    {
      imageio::Loader loader(source_, t, lo);
      loader.start_epoch(0);
      while (auto b = loader.next()) {
        auto out = assemble(*b);
        if (out.images.size(0) > 0) fn(out.images, out.targets);
      }
    }
    source_->eval_side = 0;
  }

  std::int64_t skipped_images() const override { return source_->bad_count(); }
  std::vector<std::string> skipped_messages() const override { return source_->messages(); }

 private:
  imageio::LoaderOptions loader_options(std::int64_t batch, bool shuffle) const {
    imageio::LoaderOptions lo;
    lo.batch_size = batch;
    lo.workers = opts_.workers;
    lo.prefetch = opts_.prefetch;
    lo.shuffle = shuffle;
    return lo;
  }

  // A fresh Loader at batch `index` of `epoch`: the samples of the batches before it are passed
  // over (placeholders, nothing decoded), then those batches are drawn and dropped.
  void position(std::int64_t epoch, std::int64_t index, std::int64_t batch) {
    train_.reset();
    std::fill(source_->passed_over.begin(), source_->passed_over.end(), 0);
    auto t = imageio::TransformOptions::train(static_cast<int>(opts_.img_size));
    t.scale_min = opts_.scale_min;
    t.scale_max = opts_.scale_max;
    t.flip = opts_.hflip ? 0.5 : 0.0;
    t.brightness = t.contrast = t.saturation = opts_.color_jitter;
    t.hue = 0.0;
    t.mean = mean_;
    t.std = std_;
    auto lo = loader_options(batch, /*shuffle=*/true);
    lo.drop_last = size >= batch;  // every step a full batch (one partial batch when the set is smaller)
    lo.seed = opts_.seed;
    train_ = std::make_unique<imageio::Loader>(source_, t, lo);
    if (index > 0) {
      const auto order = train_->order(epoch);
      const auto n = std::min<std::int64_t>(index * batch, static_cast<std::int64_t>(order.size()));
      for (std::int64_t i = 0; i < n; ++i) source_->passed_over[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])] = 1;
    }
    pass_over_other_ranks_rows(train_->order(epoch), index, batch);
    train_->start_epoch(epoch);
    for (std::int64_t i = 0; i < index; ++i) train_->next();
    epoch_ = epoch;
    next_ = index;
    batch_ = batch;
  }

  // Several ranks: each decodes only the rows of its share of every batch from `index` on (and,
  // when rows are mixed with the flipped batch, their partners); the others are placeholders that
  // keep every batch's composition, so the ranks' shares are the single-process batch's rows. With
  // skip_bad every rank decodes the whole batch: a bad image anywhere moves the shares.
  void pass_over_other_ranks_rows(const std::vector<std::int64_t>& order, std::int64_t index, std::int64_t batch) {
    const auto& world = core::dist::World::get();
    if (world.size() <= 1 || opts_.skip_bad) return;
    const auto n = static_cast<std::int64_t>(order.size());
    for (std::int64_t start = index * batch; start < n; start += batch) {
      const auto rows = std::min(batch, n - start);
      const auto share = world.batch_share(rows);
      for (std::int64_t r = 0; r < rows; ++r) {
        const auto partner = rows - 1 - r;
        const bool needed = (r >= share.begin && r < share.end) || (opts_.mixes_rows && partner >= share.begin && partner < share.end);
        if (!needed) source_->passed_over[static_cast<std::size_t>(order[static_cast<std::size_t>(start + r)])] = 1;
      }
    }
  }

  // The batch's targets from the records; images whose file was bad (skip_bad) left out.
  ImageBatch assemble(const imageio::Batch& b) const {
    std::vector<std::int64_t> rows, idx;
    for (std::size_t k = 0; k < b.indices.size(); ++k)
      if (!source_->is_bad(b.indices[k])) rows.push_back(static_cast<std::int64_t>(k)), idx.push_back(b.indices[k]);
    ImageBatch out;
    out.images = rows.size() == b.indices.size() ? b.images : b.images.index_select(0, torch::tensor(rows, torch::kInt64));
    out.targets = targets_.index_select(0, torch::tensor(idx, torch::kInt64));
    return out;
  }

  ImageDataOptions opts_;
  std::array<float, 3> mean_{}, std_{};
  torch::Tensor targets_;
  std::shared_ptr<GuardedSource> source_;
  std::unique_ptr<imageio::Loader> train_;
  std::int64_t epoch_ = -1, next_ = -1, batch_ = -1;
};

}  // namespace

std::unique_ptr<ImageData> open_streamed_image_data(const datasets::DatasetSpec& spec, ImageRole, const ImageDataOptions& options) {
  return std::make_unique<StreamedImageData>(spec, options);
}

}  // namespace pesuite::vision
