// Exact counts of simple cycles of length 3..6 (the SPE substructure-counting targets).
#include <algorithm>
#include <numeric>

#include "pesuite/datasets/graph_dataset.h"

namespace pesuite::datasets {

using graph::Index;

namespace {
std::vector<std::vector<Index>> simple_neighbours(const graph::Graph& g) {
  std::vector<std::vector<Index>> nb(static_cast<std::size_t>(g.num_nodes));
  for (Index u = 0; u < g.num_nodes; ++u) {
    for (Index e = g.row_begin(u); e < g.row_end(u); ++e)
      if (g.col[static_cast<std::size_t>(e)] != u) nb[static_cast<std::size_t>(u)].push_back(g.col[static_cast<std::size_t>(e)]);
    auto& v = nb[static_cast<std::size_t>(u)];
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
  }
  return nb;
}
}  // namespace

// Every cycle is found from its smallest vertex s, walking only through vertices > s, in both
// directions: each cycle is counted exactly twice. Cost O(n d^(L-1)), fine for sparse graphs.
std::vector<std::int64_t> count_cycles(const graph::Graph& g, int max_length) {
  const auto nb = simple_neighbours(g);
  std::vector<std::int64_t> twice(static_cast<std::size_t>(std::max(0, max_length - 2)), 0);
  std::vector<char> on_path(static_cast<std::size_t>(g.num_nodes), 0);
  std::vector<Index> path;
  struct Walk {
    const std::vector<std::vector<Index>>& nb;
    std::vector<char>& on;
    std::vector<std::int64_t>& twice;
    int max_len;
    Index s;
    void go(Index u, int len) {  // len = vertices on the path so far, u = last
      for (Index v : nb[static_cast<std::size_t>(u)]) {
        if (v == s && len >= 3) ++twice[static_cast<std::size_t>(len - 3)];
        if (v <= s || on[static_cast<std::size_t>(v)] || len == max_len) continue;
        on[static_cast<std::size_t>(v)] = 1;
        go(v, len + 1);
        on[static_cast<std::size_t>(v)] = 0;
      }
    }
  };
  for (Index s = 0; s < g.num_nodes; ++s) {
    Walk w{nb, on_path, twice, max_length, s};
    on_path[static_cast<std::size_t>(s)] = 1;
    w.go(s, 1);
    on_path[static_cast<std::size_t>(s)] = 0;
  }
  for (auto& c : twice) c /= 2;
  return twice;
}

std::vector<std::int64_t> count_cycles_brute_force(const graph::Graph& g, int max_length) {
  const auto nb = simple_neighbours(g);
  const Index n = g.num_nodes;
  auto adj = [&](Index a, Index b) {
    return std::binary_search(nb[static_cast<std::size_t>(a)].begin(), nb[static_cast<std::size_t>(a)].end(), b);
  };
  std::vector<std::int64_t> out;
  for (int L = 3; L <= max_length; ++L) {
    std::int64_t total = 0;
    // Subsets of size L by a selection mask; cycles through all L vertices by permutations fixing
    // the first vertex (each cycle appears twice: two directions).
    std::vector<char> sel(static_cast<std::size_t>(n), 0);
    if (L > n) {
      out.push_back(0);
      continue;
    }
    std::fill(sel.end() - L, sel.end(), 1);
    do {
      std::vector<Index> vs;
      for (Index i = 0; i < n; ++i)
        if (sel[static_cast<std::size_t>(i)]) vs.push_back(i);
      std::int64_t c = 0;
      do {
        bool ok = true;
        for (int i = 0; i < L && ok; ++i) ok = adj(vs[static_cast<std::size_t>(i)], vs[static_cast<std::size_t>((i + 1) % L)]);
        c += ok;
      } while (std::next_permutation(vs.begin() + 1, vs.end()));
      total += c / 2;
    } while (std::next_permutation(sel.begin(), sel.end()));
    out.push_back(total);
  }
  return out;
}

}  // namespace pesuite::datasets
