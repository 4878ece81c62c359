// Generated graph datasets: CSL (Murphy et al. 2019), grids, random d-regular graphs and the
// cycle-counting task. All seeded: the same spec gives the same graphs on every machine.
#include <algorithm>
#include <numeric>
#include <random>
#include <unordered_set>

#include "pesuite/datasets/graph_dataset.h"
#include "pesuite/graph/pe.h"
#include "pesuite/core/error.h"

namespace pesuite::datasets {

using graph::EdgeInput;
using graph::Graph;
using graph::Index;

namespace {
// Fisher-Yates with our own index draw: std::shuffle's algorithm differs between standard libraries.
std::vector<Index> permutation(Index n, std::mt19937_64& rng) {
  std::vector<Index> p(static_cast<std::size_t>(n));
  std::iota(p.begin(), p.end(), 0);
  for (Index i = n - 1; i > 0; --i) std::swap(p[static_cast<std::size_t>(i)], p[rng() % static_cast<std::uint64_t>(i + 1)]);
  return p;
}
void need(const DatasetSpec& spec, bool ok, const std::string& what) {
  if (!ok) throw core::InputError("dataset spec '" + spec.text + "': " + what);
}
}  // namespace

GraphDataset generate_csl(const DatasetSpec& spec) {
  static const int skips[] = {2, 3, 4, 5, 6, 9, 11, 12, 13, 16};
  const auto per_class = spec.get_int("per_class");
  need(spec, per_class >= 1, "per_class must be >= 1");
  const auto seed = static_cast<std::uint64_t>(spec.get_int("seed"));
  const Index n = 41;
  GraphDataset ds;
  ds.name = "CSL";
  ds.task = "graph_classification";
  ds.num_classes = 10;
  for (int c = 0; c < 10; ++c) ds.class_names.push_back("R=" + std::to_string(skips[c]));
  for (int c = 0; c < 10; ++c)
    for (std::int64_t j = 0; j < per_class; ++j) {
      std::mt19937_64 rng(graph::pe::derive_seed(seed, ds.graphs.size()));
      const auto p = permutation(n, rng);  // node i of the canonical graph becomes p[i]
      std::vector<EdgeInput> e;
      for (Index i = 0; i < n; ++i) {
        e.push_back({p[static_cast<std::size_t>(i)], p[static_cast<std::size_t>((i + 1) % n)], 1.0});
        e.push_back({p[static_cast<std::size_t>(i)], p[static_cast<std::size_t>((i + skips[c]) % n)], 1.0});
      }
      Graph g = Graph::from_edges(n, e);
      g.graph_label = c;
      ds.graphs.push_back(std::move(g));
    }
  return ds;
}

GraphDataset generate_grid(const DatasetSpec& spec) {
  const auto rows = spec.get_int("rows"), cols = spec.get_int("cols"), copies = spec.get_int("graphs");
  need(spec, rows >= 1 && cols >= 1 && copies >= 1, "rows, cols and graphs must be >= 1");
  std::vector<EdgeInput> e;
  e.reserve(static_cast<std::size_t>(2 * rows * cols));
  for (Index r = 0; r < rows; ++r)
    for (Index c = 0; c < cols; ++c) {
      const Index u = r * cols + c;
      if (c + 1 < cols) e.push_back({u, u + 1, 1.0});
      if (r + 1 < rows) e.push_back({u, u + cols, 1.0});
    }
  GraphDataset ds;
  ds.name = "grid" + std::to_string(rows) + "x" + std::to_string(cols);
  const Graph g = Graph::from_edges(rows * cols, e);
  ds.graphs.assign(static_cast<std::size_t>(copies), g);
  return ds;
}

// Random d-regular simple graph: configuration model pairing, then random double-edge swaps that
// remove each self loop / multi-edge (uniform restarts would almost never succeed for large n).
static Graph random_regular(Index n, Index d, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Index> stubs(static_cast<std::size_t>(n * d));
  for (Index i = 0; i < n * d; ++i) stubs[static_cast<std::size_t>(i)] = i / d;
  for (std::size_t i = stubs.size() - 1; i > 0; --i) std::swap(stubs[i], stubs[rng() % (i + 1)]);
  const std::size_t m = stubs.size() / 2;
  std::vector<std::pair<Index, Index>> e(m);
  auto key = [](Index a, Index b) { return a < b ? (static_cast<std::uint64_t>(a) << 32) | static_cast<std::uint64_t>(b)
                                                  : (static_cast<std::uint64_t>(b) << 32) | static_cast<std::uint64_t>(a); };
  std::unordered_multiset<std::uint64_t> present;
  present.reserve(m * 2);
  for (std::size_t i = 0; i < m; ++i) {
    e[i] = {stubs[2 * i], stubs[2 * i + 1]};
    present.insert(key(e[i].first, e[i].second));
  }
  auto bad = [&](std::size_t i) { return e[i].first == e[i].second || present.count(key(e[i].first, e[i].second)) > 1; };
  for (int pass = 0; pass < 100; ++pass) {
    bool any = false;
    for (std::size_t i = 0; i < m; ++i) {
      if (!bad(i)) continue;
      any = true;
      const std::size_t j = rng() % m;
      if (j == i) continue;
      auto [a, b] = e[i];
      auto [c, dd] = e[j];
      // Swap to (a, c), (b, dd) if that creates no loop or duplicate.
      if (a == c || b == dd || present.count(key(a, c)) || present.count(key(b, dd))) continue;
      present.erase(present.find(key(a, b)));
      present.erase(present.find(key(c, dd)));
      e[i] = {a, c};
      e[j] = {b, dd};
      present.insert(key(a, c));
      present.insert(key(b, dd));
    }
    if (!any) break;
  }
  for (std::size_t i = 0; i < m; ++i)
    if (bad(i)) throw std::runtime_error("could not make a simple regular graph (too dense?)");
  return Graph::from_pairs(n, e);
}

GraphDataset generate_regular(const DatasetSpec& spec) {
  const auto n = spec.get_int("nodes"), d = spec.get_int("degree"), graphs = spec.get_int("graphs");
  need(spec, n >= 2 && d >= 1 && d < n && (n * d) % 2 == 0 && graphs >= 1,
       "need nodes >= 2, 1 <= degree < nodes, nodes * degree even, graphs >= 1");
  GraphDataset ds;
  ds.name = "regular" + std::to_string(d) + "_n" + std::to_string(n);
  for (std::int64_t i = 0; i < graphs; ++i)
    ds.graphs.push_back(random_regular(n, d, graph::pe::derive_seed(static_cast<std::uint64_t>(spec.get_int("seed")), static_cast<std::uint64_t>(i))));
  return ds;
}

GraphDataset generate_count(const DatasetSpec& spec) {
  const auto G = spec.get_int("graphs");
  const auto range = spec.get_int_list("nodes");
  const double p = spec.get_double("p");
  need(spec, G >= 1 && !range.empty() && range.front() >= 1 && range.back() >= range.front() && p >= 0 && p <= 1,
       "need graphs >= 1, nodes lo-hi with 1 <= lo <= hi, 0 <= p <= 1");
  const auto lo = range.front(), hi = range.back();
  const auto seed = static_cast<std::uint64_t>(spec.get_int("seed"));
  GraphDataset ds;
  ds.name = "cycle_count";
  ds.task = "graph_regression";
  ds.target_names = {"cycles3", "cycles4", "cycles5", "cycles6"};
  for (std::int64_t i = 0; i < G; ++i) {
    std::mt19937_64 rng(graph::pe::derive_seed(seed, static_cast<std::uint64_t>(i)));
    const Index n = lo + static_cast<Index>(rng() % static_cast<std::uint64_t>(hi - lo + 1));
    std::vector<EdgeInput> e;
    for (Index u = 0; u < n; ++u)
      for (Index v = u + 1; v < n; ++v)
        if (static_cast<double>(rng() >> 11) * 0x1.0p-53 < p) e.push_back({u, v, 1.0});
    Graph g = Graph::from_edges(n, e);
    const auto counts = count_cycles(g, 6);
    g.graph_targets.assign(counts.begin(), counts.end());
    ds.graphs.push_back(std::move(g));
  }
  return ds;
}

}  // namespace pesuite::datasets
