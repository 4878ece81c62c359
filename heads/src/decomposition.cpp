// Exact decomposition of a pooled, layer-normalised, projected residual stream into direct terms.
#include "pesuite/heads/decomposition.h"

#include "pesuite/core/error.h"

namespace pesuite::heads {
namespace {

std::string sizes_text(const torch::Tensor& t) { return t.defined() ? c10::str(t.sizes()) : std::string("undefined"); }

void expect(bool ok, const std::string& what) {
  if (!ok) throw core::InputError("decompose: " + what);
}

// What every term needs from the readout: token weights w = pool / sigma, the mean's weight
// bm = sum_n pool_n mu_n / sigma_n, and how many times beta enters the output.
struct Linearization {
  torch::Tensor w;         // [B, N]
  torch::Tensor bm;        // [B]
  torch::Tensor beta_mul;  // [B]
  torch::Tensor gamma, beta;  // [D]
  torch::Tensor proj, proj_bias;
};

torch::Tensor pool_weights(const Readout& r, std::int64_t B, std::int64_t N, const torch::TensorOptions& opts) {
  expect(r.pool.defined(), "readout.pool is undefined");
  auto p = r.pool.to(opts);
  if (p.dim() == 1) {
    expect(p.size(0) == N, "readout.pool has " + std::to_string(p.size(0)) + " tokens, the stream " + std::to_string(N));
    return p.unsqueeze(0).expand({B, N});
  }
  expect(p.dim() == 2 && p.size(0) == B && p.size(1) == N,
         "readout.pool must be [N] or [B, N] = [" + std::to_string(B) + ", " + std::to_string(N) + "], got " + sizes_text(p));
  return p;
}

Linearization linearize(const torch::Tensor& residual, const Readout& r) {
  const auto B = residual.size(0), N = residual.size(1), D = residual.size(2);
  const auto opts = residual.options();
  Linearization lin;
  auto pool = pool_weights(r, B, N, opts);
  lin.gamma = r.norm_weight.defined() ? r.norm_weight.to(opts) : torch::ones({D}, opts);
  lin.beta = r.norm_bias.defined() ? r.norm_bias.to(opts) : torch::zeros({D}, opts);
  expect(lin.gamma.dim() == 1 && lin.gamma.size(0) == D, "norm weight must be [" + std::to_string(D) + "], got " + sizes_text(lin.gamma));
  expect(lin.beta.dim() == 1 && lin.beta.size(0) == D, "norm bias must be [" + std::to_string(D) + "], got " + sizes_text(lin.beta));
  if (r.norm_then_pool) {
    auto mu = residual.mean(-1);                                              // [B, N]
    auto sigma = (residual.var(-1, /*unbiased=*/false) + r.norm_eps).sqrt();  // LayerNorm's std
    lin.w = pool / sigma;
    lin.bm = (lin.w * mu).sum(1);
    lin.beta_mul = pool.sum(1);
  } else {
    auto z = torch::einsum("bn,bnd->bd", {pool, residual});
    auto sigma = (z.var(-1, /*unbiased=*/false) + r.norm_eps).sqrt();  // [B]
    lin.w = pool / sigma.unsqueeze(1);
    lin.bm = z.mean(-1) / sigma;
    lin.beta_mul = torch::ones({B}, opts);
  }
  if (r.proj.defined()) {
    lin.proj = r.proj.to(opts);
    expect(lin.proj.dim() == 2 && lin.proj.size(0) == D,
           "readout.proj must be [" + std::to_string(D) + ", E], got " + sizes_text(lin.proj));
  }
  const auto E = lin.proj.defined() ? lin.proj.size(1) : D;
  if (r.proj_bias.defined()) {
    lin.proj_bias = r.proj_bias.to(opts);
    expect(lin.proj_bias.dim() == 1 && lin.proj_bias.size(0) == E,
           "readout.proj_bias must be [" + std::to_string(E) + "], got " + sizes_text(lin.proj_bias));
  }
  return lin;
}

// gamma * pre + s * beta_mul * beta, projected, plus s * proj_bias. pre: [B, ..., D].
torch::Tensor finish(const Linearization& lin, const torch::Tensor& pre, double share) {
  std::vector<std::int64_t> bshape(static_cast<std::size_t>(pre.dim()), 1);
  bshape[0] = pre.size(0);
  auto x = pre * lin.gamma + (lin.beta_mul.view(bshape) * share) * lin.beta;
  if (lin.proj.defined()) x = torch::matmul(x, lin.proj);
  if (lin.proj_bias.defined()) x = x + share * lin.proj_bias;
  return x;
}

std::vector<std::int64_t> bview(std::int64_t b, std::int64_t dims) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(dims), 1);
  v[0] = b;
  return v;
}

}  // namespace

torch::Tensor Decomposition::total() const {
  auto t = parts.sum(1);
  if (heads.defined() && heads.numel() > 0) t = t + heads.sum(std::vector<std::int64_t>{1, 2});
  return t;
}

std::int64_t Decomposition::part_index(const std::string& name) const {
  for (std::size_t i = 0; i < part_names.size(); ++i)
    if (part_names[i] == name) return static_cast<std::int64_t>(i);
  std::string valid;
  for (const auto& n : part_names) valid += (valid.empty() ? "" : ", ") + n;
  throw core::InputError("decomposition: no part '" + name + "' (parts: " + valid + ")");
}

torch::Tensor read_out(const torch::Tensor& residual, const Readout& r) {
  expect(residual.defined() && residual.dim() == 3, "residual must be [B, N, D], got " + sizes_text(residual));
  const auto B = residual.size(0), N = residual.size(1), D = residual.size(2);
  const auto opts = residual.options();
  auto pool = pool_weights(r, B, N, opts);
  auto w = r.norm_weight.defined() ? r.norm_weight.to(opts) : torch::Tensor();
  auto b = r.norm_bias.defined() ? r.norm_bias.to(opts) : torch::Tensor();
  torch::Tensor y;
  if (r.norm_then_pool) {
    y = torch::einsum("bn,bnd->bd", {pool, torch::layer_norm(residual, {D}, w, b, r.norm_eps)});
  } else {
    y = torch::layer_norm(torch::einsum("bn,bnd->bd", {pool, residual}), {D}, w, b, r.norm_eps);
  }
  if (r.proj.defined()) y = torch::matmul(y, r.proj.to(opts));
  if (r.proj_bias.defined()) y = y + r.proj_bias.to(opts);
  return y;
}

Decomposition decompose(const ResidualStream& stream, const Readout& readout, const DecomposeOptions& options) {
  const auto& res = stream.residual;
  expect(res.defined() && res.dim() == 3, "stream.residual must be [B, N, D], got " + sizes_text(res));
  const auto B = res.size(0), N = res.size(1), D = res.size(2);
  const auto opts = res.options();
  const auto lin = linearize(res, readout);
  const auto P = static_cast<std::int64_t>(stream.parts.size());
  const auto L = static_cast<std::int64_t>(stream.attention.size());
  expect(P + L > 0, "the stream has no parts");
  const double K = static_cast<double>(P + L);

  Decomposition d;
  d.track_source = options.track_source();
  std::vector<torch::Tensor> part_terms;
  for (const auto& p : stream.parts) {
    expect(p.value.defined() && p.value.sizes() == res.sizes(),
           "part '" + p.name + "' must be " + sizes_text(res) + " like the residual, got " + sizes_text(p.value));
    const double s = 1.0 / K;
    auto pre = torch::einsum("bn,bnd->bd", {lin.w, p.value.to(opts)}) - s * lin.bm.unsqueeze(1);
    part_terms.push_back(finish(lin, pre, s));
    d.part_names.push_back(p.name);
  }

  std::vector<torch::Tensor> head_terms, source_terms, token_terms;
  for (const auto& a : stream.attention) {
    const std::string who = "attention '" + a.name + "'";
    expect(a.probs.defined() && a.probs.dim() == 4 && a.probs.size(0) == B && a.probs.size(2) == N,
           who + ": probs must be [" + std::to_string(B) + ", H, " + std::to_string(N) + ", M], got " + sizes_text(a.probs));
    const auto H = a.probs.size(1), M = a.probs.size(3);
    expect(a.values.defined() && a.values.dim() == 4 && a.values.size(0) == B && a.values.size(1) == H && a.values.size(2) == M,
           who + ": values must be [" + std::to_string(B) + ", " + std::to_string(H) + ", " + std::to_string(M) +
               ", hd], got " + sizes_text(a.values));
    const auto hd = a.values.size(3);
    expect(a.out_weight.defined() && a.out_weight.dim() == 2 && a.out_weight.size(0) == D && a.out_weight.size(1) == H * hd,
           who + ": out_weight must be [" + std::to_string(D) + ", " + std::to_string(H * hd) + "], got " + sizes_text(a.out_weight));
    expect(!a.out_bias.defined() || (a.out_bias.dim() == 1 && a.out_bias.size(0) == D),
           who + ": out_bias must be [" + std::to_string(D) + "], got " + sizes_text(a.out_bias));
    if (options.track_source() >= 0)
      expect(options.track_source() < M, who + ": track_source " + std::to_string(options.track_source()) + " >= " +
                                             std::to_string(M) + " source tokens");
    const double s = 1.0 / (K * static_cast<double>(H * M));
    // Each head's value vectors through its slice of the out-projection, then gamma and proj:
    // G[b, h, m] is the image of v[h, m] W_O^h; a term is alpha[b, h, m] * G + a constant c[b].
    auto U = torch::einsum("bhmk,dhk->bhmd", {a.values.to(opts), a.out_weight.to(opts).view({D, H, hd})});
    auto G = U * lin.gamma;
    if (lin.proj.defined()) G = torch::matmul(G, lin.proj);
    auto alpha = torch::einsum("bn,bhnm->bhm", {lin.w, a.probs.to(opts)});
    auto pre_c = -s * lin.bm.unsqueeze(1).expand({B, D});
    if (a.out_bias.defined()) pre_c = pre_c + lin.w.sum(1, true) * (a.out_bias.to(opts) / static_cast<double>(H * M));
    auto c = finish(lin, pre_c, s);                                     // [B, E]
    auto terms = alpha.unsqueeze(-1) * G + c.view({B, 1, 1, c.size(1)});  // [B, H, M, E]
    head_terms.push_back(terms.sum(2));
    if (options.track_source() >= 0) source_terms.push_back(terms.select(2, options.track_source()));
    if (options.spatial()) token_terms.push_back(terms.transpose(1, 2));  // [B, M, H, E]
    d.attention_names.push_back(a.name);
  }

  d.output = read_out(res, readout);
  const auto E = d.output.size(1);
  d.parts = P ? torch::stack(part_terms, 1) : torch::zeros({B, 0, E}, opts);
  d.heads = L ? torch::stack(head_terms, 1) : torch::zeros({B, 0, 0, E}, opts);
  if (L && !source_terms.empty()) d.source_heads = torch::stack(source_terms, 1);
  if (L && options.spatial()) {
    for (const auto& t : token_terms)
      expect(t.sizes() == token_terms.front().sizes(), "spatial terms need the same heads and source tokens in every layer");
    d.tokens = torch::stack(token_terms, 1);
  }
  d.scale = torch::ones({B}, opts);
  if (options.normalize()) {
    d.scale = d.output.norm(2, 1);
    auto inv = 1.0 / d.scale;
    d.output = d.output * inv.unsqueeze(1);
    d.parts = d.parts * inv.view(bview(B, 3));
    d.heads = d.heads * inv.view(bview(B, 4));
    if (d.source_heads.defined()) d.source_heads = d.source_heads * inv.view(bview(B, 4));
    if (d.tokens.defined()) d.tokens = d.tokens * inv.view(bview(B, 5));
  }
  return d;
}

// ---- mean-ablation ----------------------------------------------------------------------------

std::vector<std::int64_t> AblationSpec::layers_range(std::int64_t first, std::int64_t last) {
  std::vector<std::int64_t> out;
  for (auto l = first; l <= last; ++l) out.push_back(l);
  return out;
}

Decomposition mean_terms(const Decomposition& d) {
  Decomposition m;
  m.part_names = d.part_names;
  m.attention_names = d.attention_names;
  m.track_source = d.track_source;
  m.parts = d.parts.mean(0, true);
  m.heads = d.heads.mean(0, true);
  if (d.source_heads.defined()) m.source_heads = d.source_heads.mean(0, true);
  m.output = d.output.mean(0, true);
  m.scale = d.scale.mean(0, true);
  return m;
}

void TermMeans::add(const Decomposition& d) {
  const bool first = count_ == 0;
  if (!first && (d.part_names != sum_.part_names || d.heads.sizes().slice(1) != sum_.heads.sizes().slice(1) ||
                 d.source_heads.defined() != sum_.source_heads.defined()))
    throw core::InputError("TermMeans: a decomposition with other parts or layer / head shapes than the first");
  auto acc = [&](torch::Tensor& s, const torch::Tensor& x) {
    if (!x.defined()) return;
    auto t = x.sum(0, true).to(torch::kFloat64);
    s = first ? t : s + t;
  };
  if (first) {
    sum_.part_names = d.part_names;
    sum_.attention_names = d.attention_names;
    sum_.track_source = d.track_source;
  }
  acc(sum_.parts, d.parts);
  acc(sum_.heads, d.heads);
  acc(sum_.source_heads, d.source_heads);
  acc(sum_.output, d.output);
  acc(sum_.scale, d.scale);
  count_ += d.batch();
}

Decomposition TermMeans::mean() const {
  if (count_ == 0) throw core::InputError("TermMeans: no decomposition was added");
  Decomposition m = sum_;
  const double n = static_cast<double>(count_);
  m.parts = sum_.parts / n;
  m.heads = sum_.heads / n;
  if (sum_.source_heads.defined()) m.source_heads = sum_.source_heads / n;
  m.output = sum_.output / n;
  m.scale = sum_.scale / n;
  return m;
}

torch::Tensor mean_ablate(const Decomposition& d, const Decomposition& means, const AblationSpec& spec) {
  const auto P = d.parts.size(1), L = d.heads.size(1), H = d.heads.size(2);
  if (means.part_names != d.part_names || means.heads.sizes().slice(1) != d.heads.sizes().slice(1) ||
      means.parts.size(2) != d.parts.size(2))
    throw core::InputError("mean_ablate: the means have other parts or shapes than the decomposition");
  const auto opts = d.parts.options();
  auto pm = torch::zeros({P}, opts);
  for (const auto& name : spec.parts) {
    if (!name.empty() && name.back() == '*') {
      const auto prefix = name.substr(0, name.size() - 1);
      bool any = false;
      for (std::int64_t i = 0; i < P; ++i)
        if (d.part_names[static_cast<std::size_t>(i)].rfind(prefix, 0) == 0) pm[i] = 1, any = true;
      if (!any) (void)d.part_index(name);  // throws, listing the parts
    } else {
      pm[d.part_index(name)] = 1;
    }
  }
  auto hm = torch::zeros({L, H}, opts);
  auto check_layer = [&](std::int64_t l) {
    if (l < 0 || l >= L)
      throw core::InputError("mean_ablate: attention layer " + std::to_string(l) + " is out of range (0.." + std::to_string(L - 1) + ")");
  };
  for (auto l : spec.layers) check_layer(l), hm[l] = 1;
  for (const auto& [l, h] : spec.heads) {
    check_layer(l);
    if (h < 0 || h >= H)
      throw core::InputError("mean_ablate: head " + std::to_string(h) + " is out of range (0.." + std::to_string(H - 1) + ")");
    hm[l][h] = 1;
  }
  auto sm = torch::zeros({L, H}, opts);
  if (spec.source_terms) {
    if (!d.source_heads.defined() || !means.source_heads.defined())
      throw core::InputError("mean_ablate: source_terms needs decompositions with a tracked source token (track_source)");
    if (spec.source_layers.empty()) {
      sm.fill_(1);
    } else {
      for (auto l : spec.source_layers) check_layer(l), sm[l] = 1;
    }
    sm = sm * (1 - hm);  // a whole head already replaced includes its source term
  }
  auto selected = [&](const Decomposition& x) {
    auto s = (x.parts.to(opts) * pm.view({1, P, 1})).sum(1);
    if (L) s = s + (x.heads.to(opts) * hm.view({1, L, H, 1})).sum(std::vector<std::int64_t>{1, 2});
    if (spec.source_terms) s = s + (x.source_heads.to(opts) * sm.view({1, L, H, 1})).sum(std::vector<std::int64_t>{1, 2});
    return s;
  };
  return d.total() - selected(d) + selected(means);
}

}  // namespace pesuite::heads
