// GNN layers over block-diagonal batches: scatter / pooling, dense padding, GINE, GatedGCN, GPS.
// All aggregation is a gather along edges + a scatter-sum into nodes (gather_rows, scatter_sum): O(E D),
// never a dense N x N matrix; only attention sees a dense [G, Nmax, Nmax] per head.
#include "pesuite/graph/gnn_layers.h"

#include <algorithm>

#include "pesuite/core/distributed.h"
#include "pesuite/core/error.h"
#include "pesuite/core/torch_compat.h"

namespace pesuite::graph {

namespace F = torch::nn::functional;

namespace {

// On the CPU, index_put_ with accumulate adds in parallel with atomic float adds, so sums change
// from run to run; with deterministic algorithms on it runs serially, as fast at our sizes, and
// bit for bit repeatable (CPU runs must be). Set for the one call, then restored.
class DeterministicScope {
 public:
  DeterministicScope()
      : was_(at::globalContext().deterministicAlgorithms()), warn_only_(at::globalContext().deterministicAlgorithmsWarnOnly()) {
    at::globalContext().setDeterministicAlgorithms(true, /*warn_only=*/true);
  }
  ~DeterministicScope() { at::globalContext().setDeterministicAlgorithms(was_, warn_only_); }
  DeterministicScope(const DeterministicScope&) = delete;
  DeterministicScope& operator=(const DeterministicScope&) = delete;

 private:
  bool was_, warn_only_;
};

// x.index_select(0, index) whose backward is scatter_sum (the serial, repeatable index_put_), not
// ATen's index_add_ (4x slower on the CPU) or x.index's atomic index_put_.
class GatherRowsCpu : public torch::autograd::Function<GatherRowsCpu> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& index) {
    ctx->save_for_backward({index});
    ctx->saved_data["rows"] = x.size(0);
    return x.index_select(0, index);
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::tensor_list grads) {
    const auto index = ctx->get_saved_variables()[0];
    return {scatter_sum(grads[0], index, ctx->saved_data["rows"].toInt()), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor scatter_sum(const torch::Tensor& src, const torch::Tensor& index, std::int64_t size) {
  auto shape = src.sizes().vec();
  shape[0] = size;
  // On a fresh zeros tensor, so autograd sees a plain function of src (its backward is a gather).
  auto out = torch::zeros(shape, src.options());
  if (src.is_cuda()) return out.index_add_(0, index, src);
  DeterministicScope repeatable;
  return out.index_put_(c10::List<c10::optional<torch::Tensor>>({c10::optional<torch::Tensor>(index)}), src,
                        /*accumulate=*/true);
}

torch::Tensor gather_rows(const torch::Tensor& x, const torch::Tensor& index) {
  if (x.is_cuda()) return x.index_select(0, index);
  return GatherRowsCpu::apply(x, index);
}

torch::Tensor global_pool(const torch::Tensor& x, const torch::Tensor& batch, std::int64_t num_graphs,
                          const std::string& how, bool padded) {
  if (how != "sum" && how != "mean") throw core::InputError("graph pooling '" + how + "' is unknown (valid: sum, mean)");
  // A padded batch's padding nodes form graph `num_graphs`: pooled into one more row, then dropped.
  const auto rows = num_graphs + (padded ? 1 : 0);
  auto sum = scatter_sum(x, batch, rows);
  if (how == "mean") {
    // Counts from `batch` on its device, so no host round trip (node_ptr may live elsewhere).
    auto count = torch::zeros({rows}, x.options()).index_add(0, batch, torch::ones({x.size(0)}, x.options()));
    auto shape = std::vector<std::int64_t>(static_cast<std::size_t>(x.dim()), 1);
    shape[0] = rows;
    sum = sum / count.clamp_min(1).view(shape);
  }
  return padded ? sum.narrow(0, 0, num_graphs) : sum;
}

DenseLayout dense_layout(const GraphBatch& b) {
  DenseLayout d;
  const auto& batch = b.batch;
  const auto N = batch.size(0);
  const auto G = b.num_graphs;
  const bool padded = b.padded();
  const auto dev = batch.device();
  auto lopt = torch::TensorOptions().dtype(torch::kInt64).device(dev);
  // A padded batch's padding nodes form one more graph (G); they all go to one spare dense row
  // after the G * Nmax real slots, which to_dense drops.
  auto count = torch::zeros({G + (padded ? 1 : 0)}, lopt).index_add_(0, batch, torch::ones({N}, lopt));
  std::int64_t nmax = 0;
  if (padded) {
    if (b.dense_nodes < 1) throw core::InputError("dense_layout: a padded batch needs dense_nodes >= 1 (pad_batch sets it)");
    nmax = b.dense_nodes;
  } else if (b.node_ptr.defined() && b.node_ptr.device().is_cpu() && b.node_ptr.numel() == G + 1) {
    nmax = largest_graph(b);  // on the host: no sync
  } else if (G > 0) {
    nmax = count.max().item<std::int64_t>();  // the one host sync; see the header
  }
  nmax = std::max<std::int64_t>(nmax, 1);
  auto start = count.cumsum(0) - count;  // first node of each graph
  auto pos = torch::arange(N, lopt) - start.index_select(0, batch);
  d.index = batch * nmax + pos;
  d.node_graph = batch;
  d.rows = G * nmax;
  if (padded) {
    d.index = d.index.clamp_max(G * nmax);  // the spare row
    d.gather_index = d.index.clamp_max(std::max<std::int64_t>(G * nmax - 1, 0));
    d.node_graph = batch.clamp_max(std::max<std::int64_t>(G - 1, 0));
    d.rows = G * nmax + 1;
  } else {
    d.gather_index = d.index;
  }
  d.mask = torch::zeros({d.rows}, lopt.dtype(torch::kBool))
               .index_fill_(0, d.index, true)
               .narrow(0, 0, G * nmax)
               .view({G, nmax});
  d.key_padding = d.mask.logical_not().index_fill_(1, torch::zeros({1}, lopt), false);
  d.num_graphs = G;
  d.max_nodes = nmax;
  return d;
}

torch::Tensor to_dense(const torch::Tensor& x, const DenseLayout& d) {
  auto flat = x.sizes().vec();
  flat[0] = d.rows;
  auto dense = torch::zeros(flat, x.options()).index_copy(0, d.index, x);
  auto shape = x.sizes().vec();
  shape[0] = d.max_nodes;
  shape.insert(shape.begin(), d.num_graphs);
  return dense.narrow(0, 0, d.num_graphs * d.max_nodes).view(shape);
}

torch::Tensor from_dense(const torch::Tensor& dense, const DenseLayout& d) {
  auto flat = dense.sizes().vec();
  flat.erase(flat.begin());
  flat[0] = d.num_graphs * d.max_nodes;
  return gather_rows(dense.reshape(flat), d.gather_index);
}

// ---- NodeNorm ---------------------------------------------------------------------------------

NodeNormImpl::NodeNormImpl(const NodeNormOptions& o) : sync(o.kind() == "syncbatch") {
  if (o.kind() == "batch" || o.kind() == "syncbatch")
    bn = register_module("bn", torch::nn::BatchNorm1d(o.dim()));
  else if (o.kind() == "layer")
    ln = register_module("ln", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.dim()})));
  else if (o.kind() != "none")
    throw core::InputError("norm '" + o.kind() + "' is unknown (valid: batch, syncbatch, layer, none)");
}

torch::Tensor NodeNormImpl::forward(const torch::Tensor& x, const torch::Tensor& row_mask) {
  if (bn) return batch_norm_rows(bn, x, row_mask, sync);
  if (ln) return ln(x);
  return x;
}

// Training mode with a mask: the same normalisation (biased variance) and running-stat update
// (unbiased variance, momentum) as BatchNorm1d on the real rows alone, computed from the mask on
// the device (no host sync, fixed shapes), so a padded batch trains exactly like the unpadded one.
// sync: the statistics are those of every rank's rows together (two all-reduces per call).
torch::Tensor batch_norm_rows(torch::nn::BatchNorm1d& bn, const torch::Tensor& x, const torch::Tensor& row_mask, bool sync) {
  if (!bn->is_training() || (!row_mask.defined() && !sync)) return bn(x);
  if (!row_mask.defined()) return batch_norm_rows(bn, x, torch::ones({x.size(0)}, x.options()), sync);
  const auto& o = bn->options;
  auto m = row_mask.to(x.scalar_type()).view({-1, 1});
  auto n = m.sum();
  auto sum = (x * m).sum(0);
  if (sync) {  // one all-reduce for the rows' sum and count
    auto both = core::dist::sum_over_ranks(core::dist::World::get(), torch::cat({sum, n.view({1})}));
    sum = both.slice(0, 0, x.size(1));
    n = both[x.size(1)].detach();
  }
  auto mean = sum / n;
  auto centred = x - mean;
  auto squares = (centred * centred * m).sum(0);
  if (sync) squares = core::dist::sum_over_ranks(core::dist::World::get(), squares);
  auto var = squares / n;
  auto y = centred * torch::rsqrt(var + o.eps());
  if (o.affine()) y = y * bn->weight + bn->bias;
  if (o.track_running_stats()) {
    torch::NoGradGuard no_grad;
    bn->num_batches_tracked.add_(1);
    auto unbiased = var.detach() * (n / (n - 1).clamp_min(1));
    if (o.momentum()) {
      const double f = *o.momentum();
      bn->running_mean.mul_(1 - f).add_(mean.detach() * f);
      bn->running_var.mul_(1 - f).add_(unbiased * f);
    } else {  // momentum none: the cumulative average, as BatchNorm1d
      auto f = 1.0 / bn->num_batches_tracked.to(x.scalar_type());
      bn->running_mean.mul_(1 - f).add_(mean.detach() * f);
      bn->running_var.mul_(1 - f).add_(unbiased * f);
    }
  }
  return y;
}

// ---- GINE -------------------------------------------------------------------------------------

GINEConvImpl::GINEConvImpl(const GINEConvOptions& o) : options(o) {
  const auto d = o.dim();
  edge_lin = register_module("edge_lin", torch::nn::Linear(o.edge_dim() > 0 ? o.edge_dim() : d, d));
  nn = register_module("nn", torch::nn::Sequential(torch::nn::Linear(d, d), torch::nn::ReLU(), torch::nn::Linear(d, d)));
  auto e = torch::full({1}, o.eps());
  eps = o.train_eps() ? register_parameter("eps", e) : register_buffer("eps", e);
}

torch::Tensor GINEConvImpl::forward(const torch::Tensor& x, const torch::Tensor& edge_index,
                                    const torch::Tensor& edge_attr, const torch::Tensor& edge_proj) {
  auto src = edge_index[0], dst = edge_index[1];
  auto msg = torch::relu(gather_rows(x, src) + (edge_proj.defined() ? edge_proj : core::linear(edge_lin, edge_attr)));
  // eps = 0 and fixed is the common case (PyG's default): skip two kernels per layer, and on CUDA
  // sum the messages straight into a copy of x (one kernel less than zeros + index_add + add).
  const bool plain = !options.train_eps() && options.eps() == 0.0;
  if (plain && x.is_cuda()) return nn->forward(x.index_add(0, dst, msg));
  auto agg = scatter_sum(msg, dst, x.size(0));
  return nn->forward(plain ? x + agg : (1 + eps) * x + agg);
}

std::vector<torch::Tensor> project_edges(const std::vector<GINEConv>& convs, const torch::Tensor& e) {
  if (convs.empty()) return {};
  std::vector<torch::Tensor> weights, biases;
  for (const auto& c : convs) {
    weights.push_back(c->edge_lin->weight);
    biases.push_back(c->edge_lin->bias);
  }
  const auto out = weights.front().size(0);
  auto all = torch::addmm(torch::cat(biases), e, torch::cat(weights).t());  // [E, L * dim]
  // unbind, not slices: its backward is one stack instead of L zero-filled copies.
  return all.view({e.size(0), static_cast<std::int64_t>(convs.size()), out}).unbind(1);
}

GINELayerImpl::GINELayerImpl(const GNNLayerOptions& o) : options(o) {
  conv = register_module("conv", GINEConv(GINEConvOptions(o.dim())));
  norm = register_module("norm", NodeNorm(NodeNormOptions(o.dim(), o.norm())));
}

torch::Tensor GINELayerImpl::forward(const torch::Tensor& x, const torch::Tensor& edge_index,
                                     const torch::Tensor& edge_attr, const torch::Tensor& edge_proj,
                                     const torch::Tensor& node_mask) {
  auto h = torch::relu(norm(conv(x, edge_index, edge_attr, edge_proj), node_mask));
  if (options.dropout() > 0) h = F::dropout(h, F::DropoutFuncOptions().p(options.dropout()).training(is_training()));
  return options.residual() ? x + h : h;
}

// ---- GatedGCN ---------------------------------------------------------------------------------

GatedGCNLayerImpl::GatedGCNLayerImpl(const GNNLayerOptions& o) : options(o) {
  const auto d = o.dim();
  A = register_module("A", torch::nn::Linear(d, d));
  B = register_module("B", torch::nn::Linear(d, d));
  C = register_module("C", torch::nn::Linear(d, d));
  D = register_module("D", torch::nn::Linear(d, d));
  E = register_module("E", torch::nn::Linear(d, d));
  norm_x = register_module("norm_x", NodeNorm(NodeNormOptions(d, o.norm())));
  norm_e = register_module("norm_e", NodeNorm(NodeNormOptions(d, o.norm())));
}

std::pair<torch::Tensor, torch::Tensor> GatedGCNLayerImpl::forward(const torch::Tensor& x,
                                                                   const torch::Tensor& edge_index,
                                                                   const torch::Tensor& edge_attr,
                                                                   const torch::Tensor& node_mask,
                                                                   const torch::Tensor& edge_mask) {
  auto src = edge_index[0], dst = edge_index[1];
  const auto n = x.size(0);
  auto e = gather_rows(D(x), dst) + gather_rows(E(x), src) + C(edge_attr);
  auto gate = torch::sigmoid(e);
  auto num = scatter_sum(gate * gather_rows(B(x), src), dst, n);
  auto den = scatter_sum(gate, dst, n);
  auto h = A(x) + num / (den + 1e-6);
  auto drop = F::DropoutFuncOptions().p(options.dropout()).training(is_training());
  h = F::dropout(torch::relu(norm_x(h, node_mask)), drop);
  e = F::dropout(torch::relu(norm_e(e, edge_mask)), drop);
  if (options.residual()) {
    h = x + h;
    e = edge_attr + e;
  }
  return {h, e};
}

// ---- GPS --------------------------------------------------------------------------------------

GPSLayerImpl::GPSLayerImpl(const GPSLayerOptions& o) : options(o) {
  const auto d = o.dim();
  local = register_module("local", GINEConv(GINEConvOptions(d)));
  attn = register_module("attn", heads::MultiHeadAttention(heads::MultiHeadAttentionOptions(d, o.heads())
                                                               .dropout(o.attn_dropout())));
  ff1 = register_module("ff1", torch::nn::Linear(d, 2 * d));
  ff2 = register_module("ff2", torch::nn::Linear(2 * d, d));
  norm_local = register_module("norm_local", NodeNorm(NodeNormOptions(d, o.norm())));
  norm_attn = register_module("norm_attn", NodeNorm(NodeNormOptions(d, o.norm())));
  norm_out = register_module("norm_out", NodeNorm(NodeNormOptions(d, o.norm())));
}

torch::Tensor GPSLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& edge_index,
                                    const torch::Tensor& edge_attr, const DenseLayout& dense,
                                    const torch::Tensor& edge_proj, const torch::Tensor& node_mask) {
  const auto opts = F::DropoutFuncOptions().p(options.dropout()).training(is_training());
  auto drop = [&](const torch::Tensor& t) { return options.dropout() > 0 ? F::dropout(t, opts) : t; };
  auto h_local = norm_local(x + drop(local(x, edge_index, edge_attr, edge_proj)), node_mask);

  heads::AttentionArgs args;
  args.key_padding_mask = dense.key_padding;
  auto h_attn = from_dense(attn(to_dense(x, dense), args), dense);
  h_attn = norm_attn(x + drop(h_attn), node_mask);

  auto h = h_local + h_attn;
  auto ff = drop(core::linear(ff2, drop(torch::relu(core::linear(ff1, h)))));
  return norm_out(h + ff, node_mask);
}

}  // namespace pesuite::graph
