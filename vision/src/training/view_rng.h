#pragma once
// The random stream of one head-pose training view (head_pose_data.cpp): splitmix64 seeded from
// (seed, stream, slot), so each view's draws depend on nothing else (not on threads or on the other
// views of its batch). Internal to the library; tests include it to replay a view's draws.
//
//   ViewRng rng(options.seed, /*stream=*/step, /*slot=*/j);
//   double k = rng.uniform(0.2, 0.4);
//   std::vector<float> z(n);  rng.normals(z.data(), n);
#include <algorithm>
#include <cstdint>
#include <cstring>

namespace pesuite::vision {

namespace view_rng_detail {

// The transform uses +, -, *, / and bit moves only (no libm call, whose errno handling keeps loops
// scalar): the compiler vectorises it, and its values do not depend on the C library (nor on the
// CPU while the build fuses no multiply-adds, as this one, with no -march, does not).
inline float bits_to_float(std::uint32_t b) {
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
}
inline std::uint32_t float_to_bits(float f) {
  std::uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
}

// ln u for u in (0, 1]: u = 2^e f with f in [1, 2), ln f = 2 atanh((f - 1) / (f + 1)) by its series
// (the argument is below 1/3: error under 1e-8).
inline float log_unit(float u) {
  const std::uint32_t b = float_to_bits(u);
  const auto e = static_cast<float>(static_cast<std::int32_t>(b >> 23) - 127);
  const float f = bits_to_float((b & 0x7FFFFFu) | 0x3F800000u);
  const float s = (f - 1) / (f + 1), s2 = s * s;
  const float series = 1 + s2 * (1.f / 3 + s2 * (1.f / 5 + s2 * (1.f / 7 + s2 * (1.f / 9 + s2 * (1.f / 11 + s2 * (1.f / 13))))));
  return e * 0.693147181f + 2 * s * series;
}

// sqrt x for x >= 0: Newton's reciprocal square root from the bit-level first guess, three steps
// (relative error near float's rounding); x = 0 gives 0.
inline float sqrt_nonneg(float x) {
  float y = bits_to_float(0x5F3759DFu - (float_to_bits(x) >> 1));
  for (int step = 0; step < 3; ++step) y = y * (1.5f - 0.5f * x * y * y);
  return x * y;
}

// Normal pairs out[2 i], out[2 i + 1] from draws[i] (ViewRng::normals's bit layout).
inline void box_muller_pairs(const std::uint64_t* __restrict draws, std::int64_t pairs, float* __restrict out) {
  for (std::int64_t i = 0; i < pairs; ++i) {
    const std::uint64_t x = draws[i];
    const float u = static_cast<float>(static_cast<std::uint32_t>(x >> 40) + 1) * 0x1.0p-24f;
    const float r = sqrt_nonneg(-2 * log_unit(u));
    // Angle q pi / 2 + t, t in [0, pi / 2): Taylor sine and cosine of t (error under 1e-7), then
    // the quadrant's turn (cos, sin) -> (-sin, cos) -> (-cos, -sin) -> (sin, -cos).
    const auto q = static_cast<std::uint32_t>(x >> 38) & 3u;
    const float t = static_cast<float>(static_cast<std::uint32_t>(x >> 16) & 0x3FFFFFu) * (1.57079632679f * 0x1.0p-22f), t2 = t * t;
    const float sn = t * (1 + t2 * (-1.f / 6 + t2 * (1.f / 120 + t2 * (-1.f / 5040 + t2 * (1.f / 362880 + t2 * (-1.f / 39916800))))));
    const float cs = 1 + t2 * (-1.f / 2 + t2 * (1.f / 24 + t2 * (-1.f / 720 + t2 * (1.f / 40320 + t2 * (-1.f / 3628800 + t2 / 479001600)))));
    const auto odd = static_cast<float>(q & 1u);
    const float cos_sign = 1 - 2 * static_cast<float>(((q + 1) >> 1) & 1u), sin_sign = 1 - 2 * static_cast<float>(q >> 1);
    out[2 * i] = r * cos_sign * (cs + odd * (sn - cs));
    out[2 * i + 1] = r * sin_sign * (sn + odd * (cs - sn));
  }
}

}  // namespace view_rng_detail

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
  // n standard normals into out, Box-Muller in float, a pair per 64-bit draw: bits 40..63 give
  // the radius's uniform u in (0, 1] (never log 0; |z| < 5.8), bits 38..39 the angle's quadrant
  // and 16..37 the angle within it; r = sqrt(-2 ln u), the pair r cos, r sin (an odd n drops the
  // last sine). The draws are made a block at a time first, then box_muller_pairs transforms them
  // in a loop the compiler vectorises: a sixth of the time of the double-precision std:: form it
  // replaced (a strong view draws one normal per pixel and channel).
  void normals(float* out, std::int64_t n) {
    constexpr std::int64_t kBlock = 256;  // pairs: the block's draws and normals stay in L1
    std::uint64_t draws[kBlock];
    float z[2 * kBlock];
    for (std::int64_t k = 0; k < n; k += 2 * kBlock) {
      const auto pairs = std::min<std::int64_t>(kBlock, (n - k + 1) / 2);
      for (std::int64_t i = 0; i < pairs; ++i) draws[i] = next();
      view_rng_detail::box_muller_pairs(draws, pairs, z);
      std::copy_n(z, std::min(2 * pairs, n - k), out + k);
    }
  }

 private:
  std::uint64_t state_;
};

}  // namespace pesuite::vision
