// Residual-stream traces of CLIP's image tower and of the ViT classifier, for heads::decompose.
#include "pesuite/vision/decompose.h"

#include "pesuite/core/error.h"

namespace pesuite::vision {
namespace {

// Eval mode and no autograd for one trace; the model's mode is restored afterwards.
class EvalScope {
 public:
  explicit EvalScope(torch::nn::Module& m) : m_(m), was_training_(m.is_training()) { m_.eval(); }
  ~EvalScope() {
    if (was_training_) m_.train();
  }
  EvalScope(const EvalScope&) = delete;
  EvalScope& operator=(const EvalScope&) = delete;

 private:
  torch::nn::Module& m_;
  bool was_training_;
  torch::NoGradGuard no_grad_;
};

torch::Tensor one_hot(std::int64_t n, std::int64_t at, const torch::TensorOptions& opts) {
  auto p = torch::zeros({n}, opts);
  p[at] = 1;
  return p;
}

}  // namespace

// ---- CLIP ---------------------------------------------------------------------------------------

heads::ResidualStream clip_residual_stream(ClipVisionTransformer& model, const torch::Tensor& images) {
  EvalScope scope(*model);
  heads::ResidualStream s;
  auto x = model->embed(images);
  s.parts.push_back({"embedding", x});
  for (std::int64_t i = 0; i < model->transformer->layers(); ++i) {
    auto b = model->transformer->block(i);
    auto t = b->attn->trace(b->ln_1(x), /*causal=*/false);
    x = x + t.out;
    s.attention.push_back({"attn." + std::to_string(i), t.probs, t.values, b->attn->out_proj->weight, b->attn->out_proj->bias});
    auto m = b->mlp(b->ln_2(x));
    x = x + m;
    s.parts.push_back({"mlp." + std::to_string(i), m});
  }
  s.residual = x;
  return s;
}

heads::Readout clip_readout(const ClipVisionTransformer& model, std::int64_t tokens) {
  heads::Readout r;
  r.pool = one_hot(tokens, 0, model->ln_post->weight.options());
  r.norm_then_pool = false;  // ln_post on the class token
  r.norm_weight = model->ln_post->weight;
  r.norm_bias = model->ln_post->bias;
  r.norm_eps = model->ln_post->options.eps();
  r.proj = model->proj;
  return r;
}

heads::Decomposition decompose_clip_image(ClipVisionTransformer& model, const torch::Tensor& images,
                                          heads::DecomposeOptions options) {
  auto s = clip_residual_stream(model, images);
  torch::NoGradGuard no_grad;
  auto r = clip_readout(model, s.residual.size(1));
  if (options.track_source() < 0) options.track_source(0);
  return heads::decompose(s, r, options);
}

// ---- ViT / DeiT / CPVT --------------------------------------------------------------------------

heads::ResidualStream vit_residual_stream(ViT& model, const torch::Tensor& images) {
  EvalScope scope(*model);
  const auto& o = model->options;
  if (!images.defined() || images.dim() != 4 || images.size(1) != o.in_chans())
    throw core::InputError("vit: expected images [B, " + std::to_string(o.in_chans()) + ", H, W], got " +
                     (images.defined() ? c10::str(images.sizes()) : std::string("undefined")));
  if (images.size(2) % o.patch_size() || images.size(3) % o.patch_size())
    throw core::InputError("vit: image size " + std::to_string(images.size(2)) + "x" + std::to_string(images.size(3)) +
                     " is not a multiple of the patch size " + std::to_string(o.patch_size()));
  heads::ResidualStream s;
  auto x = model->patch_embed(images).flatten(2).transpose(1, 2);
  if (o.class_token()) x = torch::cat({model->cls_token.expand({x.size(0), 1, x.size(2)}), x}, 1);
  s.parts.push_back({"embedding", x});
  heads::AttentionArgs args;
  args.layout = model->layout_for(images.size(2), images.size(3));
  // A token encoding's contribution is what it adds: its output minus its input.
  auto add_token_pe = [&](const std::shared_ptr<heads::TokenPE>& pe, const std::string& name) {
    auto delta = pe->forward(x, args.layout) - x;
    x = x + delta;
    s.parts.push_back({name, delta});
  };
  if (model->input_pe) add_token_pe(model->input_pe, "pos_embed");
  std::size_t next_pe = 0;
  const auto& after = o.pe_after_blocks();
  if (next_pe < model->block_pe.size() && after[next_pe] < 0) add_token_pe(model->block_pe[next_pe++], "peg.before");
  for (std::size_t i = 0; i < model->blocks->size(); ++i) {
    auto b = model->blocks[i]->as<Block>();
    auto& attn = b->attn;
    if (!attn->qkv) throw core::InputError("vit decomposition: block " + std::to_string(i) + " has no packed qkv projection");
    auto n1 = b->norm1(x);
    // The block's own attention gives the probabilities (every positional term included); the
    // values and the output are recomputed from them, so the trace ignores head interventions.
    attn->set_capture(heads::CaptureOptions().probs(true));
    try {
      attn->forward(n1, args);
    } catch (...) {
      attn->clear_capture();
      throw;
    }
    auto probs = attn->captured().probs;
    attn->clear_capture();
    const auto B = x.size(0), N = x.size(1), H = attn->heads(), hd = attn->head_dim(), inner = H * hd;
    auto wv = attn->qkv->weight.narrow(0, 2 * inner, inner);
    auto bv = attn->qkv->bias.defined() ? attn->qkv->bias.narrow(0, 2 * inner, inner) : torch::Tensor();
    auto values = torch::nn::functional::linear(n1, wv, bv).view({B, N, H, hd}).transpose(1, 2);
    auto out = attn->proj(torch::matmul(probs, values).transpose(1, 2).reshape({B, N, inner}));
    x = x + out;
    s.attention.push_back({"attn." + std::to_string(i), probs, values, attn->proj->weight, attn->proj->bias});
    auto m = b->fc2(torch::gelu(b->fc1(b->norm2(x))));
    x = x + m;
    s.parts.push_back({"mlp." + std::to_string(i), m});
    if (next_pe < model->block_pe.size() && after[next_pe] == static_cast<std::int64_t>(i))
      add_token_pe(model->block_pe[next_pe++], "peg.after_" + std::to_string(i));
  }
  s.residual = x;
  return s;
}

heads::Readout vit_readout(const ViT& model, std::int64_t tokens) {
  heads::Readout r;
  const auto opts = model->norm->weight.options();
  if (model->options.class_token()) {
    r.pool = one_hot(tokens, 0, opts);
    r.norm_then_pool = false;  // the class token's row, normalised
  } else {
    r.pool = torch::full({tokens}, 1.0 / static_cast<double>(tokens), opts);
    r.norm_then_pool = true;   // every token normalised, then averaged
  }
  r.norm_weight = model->norm->weight;
  r.norm_bias = model->norm->bias;
  r.norm_eps = model->norm->options.eps();
  r.proj = model->head->weight.t();
  r.proj_bias = model->head->bias;
  return r;
}

heads::Decomposition decompose_vit(ViT& model, const torch::Tensor& images, heads::DecomposeOptions options) {
  auto s = vit_residual_stream(model, images);
  torch::NoGradGuard no_grad;
  if (options.track_source() < 0 && model->options.class_token()) options.track_source(0);
  return heads::decompose(s, vit_readout(model, s.residual.size(1)), options);
}

}  // namespace pesuite::vision
