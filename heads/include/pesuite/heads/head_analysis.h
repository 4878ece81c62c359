#pragma once
// Head analysis on captured attention: entropy, mean attention distance, class-token attention
// maps, positional similarity of a PE, and head importance / pruning after Michel et al. 2019
// ("Are Sixteen Heads Really Better than One?"). Returns tensors; writing images is the vision
// frontend's job (no OpenCV here).
//
//   using namespace pesuite::heads;
//   attn->set_capture(CaptureOptions().probs(true));
//   model->forward(x);
//   torch::Tensor p = attn->captured().probs;                 // [B, H, N, N]
//   torch::Tensor ent = attention_entropy(p);                 // [H]
//   torch::Tensor dist = mean_attention_distance(p, layout);  // [H], in grid cells
//   torch::Tensor maps = cls_attention_maps(p, layout);       // [B, H, h, w]
//
//   torch::Tensor imp = head_importance(layers, [&] { return loss_on_next_batch(); }, 16);  // [L, H]
//   torch::Tensor keep = prune_mask(imp, /*count=*/4);        // [L, H], 0 = pruned
//   apply_head_mask(layers, keep);
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "pesuite/heads/attention.h"
#include "pesuite/heads/positional.h"

namespace pesuite::heads {

// Mean over batch and queries of -sum_j p_ij log p_ij (natural log, 0 log 0 = 0): [H].
// probs: [B, H, Nq, Nk] or [H, Nq, Nk]. query_mask (optional, [B, Nq] bool, true = padding) leaves
// padded queries out of the mean.
torch::Tensor attention_entropy(const torch::Tensor& probs, const torch::Tensor& query_mask = {});

// Mean over batch and positioned queries of sum_j p_ij * ||cell_i - cell_j|| over positioned keys
// (prefix rows and columns left out, not renormalised, as in the ViT paper's figure): [H] in grid
// cells; multiply by the patch size for pixels. 1D layouts use |i - j|.
torch::Tensor mean_attention_distance(const torch::Tensor& probs, const TokenLayout& layout);

// Attention of query `query` (default 0: the class token) to the grid cells, per head:
// [B, H, h, w] from [B, H, N, N], or [H, h, w] from [H, N, N].
torch::Tensor cls_attention_maps(const torch::Tensor& probs, const TokenLayout& layout, std::int64_t query = 0);

// Cosine similarity between the rows of a positional embedding [P, D]: [P, P]. With a grid, row i
// reshaped to [h, w] is the similarity map of position i (ViT paper, figure 7).
torch::Tensor positional_similarity(const torch::Tensor& embedding);
// The same as maps: [h*w, h, w] for the grid rows of an embedding [prefix + h*w, D].
torch::Tensor positional_similarity_maps(const torch::Tensor& embedding, const TokenLayout& layout);

// Head importance I_h = E_batches |dL/dxi_h| for every layer (Michel et al. 2019). `next_loss`
// runs the model on the next batch and returns the scalar loss; it is called `batches` times.
// Gradients are taken with autograd::grad on the gates only, so parameter .grad is left alone.
// With normalize_per_layer, each layer's row is divided by its L2 norm (as the paper's code).
torch::Tensor head_importance(const std::vector<MultiHeadAttention>& layers, const std::function<torch::Tensor()>& next_loss,
                              std::int64_t batches, bool normalize_per_layer = true);

// (layer, head) pairs from least to most important.
std::vector<std::pair<std::int64_t, std::int64_t>> rank_heads(const torch::Tensor& importance);

// Keep mask [L, H] (1 keep, 0 prune) with the `count` least important heads pruned globally; at
// least one head per layer always stays.
torch::Tensor prune_mask(const torch::Tensor& importance, std::int64_t count);

// Sets each layer's head intervention to keep[l] (removal, no mean).
void apply_head_mask(const std::vector<MultiHeadAttention>& layers, const torch::Tensor& keep);

}  // namespace pesuite::heads
