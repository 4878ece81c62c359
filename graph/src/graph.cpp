#include "pesuite/graph/graph.h"

#include <algorithm>
#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/breadth_first_search.hpp>
#include <boost/graph/connected_components.hpp>
#include <boost/graph/undirected_dfs.hpp>
#include <cstring>
#include <map>
#include <numeric>
#include <stdexcept>

namespace pesuite::graph {

Graph Graph::from_edges(Index n, const std::vector<EdgeInput>& edges, bool directed, bool symmetrize) {
  Graph g;
  g.num_nodes = n;
  g.directed = directed;
  const bool both = !directed && symmetrize;
  bool weighted = false;
  std::vector<Index> count(static_cast<std::size_t>(n) + 1, 0);
  for (const auto& e : edges) {
    if (e.src < 0 || e.src >= n || e.dst < 0 || e.dst >= n)
      throw std::out_of_range("edge (" + std::to_string(e.src) + ", " + std::to_string(e.dst) +
                              ") out of range for " + std::to_string(n) + " nodes");
    if (e.weight != 1.0) weighted = true;
    ++count[static_cast<std::size_t>(e.src) + 1];
    if (both && e.src != e.dst) ++count[static_cast<std::size_t>(e.dst) + 1];
  }
  std::partial_sum(count.begin(), count.end(), count.begin());
  g.row_ptr = count;
  const auto m = static_cast<std::size_t>(count.back());
  g.col.resize(m);
  g.edge_source.resize(m);
  std::vector<double> w(weighted ? m : 0);
  std::vector<Index> fill(count.begin(), count.end() - 1);
  auto put = [&](Index u, Index v, double wt, Index src) {
    const auto p = static_cast<std::size_t>(fill[static_cast<std::size_t>(u)]++);
    g.col[p] = v;
    g.edge_source[p] = src;
    if (weighted) w[p] = wt;
  };
  for (std::size_t i = 0; i < edges.size(); ++i) {
    const auto& e = edges[i];
    put(e.src, e.dst, e.weight, static_cast<Index>(i));
    if (both && e.src != e.dst) put(e.dst, e.src, e.weight, static_cast<Index>(i));
  }
  // Sort each row by neighbour (stable, so parallel edges keep input order): deterministic CSR.
  std::vector<std::size_t> idx;
  for (Index u = 0; u < n; ++u) {
    const auto b = static_cast<std::size_t>(g.row_ptr[static_cast<std::size_t>(u)]);
    const auto e = static_cast<std::size_t>(g.row_ptr[static_cast<std::size_t>(u) + 1]);
    if (std::is_sorted(g.col.begin() + static_cast<std::ptrdiff_t>(b), g.col.begin() + static_cast<std::ptrdiff_t>(e)))
      continue;
    idx.resize(e - b);
    std::iota(idx.begin(), idx.end(), b);
    std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t c) { return g.col[a] < g.col[c]; });
    std::vector<Index> c2(idx.size()), s2(idx.size());
    std::vector<double> w2(weighted ? idx.size() : 0);
    for (std::size_t k = 0; k < idx.size(); ++k) {
      c2[k] = g.col[idx[k]];
      s2[k] = g.edge_source[idx[k]];
      if (weighted) w2[k] = w[idx[k]];
    }
    std::copy(c2.begin(), c2.end(), g.col.begin() + static_cast<std::ptrdiff_t>(b));
    std::copy(s2.begin(), s2.end(), g.edge_source.begin() + static_cast<std::ptrdiff_t>(b));
    if (weighted) std::copy(w2.begin(), w2.end(), w.begin() + static_cast<std::ptrdiff_t>(b));
  }
  g.weights = std::move(w);
  return g;
}

Graph Graph::from_pairs(Index n, const std::vector<std::pair<Index, Index>>& edges, bool directed) {
  std::vector<EdgeInput> in;
  in.reserve(edges.size());
  for (const auto& [u, v] : edges) in.push_back({u, v, 1.0});
  return from_edges(n, in, directed, true);
}

Index Graph::num_edges() const {
  if (directed) return num_stored_edges();
  Index m = 0;
  for (Index u = 0; u < num_nodes; ++u)
    for (Index e = row_begin(u); e < row_end(u); ++e) m += col[static_cast<std::size_t>(e)] >= u;
  return m;
}

double Graph::weighted_degree(Index u) const {
  if (weights.empty()) return static_cast<double>(degree(u));
  double d = 0;
  for (Index e = row_begin(u); e < row_end(u); ++e) d += weights[static_cast<std::size_t>(e)];
  return d;
}

Graph Graph::relabel(const std::vector<Index>& perm) const {
  std::vector<EdgeInput> edges;
  edges.reserve(col.size());
  for (Index u = 0; u < num_nodes; ++u)
    for (Index e = row_begin(u); e < row_end(u); ++e)
      edges.push_back({perm[static_cast<std::size_t>(u)], perm[static_cast<std::size_t>(col[static_cast<std::size_t>(e)])], weight(e)});
  Graph g = from_edges(num_nodes, edges, directed, /*symmetrize=*/false);
  g.directed = directed;
  const auto n = static_cast<std::size_t>(num_nodes);
  if (!node_labels.empty()) {
    g.node_labels.resize(n);
    for (std::size_t i = 0; i < n; ++i) g.node_labels[static_cast<std::size_t>(perm[i])] = node_labels[i];
  }
  if (!node_features.empty()) {
    const auto d = static_cast<std::size_t>(node_feature_dim);
    g.node_feature_dim = node_feature_dim;
    g.node_features.resize(node_features.size());
    for (std::size_t i = 0; i < n; ++i)
      std::memcpy(&g.node_features[static_cast<std::size_t>(perm[i]) * d], &node_features[i * d], d * sizeof(float));
  }
  g.graph_label = graph_label;
  g.graph_targets = graph_targets;
  return g;
}

Graph Graph::induced(const std::vector<Index>& nodes) const {
  std::vector<Index> map(static_cast<std::size_t>(num_nodes), -1);
  for (std::size_t i = 0; i < nodes.size(); ++i) map[static_cast<std::size_t>(nodes[i])] = static_cast<Index>(i);
  std::vector<EdgeInput> edges;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const Index u = nodes[i];
    for (Index e = row_begin(u); e < row_end(u); ++e) {
      const Index v = map[static_cast<std::size_t>(col[static_cast<std::size_t>(e)])];
      if (v >= 0) edges.push_back({static_cast<Index>(i), v, weight(e)});
    }
  }
  Graph g = from_edges(static_cast<Index>(nodes.size()), edges, directed, false);
  if (!node_labels.empty())
    for (Index u : nodes) g.node_labels.push_back(node_labels[static_cast<std::size_t>(u)]);
  if (!node_features.empty()) {
    g.node_feature_dim = node_feature_dim;
    const auto d = static_cast<std::size_t>(node_feature_dim);
    for (Index u : nodes)
      g.node_features.insert(g.node_features.end(), node_features.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(u) * d),
                             node_features.begin() + static_cast<std::ptrdiff_t>((static_cast<std::size_t>(u) + 1) * d));
  }
  return g;
}

namespace {
using UGraph = boost::adjacency_list<boost::vecS, boost::vecS, boost::undirectedS>;
UGraph to_boost(const Graph& g) {
  UGraph b(static_cast<std::size_t>(g.num_nodes));
  for (Index u = 0; u < g.num_nodes; ++u)
    for (Index e = g.row_begin(u); e < g.row_end(u); ++e) {
      const Index v = g.col[static_cast<std::size_t>(e)];
      // Undirected graphs store both directions: add each edge once. Directed: every arc (weak view).
      if (g.directed || u <= v) boost::add_edge(static_cast<std::size_t>(u), static_cast<std::size_t>(v), b);
    }
  return b;
}
}  // namespace

Components connected_components(const Graph& g) {
  Components c;
  const auto n = static_cast<std::size_t>(g.num_nodes);
  std::vector<int> raw(n);
  if (n == 0) return c;
  const UGraph b = to_boost(g);
  boost::connected_components(b, raw.data());
  // Renumber by first appearance so that results do not depend on Boost's internal order.
  std::vector<Index> map(n, -1);
  c.component.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto& m = map[static_cast<std::size_t>(raw[i])];
    if (m < 0) m = c.count++;
    c.component[i] = m;
  }
  return c;
}

std::vector<Index> bfs_distances(const Graph& g, Index source) {
  const auto n = static_cast<std::size_t>(g.num_nodes);
  std::vector<Index> dist(n, -1);
  if (source < 0 || source >= g.num_nodes) throw std::out_of_range("bfs source out of range");
  if (!g.directed) {
    const UGraph b = to_boost(g);
    std::vector<std::size_t> d(n, 0);
    std::vector<boost::default_color_type> color(n);
    boost::breadth_first_search(
        b, static_cast<std::size_t>(source),
        boost::visitor(boost::make_bfs_visitor(boost::record_distances(d.data(), boost::on_tree_edge())))
            .color_map(boost::make_iterator_property_map(color.data(), boost::get(boost::vertex_index, b))));
    for (std::size_t i = 0; i < n; ++i)
      dist[i] = (color[i] == boost::black_color || i == static_cast<std::size_t>(source)) ? static_cast<Index>(d[i]) : -1;
    return dist;
  }
  // Directed: follow arcs (Boost's undirected view would lose the direction).
  std::vector<Index> queue{source};
  dist[static_cast<std::size_t>(source)] = 0;
  for (std::size_t h = 0; h < queue.size(); ++h) {
    const Index u = queue[h];
    for (Index e = g.row_begin(u); e < g.row_end(u); ++e) {
      const Index v = g.col[static_cast<std::size_t>(e)];
      if (dist[static_cast<std::size_t>(v)] < 0) {
        dist[static_cast<std::size_t>(v)] = dist[static_cast<std::size_t>(u)] + 1;
        queue.push_back(v);
      }
    }
  }
  return dist;
}

namespace {
struct CycleVisitor : boost::dfs_visitor<> {
  bool* found;
  explicit CycleVisitor(bool* f) : found(f) {}
  template <class E, class G>
  void back_edge(E, const G&) { *found = true; }
};
}  // namespace

bool has_cycle(const Graph& g) {
  const UGraph b = to_boost(g);
  bool found = false;
  const auto n = boost::num_vertices(b);
  std::vector<boost::default_color_type> vcolor(n);
  std::map<UGraph::edge_descriptor, boost::default_color_type> ecolor;
  boost::undirected_dfs(b, CycleVisitor(&found),
                        boost::make_iterator_property_map(vcolor.data(), boost::get(boost::vertex_index, b)),
                        boost::make_assoc_property_map(ecolor));
  return found;
}

Index count_isolated(const Graph& g) {
  Index c = 0;
  for (Index u = 0; u < g.num_nodes; ++u) {
    bool iso = true;
    for (Index e = g.row_begin(u); e < g.row_end(u) && iso; ++e) iso = g.col[static_cast<std::size_t>(e)] == u;
    c += iso;
  }
  return c;
}

namespace {
void mix(std::uint64_t& h, const void* data, std::size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
}
template <class T>
void mix_vec(std::uint64_t& h, const std::vector<T>& v) {
  const std::uint64_t n = v.size();
  mix(h, &n, sizeof n);
  if (!v.empty()) mix(h, v.data(), v.size() * sizeof(T));
}
}  // namespace

std::uint64_t content_hash(const Graph& g, std::uint64_t h) {
  mix(h, &g.num_nodes, sizeof g.num_nodes);
  const char d = g.directed;
  mix(h, &d, 1);
  mix_vec(h, g.row_ptr);
  mix_vec(h, g.col);
  mix_vec(h, g.weights);
  return h;
}

}  // namespace pesuite::graph
