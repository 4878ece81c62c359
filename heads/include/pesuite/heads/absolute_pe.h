#pragma once
// Positional encodings that act on the token embeddings [B, N, D] before (or between) attention
// blocks: fixed sinusoidal 1D/2D, learned (resized bicubically to a new grid as DeiT does),
// learnable Fourier features, and CPVT's conditional PEG. All share the TokenPE interface.
//
//   using namespace pesuite::heads;
//   auto layout = TokenLayout::grid(14, 14, /*prefix=*/1);
//   LearnedPE pe(LearnedPEOptions(/*dim=*/192, 14, 14).prefix(1));
//   x = pe(x, layout);                                // x + embedding
//   x = pe(x384, TokenLayout::grid(24, 24, 1));       // bicubic resize to a 24x24 grid on the fly
//   PEG peg(PEGOptions(192));                         // conditional: depthwise 3x3 conv + residual
//   x = peg(x, layout);
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>

#include "pesuite/heads/positional.h"

namespace pesuite::heads {

class TokenPE : public torch::nn::Module {
 public:
  // x [B, N, D] -> [B, N, D] with the encoding applied.
  virtual torch::Tensor forward(const torch::Tensor& x, const TokenLayout& layout) = 0;
  // The additive embedding [N, D] for n tokens in this layout (prefix rows included), for analysis
  // (positional similarity). Undefined for encodings that are not additive (PEG).
  virtual torch::Tensor embedding(std::int64_t n, const TokenLayout& layout, const torch::TensorOptions& options) = 0;
  virtual std::string name() const = 0;
};
using TokenPEPtr = std::shared_ptr<TokenPE>;

// Vaswani et al.: PE[p, 2i] = sin(p / base^(2i/d)), PE[p, 2i+1] = cos(p / base^(2i/d)); d even.
torch::Tensor sincos_1d(const torch::Tensor& positions, std::int64_t dim, double base);

// ---- sinusoidal 1D / 2D (fixed) -----------------------------------------------------------------
// 1D: the Vaswani table of the (raster) position. 2D (MAE style): the first D/2 channels encode the
// row and the last D/2 the column, each with the 1D formula; D divisible by 4. Prefix tokens get 0.
struct SinCosPEOptions {
  explicit SinCosPEOptions(std::int64_t dim) : dim_(dim) {}
  TORCH_ARG(std::int64_t, dim);
  TORCH_ARG(double, base) = 10000.0;
  TORCH_ARG(bool, two_d) = false;
};
class SinCosPEImpl : public TokenPE {
 public:
  explicit SinCosPEImpl(const SinCosPEOptions& options);
  torch::Tensor forward(const torch::Tensor& x, const TokenLayout& layout) override;
  torch::Tensor embedding(std::int64_t n, const TokenLayout& layout, const torch::TensorOptions& options) override;
  std::string name() const override { return options.two_d() ? "sincos2d" : "sincos1d"; }
  SinCosPEOptions options;
};
TORCH_MODULE(SinCosPE);

// ---- learned (ViT / DeiT) -------------------------------------------------------------------------
// A table [prefix + h*w, D], truncated-normal std 0.02 like timm. On another grid the patch part is
// resized with bicubic interpolation (align_corners false, as DeiT / timm) and the prefix rows are
// kept. A 1D layout uses the first N - prefix rows in raster order.
struct LearnedPEOptions {
  LearnedPEOptions(std::int64_t dim, std::int64_t height, std::int64_t width) : dim_(dim), height_(height), width_(width) {}
  TORCH_ARG(std::int64_t, dim);
  TORCH_ARG(std::int64_t, height);
  TORCH_ARG(std::int64_t, width);
  TORCH_ARG(std::int64_t, prefix) = 0;
  TORCH_ARG(double, std) = 0.02;
};
// Bicubic resize of a [h0*w0, D] grid table to [h1*w1, D].
torch::Tensor resize_grid_embedding(const torch::Tensor& table, std::int64_t h0, std::int64_t w0, std::int64_t h1,
                                    std::int64_t w1);
class LearnedPEImpl : public TokenPE {
 public:
  explicit LearnedPEImpl(const LearnedPEOptions& options);
  torch::Tensor forward(const torch::Tensor& x, const TokenLayout& layout) override;
  torch::Tensor embedding(std::int64_t n, const TokenLayout& layout, const torch::TensorOptions& options) override;
  std::string name() const override { return "learned"; }
  LearnedPEOptions options;
  torch::Tensor table;  // parameter [prefix + h*w, D]
};
TORCH_MODULE(LearnedPE);

// ---- learnable Fourier features (Li et al. 2021) ---------------------------------------------------
// r(x) = 1/sqrt(F) [cos(x Wr^T) || sin(x Wr^T)], Wr [F/2, M] ~ N(0, gamma^-2); PE = MLP(r) with one
// GELU hidden layer (F -> hidden -> D). x is the (row, col) grid cell (M = 2) or the 1D position
// (M = 1). Prefix tokens get 0.
struct FourierPEOptions {
  explicit FourierPEOptions(std::int64_t dim) : dim_(dim) {}
  TORCH_ARG(std::int64_t, dim);
  TORCH_ARG(std::int64_t, pos_dims) = 2;      // M: 1 (sequence) or 2 (grid)
  TORCH_ARG(std::int64_t, fourier_dim) = 64;  // F, even
  TORCH_ARG(std::int64_t, hidden) = 32;
  TORCH_ARG(double, gamma) = 1.0;
};
class FourierPEImpl : public TokenPE {
 public:
  explicit FourierPEImpl(const FourierPEOptions& options);
  torch::Tensor forward(const torch::Tensor& x, const TokenLayout& layout) override;
  torch::Tensor embedding(std::int64_t n, const TokenLayout& layout, const torch::TensorOptions& options) override;
  // The encoding of explicit positions [P, M].
  torch::Tensor encode(const torch::Tensor& positions);
  std::string name() const override { return "fourier"; }
  FourierPEOptions options;
  torch::nn::Linear wr{nullptr}, fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(FourierPE);

// ---- PEG (CPVT, Chu et al.) -------------------------------------------------------------------------
// y = x + DWConv_kxk(x) over the patch grid, zero padding (k-1)/2 (the padding is what lets it
// know absolute position); prefix tokens are passed around unchanged. With padding = false the
// convolution is "valid" and only the interior cells get the residual term (CPVT's no-padding
// ablation), so the output keeps its shape.
struct PEGOptions {
  explicit PEGOptions(std::int64_t dim) : dim_(dim) {}
  TORCH_ARG(std::int64_t, dim);
  TORCH_ARG(std::int64_t, kernel) = 3;  // odd
  TORCH_ARG(bool, padding) = true;
};
class PEGImpl : public TokenPE {
 public:
  explicit PEGImpl(const PEGOptions& options);
  torch::Tensor forward(const torch::Tensor& x, const TokenLayout& layout) override;
  torch::Tensor embedding(std::int64_t, const TokenLayout&, const torch::TensorOptions&) override { return {}; }
  std::string name() const override { return "peg"; }
  PEGOptions options;
  torch::nn::Conv2d conv{nullptr};
};
TORCH_MODULE(PEG);

// ---- none -------------------------------------------------------------------------------------------
class NoTokenPEImpl : public TokenPE {
 public:
  torch::Tensor forward(const torch::Tensor& x, const TokenLayout&) override { return x; }
  torch::Tensor embedding(std::int64_t n, const TokenLayout&, const torch::TensorOptions& options) override;
  std::string name() const override { return "none"; }
};
TORCH_MODULE(NoTokenPE);

}  // namespace pesuite::heads
