#pragma once
// GNNs and graph transformers over block-diagonal batches (batch.h), each taking any positional
// encoding by name. The encodings themselves are precomputed (pe.h, graph pe cache); the model only
// holds the learnable encoder that turns them into node channels.
//
//   using namespace pesuite::graph;
//   GraphModelOptions o;
//   o.model("gps").encoder("lap").in_dim(b.x.size(1)).edge_dim(b.edge_attr.size(1)).out_dim(10);
//   o.pe_in_dim(8);                       // columns of the "lap" tensor the batch will carry
//   GraphModel m(o);
//   PeTensors pe = {{"lap", lap}, {"lap.eigval", eigval}, {"lap.mask", mask}};   // rows = batch nodes
//   torch::Tensor logits = m->forward(b, pe);   // [G, out] (pool sum|mean) or [N, out] (pool none)
//
// Interface contract (shared by the models in graph/src/gnn_*.cpp and the trainer in experiments/):
// - model:   gine | gatedgcn | gps            (gps = local GINE + global attention from heads/)
// - encoder: none | lap | rwse | spe | signnet | rfp
// - pe tensors by the names `pesuite graph pe` writes: "lap", "lap.eigval", "lap.mask", "rwse",
//   "eig", "eig.eigval", "eig.mask", "rfp"; each [N, dim] float32, rows aligned with batch.x.
// - required_pe_spec(encoder) names the graph-pe spec the trainer must precompute for it, and
//   required_pe_in_dim(encoder) the pe_in_dim that spec gives (the main tensor's columns).
//   lap -> "lap:k=8", rwse -> "rwse:steps=20" (GraphGPS ZINC), rfp -> "rfp" (pe.h defaults: 1 run,
//   8 steps, 8 features -> 72 columns), spe and signnet -> "eig:k=37": the full spectrum of every
//   ZINC molecule (<= 37 atoms) as in the SPE authors' ZINC setting; SPE's invariance to the basis
//   of a repeated eigenvalue holds only when no eigenspace is cut, which a full spectrum guarantees,
//   and signnet reads the same cached tensor, so one precomputation serves both.
// - What each encoder reads, and how: gnn_encoders.h. Layers, pooling: gnn_layers.h.
// - Devices: everything runs where the batch and the model are. GPS and SPE need the largest graph
//   size of a batch on the host; keep GraphBatch::node_ptr on the CPU (it is read there only) and
//   the forward pass never synchronises with the GPU (else it does once per forward). A padded
//   batch (static_batch.h, for CUDA graphs) carries that size itself (dense_nodes).
// - Eval vs train: lap's random sign flips happen only in training mode (model->train()).
// - Errors (pesuite::InputError): the constructor for an unknown model / encoder / pool / norm /
//   lap_encoder (the message lists the valid names), pe_in_dim <= 0 for an encoder that reads one,
//   hidden <= pe_dim; forward for x / edge_attr widths that differ from in_dim / edge_dim, a missing
//   pe tensor, or one whose column count differs ("encoding 'lap' has 4 columns, model expects 8").
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "pesuite/graph/batch.h"

namespace pesuite::graph {

using PeTensors = std::map<std::string, torch::Tensor>;

struct GraphModelOptions {
  TORCH_ARG(std::string, model) = "gine";
  TORCH_ARG(std::string, encoder) = "none";
  TORCH_ARG(std::int64_t, in_dim) = 1;      // columns of GraphBatch::x
  TORCH_ARG(std::int64_t, edge_dim) = 0;    // columns of GraphBatch::edge_attr (0 = no edge features)
  TORCH_ARG(std::int64_t, out_dim) = 1;
  TORCH_ARG(std::int64_t, hidden) = 64;
  TORCH_ARG(std::int64_t, layers) = 4;
  TORCH_ARG(std::int64_t, heads) = 4;       // gps attention heads
  TORCH_ARG(std::string, pool) = "mean";    // sum | mean | none (node-level task)
  TORCH_ARG(std::string, norm) = "batch";   // batch | layer
  TORCH_ARG(double, dropout) = 0.0;
  TORCH_ARG(double, attn_dropout) = 0.0;
  // Encoder: the columns of its main input tensor ("lap"/"eig": k frequencies, "rwse": steps,
  // "rfp": runs*(steps+1)*features) and how many channels it contributes to the node embedding.
  TORCH_ARG(std::int64_t, pe_in_dim) = 0;
  TORCH_ARG(std::int64_t, pe_dim) = 16;
  TORCH_ARG(std::string, lap_encoder) = "deepset";  // linear | deepset (GraphGPS LapPE)
  TORCH_ARG(std::int64_t, spe_phis) = 16;           // SPE: number of phi_l (authors' ZINC setting)
  TORCH_ARG(std::int64_t, spe_rho_layers) = 8;      // SPE: GIN layers of rho
  // RFP: the layout of the "rfp" columns, runs * (rfp_steps + 1) * rfp_features (pe.h defaults).
  TORCH_ARG(std::int64_t, rfp_steps) = 8;
  TORCH_ARG(std::int64_t, rfp_features) = 8;
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

std::vector<std::string> list_graph_models();    // {"gine", "gatedgcn", "gps"}
std::vector<std::string> list_graph_encoders();  // {"none", "lap", "rwse", "spe", "signnet", "rfp"}
// The `graph pe` spec an encoder reads by default ("" for none), e.g. "lap" -> "lap:k=8".
std::string required_pe_spec(const std::string& encoder);
// The columns of the main tensor that spec gives (0 for none), e.g. "lap" -> 8, "rfp" -> 72.
std::int64_t required_pe_in_dim(const std::string& encoder);

}  // namespace pesuite::graph
