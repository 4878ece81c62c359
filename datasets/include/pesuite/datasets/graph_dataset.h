#pragma once
// Graph datasets from their public formats and from generators, all through the dataset spec:
//   tu:/data/MUTAG.zip   tu:/data/ENZYMES (folder)   ogb:/data/ogbg_molesol?split=scaffold&subset=train
//   linqs:/data/cora.zip   edgelist:/data/roads.txt?directed=0   csl:?seed=0   grid:?rows=300&cols=300
//   regular:?nodes=1000000&degree=4   count:?graphs=1000&nodes=10-30
//
//   auto ds = pesuite::datasets::load_graph_dataset(pesuite::datasets::parse_spec("tu:/data/MUTAG.zip"));   // formats.h
//   ds.graphs.size();  ds.graphs[0].graph_label;  ds.num_classes;  ds.splits["train"];
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "pesuite/datasets/spec.h"
#include "pesuite/graph/graph.h"

namespace pesuite::datasets {

struct GraphDataset {
  std::string name;   // "MUTAG", "ogbg_molesol", "cora", "CSL", ...
  std::string spec;   // the spec it was loaded from
  // "graph_classification", "graph_regression", "node_classification", "none"
  std::string task = "none";
  std::vector<graph::Graph> graphs;
  // The metric the dataset's benchmark reports ("" = the task's usual one): OGB regression sets
  // are scored by RMSE, as OGB's evaluator does.
  std::string metric;
  // Features are integer codes of categories (OGB atom / bond features), to be one-hot encoded.
  bool categorical_features = false;
  std::int64_t num_classes = 0;          // classification tasks
  std::vector<std::string> class_names;  // original label values / names, by class index
  std::vector<std::string> target_names; // regression: one per graph_targets column
  // Split name -> indices (graphs for graph tasks, nodes for node tasks). Empty when the format
  // carries none (TU, generators: the experiment draws its own folds).
  std::map<std::string, std::vector<std::int64_t>> splits;
  std::map<std::string, std::string> notes;  // e.g. skipped dangling citations
};

// One loader per format (each in its own file); load_graph_dataset (formats.h) picks by the spec.
GraphDataset load_tu(const DatasetSpec& spec);        // tu.cpp
GraphDataset load_ogb(const DatasetSpec& spec);       // ogb.cpp
GraphDataset load_linqs(const DatasetSpec& spec);     // linqs.cpp
GraphDataset load_edgelist(const DatasetSpec& spec);  // edgelist.cpp
GraphDataset generate_csl(const DatasetSpec& spec);   // generators.cpp
GraphDataset generate_grid(const DatasetSpec& spec);
GraphDataset generate_regular(const DatasetSpec& spec);
GraphDataset generate_count(const DatasetSpec& spec);

// Simple cycles of length 3..6 in an undirected simple graph: counts[L - 3] (cycle_count.cpp).
// Fast: rooted depth-limited search from each cycle's smallest vertex.
std::vector<std::int64_t> count_cycles(const graph::Graph& g, int max_length = 6);
// Reference: every vertex subset of size L, Hamiltonian cycles of the induced subgraph by
// permutation. Exponential; for tests on small graphs only.
std::vector<std::int64_t> count_cycles_brute_force(const graph::Graph& g, int max_length = 6);

}  // namespace pesuite::datasets
