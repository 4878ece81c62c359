// GraphModel: node / edge input encoders + PE encoder + a stack of GINE, GatedGCN or GPS layers +
// pooling + MLP head; the registry of names (gnn.h).
#include <algorithm>
#include <tuple>

#include "pesuite/graph/gnn.h"
#include "pesuite/graph/gnn_encoders.h"
#include "pesuite/graph/gnn_layers.h"
#include "pesuite/graph/pe.h"
#include "pesuite/core/error.h"
#include "pesuite/core/registry.h"

namespace pesuite::graph {
namespace {

std::string str(std::int64_t v) { return std::to_string(v); }

void need_one_of(const std::string& what, const std::string& value, const std::vector<std::string>& valid) {
  if (std::find(valid.begin(), valid.end(), value) != valid.end()) return;
  std::string names;
  for (const auto& v : valid) names += (names.empty() ? "" : ", ") + v;
  throw core::InputError("graph model: " + what + " '" + value + "' is unknown (valid: " + names + ")");
}

}  // namespace

const std::vector<GraphModelInfo>& graph_models() {
  static const std::vector<GraphModelInfo> rows = {
      {"gine", "GINE message passing (Hu et al. 2020), edge features", false},
      {"gatedgcn", "residual gated graph convnet (Bresson & Laurent), edge gates", false},
      {"gps", "GPS layer: local GINE + global multi-head attention + MLP (Rampasek et al. 2022)", true}};
  return rows;
}

const GraphModelInfo& graph_model(const std::string& name) { return core::find_row(graph_models(), name, "graph model"); }

struct GraphModelImpl::Parts {
  torch::nn::Linear node_in{nullptr}, edge_in{nullptr};
  torch::Tensor edge_const;  // [1, hidden] learned edge embedding when there are no edge features
  std::shared_ptr<PeEncoderImpl> encoder;
  std::vector<GINELayer> gine;
  std::vector<GatedGCNLayer> gated;
  std::vector<GPSLayer> gps;
  torch::nn::Sequential head{nullptr};
  bool need_dense = false;
};

GraphModelImpl::GraphModelImpl(GraphModelOptions o) : options_(std::move(o)), parts_(std::make_shared<Parts>()) {
  const auto& op = options_;
  const GraphModelInfo& arch = graph_model(op.model());
  const pe::PeSpec pe_spec = pe::parse_pe_spec(op.pe());
  need_one_of("pool", op.pool(), {"sum", "mean", "none"});
  need_one_of("norm", op.norm(), {"batch", "syncbatch", "layer"});
  const auto H = op.hidden();
  if (op.in_dim() < 1 || op.out_dim() < 1 || H < 1 || op.layers() < 0 || op.edge_dim() < 0)
    throw core::InputError("graph model: in_dim, out_dim and hidden must be >= 1, layers and edge_dim >= 0 (got in_dim " +
                     str(op.in_dim()) + ", out_dim " + str(op.out_dim()) + ", hidden " + str(H) + ", layers " +
                     str(op.layers()) + ", edge_dim " + str(op.edge_dim()) + ")");
  if (op.dropout() < 0 || op.dropout() >= 1 || op.attn_dropout() < 0 || op.attn_dropout() >= 1)
    throw core::InputError("graph model: dropout and attn_dropout must be in [0, 1)");
  if (op.model() == "gps" && (op.heads() < 1 || H % op.heads()))
    throw core::InputError("graph model: hidden " + str(H) + " must be a multiple of heads " + str(op.heads()));

  auto& p = *parts_;
  const std::int64_t pe_in = op.pe_in_dim() > 0 ? op.pe_in_dim() : pe::computing_row(pe_spec.name).in_dim(pe_spec.computation());
  p.encoder = make_pe_encoder(pe_spec, {pe_in, op.pe_dim()});
  const auto pe_dim = p.encoder ? p.encoder->out_dim() : 0;
  if (pe_dim >= H)
    throw core::InputError("graph model: pe_dim " + str(pe_dim) + " must be smaller than hidden " + str(H) +
                     " (the encoding takes pe_dim of the hidden channels)");
  // GraphGPS: x -> Linear to hidden - pe_dim, concatenated with the encoder's pe_dim channels.
  p.node_in = register_module("node_in", torch::nn::Linear(op.in_dim(), H - pe_dim));
  if (p.encoder) register_module("pe_encoder", p.encoder);
  if (op.edge_dim() > 0)
    p.edge_in = register_module("edge_in", torch::nn::Linear(op.edge_dim(), H));
  else
    p.edge_const = register_parameter("edge_const", torch::randn({1, H}) * 0.1);

  auto list = register_module("layers", torch::nn::ModuleList());
  for (std::int64_t l = 0; l < op.layers(); ++l) {
    auto lo = GNNLayerOptions(H).norm(op.norm()).dropout(op.dropout());
    if (op.model() == "gine") {
      p.gine.push_back(GINELayer(lo));
      list->push_back(p.gine.back());
    } else if (op.model() == "gatedgcn") {
      p.gated.push_back(GatedGCNLayer(lo));
      list->push_back(p.gated.back());
    } else {
      p.gps.push_back(GPSLayer(
          GPSLayerOptions(H, op.heads()).norm(op.norm()).dropout(op.dropout()).attn_dropout(op.attn_dropout())));
      list->push_back(p.gps.back());
    }
  }
  p.need_dense = arch.dense || pe::row(pe_spec.name).dense;
  p.head = register_module("head", torch::nn::Sequential(torch::nn::Linear(H, H), torch::nn::ReLU(),
                                                         torch::nn::Linear(H, op.out_dim())));
}

torch::Tensor GraphModelImpl::forward(const GraphBatch& b, const PeTensors& pe) {
  const auto& op = options_;
  auto& p = *parts_;
  if (!b.x.defined() || b.x.dim() != 2 || b.x.size(1) != op.in_dim())
    throw core::InputError("graph model: node features must be [N, " + str(op.in_dim()) + "] (in_dim), got " +
                     (b.x.defined() && b.x.dim() == 2 ? "[" + str(b.x.size(0)) + ", " + str(b.x.size(1)) + "]"
                                                      : std::string("another shape")));
  const auto E = b.edge_index.size(1);
  torch::Tensor e;
  if (op.edge_dim() > 0) {
    if (!b.edge_attr.defined() || b.edge_attr.dim() != 2 || b.edge_attr.size(1) != op.edge_dim() ||
        b.edge_attr.size(0) != E)
      throw core::InputError("graph model: edge features must be [" + str(E) + ", " + str(op.edge_dim()) +
                       "] (edge_dim), got " +
                       (b.edge_attr.defined() && b.edge_attr.dim() == 2
                            ? "[" + str(b.edge_attr.size(0)) + ", " + str(b.edge_attr.size(1)) + "]"
                            : std::string("another shape")));
    e = p.edge_in(b.edge_attr.to(b.x.scalar_type()));
  } else {
    e = p.edge_const.expand({E, op.hidden()});
  }

  DenseLayout dense;
  if (p.need_dense) dense = dense_layout(b);
  auto h = p.node_in(b.x);
  if (p.encoder) h = torch::cat({h, p.encoder->forward(b, pe, dense.defined() ? &dense : nullptr)}, 1);

  std::vector<GINEConv> convs;  // every GINE conv's edge projection in one GEMM
  for (auto& l : p.gine) convs.push_back(l->conv);
  for (auto& l : p.gps) convs.push_back(l->local);
  const auto edge_proj = project_edges(convs, e);
  std::size_t next = 0;
  for (auto& l : p.gine) h = l(h, b.edge_index, e, edge_proj[next++], b.node_mask);
  for (auto& l : p.gated) std::tie(h, e) = l(h, b.edge_index, e, b.node_mask, b.edge_mask);
  for (auto& l : p.gps) h = l(h, b.edge_index, e, dense, edge_proj[next++], b.node_mask);

  if (op.pool() != "none") h = global_pool(h, b.batch, b.num_graphs, op.pool(), b.padded());
  return p.head->forward(h);
}

}  // namespace pesuite::graph
