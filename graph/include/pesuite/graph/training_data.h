#pragma once
// Data side of graph training (graph_training.h): the dataset loaded from its spec and checked
// against the task, node/edge feature widths fixed for the whole dataset (so that every batch has
// the same columns), the positional encodings computed once through the on-disk PE cache, and the
// gather of a batch's encoding rows by node_ptr. Used by the training loop and by tests.
//
//   auto data = prepare_graph_data(cfg);                 // InputError on anything wrong
//   graph::PeTensors pe;
//   graph::GraphBatch b = data.batch({0, 5, 7}, &pe);     // pe rows aligned with b.x
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "pesuite/core/config.h"
#include "pesuite/datasets/graph_dataset.h"
#include "pesuite/graph/batch.h"
#include "pesuite/graph/gnn.h"
#include "pesuite/graph/pe.h"

namespace pesuite::graph {

struct GraphData {
  datasets::GraphDataset ds;
  std::string spec;  // the dataset spec after ${data} substitution
  std::string format;  // its format (parsed once, here)
  std::string task;  // graph_classification | graph_regression | node_classification
  std::int64_t num_node_labels = 0, num_edge_labels = 0;
  std::int64_t in_dim = 1, edge_dim = 0, out_dim = 1, num_classes = 0;
  std::vector<std::int64_t> labels;          // classification: per graph, or per node (node task)
  std::vector<std::int64_t> target_columns;  // regression: columns of graph_targets used
  std::vector<std::string> target_names;
  // The model's encoding (model.pe, parsed once, here) and its tensors for the whole dataset, rows
  // = all nodes in dataset order (pe_node_ptr per graph).
  pe::PeSpec pe_spec;
  std::vector<std::int64_t> pe_node_ptr;
  graph::PeTensors pe;
  std::string pe_main;         // the tensor the encoder reads ("lap", "rwse", "eig", "rfp"; "" for none)
  std::int64_t pe_in_dim = 0;  // its columns (after model.pe_in_dim narrowing)
  double pe_seconds = 0;
  bool pe_from_cache = false;

  std::int64_t size() const;  // items the splits index: graphs, or nodes for node classification
  // The batch of these graphs; when `pe` is given, fills it with the encoding rows of their nodes.
  graph::GraphBatch batch(const std::vector<std::int64_t>& graphs, graph::PeTensors* pe = nullptr) const;
  // Regression targets of these graphs, [n, T] float32 (NaN where missing).
  torch::Tensor targets(const std::vector<std::int64_t>& graphs) const;
};

// Loads and checks everything the config names on the data side (dataset, task, labels, encoding
// spec and width); computes or reads the encodings.
GraphData prepare_graph_data(const core::Config& cfg);

// The dataset specs a graph config names (data.spec, and data.val_spec / data.test_spec when set),
// with ${data} expanded: what the training loads and what a table checks for presence.
std::vector<std::string> graph_dataset_specs(const core::Config& cfg);

}  // namespace pesuite::graph
