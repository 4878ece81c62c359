// Positional terms inside attention: ALiBi, KERPLE, T5 buckets, 2D relative bias, RoPE 1D/2D.
#include "pesuite/heads/positional.h"

#include <cmath>
#include <limits>

#include "pesuite/core/error.h"

namespace pesuite::heads {
namespace {

// 1D positions in raster order (a grid read row by row), queries shifted by `start`.
torch::Tensor raster_positions(std::int64_t n, const TokenLayout& layout, std::int64_t start,
                               const torch::TensorOptions& options) {
  if (n < layout.prefix)
    throw core::InputError("token layout: " + std::to_string(n) + " tokens but prefix " + std::to_string(layout.prefix));
  return torch::arange(n - layout.prefix, options) + static_cast<double>(start);
}

// Puts `prefix` zero rows and columns in front of a [..., P, Q] tensor.
torch::Tensor pad_prefix(const torch::Tensor& t, std::int64_t prefix) {
  if (prefix == 0) return t;
  return torch::constant_pad_nd(t, {prefix, 0, prefix, 0}, 0.0);
}

void check_positive(const std::string& who, const std::string& key, double v) {
  if (!(v > 0)) throw core::InputError(who + ": " + key + " must be > 0, got " + std::to_string(v));
}

// x [..., N, 2m] rotated with half-split pairing (channel i with i + m) by the angles whose cos
// and sin [N, m] are given (already in x's dtype).
torch::Tensor apply_half_split(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const auto m = cos.size(-1);
  auto x1 = x.narrow(-1, 0, m);
  auto x2 = x.narrow(-1, m, m);
  return torch::cat({x1 * cos - x2 * sin, x2 * cos + x1 * sin}, -1);
}

// Cache key of the rotation tables of one call: everything they depend on.
std::string rotary_key(std::int64_t nq, std::int64_t nk, const TokenLayout& l, const torch::Tensor& x) {
  return std::to_string(nq) + "/" + std::to_string(nk) + "/" + std::to_string(l.prefix) + "/" + std::to_string(l.height) +
         "x" + std::to_string(l.width) + "/" + std::to_string(l.q_start) + "/" + x.device().str() + "/" +
         std::string(c10::toString(x.scalar_type()));
}

// Frequencies base^(-step * i / d) for i < count, in double for accuracy at large positions.
torch::Tensor rope_freqs(std::int64_t count, double step, std::int64_t d, double base, const torch::Device& device) {
  auto i = torch::arange(count, torch::TensorOptions().dtype(torch::kFloat64).device(device));
  return torch::pow(base, -step * i / static_cast<double>(d));
}

// Positions of all n tokens for a rotation: prefix tokens at 0 in every coordinate, where the
// rotation angle is 0 and so the rotation is exactly the identity (cheaper than split + cat).
torch::Tensor with_prefix_at_zero(const torch::Tensor& positions, std::int64_t prefix) {
  if (prefix == 0) return positions;
  return positions.dim() == 1 ? torch::constant_pad_nd(positions, {prefix, 0}, 0.0)
                              : torch::constant_pad_nd(positions, {0, 0, prefix, 0}, 0.0);
}

}  // namespace

torch::Tensor token_positions(std::int64_t n, const TokenLayout& layout, std::int64_t start,
                              const torch::TensorOptions& options) {
  if (!layout.is_grid()) return raster_positions(n, layout, start, options);
  const auto m = n - layout.prefix;
  if (layout.width <= 0 || m != layout.height * layout.width)
    throw core::InputError("token layout: " + std::to_string(n) + " tokens do not form prefix " +
                     std::to_string(layout.prefix) + " + grid " + std::to_string(layout.height) + "x" +
                     std::to_string(layout.width));
  auto idx = torch::arange(m, options.dtype(torch::kInt64));
  auto rows = torch::div(idx, layout.width, "floor");
  auto cols = idx - rows * layout.width;
  return torch::stack({rows, cols}, -1).to(options.dtype());
}

torch::Tensor relative_distance(std::int64_t nq, std::int64_t nk, const TokenLayout& layout,
                                const torch::TensorOptions& options) {
  auto pq = token_positions(nq, layout, layout.is_grid() ? 0 : layout.q_start, options);
  auto pk = token_positions(nk, layout, 0, options);
  torch::Tensor d;
  if (layout.is_grid()) {
    auto diff = pq.unsqueeze(1) - pk.unsqueeze(0);  // [P, P, 2]
    d = diff.pow(2).sum(-1).sqrt();
  } else {
    d = (pq.unsqueeze(1) - pk.unsqueeze(0)).abs();
  }
  return pad_prefix(d, layout.prefix);
}

// ---- ALiBi ----------------------------------------------------------------------------------------
std::vector<double> alibi_slopes(std::int64_t heads) {
  if (heads <= 0) throw core::InputError("alibi: heads must be > 0, got " + std::to_string(heads));
  auto power_of_two = [](std::int64_t n) {
    std::vector<double> s;
    const double start = std::pow(2.0, -8.0 / static_cast<double>(n));
    for (std::int64_t i = 0; i < n; ++i) s.push_back(std::pow(start, static_cast<double>(i + 1)));
    return s;
  };
  std::int64_t closest = 1;
  while (closest * 2 <= heads) closest *= 2;
  auto slopes = power_of_two(closest);
  if (closest == heads) return slopes;
  auto extra = power_of_two(2 * closest);
  for (std::int64_t i = 0; i < heads - closest; ++i) slopes.push_back(extra[static_cast<size_t>(2 * i)]);
  return slopes;
}

AlibiImpl::AlibiImpl(const AlibiOptions& options_) : options(options_) {
  auto s = alibi_slopes(options.heads());
  slopes = register_buffer("slopes", torch::tensor(s, torch::kFloat64).to(torch::kFloat32));
}

torch::Tensor AlibiImpl::bias(std::int64_t nq, std::int64_t nk, const TokenLayout& layout,
                              const torch::TensorOptions& options_) {
  auto d = relative_distance(nq, nk, layout, options_);
  return -slopes.to(options_).view({-1, 1, 1}) * d.unsqueeze(0);
}

// ---- 2D ALiBi ------------------------------------------------------------------------------------
Alibi2DImpl::Alibi2DImpl(const Alibi2DOptions& options_) : options(options_) {
  if (options.heads() <= 0) throw core::InputError("alibi2d: heads must be > 0, got " + std::to_string(options.heads()));
  check_positive("alibi2d", "scale", options.scale());
  slopes = register_buffer("slopes", torch::tensor(alibi_slopes(options.heads()), torch::kFloat64).to(torch::kFloat32));
}

torch::Tensor Alibi2DImpl::bias(std::int64_t nq, std::int64_t nk, const TokenLayout& layout,
                                const torch::TensorOptions& options_) {
  if (!layout.is_grid()) throw core::InputError("alibi2d: needs a grid token layout (TokenLayout::grid(h, w, prefix))");
  const auto key = std::to_string(nq) + "/" + std::to_string(nk) + "/" + std::to_string(layout.prefix) + "/" +
                   std::to_string(layout.height) + "x" + std::to_string(layout.width) + "/" +
                   slopes.device().str() + "/" + std::string(c10::toString(options_.dtype()));
  if (key != cache_key_ || !cache_.defined()) {
    // Distances in double: exact for integer cells (Manhattan) and correctly rounded (Euclidean).
    auto opts = torch::TensorOptions().dtype(torch::kFloat64).device(slopes.device());
    auto diff = token_positions(nq, layout, 0, opts).unsqueeze(1) - token_positions(nk, layout, 0, opts).unsqueeze(0);
    auto d = options.metric() == GridMetric::Euclidean ? diff.pow(2).sum(-1).sqrt() : diff.abs().sum(-1);
    d = pad_prefix(d / options.scale(), layout.prefix);
    cache_ = (-slopes.to(torch::kFloat64).view({-1, 1, 1}) * d.unsqueeze(0)).to(options_.dtype());
    cache_key_ = key;
  }
  return cache_.device() == options_.device() ? cache_ : cache_.to(options_.device());
}

// ---- KERPLE ---------------------------------------------------------------------------------------
KerpleImpl::KerpleImpl(const KerpleOptions& options_) : options(options_) { reset(); }

void KerpleImpl::reset() {
  const bool power = options.kind() == KerpleKind::Power;
  const std::string who = power ? "kerple_power" : "kerple_log";
  if (options.heads() <= 0) throw core::InputError(who + ": heads must be > 0");
  check_positive(who, "r1", options.init_r1());
  check_positive(who, "r2", options.init_r2());
  if (power && !(options.init_r2() < 2.0))
    throw core::InputError(who + ": r2 must be in (0, 2), got " + std::to_string(options.init_r2()));
  // Inverse of the reparametrisations in r1() / r2().
  const double a = std::log(std::expm1(options.init_r1()));
  const double b = power ? std::log(options.init_r2() / (2.0 - options.init_r2())) : std::log(std::expm1(options.init_r2()));
  raw_r1 = register_parameter("raw_r1", torch::full({options.heads()}, a));
  raw_r2 = register_parameter("raw_r2", torch::full({options.heads()}, b));
}

torch::Tensor KerpleImpl::r1() const { return torch::softplus(raw_r1); }
torch::Tensor KerpleImpl::r2() const {
  return options.kind() == KerpleKind::Power ? 2.0 * torch::sigmoid(raw_r2) : torch::softplus(raw_r2);
}

torch::Tensor KerpleImpl::bias(std::int64_t nq, std::int64_t nk, const TokenLayout& layout,
                               const torch::TensorOptions& options_) {
  auto d = relative_distance(nq, nk, layout, options_.dtype(raw_r1.scalar_type())).unsqueeze(0);
  auto a = r1().view({-1, 1, 1});
  auto b = r2().view({-1, 1, 1});
  torch::Tensor out;
  if (options.kind() == KerpleKind::Log) {
    out = -a * torch::log1p(b * d);
  } else {
    // dist^r2 with a zero distance kept out of the log, so d/dr2 is 0 there and not NaN.
    auto pos = d > 0;
    auto safe = torch::where(pos, d, torch::ones_like(d));
    out = -a * torch::where(pos, torch::pow(safe, b), torch::zeros_like(safe));
  }
  return out.to(options_.dtype());
}

// ---- T5 -------------------------------------------------------------------------------------------
torch::Tensor t5_bucket(const torch::Tensor& rel_in, std::int64_t buckets, std::int64_t max_distance, bool bidirectional) {
  auto rel = rel_in.to(torch::kInt64);
  auto ret = torch::zeros_like(rel);
  torch::Tensor n;
  if (bidirectional) {
    buckets /= 2;
    ret = ret + (rel > 0).to(torch::kInt64) * buckets;
    n = rel.abs();
  } else {
    n = (-rel).clamp_min(0);
  }
  const std::int64_t max_exact = buckets / 2;
  auto is_small = n < max_exact;
  auto nf = n.clamp_min(1).to(torch::kFloat32);  // the log branch is only used where n >= max_exact
  auto large = max_exact + (torch::log(nf / static_cast<double>(max_exact)) /
                            std::log(static_cast<double>(max_distance) / static_cast<double>(max_exact)) *
                            static_cast<double>(buckets - max_exact))
                               .to(torch::kInt64);
  large = large.clamp_max(buckets - 1);
  return ret + torch::where(is_small, n, large);
}

T5BiasImpl::T5BiasImpl(const T5BiasOptions& options_) : options(options_) { reset(); }

void T5BiasImpl::reset() {
  if (options.heads() <= 0) throw core::InputError("t5: heads must be > 0");
  const std::int64_t min_buckets = options.bidirectional() ? 4 : 2;
  if (options.buckets() < min_buckets)
    throw core::InputError("t5: buckets must be >= " + std::to_string(min_buckets) + ", got " + std::to_string(options.buckets()));
  const std::int64_t exact = (options.bidirectional() ? options.buckets() / 2 : options.buckets()) / 2;
  if (options.max_distance() <= exact)
    throw core::InputError("t5: max_distance must exceed the exact range " + std::to_string(exact));
  table = register_parameter("table", torch::randn({options.buckets(), options.heads()}) * 0.02);
}

torch::Tensor T5BiasImpl::bias(std::int64_t nq, std::int64_t nk, const TokenLayout& layout,
                               const torch::TensorOptions& options_) {
  auto opts = options_.dtype(torch::kInt64);
  auto pq = raster_positions(nq, layout, layout.is_grid() ? 0 : layout.q_start, opts);
  auto pk = raster_positions(nk, layout, 0, opts);
  auto bucket = t5_bucket(pk.unsqueeze(0) - pq.unsqueeze(1), options.buckets(), options.max_distance(),
                          options.bidirectional());
  auto b = table.index_select(0, bucket.flatten()).view({bucket.size(0), bucket.size(1), -1}).permute({2, 0, 1});
  return pad_prefix(b, layout.prefix).to(options_.dtype());
}

// ---- 2D relative bias -----------------------------------------------------------------------------
RelBias2DImpl::RelBias2DImpl(const RelBias2DOptions& options_) : options(options_) { reset(); }

namespace {
// [n, n] rows of a 2D relative bias table for an h x w grid: (query - key) offsets shifted to start
// at 0 (Swin / BEiT convention), then the three class-token entries when there is a class token.
torch::Tensor relative_index(std::int64_t h, std::int64_t w, bool class_token) {
  const std::int64_t cells = (2 * h - 1) * (2 * w - 1);
  auto idx = torch::arange(h * w, torch::kInt64);
  auto r = torch::div(idx, w, "floor"), c = idx - torch::div(idx, w, "floor") * w;
  auto dr = r.unsqueeze(1) - r.unsqueeze(0) + (h - 1);
  auto dc = c.unsqueeze(1) - c.unsqueeze(0) + (w - 1);
  auto rel = dr * (2 * w - 1) + dc;
  if (class_token) {
    rel = torch::constant_pad_nd(rel, {1, 0, 1, 0}, 0);
    rel.index_put_({0, torch::indexing::Slice()}, cells);      // class -> patch
    rel.index_put_({torch::indexing::Slice(), 0}, cells + 1);  // patch -> class
    rel.index_put_({0, 0}, cells + 2);                         // class -> class
  }
  return rel;
}
}  // namespace

torch::Tensor resize_relative_table(const torch::Tensor& table, std::int64_t h0, std::int64_t w0, std::int64_t h1,
                                    std::int64_t w1) {
  const auto r0 = 2 * h0 - 1, c0 = 2 * w0 - 1, r1 = 2 * h1 - 1, c1 = 2 * w1 - 1;
  if (table.dim() != 2 || table.size(0) != r0 * c0)
    throw core::InputError("resize_relative_table: table must be [" + std::to_string(r0 * c0) + ", heads] for a " +
                     std::to_string(h0) + "x" + std::to_string(w0) + " grid");
  if (h1 <= 0 || w1 <= 0) throw core::InputError("resize_relative_table: target grid must be > 0");
  if (r0 == r1 && c0 == c1) return table;
  const auto heads = table.size(1);
  auto img = table.reshape({1, r0, c0, heads}).permute({0, 3, 1, 2});
  namespace F = torch::nn::functional;
  auto out = F::interpolate(img, F::InterpolateFuncOptions()
                                     .size(std::vector<std::int64_t>{r1, c1})
                                     .mode(torch::kBicubic)
                                     .align_corners(false));
  return out.permute({0, 2, 3, 1}).reshape({r1 * c1, heads});
}

void RelBias2DImpl::reset() {
  const auto h = options.height(), w = options.width();
  if (options.heads() <= 0 || h <= 0 || w <= 0)
    throw core::InputError("relbias2d: heads, height and width must be > 0");
  const std::int64_t cells = (2 * h - 1) * (2 * w - 1);
  const std::int64_t entries = cells + (options.class_token() ? 3 : 0);
  table = register_parameter("table", torch::randn({entries, options.heads()}) * 0.02);
  // A plain member, not a buffer: Module::to(dtype) would convert a buffer to float and lose
  // exactness for large tables. Moved to the table's device on first use there.
  index = relative_index(h, w, options.class_token());
}

void RelBias2DImpl::resize(std::int64_t height, std::int64_t width) {
  if (height <= 0 || width <= 0) throw core::InputError("relbias2d: resize to a grid of size > 0");
  const auto h = options.height(), w = options.width();
  const std::int64_t cells = (2 * h - 1) * (2 * w - 1);
  torch::NoGradGuard no_grad;
  auto grid = resize_relative_table(table.narrow(0, 0, cells), h, w, height, width);
  auto next = options.class_token() ? torch::cat({grid, table.narrow(0, cells, 3)}, 0) : grid;
  table.set_data(next.detach().clone());
  options.height(height).width(width);
  index = relative_index(height, width, options.class_token()).to(table.device());
}

torch::Tensor RelBias2DImpl::bias(std::int64_t nq, std::int64_t nk, const TokenLayout& layout,
                                  const torch::TensorOptions& options_) {
  const std::int64_t cls = options.class_token() ? 1 : 0;
  const auto h = options.height(), w = options.width();
  const bool ok = layout.is_grid() && layout.width > 0 && layout.prefix == cls &&
                  nq == cls + layout.height * layout.width && nk == nq;
  if (!ok)
    throw core::InputError("relbias2d: built for prefix " + std::to_string(cls) + " + grid " + std::to_string(h) + "x" +
                     std::to_string(w) + " (resized to other grids), called with prefix " +
                     std::to_string(layout.prefix) + " + grid " + std::to_string(layout.height) + "x" +
                     std::to_string(layout.width) + " (" + std::to_string(nq) + "x" + std::to_string(nk) + " tokens)");
  const auto n = nq;
  if (layout.height == h && layout.width == w) {
    if (index.device() != table.device()) index = index.to(table.device());
    auto b = table.index_select(0, index.flatten()).view({n, n, -1}).permute({2, 0, 1});
    return b.to(options_.dtype());
  }
  // Another grid: resize the (dy, dx) part (differentiably, so fine-tuning at the new size trains
  // the original table) and index it with that grid's offsets.
  const std::int64_t cells = (2 * h - 1) * (2 * w - 1);
  auto grid = resize_relative_table(table.narrow(0, 0, cells), h, w, layout.height, layout.width);
  auto t = cls ? torch::cat({grid, table.narrow(0, cells, 3)}, 0) : grid;
  auto idx = relative_index(layout.height, layout.width, cls).to(table.device());
  return t.index_select(0, idx.flatten()).view({n, n, -1}).permute({2, 0, 1}).to(options_.dtype());
}

// ---- RoPE 1D --------------------------------------------------------------------------------------
RoPE1DImpl::RoPE1DImpl(const RoPE1DOptions& options_) : options(options_) {
  if (options.head_dim() <= 0 || options.head_dim() % 2)
    throw core::InputError("rope1d: head_dim must be even and > 0, got " + std::to_string(options.head_dim()));
  check_positive("rope1d", "base", options.base());
  check_positive("rope1d", "scale", options.scale());
}

torch::Tensor RoPE1DImpl::angles(const torch::Tensor& positions, const torch::Device& device) const {
  auto freqs = rope_freqs(options.head_dim() / 2, 2.0, options.head_dim(), options.base(), device);
  return (positions.to(device, torch::kFloat64) / options.scale()).unsqueeze(-1) * freqs;  // [N, d/2]
}

torch::Tensor RoPE1DImpl::apply(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) const {
  if (x.size(-1) != options.head_dim())
    throw core::InputError("rope1d: head_dim " + std::to_string(options.head_dim()) + ", got " + std::to_string(x.size(-1)));
  return apply_half_split(x, cos, sin);
}

torch::Tensor RoPE1DImpl::rotate_at(const torch::Tensor& x, const torch::Tensor& positions) const {
  auto a = angles(positions, x.device());
  return apply(x, torch::cos(a).to(x.scalar_type()), torch::sin(a).to(x.scalar_type()));
}

std::pair<torch::Tensor, torch::Tensor> RoPE1DImpl::rotate(const torch::Tensor& q, const torch::Tensor& k,
                                                           const TokenLayout& layout) {
  auto key = rotary_key(q.size(-2), k.size(-2), layout, q);
  if (cache_.key != key) {
    auto opts = torch::TensorOptions().dtype(torch::kFloat64).device(q.device());
    auto aq = angles(with_prefix_at_zero(raster_positions(q.size(-2), layout, layout.is_grid() ? 0 : layout.q_start, opts), layout.prefix), q.device());
    auto ak = angles(with_prefix_at_zero(raster_positions(k.size(-2), layout, 0, opts), layout.prefix), q.device());
    const auto t = q.scalar_type();
    cache_ = {key, torch::cos(aq).to(t), torch::sin(aq).to(t), torch::cos(ak).to(t), torch::sin(ak).to(t)};
  }
  return {apply(q, cache_.cos_q, cache_.sin_q), apply(k, cache_.cos_k, cache_.sin_k)};
}

// ---- RoPE 2D --------------------------------------------------------------------------------------
RoPE2DImpl::RoPE2DImpl(const RoPE2DOptions& options_) : options(options_) {
  if (options.head_dim() <= 0 || options.head_dim() % 4)
    throw core::InputError("rope2d: head_dim must be a multiple of 4, got " + std::to_string(options.head_dim()));
  check_positive("rope2d", "base", options.base());
  check_positive("rope2d", "scale", options.scale());
}

torch::Tensor RoPE2DImpl::angles(const torch::Tensor& positions, const torch::Device& device) const {
  const auto d = options.head_dim();
  auto freqs = rope_freqs(d / 4, 4.0, d, options.base(), device);
  auto p = positions.to(device, torch::kFloat64) / options.scale();
  // [N, d/2]: column angles for the first half of the channels, row angles for the second.
  return torch::cat({p.select(-1, 1).unsqueeze(-1) * freqs, p.select(-1, 0).unsqueeze(-1) * freqs}, -1);
}

torch::Tensor RoPE2DImpl::apply(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) const {
  const auto d = options.head_dim();
  if (x.size(-1) != d) throw core::InputError("rope2d: head_dim " + std::to_string(d) + ", got " + std::to_string(x.size(-1)));
  const auto q = d / 4;
  return torch::cat({apply_half_split(x.narrow(-1, 0, d / 2), cos.narrow(-1, 0, q), sin.narrow(-1, 0, q)),
                     apply_half_split(x.narrow(-1, d / 2, d / 2), cos.narrow(-1, q, q), sin.narrow(-1, q, q))},
                    -1);
}

torch::Tensor RoPE2DImpl::rotate_at(const torch::Tensor& x, const torch::Tensor& positions) const {
  auto a = angles(positions, x.device());
  return apply(x, torch::cos(a).to(x.scalar_type()), torch::sin(a).to(x.scalar_type()));
}

std::pair<torch::Tensor, torch::Tensor> RoPE2DImpl::rotate(const torch::Tensor& q, const torch::Tensor& k,
                                                           const TokenLayout& layout) {
  if (!layout.is_grid()) throw core::InputError("rope2d: needs a grid token layout (TokenLayout::grid(h, w, prefix))");
  auto key = rotary_key(q.size(-2), k.size(-2), layout, q);
  if (cache_.key != key) {
    auto opts = torch::TensorOptions().dtype(torch::kFloat64).device(q.device());
    auto aq = angles(with_prefix_at_zero(token_positions(q.size(-2), layout, 0, opts), layout.prefix), q.device());
    auto ak = angles(with_prefix_at_zero(token_positions(k.size(-2), layout, 0, opts), layout.prefix), q.device());
    const auto t = q.scalar_type();
    cache_ = {key, torch::cos(aq).to(t), torch::sin(aq).to(t), torch::cos(ak).to(t), torch::sin(ak).to(t)};
  }
  return {apply(q, cache_.cos_q, cache_.sin_q), apply(k, cache_.cos_k, cache_.sin_k)};
}

}  // namespace pesuite::heads
