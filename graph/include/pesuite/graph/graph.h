#pragma once
// pesuite::graph::Graph: one graph in compressed sparse row (CSR) form, with the optional data the
// public datasets carry (edge weights, node/edge features and labels, a graph label or target).
// Torch-free on purpose: loaders and encodings run on plain vectors; tensors appear only in
// batch.h and at the CLI edge.
//
//   using namespace pesuite::graph;
//   Graph g = Graph::from_pairs(4, {{0, 1}, {1, 2}, {2, 3}});   // undirected: both directions stored
//   for (auto e = g.row_begin(1); e < g.row_end(1); ++e) use(g.col[e], g.weight(e));
//   auto comp = connected_components(g);                         // comp.count == 1
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace pesuite::graph {

using Index = std::int64_t;

struct EdgeInput {
  Index src = 0, dst = 0;
  double weight = 1.0;
};

struct Graph {
  Index num_nodes = 0;
  bool directed = false;  // undirected graphs store every edge in both directions
  std::vector<Index> row_ptr{0};  // num_nodes + 1
  std::vector<Index> col;         // neighbour of each stored (directed) edge, sorted within a row
  std::vector<double> weights;    // empty = all 1
  // Position of each stored edge in the input edge list (for edge features/labels); for an
  // undirected graph both directions of input edge i map to i.
  std::vector<Index> edge_source;

  // Optional data, row-major (count x dim); empty when absent.
  std::vector<float> node_features;  Index node_feature_dim = 0;
  std::vector<std::int64_t> node_labels;
  std::vector<float> edge_features;  Index edge_feature_dim = 0;  // per input edge
  std::vector<std::int64_t> edge_labels;                         // per input edge
  std::int64_t graph_label = -1;         // classification label (-1 = none)
  std::vector<double> graph_targets;     // regression targets or attributes (empty = none)

  // Builds the CSR. Undirected: each input edge (u, v) is stored as u->v and v->u (a self loop
  // once); duplicate input edges are kept as given (the TU files list both directions already, so
  // loaders pass `symmetrize = false` for them). Ids out of range throw std::out_of_range.
  static Graph from_edges(Index num_nodes, const std::vector<EdgeInput>& edges, bool directed = false,
                          bool symmetrize = true);
  static Graph from_pairs(Index num_nodes, const std::vector<std::pair<Index, Index>>& edges,
                          bool directed = false);

  Index num_stored_edges() const { return static_cast<Index>(col.size()); }
  // Edges as a user counts them: undirected edges once (u < v plus self loops), directed all.
  Index num_edges() const;
  Index row_begin(Index u) const { return row_ptr[static_cast<std::size_t>(u)]; }
  Index row_end(Index u) const { return row_ptr[static_cast<std::size_t>(u) + 1]; }
  Index degree(Index u) const { return row_end(u) - row_begin(u); }
  double weight(Index e) const { return weights.empty() ? 1.0 : weights[static_cast<std::size_t>(e)]; }
  double weighted_degree(Index u) const;
  bool has_weights() const { return !weights.empty(); }

  // The same graph with node i renamed perm[i] (data moved along). For invariance tests.
  Graph relabel(const std::vector<Index>& perm) const;
  // The subgraph induced by `nodes` (in that order); node data kept, edge data dropped.
  Graph induced(const std::vector<Index>& nodes) const;
};

struct Components {
  Index count = 0;
  std::vector<Index> component;  // per node, 0..count-1 in order of first appearance
};
// Weakly connected components (Boost.Graph connected_components on the undirected view).
Components connected_components(const Graph& g);
// Hop distances from `source` (Boost.Graph BFS); -1 where unreachable.
std::vector<Index> bfs_distances(const Graph& g, Index source);
// Whether the undirected view has a cycle (Boost.Graph DFS back-edge test).
bool has_cycle(const Graph& g);
Index count_isolated(const Graph& g);

// Mixes graph structure and data into a 64-bit FNV-1a hash (the PE cache key).
std::uint64_t content_hash(const Graph& g, std::uint64_t seed = 1469598103934665603ull);

}  // namespace pesuite::graph
