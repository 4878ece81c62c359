// The `scenes:` generator: layouts in resolution-independent units, rendered with torch ops
// (area resampling of the cut-outs at sub-pixel positions, premultiplied alpha compositing,
// procedural or photo backgrounds, instance masks from alpha).
#include "pesuite/datasets/scenes.h"

#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <sstream>

#include "pesuite/datasets/scene_text.h"
#include "pesuite/core/error.h"

namespace F = torch::nn::functional;

namespace pesuite::datasets {

namespace {

constexpr double kPi = 3.14159265358979323846;
const char* const kKinds[] = {"solid", "gradient", "noise", "stripes", "checker", "photo"};

// splitmix64: portable, cheap, and the same stream on every machine (no std:: distributions).
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : s_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (s_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  std::int64_t integer(std::int64_t lo, std::int64_t hi) {  // [lo, hi]
    return lo + static_cast<std::int64_t>(next() % static_cast<std::uint64_t>(hi - lo + 1));
  }

 private:
  std::uint64_t s_;
};

std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
  Rng r(a ^ (b * 0xd1b54a32d192ed03ull));
  return r.next();
}

std::uint64_t text_hash(const std::string& s) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string x;
  while (std::getline(ss, x, ','))
    if (!x.empty()) out.push_back(x);
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

double iou(const SceneObject& a, const SceneObject& b, double* inter_out) {
  const double ix = std::max(0.0, std::min(a.x + a.w, b.x + b.w) - std::max(a.x, b.x));
  const double iy = std::max(0.0, std::min(a.y + a.h, b.y + b.h) - std::max(a.y, b.y));
  const double inter = ix * iy;
  *inter_out = inter;
  return inter / (a.w * a.h + b.w * b.h - inter);
}

// Pixel-centre coordinates u = (j + 0.5) / n of an n x n grid, as [1, n, n] tensors (u along x).
std::pair<torch::Tensor, torch::Tensor> grid(std::int64_t n) {
  auto c = (torch::arange(n, torch::kFloat32) + 0.5) / static_cast<double>(n);
  auto u = c.view({1, 1, n}).expand({1, n, n});
  auto v = c.view({1, n, 1}).expand({1, n, n});
  return {u, v};
}

torch::Tensor colour_tensor(const std::array<float, 3>& c) {
  return torch::tensor({c[0], c[1], c[2]}, torch::kFloat32).view({3, 1, 1});
}

// A smooth noise field in [0, 1]: bicubic interpolation of a seeded lattice of `cells` x `cells`
// values (align_corners = false, so the field is one function of scene units at every size), plus
// an octave at twice the frequency and half the amplitude.
torch::Tensor value_noise(std::uint64_t seed, std::int64_t cells, std::int64_t n) {
  Rng r(seed);
  torch::Tensor field = torch::zeros({1, 1, n, n}, torch::kFloat32);
  double amplitude = 1.0, total = 0.0;
  for (std::int64_t c = cells; c <= 2 * cells; c *= 2) {
    std::vector<float> v(static_cast<std::size_t>(c * c));
    for (auto& x : v) x = static_cast<float>(r.uniform());
    auto lattice = torch::tensor(v, torch::kFloat32).view({1, 1, c, c});
    field += amplitude * F::interpolate(lattice, F::InterpolateFuncOptions()
                                                     .size(std::vector<std::int64_t>{n, n})
                                                     .mode(torch::kBicubic)
                                                     .align_corners(false));
    total += amplitude;
    amplitude *= 0.5;
  }
  return (field / total).clamp(0, 1).view({1, n, n});
}

// Antialiased resize of a float [C, h, w] image to [C, th, tw] (bilinear with antialias, as
// torchvision / PIL do when shrinking; LibTorch 1.13's C++ interpolate has the flag). Photos.
torch::Tensor resize(const torch::Tensor& chw, std::int64_t th, std::int64_t tw) {
  if (chw.size(1) == th && chw.size(2) == tw) return chw;
  return F::interpolate(chw.unsqueeze(0), F::InterpolateFuncOptions()
                                              .size(std::vector<std::int64_t>{th, tw})
                                              .mode(torch::kBilinear)
                                              .align_corners(false)
                                              .antialias(true))
      .squeeze(0);
}

// Area resampling along one axis, at a sub-pixel position: source pixel i covers
// [start + i * len / src, start + (i + 1) * len / src) in output pixels, and output pixel j gets
// the overlap of that span with [j, j + 1) as its weight. Rows are the output pixels first..first
// + n - 1. Cut-outs go through this rather than interpolate: it places them at fractional
// positions (interpolate only fills whole-pixel rectangles), and box integrals nest, so a render
// at 2n pixels averaged 2 x 2 is the render at n pixels (up to rounding and compositing order).
torch::Tensor area_weights(std::int64_t src, double start, double len, std::int64_t first, std::int64_t n) {
  torch::Tensor w = torch::zeros({n, src}, torch::kFloat32);
  auto a = w.accessor<float, 2>();
  const double step = len / static_cast<double>(src);
  for (std::int64_t i = 0; i < src; ++i) {
    const double lo = start + static_cast<double>(i) * step, hi = lo + step;
    for (auto j = static_cast<std::int64_t>(std::floor(lo)); static_cast<double>(j) < hi; ++j) {
      const double overlap = std::min(hi, static_cast<double>(j + 1)) - std::max(lo, static_cast<double>(j));
      if (overlap > 0 && j >= first && j < first + n) a[j - first][i] += static_cast<float>(overlap);
    }
  }
  return w;
}

}  // namespace

// ---- options -------------------------------------------------------------------------------


SceneOptions SceneOptions::from_spec(const DatasetSpec& spec) {
  SceneOptions o;
  auto bad = [&](const std::string& key, const std::string& what) {
    return core::InputError("dataset spec '" + spec.text + "': key '" + key + "' " + what);
  };
  o.n = spec.get_int("n");
  o.size = spec.get_int("size");
  o.seed = static_cast<std::uint64_t>(spec.get_int("seed"));
  o.split = spec.get("split");
  o.min_objects = spec.get_int("min_objects");
  o.max_objects = spec.get_int("max_objects");
  o.min_scale = spec.get_double("min_scale");
  o.max_scale = spec.get_double("max_scale");
  o.max_iou = spec.get_double("max_iou");
  o.max_cover = spec.get_double("max_cover");
  o.flip = spec.get_double("flip");
  o.tries = spec.get_int("tries");
  o.holdout = spec.get("holdout");
  o.holdout_seed = static_cast<std::uint64_t>(spec.get_int("holdout_seed"));
  o.backgrounds = split_list(spec.get("backgrounds"));
  o.min_per_class = spec.get_int("min_per_class");
  if (o.n < 1) throw bad("n", "must be >= 1");
  if (o.size < 16 || o.size > 4096) throw bad("size", "must be in 16..4096");
  if (o.min_objects < 1 || o.max_objects < o.min_objects || o.max_objects > 32)
    throw bad("max_objects", "must satisfy 1 <= min_objects <= max_objects <= 32");
  if (!(o.min_scale > 0 && o.min_scale <= o.max_scale && o.max_scale <= 1))
    throw bad("max_scale", "must satisfy 0 < min_scale <= max_scale <= 1");
  if (!(o.max_iou >= 0 && o.max_iou <= 1)) throw bad("max_iou", "must be in [0, 1]");
  if (!(o.max_cover >= 0 && o.max_cover <= 1)) throw bad("max_cover", "must be in [0, 1]");
  if (!(o.flip >= 0 && o.flip <= 1)) throw bad("flip", "must be in [0, 1]");
  if (o.tries < 1) throw bad("tries", "must be >= 1");
  if (o.min_per_class < 2) throw bad("min_per_class", "must be >= 2");
  if (o.backgrounds.empty()) throw bad("backgrounds", "must name at least one kind");
  for (const auto& k : o.backgrounds)
    if (std::none_of(std::begin(kKinds), std::end(kKinds), [&](const char* x) { return k == x; }))
      throw bad("backgrounds", "has unknown kind '" + k + "' (valid: solid, gradient, noise, stripes, checker, photo)");
  return o;
}

// ---- generator -----------------------------------------------------------------------------

namespace {
std::shared_ptr<const SceneBank> bank_of(const DatasetSpec& spec) {
  // Built from openclipart-png on first use (InputError naming the package when it is missing).
  return std::make_shared<const SceneBank>(load_scene_bank(ensure_scene_bank(spec, 0, /*progress=*/true)));
}
}  // namespace

SceneGenerator::SceneGenerator(const DatasetSpec& spec)
    : bank_(bank_of(spec)), options_(SceneOptions::from_spec(spec)), source_(spec.text) {
  init();
}

SceneGenerator::SceneGenerator(std::shared_ptr<const SceneBank> bank, SceneOptions options, std::string source)
    : bank_(std::move(bank)), options_(std::move(options)), source_(std::move(source)) {
  if (!bank_) throw core::InputError(source_ + ": no scene bank");
  check_scene_bank(*bank_, source_);
  init();
}

void SceneGenerator::init() {
  const SceneBank& b = *bank_;
  const auto C = b.num_classes();
  std::vector<std::int64_t> train_count(static_cast<std::size_t>(C), 0), test_count(static_cast<std::size_t>(C), 0);
  for (std::int64_t m = 0; m < b.num_objects(); ++m)
    ++(b.object_test[static_cast<std::size_t>(m)] ? test_count : train_count)[static_cast<std::size_t>(b.object_class[static_cast<std::size_t>(m)])];
  // Usable: enough PNGs in the folder, and drawings on both sides of the split.
  std::vector<std::int64_t> usable;
  for (std::int64_t c = 0; c < C; ++c) {
    const auto i = static_cast<std::size_t>(c);
    if (b.class_images[i] >= options_.min_per_class && train_count[i] > 0 && test_count[i] > 0) usable.push_back(c);
  }
  if (usable.empty())
    throw core::InputError(source_ + ": no class of the bank has min_per_class=" + std::to_string(options_.min_per_class) +
                     " images and drawings on both sides of the train / test split");
  // Held-out classes: a count (a seeded choice among the usable ones) or names.
  std::vector<bool> held(static_cast<std::size_t>(C), false);
  if (auto count = [&]() -> std::int64_t {
        try {
          std::size_t used = 0;
          const long long v = std::stoll(options_.holdout, &used);
          return used == options_.holdout.size() ? v : -2;
        } catch (const std::exception&) {
          return -2;
        }
      }();
      count != -2) {
    if (count < 0) throw core::InputError(source_ + ": holdout must be a count >= 0 or class names, got " + options_.holdout);
    if (count >= static_cast<std::int64_t>(usable.size()))
      throw core::InputError(source_ + ": holdout=" + options_.holdout + " leaves no class to train on: the bank has " +
                       std::to_string(usable.size()) + " usable classes (min_per_class=" + std::to_string(options_.min_per_class) + ")");
    std::vector<std::int64_t> order = usable;
    Rng r(mix(options_.holdout_seed, 0x686f6c646f7574ull));
    for (std::size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[r.next() % (i + 1)]);
    for (std::int64_t k = 0; k < count; ++k) held[static_cast<std::size_t>(order[static_cast<std::size_t>(k)])] = true;
  } else {
    for (const auto& name : split_list(options_.holdout)) {
      bool found = false;
      for (std::int64_t c : usable) {
        const auto i = static_cast<std::size_t>(c);
        const std::string& id = b.classes[i];
        const std::string last = id.substr(id.rfind('/') == std::string::npos ? 0 : id.rfind('/') + 1);
        if (name == id || name == last || name == b.singular[i] || name == b.plural[i]) {
          held[i] = true;
          found = true;
        }
      }
      if (!found) {
        std::vector<std::string> valid;
        for (std::int64_t c : usable) valid.push_back(b.singular[static_cast<std::size_t>(c)]);
        throw core::InputError(source_ + ": holdout names '" + name + "', not a usable class of the bank (classes: " + join(valid) + ")");
      }
    }
    std::int64_t kept = 0;
    for (std::int64_t c : usable) kept += held[static_cast<std::size_t>(c)] ? 0 : 1;
    if (kept == 0) throw core::InputError(source_ + ": holdout=" + options_.holdout + " holds out every class; none is left to train on");
  }
  for (std::int64_t c : usable) (held[static_cast<std::size_t>(c)] ? heldout_ : split_classes_).push_back(c);
  if (options_.split == "heldout") {
    if (heldout_.empty()) throw core::InputError(source_ + ": split=heldout needs held-out classes (holdout=N or holdout=names)");
    split_classes_ = heldout_;
  }
  label_of_class_.assign(static_cast<std::size_t>(C), -1);
  instances_.assign(split_classes_.size(), {});
  for (std::size_t l = 0; l < split_classes_.size(); ++l) {
    label_of_class_[static_cast<std::size_t>(split_classes_[l])] = static_cast<std::int64_t>(l);
    class_names_.push_back(b.singular[static_cast<std::size_t>(split_classes_[l])]);
  }
  for (std::int64_t m = 0; m < b.num_objects(); ++m) {
    const auto i = static_cast<std::size_t>(m);
    const std::int64_t l = label_of_class_[static_cast<std::size_t>(b.object_class[i])];
    if (l < 0) continue;
    const bool test = b.object_test[i] != 0;
    if (options_.split == "heldout" || (options_.split == "test") == test) instances_[static_cast<std::size_t>(l)].push_back(m);
  }
  colours_.resize(static_cast<std::size_t>(b.num_objects()));
  for (std::int64_t m = 0; m < b.num_objects(); ++m) {
    const torch::Tensor o = b.objects[static_cast<std::size_t>(m)].contiguous();
    colours_[static_cast<std::size_t>(m)] = colour_name(dominant_colour(o.data_ptr<std::uint8_t>(), o.size(0) * o.size(1)));
  }
  for (const auto& k : options_.backgrounds)
    if (k != "photo" || !b.photos.empty()) kinds_.push_back(k);
  if (kinds_.empty()) throw core::InputError(source_ + ": backgrounds=photo, but the bank has no photos (build it with photos=auto or a folder)");
}

SceneLayout SceneGenerator::layout(std::int64_t index) const {
  if (index < 0 || index >= options_.n)
    throw core::InputError(source_ + ": scene index " + std::to_string(index) + " out of range 0.." + std::to_string(options_.n - 1));
  const SceneBank& b = *bank_;
  SceneLayout L;
  L.index = index;
  // Scene i of (seed, split): train and test scenes of one seed differ.
  Rng r(mix(mix(options_.seed, text_hash(options_.split)), static_cast<std::uint64_t>(index)));
  // Background: every parameter drawn whatever the kind, so the stream does not depend on it.
  auto& bg = L.background;
  bg.kind = kinds_[static_cast<std::size_t>(r.integer(0, static_cast<std::int64_t>(kinds_.size()) - 1))];
  // The second colour lies 60 % of the way from the first to a random one: patterns of two
  // unrelated saturated colours would hide line drawings.
  for (auto& c : bg.colour0) c = static_cast<float>(r.uniform());
  for (std::size_t i = 0; i < 3; ++i) bg.colour1[i] = static_cast<float>(bg.colour0[i] + 0.6 * (r.uniform() - bg.colour0[i]));
  bg.angle = r.uniform(0, 2 * kPi);
  const double f = r.uniform();
  bg.frequency = bg.kind == "stripes" ? 3 + 9 * f : bg.kind == "checker" ? static_cast<double>(3 + static_cast<int>(f * 8))
               : bg.kind == "noise"   ? static_cast<double>(3 + static_cast<int>(f * 6)) : 0;
  bg.phase = r.uniform();
  bg.noise_seed = r.next();
  const std::int64_t photo = b.photos.empty() ? -1 : r.integer(0, static_cast<std::int64_t>(b.photos.size()) - 1);
  bg.photo = bg.kind == "photo" ? photo : -1;
  bg.crop_side = r.uniform(0.5, 1.0);
  bg.crop_x = r.uniform();
  bg.crop_y = r.uniform();
  const std::uint64_t variant = r.next();
  const std::int64_t n = r.integer(options_.min_objects, options_.max_objects);
  std::vector<double> covered;  // per placed object, box area covered by later boxes (summed)
  for (std::int64_t k = 0; k < n; ++k) {
    SceneObject o;
    o.label = r.integer(0, static_cast<std::int64_t>(split_classes_.size()) - 1);
    const auto& pool = instances_[static_cast<std::size_t>(o.label)];
    o.instance = pool[static_cast<std::size_t>(r.integer(0, static_cast<std::int64_t>(pool.size()) - 1))];
    o.bank_class = b.object_class[static_cast<std::size_t>(o.instance)];
    o.flipped = r.uniform() < options_.flip;
    const auto& t = b.objects[static_cast<std::size_t>(o.instance)];
    const double oh = static_cast<double>(t.size(0)), ow = static_cast<double>(t.size(1)), longer = std::max(oh, ow);
    bool placed = false;
    std::vector<double> inter(L.objects.size());
    for (std::int64_t attempt = 0; attempt < options_.tries && !placed; ++attempt) {
      const double s = r.uniform(options_.min_scale, options_.max_scale);
      o.w = s * ow / longer;
      o.h = s * oh / longer;
      o.x = r.uniform() * (1 - o.w);
      o.y = r.uniform() * (1 - o.h);
      placed = true;
      for (std::size_t j = 0; j < L.objects.size() && placed; ++j) {
        const auto& p = L.objects[j];
        placed = iou(o, p, &inter[j]) <= options_.max_iou && covered[j] + inter[j] <= options_.max_cover * p.w * p.h;
      }
    }
    if (!placed) {
      ++L.dropped;
      continue;
    }
    for (std::size_t j = 0; j < L.objects.size(); ++j) covered[j] += inter[j];
    covered.push_back(0);
    o.colour = colours_[static_cast<std::size_t>(o.instance)];
    o.position = position_word(o.x + o.w / 2, o.y + o.h / 2);
    L.objects.push_back(o);
  }
  std::vector<CaptionObject> words;
  for (const auto& o : L.objects)
    words.push_back({b.singular[static_cast<std::size_t>(o.bank_class)], b.plural[static_cast<std::size_t>(o.bank_class)], o.colour, o.position});
  L.captions = {counting_caption(words, variant), position_caption(words), names_caption(words, variant)};
  return L;
}

namespace {

// Background as float [3, n, n] in [0, 1]. Sharp patterns (stripes, checker) are sampled 4 x 4
// per pixel and averaged (box filter), so every size shows the area average of one pattern.
torch::Tensor render_background(const SceneBackground& bg, const SceneBank& bank, std::int64_t n) {
  const auto c0 = colour_tensor(bg.colour0), c1 = colour_tensor(bg.colour1);
  if (bg.kind == "solid") return c0.expand({3, n, n}).clone();
  if (bg.kind == "gradient") {
    auto [u, v] = grid(n);
    const double ca = std::cos(bg.angle), sa = std::sin(bg.angle);
    auto t = ((u - 0.5) * ca + (v - 0.5) * sa) / (0.5 * (std::abs(ca) + std::abs(sa))) * 0.5 + 0.5;
    return c0 + (c1 - c0) * t;
  }
  if (bg.kind == "noise") return c0 + (c1 - c0) * value_noise(bg.noise_seed, static_cast<std::int64_t>(bg.frequency), n);
  if (bg.kind == "stripes" || bg.kind == "checker") {
    constexpr std::int64_t ss = 4;
    auto [u, v] = grid(n * ss);
    const double ca = std::cos(bg.angle), sa = std::sin(bg.angle);
    torch::Tensor t;
    if (bg.kind == "stripes") {
      auto p = bg.frequency * (u * ca + v * sa) + bg.phase;
      t = (p - p.floor()).ge(0.5).to(torch::kFloat32);
    } else {  // checker of frequency x frequency cells, rotated about the centre
      auto ru = ((u - 0.5) * ca - (v - 0.5) * sa) * bg.frequency, rv = ((u - 0.5) * sa + (v - 0.5) * ca) * bg.frequency;
      t = torch::remainder(ru.floor() + rv.floor(), 2.0);
    }
    t = torch::avg_pool2d(t.unsqueeze(0), {ss, ss}).squeeze(0);
    return c0 + (c1 - c0) * t;
  }
  // photo: a square crop, its side a fraction of the photo's shorter side, resized to n x n.
  const auto& p = bank.photos[static_cast<std::size_t>(bg.photo)];
  const std::int64_t h = p.size(0), w = p.size(1);
  const std::int64_t side = std::max<std::int64_t>(1, std::lround(bg.crop_side * static_cast<double>(std::min(h, w))));
  const std::int64_t x0 = std::lround(bg.crop_x * static_cast<double>(w - side)), y0 = std::lround(bg.crop_y * static_cast<double>(h - side));
  auto crop = p.narrow(0, y0, side).narrow(1, x0, side).permute({2, 0, 1}).to(torch::kFloat32).div(255.0);
  return resize(crop, n, n).clamp(0, 1);
}

}  // namespace

Scene SceneGenerator::render(const SceneLayout& layout, std::int64_t n) const {
  if (n < 8 || n > 8192) throw core::InputError(source_ + ": render size " + std::to_string(n) + " outside 8..8192");
  torch::NoGradGuard no_grad;
  const SceneBank& b = *bank_;
  Scene s;
  s.index = layout.index;
  s.dropped = layout.dropped;
  s.background = layout.background.kind;
  s.captions = layout.captions;
  s.objects = layout.objects;
  torch::Tensor canvas = render_background(layout.background, b, n);  // float [3, n, n]
  s.instances = torch::zeros({n, n}, torch::kUInt8);
  const double N = static_cast<double>(n);
  std::vector<std::array<std::int64_t, 4>> rects;  // px, py, tw, th: the pixels an object touches
  for (std::size_t k = 0; k < s.objects.size(); ++k) {
    auto& o = s.objects[k];
    const double X0 = o.x * N, Y0 = o.y * N, W = o.w * N, H = o.h * N;
    const std::int64_t px = std::clamp<std::int64_t>(static_cast<std::int64_t>(std::floor(X0)), 0, n - 1);
    const std::int64_t py = std::clamp<std::int64_t>(static_cast<std::int64_t>(std::floor(Y0)), 0, n - 1);
    const std::int64_t tw = std::clamp<std::int64_t>(static_cast<std::int64_t>(std::ceil(X0 + W)), px + 1, n) - px;
    const std::int64_t th = std::clamp<std::int64_t>(static_cast<std::int64_t>(std::ceil(Y0 + H)), py + 1, n) - py;
    rects.push_back({px, py, tw, th});
    const torch::Tensor& cut = b.objects[static_cast<std::size_t>(o.instance)];
    torch::Tensor src = cut.permute({2, 0, 1}).to(torch::kFloat32).div(255.0);
    if (o.flipped) src = src.flip({2});
    // Premultiplied alpha before resampling: transparent pixels (often black) must not bleed in.
    src = torch::cat({src.narrow(0, 0, 3) * src.narrow(0, 3, 1), src.narrow(0, 3, 1)});
    const torch::Tensor wx = area_weights(cut.size(1), X0, W, px, tw), wy = area_weights(cut.size(0), Y0, H, py, th);
    const torch::Tensor rgba = torch::matmul(wy, torch::matmul(src, wx.t())).clamp(0, 1);  // [4, th, tw]
    const torch::Tensor alpha = rgba.narrow(0, 3, 1);
    torch::Tensor region = canvas.narrow(1, py, th).narrow(2, px, tw);
    region.copy_(rgba.narrow(0, 0, 3) + (1 - alpha) * region);
    // Instance ids: this object wherever it is at least half opaque (later ones overwrite).
    s.instances.narrow(0, py, th).narrow(1, px, tw).masked_fill_(alpha.squeeze(0).ge(0.5), static_cast<std::int64_t>(k + 1));
    o.full_box = Box{X0, Y0, X0 + W, Y0 + H, o.label};
  }
  for (std::size_t k = 0; k < s.objects.size(); ++k) {
    auto& o = s.objects[k];
    const auto [px, py, tw, th] = rects[k];
    const torch::Tensor m = s.instances.narrow(0, py, th).narrow(1, px, tw).eq(static_cast<std::int64_t>(k + 1));
    o.visible_pixels = m.sum().item<std::int64_t>();
    o.box = Box{0, 0, 0, 0, o.label};
    if (o.visible_pixels == 0) continue;
    const auto cols = m.any(0).nonzero().view({-1}), rows = m.any(1).nonzero().view({-1});
    o.box.x1 = static_cast<double>(px + cols[0].item<std::int64_t>());
    o.box.x2 = static_cast<double>(px + cols[-1].item<std::int64_t>() + 1);
    o.box.y1 = static_cast<double>(py + rows[0].item<std::int64_t>());
    o.box.y2 = static_cast<double>(py + rows[-1].item<std::int64_t>() + 1);
  }
  s.image = canvas.mul(255.0).round_().clamp_(0, 255).to(torch::kUInt8).permute({1, 2, 0}).contiguous();
  return s;
}

// ---- whole datasets ------------------------------------------------------------------------

torch::Tensor multi_hot(const std::vector<std::vector<SceneObject>>& objects, std::int64_t num_classes) {
  torch::Tensor t = torch::zeros({static_cast<std::int64_t>(objects.size()), num_classes}, torch::kFloat32);
  auto a = t.accessor<float, 2>();
  for (std::size_t i = 0; i < objects.size(); ++i)
    for (const auto& o : objects[i])
      if (o.label >= 0 && o.label < num_classes) a[static_cast<std::int64_t>(i)][o.label] = 1.0f;
  return t;
}

ScenesDataset generate_scenes(const SceneGenerator& gen, const std::string& source, int threads) {
  const std::int64_t N = gen.size(), S = gen.options().size;
  ScenesDataset set;
  set.images = torch::empty({N, S, S, 3}, torch::kUInt8);
  set.instances = torch::empty({N, S, S}, torch::kUInt8);
  set.objects.resize(static_cast<std::size_t>(N));
  set.captions.resize(static_cast<std::size_t>(N));
  set.dropped.resize(static_cast<std::size_t>(N));
  set.backgrounds.resize(static_cast<std::size_t>(N));
  auto one = [&](std::int64_t i) {
    Scene s = gen.render_scene(i);
    set.images[i].copy_(s.image);
    set.instances[i].copy_(s.instances);
    const auto k = static_cast<std::size_t>(i);
    set.objects[k] = std::move(s.objects);
    set.captions[k] = std::move(s.captions);
    set.dropped[k] = s.dropped;
    set.backgrounds[k] = s.background;
  };
  // Each scene depends on its index alone, so any thread count gives the same bytes.
  tbb::task_arena arena(threads > 0 ? threads : tbb::task_arena::automatic);
  arena.execute([&] { tbb::parallel_for(std::int64_t(0), N, one); });
  set.classes = gen.classes();
  for (std::int64_t c : gen.class_ids()) set.class_folders.push_back(gen.bank().classes[static_cast<std::size_t>(c)]);
  for (std::int64_t c : gen.heldout_classes()) set.heldout.push_back(gen.bank().singular[static_cast<std::size_t>(c)]);
  set.targets = multi_hot(set.objects, static_cast<std::int64_t>(set.classes.size()));
  set.split = gen.options().split;
  set.source = source;
  return set;
}

ScenesDataset generate_scenes(const DatasetSpec& spec, int threads) {
  return generate_scenes(SceneGenerator(spec), spec.text, threads);
}

nlohmann::json inspect_scenes(const ScenesDataset& set, bool items) {
  nlohmann::json j;
  const auto N = set.images.defined() ? set.images.size(0) : 0;
  j["format"] = "scenes";
  j["source"] = set.source;
  j["split"] = set.split;
  j["scenes"] = N;
  if (N > 0) j["size"] = {set.images.size(2), set.images.size(1)};
  std::vector<std::int64_t> per_class(set.classes.size(), 0), scenes_with(set.classes.size(), 0);
  std::int64_t objects = 0, dropped = 0, invisible = 0;
  std::map<std::string, std::int64_t> kinds;
  for (std::size_t i = 0; i < set.objects.size(); ++i) {
    for (const auto& o : set.objects[i]) {
      ++per_class[static_cast<std::size_t>(o.label)];
      invisible += o.visible_pixels == 0;
    }
    std::vector<bool> seen(set.classes.size(), false);
    for (const auto& o : set.objects[i]) seen[static_cast<std::size_t>(o.label)] = true;
    for (std::size_t c = 0; c < seen.size(); ++c) scenes_with[c] += seen[c];
    objects += static_cast<std::int64_t>(set.objects[i].size());
    dropped += set.dropped[i];
    ++kinds[set.backgrounds[i]];
  }
  j["objects"] = objects;
  j["objects_per_scene"] = N > 0 ? static_cast<double>(objects) / static_cast<double>(N) : 0.0;
  j["dropped_objects"] = dropped;
  j["hidden_objects"] = invisible;
  j["num_classes"] = set.classes.size();
  nlohmann::json cls = nlohmann::json::array();
  for (std::size_t c = 0; c < set.classes.size(); ++c)
    cls.push_back({{"name", set.classes[c]}, {"folder", set.class_folders[c]}, {"objects", per_class[c]}, {"scenes", scenes_with[c]}});
  j["classes"] = cls;
  j["heldout_classes"] = set.heldout;
  j["backgrounds"] = kinds;
  if (items) {
    nlohmann::json list = nlohmann::json::array();
    for (std::size_t i = 0; i < set.objects.size(); ++i) {
      nlohmann::json objs = nlohmann::json::array();
      for (const auto& o : set.objects[i])
        objs.push_back({{"class", set.classes[static_cast<std::size_t>(o.label)]},
                        {"box", {o.box.x1, o.box.y1, o.box.x2, o.box.y2}},
                        {"colour", o.colour},
                        {"position", o.position},
                        {"visible_pixels", o.visible_pixels}});
      list.push_back({{"index", i}, {"objects", objs}, {"captions", set.captions[i]}, {"background", set.backgrounds[i]}});
    }
    j["items"] = list;
  }
  return j;
}

}  // namespace pesuite::datasets
