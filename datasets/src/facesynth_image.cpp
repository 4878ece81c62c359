// facesynth's pixels besides the face: random streams, procedural and photo backgrounds, blur,
// noise, quantisation. Plain C++; every picture is defined on normalised coordinates (u, v in
// [0, 1)) so the resolution changes only the sampling, never the scene.
#include <algorithm>
#include <array>
#include <cmath>

#include "facesynth_internal.h"

namespace pesuite::datasets::synth {
namespace {

constexpr double kPi = 3.14159265358979323846;

std::uint64_t splitmix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// A muted random colour: a grey level with a bounded tint per channel (fully saturated colours are
// rare behind real faces).
std::array<float, 3> random_color(Rng& rng) {
  const double grey = rng.uniform(15, 240);
  std::array<float, 3> c{};
  for (auto& ch : c) ch = static_cast<float>(std::clamp(grey + rng.uniform(-70, 70), 0.0, 255.0));
  return c;
}

// Value noise on an integer lattice, smoothly interpolated; [0, 1).
double lattice(std::int64_t ix, std::int64_t iy, std::uint64_t seed) {
  const std::uint64_t h = splitmix(seed ^ splitmix(static_cast<std::uint64_t>(ix) * 0x632BE59BD9B4E019ull + static_cast<std::uint64_t>(iy)));
  return static_cast<double>(h >> 11) * (1.0 / 9007199254740992.0);
}
double value_noise(double x, double y, std::uint64_t seed) {
  const double fx = std::floor(x), fy = std::floor(y);
  const auto ix = static_cast<std::int64_t>(fx), iy = static_cast<std::int64_t>(fy);
  double tx = x - fx, ty = y - fy;
  tx = tx * tx * (3 - 2 * tx), ty = ty * ty * (3 - 2 * ty);
  const double a = lattice(ix, iy, seed), b = lattice(ix + 1, iy, seed);
  const double c = lattice(ix, iy + 1, seed), d = lattice(ix + 1, iy + 1, seed);
  return (a + (b - a) * tx) * (1 - ty) + (c + (d - c) * tx) * ty;
}

void lerp_into(float* out, const std::array<float, 3>& a, const std::array<float, 3>& b, double t) {
  for (int k = 0; k < 3; ++k) out[k] = static_cast<float>(a[k] + (b[k] - a[k]) * t);
}

}  // namespace

Rng::Rng(std::uint64_t seed, std::uint64_t index, std::uint64_t stream)
    : state_(splitmix(splitmix(seed ^ 0x5FACE5EEDull) ^ splitmix(index + 0x1234567ull) ^ splitmix(stream * 0xA24BAED4963EE407ull))) {}

std::uint64_t Rng::next() { return splitmix(state_++); }

double Rng::uniform(double lo, double hi) {
  return lo + (hi - lo) * (static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0));
}

std::int64_t Rng::integer(std::int64_t lo, std::int64_t hi) {
  return lo + static_cast<std::int64_t>(next() % static_cast<std::uint64_t>(hi - lo + 1));
}

double Rng::normal() {
  // Four 16-bit uniforms from one draw; their sum has variance 4/12: centre and scale to unit
  // variance. Good enough for pixel noise, and a quarter of the draws of four full uniforms.
  const std::uint64_t x = next();
  const double sum = static_cast<double>((x & 0xffff) + ((x >> 16) & 0xffff) + ((x >> 32) & 0xffff) + (x >> 48)) + 2.0;
  return (sum / 65536.0 - 2.0) * 1.7320508075688772;
}

void procedural_background(int kind, std::uint64_t seed, int W, int H, std::vector<float>& rgb) {
  rgb.assign(static_cast<std::size_t>(W) * H * 3, 0.f);
  Rng rng(seed, 0, 7);
  const auto c0 = random_color(rng), c1 = random_color(rng), c2 = random_color(rng);
  const double angle = rng.uniform(0, 2 * kPi);
  const double ca = std::cos(angle), sa = std::sin(angle);
  auto uv = [&](int x, int y) { return std::pair<double, double>((x + 0.5) / W, (y + 0.5) / H); };

  if (kind == 1) {  // fractal value noise through a three-colour ramp
    const double freq = rng.uniform(2, 9);
    const std::uint64_t nseed = rng.next();
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x) {
        auto [u, v] = uv(x, y);
        double f = freq, amp = 0.5, n = 0;
        for (int o = 0; o < 4; ++o, f *= 2, amp *= 0.5) n += amp * value_noise(u * f, v * f, nseed + o);
        n /= 0.9375;  // sum of the amplitudes
        float* p = &rgb[(static_cast<std::size_t>(y) * W + x) * 3];
        if (n < 0.5) lerp_into(p, c0, c1, n * 2);
        else lerp_into(p, c1, c2, (n - 0.5) * 2);
      }
    return;
  }
  if (kind == 3) {  // soft stripes, or a checkerboard
    const double period = rng.uniform(0.03, 0.25);
    const bool checker = rng.uniform() < 0.5;
    const double sharp = rng.uniform(1, 6);
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x) {
        auto [u, v] = uv(x, y);
        const double a = (u * ca + v * sa) / period, b = (-u * sa + v * ca) / period;
        double s = std::sin(2 * kPi * a);
        if (checker) s *= std::sin(2 * kPi * b);
        lerp_into(&rgb[(static_cast<std::size_t>(y) * W + x) * 3], c0, c1, 0.5 + 0.5 * std::tanh(sharp * s));
      }
    return;
  }
  // Kinds 0 and 2 start from a linear gradient.
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      auto [u, v] = uv(x, y);
      const double t = std::clamp((u - 0.5) * ca + (v - 0.5) * sa + 0.5, 0.0, 1.0);
      lerp_into(&rgb[(static_cast<std::size_t>(y) * W + x) * 3], c0, c1, t);
    }
  if (kind != 2) return;
  // Shapes: rotated rectangles and ellipses in painter's order.
  const int shapes = static_cast<int>(rng.integer(3, 12));
  for (int s = 0; s < shapes; ++s) {
    const bool ellipse = rng.uniform() < 0.5;
    const double cx = rng.uniform(-0.1, 1.1), cy = rng.uniform(-0.1, 1.1);
    const double rx = rng.uniform(0.03, 0.35), ry = rng.uniform(0.03, 0.35);
    const double th = rng.uniform(0, kPi), ct = std::cos(th), st = std::sin(th);
    const auto col = random_color(rng);
    const int x0 = std::max(0, static_cast<int>((cx - 0.5) * W)), x1 = std::min(W, static_cast<int>((cx + 0.5) * W) + 1);
    const int y0 = std::max(0, static_cast<int>((cy - 0.5) * H)), y1 = std::min(H, static_cast<int>((cy + 0.5) * H) + 1);
    for (int y = y0; y < y1; ++y)
      for (int x = x0; x < x1; ++x) {
        auto [u, v] = uv(x, y);
        const double du = u - cx, dv = v - cy;
        const double a = (du * ct + dv * st) / rx, b = (-du * st + dv * ct) / ry;
        const bool inside = ellipse ? a * a + b * b <= 1 : std::abs(a) <= 1 && std::abs(b) <= 1;
        if (inside) std::copy(col.begin(), col.end(), &rgb[(static_cast<std::size_t>(y) * W + x) * 3]);
      }
  }
}

void photo_background(const RgbImage& photo, std::uint64_t seed, int W, int H, std::vector<float>& rgb) {
  rgb.assign(static_cast<std::size_t>(W) * H * 3, 0.f);
  Rng rng(seed, 0, 8);
  const double aspect = static_cast<double>(W) / H;
  const double max_w = std::min<double>(photo.width, photo.height * aspect);
  const double cw = max_w * rng.uniform(0.4, 1.0), ch = cw / aspect;
  const double x0 = rng.uniform(0, photo.width - cw), y0 = rng.uniform(0, photo.height - ch);
  const bool mirror = rng.uniform() < 0.5;
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      const double u = (mirror ? (W - 0.5 - x) : (x + 0.5)) / W, v = (y + 0.5) / H;
      const double px = std::clamp(x0 + u * cw - 0.5, 0.0, photo.width - 1.0), py = std::clamp(y0 + v * ch - 0.5, 0.0, photo.height - 1.0);
      const int ix = std::min(static_cast<int>(px), photo.width - 2 < 0 ? 0 : photo.width - 2);
      const int iy = std::min(static_cast<int>(py), photo.height - 2 < 0 ? 0 : photo.height - 2);
      const int jx = std::min(ix + 1, photo.width - 1), jy = std::min(iy + 1, photo.height - 1);
      const double tx = px - ix, ty = py - iy;
      float* out = &rgb[(static_cast<std::size_t>(y) * W + x) * 3];
      for (int k = 0; k < 3; ++k) {
        const double a = photo.at(iy, ix)[k], b = photo.at(iy, jx)[k], c = photo.at(jy, ix)[k], d = photo.at(jy, jx)[k];
        out[k] = static_cast<float>((a + (b - a) * tx) * (1 - ty) + (c + (d - c) * tx) * ty);
      }
    }
}

void gaussian_blur(std::vector<float>& rgb, int W, int H, double sigma) {
  if (sigma < 0.25) return;
  const int r = static_cast<int>(std::ceil(3 * sigma));
  std::vector<float> k(2 * r + 1);
  double sum = 0;
  for (int i = -r; i <= r; ++i) sum += k[i + r] = static_cast<float>(std::exp(-0.5 * i * i / (sigma * sigma)));
  for (auto& w : k) w = static_cast<float>(w / sum);
  const std::size_t row = static_cast<std::size_t>(W) * 3;
  // Horizontal: each row copied into a buffer padded with its edge pixels, so the inner loop runs
  // over contiguous floats without bounds checks.
  std::vector<float> pad((static_cast<std::size_t>(W) + 2 * r) * 3), tmp(rgb.size());
  for (int y = 0; y < H; ++y) {
    const float* in = &rgb[y * row];
    for (int x = -r; x < W + r; ++x)
      for (int c = 0; c < 3; ++c) pad[(x + r) * 3 + c] = in[std::clamp(x, 0, W - 1) * 3 + c];
    float* out = &tmp[y * row];
    std::fill(out, out + row, 0.f);
    for (int i = 0; i <= 2 * r; ++i) {
      const float w = k[i];
      const float* src = &pad[static_cast<std::size_t>(i) * 3];
      for (std::size_t j = 0; j < row; ++j) out[j] += w * src[j];
    }
  }
  // Vertical: a weighted sum of whole rows (edge rows repeated).
  for (int y = 0; y < H; ++y) {
    float* out = &rgb[y * row];
    std::fill(out, out + row, 0.f);
    for (int i = -r; i <= r; ++i) {
      const float w = k[i + r];
      const float* src = &tmp[std::clamp(y + i, 0, H - 1) * row];
      for (std::size_t j = 0; j < row; ++j) out[j] += w * src[j];
    }
  }
}

void add_noise(std::vector<float>& rgb, double sigma, Rng& rng) {
  if (sigma <= 0) return;
  for (auto& v : rgb) v += static_cast<float>(sigma * rng.normal());
}

RgbImage quantize(const std::vector<float>& rgb, int W, int H) {
  RgbImage out(W, H);
  for (std::size_t i = 0; i < rgb.size(); ++i) out.pixels[i] = static_cast<std::uint8_t>(std::lround(std::clamp(rgb[i], 0.f, 255.f)));
  return out;
}

}  // namespace pesuite::datasets::synth
