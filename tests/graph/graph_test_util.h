#pragma once
// Small graphs with known spectra, shared by the graph tests.
#include <algorithm>
#include <random>
#include <vector>

#include "pesuite/graph/graph.h"

namespace pesuite::test {

inline graph::Graph cycle_graph(graph::Index n) {
  std::vector<std::pair<graph::Index, graph::Index>> e;
  for (graph::Index i = 0; i < n; ++i) e.push_back({i, (i + 1) % n});
  return graph::Graph::from_pairs(n, e);
}
inline graph::Graph path_graph(graph::Index n) {
  std::vector<std::pair<graph::Index, graph::Index>> e;
  for (graph::Index i = 0; i + 1 < n; ++i) e.push_back({i, i + 1});
  return graph::Graph::from_pairs(n, e);
}
inline graph::Graph complete_graph(graph::Index n) {
  std::vector<std::pair<graph::Index, graph::Index>> e;
  for (graph::Index i = 0; i < n; ++i)
    for (graph::Index j = i + 1; j < n; ++j) e.push_back({i, j});
  return graph::Graph::from_pairs(n, e);
}
inline graph::Graph complete_bipartite(graph::Index m, graph::Index n) {
  std::vector<std::pair<graph::Index, graph::Index>> e;
  for (graph::Index i = 0; i < m; ++i)
    for (graph::Index j = 0; j < n; ++j) e.push_back({i, m + j});
  return graph::Graph::from_pairs(m + n, e);
}
inline graph::Graph grid_graph(graph::Index r, graph::Index c) {
  std::vector<std::pair<graph::Index, graph::Index>> e;
  for (graph::Index i = 0; i < r; ++i)
    for (graph::Index j = 0; j < c; ++j) {
      if (j + 1 < c) e.push_back({i * c + j, i * c + j + 1});
      if (i + 1 < r) e.push_back({i * c + j, (i + 1) * c + j});
    }
  return graph::Graph::from_pairs(r * c, e);
}
// Connected random graph: a random spanning path plus G(n, p) edges.
inline graph::Graph random_connected(graph::Index n, double p, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<std::pair<graph::Index, graph::Index>> e;
  for (graph::Index i = 0; i + 1 < n; ++i) e.push_back({i, i + 1});
  for (graph::Index i = 0; i < n; ++i)
    for (graph::Index j = i + 2; j < n; ++j)
      if (u(rng) < p) e.push_back({i, j});
  return graph::Graph::from_pairs(n, e);
}
inline std::vector<graph::Index> random_perm(graph::Index n, unsigned seed) {
  std::vector<graph::Index> p(static_cast<std::size_t>(n));
  for (graph::Index i = 0; i < n; ++i) p[static_cast<std::size_t>(i)] = i;
  std::mt19937 rng(seed);
  std::shuffle(p.begin(), p.end(), rng);
  return p;
}

}  // namespace pesuite::test
