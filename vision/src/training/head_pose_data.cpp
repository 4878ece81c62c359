// Face crops for head-pose training and testing (head_pose_data.h).
#include "pesuite/vision/head_pose_data.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <mutex>

#include "pesuite/core/error.h"
#include "pesuite/core/parallel.h"
#include "pesuite/datasets/formats.h"
#include "pesuite/datasets/png.h"
#include "pesuite/datasets/spec.h"
#ifdef PESUITE_HAVE_OPENCV
#include "pesuite/imageio/decode.h"
#include "pesuite/imageio/head_pose_draw.h"
#endif
#include "view_rng.h"

namespace pesuite::vision {
namespace {

// PIL's bilinear resampling weights for outputs [first, first + count) of a resize in -> out: output
// i reads inputs [start[i], start[i] + count[i]) with weights w[offset[i]], w[offset[i] + 1], ...
// (one array for all outputs: no allocation per output, no indirection in the inner loops).
struct Taps {
  std::vector<std::int64_t> start, count, offset;
  std::vector<float> w;
};
Taps taps(std::int64_t in, std::int64_t out, std::int64_t first, std::int64_t count) {
  Taps t;
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  const double support = std::max(scale, 1.0);  // triangle radius in input pixels
  std::vector<double> raw;
  for (std::int64_t i = first; i < first + count; ++i) {
    const double centre = (static_cast<double>(i) + 0.5) * scale;
    const auto lo = static_cast<std::int64_t>(std::floor(centre - support)), hi = static_cast<std::int64_t>(std::ceil(centre + support));
    const auto a = std::max<std::int64_t>(lo, 0), b = std::min<std::int64_t>(hi, in);
    double total = 0;
    raw.clear();
    for (std::int64_t j = a; j < b; ++j) {
      const double x = (static_cast<double>(j) + 0.5 - centre) / support;
      const double v = std::max(0.0, 1.0 - std::abs(x));
      raw.push_back(v);
      total += v;
    }
    t.start.push_back(a);
    t.count.push_back(static_cast<std::int64_t>(raw.size()));
    t.offset.push_back(static_cast<std::int64_t>(t.w.size()));
    for (double v : raw) t.w.push_back(static_cast<float>(total > 0 ? v / total : 0));
  }
  return t;
}

// Image rows y0 .. y0 + rows resampled horizontally by tx (x0: the crop's left edge in the image)
// into dst [rows, out_w, 3], mirrored when `flip`. dst must be zeroed: rows outside the image stay
// black, and taps outside it are skipped (they would add black).
void resample_rows(const datasets::RgbImage& image, std::int64_t x0, std::int64_t y0, std::int64_t rows, const Taps& tx, bool flip,
                   float* dst) {
  const auto out_w = static_cast<std::int64_t>(tx.start.size());
  // Each column's taps clipped to the image once, not once per row.
  std::vector<std::int64_t> k0(static_cast<std::size_t>(out_w)), k1(static_cast<std::size_t>(out_w));
  for (std::int64_t c = 0; c < out_w; ++c) {
    const auto x = x0 + tx.start[c], n = tx.count[c];
    k0[c] = std::clamp<std::int64_t>(-x, 0, n);
    k1[c] = std::clamp<std::int64_t>(image.width - x, k0[c], n);
  }
  for (std::int64_t r = 0; r < rows; ++r) {
    const auto y = y0 + r;
    if (y < 0 || y >= image.height) continue;
    const std::uint8_t* src = image.at(static_cast<int>(y), 0);
    float* row = dst + r * out_w * 3;
    for (std::int64_t c = 0; c < out_w; ++c) {
      const float* w = tx.w.data() + tx.offset[c];
      const auto base = (x0 + tx.start[c]) * 3;  // tap k reads src[base + 3 k ...], inside the row for k in [k0, k1)
      float a0 = 0, a1 = 0, a2 = 0;
      for (std::int64_t k = k0[c]; k < k1[c]; ++k) {
        const std::uint8_t* p = src + base + 3 * k;
        a0 += w[k] * p[0];
        a1 += w[k] * p[1];
        a2 += w[k] * p[2];
      }
      float* o = row + (flip ? out_w - 1 - c : c) * 3;
      o[0] = a0;
      o[1] = a1;
      o[2] = a2;
    }
  }
}

// out [out_h, row_len / 3, 3] from rows [rows, row_len] resampled vertically by ty (row r of `rows`
// is crop row row_lo + r). Whole output rows at a time; each value still sums its taps in order
// from 0, so the bits are those of one accumulator per pixel.
void resample_columns(const float* rows, std::int64_t row_lo, std::int64_t row_len, const Taps& ty, float* out) {
  const auto out_h = static_cast<std::int64_t>(ty.start.size());
  for (std::int64_t i = 0; i < out_h; ++i) {
    float* __restrict o = out + i * row_len;
    std::fill_n(o, row_len, 0.f);
    for (std::int64_t k = 0; k < ty.count[i]; ++k) {
      const float wk = ty.w[static_cast<std::size_t>(ty.offset[i] + k)];
      const float* __restrict p = rows + (ty.start[i] + k - row_lo) * row_len;
      for (std::int64_t e = 0; e < row_len; ++e) o[e] += wk * p[e];
    }
  }
}

HeadPoseItem item_of(const datasets::HeadPoseRecord& r) {
  HeadPoseItem it;
  it.id = r.id;
  it.pose = r.pose;
  it.landmark_box = r.landmark_box;
  it.box = r.box;
  it.file = r.file;
  return it;
}

// Output view geometry of one item: crop rect, resized short side, window offset.
struct Geometry {
  std::array<std::int64_t, 4> rect;
  std::int64_t short_side, ox, oy;
  bool flip;
};

Geometry test_geometry(const datasets::FaceBox& box, std::int64_t s) {
  Geometry g{datasets::crop_rect(box), s, 0, 0, false};
  const auto w = std::max<std::int64_t>(1, g.rect[2] - g.rect[0]), h = std::max<std::int64_t>(1, g.rect[3] - g.rect[1]);
  // torchvision Scale(s): the shorter side becomes s, the other int(s * long / short); then CenterCrop(s).
  const auto rw = w <= h ? s : static_cast<std::int64_t>(static_cast<double>(s) * w / h);
  const auto rh = w <= h ? static_cast<std::int64_t>(static_cast<double>(s) * h / w) : s;
  g.ox = static_cast<std::int64_t>(std::lround((rw - s) / 2.0));
  g.oy = static_cast<std::int64_t>(std::lround((rh - s) / 2.0));
  return g;
}

}  // namespace

datasets::RgbImage read_face_image(const std::string& path) {
  if (!std::filesystem::exists(path)) throw core::InputError(path + ": image file not found");
  const auto ext = std::filesystem::path(path).extension().string();
  if (ext == ".png" || ext == ".PNG") return datasets::read_png_rgb(path);
#ifdef PESUITE_HAVE_OPENCV
  cv::Mat rgb = imageio::decode_image(path);
  datasets::RgbImage img(rgb.cols, rgb.rows);
  for (int r = 0; r < rgb.rows; ++r) std::copy_n(rgb.ptr<std::uint8_t>(r), rgb.cols * 3, img.at(r, 0));
  return img;
#else
  throw core::InputError(path + ": this build reads PNG faces only (JPEG needs OpenCV)");
#endif
}

torch::Tensor crop_resize(const datasets::RgbImage& image, const std::array<std::int64_t, 4>& rect, std::int64_t short_side,
                          std::int64_t ox, std::int64_t oy, std::int64_t out_w, std::int64_t out_h, bool flip) {
  const auto cw = std::max<std::int64_t>(1, rect[2] - rect[0]), ch = std::max<std::int64_t>(1, rect[3] - rect[1]);
  const auto rw = cw <= ch ? short_side : static_cast<std::int64_t>(static_cast<double>(short_side) * cw / ch);
  const auto rh = cw <= ch ? static_cast<std::int64_t>(static_cast<double>(short_side) * ch / cw) : short_side;
  const Taps tx = taps(cw, rw, ox, out_w), ty = taps(ch, rh, oy, out_h);
  // Rows of the crop the vertical taps read, resampled horizontally first.
  std::int64_t row_lo = ch, row_hi = 0;
  for (std::int64_t i = 0; i < out_h; ++i) {
    row_lo = std::min(row_lo, ty.start[i]);
    row_hi = std::max(row_hi, ty.start[i] + ty.count[i]);
  }
  const auto rows = std::max<std::int64_t>(0, row_hi - row_lo);
  std::vector<float> tmp(static_cast<std::size_t>(rows * out_w * 3), 0.f);
  resample_rows(image, rect[0], rect[1] + row_lo, rows, tx, flip, tmp.data());
  auto out = torch::empty({out_h, out_w, 3}, torch::kFloat32);
  resample_columns(tmp.data(), row_lo, out_w * 3, ty, out.data_ptr<float>());
  return out;
}

// Float tensors for the batches' images, handed out again once nobody else holds them. A fresh
// batch (128 views of 128 px: 25 MB) is mapped by the kernel page by page as its views are first
// written: on the 2-core VM that was most of a train_batch's time (bench headpose-views). A tensor
// is handed out again only when this pool holds the last reference to it and to its storage, so a
// batch the caller still holds (or a view of it, or autograd's saved input) is never written over.
class HeadPoseData::BatchTensors {
 public:
  torch::Tensor empty(at::IntArrayRef sizes) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& t : kept_)
      if (unused(t) && t.sizes() == sizes) return t;
    auto t = torch::empty(sizes);
    if (kept_.size() < kKept) kept_.push_back(t);
    else if (auto old = std::find_if(kept_.begin(), kept_.end(), unused); old != kept_.end()) *old = t;
    return t;
  }

 private:
  static constexpr std::size_t kKept = 4;  // a semi-supervised step holds three: labelled, weak, strong
  static bool unused(const torch::Tensor& t) { return t.use_count() == 1 && t.storage().use_count() == 1; }
  std::mutex mutex_;
  std::vector<torch::Tensor> kept_;
};

std::unique_ptr<HeadPoseData> HeadPoseData::open(const std::string& spec_text, const HeadPoseDataOptions& options, bool train) {
  auto d = std::make_unique<HeadPoseData>();
  d->batch_tensors_ = std::make_shared<BatchTensors>();
  d->spec = spec_text;
  d->options_ = options;
  if (options.img_size < 16) throw core::InputError(spec_text + ": head-pose crops need img_size >= 16");
  const auto spec = datasets::parse_spec(spec_text);
  d->format = spec.format;
  if (spec.info().make_faces) {
#ifdef PESUITE_HAVE_OPENCV
    d->synth_.emplace(imageio::make_facesynth(spec));
#else
    d->synth_.emplace(datasets::make_facesynth(spec));
#endif
    for (std::int64_t i = 0; i < d->synth_->size(); ++i) {
      const auto s = d->synth_->label(i);
      HeadPoseItem it;
      it.id = "facesynth/" + std::to_string(i);
      it.pose = s.pose;
      it.landmark_box = s.landmark_box;
      it.box = s.box;
      it.synth_index = i;
      d->items.push_back(std::move(it));
    }
  } else if (spec.info().load_head_pose) {
    const auto set = datasets::load_head_pose_dataset(spec);
    d->dropped = static_cast<std::int64_t>(set.dropped.size());
    for (const auto& r : set.records) d->items.push_back(item_of(r));
  } else {
    throw core::InputError(spec_text + ": format '" + spec.format +
                           "' has no head-pose labels (use facesynth:, 300wlp:, aflw2000: or biwi:)");
  }
  if (!train && options.filter > 0) {
    std::vector<HeadPoseItem> kept;
    for (auto& it : d->items) {
      if (std::abs(it.pose.yaw) > options.filter || std::abs(it.pose.pitch) > options.filter || std::abs(it.pose.roll) > options.filter)
        ++d->dropped;
      else
        kept.push_back(std::move(it));
    }
    d->items = std::move(kept);
  }
  if (options.limit > 0 && d->size() > options.limit) d->items.resize(static_cast<std::size_t>(options.limit));
  if (d->items.empty()) throw core::InputError(spec_text + ": no faces" + (d->dropped ? " left after the angle filter" : ""));
  // Keep the images in memory when they fit (rendered faces: their known size; files: decoded once).
  double bytes = 0;
  if (d->synth_) bytes = static_cast<double>(d->size()) * d->synth_->options().width * d->synth_->options().height * 3;
  else bytes = static_cast<double>(d->size()) * 450 * 450 * 3;  // 300W-LP / AFLW2000 images are 450 x 450
  if (bytes <= static_cast<double>(options.cache_mb) * 1024 * 1024) {
    d->cache_.resize(d->items.size());
    HeadPoseData* self = d.get();
    // In parallel; each image depends only on its item (rendered faces: on (seed, index)).
    core::parallel_for(0, self->size(), 1, [self](std::int64_t lo, std::int64_t hi) {
      for (std::int64_t i = lo; i < hi; ++i) {
        const auto& it = self->items[static_cast<std::size_t>(i)];
        self->cache_[static_cast<std::size_t>(i)] = self->synth_ ? self->synth_->sample(it.synth_index).image : read_face_image(it.file);
      }
    });
  }
  return d;
}

datasets::RgbImage HeadPoseData::image(std::int64_t i) const {
  if (!cache_.empty()) return cache_[static_cast<std::size_t>(i)];
  const auto& it = items[static_cast<std::size_t>(i)];
  if (synth_) return synth_->sample(it.synth_index).image;
  return read_face_image(it.file);
}

namespace {

// Per channel (x / 255 - mean) / std: the normalisation of every view.
struct Normalise {
  std::array<float, 3> mean, std;
  float operator()(float x, int c) const { return (x / 255.0f - mean[c]) / std[c]; }
};

// hwc [H, W, 3] float 0..255 (contiguous) -> out [3, H, W] (contiguous), normalised: one pass over
// the pixels (per-channel ATen ops made temporaries of every plane).
void normalise_into(const torch::Tensor& hwc, const Normalise& norm, torch::Tensor out) {
  if (!hwc.is_contiguous() || !out.is_contiguous() || out.scalar_type() != torch::kFloat32)
    throw std::logic_error("normalise_into: contiguous float32 tensors expected");
  const std::int64_t plane = hwc.size(0) * hwc.size(1);
  const Normalise n = norm;  // a local copy: the stores below cannot change it, so the loop vectorises
  const float* in = hwc.data_ptr<float>();
  float* __restrict r = out.data_ptr<float>();
  float* __restrict g = r + plane;
  float* __restrict b = g + plane;
  for (std::int64_t i = 0; i < plane; ++i) {
    r[i] = n(in[3 * i], 0);
    g[i] = n(in[3 * i + 1], 1);
    b[i] = n(in[3 * i + 2], 2);
  }
}

// Mean of v[0, n) in double; four running sums in turn, so the additions do not wait on each other.
double crop_mean(const float* v, std::int64_t n) {
  double s[4] = {0, 0, 0, 0};
  std::int64_t k = 0;
  for (; k + 4 <= n; k += 4)
    for (int l = 0; l < 4; ++l) s[l] += v[k + l];
  for (; k < n; ++k) s[0] += v[k];
  return (s[0] + s[1] + s[2] + s[3]) / static_cast<double>(std::max<std::int64_t>(1, n));
}

// A square of side up to cutout * min(h, w) at a random place, with p = 0.5 (side 0: none).
struct Square {
  std::int64_t y = 0, x = 0, side = 0;
};
Square cutout_square(double cutout, std::int64_t h, std::int64_t w, ViewRng& rng) {
  Square q;
  if (!(cutout > 0) || rng.uniform() >= 0.5) return q;
  q.side = std::max<std::int64_t>(1, static_cast<std::int64_t>(rng.uniform(0, cutout) * std::min(h, w)));
  q.y = static_cast<std::int64_t>(rng.uniform(0, static_cast<double>(h - q.side + 1)));
  q.x = static_cast<std::int64_t>(rng.uniform(0, static_cast<double>(w - q.side + 1)));
  return q;
}

// The strong view of crop hwc [H, W, 3] (0..255) straight into its normalised planes out [3, H, W],
// in one pass: v -> clamp(scale v + shift + sigma z, 0, 255), 0 inside the cutout square, then
// normalised. The draws come in the order of the separate passes this replaced (brightness b,
// contrast f, sigma, one normal per value, the cutout's coin and square). Brightness then contrast
// about the brightened mean m' = b m is f (b v - m') + m' = b f v + b (1 - f) m: one affine map whose
// rounding only differs from applying the two in turn.
void strong_view_into(const torch::Tensor& hwc, const ViewAugment& a, ViewRng& rng, const Normalise& norm, torch::Tensor out) {
  const auto h = hwc.size(0), w = hwc.size(1), plane = h * w, n = plane * 3;
  const float* v = hwc.data_ptr<float>();
  const double b = a.brightness > 0 ? rng.uniform(1 - a.brightness, 1 + a.brightness) : 1;
  const double f = a.contrast > 0 ? rng.uniform(1 - a.contrast, 1 + a.contrast) : 1;
  const double m = a.contrast > 0 ? crop_mean(v, n) : 0;
  const auto scale = static_cast<float>(b * f), shift = static_cast<float>(b * (1 - f) * m);
  const auto sigma = a.noise > 0 ? static_cast<float>(rng.uniform(0, a.noise)) : 0.f;
  std::vector<float> z(static_cast<std::size_t>(n), 0.f);
  if (a.noise > 0) rng.normals(z.data(), n);
  const Square cut = cutout_square(a.cutout, h, w, rng);
  const Normalise nm = norm;
  float* __restrict o = out.data_ptr<float>();
  for (std::int64_t i = 0; i < plane; ++i)
    for (int c = 0; c < 3; ++c) {
      const auto k = 3 * i + c;
      o[c * plane + i] = nm(std::min(std::max(scale * v[k] + shift + sigma * z[static_cast<std::size_t>(k)], 0.f), 255.f), c);
    }
  for (std::int64_t y = cut.y; y < cut.y + cut.side; ++y)
    for (int c = 0; c < 3; ++c) std::fill_n(o + c * plane + y * w + cut.x, cut.side, nm(0, c));
}

// The test view of `box` (test_geometry, no flip), normalised into out [3, s, s] (contiguous).
void test_view_into(const datasets::RgbImage& img, const datasets::FaceBox& box, const HeadPoseDataOptions& options, torch::Tensor out) {
  const auto s = options.img_size;
  const Geometry g = test_geometry(box, s);
  const auto view = crop_resize(img, g.rect, g.short_side, g.ox, g.oy, s, s, false);
  normalise_into(view, Normalise{options.mean, options.std}, out);
}

}  // namespace

std::pair<HeadPoseBatch, HeadPoseBatch> HeadPoseData::views(const std::vector<std::int64_t>& indices, std::uint64_t stream,
                                                           const ViewAugment& augment, std::int64_t first, bool need_weak) const {
  const auto b = static_cast<std::int64_t>(indices.size()), s = options_.img_size;
  HeadPoseBatch weak, strong;
  const bool want_strong = augment.brightness > 0 || augment.contrast > 0 || augment.noise > 0 || augment.cutout > 0;
  const bool write_weak = need_weak || !want_strong;
  if (write_weak) weak.images = batch_tensors_->empty({b, 3, s, s});
  strong.images = want_strong ? batch_tensors_->empty({b, 3, s, s}) : weak.images;
  weak.targets = torch::empty({b, 3});
  weak.flipped = torch::zeros({b}, torch::kBool);
  auto tgt = weak.targets.accessor<float, 2>();
  auto flp = weak.flipped.accessor<bool, 1>();
  const Normalise norm{options_.mean, options_.std};
  core::parallel_for(0, b, 1, [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t j = lo; j < hi; ++j) {
      ViewRng rng(options_.seed, stream, static_cast<std::uint64_t>(first + j));
      const auto& it = items[static_cast<std::size_t>(indices[j])];
      const double k = rng.uniform(options_.k_range[0], options_.k_range[1]);
      const auto box = datasets::loose_box(it.landmark_box, datasets::LooseCrop::hopenet_train(k));
      const auto rect = datasets::crop_rect(box);
      const auto short_side = static_cast<std::int64_t>(std::lround(static_cast<double>(s) * options_.resize_ratio));
      const auto cw = std::max<std::int64_t>(1, rect[2] - rect[0]), ch = std::max<std::int64_t>(1, rect[3] - rect[1]);
      const auto rw = cw <= ch ? short_side : static_cast<std::int64_t>(static_cast<double>(short_side) * cw / ch);
      const auto rh = cw <= ch ? static_cast<std::int64_t>(static_cast<double>(short_side) * ch / cw) : short_side;
      const auto ox = static_cast<std::int64_t>(rng.uniform(0, static_cast<double>(std::max<std::int64_t>(0, rw - s) + 1)));
      const auto oy = static_cast<std::int64_t>(rng.uniform(0, static_cast<double>(std::max<std::int64_t>(0, rh - s) + 1)));
      const bool flip = options_.flip && rng.uniform() < 0.5;
      datasets::RgbImage uncached;
      const datasets::RgbImage& img = cache_.empty() ? (uncached = image(indices[j])) : cache_[static_cast<std::size_t>(indices[j])];
      const auto view = crop_resize(img, rect, short_side, ox, oy, s, s, flip);
      if (write_weak) normalise_into(view, norm, weak.images[j]);
      if (want_strong) strong_view_into(view, augment, rng, norm, strong.images[j]);
      const double sign = flip ? -1 : 1;
      tgt[j][0] = static_cast<float>(sign * it.pose.yaw);
      tgt[j][1] = static_cast<float>(it.pose.pitch);
      tgt[j][2] = static_cast<float>(sign * it.pose.roll);
      flp[j] = flip;
    }
  });
  strong.targets = weak.targets;
  strong.flipped = weak.flipped;
  return {weak, strong};
}

HeadPoseBatch HeadPoseData::train_batch(const std::vector<std::int64_t>& indices, std::uint64_t stream, const ViewAugment& augment,
                                        std::int64_t first) const {
  return views(indices, stream, augment, first, /*need_weak=*/false).second;
}

std::pair<HeadPoseBatch, HeadPoseBatch> HeadPoseData::weak_strong_batch(const std::vector<std::int64_t>& indices, std::uint64_t stream,
                                                                       const ViewAugment& augment, std::int64_t first) const {
  return views(indices, stream, augment, first, /*need_weak=*/true);
}

HeadPoseBatch HeadPoseData::test_batch(std::int64_t begin, std::int64_t end) const {
  const auto b = end - begin, s = options_.img_size;
  HeadPoseBatch out;
  out.images = batch_tensors_->empty({b, 3, s, s});
  out.targets = torch::empty({b, 3});
  out.flipped = torch::zeros({b}, torch::kBool);
  auto tgt = out.targets.accessor<float, 2>();
  core::parallel_for(0, b, 1, [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t j = lo; j < hi; ++j) {
      const auto& it = items[static_cast<std::size_t>(begin + j)];
      datasets::RgbImage uncached;
      const datasets::RgbImage& img = cache_.empty() ? (uncached = image(begin + j)) : cache_[static_cast<std::size_t>(begin + j)];
      test_view_into(img, it.box, options_, out.images[j]);
      tgt[j][0] = static_cast<float>(it.pose.yaw);
      tgt[j][1] = static_cast<float>(it.pose.pitch);
      tgt[j][2] = static_cast<float>(it.pose.roll);
    }
  });
  return out;
}

torch::Tensor head_pose_test_view(const datasets::RgbImage& img, const datasets::FaceBox& box, const HeadPoseDataOptions& options) {
  auto out = torch::empty({3, options.img_size, options.img_size});
  test_view_into(img, box, options, out);
  return out;
}

torch::Tensor HeadPoseData::test_view(const datasets::RgbImage& img, const datasets::FaceBox& box) const {
  return head_pose_test_view(img, box, options_);
}

}  // namespace pesuite::vision
