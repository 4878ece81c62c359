#include "pesuite/graph/laplacian.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

namespace pesuite::graph {

LaplacianKind parse_laplacian_kind(const std::string& name) {
  if (name == "none" || name == "comb" || name == "combinatorial") return LaplacianKind::Combinatorial;
  if (name == "sym") return LaplacianKind::Sym;
  if (name == "rw") return LaplacianKind::RandomWalk;
  throw std::invalid_argument("Laplacian '" + name + "' is unknown (valid: none, sym, rw)");
}

std::string laplacian_name(LaplacianKind kind) {
  switch (kind) {
    case LaplacianKind::Combinatorial: return "none";
    case LaplacianKind::Sym: return "sym";
    case LaplacianKind::RandomWalk: return "rw";
  }
  return "?";
}

SparseMatrix adjacency(const Graph& g) {
  const auto n = static_cast<int>(g.num_nodes);
  std::vector<Eigen::Triplet<double, int>> t;
  t.reserve(g.col.size() * (g.directed ? 2 : 1));
  for (Index u = 0; u < g.num_nodes; ++u)
    for (Index e = g.row_begin(u); e < g.row_end(u); ++e) {
      const Index v = g.col[static_cast<std::size_t>(e)];
      if (u == v) continue;
      t.emplace_back(static_cast<int>(u), static_cast<int>(v), g.weight(e));
      if (g.directed) t.emplace_back(static_cast<int>(v), static_cast<int>(u), g.weight(e));
    }
  SparseMatrix a(n, n);
  if (g.directed) {
    // Union of arcs: an arc present both ways keeps one weight (the larger), not their sum.
    a.setFromTriplets(t.begin(), t.end(), [](double x, double y) { return std::max(x, y); });
  } else {
    a.setFromTriplets(t.begin(), t.end());
  }
  return a;
}

Eigen::VectorXd laplacian_degrees(const Graph& g) {
  const SparseMatrix a = adjacency(g);
  Eigen::VectorXd d = Eigen::VectorXd::Zero(a.rows());
  for (int c = 0; c < a.outerSize(); ++c)
    for (SparseMatrix::InnerIterator it(a, c); it; ++it) d[it.row()] += it.value();
  return d;
}

SparseMatrix laplacian(const Graph& g, LaplacianKind kind) {
  const SparseMatrix a = adjacency(g);
  const int n = static_cast<int>(a.rows());
  Eigen::VectorXd d = Eigen::VectorXd::Zero(n);
  for (int c = 0; c < a.outerSize(); ++c)
    for (SparseMatrix::InnerIterator it(a, c); it; ++it) d[it.row()] += it.value();
  std::vector<Eigen::Triplet<double, int>> t;
  t.reserve(static_cast<std::size_t>(a.nonZeros() + n));
  if (kind == LaplacianKind::Combinatorial) {
    for (int i = 0; i < n; ++i) t.emplace_back(i, i, d[i]);
    for (int c = 0; c < a.outerSize(); ++c)
      for (SparseMatrix::InnerIterator it(a, c); it; ++it) t.emplace_back(static_cast<int>(it.row()), c, -it.value());
  } else {
    Eigen::VectorXd s(n);
    for (int i = 0; i < n; ++i) s[i] = d[i] > 0 ? 1.0 / std::sqrt(d[i]) : 0.0;
    for (int i = 0; i < n; ++i) t.emplace_back(i, i, 1.0);
    for (int c = 0; c < a.outerSize(); ++c)
      for (SparseMatrix::InnerIterator it(a, c); it; ++it)
        t.emplace_back(static_cast<int>(it.row()), c, -it.value() * s[it.row()] * s[c]);
  }
  SparseMatrix l(n, n);
  l.setFromTriplets(t.begin(), t.end());
  return l;
}

Eigen::MatrixXd dense_laplacian(const Graph& g, LaplacianKind kind) {
  // One n x n allocation: the adjacency is assembled in place (negated), then scaled and given its
  // diagonal (this runs once per graph for TU datasets, next to a ~10 us eigensolve).
  const Index n = g.num_nodes;
  Eigen::MatrixXd l = Eigen::MatrixXd::Zero(n, n);
  for (Index u = 0; u < n; ++u)
    for (Index e = g.row_begin(u); e < g.row_end(u); ++e) {
      const Index v = g.col[static_cast<std::size_t>(e)];
      if (u == v) continue;
      if (g.directed) {  // union of arcs, larger weight kept (as adjacency())
        l(u, v) = std::min(l(u, v), -g.weight(e));
        l(v, u) = std::min(l(v, u), -g.weight(e));
      } else {
        l(u, v) -= g.weight(e);
      }
    }
  Eigen::VectorXd d(n);
  for (Index i = 0; i < n; ++i) d[i] = -l.col(i).sum();  // symmetric: column sums are row sums
  if (kind == LaplacianKind::Combinatorial) {
    l.diagonal() = d;
    return l;
  }
  Eigen::VectorXd s(n);
  for (Index i = 0; i < n; ++i) s[i] = d[i] > 0 ? 1.0 / std::sqrt(d[i]) : 0.0;
  for (Index c = 0; c < n; ++c) l.col(c).array() *= s.array() * s[c];
  l.diagonal().setOnes();
  return l;
}

}  // namespace pesuite::graph
