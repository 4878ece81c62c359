// COCO masks: polygons, run lengths and their compressed strings (coco_mask.h), with pycocotools'
// maskApi.c semantics.
#include "pesuite/datasets/coco_mask.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "pesuite/core/error.h"

namespace pesuite::datasets {
namespace {

std::string size_str(std::int64_t h, std::int64_t w) { return std::to_string(h) + " x " + std::to_string(w); }

void check_total(const Rle& r, const std::string& what) {
  std::uint64_t total = 0;
  for (auto c : r.counts) total += c;
  if (total != static_cast<std::uint64_t>(r.height * r.width))
    throw core::InputError(what + ": counts sum to " + std::to_string(total) + ", not height x width = " + size_str(r.height, r.width) +
                           " = " + std::to_string(r.height * r.width));
}

}  // namespace

Rle rle_from_polygon(const std::vector<double>& xy, std::int64_t h, std::int64_t w) {
  if (xy.size() % 2 || xy.size() < 6)
    throw core::InputError("polygon: expected x0, y0, x1, y1, ... with at least 3 points, got " + std::to_string(xy.size()) + " numbers");
  if (h <= 0 || w <= 0) throw core::InputError("polygon: the image size " + size_str(h, w) + " is not positive");
  constexpr double scale = 5;
  const std::size_t k = xy.size() / 2;
  // Vertices on a grid 5x finer, rounded half up; closed.
  std::vector<long> x(k + 1), y(k + 1);
  for (std::size_t j = 0; j < k; ++j) {
    x[j] = static_cast<long>(scale * xy[2 * j] + 0.5);
    y[j] = static_cast<long>(scale * xy[2 * j + 1] + 0.5);
  }
  x[k] = x[0];
  y[k] = y[0];
  // Every fine grid point along the boundary: one per step of the longer axis of each edge, each
  // edge walked from its lower end (in its longer axis) so that both directions give the same points.
  std::vector<long> u, v;
  for (std::size_t j = 0; j < k; ++j) {
    long xs = x[j], xe = x[j + 1], ys = y[j], ye = y[j + 1];
    const long dx = std::labs(xe - xs), dy = std::labs(ys - ye);
    const bool flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
    if (flip) std::swap(xs, xe), std::swap(ys, ye);
    if (dx >= dy) {
      const double s = dx ? static_cast<double>(ye - ys) / static_cast<double>(dx) : 0.0;
      for (long d = 0; d <= dx; ++d) {
        const long t = flip ? dx - d : d;
        u.push_back(t + xs);
        v.push_back(static_cast<long>(static_cast<double>(ys) + s * static_cast<double>(t) + 0.5));
      }
    } else {
      const double s = static_cast<double>(xe - xs) / static_cast<double>(dy);
      for (long d = 0; d <= dy; ++d) {
        const long t = flip ? dy - d : d;
        v.push_back(t + ys);
        u.push_back(static_cast<long>(static_cast<double>(xs) + s * static_cast<double>(t) + 0.5));
      }
    }
  }
  // Where the boundary crosses a pixel column's centre: that column's run starts or ends there.
  std::vector<std::uint64_t> a;
  for (std::size_t j = 1; j < u.size(); ++j) {
    if (u[j] == u[j - 1]) continue;
    double xd = static_cast<double>(u[j] < u[j - 1] ? u[j] : u[j] - 1);
    xd = (xd + 0.5) / scale - 0.5;
    if (std::floor(xd) != xd || xd < 0 || xd > static_cast<double>(w - 1)) continue;
    double yd = static_cast<double>(v[j] < v[j - 1] ? v[j] : v[j - 1]);
    yd = (yd + 0.5) / scale - 0.5;
    yd = std::ceil(std::clamp(yd, 0.0, static_cast<double>(h)));
    a.push_back(static_cast<std::uint64_t>(static_cast<std::int64_t>(xd) * h + static_cast<std::int64_t>(yd)));
  }
  a.push_back(static_cast<std::uint64_t>(h * w));
  std::sort(a.begin(), a.end());
  // Positions -> run lengths; a zero-length run merges its neighbours.
  std::uint64_t prev = 0;
  for (auto& p : a) {
    const auto t = p;
    p -= prev;
    prev = t;
  }
  Rle r;
  r.height = h;
  r.width = w;
  std::size_t j = 0;
  r.counts.push_back(static_cast<std::uint32_t>(a[j++]));
  while (j < a.size()) {
    if (a[j] > 0) {
      r.counts.push_back(static_cast<std::uint32_t>(a[j++]));
    } else {
      ++j;
      if (j < a.size()) r.counts.back() += static_cast<std::uint32_t>(a[j++]);
    }
  }
  return r;
}

Rle rle_from_counts(const std::vector<std::uint32_t>& counts, std::int64_t h, std::int64_t w) {
  Rle r;
  r.height = h;
  r.width = w;
  r.counts = counts;
  check_total(r, "RLE");
  return r;
}

Rle rle_from_string(const std::string& s, std::int64_t h, std::int64_t w) {
  Rle r;
  r.height = h;
  r.width = w;
  std::size_t p = 0;
  while (p < s.size()) {
    std::int64_t x = 0;
    int k = 0;
    bool more = true;
    while (more) {
      if (p >= s.size()) throw core::InputError("compressed RLE: the string ends inside a number (at character " + std::to_string(p) + ")");
      const int c = static_cast<unsigned char>(s[p]) - 48;
      if (c < 0 || c > 63)
        throw core::InputError("compressed RLE: character '" + std::string(1, s[p]) + "' at " + std::to_string(p) +
                               " is outside the alphabet (ASCII 48..111)");
      if (k >= 12) throw core::InputError("compressed RLE: a number longer than 64 bits at character " + std::to_string(p));
      x |= static_cast<std::int64_t>(c & 0x1f) << (5 * k);
      more = (c & 0x20) != 0;
      ++p;
      ++k;
      if (!more && (c & 0x10)) x |= -(static_cast<std::int64_t>(1) << (5 * k));  // sign-extend
    }
    if (r.counts.size() > 2) x += r.counts[r.counts.size() - 2];
    if (x < 0 || x > 0xFFFFFFFFLL)
      throw core::InputError("compressed RLE: count " + std::to_string(r.counts.size()) + " is " + std::to_string(x) + ", outside 0..2^32-1");
    r.counts.push_back(static_cast<std::uint32_t>(x));
  }
  check_total(r, "compressed RLE");
  return r;
}

std::string rle_to_string(const Rle& r) {
  std::string s;
  for (std::size_t i = 0; i < r.counts.size(); ++i) {
    std::int64_t x = r.counts[i];
    if (i > 2) x -= r.counts[i - 2];
    bool more = true;
    while (more) {
      int c = static_cast<int>(x & 0x1f);
      x >>= 5;  // arithmetic: negative differences keep their sign
      more = (c & 0x10) ? x != -1 : x != 0;
      if (more) c |= 0x20;
      s.push_back(static_cast<char>(c + 48));
    }
  }
  return s;
}

std::int64_t rle_area(const Rle& r) {
  std::int64_t a = 0;
  for (std::size_t j = 1; j < r.counts.size(); j += 2) a += r.counts[j];
  return a;
}

std::vector<std::uint8_t> rle_decode(const Rle& r) {
  std::vector<std::uint8_t> m(static_cast<std::size_t>(r.height * r.width), 0);
  std::int64_t idx = 0;
  std::uint8_t value = 0;
  for (auto c : r.counts) {
    for (std::uint32_t k = 0; k < c && idx < r.height * r.width; ++k, ++idx) {
      const auto x = idx / r.height, y = idx % r.height;  // column-major
      m[static_cast<std::size_t>(y * r.width + x)] = value;
    }
    value = !value;
  }
  return m;
}

Rle rle_encode(const std::vector<std::uint8_t>& mask, std::int64_t h, std::int64_t w) {
  if (static_cast<std::int64_t>(mask.size()) != h * w)
    throw core::InputError("rle_encode: " + std::to_string(mask.size()) + " pixels for a " + size_str(h, w) + " mask");
  Rle r;
  r.height = h;
  r.width = w;
  std::uint8_t p = 0;
  std::uint32_t c = 0;
  for (std::int64_t x = 0; x < w; ++x)
    for (std::int64_t y = 0; y < h; ++y) {
      const std::uint8_t v = mask[static_cast<std::size_t>(y * w + x)] ? 1 : 0;
      if (v != p) {
        r.counts.push_back(c);
        c = 0;
        p = v;
      }
      ++c;
    }
  r.counts.push_back(c);
  return r;
}

Rle rle_union(const std::vector<Rle>& masks) {
  if (masks.empty()) return {};
  if (masks.size() == 1) return masks[0];
  const auto h = masks[0].height, w = masks[0].width;
  std::vector<std::uint8_t> m(static_cast<std::size_t>(h * w), 0);
  for (const auto& r : masks) {
    if (r.height != h || r.width != w)
      throw core::InputError("mask union: sizes " + size_str(h, w) + " and " + size_str(r.height, r.width) + " differ");
    const auto d = rle_decode(r);
    for (std::size_t i = 0; i < m.size(); ++i) m[i] |= d[i];
  }
  return rle_encode(m, h, w);
}

std::vector<std::uint8_t> resize_mask_nearest(const std::vector<std::uint8_t>& mask, std::int64_t height, std::int64_t width,
                                              std::int64_t out_height, std::int64_t out_width) {
  if (height <= 0 || width <= 0 || out_height <= 0 || out_width <= 0 || static_cast<std::int64_t>(mask.size()) != height * width)
    throw core::InputError("resize_mask_nearest: a " + size_str(height, width) + " mask of " + std::to_string(mask.size()) +
                           " bytes cannot be resized to " + size_str(out_height, out_width));
  // Integer arithmetic: floor((2 Y + 1) h / (2 H)) is floor((Y + 0.5) h / H) exactly.
  std::vector<std::int64_t> sx(static_cast<std::size_t>(out_width));
  for (std::int64_t x = 0; x < out_width; ++x) sx[static_cast<std::size_t>(x)] = (2 * x + 1) * width / (2 * out_width);
  std::vector<std::uint8_t> out(static_cast<std::size_t>(out_height * out_width));
  for (std::int64_t y = 0; y < out_height; ++y) {
    const std::int64_t row = (2 * y + 1) * height / (2 * out_height) * width;
    for (std::int64_t x = 0; x < out_width; ++x)
      out[static_cast<std::size_t>(y * out_width + x)] = mask[static_cast<std::size_t>(row + sx[static_cast<std::size_t>(x)])];
  }
  return out;
}

Rle rle_from_annotation(const nlohmann::json& seg, std::int64_t h, std::int64_t w, const std::string& place) {
  if (seg.is_null()) return {};
  if (seg.is_array()) {
    if (seg.empty()) return {};
    if (h <= 0 || w <= 0)
      throw core::InputError(place + ": polygons need the image's width and height (images[].width / height), got " + size_str(h, w));
    std::vector<Rle> parts;
    for (std::size_t i = 0; i < seg.size(); ++i) {
      const auto& poly = seg[i];
      const std::string where = place + ".segmentation[" + std::to_string(i) + "]";
      if (!poly.is_array()) throw core::InputError(where + ": a polygon must be a list of numbers, got " + poly.dump().substr(0, 60));
      std::vector<double> xy;
      for (const auto& v : poly) {
        if (!v.is_number()) throw core::InputError(where + ": a polygon must be a list of numbers, got " + v.dump());
        xy.push_back(v.get<double>());
      }
      try {
        parts.push_back(rle_from_polygon(xy, h, w));
      } catch (const core::InputError& e) {
        throw core::InputError(where + ": " + e.what());
      }
    }
    return rle_union(parts);
  }
  if (!seg.is_object() || !seg.contains("size") || !seg.contains("counts"))
    throw core::InputError(place + ".segmentation: expected polygons [[x, y, ...]] or an RLE {\"size\": [h, w], \"counts\": ...}");
  const auto& size = seg["size"];
  if (!size.is_array() || size.size() != 2 || !size[0].is_number_integer() || !size[1].is_number_integer())
    throw core::InputError(place + ".segmentation.size: expected [height, width], got " + size.dump());
  const auto rh = size[0].get<std::int64_t>(), rw = size[1].get<std::int64_t>();
  if (h > 0 && w > 0 && (rh != h || rw != w))
    throw core::InputError(place + ".segmentation.size: " + size_str(rh, rw) + " differs from the image's " + size_str(h, w));
  const auto& counts = seg["counts"];
  try {
    if (counts.is_string()) return rle_from_string(counts.get<std::string>(), rh, rw);
    if (counts.is_array()) {
      std::vector<std::uint32_t> c;
      for (const auto& v : counts) {
        if (!v.is_number_integer() || v.get<std::int64_t>() < 0) throw core::InputError("a count must be a non-negative integer, got " + v.dump());
        c.push_back(static_cast<std::uint32_t>(v.get<std::int64_t>()));
      }
      return rle_from_counts(c, rh, rw);
    }
  } catch (const core::InputError& e) {
    throw core::InputError(place + ".segmentation.counts: " + e.what());
  }
  throw core::InputError(place + ".segmentation.counts: expected a list of run lengths or a compressed string");
}

}  // namespace pesuite::datasets
