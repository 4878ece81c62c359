// Multi-head attention with a pluggable positional term and per-head capture / intervention.
#include "pesuite/heads/attention.h"

#include <cmath>
#include <limits>

#include "pesuite/core/error.h"
#include "pesuite/core/fused_hooks.h"
#include "pesuite/core/torch_compat.h"

namespace pesuite::heads {
namespace {

std::string shape_str(const torch::Tensor& t) {
  std::string s = "[";
  for (std::int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

// [B, T, heads * hd] -> [B, heads, T, hd]
torch::Tensor split_heads(const torch::Tensor& t, std::int64_t heads, std::int64_t hd) {
  return t.view({t.size(0), t.size(1), heads, hd}).transpose(1, 2);
}

}  // namespace

torch::Tensor HeadIntervention::apply(const torch::Tensor& o) const {
  if (!keep.defined()) return o;
  const auto H = o.size(1), hd = o.size(3);
  auto k = keep.to(o.options());
  k = k.dim() == 1 ? k.view({1, H, 1, 1}) : k.view({k.size(0), H, 1, 1});
  if (!mean.defined()) return k * o;
  auto m = mean.to(o.options());
  if (m.dim() == 2) m = m.view({1, H, 1, hd});
  else if (m.dim() == 3) m = m.unsqueeze(0);
  return k * o + (1 - k) * m;
}

torch::Tensor mean_head_outputs(const torch::Tensor& head_outputs, bool over_tokens) {
  if (head_outputs.dim() != 4)
    throw core::InputError("mean_head_outputs: expected [B, H, N, head_dim], got " + shape_str(head_outputs));
  return over_tokens ? head_outputs.mean(std::vector<std::int64_t>{0, 2}) : head_outputs.mean(0);
}

MultiHeadAttentionImpl::MultiHeadAttentionImpl(const MultiHeadAttentionOptions& options_, PositionalTermPtr positional)
    : options(options_) {
  const auto dim = options.dim(), heads = options.heads();
  if (dim <= 0 || heads <= 0) throw core::InputError("attention: dim and heads must be > 0");
  head_dim_ = options.head_dim() > 0 ? options.head_dim() : dim / heads;
  if (options.head_dim() <= 0 && dim % heads)
    throw core::InputError("attention: dim " + std::to_string(dim) + " is not divisible by heads " + std::to_string(heads) +
                     "; set head_dim");
  if (options.dropout() < 0 || options.dropout() >= 1)
    throw core::InputError("attention: dropout must be in [0, 1), got " + std::to_string(options.dropout()));
  const auto inner = heads * head_dim_;
  const auto kv_dim = options.kv_dim() > 0 ? options.kv_dim() : dim;
  if (kv_dim == dim) {
    qkv = register_module("qkv", torch::nn::Linear(torch::nn::LinearOptions(dim, 3 * inner).bias(options.qkv_bias())));
  } else {
    q = register_module("q", torch::nn::Linear(torch::nn::LinearOptions(dim, inner).bias(options.qkv_bias())));
    kv = register_module("kv", torch::nn::Linear(torch::nn::LinearOptions(kv_dim, 2 * inner).bias(options.qkv_bias())));
  }
  proj = register_module("proj", torch::nn::Linear(torch::nn::LinearOptions(inner, dim).bias(options.out_bias())));
  set_positional(positional ? std::move(positional) : NoPE().ptr());
}

void MultiHeadAttentionImpl::set_positional(PositionalTermPtr positional) {
  if (!positional) positional = NoPE().ptr();
  // register_module refuses a name twice, so a second call replaces the child.
  positional_ = positional_ ? replace_module("pe", positional) : register_module("pe", positional);
}

void MultiHeadAttentionImpl::set_intervention(const HeadIntervention& intervention) {
  const auto H = options.heads();
  if (intervention.keep.defined()) {
    const auto& k = intervention.keep;
    if (!((k.dim() == 1 && k.size(0) == H) || (k.dim() == 2 && k.size(1) == H)))
      throw core::InputError("head intervention: keep must be [H] or [B, H] with H = " + std::to_string(H) + ", got " +
                       shape_str(k));
  }
  if (intervention.mean.defined()) {
    const auto& m = intervention.mean;
    const bool ok = m.dim() >= 2 && m.dim() <= 4 && m.size(-1) == head_dim_ && m.size(m.dim() == 4 ? 1 : 0) == H;
    if (!ok)
      throw core::InputError("head intervention: mean must be [H, hd], [H, N, hd] or [B, H, N, hd] with H = " +
                       std::to_string(H) + ", hd = " + std::to_string(head_dim_) + ", got " + shape_str(m));
    if (!intervention.keep.defined()) throw core::InputError("head intervention: a mean needs a keep mask");
  }
  intervention_ = intervention;
}

void MultiHeadAttentionImpl::enable_head_gates(bool on) {
  if (!on) {
    gates_ = torch::Tensor();
    return;
  }
  gates_ = torch::ones({options.heads()}, proj->weight.options()).detach().requires_grad_(true);
}

torch::Tensor MultiHeadAttentionImpl::forward(const torch::Tensor& x, const AttentionArgs& args) {
  const auto H = options.heads(), hd = head_dim_, inner = H * hd;
  if (x.dim() != 3 || x.size(2) != options.dim())
    throw core::InputError("attention: input must be [B, N, " + std::to_string(options.dim()) + "], got " + shape_str(x));
  const auto B = x.size(0), N = x.size(1);
  // The fused kernel (LibTorch 2.x) when allowed; otherwise the batched-GEMM composition below,
  // which is also what capturing probabilities needs.
  const bool kernel = core::kHasFusedAttention && options.fused() && !capture_options_.probs();
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  bool q_scaled = false;  // whether q already carries the 1/sqrt(hd) of the scores

  // q, k, v as [B, H, N|M, hd] views. unbind, not t[0], t[1], t[2]: the backward of three selects
  // is three zero-filled copies of the whole projection plus two sums; unbind's is one stack.
  torch::Tensor qh, kh, vh;
  if (!args.context.defined()) {
    if (!qkv) throw core::InputError("attention: kv_dim differs from dim, so a context (key/value input) is required");
    if (kernel) {
      auto y = core::linear(qkv, x);
      if (const auto* hooks = core::FusedHooks::active(); hooks != nullptr && hooks->split_qkv != nullptr) {
        auto t = hooks->split_qkv(y, H);  // the same views; a backward that writes the [B, N, 3C] gradient in one pass
        qh = t[0], kh = t[1], vh = t[2];
      } else {
        auto t = y.view({B, N, 3, H, hd}).permute({2, 0, 3, 1, 4}).unbind(0);  // as timm
        qh = t[0], kh = t[1], vh = t[2];
      }
    } else {
      // Sequence-first with the weight rows reordered to (head, q/k/v, channel): then every head's
      // q, k and v are matrices with a common row stride and the B*H batch folds into one stride,
      // so the batched GEMMs read the projection in place. Reordering the [3 inner, dim] weight
      // costs O(dim^2); copying q, k, v into [B*H, N, hd] would cost O(B N dim), forward and back.
      // (This is why torch::nn::MultiheadAttention is sequence-first.)
      // The 1/sqrt(hd) of the scores is folded into the q rows too (O(dim^2) again, and exact when
      // hd is a power of 4); LibTorch 1.13's baddbmm(beta = 0, alpha = scale) would read the
      // uninitialised output on its small-matrix path.
      auto qscale = torch::ones({3, 1, 1, 1}, qkv->weight.options());
      qscale[0] = scale;
      auto w = (qkv->weight.view({3, H, hd, options.dim()}) * qscale).transpose(0, 1).reshape({3 * inner, options.dim()});
      auto b = qkv->bias.defined() ? (qkv->bias.view({3, H, hd}) * qscale.view({3, 1, 1})).transpose(0, 1).reshape({3 * inner})
                                   : qkv->bias;
      auto y = torch::linear(x.transpose(0, 1).contiguous(), w, b);  // [N, B, H * 3 * hd]
      auto t = y.view({N, B * H, 3, hd}).unbind(2);                  // each [N, B*H, hd]
      qh = t[0].transpose(0, 1).view({B, H, N, hd});
      kh = t[1].transpose(0, 1).view({B, H, N, hd});
      vh = t[2].transpose(0, 1).view({B, H, N, hd});
      q_scaled = true;
    }
  } else {
    const auto& c = args.context;
    const auto kv_dim = options.kv_dim() > 0 ? options.kv_dim() : options.dim();
    if (c.dim() != 3 || c.size(0) != B || c.size(2) != kv_dim)
      throw core::InputError("attention: context must be [" + std::to_string(B) + ", M, " + std::to_string(kv_dim) +
                       "], got " + shape_str(c));
    torch::Tensor qp, kvp;
    if (qkv) {
      // Self-attention weights reused for cross-attention: rows [0, inner) are q, the rest k and v.
      auto w = qkv->weight;
      auto b = qkv->bias;
      qp = torch::nn::functional::linear(x, w.narrow(0, 0, inner), b.defined() ? b.narrow(0, 0, inner) : b);
      kvp = torch::nn::functional::linear(c, w.narrow(0, inner, 2 * inner),
                                          b.defined() ? b.narrow(0, inner, 2 * inner) : b);
    } else {
      qp = core::linear(q, x);
      kvp = core::linear(kv, c);
    }
    qh = split_heads(qp, H, hd);
    auto t = kvp.view({B, c.size(1), 2, H, hd}).permute({2, 0, 3, 1, 4}).unbind(0);
    kh = t[0], vh = t[1];
  }
  const auto M = kh.size(2);
  const auto& layout = args.layout;

  std::tie(qh, kh) = positional_->rotate(qh, kh, layout);

  // One additive bias from every source; -inf marks what must not be attended.
  torch::Tensor bias;
  auto add = [&](const torch::Tensor& t) { bias = bias.defined() ? bias + t : t; };
  auto pb = positional_->bias(N, M, layout, qh.options());
  if (pb.defined()) add(pb);
  if (args.attn_bias.defined()) add(args.attn_bias.to(qh.scalar_type()));
  const double neg_inf = -std::numeric_limits<double>::infinity();
  if (args.key_padding_mask.defined()) {
    const auto& m = args.key_padding_mask;
    if (m.dim() != 2 || m.size(0) != B || m.size(1) != M)
      throw core::InputError("attention: key_padding_mask must be [" + std::to_string(B) + ", " + std::to_string(M) +
                       "] (true = padding), got " + shape_str(m));
    add(torch::zeros({B, 1, 1, M}, qh.options()).masked_fill(m.to(torch::kBool).view({B, 1, 1, M}), neg_inf));
  }
  bool causal_flag = false;
  if (options.causal()) {
    const auto start = layout.is_grid() ? 0 : layout.q_start;
    if (!bias.defined() && start == 0 && N == M) {
      causal_flag = true;  // lets the fused kernel skip the masked blocks
    } else {
      auto qi = torch::arange(N, qh.options().dtype(torch::kInt64)).unsqueeze(1) + start;
      auto kj = torch::arange(M, qh.options().dtype(torch::kInt64)).unsqueeze(0);
      add(torch::zeros({N, M}, qh.options()).masked_fill(kj > qi, neg_inf));
    }
  }

  const double dropout = is_training() ? options.dropout() : 0.0;
  torch::Tensor o;
  if (kernel) {
    o = core::sdpa(qh, kh, vh, bias.defined() ? std::optional<torch::Tensor>(bias) : std::nullopt, dropout,
                     causal_flag, is_training());
  } else {
    // Batched GEMMs over the B*H heads; the bias and the causal mask are added in place (one pass
    // over the scores, and nothing of [B, H, N, M] is materialised for them).
    auto q3 = qh.reshape({B * H, N, hd}), k3 = kh.reshape({B * H, M, hd}), v3 = vh.reshape({B * H, M, hd});
    if (!q_scaled) q3 = q3 * scale;
    auto scores = torch::bmm(q3, k3.transpose(1, 2));
    auto s4 = scores.view({B, H, N, M});
    if (bias.defined()) s4.add_(bias);
    if (causal_flag) s4.masked_fill_(torch::ones({N, M}, qh.options().dtype(torch::kBool)).triu(1), neg_inf);
    auto p = torch::softmax(scores, -1);
    if (capture_options_.probs()) captured_.probs = capture_options_.detach() ? p.view({B, H, N, M}).detach() : p.view({B, H, N, M});
    if (dropout > 0) p = torch::dropout(p, dropout, true);
    o = torch::bmm(p, v3).view({B, H, N, hd});
  }
  if (!capture_options_.probs()) captured_.probs = torch::Tensor();

  // Per-head interventions on o [B, H, N, hd].
  o = intervention_.apply(o);
  if (gates_.defined()) o = o * gates_.view({1, H, 1, 1});

  // What only the scores needed goes before the output projection: without autograd (inference)
  // nothing else holds q, k, v or the bias, and the projection's input and output are then the only
  // [B, N, dim] buffers of this layer (the peak of an inference step is at such a moment).
  qh.reset();
  kh.reset();
  vh.reset();
  bias.reset();
  auto merged = o.transpose(1, 2).reshape({B, N, inner});
  if (!capture_options_.head_outputs() && !capture_options_.contributions()) o.reset();
  auto out = core::linear(proj, merged);
  merged.reset();

  const bool det = capture_options_.detach();
  captured_.head_outputs = capture_options_.head_outputs() ? (det ? o.detach() : o) : torch::Tensor();
  if (capture_options_.contributions()) {
    auto w = proj->weight.view({options.dim(), H, hd});
    auto c = torch::einsum("bhnk,dhk->bhnd", {o, w});
    captured_.contributions = det ? c.detach() : c;
  } else {
    captured_.contributions = torch::Tensor();
  }
  return out;
}

}  // namespace pesuite::heads
