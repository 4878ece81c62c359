#pragma once
// The learnable side of the graph positional encodings: modules that turn the precomputed tensors
// of `pesuite graph pe` (pe.h) into pe_dim node channels, which GraphModel concatenates to its node
// embedding (GraphGPS style). Each reads these PeTensors (rows aligned with batch.x, float):
//
// Each encoder is built by its row of the encoding registry (pe.h, graph/src/pe/registry.cpp) from
// the model's pe spec: encoder keys (lap: encoder=deepset|linear; spe: phis, rho_layers) are part
// of that spec, e.g. `model.pe = "spe:k=37,phis=8,rho_layers=2"`.
//
//   lap      "lap" [N, k] eigenvectors, "lap.eigval" [N, k] (deepset only), "lap.mask" [N, k]
//            (optional, 1 = real frequency; absent = all real). GraphGPS LapPE: random sign flip per
//            frequency while training; deepset: per frequency [v, lambda] -> Linear-ReLU-Linear-ReLU
//            -> masked sum over frequencies; linear: Linear(k -> pe_dim) over the vectors.
//   rwse     "rwse" [N, T]: BatchNorm1d(T) + Linear(T -> pe_dim) (GraphGPS kernel PE, raw_norm batchnorm).
//   spe      "eig" [N, k], "eig.eigval" [N, k], "eig.mask" [N, k] (optional): Huang et al. 2024,
//            per graph Z_l = V diag(phi_l(lambda)) V^T, l = 1..phis, phi = one element-wise MLP
//            1 -> 32 -> phis on the eigenvalues, then rho = rho_layers GIN layers over the
//            graph acting on each node's row Z[i, :, :] ([n, m]) as a set of columns, summed over the
//            columns -> pe_dim. Dense per graph: O(G Nmax^2 phis) memory, meant for molecules.
//            Invariant to eigenvector signs and to any basis of a repeated eigenvalue's eigenspace
//            (when k covers whole eigenspaces).
//   signnet  "eig" [N, k], "eig.mask" [N, k] (optional): Lim et al. 2022, phi(v) + phi(-v) with phi a
//            3-layer GIN over the graph applied to each eigenvector alone (1 -> 64 -> 4 channels),
//            then rho = MLP over the k * 4 concatenation -> pe_dim. Invariant to eigenvector signs.
//   rfp      "rfp" [N, runs * (steps + 1) * features], ordered [run][step][feature] (pe.h): a
//            DeepSet over the random features and runs: phi = MLP over each feature's trajectory
//            (steps + 1 -> 2 pe_dim -> 2 pe_dim), shared across features and runs, mean-pooled, then
//            Linear(2 pe_dim -> pe_dim). Equivariant to node order, invariant to the order of the
//            random features. Reads steps / features from its spec to split the columns.
//
//   using namespace pesuite::graph;
//   auto enc = make_pe_encoder(pe::parse_pe_spec("rwse:steps=20"), {/*in_dim=*/20, /*out_dim=*/16});
//   torch::Tensor pe16 = enc->forward(batch, {{"rwse", rwse}}, nullptr);   // [N, 16]
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "pesuite/graph/gnn.h"
#include "pesuite/graph/gnn_layers.h"
#include "pesuite/graph/pe.h"

namespace pesuite::graph {

class PeEncoderImpl : public torch::nn::Module {
 public:
  // `dense`: dense_layout(batch) when the caller already has it (spe needs one), else nullptr.
  // Throws InputError when a tensor it reads is missing or has the wrong number of columns.
  virtual torch::Tensor forward(const GraphBatch& batch, const PeTensors& pe, const DenseLayout* dense) = 0;
  // The PeTensors names it reads (the first is the main one, with pe_in_dim columns).
  virtual std::vector<std::string> reads() const = 0;
  std::int64_t out_dim() const { return out_dim_; }

 protected:
  std::int64_t out_dim_ = 0;
};

// The encoder of `spec`'s row (nullptr for rows without one: none, eig), reading shape.in_dim
// columns of its main tensor and producing shape.out_dim channels. InputError for a missing width.
std::shared_ptr<PeEncoderImpl> make_pe_encoder(const pe::PeSpec& spec, const pe::EncoderShape& shape);

// The tensor `name` from `pe`, checked: present, [N, cols] with N = batch rows; cast to `like`'s
// dtype and device. `encoder` names the encoder in the message.
torch::Tensor pe_tensor(const PeTensors& pe, const std::string& name, std::int64_t rows, std::int64_t cols,
                        const std::string& encoder, const torch::Tensor& like);

}  // namespace pesuite::graph
