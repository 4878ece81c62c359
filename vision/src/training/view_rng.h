#pragma once
// The random stream of one head-pose training view (head_pose_data.cpp): splitmix64 seeded from
// (seed, stream, slot), so each view's draws depend on nothing else (not on threads or on the other
// views of its batch). Internal to the library; tests include it to replay a view's draws.
//
//   ViewRng rng(options.seed, /*stream=*/step, /*slot=*/j);
//   double k = rng.uniform(0.2, 0.4);
//   std::vector<float> z(n);  rng.normals(z.data(), n);
#include <cmath>
#include <cstdint>

namespace pesuite::vision {

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
  // n standard normals into out, a pair per accepted draw of Marsaglia's polar method (Box-Muller
  // without its cosine and sine) in float: u, v uniform in [-1, 1) from 24 bits each of one draw,
  // kept when 0 < s = u^2 + v^2 < 1 (about 79% of draws; never log 0), then u and v times
  // sqrt(-2 ln s / s). About a third of the time of the double-precision cos / sin form before it
  // (a strong view draws one normal per pixel and channel). The values depend on (seed, stream,
  // slot) and the C library's logf only; an odd n leaves out the last normal of the last pair.
  void normals(float* out, std::int64_t n) {
    for (std::int64_t k = 0; k < n; k += 2) {
      float u, v, s;
      do {
        const std::uint64_t x = next();
        u = static_cast<float>(x >> 40) * 0x1.0p-23f - 1;
        v = static_cast<float>((x >> 16) & 0xFFFFFF) * 0x1.0p-23f - 1;
        s = u * u + v * v;
      } while (s >= 1 || s == 0);
      const float f = std::sqrt(-2 * std::log(s) / s);
      out[k] = u * f;
      if (k + 1 < n) out[k + 1] = v * f;
    }
  }

 private:
  std::uint64_t state_;
};

}  // namespace pesuite::vision
