#pragma once
// GNNs and graph transformers over block-diagonal batches (batch.h), each taking any positional
// encoding by name. The encodings themselves are precomputed (pe.h, graph pe cache); the model only
// holds the learnable encoder that turns them into node channels.
//
//   using namespace pesuite::graph;
//   GraphModelOptions o;
//   o.model("gps").pe("lap:k=8").in_dim(b.x.size(1)).edge_dim(b.edge_attr.size(1)).out_dim(10);
//   GraphModel m(o);                      // pe_in_dim 0: the spec's width (8 columns of "lap")
//   PeTensors pe = {{"lap", lap}, {"lap.eigval", eigval}, {"lap.mask", mask}};   // rows = batch nodes
//   torch::Tensor logits = m->forward(b, pe);   // [G, out] (pool sum|mean) or [N, out] (pool none)
//
// Interface contract (shared by the models in graph/src/gnn_*.cpp and the training pipeline):
// - model: a row of graph_models() (gine | gatedgcn | gps; gps = local GINE + global attention
//   from heads/).
// - pe: a spec of the graph encoding registry (pe.h): none | lap | rwse | spe | signnet | rfp, with
//   its computation keys (which tensors `pesuite graph pe` precomputes: the spec's computation())
//   and its encoder keys (lap: encoder=deepset|linear; spe: phis, rho_layers). The encoder reads
//   the tensors of the computing row by the names `pesuite graph pe` writes ("lap", "lap.eigval",
//   "lap.mask", "rwse", "eig", "eig.eigval", "eig.mask", "rfp"), each [N, dim] float32, rows
//   aligned with batch.x. pe_in_dim narrows the main tensor (0 = all the spec computes).
//   spe and signnet read "eig:k=37" by default: the full spectrum of every ZINC molecule (<= 37
//   atoms) as in the SPE authors' ZINC setting; SPE's invariance to the basis of a repeated
//   eigenvalue holds only when no eigenspace is cut, which a full spectrum guarantees, and signnet
//   reads the same cached tensor, so one precomputation serves both.
// - What each encoder reads, and how: gnn_encoders.h. Layers, pooling: gnn_layers.h.
// - Devices: everything runs where the batch and the model are. GPS and SPE need the largest graph
//   size of a batch on the host; keep GraphBatch::node_ptr on the CPU (it is read there only) and
//   the forward pass never synchronises with the GPU (else it does once per forward). A padded
//   batch (static_batch.h, for CUDA graphs) carries that size itself (dense_nodes).
// - Eval vs train: lap's random sign flips happen only in training mode (model->train()).
// - Errors (pesuite::core::InputError): the constructor for an unknown model / pe / pool / norm
//   (the message lists the valid names), hidden <= pe_dim; forward for x / edge_attr widths that
//   differ from in_dim / edge_dim, a missing pe tensor, or one whose column count differs
//   ("encoding 'lap' has 4 columns, model expects 8").
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "pesuite/graph/batch.h"

namespace pesuite::graph {

using PeTensors = std::map<std::string, torch::Tensor>;

struct GraphModelOptions {
  TORCH_ARG(std::string, model) = "gine";
  TORCH_ARG(std::string, pe) = "none";      // graph encoding spec (pe.h), encoder keys included
  TORCH_ARG(std::int64_t, in_dim) = 1;      // columns of GraphBatch::x
  TORCH_ARG(std::int64_t, edge_dim) = 0;    // columns of GraphBatch::edge_attr (0 = no edge features)
  TORCH_ARG(std::int64_t, out_dim) = 1;
  TORCH_ARG(std::int64_t, hidden) = 64;
  TORCH_ARG(std::int64_t, layers) = 4;
  TORCH_ARG(std::int64_t, heads) = 4;       // gps attention heads
  TORCH_ARG(std::string, pool) = "mean";    // sum | mean | none (node-level task)
  TORCH_ARG(std::string, norm) = "batch";   // batch | syncbatch | layer
  TORCH_ARG(double, dropout) = 0.0;
  TORCH_ARG(double, attn_dropout) = 0.0;
  // Columns of the encoding's main tensor the encoder reads (0 = all the spec computes), and how
  // many of the hidden channels the encoder contributes.
  TORCH_ARG(std::int64_t, pe_in_dim) = 0;
  TORCH_ARG(std::int64_t, pe_dim) = 16;
};

class GraphModelImpl : public torch::nn::Module {
 public:
  explicit GraphModelImpl(GraphModelOptions options);
  torch::Tensor forward(const GraphBatch& batch, const PeTensors& pe = {});
  const GraphModelOptions& options() const { return options_; }

 private:
  GraphModelOptions options_;
  struct Parts;
  std::shared_ptr<Parts> parts_;
};
TORCH_MODULE(GraphModel);

// The graph model registry: one row per architecture (gnn_model.cpp).
struct GraphModelInfo {
  std::string name;
  std::string help;
  bool dense = false;  // needs the batch's dense per-graph layout (global attention)
};
const std::vector<GraphModelInfo>& graph_models();
const GraphModelInfo& graph_model(const std::string& name);  // InputError listing the valid names

}  // namespace pesuite::graph
