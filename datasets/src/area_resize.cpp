// Area resize as OpenCV's cv::resize(INTER_AREA) (modules/imgproc/src/resize.cpp): the same tables,
// the same order of float operations. Compiled without FMA contraction on x86-64 (no -mfma), as
// OpenCV's baseline code is.
#include "pesuite/datasets/area_resize.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <type_traits>

namespace pesuite::datasets {

namespace {

struct Decimate {
  int di, si;
  float alpha;
};

// computeResizeAreaTab: for every destination column, the source columns it covers and their weights.
std::vector<Decimate> area_tab(int ssize, int dsize, int cn, double scale) {
  std::vector<Decimate> tab;
  for (int dx = 0; dx < dsize; ++dx) {
    const double fsx1 = dx * scale, fsx2 = fsx1 + scale;
    const double cell = std::min(scale, ssize - fsx1);
    int sx1 = static_cast<int>(std::ceil(fsx1)), sx2 = static_cast<int>(std::floor(fsx2));
    sx2 = std::min(sx2, ssize - 1);
    sx1 = std::min(sx1, sx2);
    if (sx1 - fsx1 > 1e-3) tab.push_back({dx * cn, (sx1 - 1) * cn, static_cast<float>((sx1 - fsx1) / cell)});
    for (int sx = sx1; sx < sx2; ++sx) tab.push_back({dx * cn, sx * cn, static_cast<float>(1.0 / cell)});
    if (fsx2 - sx2 > 1e-3) tab.push_back({dx * cn, sx2 * cn, static_cast<float>(std::min(std::min(fsx2 - sx2, 1.), cell) / cell)});
  }
  return tab;
}

template <class T>
T cast_out(float v) {
  if constexpr (std::is_same_v<T, float>) {
    return v;
  } else {
    const long r = std::lrint(v);  // cvRound: nearest, ties to even
    return static_cast<T>(r < 0 ? 0 : r > 255 ? 255 : r);
  }
}

// ResizeArea_Invoker over all rows.
template <class T>
void area_general(const T* src, int w, int h, int cn, T* dst, int dw, int dh, double sx, double sy) {
  const auto xtab = area_tab(w, dw, cn, sx), ytab = area_tab(h, dh, 1, sy);
  const int width = dw * cn;
  std::vector<float> buf(static_cast<std::size_t>(width)), sum(static_cast<std::size_t>(width), 0.f);
  int prev_dy = ytab.empty() ? 0 : ytab[0].di;
  for (const auto& y : ytab) {
    const float beta = y.alpha;
    const T* S = src + static_cast<std::size_t>(y.si) * w * cn;
    std::fill(buf.begin(), buf.end(), 0.f);
    for (const auto& x : xtab)
      for (int c = 0; c < cn; ++c) {
        const float p = static_cast<float>(S[x.si + c]) * x.alpha;
        buf[static_cast<std::size_t>(x.di + c)] = buf[static_cast<std::size_t>(x.di + c)] + p;
      }
    if (y.di != prev_dy) {
      T* D = dst + static_cast<std::size_t>(prev_dy) * width;
      for (int i = 0; i < width; ++i) {
        D[i] = cast_out<T>(sum[static_cast<std::size_t>(i)]);
        sum[static_cast<std::size_t>(i)] = beta * buf[static_cast<std::size_t>(i)];
      }
      prev_dy = y.di;
    } else {
      for (int i = 0; i < width; ++i) sum[static_cast<std::size_t>(i)] += beta * buf[static_cast<std::size_t>(i)];
    }
  }
  T* D = dst + static_cast<std::size_t>(prev_dy) * width;
  for (int i = 0; i < width; ++i) D[i] = cast_out<T>(sum[static_cast<std::size_t>(i)]);
}

// resizeAreaFast_: integer factors (here the image divides exactly: OpenCV takes this path only
// when src / dst is within DBL_EPSILON of an integer on both sides).
template <class T>
void area_fast(const T* src, int w, int cn, T* dst, int dw, int dh, int ix, int iy) {
  using WT = std::conditional_t<std::is_same_v<T, float>, float, int>;
  const int area = ix * iy;
  const float scale = 1.f / static_cast<float>(area);
  const std::size_t step = static_cast<std::size_t>(w) * cn;
  std::vector<std::size_t> ofs;
  for (int y = 0; y < iy; ++y)
    for (int x = 0; x < ix; ++x) ofs.push_back(y * step + static_cast<std::size_t>(x) * cn);
  const bool two = ix == 2 && iy == 2;
  for (int dy = 0; dy < dh; ++dy) {
    const T* row = src + static_cast<std::size_t>(dy) * iy * step;
    T* D = dst + static_cast<std::size_t>(dy) * dw * cn;
    for (int dx = 0; dx < dw * cn; ++dx) {
      const T* S = row + static_cast<std::size_t>(dx / cn) * ix * cn + dx % cn;
      if (two) {
        // The SIMD kernels of 2 x 2: floats as (a + b) + (c + d), times 0.25; bytes (sum + 2) >> 2.
        if constexpr (std::is_same_v<T, float>) {
          D[dx] = ((S[ofs[0]] + S[ofs[1]]) + (S[ofs[2]] + S[ofs[3]])) * 0.25f;
        } else {
          D[dx] = static_cast<T>((S[ofs[0]] + S[ofs[1]] + S[ofs[2]] + S[ofs[3]] + 2) >> 2);
        }
        continue;
      }
      WT s = 0;
      int k = 0;
      for (; k <= area - 4; k += 4) s += static_cast<WT>(S[ofs[k]]) + S[ofs[k + 1]] + S[ofs[k + 2]] + S[ofs[k + 3]];
      for (; k < area; ++k) s += S[ofs[k]];
      D[dx] = cast_out<T>(static_cast<float>(s) * scale);
    }
  }
}

template <class T>
std::vector<T> resize(const T* src, int w, int h, int cn, int dw, int dh) {
  if (w < 1 || h < 1 || dw < 1 || dh < 1 || dw > w || dh > h || cn < 1 || cn > 4)
    throw std::invalid_argument("area_resize: only shrinking, sides >= 1, 1..4 channels");
  std::vector<T> out(static_cast<std::size_t>(dw) * dh * cn);
  if (dw == w && dh == h) {
    std::memcpy(out.data(), src, out.size() * sizeof(T));
    return out;
  }
  const double inv_x = static_cast<double>(dw) / w, inv_y = static_cast<double>(dh) / h;
  const double sx = 1. / inv_x, sy = 1. / inv_y;
  const int ix = static_cast<int>(std::lrint(sx)), iy = static_cast<int>(std::lrint(sy));
  if (std::abs(sx - ix) < DBL_EPSILON && std::abs(sy - iy) < DBL_EPSILON)
    area_fast(src, w, cn, out.data(), dw, dh, ix, iy);
  else
    area_general(src, w, h, cn, out.data(), dw, dh, sx, sy);
  return out;
}

}  // namespace

std::vector<float> area_resize(const float* src, int w, int h, int cn, int dw, int dh) { return resize(src, w, h, cn, dw, dh); }
std::vector<std::uint8_t> area_resize(const std::uint8_t* src, int w, int h, int cn, int dw, int dh) {
  return resize(src, w, h, cn, dw, dh);
}

}  // namespace pesuite::datasets
