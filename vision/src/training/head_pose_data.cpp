// Face crops for head-pose training and testing (head_pose_data.h).
#include "pesuite/vision/head_pose_data.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "pesuite/core/error.h"
#include "pesuite/datasets/formats.h"
#include "pesuite/datasets/png.h"
#include "pesuite/datasets/spec.h"
#ifdef PESUITE_HAVE_OPENCV
#include "pesuite/imageio/decode.h"
#include "pesuite/imageio/head_pose_draw.h"
#endif

namespace pesuite::vision {
namespace {

// splitmix64 from (seed, stream, slot): portable, independent per view.
class ViewRng {
 public:
  ViewRng(std::uint64_t seed, std::uint64_t stream, std::uint64_t slot)
      : state_(seed * 0x9E3779B97F4A7C15ULL ^ (stream + 0x632BE59BD9B4E019ULL) * 0xBF58476D1CE4E5B9ULL ^ (slot + 1) * 0x94D049BB133111EBULL) {
    next();
  }
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  double uniform(double lo = 0, double hi = 1) { return lo + (hi - lo) * static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // n standard normals into out, two per Box-Muller draw (cos and sin: half the logs and roots of
  // one draw per normal; a strong view draws one per pixel and channel).
  void normals(float* out, std::int64_t n) {
    for (std::int64_t k = 0; k < n; k += 2) {
      const double u1 = std::max(uniform(), 1e-300), u2 = uniform();
      const double r = std::sqrt(-2 * std::log(u1)), t = 2 * 3.14159265358979323846 * u2;
      out[k] = static_cast<float>(r * std::cos(t));
      if (k + 1 < n) out[k + 1] = static_cast<float>(r * std::sin(t));
    }
  }

 private:
  std::uint64_t state_;
};

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
// is input row row_lo + r). Whole output rows at a time; each value still sums its taps in order
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

std::unique_ptr<HeadPoseData> HeadPoseData::open(const std::string& spec_text, const HeadPoseDataOptions& options, bool train) {
  auto d = std::make_unique<HeadPoseData>();
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
    at::parallel_for(0, self->size(), 1, [self](std::int64_t lo, std::int64_t hi) {
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

// Photometric changes on a float [H, W, 3] 0..255 view.
void augment_view(torch::Tensor& v, const ViewAugment& a, ViewRng& rng) {
  if (a.brightness > 0) v.mul_(rng.uniform(1 - a.brightness, 1 + a.brightness));
  if (a.contrast > 0) {
    const double f = rng.uniform(1 - a.contrast, 1 + a.contrast);
    const double mean = v.mean().item<double>();
    v.sub_(mean).mul_(f).add_(mean);
  }
  if (a.noise > 0) {
    const auto sigma = static_cast<float>(rng.uniform(0, a.noise));
    std::vector<float> z(static_cast<std::size_t>(v.numel()));
    rng.normals(z.data(), v.numel());
    float* p = v.data_ptr<float>();
    for (std::int64_t k = 0; k < v.numel(); ++k) p[k] += sigma * z[static_cast<std::size_t>(k)];
  }
  v.clamp_(0, 255);
  if (a.cutout > 0 && rng.uniform() < 0.5) {
    const auto h = v.size(0), w = v.size(1);
    const auto side = std::max<std::int64_t>(1, static_cast<std::int64_t>(rng.uniform(0, a.cutout) * std::min(h, w)));
    const auto y = static_cast<std::int64_t>(rng.uniform(0, static_cast<double>(h - side + 1)));
    const auto x = static_cast<std::int64_t>(rng.uniform(0, static_cast<double>(w - side + 1)));
    v.slice(0, y, y + side).slice(1, x, x + side).fill_(0);
  }
}

// hwc [H, W, 3] float 0..255 (contiguous) -> out [3, H, W] (contiguous), (x / 255 - mean) / std per
// channel: one pass over the pixels (per-channel ATen ops made temporaries of every plane).
void normalise_into(const torch::Tensor& hwc, const std::array<float, 3>& mean, const std::array<float, 3>& std, torch::Tensor out) {
  const auto src = hwc.contiguous();
  if (!out.is_contiguous() || out.scalar_type() != torch::kFloat32) throw std::logic_error("normalise_into: out must be contiguous float32");
  const std::int64_t plane = src.size(0) * src.size(1);
  const float* in = src.data_ptr<float>();
  float* o = out.data_ptr<float>();
  for (std::int64_t i = 0; i < plane; ++i)  // the same float operations as before, so the same bits
    for (int c = 0; c < 3; ++c) o[c * plane + i] = (in[i * 3 + c] / 255.0f - mean[c]) / std[c];
}

}  // namespace

std::pair<HeadPoseBatch, HeadPoseBatch> HeadPoseData::weak_strong_batch(const std::vector<std::int64_t>& indices, std::uint64_t stream,
                                                                       const ViewAugment& augment, std::int64_t first) const {
  const auto b = static_cast<std::int64_t>(indices.size()), s = options_.img_size;
  HeadPoseBatch weak, strong;
  weak.images = torch::empty({b, 3, s, s});
  strong.images = torch::empty({b, 3, s, s});
  weak.targets = torch::empty({b, 3});
  weak.flipped = torch::zeros({b}, torch::kBool);
  auto tgt = weak.targets.accessor<float, 2>();
  auto flp = weak.flipped.accessor<bool, 1>();
  const bool want_strong = augment.brightness > 0 || augment.contrast > 0 || augment.noise > 0 || augment.cutout > 0;
  at::parallel_for(0, b, 1, [&](std::int64_t lo, std::int64_t hi) {
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
      auto view = crop_resize(img, rect, short_side, ox, oy, s, s, flip);
      normalise_into(view, options_.mean, options_.std, weak.images[j]);
      if (want_strong) {
        augment_view(view, augment, rng);
        normalise_into(view, options_.mean, options_.std, strong.images[j]);
      }
      const double sign = flip ? -1 : 1;
      tgt[j][0] = static_cast<float>(sign * it.pose.yaw);
      tgt[j][1] = static_cast<float>(it.pose.pitch);
      tgt[j][2] = static_cast<float>(sign * it.pose.roll);
      flp[j] = flip;
    }
  });
  strong.targets = weak.targets;
  strong.flipped = weak.flipped;
  if (!want_strong) strong.images = weak.images;
  return {weak, strong};
}

HeadPoseBatch HeadPoseData::train_batch(const std::vector<std::int64_t>& indices, std::uint64_t stream, const ViewAugment& augment,
                                        std::int64_t first) const {
  return weak_strong_batch(indices, stream, augment, first).second;
}

HeadPoseBatch HeadPoseData::test_batch(std::int64_t begin, std::int64_t end) const {
  const auto b = end - begin, s = options_.img_size;
  HeadPoseBatch out;
  out.images = torch::empty({b, 3, s, s});
  out.targets = torch::empty({b, 3});
  out.flipped = torch::zeros({b}, torch::kBool);
  auto tgt = out.targets.accessor<float, 2>();
  at::parallel_for(0, b, 1, [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t j = lo; j < hi; ++j) {
      const auto& it = items[static_cast<std::size_t>(begin + j)];
      datasets::RgbImage uncached;
      const datasets::RgbImage& img = cache_.empty() ? (uncached = image(begin + j)) : cache_[static_cast<std::size_t>(begin + j)];
      out.images[j].copy_(test_view(img, it.box));
      tgt[j][0] = static_cast<float>(it.pose.yaw);
      tgt[j][1] = static_cast<float>(it.pose.pitch);
      tgt[j][2] = static_cast<float>(it.pose.roll);
    }
  });
  return out;
}

torch::Tensor head_pose_test_view(const datasets::RgbImage& img, const datasets::FaceBox& box, const HeadPoseDataOptions& options) {
  const auto s = options.img_size;
  const Geometry g = test_geometry(box, s);
  auto view = crop_resize(img, g.rect, g.short_side, g.ox, g.oy, s, s, false);
  auto out = torch::empty({3, s, s});
  normalise_into(view, options.mean, options.std, out);
  return out;
}

torch::Tensor HeadPoseData::test_view(const datasets::RgbImage& img, const datasets::FaceBox& box) const {
  return head_pose_test_view(img, box, options_);
}

}  // namespace pesuite::vision
