// LapPE / eigenpair encodings: solve, clamp, sign-fix, pad.
#include <algorithm>
#include <cmath>
#include <random>

#include "pesuite/graph/eigensolver.h"
#include "pesuite/graph/pe.h"

namespace pesuite::graph::pe {

void fix_signs(double* v, Index n, Index k) {
  for (Index j = 0; j < k; ++j) {
    double* c = v + j * n;
    double cubes = 0, big = 0;
    for (Index i = 0; i < n; ++i) cubes += c[i] * c[i] * c[i];
    bool flip = false;
    if (std::abs(cubes) >= 1e-8) {
      flip = cubes < 0;
    } else {
      Index arg = 0;
      for (Index i = 0; i < n; ++i)
        if (std::abs(c[i]) > big + 1e-12) big = std::abs(c[i]), arg = i;
      flip = n > 0 && c[arg] < 0;
    }
    if (flip)
      for (Index i = 0; i < n; ++i) c[i] = -c[i];
  }
}

namespace {

struct Block {
  Eigen::VectorXd values;
  Eigen::MatrixXd vectors;
  EigenPairs info;
};

Block solve_block(const Graph& g, const LapOptions& o) {
  const LaplacianKind kind = parse_laplacian_kind(o.norm);
  const LaplacianKind solve_kind = kind == LaplacianKind::RandomWalk ? LaplacianKind::Sym : kind;
  const Index drop = o.keep_trivial ? 0 : 1;
  EigenOptions eo;
  eo.solver = parse_solver_kind(o.solver);
  eo.dense_max = o.dense_max;
  Block b;
  const Index want = std::min(g.num_nodes, o.k + drop);
  // Small graphs (the TU / molecule case, thousands of them): build the dense Laplacian straight
  // from the CSR; the sparse assembly would cost more than the eigensolver itself.
  const bool dense = eo.solver == SolverKind::Dense || (eo.solver == SolverKind::Auto && g.num_nodes <= o.dense_max);
  if (dense) b.info = smallest_eigenpairs_dense(dense_laplacian(g, solve_kind), want);
  else b.info = smallest_eigenpairs(laplacian(g, solve_kind), want, eo);
  const Index got = b.info.values.size();
  const Index use = std::max<Index>(0, got - drop);
  b.values = b.info.values.segment(std::min(drop, got), use).cwiseMax(0.0);  // GraphGPS clamps at >= 0
  if (drop == 0) b.vectors = std::move(b.info.vectors);  // (info.vectors is not read again)
  else b.vectors = b.info.vectors.middleCols(std::min(drop, got), use);
  if (kind == LaplacianKind::RandomWalk) {
    const Eigen::VectorXd d = laplacian_degrees(g);
    for (Index i = 0; i < g.num_nodes; ++i) b.vectors.row(i) /= d[i] > 0 ? std::sqrt(d[i]) : 1.0;
    for (Index j = 0; j < use; ++j) b.vectors.col(j).normalize();
  }
  fix_signs(b.vectors.data(), g.num_nodes, use);
  return b;
}

}  // namespace

GraphPe lap_pe(const Graph& g, const LapOptions& o, Index graph_index, const std::string& name) {
  const Index n = g.num_nodes, k = o.k;
  GraphPe out;
  Encoding vec{name, k, std::vector<float>(static_cast<std::size_t>(n * k), 0.f)};
  Encoding val{name + ".eigval", k, std::vector<float>(static_cast<std::size_t>(n * k), 0.f)};
  Encoding mask{name + ".mask", k, std::vector<float>(static_cast<std::size_t>(n * k), 0.f)};
  std::vector<double> sign(static_cast<std::size_t>(k), 1.0);
  if (o.random_sign) {
    std::mt19937_64 rng(derive_seed(o.seed, static_cast<std::uint64_t>(graph_index)));
    for (auto& s : sign) s = (rng() & 1) ? 1.0 : -1.0;
  }
  auto write = [&](const Block& b, const std::vector<Index>& nodes) {
    for (std::size_t r = 0; r < nodes.size(); ++r) {
      const auto row = static_cast<std::size_t>(nodes[r] * k);
      for (Index j = 0; j < b.values.size(); ++j) {
        vec.values[row + static_cast<std::size_t>(j)] =
            static_cast<float>(sign[static_cast<std::size_t>(j)] * b.vectors(static_cast<Index>(r), j));
        val.values[row + static_cast<std::size_t>(j)] = static_cast<float>(b.values[j]);
        mask.values[row + static_cast<std::size_t>(j)] = 1.f;
      }
    }
    out.max_residual = std::max(out.max_residual, b.info.max_residual);
    if (b.info.norm_estimate > 0)
      out.max_rel_residual = std::max(out.max_rel_residual, b.info.max_residual / b.info.norm_estimate);
    if (out.solver.empty() || b.info.solver != "dense") out.solver = b.info.solver;
  };
  if (n > 0) {
    if (o.per_component) {
      const Components c = connected_components(g);
      std::vector<std::vector<Index>> members(static_cast<std::size_t>(c.count));
      for (Index i = 0; i < n; ++i) members[static_cast<std::size_t>(c.component[static_cast<std::size_t>(i)])].push_back(i);
      for (const auto& m : members) write(solve_block(g.induced(m), o), m);
    } else {
      std::vector<Index> all(static_cast<std::size_t>(n));
      for (Index i = 0; i < n; ++i) all[static_cast<std::size_t>(i)] = i;
      const Block b = solve_block(g, o);
      write(b, all);
      const Index drop = o.keep_trivial ? 0 : 1;
      for (Index j = drop; j < b.info.residuals.size(); ++j)
        out.rel_residuals.push_back(b.info.norm_estimate > 0 ? b.info.residuals[j] / b.info.norm_estimate : b.info.residuals[j]);
    }
  }
  if (out.solver.empty()) out.solver = "dense";
  out.tensors.push_back(std::move(vec));
  out.tensors.push_back(std::move(val));
  out.tensors.push_back(std::move(mask));
  return out;
}

}  // namespace pesuite::graph::pe
