#pragma once
// Many graphs as one block-diagonal batch, PyG-style, for GNN layers:
//   edge_index [2, E] int64 (stored directed edges, node ids offset per graph), x [N, F] float32,
//   edge_attr [E, D] float32, batch [N] int64 (graph of each node), node_ptr [G + 1] int64,
//   y [G] int64 (graph labels) or [G, T] float32 (targets).
//
//   auto b = pesuite::graph::make_batch({&g0, &g1});
//   model->forward(b.x, b.edge_index, b.batch);
#include <torch/torch.h>

#include <vector>

#include "pesuite/graph/graph.h"

namespace pesuite::graph {

struct GraphBatch {
  torch::Tensor edge_index, x, edge_attr, batch, node_ptr, y, edge_weight;
  std::int64_t num_graphs = 0;
  // Set only on a batch padded to fixed sizes (pad_batch, static_batch.h) so that one CUDA graph
  // serves many batches: node_mask [N] / edge_mask [E] float32, 1 = real, 0 = padding. Padded nodes
  // belong to an extra graph `num_graphs` (pooling drops it), padded edges join padded nodes, and
  // batch norms take their statistics over real rows only. dense_nodes: the Nmax that dense
  // attention pads every graph to (>= the largest real graph).
  torch::Tensor node_mask, edge_mask;
  std::int64_t dense_nodes = 0;
  bool padded() const { return node_mask.defined(); }
};

// The node count of the largest graph of `b`, read from node_ptr (copied to the host if it lives on
// a device); 0 when node_ptr is missing or does not have num_graphs + 1 entries.
std::int64_t largest_graph(const GraphBatch& b);

// x: node features if every graph has them, else one-hot node labels (num_node_labels columns,
// 0 = infer), else a column of ones. edge_attr: edge features, else one-hot edge labels, else empty.
GraphBatch make_batch(const std::vector<const Graph*>& graphs, std::int64_t num_node_labels = 0,
                      std::int64_t num_edge_labels = 0);

}  // namespace pesuite::graph
