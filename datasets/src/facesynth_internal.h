#pragma once
// The image side of facesynth: its random streams, backgrounds, blur and noise (facesynth_image.cpp).
// Not installed. Every function is a pure function of its arguments, so samples are reproducible.
#include <cstdint>
#include <vector>

#include "pesuite/datasets/rgb_image.h"

namespace pesuite::datasets::synth {

// splitmix64 keyed by (seed, index, stream): portable (no std:: distributions, whose output
// differs between standard libraries) and independent per sample and per purpose.
class Rng {
 public:
  Rng(std::uint64_t seed, std::uint64_t index, std::uint64_t stream);
  std::uint64_t next();
  double uniform(double lo = 0.0, double hi = 1.0);  // [lo, hi)
  std::int64_t integer(std::int64_t lo, std::int64_t hi);  // [lo, hi]
  double normal();  // approximately standard normal (Irwin-Hall of 4 uniforms, scaled): no libm, one draw

 private:
  std::uint64_t state_;
};

// Background kinds 0..3 at width x height, float RGB (0..255), from normalised coordinates so that
// any resolution shows the same picture.
void procedural_background(int kind, std::uint64_t seed, int width, int height, std::vector<float>& rgb);
// A random crop of the photo (scale, position, mirror drawn from seed), resampled bilinearly.
void photo_background(const RgbImage& photo, std::uint64_t seed, int width, int height, std::vector<float>& rgb);
// Separable Gaussian blur, edges clamped; sigma in pixels (below 0.25: nothing to do).
void gaussian_blur(std::vector<float>& rgb, int width, int height, double sigma);
// Adds sigma * normal noise to every value, from its own stream.
void add_noise(std::vector<float>& rgb, double sigma, Rng& rng);
// Rounds to 8 bits, clamped.
RgbImage quantize(const std::vector<float>& rgb, int width, int height);

}  // namespace pesuite::datasets::synth
