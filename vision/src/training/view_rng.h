#pragma once
// The random stream of one head-pose training view (head_pose_data.cpp): splitmix64 seeded from
// (seed, stream, slot), so each view's draws depend on nothing else (not on threads or on the other
// views of its batch). Internal to the library; tests include it to replay a view's draws.
//
//   ViewRng rng(options.seed, /*stream=*/step, /*slot=*/j);
//   double k = rng.uniform(0.2, 0.4);
//   std::vector<float> z(n);  rng.normals(z.data(), n);
#include <algorithm>
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

}  // namespace pesuite::vision
