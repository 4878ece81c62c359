// Token-level positional encodings: sinusoidal, learned (with bicubic resize), Fourier features, PEG.
#include "pesuite/heads/absolute_pe.h"

#include <cmath>

#include "pesuite/core/error.h"
#include "pesuite/core/torch_compat.h"

namespace pesuite::heads {
namespace {

torch::Tensor pad_prefix_rows(const torch::Tensor& e, std::int64_t prefix) {
  return prefix == 0 ? e : torch::constant_pad_nd(e, {0, 0, prefix, 0}, 0.0);
}

void check_prefix(const std::string& who, const TokenLayout& layout, std::int64_t n) {
  if (n < layout.prefix)
    throw core::InputError(who + ": " + std::to_string(n) + " tokens but prefix " + std::to_string(layout.prefix));
}

void check_input(const std::string& who, const torch::Tensor& x, std::int64_t dim) {
  if (x.dim() != 3 || x.size(2) != dim)
    throw core::InputError(who + ": input must be [B, N, " + std::to_string(dim) + "]");
}

}  // namespace

torch::Tensor sincos_1d(const torch::Tensor& positions, std::int64_t dim, double base) {
  auto p = positions.to(torch::kFloat64).reshape({-1, 1});
  auto i = torch::arange(dim / 2, p.options());
  auto ang = p * torch::pow(base, -2.0 * i / static_cast<double>(dim));
  return torch::stack({torch::sin(ang), torch::cos(ang)}, -1).reshape({p.size(0), dim});
}

// ---- sinusoidal -----------------------------------------------------------------------------------
SinCosPEImpl::SinCosPEImpl(const SinCosPEOptions& options_) : options(options_) {
  const std::int64_t mult = options.two_d() ? 4 : 2;
  if (options.dim() <= 0 || options.dim() % mult)
    throw core::InputError(name() + ": dim must be a multiple of " + std::to_string(mult) + ", got " + std::to_string(options.dim()));
  if (!(options.base() > 0)) throw core::InputError(name() + ": base must be > 0");
}

torch::Tensor SinCosPEImpl::embedding(std::int64_t n, const TokenLayout& layout, const torch::TensorOptions& options_) {
  check_prefix(name(), layout, n);
  auto dopts = options_.dtype(torch::kFloat64);
  torch::Tensor e;
  if (options.two_d()) {
    if (!layout.is_grid()) throw core::InputError("sincos2d: needs a grid token layout");
    auto pos = token_positions(n, layout, 0, dopts);
    const auto half = options.dim() / 2;
    e = torch::cat({sincos_1d(pos.select(1, 0), half, options.base()), sincos_1d(pos.select(1, 1), half, options.base())}, 1);
  } else {
    auto pos = torch::arange(n - layout.prefix, dopts) + static_cast<double>(layout.is_grid() ? 0 : layout.q_start);
    e = sincos_1d(pos, options.dim(), options.base());
  }
  return pad_prefix_rows(e, layout.prefix).to(options_);
}

torch::Tensor SinCosPEImpl::forward(const torch::Tensor& x, const TokenLayout& layout) {
  check_input(name(), x, options.dim());
  return x + embedding(x.size(1), layout, x.options()).unsqueeze(0);
}

// ---- learned --------------------------------------------------------------------------------------
torch::Tensor resize_grid_embedding(const torch::Tensor& table, std::int64_t h0, std::int64_t w0, std::int64_t h1,
                                    std::int64_t w1) {
  if (table.dim() != 2 || table.size(0) != h0 * w0)
    throw core::InputError("resize_grid_embedding: table must be [" + std::to_string(h0 * w0) + ", D]");
  const auto d = table.size(1);
  auto img = table.reshape({1, h0, w0, d}).permute({0, 3, 1, 2});
  namespace F = torch::nn::functional;
  auto out = F::interpolate(img, F::InterpolateFuncOptions()
                                     .size(std::vector<std::int64_t>{h1, w1})
                                     .mode(torch::kBicubic)
                                     .align_corners(false));
  return out.permute({0, 2, 3, 1}).reshape({h1 * w1, d});
}

LearnedPEImpl::LearnedPEImpl(const LearnedPEOptions& options_) : options(options_) {
  if (options.dim() <= 0 || options.height() <= 0 || options.width() <= 0 || options.prefix() < 0)
    throw core::InputError("learned: dim, height and width must be > 0 and prefix >= 0");
  table = register_parameter(
      "table", torch::randn({options.prefix() + options.height() * options.width(), options.dim()}) * options.std());
}

torch::Tensor LearnedPEImpl::embedding(std::int64_t n, const TokenLayout& layout, const torch::TensorOptions& options_) {
  check_prefix("learned", layout, n);
  const auto pre = options.prefix(), h = options.height(), w = options.width();
  if (layout.prefix != pre)
    throw core::InputError("learned: built for prefix " + std::to_string(pre) + ", called with prefix " +
                     std::to_string(layout.prefix));
  auto grid = table.narrow(0, pre, h * w);
  const auto p = n - pre;
  torch::Tensor body;
  if (layout.is_grid()) {
    if (layout.height * layout.width != p) throw core::InputError("learned: tokens do not match the layout's grid");
    body = (layout.height == h && layout.width == w) ? grid : resize_grid_embedding(grid, h, w, layout.height, layout.width);
  } else {
    if (p > h * w)
      throw core::InputError("learned: " + std::to_string(p) + " positions, table has " + std::to_string(h * w));
    body = grid.narrow(0, 0, p);
  }
  return torch::cat({table.narrow(0, 0, pre), body}, 0).to(options_.dtype());
}

torch::Tensor LearnedPEImpl::forward(const torch::Tensor& x, const TokenLayout& layout) {
  check_input("learned", x, options.dim());
  return x + embedding(x.size(1), layout, x.options()).unsqueeze(0);
}

// ---- Fourier features -----------------------------------------------------------------------------
FourierPEImpl::FourierPEImpl(const FourierPEOptions& options_) : options(options_) {
  if (options.dim() <= 0 || options.hidden() <= 0) throw core::InputError("fourier: dim and hidden must be > 0");
  if (options.pos_dims() != 1 && options.pos_dims() != 2)
    throw core::InputError("fourier: pos_dims must be 1 or 2, got " + std::to_string(options.pos_dims()));
  if (options.fourier_dim() <= 0 || options.fourier_dim() % 2)
    throw core::InputError("fourier: fourier_dim must be even and > 0, got " + std::to_string(options.fourier_dim()));
  if (!(options.gamma() > 0)) throw core::InputError("fourier: gamma must be > 0");
  wr = register_module("wr", torch::nn::Linear(torch::nn::LinearOptions(options.pos_dims(), options.fourier_dim() / 2).bias(false)));
  fc1 = register_module("fc1", torch::nn::Linear(options.fourier_dim(), options.hidden()));
  fc2 = register_module("fc2", torch::nn::Linear(options.hidden(), options.dim()));
  torch::NoGradGuard ng;
  wr->weight.normal_(0.0, std::pow(options.gamma(), -2.0));
}

torch::Tensor FourierPEImpl::encode(const torch::Tensor& positions) {
  auto proj = wr(positions.to(wr->weight.options()));
  auto r = torch::cat({torch::cos(proj), torch::sin(proj)}, -1) / std::sqrt(static_cast<double>(options.fourier_dim()));
  return core::linear(fc2, torch::gelu(core::linear(fc1, r)));
}

torch::Tensor FourierPEImpl::embedding(std::int64_t n, const TokenLayout& layout, const torch::TensorOptions& options_) {
  check_prefix("fourier", layout, n);
  auto opts = wr->weight.options();
  torch::Tensor pos;
  if (options.pos_dims() == 2) {
    if (!layout.is_grid()) throw core::InputError("fourier: pos_dims=2 needs a grid token layout");
    pos = token_positions(n, layout, 0, opts);
  } else {
    pos = (torch::arange(n - layout.prefix, opts) + static_cast<double>(layout.is_grid() ? 0 : layout.q_start)).unsqueeze(1);
  }
  return pad_prefix_rows(encode(pos), layout.prefix).to(options_.dtype());
}

torch::Tensor FourierPEImpl::forward(const torch::Tensor& x, const TokenLayout& layout) {
  check_input("fourier", x, options.dim());
  return x + embedding(x.size(1), layout, x.options()).unsqueeze(0);
}

// ---- PEG ------------------------------------------------------------------------------------------
PEGImpl::PEGImpl(const PEGOptions& options_) : options(options_) {
  if (options.dim() <= 0) throw core::InputError("peg: dim must be > 0");
  if (options.kernel() <= 0 || options.kernel() % 2 == 0)
    throw core::InputError("peg: kernel must be odd and > 0, got " + std::to_string(options.kernel()));
  const auto k = options.kernel();
  conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(options.dim(), options.dim(), k)
                                                       .groups(options.dim())
                                                       .padding(options.padding() ? (k - 1) / 2 : 0)
                                                       .bias(true)));
}

torch::Tensor PEGImpl::forward(const torch::Tensor& x, const TokenLayout& layout) {
  check_input("peg", x, options.dim());
  if (!layout.is_grid()) throw core::InputError("peg: needs a grid token layout");
  const auto B = x.size(0), N = x.size(1), D = x.size(2), pre = layout.prefix, h = layout.height, w = layout.width;
  if (N != pre + h * w) throw core::InputError("peg: tokens do not match prefix + grid");
  auto t = x.narrow(1, pre, h * w).transpose(1, 2).reshape({B, D, h, w});
  auto y = conv(t);
  if (!options.padding()) {
    const auto r = (options.kernel() - 1) / 2;
    if (h <= 2 * r || w <= 2 * r) throw core::InputError("peg: grid too small for a valid convolution");
    y = torch::constant_pad_nd(y, {r, r, r, r}, 0.0);
  }
  auto out = (t + y).flatten(2).transpose(1, 2);
  return pre == 0 ? out : torch::cat({x.narrow(1, 0, pre), out}, 1);
}

torch::Tensor NoTokenPEImpl::embedding(std::int64_t, const TokenLayout&, const torch::TensorOptions&) { return {}; }

}  // namespace pesuite::heads
