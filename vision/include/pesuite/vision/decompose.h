#pragma once
// The exact direct-term decomposition (heads/decomposition.h) for the suite's image models: a
// CLIP image embedding (Gandelsman et al.'s setting) and the class logits of a ViT / DeiT / CPVT
// classifier. Each model's forward is retraced here with explicit attention, so the terms are the
// unmodified network's (head interventions set on the model are not applied; a ViT block's
// attention capture settings are cleared by the trace, which captures its probabilities); the
// trace's output equals the model's forward up to float rounding (tests check both).
//
//   using namespace pesuite::vision;
//   heads::Decomposition d = decompose_clip_image(model->visual, images,
//                                                 heads::DecomposeOptions().normalize(true));
//   // d.output: [B, E] = image embedding / its norm; d.total() == d.output
//   // d.parts: [B, 1 + L, E] ("embedding" = ln_pre's output at the class token, "mlp.0", ...)
//   // d.tokens: [B, L, 1 + h*w, H, E] per (layer, source token, head); d.source_heads: class -> class
//   heads::Decomposition v = decompose_vit(vit, images);      // terms of the class logits
//
// Terms of a ViT classifier (vit.h), in the order they enter the residual stream:
//   "embedding"    the patch embedding (plus the class token's own value in its row)
//   "pos_embed"    an absolute encoding's addition (learned, sincos2d, fourier), when there is one
//   "peg.before"   a PEG before block 0 (pe_after_blocks = -1): its residual conv(x) on the patch
//                  tokens, 0 on the class token
//   "mlp.i"        block i's MLP output
//   "peg.after_i"  the PEG after block i, likewise
//   attention layer i ("attn.i"), split by (source token, head); RoPE and attention biases act
//   through the probabilities, so their effect is inside these terms.
// Pooling: with a class token, the class token's row after the final norm (a PEG term is then 0,
// its effect being indirect); CPVT-GAP normalises every token and averages (heads::Readout
// norm_then_pool), so every term is the pooled average of its per-token linearised values, each
// token with its own mean and std. The head (Linear) is the projection; its bias is shared like
// the norm's. The terms sum to the logits exactly (float rounding).
#include <torch/torch.h>

#include "pesuite/heads/decomposition.h"
#include "pesuite/vision/clip.h"
#include "pesuite/vision/vit.h"

namespace pesuite::vision {

// CLIP image tower: parts "embedding" (ln_pre's output) and "mlp.0".."mlp.{L-1}", attention
// layers "attn.0".., readout = class token -> ln_post -> proj. Eval mode, no grad.
heads::ResidualStream clip_residual_stream(ClipVisionTransformer& model, const torch::Tensor& images);
// The readout for a stream of `tokens` tokens (pool: one-hot at the class token).
heads::Readout clip_readout(const ClipVisionTransformer& model, std::int64_t tokens);
// track_source defaults to 0, the class token (for "class token -> class token" ablations).
heads::Decomposition decompose_clip_image(ClipVisionTransformer& model, const torch::Tensor& images,
                                          heads::DecomposeOptions options = heads::DecomposeOptions());

// ViT / DeiT / CPVT classifier: the terms listed above; readout = final norm, pooling, head.
heads::ResidualStream vit_residual_stream(ViT& model, const torch::Tensor& images);
// The readout for a stream of `tokens` tokens (class token, or the mean for GAP).
heads::Readout vit_readout(const ViT& model, std::int64_t tokens);
// track_source defaults to 0 for class-token models (none for GAP).
heads::Decomposition decompose_vit(ViT& model, const torch::Tensor& images,
                                   heads::DecomposeOptions options = heads::DecomposeOptions());

}  // namespace pesuite::vision
