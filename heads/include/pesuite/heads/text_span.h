#pragma once
// TextSpan (Gandelsman et al., ICLR 2024, section 4.1; clip_text_span's
// compute_complete_text_set.py, replace_with_iterative_removal): describe one attention head by
// the texts that span its output space.
//
//   using namespace pesuite::heads;
//   // outputs: [images, E] one head's direct terms (Decomposition::heads[:, l, h]);
//   // texts:   [T, E] candidate text embeddings (a text tower's, normalised)
//   TextSpanResult r = text_span(outputs, texts, TextSpanOptions().rank(80).iterations(20));
//   for (size_t i = 0; i < r.texts.size(); ++i) std::cout << pool[r.texts[i]] << " " << r.explained[i] << "\n";
//
// The algorithm, as the paper's code:
//  1. Project the texts onto the span of the top `rank` right-singular vectors of the (uncentred)
//     outputs; the projected texts are not renormalised.
//  2. Centre the outputs over images; the reconstruction starts at their mean.
//  3. Repeat `iterations` times: pick the text t whose projections outputs @ t have the largest
//     standard deviation over images (unbiased; first index on ties); add the outputs' component
//     along t to the reconstruction; remove that component from the outputs and from every text.
// Stops early when no text has variance left (the best score is below 1e-10 of the first pick's:
// every remaining text is orthogonal to what is left of the outputs, or zero), where the paper's
// code would go on picking round-off or divide by zero.
// Computed in float64 on the inputs' device; deterministic.
#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace pesuite::heads {

struct TextSpanOptions {
  TORCH_ARG(std::int64_t, rank) = 80;        // singular directions kept (clamped to min(images, E))
  TORCH_ARG(std::int64_t, iterations) = 20;  // texts picked per head
};

struct TextSpanResult {
  std::vector<std::int64_t> texts;  // picked rows of `texts`, in order
  std::vector<double> stddev;       // the selection score of each pick: std over images of outputs @ t
  // Each pick's share of the outputs' total variance (sum over dims of the centred outputs'
  // variance): what removing its direction took away. Sums to <= 1.
  std::vector<double> explained;
  torch::Tensor reconstruction;     // [images, E] float64: mean + every removed component
};

// InputError for an empty text pool, fewer than 2 images, mismatched widths, rank < 1 or
// iterations < 0.
TextSpanResult text_span(const torch::Tensor& outputs, const torch::Tensor& texts,
                         const TextSpanOptions& options = TextSpanOptions());

}  // namespace pesuite::heads
