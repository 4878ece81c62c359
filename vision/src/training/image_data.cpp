// Image data for classification: the in-memory formats (idx, cifar10, cifar100) and the factory
// that sends file formats to the streamed implementation (image_stream.cpp).
#include "pesuite/vision/image_data.h"

#include <algorithm>

#include "pesuite/datasets/formats.h"
#include "pesuite/vision/image_stream.h"
#include "pesuite/core/error.h"

namespace pesuite::vision {

std::vector<float> resolve_norm(const std::vector<double>& values, std::int64_t channels, bool is_mean,
                                const std::string& spec) {
  std::vector<double> v = values;
  if (v.empty()) {
    if (channels == 3) v = is_mean ? std::vector<double>{0.485, 0.456, 0.406} : std::vector<double>{0.229, 0.224, 0.225};
    else v = {is_mean ? 0.2860 : 0.3530};  // Fashion-MNIST pixel statistics (the suite's first data set)
  }
  const char* key = is_mean ? "mean" : "std";
  if (v.size() != 1 && static_cast<std::int64_t>(v.size()) != channels)
    throw core::InputError("config data." + std::string(key) + ": " + std::to_string(v.size()) + " values for " +
                     std::to_string(channels) + "-channel images of " + spec);
  std::vector<float> out;
  for (std::int64_t i = 0; i < channels; ++i) {
    const double x = v.size() == 1 ? v[0] : v[static_cast<std::size_t>(i)];
    if (!is_mean && x <= 0) throw core::InputError("config data.std: " + std::to_string(x) + " is not positive");
    out.push_back(static_cast<float>(x));
  }
  return out;
}

ImageSet load_image_set(const std::string& spec_text, std::int64_t limit, const std::vector<double>& mean,
                        const std::vector<double>& std) {
  auto spec = datasets::parse_spec(spec_text);
  if (limit > 0 && spec.params.count("limit")) spec.params["limit"] = std::to_string(limit);
  const datasets::ImageClassificationSet ds = datasets::load_image_tensors(spec);
  ImageSet set;
  torch::Tensor u8 = ds.images;
  set.targets = ds.labels;
  set.class_names = ds.classes;
  if (limit > 0 && u8.size(0) > limit) {
    u8 = u8.slice(0, 0, limit);
    set.targets = set.targets.slice(0, 0, limit);
  }
  if (u8.dim() == 3) u8 = u8.unsqueeze(1);                // [N, H, W] grey
  else if (u8.dim() == 4) u8 = u8.permute({0, 3, 1, 2});  // [N, H, W, C]
  const auto c = u8.size(1);
  auto channel = [&](const std::vector<double>& v, bool is_mean) {
    return torch::tensor(resolve_norm(v, c, is_mean, spec_text)).view({1, c, 1, 1});
  };
  set.images = ((u8.to(torch::kFloat32) / 255.0 - channel(mean, true)) / channel(std, false)).contiguous();
  set.multi_label = set.targets.dim() == 2;
  set.classes = set.multi_label ? set.targets.size(1) : static_cast<std::int64_t>(set.class_names.size());
  if (!set.multi_label && set.classes == 0 && set.targets.numel() > 0) set.classes = set.targets.max().item<std::int64_t>() + 1;
  return set;
}

namespace {

torch::Tensor bilinear(const torch::Tensor& x, std::int64_t side) {
  if (x.size(-1) == side && x.size(-2) == side) return x;
  namespace F = torch::nn::functional;
  return F::interpolate(x, F::InterpolateFuncOptions().size(std::vector<int64_t>{side, side}).mode(torch::kBilinear).align_corners(false));
}

// idx / cifar: every image decoded once; a step's batch is rows of a seeded permutation per epoch,
// flipped by a generator seeded with the step.
class MemoryImageData : public ImageData {
 public:
  MemoryImageData(const std::string& spec_text, ImageSet set, const ImageDataOptions& o) : set_(std::move(set)), opts_(o) {
    spec = spec_text;
    size = set_.images.size(0);
    classes = set_.classes;
    class_names = set_.class_names;
    multi_label = set_.multi_label;
    channels = set_.images.size(1);
    native_size = set_.images.size(2) == set_.images.size(3) ? set_.images.size(2) : 0;
  }

  ImageBatch train_batch(std::int64_t epoch, std::int64_t index, std::int64_t step, std::int64_t batch) override {
    if (epoch != order_epoch_) {
      auto g = torch::make_generator<at::CPUGeneratorImpl>(opts_.seed * 1000003 + static_cast<std::uint64_t>(epoch));
      order_ = torch::randperm(size, g);
      order_epoch_ = epoch;
    }
    auto idx = order_.slice(0, index * batch, (index + 1) * batch);
    auto x = set_.images.index_select(0, idx);
    if (opts_.hflip) {
      auto g = torch::make_generator<at::CPUGeneratorImpl>(opts_.seed * 7919 + static_cast<std::uint64_t>(step));
      auto flip = torch::rand({x.size(0)}, g) < 0.5;
      x = torch::where(flip.view({-1, 1, 1, 1}), x.flip({3}), x);
    }
    return {x, set_.targets.index_select(0, idx)};
  }

  void for_each_test_batch(std::int64_t side, std::int64_t batch,
                           const std::function<void(const torch::Tensor&, const torch::Tensor&)>& fn) override {
    for (std::int64_t i = 0; i < size; i += batch) {
      const auto j = std::min(i + batch, size);
      fn(bilinear(set_.images.slice(0, i, j), side), set_.targets.slice(0, i, j));
    }
  }

 private:
  ImageSet set_;
  ImageDataOptions opts_;
  torch::Tensor order_;
  std::int64_t order_epoch_ = -1;
};

}  // namespace

std::unique_ptr<ImageData> in_memory_image_data(ImageSet set, const std::string& spec, const ImageDataOptions& options) {
  return std::make_unique<MemoryImageData>(spec, std::move(set), options);
}

std::unique_ptr<ImageData> open_image_data(const std::string& spec_text, ImageRole role, const ImageDataOptions& options) {
  auto spec = datasets::parse_spec(spec_text);
  if (spec.info().load_records) {
    if (options.limit > 0) spec.params["limit"] = std::to_string(options.limit);
    return open_streamed_image_data(spec, role, options);
  }
  return std::make_unique<MemoryImageData>(spec_text, load_image_set(spec_text, options.limit, options.mean, options.std), options);
}

torch::Tensor image_level_targets(const datasets::ImageDataset& set) {
  const auto n = static_cast<std::int64_t>(set.records.size()), k = static_cast<std::int64_t>(set.classes.size());
  auto t = torch::zeros({n, k}, torch::kFloat32);
  auto a = t.accessor<float, 2>();
  for (std::int64_t i = 0; i < n; ++i)
    for (const auto& b : set.records[static_cast<std::size_t>(i)].boxes) {
      if (b.label < 0 || b.label >= k) continue;
      // One non-difficult object makes the class present; difficult ones alone make it "ignore".
      if (!b.difficult) a[i][b.label] = 1.f;
      else if (a[i][b.label] == 0.f) a[i][b.label] = -1.f;
    }
  return t;
}

#ifndef PESUITE_HAVE_OPENCV
std::unique_ptr<ImageData> open_streamed_image_data(const datasets::DatasetSpec& spec, ImageRole, const ImageDataOptions&) {
  throw core::InputError("dataset spec '" + spec.text + "': " + spec.format +
                   ": training on image files needs OpenCV (pesuite::imageio), which this build lacks");
}
#endif

}  // namespace pesuite::vision
