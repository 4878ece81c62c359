#pragma once
// Positional terms that act inside attention: additive per-head biases (ALiBi, KERPLE, T5 buckets,
// 2D relative bias) and rotations of queries and keys (RoPE 1D, RoPE 2D axial), plus NoPE.
// MultiHeadAttention talks to all of them through the one PositionalTerm interface, so a new term
// never adds a flag to attention.
//
//   auto layout = pesuite::heads::TokenLayout::grid(14, 14, /*prefix=*/1);   // class token + 14x14
//   auto rope = pesuite::heads::RoPE2D(pesuite::heads::RoPE2DOptions(/*head_dim=*/64).base(100));
//   auto [q2, k2] = rope->rotate(q, k, layout);           // q, k: [B, H, N, head_dim]
//   auto alibi = pesuite::heads::Alibi(pesuite::heads::AlibiOptions(/*heads=*/12));
//   torch::Tensor bias = alibi->bias(n, n, pesuite::heads::TokenLayout{}, q.options());  // [H, N, N]
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace pesuite::heads {

// Where the tokens of one attention call sit. The first `prefix` tokens (class / register tokens)
// carry no position: they are never rotated and get zero distance-based bias (2D relative bias
// can give them their own learned entries). The remaining tokens form a 1D sequence, or a
// row-major height x width grid when height > 0.
struct TokenLayout {
  std::int64_t prefix = 0;
  std::int64_t height = 0;  // 0 = 1D sequence
  std::int64_t width = 0;
  // 1D only: position of the first positioned query; keys start at 0. Lets a block of queries sit
  // after its keys (incremental decoding). Causal masking uses the same positions.
  std::int64_t q_start = 0;

  static TokenLayout sequence(std::int64_t prefix = 0, std::int64_t q_start = 0) {
    TokenLayout l;
    l.prefix = prefix;
    l.q_start = q_start;
    return l;
  }
  static TokenLayout grid(std::int64_t height, std::int64_t width, std::int64_t prefix = 0) {
    TokenLayout l;
    l.prefix = prefix;
    l.height = height;
    l.width = width;
    return l;
  }
  bool is_grid() const { return height > 0; }
};

// Float positions of the positioned tokens of an n-token side: [n - prefix] (1D, starting at
// `start`) or [n - prefix, 2] as (row, column) on a grid. InputError when n does not fit the layout.
torch::Tensor token_positions(std::int64_t n, const TokenLayout& layout, std::int64_t start,
                              const torch::TensorOptions& options);

// [Nq, Nk] distance between query i and key j: |i - j| in 1D (queries offset by q_start),
// Euclidean distance of the grid cells on a grid; 0 in every row or column of a prefix token.
torch::Tensor relative_distance(std::int64_t nq, std::int64_t nk, const TokenLayout& layout,
                                const torch::TensorOptions& options);

// The interface. Both methods have neutral defaults, so a term overrides what it does.
class PositionalTerm : public torch::nn::Module {
 public:
  // Additive bias broadcastable to [B, H, Nq, Nk] (normally [H, Nq, Nk]) in `options`' dtype and
  // device, or an undefined tensor when the term adds none.
  virtual torch::Tensor bias(std::int64_t nq, std::int64_t nk, const TokenLayout& layout,
                             const torch::TensorOptions& options) {
    (void)nq, (void)nk, (void)layout, (void)options;
    return {};
  }
  // Rotated (q, k), both [B, H, N, head_dim]; unchanged by default.
  virtual std::pair<torch::Tensor, torch::Tensor> rotate(const torch::Tensor& q, const torch::Tensor& k,
                                                         const TokenLayout& layout) {
    (void)layout;
    return {q, k};
  }
  virtual std::string name() const = 0;
};
using PositionalTermPtr = std::shared_ptr<PositionalTerm>;

// ---- NoPE -------------------------------------------------------------------------------------
class NoPEImpl : public PositionalTerm {
 public:
  std::string name() const override { return "none"; }
};
TORCH_MODULE(NoPE);

// ---- ALiBi (Press et al. 2022) ------------------------------------------------------------------
// bias[h, i, j] = -m_h * dist(i, j) with the paper's geometric slopes; symmetric |i - j| so that it
// also serves bidirectional encoders (with a causal mask it equals the paper's -m (i - j)).
struct AlibiOptions {
  explicit AlibiOptions(std::int64_t heads) : heads_(heads) {}
  TORCH_ARG(std::int64_t, heads);
};
// Slopes for any head count: for a power of two n, 2^(-8/n * (h+1)); otherwise the slopes of the
// closest lower power of two followed by every other slope of twice that count (as the authors'
// code does).
std::vector<double> alibi_slopes(std::int64_t heads);

class AlibiImpl : public PositionalTerm {
 public:
  explicit AlibiImpl(const AlibiOptions& options);
  void reset() {}
  torch::Tensor bias(std::int64_t nq, std::int64_t nk, const TokenLayout& layout,
                     const torch::TensorOptions& options) override;
  std::string name() const override { return "alibi"; }
  AlibiOptions options;
  torch::Tensor slopes;  // buffer [H]
};
TORCH_MODULE(Alibi);

// ---- 2D ALiBi on an image grid ------------------------------------------------------------------
// bias[h, i, j] = -m_h * dist(cell_i, cell_j) / scale with ALiBi's slopes m_h (alibi_slopes) and the
// distance between the (row, column) grid cells of patches i and j: Euclidean (default, as
// CROMA's 2D-ALiBi) or Manhattan |dr| + |dc|. Prefix (class / register) tokens carry no position:
// their rows and columns are 0, so they attend and are attended without a distance penalty. Works
// at any grid size (the layout gives it); `scale` > 1 shrinks distances (e.g. scale = 2 when a
// model trained on 14x14 runs on 28x28 and should see the same extent). Needs a grid layout.
// The bias has no parameters, so it is kept for the last (shape, layout, dtype, device): the
// blocks of a ViT share one term and pay for it once per shape.
enum class GridMetric { Euclidean, Manhattan };
struct Alibi2DOptions {
  explicit Alibi2DOptions(std::int64_t heads) : heads_(heads) {}
  TORCH_ARG(std::int64_t, heads);
  TORCH_ARG(GridMetric, metric) = GridMetric::Euclidean;
  TORCH_ARG(double, scale) = 1.0;
};
class Alibi2DImpl : public PositionalTerm {
 public:
  explicit Alibi2DImpl(const Alibi2DOptions& options);
  void reset() {}
  torch::Tensor bias(std::int64_t nq, std::int64_t nk, const TokenLayout& layout,
                     const torch::TensorOptions& options) override;
  std::string name() const override { return "alibi2d"; }
  Alibi2DOptions options;
  torch::Tensor slopes;  // buffer [H]

 private:
  std::string cache_key_;
  torch::Tensor cache_;
};
TORCH_MODULE(Alibi2D);

// ---- KERPLE (Chi et al. 2022) -------------------------------------------------------------------
// log:   bias = -r1 * log(1 + r2 * dist)     r1, r2 > 0
// power: bias = -r1 * dist^r2                r1 > 0, 0 < r2 <= 2
// Learnable per head. Positivity (and r2 <= 2) is kept by reparametrisation rather than by the
// reference code's clamping, so gradients stay smooth: r1 = softplus(a), r2 = softplus(b) (log) or
// 2 * sigmoid(b) (power).
enum class KerpleKind { Log, Power };
struct KerpleOptions {
  KerpleOptions(std::int64_t heads, KerpleKind kind) : heads_(heads), kind_(kind) {}
  TORCH_ARG(std::int64_t, heads);
  TORCH_ARG(KerpleKind, kind);
  TORCH_ARG(double, init_r1) = 1.0;  // initial r1 of every head
  TORCH_ARG(double, init_r2) = 1.0;  // initial r2 of every head
};
class KerpleImpl : public PositionalTerm {
 public:
  explicit KerpleImpl(const KerpleOptions& options);
  void reset();
  torch::Tensor bias(std::int64_t nq, std::int64_t nk, const TokenLayout& layout,
                     const torch::TensorOptions& options) override;
  std::string name() const override { return options.kind() == KerpleKind::Log ? "kerple_log" : "kerple_power"; }
  torch::Tensor r1() const;  // [H], > 0
  torch::Tensor r2() const;  // [H], > 0 (and <= 2 for power)
  KerpleOptions options;
  torch::Tensor raw_r1, raw_r2;  // parameters [H]
};
TORCH_MODULE(Kerple);

// ---- T5 bucketed relative bias (Raffel et al. 2020) --------------------------------------------
// Relative position key - query, bucketed exactly as T5's _relative_position_bucket: half the
// buckets per direction when bidirectional, exact below buckets/2 (or /4), logarithmic up to
// max_distance. A learned scalar per (bucket, head). On a grid the raster index is the position.
struct T5BiasOptions {
  explicit T5BiasOptions(std::int64_t heads) : heads_(heads) {}
  TORCH_ARG(std::int64_t, heads);
  TORCH_ARG(std::int64_t, buckets) = 32;
  TORCH_ARG(std::int64_t, max_distance) = 128;
  TORCH_ARG(bool, bidirectional) = true;
};
// [Nq, Nk] int64 bucket of relative positions rel = key - query.
torch::Tensor t5_bucket(const torch::Tensor& rel, std::int64_t buckets, std::int64_t max_distance, bool bidirectional);

class T5BiasImpl : public PositionalTerm {
 public:
  explicit T5BiasImpl(const T5BiasOptions& options);
  void reset();
  torch::Tensor bias(std::int64_t nq, std::int64_t nk, const TokenLayout& layout,
                     const torch::TensorOptions& options) override;
  std::string name() const override { return "t5"; }
  T5BiasOptions options;
  torch::Tensor table;  // parameter [buckets, H]
};
TORCH_MODULE(T5Bias);

// ---- 2D relative position bias (Swin / BEiT) ----------------------------------------------------
// A learned scalar per head for every (dy, dx) in [-(h-1), h-1] x [-(w-1), w-1]; with class_token,
// three more entries (class->patch, patch->class, class->class) as in BEiT. The table belongs to
// the grid size of the options; on another grid (the layout's) the (dy, dx) part of the table is
// resized bicubically on the fly, as Swin / timm do when fine-tuning at a new resolution, and
// resize() makes that permanent (a new parameter of the new size).
struct RelBias2DOptions {
  RelBias2DOptions(std::int64_t heads, std::int64_t height, std::int64_t width)
      : heads_(heads), height_(height), width_(width) {}
  TORCH_ARG(std::int64_t, heads);
  TORCH_ARG(std::int64_t, height);
  TORCH_ARG(std::int64_t, width);
  TORCH_ARG(bool, class_token) = false;
};
class RelBias2DImpl : public PositionalTerm {
 public:
  explicit RelBias2DImpl(const RelBias2DOptions& options);
  void reset();
  torch::Tensor bias(std::int64_t nq, std::int64_t nk, const TokenLayout& layout,
                     const torch::TensorOptions& options) override;
  std::string name() const override { return "relbias2d"; }
  // Replaces the table by its resize to a height x width grid (identity at the same size) and
  // updates options; the class-token entries are kept. Call before building an optimiser.
  void resize(std::int64_t height, std::int64_t width);
  RelBias2DOptions options;
  torch::Tensor table;  // parameter [(2h-1)(2w-1) (+3), H]
  torch::Tensor index;  // [P(+1), P(+1)] int64 rows of the table (not a buffer: see reset())
};
TORCH_MODULE(RelBias2D);

// The (dy, dx) table of a 2D relative bias [(2h0-1)(2w0-1), H] resized bicubically (align_corners
// false, as timm's resize_rel_pos_bias_table) to [(2h1-1)(2w1-1), H]; the input itself when the
// sizes agree.
torch::Tensor resize_relative_table(const torch::Tensor& table, std::int64_t h0, std::int64_t w0, std::int64_t h1,
                                    std::int64_t w1);

// Rotation tables of the last call's shape, layout, device and dtype: recomputing cos/sin every
// forward is many small kernels on a GPU. (Not shared between threads running one module.)
struct RotaryTables {
  std::string key;
  torch::Tensor cos_q, sin_q, cos_k, sin_k;
};

// ---- RoPE (Su et al. 2021), 1D -------------------------------------------------------------------
// Frequencies theta_i = base^(-2i/d), i < d/2, half-split pairing (channel i with i + d/2, as
// GPT-NeoX / HF LLaMA). Position interpolation (Chen et al. 2023): position p is used as p / scale.
struct RoPE1DOptions {
  explicit RoPE1DOptions(std::int64_t head_dim) : head_dim_(head_dim) {}
  TORCH_ARG(std::int64_t, head_dim);
  TORCH_ARG(double, base) = 10000.0;
  TORCH_ARG(double, scale) = 1.0;
};
class RoPE1DImpl : public PositionalTerm {
 public:
  explicit RoPE1DImpl(const RoPE1DOptions& options);
  void reset() {}
  std::pair<torch::Tensor, torch::Tensor> rotate(const torch::Tensor& q, const torch::Tensor& k,
                                                 const TokenLayout& layout) override;
  // Rotates x [..., N, d] to the given positions [N] (before interpolation: the scale is applied
  // here). Public for tests and for callers with their own positions.
  torch::Tensor rotate_at(const torch::Tensor& x, const torch::Tensor& positions) const;
  std::string name() const override { return "rope1d"; }
  RoPE1DOptions options;

 private:
  torch::Tensor angles(const torch::Tensor& positions, const torch::Device& device) const;
  torch::Tensor apply(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) const;
  RotaryTables cache_;
};
TORCH_MODULE(RoPE1D);

// ---- RoPE 2D axial (Heo et al. 2024, "RoPE-Axial") -----------------------------------------------
// The first d/2 channels rotate with the column, the last d/2 with the row; each half uses d/4
// frequencies base^(-4i/d) in half-split pairing. Default base 100 follows RoPE-ViT's axial setting.
struct RoPE2DOptions {
  explicit RoPE2DOptions(std::int64_t head_dim) : head_dim_(head_dim) {}
  TORCH_ARG(std::int64_t, head_dim);
  TORCH_ARG(double, base) = 100.0;
  TORCH_ARG(double, scale) = 1.0;
};
class RoPE2DImpl : public PositionalTerm {
 public:
  explicit RoPE2DImpl(const RoPE2DOptions& options);
  void reset() {}
  std::pair<torch::Tensor, torch::Tensor> rotate(const torch::Tensor& q, const torch::Tensor& k,
                                                 const TokenLayout& layout) override;
  // x [..., N, d] rotated to (row, col) positions [N, 2].
  torch::Tensor rotate_at(const torch::Tensor& x, const torch::Tensor& positions) const;
  std::string name() const override { return "rope2d"; }
  RoPE2DOptions options;

 private:
  torch::Tensor angles(const torch::Tensor& positions, const torch::Device& device) const;
  torch::Tensor apply(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) const;
  RotaryTables cache_;
};
TORCH_MODULE(RoPE2D);

}  // namespace pesuite::heads
