#pragma once
// Shared by the GNN tests: random features on small batches, encodings, model options per encoder,
// and a relative closeness check.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "graph_test_util.h"
#include "pesuite/graph/batch.h"
#include "pesuite/graph/gnn.h"
#include "pesuite/graph/gnn_encoders.h"
#include "pesuite/graph/pe.h"
#include "pesuite/graph/pe_dataset.h"

namespace pesuite::test {

using graph::Graph;
using graph::GraphBatch;
using graph::GraphModelOptions;
using graph::PeTensors;

inline constexpr std::int64_t kNodeDim = 3, kEdgeDim = 2;

inline double max_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

// Close relative to the scale of `b` (deep random models can produce large values).
inline void expect_close(const torch::Tensor& a, const torch::Tensor& b, const std::string& what, double tol = 1e-4) {
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  const double scale = std::max(1.0, b.abs().max().item<double>());
  EXPECT_LT(max_diff(a, b), tol * scale) << what;
}

// A batch of `graphs` with random node and edge features (deterministic in `seed`).
inline GraphBatch featured_batch(const std::vector<Graph>& graphs, std::uint64_t seed) {
  std::vector<const Graph*> ptrs;
  for (const auto& g : graphs) ptrs.push_back(&g);
  auto b = graph::make_batch(ptrs);
  torch::manual_seed(seed);
  b.x = torch::randn({b.x.size(0), kNodeDim});
  b.edge_attr = torch::randn({b.edge_index.size(1), kEdgeDim});
  b.y = torch::randn({b.num_graphs, 1});
  return b;
}

// The encodings `spec` reads (its computation: spe:k=6 computes eig:k=6) for `graphs`, rows
// aligned with the batch.
inline PeTensors compute_pe(const std::vector<Graph>& graphs, const std::string& spec) {
  auto all = graph::pe::compute_dataset(graphs, {graph::pe::parse_pe_spec(spec).computation()}, 1);
  PeTensors out;
  for (auto& [name, enc] : all.tensors) {
    const auto rows = static_cast<std::int64_t>(enc.values.size()) / enc.dim;
    out[name] = torch::from_blob(enc.values.data(), {rows, enc.dim}, torch::kFloat32).clone();
  }
  return out;
}

inline std::vector<Graph> small_graphs() {
  return {random_connected(5, 0.4, 1), cycle_graph(6), random_connected(10, 0.3, 2), path_graph(4)};
}

struct EncoderCase {
  std::string encoder, spec;
  std::int64_t pe_in_dim;
};
inline std::vector<EncoderCase> encoder_cases() {
  return {{"none", "", 0},
          {"lap", "lap:k=4", 4},
          {"rwse", "rwse:steps=5", 5},
          {"spe", "spe:k=6,phis=4,rho_layers=3", 6},
          {"signnet", "signnet:k=6", 6},
          {"rfp", "rfp:steps=3,features=4,runs=2", 32}};
}

inline GraphModelOptions model_options(const std::string& model, const EncoderCase& enc, const std::string& pool) {
  GraphModelOptions o;
  o.model(model).pe(enc.spec.empty() ? "none" : enc.spec).in_dim(kNodeDim).edge_dim(kEdgeDim).out_dim(2).hidden(16).layers(2).heads(2);
  o.pool(pool).pe_in_dim(enc.pe_in_dim).pe_dim(4);
  return o;
}

// The encoder a model with these options would build.
inline std::shared_ptr<graph::PeEncoderImpl> encoder_of(const GraphModelOptions& o) {
  return graph::make_pe_encoder(graph::pe::parse_pe_spec(o.pe()), {o.pe_in_dim(), o.pe_dim()});
}

}  // namespace pesuite::test
