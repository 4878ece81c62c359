#pragma once
// Multi-head attention, batch first, with one pluggable positional term and per-head inspection
// and intervention (capture, head masks, mean-ablation, importance gates).
//
//   using namespace pesuite::heads;
//   MultiHeadAttention attn(MultiHeadAttentionOptions(/*dim=*/384, /*heads=*/6),
//                           RoPE2D(RoPE2DOptions(64)).ptr());
//   AttentionArgs args;
//   args.layout = TokenLayout::grid(14, 14, /*prefix=*/1);
//   torch::Tensor y = attn(x, args);                    // x: [B, 197, 384]
//
//   attn->set_capture(CaptureOptions().probs(true).contributions(true));
//   y = attn(x, args);
//   const AttentionCapture& c = attn->captured();       // c.probs [B,H,N,N], c.contributions [B,H,N,D]
//
//   HeadIntervention mask;
//   mask.keep = torch::tensor({1., 0., 1., 1., 1., 1.});  // remove head 1
//   attn->set_intervention(mask);
#include <torch/torch.h>

#include <cstdint>
#include <memory>

#include "pesuite/heads/positional.h"

namespace pesuite::heads {

struct MultiHeadAttentionOptions {
  MultiHeadAttentionOptions(std::int64_t dim, std::int64_t heads) : dim_(dim), heads_(heads) {}
  TORCH_ARG(std::int64_t, dim);        // model width of the input and output
  TORCH_ARG(std::int64_t, heads);
  TORCH_ARG(std::int64_t, head_dim) = 0;  // 0 = dim / heads
  TORCH_ARG(std::int64_t, kv_dim) = 0;    // width of a separate key/value input; 0 = dim
  TORCH_ARG(bool, qkv_bias) = true;
  TORCH_ARG(bool, out_bias) = true;
  TORCH_ARG(double, dropout) = 0.0;       // on the attention probabilities, training only
  TORCH_ARG(bool, causal) = false;        // query at position p sees keys at positions <= p
  // Use core::sdpa (a fused kernel on LibTorch 2.x) when probabilities are not captured.
  // false forces the plain softmax path everywhere (benchmarks, debugging).
  TORCH_ARG(bool, fused) = true;
};

// Per-call inputs besides the queries' tokens.
struct AttentionArgs {
  torch::Tensor context;           // [B, M, kv_dim]: keys/values from here; undefined = self-attention
  torch::Tensor key_padding_mask;  // [B, M] bool, true = padding (that key is ignored)
  torch::Tensor attn_bias;         // extra additive bias broadcastable to [B, H, N, M] (e.g. graph edges)
  TokenLayout layout;              // positions for the positional term and for causal masking
};

// What to keep from the next forward calls (each call overwrites the last capture).
struct CaptureOptions {
  TORCH_ARG(bool, probs) = false;          // [B, H, N, M] softmax probabilities (forces the plain path)
  TORCH_ARG(bool, head_outputs) = false;   // [B, H, N, head_dim] per-head outputs before out-proj
  TORCH_ARG(bool, contributions) = false;  // [B, H, N, dim]: sum over heads + out bias = output
  // Detach the captured tensors (analysis); false keeps them in the autograd graph.
  TORCH_ARG(bool, detach) = true;
};

struct AttentionCapture {
  torch::Tensor probs;
  torch::Tensor head_outputs;   // after any intervention, i.e. what the out-projection saw
  torch::Tensor contributions;
};

// Acts on the per-head outputs o_h before the out-projection:
//   o_h <- keep_h * o_h + (1 - keep_h) * mean_h.
// keep: [H] or [B, H] (0 removes a head, 1 keeps it; fractions blend). mean: undefined (zero, i.e.
// plain removal), [H, head_dim], [H, N, head_dim] or [B, H, N, head_dim] (mean-ablation, e.g. from
// mean_head_outputs over a reference set).
struct HeadIntervention {
  torch::Tensor keep;
  torch::Tensor mean;

  bool active() const { return keep.defined(); }
  // The intervened head outputs for o [B, H, N, head_dim] (o itself when inactive).
  torch::Tensor apply(const torch::Tensor& o) const;
};

// Mean of captured head outputs [B, H, N, hd] over the batch ([H, N, hd]) or over batch and tokens
// ([H, hd], over_tokens = true): the replacement used for mean-ablation.
torch::Tensor mean_head_outputs(const torch::Tensor& head_outputs, bool over_tokens);

class MultiHeadAttentionImpl : public torch::nn::Module {
 public:
  explicit MultiHeadAttentionImpl(const MultiHeadAttentionOptions& options, PositionalTermPtr positional = nullptr);

  torch::Tensor forward(const torch::Tensor& x, const AttentionArgs& args = AttentionArgs());

  // The positional term (NoPE when none was given); may be shared between layers.
  void set_positional(PositionalTermPtr positional);
  const PositionalTermPtr& positional() const { return positional_; }

  void set_capture(const CaptureOptions& capture) { capture_options_ = capture; }
  const AttentionCapture& captured() const { return captured_; }
  void clear_capture() { captured_ = AttentionCapture(); capture_options_ = CaptureOptions(); }

  void set_intervention(const HeadIntervention& intervention);
  void clear_intervention() { intervention_ = HeadIntervention(); }

  // Michel et al. 2019: o_h <- xi_h * o_h with xi = 1 and requires_grad, so dL/dxi_h measures head
  // h's importance. The gates are not parameters (optimisers never see them).
  void enable_head_gates(bool on = true);
  const torch::Tensor& head_gates() const { return gates_; }  // [H], undefined when off

  std::int64_t heads() const { return options.heads(); }
  std::int64_t head_dim() const { return head_dim_; }

  MultiHeadAttentionOptions options;
  // timm names, so that checkpoints map one to one: qkv + proj (self-attention width), or q + kv
  // when the key/value input has its own width.
  torch::nn::Linear qkv{nullptr}, q{nullptr}, kv{nullptr}, proj{nullptr};

 private:
  std::int64_t head_dim_ = 0;
  PositionalTermPtr positional_;
  CaptureOptions capture_options_;
  AttentionCapture captured_;
  HeadIntervention intervention_;
  torch::Tensor gates_;
};
TORCH_MODULE(MultiHeadAttention);

}  // namespace pesuite::heads
