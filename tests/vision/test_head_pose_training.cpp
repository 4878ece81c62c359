// Head-pose data, training and the `vision headpose` command (head_pose_data.h,
// head_pose_training.h): the crop / resize against exact cases and, bit for bit, against its first
// (naive) version; repeatable views with the flip's sign convention, a tiny model whose loss falls
// and whose interrupted run resumes bit for bit, the semi-supervised mechanics (adaptive threshold,
// flip agreement) and a semi run, and the CLI.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "pesuite/core/error.h"
#include "pesuite/core/run_dir.h"
#include "pesuite/core/safetensors.h"
#include "pesuite/datasets/png.h"
#include "pesuite/vision/head_pose_training.h"
#include "test_util.h"
#include "view_rng.h"  // vision/src/training: a view's draws

using namespace pesuite;
using namespace pesuite::vision;
using pesuite::test::run_cli;

namespace {

datasets::RgbImage ramp_image(int w, int h) {
  datasets::RgbImage img(w, h);
  for (int r = 0; r < h; ++r)
    for (int c = 0; c < w; ++c) {
      auto* p = img.at(r, c);
      p[0] = static_cast<std::uint8_t>(c * 7 % 256);
      p[1] = static_cast<std::uint8_t>(r * 5 % 256);
      p[2] = static_cast<std::uint8_t>((r + c) % 256);
    }
  return img;
}

// The first crop_resize (a vector of weights per output column / row, one accumulator per pixel),
// kept as the reference the flat-tap version must match bit for bit.
std::vector<std::pair<std::int64_t, std::vector<float>>> naive_taps(std::int64_t in, std::int64_t out, std::int64_t first, std::int64_t count) {
  std::vector<std::pair<std::int64_t, std::vector<float>>> t;
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  const double support = std::max(scale, 1.0);
  for (std::int64_t i = first; i < first + count; ++i) {
    const double centre = (static_cast<double>(i) + 0.5) * scale;
    const auto lo = static_cast<std::int64_t>(std::floor(centre - support)), hi = static_cast<std::int64_t>(std::ceil(centre + support));
    std::vector<float> w;
    double total = 0;
    std::vector<double> raw;
    const auto a = std::max<std::int64_t>(lo, 0), b = std::min<std::int64_t>(hi, in);
    for (std::int64_t j = a; j < b; ++j) {
      const double v = std::max(0.0, 1.0 - std::abs((static_cast<double>(j) + 0.5 - centre) / support));
      raw.push_back(v);
      total += v;
    }
    for (double v : raw) w.push_back(static_cast<float>(total > 0 ? v / total : 0));
    t.push_back({a, std::move(w)});
  }
  return t;
}

torch::Tensor naive_crop_resize(const datasets::RgbImage& image, const std::array<std::int64_t, 4>& rect, std::int64_t short_side,
                                std::int64_t ox, std::int64_t oy, std::int64_t out_w, std::int64_t out_h, bool flip) {
  const auto cw = std::max<std::int64_t>(1, rect[2] - rect[0]), ch = std::max<std::int64_t>(1, rect[3] - rect[1]);
  const auto rw = cw <= ch ? short_side : static_cast<std::int64_t>(static_cast<double>(short_side) * cw / ch);
  const auto rh = cw <= ch ? static_cast<std::int64_t>(static_cast<double>(short_side) * ch / cw) : short_side;
  const auto tx = naive_taps(cw, rw, ox, out_w), ty = naive_taps(ch, rh, oy, out_h);
  std::int64_t row_lo = ch, row_hi = 0;
  for (const auto& [start, w] : ty) {
    row_lo = std::min(row_lo, start);
    row_hi = std::max(row_hi, start + static_cast<std::int64_t>(w.size()));
  }
  const auto rows = std::max<std::int64_t>(0, row_hi - row_lo);
  std::vector<float> tmp(static_cast<std::size_t>(rows * out_w * 3), 0.f);
  for (std::int64_t r = 0; r < rows; ++r) {
    const auto y = rect[1] + row_lo + r;
    if (y < 0 || y >= image.height) continue;
    for (std::int64_t c = 0; c < out_w; ++c) {
      float acc[3] = {0, 0, 0};
      for (std::size_t k = 0; k < tx[c].second.size(); ++k) {
        const auto x = rect[0] + tx[c].first + static_cast<std::int64_t>(k);
        if (x < 0 || x >= image.width) continue;
        const std::uint8_t* p = image.at(static_cast<int>(y), static_cast<int>(x));
        for (int ch3 = 0; ch3 < 3; ++ch3) acc[ch3] += tx[c].second[k] * p[ch3];
      }
      std::copy_n(acc, 3, &tmp[static_cast<std::size_t>((r * out_w + c) * 3)]);
    }
  }
  auto out = torch::zeros({out_h, out_w, 3}, torch::kFloat32);
  float* o = out.data_ptr<float>();
  for (std::int64_t i = 0; i < out_h; ++i) {
    for (std::int64_t c = 0; c < out_w; ++c) {
      float acc[3] = {0, 0, 0};
      for (std::size_t k = 0; k < ty[i].second.size(); ++k) {
        const float* p = &tmp[static_cast<std::size_t>(((ty[i].first + static_cast<std::int64_t>(k) - row_lo) * out_w + c) * 3)];
        for (int ch3 = 0; ch3 < 3; ++ch3) acc[ch3] += ty[i].second[k] * p[ch3];
      }
      std::copy_n(acc, 3, o + (i * out_w + (flip ? out_w - 1 - c : c)) * 3);
    }
  }
  return out;
}

// The strong view's first version: brightness, contrast about the mean, noise, clamp and cutout as
// separate ATen passes on a float [H, W, 3] 0..255 view, drawing from rng in the same order.
void naive_augment(torch::Tensor& v, const ViewAugment& a, ViewRng& rng) {
  if (a.brightness > 0) v.mul_(rng.uniform(1 - a.brightness, 1 + a.brightness));
  if (a.contrast > 0) {
    const double f = rng.uniform(1 - a.contrast, 1 + a.contrast);
    const double mean = v.mean().item<double>();
    v.sub_(mean).mul_(f).add_(mean);
  }
  if (a.noise > 0) {
    const auto sigma = static_cast<float>(rng.uniform(0, a.noise));
    auto z = torch::empty_like(v);
    rng.normals(z.data_ptr<float>(), z.numel());
    v.add_(z * sigma);
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

// A tiny head-pose config: ResNet-18 at 32 px on 64 renders of 48 px, CPU.
core::Config tiny_config(const std::string& head = "hopenet") {
  core::Config cfg = head_pose_defaults();
  cfg.apply_set("device=cpu");
  cfg.apply_set("data.train=facesynth:?n=64&seed=0&size=48");
  cfg.apply_set("data.test=[\"synth=facesynth:?n=16&seed=9&size=48\"]");
  cfg.apply_set("model.backbone=resnet18");
  cfg.apply_set("model.head=" + head);
  cfg.apply_set("model.img_size=32");
  cfg.apply_set("train.batch_size=16");
  cfg.apply_set("train.epochs=3");
  cfg.apply_set("train.lr=2e-3");
  cfg.apply_set("train.log_every=1");
  cfg.apply_set("eval.batch_size=16");
  return cfg;
}

std::vector<double> losses(const std::string& run) {
  std::vector<double> out;
  std::ifstream in(run + "/metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    if (j.contains("loss")) out.push_back(j["loss"].get<double>());
  }
  return out;
}

}  // namespace

TEST(HeadPoseData, CropResizeIsExactOnSimpleCases) {
  const auto img = ramp_image(20, 16);
  // A crop at its own size is a copy; flipped, a mirror; pixels outside the image are black.
  auto same = crop_resize(img, {2, 3, 12, 13}, 10, 0, 0, 10, 10, false);
  for (int r = 0; r < 10; ++r)
    for (int c = 0; c < 10; ++c)
      for (int k = 0; k < 3; ++k) ASSERT_NEAR(same[r][c][k].item<float>(), img.at(3 + r, 2 + c)[k], 1e-4) << r << " " << c;
  auto mirrored = crop_resize(img, {2, 3, 12, 13}, 10, 0, 0, 10, 10, true);
  EXPECT_TRUE(torch::equal(mirrored, same.flip({1})));
  auto outside = crop_resize(img, {-5, -5, 5, 5}, 10, 0, 0, 10, 10, false);
  EXPECT_EQ(outside.slice(0, 0, 5).abs().max().item<float>(), 0);
  EXPECT_EQ(outside.slice(1, 0, 5).abs().max().item<float>(), 0);
  EXPECT_NEAR(outside[7][7][0].item<float>(), img.at(2, 2)[0], 1e-4);
  // Shrinking keeps a flat image flat (the taps' weights sum to 1, borders included).
  datasets::RgbImage flat(8, 8, 100);
  auto half = crop_resize(flat, {0, 0, 8, 8}, 4, 0, 0, 4, 4, false);
  EXPECT_LT((half - 100).abs().max().item<float>(), 1e-4);
  // A non-square crop: the shorter side becomes the given size, the window is taken at the offset.
  auto wide = crop_resize(img, {0, 0, 20, 10}, 10, 5, 0, 10, 10, false);
  EXPECT_EQ(wide.sizes(), (std::vector<std::int64_t>{10, 10, 3}));
  auto wide_full = crop_resize(img, {0, 0, 20, 10}, 10, 0, 0, 20, 10, false);
  EXPECT_TRUE(torch::allclose(wide, wide_full.slice(1, 5, 15)));
}

TEST(HeadPoseData, CropResizeMatchesTheNaiveReferenceBitForBit) {
  std::mt19937_64 rng(7);
  auto uniform = [&](std::int64_t lo, std::int64_t hi) {  // in [lo, hi]
    return lo + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(hi - lo + 1));
  };
  datasets::RgbImage img(61, 47);
  for (auto& v : img.pixels) v = static_cast<std::uint8_t>(rng() % 256);
  for (int trial = 0; trial < 400; ++trial) {
    // Rects from inside the image to far outside it; short sides from a quarter to three times the crop.
    const auto left = uniform(-30, 55), top = uniform(-30, 40);
    const std::array<std::int64_t, 4> rect{left, top, left + uniform(1, 90), top + uniform(1, 90)};
    const auto cw = rect[2] - rect[0], ch = rect[3] - rect[1];
    const auto short_side = std::max<std::int64_t>(1, std::min(cw, ch) * uniform(25, 300) / 100);
    const auto rw = cw <= ch ? short_side : static_cast<std::int64_t>(static_cast<double>(short_side) * cw / ch);
    const auto rh = cw <= ch ? static_cast<std::int64_t>(static_cast<double>(short_side) * ch / cw) : short_side;
    const auto out_w = uniform(1, rw), out_h = uniform(1, rh);
    const auto ox = uniform(0, rw - out_w), oy = uniform(0, rh - out_h);
    const bool flip = trial % 2 == 1;
    const auto fast = crop_resize(img, rect, short_side, ox, oy, out_w, out_h, flip);
    ASSERT_TRUE(torch::equal(fast, naive_crop_resize(img, rect, short_side, ox, oy, out_w, out_h, flip)))
        << "rect " << rect[0] << " " << rect[1] << " " << rect[2] << " " << rect[3] << " short " << short_side << " window " << ox << " "
        << oy << " " << out_w << "x" << out_h << " flip " << flip;
  }
}

TEST(HeadPoseData, ViewsAreRepeatableAndFlipsNegateYawAndRoll) {
  HeadPoseDataOptions o;
  o.img_size = 32;
  auto d = HeadPoseData::open("facesynth:?n=24&seed=3&size=48", o, true);
  ASSERT_EQ(d->size(), 24);
  std::vector<std::int64_t> idx{0, 5, 7, 11, 23, 5, 5, 5};
  auto a = d->train_batch(idx, 4), b = d->train_batch(idx, 4), c = d->train_batch(idx, 5);
  EXPECT_TRUE(torch::equal(a.images, b.images));
  EXPECT_TRUE(torch::equal(a.targets, b.targets));
  EXPECT_FALSE(torch::equal(a.images, c.images));
  int flipped = 0;
  for (std::size_t j = 0; j < idx.size(); ++j) {
    const auto& p = d->items[static_cast<std::size_t>(idx[j])].pose;
    const bool f = a.flipped[j].item<bool>();
    flipped += f;
    EXPECT_FLOAT_EQ(a.targets[j][0].item<float>(), static_cast<float>(f ? -p.yaw : p.yaw));
    EXPECT_FLOAT_EQ(a.targets[j][1].item<float>(), static_cast<float>(p.pitch));
    EXPECT_FLOAT_EQ(a.targets[j][2].item<float>(), static_cast<float>(f ? -p.roll : p.roll));
  }
  EXPECT_GT(flipped, 0);
  EXPECT_LT(flipped, static_cast<int>(idx.size()));
  // Weak and strong views share the crop and flip; strong ones differ in pixels only.
  auto [weak, strong] = d->weak_strong_batch(idx, 4, ViewAugment::strong());
  EXPECT_TRUE(torch::equal(weak.images, a.images));
  EXPECT_TRUE(torch::equal(weak.flipped, strong.flipped));
  EXPECT_FALSE(torch::equal(weak.images, strong.images));
  // train_batch with the same augment builds only the strong views: the same pixels and labels.
  const auto alone = d->train_batch(idx, 4, ViewAugment::strong());
  EXPECT_TRUE(torch::equal(alone.images, strong.images));
  EXPECT_TRUE(torch::equal(alone.targets, strong.targets));
  EXPECT_TRUE(torch::equal(alone.flipped, strong.flipped));
  // The test view is the record's box, and the filter leaves out faces beyond it.
  o.filter = 30;
  auto t = HeadPoseData::open("facesynth:?n=24&seed=3&size=48", o, false);
  EXPECT_GT(t->dropped, 0);
  EXPECT_EQ(t->size() + t->dropped, 24);
  for (const auto& it : t->items) EXPECT_LE(std::abs(it.pose.yaw), 30);
  EXPECT_THROW(HeadPoseData::open("idx:/nonexistent", o, true), core::InputError);
}

TEST(HeadPoseData, BatchTensorsAreUsedAgainOnlyOnceLetGo) {
  HeadPoseDataOptions o;
  o.img_size = 32;
  auto d = HeadPoseData::open("facesynth:?n=24&seed=3&size=48", o, true);
  const std::vector<std::int64_t> idx{0, 5, 7, 11};
  auto a = d->train_batch(idx, 1);
  const auto first = a.images.clone();
  const void* memory = a.images.data_ptr();
  // Held, or a view of it held: never written over.
  auto b = d->train_batch(idx, 2);
  EXPECT_NE(b.images.data_ptr(), memory);
  auto view = a.images[0];
  a = {};
  auto c = d->train_batch(idx, 3);
  EXPECT_NE(c.images.data_ptr(), memory);
  EXPECT_TRUE(torch::equal(view, first[0]));
  EXPECT_FALSE(torch::equal(b.images, first));
  // Let go: its memory serves the next batch, which is still that batch's views.
  view = torch::Tensor();
  auto again = d->train_batch(idx, 1);
  EXPECT_EQ(again.images.data_ptr(), memory);
  EXPECT_TRUE(torch::equal(again.images, first));
}

TEST(HeadPoseData, ViewNormalsAreStandardAndRepeatable) {
  const std::int64_t n = 1 << 20;
  std::vector<float> z(n), again(n), other(n);
  ViewRng(3, 4, 5).normals(z.data(), n);
  ViewRng(3, 4, 5).normals(again.data(), n);
  ViewRng(3, 4, 6).normals(other.data(), n);
  EXPECT_EQ(z, again);
  EXPECT_NE(z, other);
  double sum = 0, squares = 0;
  std::int64_t tail = 0;
  for (float v : z) {
    sum += v;
    squares += static_cast<double>(v) * v;
    tail += std::abs(v) > 3;
  }
  const double mean = sum / n, var = squares / n - mean * mean, beyond = static_cast<double>(tail) / n;
  EXPECT_LT(std::abs(mean), 0.01);
  EXPECT_LT(std::abs(var - 1), 0.01);
  EXPECT_GE(beyond, 0.0022);  // a normal's share beyond 3 sigma: 0.0027
  EXPECT_LE(beyond, 0.0032);
  // Each pair is Box-Muller in double on its draw's bits (radius 40..63, quadrant 38..39, angle 16..37).
  ViewRng draws(3, 4, 5);
  for (std::size_t i = 0; i < 4096; i += 2) {
    const std::uint64_t x = draws.next();
    const double u = static_cast<double>((x >> 40) + 1) * 0x1.0p-24;
    const double t = static_cast<double>((x >> 38) & 3) * M_PI / 2 + static_cast<double>((x >> 16) & 0x3FFFFF) * 0x1.0p-22 * M_PI / 2;
    const double r = std::sqrt(-2 * std::log(u));
    EXPECT_NEAR(z[i], r * std::cos(t), 2e-6 * std::max(1.0, r)) << i;
    EXPECT_NEAR(z[i + 1], r * std::sin(t), 2e-6 * std::max(1.0, r)) << i;
  }
  // An odd count is the even count's draws less the last one.
  std::vector<float> seven(7);
  ViewRng(3, 4, 5).normals(seven.data(), 7);
  EXPECT_TRUE(std::equal(seven.begin(), seven.end(), z.begin()));
}

TEST(HeadPoseData, StrongViewIsTheSeparatePassesUpToRounding) {
  HeadPoseDataOptions o;
  o.img_size = 32;
  auto d = HeadPoseData::open("facesynth:?n=24&seed=3&size=48", o, true);
  const std::vector<std::int64_t> idx{0, 5, 7, 11, 23, 5, 5, 5, 2, 9, 13, 17};
  const auto mean = torch::tensor({o.mean[0], o.mean[1], o.mean[2]}).view({3, 1, 1});
  const auto sd = torch::tensor({o.std[0], o.std[1], o.std[2]}).view({3, 1, 1});
  for (const auto& augment : {ViewAugment::strong(), ViewAugment{0.4, 0, 0, 0}, ViewAugment{0, 0.4, 0, 0}, ViewAugment{0, 0, 12, 0},
                              ViewAugment{0, 0, 0, 0.9}, ViewAugment{0.9, 0.9, 40, 0.5}}) {
    const auto [weak, strong] = d->weak_strong_batch(idx, 6, augment);
    for (std::size_t j = 0; j < idx.size(); ++j) {
      // The view's stream after its geometry's draws (margin k, window x and y, flip).
      ViewRng rng(o.seed, 6, j);
      for (int k = 0; k < 4; ++k) rng.uniform();
      auto v = ((weak.images[j] * sd + mean) * 255).permute({1, 2, 0}).contiguous();  // the crop, 0..255
      naive_augment(v, augment, rng);
      const auto expected = (v.permute({2, 0, 1}) / 255 - mean) / sd;
      EXPECT_TRUE(torch::allclose(strong.images[j], expected, 0, 1e-4)) << "view " << j << " max diff "
                                                                        << (strong.images[j] - expected).abs().max().item<float>();
    }
  }
}

TEST(HeadPoseTraining, LossFallsAndAnInterruptedRunResumesBitForBit) {
  test::TempDir dir;
  const core::Config cfg = tiny_config("hopenet");
  const auto full = run_head_pose(cfg, dir / "runs");
  ASSERT_TRUE(full.finished);
  EXPECT_EQ(full.steps, 12);
  const auto l = losses(full.run_path);
  ASSERT_EQ(l.size(), 12u);
  EXPECT_LT((l[9] + l[10] + l[11]) / 3, 0.8 * (l[0] + l[1] + l[2]) / 3) << "loss did not fall";
  ASSERT_EQ(full.sets.count("synth"), 1u);
  const auto& m = full.sets.at("synth");
  EXPECT_EQ(m.n, 16);
  for (double v : {m.mae, m.yaw, m.pitch, m.roll, m.geodesic, m.baseline_mae}) EXPECT_TRUE(std::isfinite(v) && v >= 0);
  EXPECT_NEAR(m.mae, (m.yaw + m.pitch + m.roll) / 3, 1e-9);

  core::Config part = cfg;
  part.apply_set("train.stop_after_steps=5");
  const auto first = run_head_pose(part, dir / "runs2");
  ASSERT_FALSE(first.finished);
  EXPECT_EQ(first.steps, 5);
  core::Config rest = head_pose_resume_config(first.run_path);  // the run's config, with its stop lifted
  rest.apply_set("train.stop_after_steps=0");
  const auto second = run_head_pose(rest, dir / "runs2", first.run_path);
  ASSERT_TRUE(second.finished);
  const auto a = core::load_safetensors(full.checkpoint), b = core::load_safetensors(second.checkpoint);
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (const auto& [name, t] : a.tensors) EXPECT_TRUE(torch::equal(t, b.tensors.at(name))) << name;
  EXPECT_DOUBLE_EQ(second.sets.at("synth").mae, m.mae);

  // The checkpoint loads by itself (config saved in it) and predicts the same angles as evaluation.
  core::Config loaded_cfg;
  HeadPoseNet net = load_head_pose_model(full.checkpoint, torch::kCPU, &loaded_cfg);
  EXPECT_EQ(loaded_cfg.get_string("model.backbone"), "resnet18");
  auto test = HeadPoseData::open("facesynth:?n=16&seed=9&size=48", head_pose_data_options(loaded_cfg, false), false);
  const auto again = evaluate_head_pose(net, *test, 8, torch::kCPU, false, {0, 0, 0}, false);
  EXPECT_NEAR(again.mae, m.mae, 1e-4);
}

TEST(HeadPoseTraining, EveryHeadTrainsAndTheConfigIsChecked) {
  test::TempDir dir;
  for (const std::string head : {"6d", "fullrange"}) {
    core::Config cfg = tiny_config(head);
    cfg.apply_set("train.epochs=1");
    if (head == "fullrange") cfg.apply_set("data.train=facesynth:?n=32&seed=0&size=48&full_range=1");
    const auto r = run_head_pose(cfg, dir / "runs");
    EXPECT_TRUE(std::isfinite(r.sets.at("synth").geodesic)) << head;
  }
  core::Config bad = tiny_config();
  bad.apply_set("model.head=hopnet");
  EXPECT_THROW(run_head_pose(bad, dir / "runs"), core::InputError);
  bad = tiny_config();
  bad.apply_set("data.labelled_fraction=0");
  EXPECT_THROW(run_head_pose(bad, dir / "runs"), core::InputError);
  bad = tiny_config();
  bad.apply_set("data.train=idx:/nonexistent");
  EXPECT_THROW(run_head_pose(bad, dir / "runs"), core::InputError);
}

TEST(HeadPoseSemi, ThresholdIsAnEmaOfTheBatchQuantileAndAdapts) {
  AdaptiveThreshold t(/*keep_start=*/0.5, /*keep_end=*/1.0, /*momentum=*/0.75);
  EXPECT_FALSE(t.initialised());
  // keep 0.5 at progress 0: the median of 1..5 = 3 (the first update sets the value).
  EXPECT_DOUBLE_EQ(t.update({5, 1, 4, 2, 3}, 0), 3);
  // keep 0.75 at progress 0.5: the quantile 0.25 of 11..15 = 12; EMA: 0.75 * 3 + 0.25 * 12 = 5.25.
  EXPECT_DOUBLE_EQ(t.update({11, 12, 13, 14, 15}, 0.5), 5.25);
  EXPECT_DOUBLE_EQ(t.keep_at(0.5), 0.75);
  EXPECT_DOUBLE_EQ(t.keep_at(2), 1.0);
  // Rising confidences raise it; the state round-trips.
  double prev = t.value();
  for (int i = 0; i < 5; ++i) {
    const double now = t.update({20.0 + i, 21.0 + i, 22.0 + i}, 0.5);
    EXPECT_GT(now, prev);
    prev = now;
  }
  AdaptiveThreshold u(0.5, 1.0, 0.75);
  u.load_state(t.state());
  EXPECT_DOUBLE_EQ(u.value(), t.value());
  EXPECT_THROW(AdaptiveThreshold(0, 1, 0.5), core::InputError);
}

TEST(HeadPoseSemi, FlipAgreementUsesTheMirrorConvention) {
  // A prediction consistent with the flip (the mirror image predicted as yaw, roll negated) agrees
  // fully; one that forgot to negate yaw disagrees by the rotation between them.
  auto a = torch::tensor({{30.0f, -10.0f, 15.0f}, {-60.0f, 20.0f, -5.0f}});
  auto r = rotation_from_euler(a);
  auto mirror_ok = rotation_from_euler(flip_pose(a));
  EXPECT_LT(flip_agreement(r, mirror_ok).abs().max().item<float>(), 1e-3);
  auto wrong = a.clone();
  wrong.select(1, 2).neg_();  // roll negated, yaw not
  auto c = flip_agreement(r, rotation_from_euler(wrong));
  auto expected = -geodesic_degrees(r, flip_rotation(rotation_from_euler(wrong)));
  EXPECT_TRUE(torch::allclose(c, expected));
  EXPECT_LT(c.max().item<float>(), -10);
}

TEST(HeadPoseSemi, SemiSupervisedRunKeepsPseudoLabels) {
  test::TempDir dir;
  core::Config cfg = tiny_config();
  cfg.apply_set("data.labelled_fraction=0.25");
  cfg.apply_set("semi.enabled=true");
  cfg.apply_set("semi.start_fraction=0.25");
  const auto r = run_head_pose(cfg, dir / "runs");
  EXPECT_EQ(r.labelled, 16);
  EXPECT_EQ(r.unlabelled, 48);
  EXPECT_TRUE(std::isfinite(r.sets.at("synth").mae));
  // Rows after the start record the threshold (geodesic flip disagreement, negated) and the kept share.
  core::MetricsLog log(r.run_path);
  int semi_rows = 0;
  for (const auto& row : log.rows()) {
    if (!row.contains("kept")) continue;
    ++semi_rows;
    EXPECT_LE(row["threshold"].get<double>(), 0);
    EXPECT_GT(row["kept"].get<double>(), 0);
    EXPECT_LE(row["kept"].get<double>(), 1);
  }
  EXPECT_GE(semi_rows, 8);
  EXPECT_LE(r.final_threshold, 0);
  // Building the views (labelled and weak + strong) takes part of the training time.
  EXPECT_GT(r.view_seconds, 0);
  EXPECT_LT(r.view_seconds, r.train_seconds);
}

TEST(HeadPoseCli, PredictsAnImageAndRejectsBadInput) {
  test::TempDir dir;
  core::Config cfg = tiny_config();
  cfg.apply_set("train.epochs=1");
  const auto r = run_head_pose(cfg, dir / "runs");
  const auto face = datasets::make_facesynth(datasets::parse_spec("facesynth:?n=1&seed=5&size=64")).sample(0);
  datasets::write_png_rgb(dir / "face.png", face.image);
  const auto& b = face.landmark_box;
  const std::string box = std::to_string(b.x1) + "," + std::to_string(b.y1) + "," + std::to_string(b.x2) + "," + std::to_string(b.y2);
  auto out = run_cli("vision headpose --json --ckpt " + r.checkpoint + " --image " + (dir / "face.png") + " --box " + box + " --out " +
                     (dir / "pose.png"));
  ASSERT_EQ(out.exit_code, 0) << out.err;
  const auto j = nlohmann::json::parse(out.out);
  for (const char* k : {"yaw", "pitch", "roll"}) EXPECT_TRUE(std::isfinite(j[k].get<double>())) << k;
  EXPECT_TRUE(std::filesystem::exists(dir / "pose.png"));
  const auto drawn = datasets::read_png_rgb(dir / "pose.png");
  EXPECT_EQ(drawn.width, 64);
  EXPECT_NE(drawn, face.image);  // the axes are drawn
  // The same angles as the library's own test view.
  HeadPoseNet net = load_head_pose_model(r.checkpoint, torch::kCPU, &cfg);
  auto x = head_pose_test_view(face.image, datasets::loose_box(b, datasets::LooseCrop::hopenet_test()), head_pose_data_options(cfg, false));
  torch::NoGradGuard no_grad;
  auto a = net->angles(net(x.unsqueeze(0)))[0];
  EXPECT_NEAR(j["yaw"].get<double>(), a[0].item<double>(), 1e-3);

  for (const std::string bad : {"--box 1,2,3", "--box 10,10,5,20", "--box 1,2,x,4", "--box 500,500,600,600"}) {
    auto e = run_cli("vision headpose --ckpt " + r.checkpoint + " --image " + (dir / "face.png") + " " + bad);
    EXPECT_EQ(e.exit_code, 2) << bad << ": " << e.err;
    EXPECT_NE(e.err.find("--box"), std::string::npos) << e.err;
  }
  auto missing = run_cli("vision headpose --ckpt " + r.checkpoint + " --image " + (dir / "nope.png"));
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("nope.png"), std::string::npos) << missing.err;
  auto not_ckpt = run_cli("vision headpose --ckpt " + (dir / "face.png") + " --image " + (dir / "face.png"));
  EXPECT_EQ(not_ckpt.exit_code, 2) << not_ckpt.err;
  // vision train dispatches task = "headpose" configs to this pipeline.
  std::ofstream(dir / "hp.toml") << "task = \"headpose\"\n[data]\ntrain = \"facesynth:?n=32&seed=0&size=48\"\ntest = [\"synth=facesynth:?n=8&seed=9&size=48\"]\n"
                                    "[model]\nbackbone = \"resnet18\"\nimg_size = 32\n[train]\nepochs = 1\nbatch_size = 16\n";
  auto t = run_cli("vision train --json --config " + (dir / "hp.toml") + " --runs " + (dir / "cli-runs") + " --set device=cpu");
  ASSERT_EQ(t.exit_code, 0) << t.err;
  const auto tj = nlohmann::json::parse(t.out);
  EXPECT_TRUE(std::isfinite(tj["synth"]["mae"].get<double>()));
  EXPECT_GT(tj["view_seconds"].get<double>(), 0);
}
