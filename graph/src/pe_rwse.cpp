// RWSE: exact diag((D^-1 A)^t) by propagating each node's walk distribution through the sparse
// matrix. Work per node is bounded by the t-hop ball, so grids and molecules never touch the whole
// graph; no dense matrix power is ever formed (PyG issue 8427 was its memory growth).
#include <tbb/blocked_range.h>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_for.h>

#include "pesuite/graph/pe.h"

namespace pesuite::graph::pe {

namespace {
struct Scratch {
  std::vector<double> cur, nxt;
  std::vector<Index> cur_nodes, nxt_nodes;
  std::vector<char> in_next;
};
}  // namespace

std::vector<double> rwse(const Graph& g, Index steps) {
  const Index n = g.num_nodes;
  const auto T = static_cast<std::size_t>(steps);
  std::vector<double> out(static_cast<std::size_t>(n) * T, 0.0);
  // Row-stochastic weights P_uv = w_uv / deg_u (deg_u = 0: the row is 0, as GraphGPS's deg^-1 = 0).
  std::vector<double> inv_deg(static_cast<std::size_t>(n));
  for (Index u = 0; u < n; ++u) {
    const double d = g.weighted_degree(u);
    inv_deg[static_cast<std::size_t>(u)] = d > 0 ? 1.0 / d : 0.0;
  }
  auto make_scratch = [&] {
    Scratch s;
    s.cur.assign(static_cast<std::size_t>(n), 0.0);
    s.nxt.assign(static_cast<std::size_t>(n), 0.0);
    s.in_next.assign(static_cast<std::size_t>(n), 0);
    return s;
  };
  auto one = [&](Index src, Scratch& s) {
    s.cur_nodes.assign(1, src);
    s.cur[static_cast<std::size_t>(src)] = 1.0;
    for (std::size_t t = 0; t < T; ++t) {
      s.nxt_nodes.clear();
      for (Index u : s.cur_nodes) {  // x_{t+1} = x_t P (row vector): scatter along out-arcs
        const double xu = s.cur[static_cast<std::size_t>(u)] * inv_deg[static_cast<std::size_t>(u)];
        s.cur[static_cast<std::size_t>(u)] = 0.0;
        if (xu == 0.0) continue;
        for (Index e = g.row_begin(u); e < g.row_end(u); ++e) {
          const auto v = static_cast<std::size_t>(g.col[static_cast<std::size_t>(e)]);
          if (!s.in_next[v]) s.in_next[v] = 1, s.nxt_nodes.push_back(static_cast<Index>(v));
          s.nxt[v] += xu * g.weight(e);
        }
      }
      out[static_cast<std::size_t>(src) * T + t] = s.nxt[static_cast<std::size_t>(src)];
      for (Index v : s.nxt_nodes) s.in_next[static_cast<std::size_t>(v)] = 0;
      std::swap(s.cur, s.nxt);
      std::swap(s.cur_nodes, s.nxt_nodes);
    }
    for (Index u : s.cur_nodes) s.cur[static_cast<std::size_t>(u)] = 0.0;
  };
  if (n < 2000) {
    // Small graphs: the caller parallelises over graphs; avoid nested task overhead.
    Scratch s = make_scratch();
    for (Index i = 0; i < n; ++i) one(i, s);
  } else {
    tbb::enumerable_thread_specific<Scratch> scratch(make_scratch);
    tbb::parallel_for(tbb::blocked_range<Index>(0, n, 256), [&](const tbb::blocked_range<Index>& r) {
      Scratch& s = scratch.local();
      for (Index i = r.begin(); i < r.end(); ++i) one(i, s);
    });
  }
  return out;
}

}  // namespace pesuite::graph::pe
