// RWSE: exact diag((D^-1 A)^t), t = 1..T. No dense matrix power is ever formed (PyG issue 8427 was
// its memory growth).
//
// When A is symmetric (every undirected graph, and directed input whose arcs come in equal-weight
// pairs), P = D^-1 A is similar to S = D^-1/2 A D^-1/2 through a diagonal matrix, so diag(P^t) =
// diag(S^t), and S is symmetric: (S^2s)_ii = ||row i of S^s||^2 and (S^(2s+1))_ii = <row i of S^s,
// row i of S^(s+1)>. Only powers up to ceil(T/2) are needed: half the products, and for large graphs a
// walk ball of half the radius. Small graphs (molecules, TU) propagate all n start vectors at once as
// one row-major n x n block (S X, vectorised over the n contiguous columns); large ones propagate each
// start node through the sparse matrix, touching only its ball, in parallel over nodes. Directed
// graphs with asymmetric arcs use the plain walk x_{t+1} = x_t P.
#include <tbb/blocked_range.h>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>

#include "pesuite/graph/pe.h"

namespace pesuite::graph::pe {

namespace {

struct Scratch {
  std::vector<double> cur, nxt;
  std::vector<Index> cur_nodes, nxt_nodes;
  std::vector<char> in_next;
};

// Runs one(src, scratch) for every start node: serially below 2000 nodes, else in parallel with one
// n-sized scratch per thread (both walks keep their vectors zero off the current support).
template <class PerSource>
void for_each_source(Index n, const PerSource& one) {
  auto make_scratch = [n] {
    Scratch s;
    s.cur.assign(static_cast<std::size_t>(n), 0.0);
    s.nxt.assign(static_cast<std::size_t>(n), 0.0);
    s.in_next.assign(static_cast<std::size_t>(n), 0);
    return s;
  };
  if (n < 2000) {
    Scratch s = make_scratch();
    for (Index i = 0; i < n; ++i) one(i, s);
  } else {
    tbb::enumerable_thread_specific<Scratch> scratch(make_scratch);
    tbb::parallel_for(tbb::blocked_range<Index>(0, n, 256), [&](const tbb::blocked_range<Index>& r) {
      Scratch& s = scratch.local();
      for (Index i = r.begin(); i < r.end(); ++i) one(i, s);
    });
  }
}

// Sum of the weights of the arcs u -> v (rows are sorted; parallel arcs add up).
double arc_weight(const Graph& g, Index u, Index v) {
  const auto b = g.col.begin() + g.row_begin(u), e = g.col.begin() + g.row_end(u);
  double w = 0;
  for (auto it = std::lower_bound(b, e, v); it != e && *it == v; ++it) w += g.weight(it - g.col.begin());
  return w;
}

bool symmetric_arcs(const Graph& g) {
  // Undirected graphs store both directions with one weight by construction, unless built with
  // symmetrize = false from a one-sided list: check always (O(E log deg), negligible).
  for (Index u = 0; u < g.num_nodes; ++u)
    for (Index e = g.row_begin(u); e < g.row_end(u); ++e) {
      const Index v = g.col[static_cast<std::size_t>(e)];
      if (v == u || (e > g.row_begin(u) && g.col[static_cast<std::size_t>(e - 1)] == v)) continue;
      const double a = arc_weight(g, u, v), b = arc_weight(g, v, u);
      if (std::abs(a - b) > 1e-12 * std::max(std::abs(a), std::abs(b))) return false;
    }
  return true;
}

// Plain walk for asymmetric arcs: x_{t+1} = x_t P from each node (row vector, scatter along out-arcs).
void rwse_walk(const Graph& g, Index steps, const std::vector<double>& inv_deg, std::vector<double>& out) {
  const Index n = g.num_nodes;
  const auto T = static_cast<std::size_t>(steps);
  auto one = [&](Index src, Scratch& s) {
    s.cur_nodes.assign(1, src);
    s.cur[static_cast<std::size_t>(src)] = 1.0;
    for (std::size_t t = 0; t < T; ++t) {
      s.nxt_nodes.clear();
      for (Index u : s.cur_nodes) {
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
  for_each_source(n, one);
}

// Small symmetric graphs: X_s = S^s for all start nodes at once (row-major n x n), s = 0..ceil(T/2).
void rwse_block(const Graph& g, Index steps, const std::vector<double>& isd, std::vector<double>& out) {
  const Index n = g.num_nodes, T = steps;
  thread_local std::vector<double> buf_a, buf_b, sval;
  buf_a.assign(static_cast<std::size_t>(n * n), 0.0);
  buf_b.resize(static_cast<std::size_t>(n * n));
  sval.resize(g.col.size());
  for (Index u = 0; u < n; ++u)
    for (Index e = g.row_begin(u); e < g.row_end(u); ++e)
      sval[static_cast<std::size_t>(e)] = g.weight(e) * isd[static_cast<std::size_t>(u)] * isd[static_cast<std::size_t>(g.col[static_cast<std::size_t>(e)])];
  double* x = buf_a.data();  // X_s
  double* y = buf_b.data();  // X_{s+1}
  for (Index i = 0; i < n; ++i) x[i * n + i] = 1.0;
  const Index half = (T + 1) / 2;
  for (Index s = 0; s < half; ++s) {
    for (Index i = 0; i < n; ++i) {
      double* yi = y + i * n;
      std::fill(yi, yi + n, 0.0);
      for (Index e = g.row_begin(i); e < g.row_end(i); ++e) {
        const double w = sval[static_cast<std::size_t>(e)];
        const double* xj = x + g.col[static_cast<std::size_t>(e)] * n;
        for (Index q = 0; q < n; ++q) yi[q] += w * xj[q];
      }
    }
    // t = 2s + 1 (<X_s, X_{s+1}>) and t = 2s + 2 (||X_{s+1}||^2), rows i.
    for (Index i = 0; i < n; ++i) {
      const double* xi = x + i * n;
      const double* yi = y + i * n;
      double odd = 0, even = 0;
      for (Index q = 0; q < n; ++q) odd += xi[q] * yi[q], even += yi[q] * yi[q];
      out[static_cast<std::size_t>(i * T + 2 * s)] = odd;
      if (2 * s + 1 < T) out[static_cast<std::size_t>(i * T + 2 * s + 1)] = even;
    }
    std::swap(x, y);
  }
}

// Large symmetric graphs: from each start node, x_s = S^s e_i over its ball only.
void rwse_sym_sparse(const Graph& g, Index steps, const std::vector<double>& isd, std::vector<double>& out) {
  const Index n = g.num_nodes, T = steps, half = (T + 1) / 2;
  auto one = [&](Index src, Scratch& s) {
    s.cur_nodes.assign(1, src);
    s.cur[static_cast<std::size_t>(src)] = 1.0;
    for (Index st = 0; st < half; ++st) {
      s.nxt_nodes.clear();
      for (Index u : s.cur_nodes) {  // x_{s+1} = S x_s (S symmetric: scatter along arcs)
        const double xu = s.cur[static_cast<std::size_t>(u)] * isd[static_cast<std::size_t>(u)];
        if (xu == 0.0) continue;
        for (Index e = g.row_begin(u); e < g.row_end(u); ++e) {
          const auto v = static_cast<std::size_t>(g.col[static_cast<std::size_t>(e)]);
          if (!s.in_next[v]) s.in_next[v] = 1, s.nxt_nodes.push_back(static_cast<Index>(v));
          s.nxt[v] += xu * g.weight(e) * isd[v];
        }
      }
      double odd = 0, even = 0;
      for (Index v : s.nxt_nodes) {
        const double yv = s.nxt[static_cast<std::size_t>(v)];
        odd += s.cur[static_cast<std::size_t>(v)] * yv;  // cur is 0 off its own support
        even += yv * yv;
      }
      out[static_cast<std::size_t>(src * T + 2 * st)] = odd;
      if (2 * st + 1 < T) out[static_cast<std::size_t>(src * T + 2 * st + 1)] = even;
      for (Index u : s.cur_nodes) s.cur[static_cast<std::size_t>(u)] = 0.0;
      for (Index v : s.nxt_nodes) s.in_next[static_cast<std::size_t>(v)] = 0;
      std::swap(s.cur, s.nxt);
      std::swap(s.cur_nodes, s.nxt_nodes);
    }
    for (Index u : s.cur_nodes) s.cur[static_cast<std::size_t>(u)] = 0.0;
  };
  for_each_source(n, one);
}

}  // namespace

std::vector<double> rwse(const Graph& g, Index steps) {
  const Index n = g.num_nodes;
  std::vector<double> out(static_cast<std::size_t>(n * steps), 0.0);
  if (n == 0 || steps <= 0) return out;
  // P_uv = w_uv / deg_u (deg_u = 0: the row is 0, as GraphGPS's deg^-1 = 0).
  std::vector<double> inv(static_cast<std::size_t>(n));
  for (Index u = 0; u < n; ++u) {
    const double d = g.weighted_degree(u);
    inv[static_cast<std::size_t>(u)] = d > 0 ? 1.0 / d : 0.0;
  }
  if (!symmetric_arcs(g)) {
    rwse_walk(g, steps, inv, out);
    return out;
  }
  for (auto& v : inv) v = std::sqrt(v);  // D^-1/2
  if (n <= 256) rwse_block(g, steps, inv, out);
  else rwse_sym_sparse(g, steps, inv, out);
  return out;
}

}  // namespace pesuite::graph::pe
