#include "pesuite/vision/vit.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "pesuite/core/error.h"
#include "pesuite/core/fused_hooks.h"
#include "pesuite/core/weight_copies.h"
#include "pesuite/heads/head_analysis.h"
#include "pesuite/heads/layer_norm.h"
#include "pesuite/core/torch_compat.h"
#include "pesuite/vision/fast_ops.h"

namespace pesuite::vision {

torch::Tensor drop_path(const torch::Tensor& x, double p, bool training) {
  if (!training || p <= 0) return x;
  std::vector<std::int64_t> per_sample(x.dim(), 1);  // [B, 1, ...]: one draw per sample, any rank
  per_sample[0] = x.size(0);
  auto keep = torch::empty(per_sample, x.options()).bernoulli_(1.0 - p);
  return x * keep / (1.0 - p);
}

// Truncated normal on [a, b] by the inverse CDF, as timm's trunc_normal_ (LibTorch 1.13 has none).
static void trunc_normal(torch::Tensor t, double std, double a, double b) {
  auto cdf = [](double x) { return 0.5 * (1.0 + std::erf(x / std::sqrt(2.0))); };
  const double lo = cdf(a / std), hi = cdf(b / std);
  t.uniform_(2 * lo - 1, 2 * hi - 1).erfinv_().mul_(std * std::sqrt(2.0)).clamp_(a, b);
}

BlockImpl::BlockImpl(const ViTOptions& o, double dp) : drop_path_(dp), column_norm_grads_(o.column_norm_grads()) {
  norm1 = register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.dim()}).eps(1e-6)));
  attn = register_module("attn", heads::MultiHeadAttention(heads::MultiHeadAttentionOptions(o.dim(), o.heads()).dropout(o.dropout())));
  norm2 = register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.dim()}).eps(1e-6)));
  const auto hidden = static_cast<std::int64_t>(o.dim() * o.mlp_ratio());
  fc1 = register_module("fc1", torch::nn::Linear(o.dim(), hidden));
  fc2 = register_module("fc2", torch::nn::Linear(hidden, o.dim()));
}

torch::Tensor BlockImpl::forward(const torch::Tensor& x, const heads::AttentionArgs& args) {
  auto n1 = column_norm_grads_ ? heads::layer_norm(norm1, x) : norm1(x);
  auto h = x + drop_path(attn(n1, args), drop_path_, is_training());
  auto n2 = column_norm_grads_ ? heads::layer_norm(norm2, h) : norm2(h);
  return h + drop_path(core::linear(fc2, torch::gelu(core::linear(fc1, n2))), drop_path_, is_training());
}

ViTImpl::ViTImpl(const ViTOptions& o) : options(o) {
  if (o.img_size() % o.patch_size() != 0)
    throw core::InputError("vit: img_size " + std::to_string(o.img_size()) + " is not a multiple of patch_size " +
                     std::to_string(o.patch_size()));
  if (o.dim() % o.heads() != 0)
    throw core::InputError("vit: dim " + std::to_string(o.dim()) + " is not divisible by heads " + std::to_string(o.heads()));
  const std::int64_t grid = o.img_size() / o.patch_size(), prefix = o.class_token() ? 1 : 0;
  patch_embed = register_module("patch_embed", torch::nn::Conv2d(torch::nn::Conv2dOptions(o.in_chans(), o.dim(), o.patch_size()).stride(o.patch_size())));
  if (o.class_token()) cls_token = register_parameter("cls_token", torch::zeros({1, 1, o.dim()}));

  heads::PeShape shape;
  shape.dim = o.dim();
  shape.heads = o.heads();
  shape.grid_h = shape.grid_w = grid;
  shape.prefix = prefix;
  pe = heads::create_pe(o.pe(), shape);
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (std::int64_t i = 0; i < o.depth(); ++i) {
    const double dp = o.depth() > 1 ? o.drop_path() * i / (o.depth() - 1) : 0.0;
    Block b(o, dp);
    if (pe.term) b->attn->set_positional(pe.term);  // one shared term: same positions everywhere
    blocks->push_back(b);
  }
  if (pe.term) register_module("pos_term", std::dynamic_pointer_cast<torch::nn::Module>(pe.term));
  if (pe.token && pe.kind == "conditional") {
    std::int64_t prev = -2;
    for (std::int64_t at : o.pe_after_blocks()) {
      if (at < -1 || at >= o.depth())
        throw core::InputError("vit: pe_after_blocks has block " + std::to_string(at) + ", the model has " +
                         std::to_string(o.depth()) + " (valid: -1 = before block 0, .. " + std::to_string(o.depth() - 1) + ")");
      if (at <= prev) throw core::InputError("vit: pe_after_blocks must be strictly increasing");
      prev = at;
      // Each position gets its own PEG, as in CPVT's 0-4 variant.
      auto instance = block_pe.empty() ? pe.token : heads::create_pe(o.pe(), shape).token;
      block_pe.push_back(register_module(at < 0 ? std::string("pos_input") : "pos_block" + std::to_string(at), instance));
    }
  } else if (pe.token) {
    input_pe = register_module("pos_embed", pe.token);
  }
  norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.dim()}).eps(1e-6)));
  head = register_module("head", torch::nn::Linear(o.dim(), o.num_classes()));

  // timm's initialisation: truncated normal (std 0.02) for linear weights and the class token.
  torch::NoGradGuard no_grad;
  for (auto& m : modules(/*include_self=*/false))
    if (auto* lin = m->as<torch::nn::Linear>()) {
      trunc_normal(lin->weight, 0.02, -0.04, 0.04);
      if (lin->bias.defined()) lin->bias.zero_();
    }
  if (cls_token.defined()) trunc_normal(cls_token, 0.02, -0.04, 0.04);
}

heads::TokenLayout ViTImpl::layout_for(std::int64_t height, std::int64_t width) const {
  return heads::TokenLayout::grid(height / options.patch_size(), width / options.patch_size(), options.class_token() ? 1 : 0);
}

// The dtype CUDA autocast casts to, or Undefined when it is off (and on LibTorch < 2.4, where the
// fast path does not run: no CUDA there).
static at::ScalarType cuda_autocast_dtype() {
#if PESUITE_TORCH2 && (TORCH_VERSION_MAJOR > 2 || TORCH_VERSION_MINOR >= 4)
  if (at::autocast::is_autocast_enabled(at::kCUDA)) return at::autocast::get_autocast_dtype(at::kCUDA);
#endif
  return at::ScalarType::Undefined;
}

std::string ViTImpl::set_fast_path(bool on, const FastOps* ops) {
  fast_path_ = on;
  fast_ops_override_ = on ? ops : nullptr;
  weight_copies_.reset();  // made again by the next training forward that reads them
  if (!on) return "off";
  return ops != nullptr ? "the given ops" : fast_ops_status();
}

void ViTImpl::refresh_weight_copies() {
  if (weight_copies_) weight_copies_->refresh();
}

// The bf16 copies are read only where autocast casts to their dtype (an fp32 forward reads the fp32
// masters). They pay off in training, where each weight is read by the forward and again by the
// backward in every step, so the first training forward makes them. An eval-only process (vision
// eval, bench vit --skip-train) never holds them: its Linears cast their weights as autocast does,
// one elementwise pass per weight and no memory held between forwards; once made, eval reads them too.
const core::WeightCopies* ViTImpl::weight_copies_for(const torch::Tensor& images) {
  if (!fast_path_ || !images.is_cuda() || cuda_autocast_dtype() != torch::kBFloat16) return nullptr;
  if (!weight_copies_ && is_training()) hold_weight_copies();
  return weight_copies_.get();
}

void ViTImpl::hold_weight_copies() {
  if (!fast_path_ || weight_copies_) return;
  std::vector<torch::Tensor> linear_params;
  for (auto& m : modules(/*include_self=*/false))
    if (auto* lin = m->as<torch::nn::Linear>()) {
      linear_params.push_back(lin->weight);
      if (lin->bias.defined()) linear_params.push_back(lin->bias);
    }
  weight_copies_ = std::make_shared<core::WeightCopies>(linear_params, torch::kBFloat16);
}

torch::Tensor ViTImpl::forward_features(const torch::Tensor& images) {
  if (fast_path_ && (images.is_cuda() || fast_ops_override_ != nullptr)) {
    std::optional<core::WeightCopies::Scope> copies;
    if (const auto* held = weight_copies_for(images)) copies.emplace(*held);
    if (const FastOps* ops = fast_ops_override_ != nullptr ? fast_ops_override_ : fast_ops()) return forward_features_fast(images, ops);
    return forward_features_plain(images);
  }
  return forward_features_plain(images);
}

namespace {
// x + pending through a conditional PE between blocks: CPVT's PEG (padded, kernel 3 / 5 / 7) in one
// kernel on the token layout, any other encoding as its own forward on the sum.
torch::Tensor add_block_pe(heads::TokenPE& pe, const torch::Tensor& x, const torch::Tensor& pending,
                           const heads::TokenLayout& layout, const FastOps& ops) {
  if (auto* peg = dynamic_cast<heads::PEGImpl*>(&pe); peg != nullptr && ops.add_peg != nullptr && layout.is_grid()) {
    const auto k = peg->options.kernel();
    if (peg->options.padding() && (k == 3 || k == 5 || k == 7))
      return ops.add_peg(x, pending, peg->conv->weight, peg->conv->bias, layout.prefix, layout.height, layout.width);
  }
  return pe.forward(pending.defined() ? x + pending : x, layout);
}
}  // namespace

// fc2(gelu(h + fc1's bias)) for fc1's output h (without its bias). Without autograd h has no other
// reader and the GELU overwrites it (inference's peak is this buffer); with set_recompute_gelu the
// backward recomputes the GELU instead of keeping its output.
torch::Tensor ViTImpl::mlp_output(BlockImpl& blk, torch::Tensor& h, const FastOps& ops, const core::WeightCopies* copies) {
  if (!blk.fc1->bias.defined()) return core::linear(blk.fc2, torch::gelu(h));
  const bool grad = torch::GradMode::is_enabled();
  if (grad && recompute_gelu_ && ops.gelu_linear != nullptr && blk.fc2->bias.defined()) {
    auto w2 = copies != nullptr ? copies->get(blk.fc2->weight) : torch::Tensor();
    auto b2 = copies != nullptr ? copies->get(blk.fc2->bias) : torch::Tensor();
    return ops.gelu_linear(h, blk.fc1->bias, w2.defined() ? w2 : blk.fc2->weight, b2.defined() ? b2 : blk.fc2->bias);
  }
  const bool in_place = !grad && ops.bias_gelu_ != nullptr && h.is_contiguous();
  return core::linear(blk.fc2, in_place ? ops.bias_gelu_(h, blk.fc1->bias) : ops.bias_gelu(h, blk.fc1->bias));
}

// forward_features with the fused kernels: the residual add that ends each branch is done by the
// next LayerNorm's kernel (`pending` is the branch output not yet added to x), and fc1's bias rides
// in the GELU kernel. Same values as the plain forward up to rounding (tests/vision/test_fast_path.cpp).
torch::Tensor ViTImpl::forward_features_fast(const torch::Tensor& images, const void* ops_ptr) {
  const auto& ops = *static_cast<const FastOps*>(ops_ptr);
  // Block norms feed a Linear: under autocast they write its input dtype directly (Undefined: off).
  const auto block_norm_dtype = cuda_autocast_dtype();
  heads::AttentionArgs args;
  std::size_t next_pe = 0;
  auto x = embed_tokens(images, args, next_pe);
  const auto& after = options.pe_after_blocks();
  torch::Tensor pending;
  auto add_norm = [&](const torch::nn::LayerNorm& ln, at::ScalarType out_dtype) {
    auto [sum, normed] = ops.add_layer_norm(x, pending, ln->weight, ln->bias, ln->options.eps(), out_dtype);
    x = sum;
    pending = torch::Tensor();
    return normed;
  };
  const auto* copies = core::WeightCopies::active();
  // Every core::linear (and the attention's q / k / v split) of the blocks through the library's
  // kernels where it has them.
  core::FusedHooks hooks;
  hooks.linear = ops.linear;
  hooks.split_qkv = ops.split_qkv;
  core::FusedHooks::Scope use_hooks(hooks);
  // Only the class token reaches the head (when the model has one), and after the last block's
  // attention every row is computed on its own: from there on (its MLP half and the final norm) the
  // class token's row alone is computed, the same values for that row with 1 / tokens of the MLP's
  // work and saved activations. A PE after the last block would mix the rows again: then all rows.
  const auto last = static_cast<std::int64_t>(blocks->size()) - 1;
  const bool class_row_only = options.class_token() && std::find(after.begin(), after.end(), last) == after.end();
  for (std::size_t i = 0; i < blocks->size(); ++i) {
    auto& blk = *blocks[i]->as<Block>();
    // The norms' outputs are temporaries: without autograd (inference) each is freed once its
    // Linear has read it, not held through the rest of the block.
    pending = drop_path(blk.attn(add_norm(blk.norm1, block_norm_dtype), args), blk.drop_path_, is_training());
    if (class_row_only && static_cast<std::int64_t>(i) == last) {
      x = x.select(1, 0);
      pending = pending.select(1, 0);
    }
    auto w1 = copies != nullptr ? copies->get(blk.fc1->weight) : torch::Tensor();
    const auto& fc1_weight = w1.defined() ? w1 : blk.fc1->weight;
    auto h = ops.linear != nullptr ? ops.linear(add_norm(blk.norm2, block_norm_dtype), fc1_weight, torch::Tensor())
                                   : at::linear(add_norm(blk.norm2, block_norm_dtype), fc1_weight);  // fc1's bias: in the GELU kernel
    pending = drop_path(mlp_output(blk, h, ops, copies), blk.drop_path_, is_training());
    if (next_pe < block_pe.size() && after[next_pe] == static_cast<std::int64_t>(i)) {
      x = add_block_pe(*block_pe[next_pe++], x, pending, args.layout, ops);
      pending = torch::Tensor();
    }
  }
  if (options.class_token() && !class_row_only) {  // the final norm on the class token's row alone
    x = x.select(1, 0);
    if (pending.defined()) pending = pending.select(1, 0);
  }
  x = add_norm(norm, at::ScalarType::Undefined);  // the head's input in the residual stream's dtype, as the plain forward
  return options.class_token() ? x : x.mean(1);
}

// The token sequence both forwards start from: checked images -> patch tokens (+ class token),
// args.layout set, the absolute PE added and the conditional PEs listed before block 0 applied
// (next_pe: the first block PE not applied yet).
torch::Tensor ViTImpl::embed_tokens(const torch::Tensor& images, heads::AttentionArgs& args, std::size_t& next_pe) {
  if (images.dim() != 4 || images.size(1) != options.in_chans())
    throw core::InputError("vit: expected images [B, " + std::to_string(options.in_chans()) + ", H, W], got " + c10::str(images.sizes()));
  if (images.size(2) % options.patch_size() || images.size(3) % options.patch_size())
    throw core::InputError("vit: image size " + std::to_string(images.size(2)) + "x" + std::to_string(images.size(3)) +
                     " is not a multiple of the patch size " + std::to_string(options.patch_size()));
  auto x = patch_embed(images).flatten(2).transpose(1, 2);  // [B, h*w, D]
  if (options.class_token()) x = torch::cat({cls_token.expand({x.size(0), 1, x.size(2)}), x}, 1);
  args.layout = layout_for(images.size(2), images.size(3));
  if (input_pe) x = input_pe->forward(x, args.layout);
  const auto& after = options.pe_after_blocks();
  if (next_pe < block_pe.size() && after[next_pe] < 0) x = block_pe[next_pe++]->forward(x, args.layout);
  return x;
}

torch::Tensor ViTImpl::forward_features_plain(const torch::Tensor& images) {
  heads::AttentionArgs args;
  std::size_t next_pe = 0;
  auto x = embed_tokens(images, args, next_pe);
  const auto& after = options.pe_after_blocks();
  for (std::size_t i = 0; i < blocks->size(); ++i) {
    x = blocks[i]->as<Block>()->forward(x, args);
    if (next_pe < block_pe.size() && after[next_pe] == static_cast<std::int64_t>(i)) x = block_pe[next_pe++]->forward(x, args.layout);
  }
  x = options.column_norm_grads() ? heads::layer_norm(norm, x) : norm(x);
  return options.class_token() ? x.select(1, 0) : x.mean(1);
}

torch::Tensor ViTImpl::forward(const torch::Tensor& images) {
  std::optional<core::WeightCopies::Scope> copies;  // the head's Linear reads its copy too
  if (const auto* held = weight_copies_for(images)) copies.emplace(*held);
  return core::linear(head, forward_features(images));
}

// Biases, norms, the class token and positional parameters (tables, PEG) get no weight decay.
static bool exempt_from_decay(const std::string& name, const torch::Tensor& p) {
  return p.dim() <= 1 || name.find("pos_") != std::string::npos || name == "cls_token";
}

std::vector<torch::Tensor> ViTImpl::parameters_by_decay(bool decay) {
  std::vector<torch::Tensor> out;
  for (const auto& p : named_parameters())
    if (exempt_from_decay(p.key(), p.value()) != decay) out.push_back(p.value());
  return out;
}

std::vector<torch::optim::OptimizerParamGroup> ViTImpl::adamw_groups(const torch::optim::AdamWOptions& options) {
  auto no_decay = options;
  no_decay.weight_decay(0.0);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay_parameters(), std::make_unique<torch::optim::AdamWOptions>(options));
  groups.emplace_back(no_decay_parameters(), std::make_unique<torch::optim::AdamWOptions>(no_decay));
  return groups;
}

std::vector<heads::MultiHeadAttention> ViTImpl::attention_layers() {
  std::vector<heads::MultiHeadAttention> out;
  for (std::size_t i = 0; i < blocks->size(); ++i) out.push_back(blocks[i]->as<Block>()->attn);
  return out;
}

// ---- analysis ---------------------------------------------------------------------------------

ViTAttention capture_attention(ViT& model, const torch::Tensor& images) {
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  auto layers = model->attention_layers();
  for (auto& a : layers) a->set_capture(heads::CaptureOptions().probs(true));
  ViTAttention out;
  try {
    out.logits = model(images);
  } catch (...) {
    for (auto& a : layers) a->clear_capture();
    throw;
  }
  for (auto& a : layers) {
    out.probs.push_back(a->captured().probs);
    a->clear_capture();
  }
  out.layout = model->layout_for(images.size(2), images.size(3));
  if (was_training) model->train();
  return out;
}

torch::Tensor attention_grid_maps(const torch::Tensor& probs, const heads::TokenLayout& layout) {
  if (layout.prefix > 0) return heads::cls_attention_maps(probs, layout, 0);
  // No class token: what each patch receives, averaged over the queries.
  return probs.mean(2).reshape({probs.size(0), probs.size(1), layout.height, layout.width});
}

torch::Tensor pe_similarity_maps(ViT& model, std::int64_t grid_h, std::int64_t grid_w) {
  if (!model->input_pe) return {};
  torch::NoGradGuard no_grad;
  const auto layout = heads::TokenLayout::grid(grid_h, grid_w, model->options.class_token() ? 1 : 0);
  auto emb = model->input_pe->embedding(layout.prefix + grid_h * grid_w, layout,
                                        torch::TensorOptions().dtype(torch::kFloat32).device(model->patch_embed->weight.device()));
  if (!emb.defined()) return {};
  return heads::positional_similarity_maps(emb.cpu(), layout);
}

// ---- registry ---------------------------------------------------------------------------------

namespace {
struct Preset {
  ModelInfo info;
  std::function<ViTOptions()> make;
};

ViTOptions size_preset(const std::string& size) {
  if (size == "tiny") return ViTOptions().dim(192).heads(3);
  if (size == "small") return ViTOptions().dim(384).heads(6);
  return ViTOptions().dim(768).heads(12);
}

const std::vector<Preset>& presets() {
  static const std::vector<Preset> table = [] {
    std::vector<Preset> t;
    for (const std::string size : {"tiny", "small", "base"}) {
      t.push_back({{"deit_" + size + "_patch16", "DeiT-" + size + ": learned absolute PE, class token, 224px"},
                   [size] { return size_preset(size).pe("learned"); }});
      t.push_back({{"cpvt_" + size, "CPVT-" + size + ": PEG (3x3 depthwise, zero padding) after block 0"},
                   [size] { return size_preset(size).pe("peg").pe_after_blocks({0}); }});
      t.push_back({{"cpvt_gap_" + size, "CPVT-GAP-" + size + ": PEG after block 0, no class token, global average pool"},
                   [size] { return size_preset(size).pe("peg").pe_after_blocks({0}).class_token(false); }});
    }
    t.push_back({{"cpvt_tiny_pos0to4", "CPVT-tiny with a PEG after each of blocks 0-4"},
                 [] { return size_preset("tiny").pe("peg").pe_after_blocks({0, 1, 2, 3, 4}); }});
    t.push_back({{"vit_tiny_patch4_28", "4 blocks, width 96, 3 heads, patch 4 on 28x28 grey images (MNIST-sized)"},
                 [] { return ViTOptions().img_size(28).patch_size(4).in_chans(1).dim(96).depth(4).heads(3).num_classes(10); }});
    t.push_back({{"vit_deep_patch4_28", "8 blocks, width 64, 2 heads, patch 4 on 28x28 grey images (room for PEG-position ablations)"},
                 [] { return ViTOptions().img_size(28).patch_size(4).in_chans(1).dim(64).depth(8).heads(2).num_classes(10); }});
    t.push_back({{"vit_tiny_patch4_32", "4 blocks, width 96, 3 heads, patch 4 on 32x32 colour images (CIFAR-sized)"},
                 [] { return ViTOptions().img_size(32).patch_size(4).in_chans(3).dim(96).depth(4).heads(3).num_classes(10); }});
    return t;
  }();
  return table;
}
}  // namespace

const std::vector<ModelInfo>& list_vit_models() {
  static const std::vector<ModelInfo> infos = [] {
    std::vector<ModelInfo> v;
    for (const auto& p : presets()) v.push_back(p.info);
    return v;
  }();
  return infos;
}

ViTOptions vit_preset(const std::string& name) {
  for (const auto& p : presets())
    if (p.info.name == name) return p.make();
  std::string valid;
  for (const auto& p : presets()) valid += (valid.empty() ? "" : ", ") + p.info.name;
  throw core::InputError("model '" + name + "' is unknown (valid: " + valid + ")");
}

ViT create_vit(const std::string& name, const std::function<void(ViTOptions&)>& adjust) {
  ViTOptions o = vit_preset(name);
  if (adjust) adjust(o);
  return ViT(o);
}

}  // namespace pesuite::vision
