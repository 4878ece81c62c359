// RFP (Eliasof et al. 2023): normalised power iteration from random features; the whole trajectory
// is the encoding. Seeds come from (seed, graph index, run), so results are thread-count independent.
#include <Eigen/QR>
#include <cmath>
#include <random>

#include "pesuite/graph/laplacian.h"
#include "pesuite/graph/pe.h"

namespace pesuite::graph::pe {

namespace {

SparseMatrix rfp_operator(const Graph& g, const std::string& op) {
  if (op == "lap") return laplacian(g, LaplacianKind::Sym);
  SparseMatrix a = adjacency(g);
  const Index n = g.num_nodes;
  Eigen::VectorXd d = Eigen::VectorXd::Zero(n);
  if (op == "adj") {  // GCN operator D~^-1/2 (A + I) D~^-1/2
    SparseMatrix I(n, n);
    I.setIdentity();
    a = a + I;
  }
  for (int c = 0; c < a.outerSize(); ++c)
    for (SparseMatrix::InnerIterator it(a, c); it; ++it) d[it.row()] += it.value();
  for (int c = 0; c < a.outerSize(); ++c)
    for (SparseMatrix::InnerIterator it(a, c); it; ++it) {
      const double di = d[it.row()], dj = d[c];
      if (op == "adj") it.valueRef() /= std::sqrt(di * dj);
      else it.valueRef() /= di > 0 ? di : 1.0;  // rw: row i divided by deg i
    }
  return a;
}

void normalise(Eigen::MatrixXd& x, const std::string& norm) {
  if (norm == "qr") {
    if (x.rows() == 0) return;
    Eigen::HouseholderQR<Eigen::MatrixXd> qr(x);
    const Index c = std::min<Index>(x.rows(), x.cols());
    Eigen::MatrixXd q = qr.householderQ() * Eigen::MatrixXd::Identity(x.rows(), c);
    // Make diag(R) >= 0 so that Q is unique (Householder QR leaves signs arbitrary).
    const Eigen::MatrixXd r = qr.matrixQR().topRows(c).template triangularView<Eigen::Upper>();
    for (Index j = 0; j < c; ++j)
      if (r(j, j) < 0) q.col(j) = -q.col(j);
    x.leftCols(c) = q;
    if (x.cols() > c) x.rightCols(x.cols() - c).setZero();
    return;
  }
  for (Index j = 0; j < x.cols(); ++j) {
    const double nrm = x.col(j).norm();
    if (nrm > 0) x.col(j) /= nrm;
  }
}

}  // namespace

Encoding rfp(const Graph& g, const RfpOptions& o, Index graph_index) {
  const Index n = g.num_nodes, r = o.features, P = o.steps, runs = o.runs;
  const Index dim = runs * (P + 1) * r;
  Encoding enc{"rfp", dim, std::vector<float>(static_cast<std::size_t>(n * dim), 0.f)};
  if (n == 0) return enc;
  const SparseMatrix op = rfp_operator(g, o.op);
  for (Index run = 0; run < runs; ++run) {
    std::mt19937_64 rng(derive_seed(derive_seed(o.seed, static_cast<std::uint64_t>(graph_index)), static_cast<std::uint64_t>(run)));
    Eigen::MatrixXd x(n, r);
    std::normal_distribution<double> gauss(0.0, 1.0);
    std::uniform_real_distribution<double> uni(-1.0, 1.0);
    for (Index j = 0; j < r; ++j)
      for (Index i = 0; i < n; ++i)
        x(i, j) = o.init == "gaussian" ? gauss(rng) : o.init == "uniform" ? uni(rng) : ((rng() & 1) ? 1.0 : -1.0);
    for (Index step = 0; step <= P; ++step) {
      if (step > 0) {
        Eigen::MatrixXd y = op * x;
        x = std::move(y);
      }
      normalise(x, o.norm);
      const Index off = (run * (P + 1) + step) * r;
      for (Index i = 0; i < n; ++i)
        for (Index j = 0; j < r; ++j)
          enc.values[static_cast<std::size_t>(i * dim + off + j)] = static_cast<float>(x(i, j));
    }
  }
  return enc;
}

}  // namespace pesuite::graph::pe
