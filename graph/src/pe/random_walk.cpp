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
#include <cstring>

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

bool symmetric_arcs(const Graph& g) {
  // Undirected graphs store both directions with one weight by construction, unless built with
  // symmetrize = false from a one-sided list: check always. O(E): the transpose (self loops left
  // out) is built by a counting sort, whose rows come out sorted as g's are, and every row of g is
  // merged with the same row of the transpose, parallel arcs summed. (The earlier per-arc binary
  // searches cost about a quarter of the small-graph RWSE itself on ENZYMES.)
  const Index n = g.num_nodes;
  thread_local std::vector<Index> start, tcol;
  thread_local std::vector<double> tw;
  start.assign(static_cast<std::size_t>(n + 1), 0);
  for (Index u = 0; u < n; ++u)
    for (Index e = g.row_begin(u); e < g.row_end(u); ++e)
      if (g.col[static_cast<std::size_t>(e)] != u) ++start[static_cast<std::size_t>(g.col[static_cast<std::size_t>(e)] + 1)];
  for (Index v = 0; v < n; ++v) start[static_cast<std::size_t>(v + 1)] += start[static_cast<std::size_t>(v)];
  tcol.resize(static_cast<std::size_t>(start[static_cast<std::size_t>(n)]));
  tw.resize(tcol.size());
  {
    thread_local std::vector<Index> pos;
    pos.assign(start.begin(), start.end() - 1);
    for (Index u = 0; u < n; ++u)
      for (Index e = g.row_begin(u); e < g.row_end(u); ++e) {
        const Index v = g.col[static_cast<std::size_t>(e)];
        if (v == u) continue;
        const auto at = static_cast<std::size_t>(pos[static_cast<std::size_t>(v)]++);
        tcol[at] = u;
        tw[at] = g.weight(e);
      }
  }
  for (Index u = 0; u < n; ++u) {
    Index e = g.row_begin(u);
    const Index e_end = g.row_end(u);
    auto t = static_cast<std::size_t>(start[static_cast<std::size_t>(u)]);
    const auto t_end = static_cast<std::size_t>(start[static_cast<std::size_t>(u + 1)]);
    while (true) {
      while (e < e_end && g.col[static_cast<std::size_t>(e)] == u) ++e;  // self loops
      if (e == e_end && t == t_end) break;
      const Index c = e == e_end ? tcol[t] : (t == t_end ? g.col[static_cast<std::size_t>(e)] : std::min(g.col[static_cast<std::size_t>(e)], tcol[t]));
      double a = 0, b = 0;  // weight u -> c and c -> u
      for (; e < e_end && g.col[static_cast<std::size_t>(e)] == c; ++e) a += g.weight(e);
      for (; t < t_end && tcol[t] == c; ++t) b += tw[t];
      if (std::abs(a - b) > 1e-12 * std::max(std::abs(a), std::abs(b))) return false;
    }
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

// The dense loops below are also compiled for AVX2 + FMA and picked at load time (the build targets
// plain x86-64), and their dot products use explicit 4-wide accumulators: without -ffast-math the
// compiler vectorises no floating-point reduction. Deterministic for a given build and machine.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define PESUITE_RWSE_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define PESUITE_RWSE_CLONES
#endif
#pragma GCC diagnostic ignored "-Wpsabi"  // 32-byte vectors only inside these functions
typedef double v4d __attribute__((vector_size(32)));
inline __attribute__((always_inline)) v4d load4(const double* p) {
  v4d v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline __attribute__((always_inline)) void store4(double* p, v4d v) { std::memcpy(p, &v, sizeof v); }

// One row i of Y = S X over the column tile [col0, col0 + 4 C): the tile of Y_i is accumulated in
// registers over i's arcs, stored, and its contributions to <X_i, Y_i> and ||Y_i||^2 added at once
// (one pass, no read-modify-write of Y in memory).
template <int C>
inline __attribute__((always_inline)) void row_tile(const Graph& g, const double* sval, const double* x, double* y, Index ld,
                                                    Index i, Index col0, v4d& odd, v4d& even) {
  v4d acc[C];
  for (int c = 0; c < C; ++c) acc[c] = v4d{0, 0, 0, 0};
  for (Index e = g.row_begin(i); e < g.row_end(i); ++e) {
    const double w = sval[e];
    const double* xj = x + g.col[static_cast<std::size_t>(e)] * ld + col0;
    for (int c = 0; c < C; ++c) acc[c] += w * load4(xj + 4 * c);
  }
  const double* xi = x + i * ld + col0;
  double* yi = y + i * ld + col0;
  for (int c = 0; c < C; ++c) {
    store4(yi + 4 * c, acc[c]);
    odd += load4(xi + 4 * c) * acc[c];
    even += acc[c] * acc[c];
  }
}

// Small symmetric graphs: X_s = S^s for all start nodes at once (row-major n x n, rows padded to a
// multiple of 4, zero padding), s = 0..ceil(T/2); each step is one pass over the rows in column
// tiles of 32 (see row_tile).
PESUITE_RWSE_CLONES
void rwse_block(const Graph& g, Index steps, const std::vector<double>& isd, std::vector<double>& out) {
  const Index n = g.num_nodes, T = steps, ld = (n + 3) / 4 * 4;
  thread_local std::vector<double> buf_a, buf_b, sval;
  buf_a.assign(static_cast<std::size_t>(n * ld), 0.0);
  buf_b.assign(static_cast<std::size_t>(n * ld), 0.0);
  sval.resize(g.col.size());
  for (Index u = 0; u < n; ++u)
    for (Index e = g.row_begin(u); e < g.row_end(u); ++e)
      sval[static_cast<std::size_t>(e)] = g.weight(e) * isd[static_cast<std::size_t>(u)] * isd[static_cast<std::size_t>(g.col[static_cast<std::size_t>(e)])];
  double* x = buf_a.data();  // X_s
  double* y = buf_b.data();  // X_{s+1}
  for (Index i = 0; i < n; ++i) x[i * ld + i] = 1.0;
  const Index half = (T + 1) / 2;
  for (Index s = 0; s < half; ++s) {
    for (Index i = 0; i < n; ++i) {
      v4d odd = {0, 0, 0, 0}, even = odd;
      Index col0 = 0;
      for (; col0 + 32 <= ld; col0 += 32) row_tile<8>(g, sval.data(), x, y, ld, i, col0, odd, even);
      switch ((ld - col0) / 4) {
        case 1: row_tile<1>(g, sval.data(), x, y, ld, i, col0, odd, even); break;
        case 2: row_tile<2>(g, sval.data(), x, y, ld, i, col0, odd, even); break;
        case 3: row_tile<3>(g, sval.data(), x, y, ld, i, col0, odd, even); break;
        case 4: row_tile<4>(g, sval.data(), x, y, ld, i, col0, odd, even); break;
        case 5: row_tile<5>(g, sval.data(), x, y, ld, i, col0, odd, even); break;
        case 6: row_tile<6>(g, sval.data(), x, y, ld, i, col0, odd, even); break;
        case 7: row_tile<7>(g, sval.data(), x, y, ld, i, col0, odd, even); break;
        default: break;
      }
      // t = 2s + 1 (<X_s, X_{s+1}>) and t = 2s + 2 (||X_{s+1}||^2), row i.
      out[static_cast<std::size_t>(i * T + 2 * s)] = (odd[0] + odd[2]) + (odd[1] + odd[3]);
      if (2 * s + 1 < T) out[static_cast<std::size_t>(i * T + 2 * s + 1)] = (even[0] + even[2]) + (even[1] + even[3]);
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
