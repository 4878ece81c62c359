#pragma once
// Exact decomposition of a transformer's pooled output into direct terms (Gandelsman, Efros and
// Steinhardt, "Interpreting CLIP's Image Representation via Text-Based Decomposition", ICLR 2024;
// code yossigandelsman/clip_text_span, prs_hook.py), for any model that can write its residual
// stream as a sum of parts: the embedding, each MLP, any conditional-encoding residual (PEG), and
// each attention layer split by (source token, head). Mean-ablation of chosen terms works on the
// result. Model-specific tracing lives in the frontends (vision/decompose.h for CLIP and ViT).
//
//   using namespace pesuite::heads;
//   ResidualStream s = ...;            // a model's trace: parts [B, N, D], attention probs / values
//   Readout r;  r.pool = one_hot_0;  r.norm_weight = ln.weight; ...; r.proj = proj;   // [D, E]
//   Decomposition d = decompose(s, r, DecomposeOptions().spatial(true));
//   // d.total() == d.output (to float rounding); d.tokens: [B, L, M, H, E]
//   Decomposition mean = mean_terms(d);                      // or TermMeans over many batches
//   AblationSpec spec;  spec.parts = {"mlp.*"};  spec.layers = {0, 1, 2};
//   torch::Tensor ablated = mean_ablate(d, mean, spec);      // [B, E]
//
// The final LayerNorm is linearised with the image's own statistics, as in the paper: with the
// pooled residual z = sum_k c_k, mean mu and std sigma = sqrt(var + eps),
//   LN(z) = sum_k [ gamma * (c_k - s_k mu) / sigma + s_k beta ],   sum_k s_k = 1,
// and the projection is applied to each bracket (its bias, if any, shared out by the same s_k).
// Shares follow prs_hook.py: each component (a part or a whole attention layer) gets 1/K of the
// mean and bias, K = parts + attention layers (2L + 1 for CLIP: ln_pre output, L MLPs, L
// attention layers), and an attention layer's share, and its out-projection bias, are split
// equally over its H x M (head, source token) terms. With per-token normalisation before pooling
// (timm's global average pooling), each pooled token is linearised with its own mean and std and
// the terms are pooled with the same weights; the sum stays exact.
//
// A (layer, head, source m) term at the pooled query n is p[h, n, m] * v[h, m] W_O^h, with
// v = LN_1(x) W_V^h + b_V^h the value vector (its bias included), W_O^h the head's slice of the
// out-projection: attention weights times projected values, exactly the layer's output.
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace pesuite::heads {

// One additive contribution to the residual stream, at every token.
struct StreamPart {
  std::string name;     // "embedding", "mlp.3", "peg.after_0", ...
  torch::Tensor value;  // [B, N, D]
};

// One attention layer, to be split into (source token, head) terms.
struct AttentionPart {
  std::string name;          // "attn.3"
  torch::Tensor probs;       // [B, H, N, M] softmax weights (after every bias and mask)
  torch::Tensor values;      // [B, H, M, hd] value vectors, bias included
  torch::Tensor out_weight;  // [D, H * hd] out-projection (head h owns columns h*hd .. (h+1)*hd)
  torch::Tensor out_bias;    // [D], or undefined
};

// A model's residual stream written as a sum: residual == sum of parts + attention outputs.
struct ResidualStream {
  std::vector<StreamPart> parts;          // in the order they were added
  std::vector<AttentionPart> attention;   // in layer order
  torch::Tensor residual;                 // [B, N, D]: the stream the final norm reads
};

// How the model reads its stream out: pool tokens, LayerNorm, project.
struct Readout {
  torch::Tensor pool;           // [N] or [B, N] token weights: one-hot at the class token, 1/N for GAP
  bool norm_then_pool = false;  // true: LayerNorm each token, then pool (timm GAP); false: pool, then LayerNorm
  torch::Tensor norm_weight;    // [D] (undefined = 1)
  torch::Tensor norm_bias;      // [D] (undefined = 0)
  double norm_eps = 1e-5;
  torch::Tensor proj;           // [D, E]: output = normed @ proj (+ proj_bias); undefined = identity
  torch::Tensor proj_bias;      // [E] or undefined
};

struct DecomposeOptions {
  // Keep the source-token axis of the attention terms (Decomposition::tokens). Off, only the
  // per-head sums over sources are kept (memory: tokens is B x L x M x H x E).
  TORCH_ARG(bool, spatial) = true;
  // Divide every term and the output by the output's norm (prs_hook.py's finalize), so that terms
  // dotted with unit text embeddings add up to the cosine similarity.
  TORCH_ARG(bool, normalize) = false;
  // A source token whose per-head terms are also kept apart (Decomposition::source_heads): the
  // class token (0) for class-token models, for "class token to class token" ablations. -1 = none.
  TORCH_ARG(std::int64_t, track_source) = -1;
};

// The output as a sum of terms, all in the output space (E).
struct Decomposition {
  std::vector<std::string> part_names;       // rows of `parts`
  std::vector<std::string> attention_names;  // layers of `heads` / `tokens`
  torch::Tensor parts;         // [B, P, E]
  torch::Tensor heads;         // [B, L, H, E]: each head's term summed over source tokens
  torch::Tensor source_heads;  // [B, L, H, E]: the terms from source `track_source` (undefined if none)
  torch::Tensor tokens;        // [B, L, M, H, E] per source token (spatial only)
  torch::Tensor output;        // [B, E]: the readout of the residual itself (divided by `scale`)
  torch::Tensor scale;         // [B]: what every term was divided by (ones unless normalize)
  std::int64_t track_source = -1;

  // Sum of every term: parts + heads. Equals `output` up to float rounding.
  torch::Tensor total() const;
  std::int64_t batch() const { return output.size(0); }
  // Index of a part by name; InputError listing the names when absent.
  std::int64_t part_index(const std::string& name) const;
};

// The decomposition of `readout(stream.residual)`. InputError when shapes disagree.
Decomposition decompose(const ResidualStream& stream, const Readout& readout,
                        const DecomposeOptions& options = DecomposeOptions());

// The readout of a residual [B, N, D] -> [B, E] (what decompose's `output` is before scaling).
torch::Tensor read_out(const torch::Tensor& residual, const Readout& readout);

// ---- mean-ablation ----------------------------------------------------------------------------
// Terms replaced by their mean over a dataset, the rest kept (the paper's section 3 ablations).
struct AblationSpec {
  // Parts by name, or by prefix with a trailing '*' ("mlp.*" = every MLP). The paper's "MLPs" row
  // also replaces the ln_pre term: {"embedding", "mlp.*"}.
  std::vector<std::string> parts;
  std::vector<std::int64_t> layers;                            // whole attention layers (all heads, all sources)
  std::vector<std::pair<std::int64_t, std::int64_t>> heads;    // single (layer, head) terms, all sources
  // Every head's term from the tracked source (class token -> class token), in every layer, or
  // only in `source_layers` when that is not empty.
  bool source_terms = false;
  std::vector<std::int64_t> source_layers;

  // Attention layers first .. last (inclusive), e.g. layers_range(0, l) for "layers 0..l".
  static std::vector<std::int64_t> layers_range(std::int64_t first, std::int64_t last);
};

// Mean over the batch of parts, heads and source_heads (tokens are not averaged): a
// Decomposition with batch 1, the `means` argument of mean_ablate.
Decomposition mean_terms(const Decomposition& d);

// Running mean over many batches (the same model and image size), for datasets too large for one
// Decomposition.
class TermMeans {
 public:
  void add(const Decomposition& d);
  Decomposition mean() const;  // core::InputError before the first add
  std::int64_t count() const { return count_; }

 private:
  Decomposition sum_;
  std::int64_t count_ = 0;
};

// The output with the chosen terms replaced by their means: [B, E]. A term chosen twice counts
// once. `means` must come from decompositions made with the same options (normalize or not) and
// image size; dotted with class text embeddings, the result gives the ablated zero-shot scores. InputError for an unknown part, a layer or head out of range, or source_terms without
// tracked source terms.
torch::Tensor mean_ablate(const Decomposition& d, const Decomposition& means, const AblationSpec& spec);

}  // namespace pesuite::heads
