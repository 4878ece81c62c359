// TextSpan: greedy text basis of one head's output space.
#include "pesuite/heads/text_span.h"

#include <algorithm>

#include "pesuite/core/error.h"

namespace pesuite::heads {

TextSpanResult text_span(const torch::Tensor& outputs, const torch::Tensor& texts, const TextSpanOptions& options) {
  if (!outputs.defined() || outputs.dim() != 2) throw core::InputError("text_span: outputs must be [images, E]");
  if (!texts.defined() || texts.dim() != 2 || texts.size(0) == 0)
    throw core::InputError("text_span: the text pool is empty (texts must be [T, E] with T >= 1)");
  if (outputs.size(0) < 2) throw core::InputError("text_span: needs at least 2 images, got " + std::to_string(outputs.size(0)));
  if (texts.size(1) != outputs.size(1))
    throw core::InputError("text_span: text width " + std::to_string(texts.size(1)) + " differs from the outputs' " +
                     std::to_string(outputs.size(1)));
  if (options.rank() < 1) throw core::InputError("text_span: rank must be >= 1");
  if (options.iterations() < 0) throw core::InputError("text_span: iterations must be >= 0");

  auto data = outputs.to(torch::kFloat64);
  auto t = texts.to(data.options());
  // 1. Texts onto the top right-singular subspace of the uncentred outputs. vh's rows are
  //    orthonormal, so the paper's vh^T (vh vh^T)^-1 vh is vh^T vh.
  auto svd = torch::linalg_svd(data, /*full_matrices=*/false);
  auto vh = std::get<2>(svd);
  vh = vh.narrow(0, 0, std::min(options.rank(), vh.size(0)));
  t = torch::matmul(torch::matmul(t, vh.t()), vh);
  // 2. Centre.
  auto mean = data.mean(0, true);
  data = data - mean;
  TextSpanResult r;
  r.reconstruction = mean.expand_as(data).clone();
  const double total_var = (data * data).sum().item<double>() / static_cast<double>(data.size(0) - 1);

  // 3. Greedy picks. "Nothing left": the best score is below 1e-10 of the first pick's, which
  // is float64 round-off after the outputs' span has been used up.
  double first_std = 0;
  for (std::int64_t it = 0; it < options.iterations(); ++it) {
    auto stds = torch::matmul(data, t.t()).std(0, /*unbiased=*/true).to(torch::kCPU).contiguous();
    const double* s = stds.data_ptr<double>();
    std::int64_t best = 0;
    for (std::int64_t j = 1; j < stds.size(0); ++j)
      if (s[j] > s[best]) best = j;  // first index on ties, as np.argmax
    auto tb = t[best];
    const double norm2 = tb.dot(tb).item<double>();
    if (it == 0) first_std = s[best];
    if (!(s[best] > 1e-10 * first_std) || !(s[best] > 0) || !(norm2 > 0)) break;
    auto coeff = torch::matmul(data, tb) / norm2;  // [images]
    auto component = coeff.unsqueeze(1) * tb.unsqueeze(0);
    const double removed = (component * component).sum().item<double>() / static_cast<double>(data.size(0) - 1);
    r.reconstruction += component;
    data = data - component;
    t = t - (torch::matmul(t, tb) / norm2).unsqueeze(1) * tb.unsqueeze(0);
    r.texts.push_back(best);
    r.stddev.push_back(s[best]);
    r.explained.push_back(total_var > 0 ? removed / total_var : 0.0);
  }
  return r;
}

}  // namespace pesuite::heads
