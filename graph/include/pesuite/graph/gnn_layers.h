#pragma once
// The building blocks of the models in gnn.h, for users who assemble their own GNNs: scatter /
// pooling over a block-diagonal batch, the dense [G, Nmax, D] padding that attention needs, and the
// GINE, GatedGCN and GPS layers. Everything works on any device; nothing here reads a tensor's
// values on the host except dense_layout (which needs the largest graph size, see there).
//
// Message direction follows PyG: edge_index[0] is the source j, edge_index[1] the target i, and a
// node aggregates over its incoming edges (batches store both directions of undirected edges).
//
//   using namespace pesuite::graph;
//   GINEConv conv(GINEConvOptions(64));
//   auto h = conv(x, b.edge_index, e);                            // x [N, 64], e [E, 64]
//   auto g = global_pool(h, b.batch, b.num_graphs, "mean");       // [G, 64]
//   DenseLayout d = dense_layout(b);
//   auto dense = to_dense(h, d);                                  // [G, Nmax, 64], zeros at padding
//   auto back = from_dense(dense, d);                             // == h
#include <torch/torch.h>

#include <string>
#include <utility>

#include "pesuite/graph/batch.h"
#include "pesuite/heads/attention.h"

namespace pesuite::graph {

// out[index[r]] += src[r] over the first axis (any trailing shape); out has `size` rows.
torch::Tensor scatter_sum(const torch::Tensor& src, const torch::Tensor& index, std::int64_t size);
// x[index] along the first axis (rows of x per edge, e.g. x[edge_index[0]]).
// Both pick their kernels per device: index_select / index_add on CUDA (one kernel each way), but
// advanced indexing / index_put(accumulate) on the CPU, where LibTorch 1.13's index_add (also the
// backward of index_select) runs one tensor op per row: 1.1-1.8x slower there on molecule batches.
torch::Tensor gather_rows(const torch::Tensor& x, const torch::Tensor& index);

// Per-graph sum or mean of node rows ("sum" | "mean"); x [N, ...] -> [G, ...]. Empty graphs give 0.
// `padded`: a padded batch (GraphBatch::padded()), whose padding nodes form graph num_graphs, which
// is left out of the result.
torch::Tensor global_pool(const torch::Tensor& x, const torch::Tensor& batch, std::int64_t num_graphs,
                          const std::string& how, bool padded = false);

// Where each node of a batch sits in a dense [G, Nmax] padding. Nodes of a graph must be contiguous
// and in graph order (make_batch builds them so).
struct DenseLayout {
  torch::Tensor index;  // [N] int64, row of each node in the flattened [G * Nmax] padding (a spare
                        // row G * Nmax for a padded batch's padding nodes)
  torch::Tensor gather_index;  // [N] int64, row each node reads back (index, the spare row clamped)
  torch::Tensor node_graph;    // [N] int64, graph of each node (padding nodes: a real graph, any)
  torch::Tensor mask;   // [G, Nmax] bool, true = a real node
  // [G, Nmax] bool, true = padding, for attention's key_padding_mask. Slot 0 is never padding: it
  // is a real node in every non-empty graph, and for an empty graph it keeps the softmax finite
  // (all keys masked gives NaN rows, whose gradient would leak into the weights even though those
  // rows are dropped).
  torch::Tensor key_padding;
  std::int64_t num_graphs = 0, max_nodes = 0, rows = 0;  // rows: of the flat padding, spare row included
  bool defined() const { return index.defined(); }
};
// Everything is computed on batch.device() from `batch`; only Nmax (a shape) is read on the host:
// from node_ptr when it is a CPU tensor (free), else from the device (one synchronisation).
// Keep GraphBatch::node_ptr on the CPU when the rest moves to a GPU to avoid that sync.
DenseLayout dense_layout(const GraphBatch& b);
torch::Tensor to_dense(const torch::Tensor& x, const DenseLayout& d);      // [N, ...] -> [G, Nmax, ...]
torch::Tensor from_dense(const torch::Tensor& dense, const DenseLayout& d);  // [G, Nmax, ...] -> [N, ...]

// Batch or layer normalisation of node (or edge) rows, or nothing: the choice every layer offers.
struct NodeNormOptions {
  NodeNormOptions(std::int64_t dim, std::string kind = "batch") : dim_(dim), kind_(std::move(kind)) {}
  TORCH_ARG(std::int64_t, dim);
  TORCH_ARG(std::string, kind);  // batch | syncbatch (statistics over every rank: core/distributed.h) | layer | none
};
class NodeNormImpl : public torch::nn::Module {
 public:
  explicit NodeNormImpl(const NodeNormOptions& options);
  // row_mask [N] (1 = real row; GraphBatch::node_mask / edge_mask of a padded batch): batch norm
  // in training takes its statistics over the real rows only. Undefined = every row is real.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& row_mask = {});
  torch::nn::BatchNorm1d bn{nullptr};
  torch::nn::LayerNorm ln{nullptr};
  bool sync = false;  // syncbatch
};
TORCH_MODULE(NodeNorm);

// bn(x), with the statistics of training mode taken over the rows where row_mask is 1 (a padded
// batch's GraphBatch::node_mask / edge_mask; undefined = all rows).
// sync: statistics over the rows of every rank of a distributed run (SyncBatchNorm).
torch::Tensor batch_norm_rows(torch::nn::BatchNorm1d& bn, const torch::Tensor& x, const torch::Tensor& row_mask, bool sync = false);

// GINEConv (Hu et al. 2020, as PyG): nn((1 + eps) x_i + sum_{j -> i} ReLU(x_j + W e_ji)),
// nn = Linear(dim, dim), ReLU, Linear(dim, dim) (GraphGPS's gin_nn). W maps edge_dim -> dim
// (PyG's `edge_dim` argument); eps is 0 and fixed unless train_eps (PyG defaults).
struct GINEConvOptions {
  explicit GINEConvOptions(std::int64_t dim) : dim_(dim) {}
  TORCH_ARG(std::int64_t, dim);
  TORCH_ARG(std::int64_t, edge_dim) = 0;  // 0 = dim
  TORCH_ARG(double, eps) = 0.0;
  TORCH_ARG(bool, train_eps) = false;
};
class GINEConvImpl : public torch::nn::Module {
 public:
  explicit GINEConvImpl(const GINEConvOptions& options);
  // `edge_proj`, when given, is edge_lin(edge_attr) already computed (project_edges below);
  // edge_attr is then not read.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& edge_index, const torch::Tensor& edge_attr,
                        const torch::Tensor& edge_proj = {});
  GINEConvOptions options;
  torch::nn::Linear edge_lin{nullptr};
  torch::nn::Sequential nn{nullptr};  // "nn.0" and "nn.2" are the two Linears
  torch::Tensor eps;                  // [1]; a parameter when train_eps, else a buffer
};
TORCH_MODULE(GINEConv);

// Every conv's edge projection edge_lin(e) in one GEMM ([E, dim] x [dim, L * dim]), returned as one
// [E, dim] view per conv: the same values as L separate Linear calls, but on a GPU a GNN step is
// bound by kernel launches, and this saves 3 (L - 1) GEMMs per training step.
std::vector<torch::Tensor> project_edges(const std::vector<GINEConv>& convs, const torch::Tensor& e);

// One block of the GINE model: h + Dropout(ReLU(Norm(GINEConv(h, e)))) (GraphGPS's GINE stage
// with batchnorm and residual).
struct GNNLayerOptions {
  explicit GNNLayerOptions(std::int64_t dim) : dim_(dim) {}
  TORCH_ARG(std::int64_t, dim);
  TORCH_ARG(std::string, norm) = "batch";  // batch | syncbatch | layer | none
  TORCH_ARG(double, dropout) = 0.0;
  TORCH_ARG(bool, residual) = true;
};
class GINELayerImpl : public torch::nn::Module {
 public:
  explicit GINELayerImpl(const GNNLayerOptions& options);
  // node_mask: GraphBatch::node_mask (padded batches; NodeNorm::forward).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& edge_index, const torch::Tensor& edge_attr,
                        const torch::Tensor& edge_proj = {},  // as GINEConv::forward
                        const torch::Tensor& node_mask = {});
  GNNLayerOptions options;
  GINEConv conv{nullptr};
  NodeNorm norm{nullptr};
};
TORCH_MODULE(GINELayer);

// Residual gated graph ConvNet with edge features (Bresson & Laurent 2017; the GatedGCNLayer of
// benchmarking-gnns / GraphGPS):
//   e'_ij = D x_i + E x_j + C e_ij,   s_ij = sigmoid(e'_ij)     (i = target, j = source)
//   x'_i  = A x_i + sum_j s_ij * B x_j / (sum_j s_ij + 1e-6)
//   x <- x + Dropout(ReLU(Norm(x'))),  e <- e + Dropout(ReLU(Norm(e')))
class GatedGCNLayerImpl : public torch::nn::Module {
 public:
  explicit GatedGCNLayerImpl(const GNNLayerOptions& options);
  // Returns the new node and edge features.
  // node_mask / edge_mask: those of a padded batch (NodeNorm::forward).
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x, const torch::Tensor& edge_index,
                                                  const torch::Tensor& edge_attr, const torch::Tensor& node_mask = {},
                                                  const torch::Tensor& edge_mask = {});
  GNNLayerOptions options;
  torch::nn::Linear A{nullptr}, B{nullptr}, C{nullptr}, D{nullptr}, E{nullptr};
  NodeNorm norm_x{nullptr}, norm_e{nullptr};
};
TORCH_MODULE(GatedGCNLayer);

// GPS layer (Rampasek et al. 2022, GraphGPS's GPSLayer with local GINE and global attention):
//   h_l = Norm(h + Dropout(GINEConv(h, e)))
//   h_a = Norm(h + Dropout(Attention(h)))    attention within each graph only (dense padding + key
//                                            padding mask), pesuite::heads::MultiHeadAttention
//   h'  = Norm(h_l + h_a + Dropout(Linear(Dropout(ReLU(Linear(h_l + h_a))))))   (MLP 2 dim wide)
struct GPSLayerOptions {
  GPSLayerOptions(std::int64_t dim, std::int64_t heads) : dim_(dim), heads_(heads) {}
  TORCH_ARG(std::int64_t, dim);
  TORCH_ARG(std::int64_t, heads);
  TORCH_ARG(std::string, norm) = "batch";  // batch | syncbatch | layer | none
  TORCH_ARG(double, dropout) = 0.0;
  TORCH_ARG(double, attn_dropout) = 0.0;
};
class GPSLayerImpl : public torch::nn::Module {
 public:
  explicit GPSLayerImpl(const GPSLayerOptions& options);
  // `dense` = dense_layout(batch), computed once per batch and shared by all layers.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& edge_index, const torch::Tensor& edge_attr,
                        const DenseLayout& dense, const torch::Tensor& edge_proj = {},  // as GINEConv::forward
                        const torch::Tensor& node_mask = {});  // as GINELayer::forward
  GPSLayerOptions options;
  GINEConv local{nullptr};
  heads::MultiHeadAttention attn{nullptr};
  torch::nn::Linear ff1{nullptr}, ff2{nullptr};
  NodeNorm norm_local{nullptr}, norm_attn{nullptr}, norm_out{nullptr};
};
TORCH_MODULE(GPSLayer);

}  // namespace pesuite::graph
