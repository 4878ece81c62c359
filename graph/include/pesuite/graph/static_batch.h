#pragma once
// Batches padded to a few fixed sizes, so that one captured CUDA graph (heads/cuda_graph.h) replays
// the training step of many batches. Padding is exact: padded nodes sit in an extra graph that
// pooling drops, padded edges join padded nodes only, batch norms take statistics over real rows
// (GraphBatch::node_mask / edge_mask), so the real rows' outputs and every gradient are those of the
// unpadded batch (tests/graph/test_graph_static.cpp checks it).
//
//   using namespace pesuite::graph;
//   auto shape = bucket_shape(batch);                 // nodes / edges rounded up to the bucket grid
//   PaddedBatch p = pad_batch(batch, pe, shape);      // same device as batch
//   auto out = model->forward(p.batch, p.pe);         // [G, out], as model->forward(batch, pe)
//   slot.copy_from(p);                                // into the static tensors a graph reads
#include <torch/torch.h>

#include <string>

#include "pesuite/graph/batch.h"
#include "pesuite/graph/gnn.h"

namespace pesuite::graph {

struct StaticShape {
  std::int64_t nodes = 0, edges = 0, graphs = 0;
  std::int64_t dense_nodes = 0;  // Nmax of dense attention (GPS, SPE)
  std::string key() const;       // "n<nodes>-e<edges>-g<graphs>-d<dense_nodes>"
  bool operator==(const StaticShape& o) const {
    return nodes == o.nodes && edges == o.edges && graphs == o.graphs && dense_nodes == o.dense_nodes;
  }
};

// The smallest shape on the bucket grid that holds `b`: nodes rounded up to a multiple of
// node_step with at least one padding node (padding edges need one), edges up to a multiple of
// edge_step, dense_nodes (the largest graph, from node_ptr on the host) up to a multiple of 8.
// Coarser steps: fewer shapes (fewer captures), more padded work per step.
StaticShape bucket_shape(const GraphBatch& b, std::int64_t node_step = 256, std::int64_t edge_step = 512);

struct PaddedBatch {
  GraphBatch batch;  // padded(): node_mask / edge_mask set
  PeTensors pe;      // every tensor's rows padded with zeros
  StaticShape shape;
  // Copies `src` (same shape, any device) into these tensors in place, so that a CUDA graph that
  // reads them sees the new batch. Throws InputError when the shapes differ.
  void copy_from(const PaddedBatch& src);
  PaddedBatch clone() const;  // the same values in new memory (a CUDA graph's static inputs)
  // Its tensors on `device` (non-blocking copies); node_ptr stays where it is (read on the host).
  PaddedBatch to(const torch::Device& device) const;
};

// `b` and `pe` (rows aligned with b.x) padded to `shape`, on b's device. Throws InputError when b does
// not fit (more nodes, edges or graphs, a graph larger than dense_nodes, or padding edges without a
// padding node).
PaddedBatch pad_batch(const GraphBatch& b, const PeTensors& pe, const StaticShape& shape);

}  // namespace pesuite::graph
