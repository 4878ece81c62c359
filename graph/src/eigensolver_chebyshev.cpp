// Chebyshev-filtered subspace iteration (Zhou & Saad 2007, "CheFSI") for the smallest eigenpairs of
// a large sparse symmetric matrix whose low end is clustered and which cannot be factored (expanders,
// random regular graphs: sparse LDL^T fills in, and single-vector Lanczos with Spectra's restarts
// spends its time orthogonalising long bases).
//
// One block of p > k vectors, stored row-major so that the sparse-times-block product (SpMM) reads
// each neighbour's p values contiguously: the product is memory-bound and a block of 16-32 vectors
// moves about as many bytes per useful flop as the matrix itself. Each outer step
//   1. filters the block with a Chebyshev polynomial that damps [a, b] (a = top Ritz value of the
//      block, b = an upper bound of the spectrum) and grows everything below a,
//   2. re-orthonormalises it (shifted Cholesky QR 3, parallel over rows; stable up to cond ~ 1/u),
//   3. Rayleigh-Ritz: exact eigenpairs of the p x p projection, residuals ||L v - theta v||.
// Leading pairs whose relative residual is below the tolerance are locked (kept aside; later blocks
// are kept orthogonal to them, also inside the filter, where their eigenvalues would otherwise be
// amplified most). The polynomial degree of each step is predicted from the Ritz values and the
// residual still to remove, capped so that no direction grows more than ~1e8 relative to another
// within one filter (beyond that, orthonormalisation loses the small ones to rounding).
// The run is deterministic: a fixed seed, and reductions over fixed row chunks summed in order.
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <Eigen/Cholesky>
#include <algorithm>
#include <array>
#include <utility>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

#include "pesuite/graph/eigensolver.h"

namespace pesuite::graph {

namespace {

template <typename T>
using Block = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowBlock = Block<double>;
constexpr Index kChunk = 8192;  // rows per task (and per partial sum: fixed, so results are deterministic)
constexpr int kMaxBlock = 128;

template <typename T>
struct Csr {
  const int* ptr;
  const int* idx;
  const T* val;
  Index n;
};

// out = alpha * (L Y - c Y) - beta * X, row by row (out may be X: row i of X is read only for row i).
template <typename T, int P>
void cheb_rows(const Csr<T>& L, const T* Y, const T* X, T* out, Index p_dyn, T alpha, T c, T beta, Index r0, Index r1) {
  const Index p = P > 0 ? P : p_dyn;
  T acc[kMaxBlock];
  // The rows gathered are random on an expander: prefetch those of a row a few iterations ahead, so
  // that several memory accesses are in flight instead of one latency per neighbour (2.6x here).
  constexpr Index kAhead = 6;
  const Index lines = (p * static_cast<Index>(sizeof(T)) + 63) / 64;
  for (Index i = r0; i < r1; ++i) {
    if (i + kAhead < r1)
      for (int e = L.ptr[i + kAhead]; e < L.ptr[i + kAhead + 1]; ++e) {
        const char* row = reinterpret_cast<const char*>(Y + static_cast<Index>(L.idx[e]) * p);
        for (Index l = 0; l < lines; ++l) __builtin_prefetch(row + 64 * l);
      }
    const T* yi = Y + i * p;
    for (Index q = 0; q < p; ++q) acc[q] = -c * yi[q];
    for (int e = L.ptr[i]; e < L.ptr[i + 1]; ++e) {
      const T v = L.val[e];
      const T* y = Y + static_cast<Index>(L.idx[e]) * p;
      for (Index q = 0; q < p; ++q) acc[q] += v * y[q];
    }
    T* o = out + i * p;
    if (X) {
      const T* x = X + i * p;
      for (Index q = 0; q < p; ++q) o[q] = alpha * acc[q] - beta * x[q];
    } else {
      for (Index q = 0; q < p; ++q) o[q] = alpha * acc[q];
    }
  }
}

template <typename T>
using RowsFn = void (*)(const Csr<T>&, const T*, const T*, T*, Index, T, T, T, Index, Index);
template <typename T, std::size_t... I>
constexpr std::array<RowsFn<T>, sizeof...(I)> rows_table(std::index_sequence<I...>) {
  return {&cheb_rows<T, static_cast<int>(I)>...};
}
// Block widths 1..40 get a kernel with the width known at compile time (vectorised inner loops; the
// active block shrinks by one at each locked pair, so every width occurs); wider ones the generic one.
template <typename T>
constexpr auto kRows = rows_table<T>(std::make_index_sequence<41>{});

template <typename T>
void cheb_step(const Csr<T>& L, const Block<T>& Y, const Block<T>* X, Block<T>& out, double alpha, double c, double beta) {
  const Index p = Y.cols();
  const T* yd = Y.data();
  const T* xd = X ? X->data() : nullptr;
  T* od = out.data();
  const RowsFn<T> fn = p < static_cast<Index>(kRows<T>.size()) ? kRows<T>[static_cast<std::size_t>(p)] : kRows<T>[0];
  const T al = static_cast<T>(alpha), cc = static_cast<T>(c), be = static_cast<T>(beta);
  tbb::parallel_for(tbb::blocked_range<Index>(0, L.n, kChunk),
                    [&](const tbb::blocked_range<Index>& r) { fn(L, yd, xd, od, p, al, cc, be, r.begin(), r.end()); });
}

Index num_chunks(Index n) { return (n + kChunk - 1) / kChunk; }

// A^T B over rows, partial sums per fixed chunk added in chunk order (deterministic).
template <typename T>
Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> gram(const Block<T>& A, const Block<T>& B) {
  using M = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
  const Index n = A.rows(), C = num_chunks(n);
  std::vector<M> part(static_cast<std::size_t>(C));
  tbb::parallel_for(Index{0}, C, [&](Index c) {
    const Index r0 = c * kChunk, len = std::min(kChunk, n - r0);
    part[static_cast<std::size_t>(c)].noalias() = A.middleRows(r0, len).transpose() * B.middleRows(r0, len);
  });
  M g = M::Zero(A.cols(), B.cols());
  for (const auto& m : part) g += m;
  return g;
}

// X <- X M (M small), in place, parallel over rows.
void right_multiply(RowBlock& X, const Eigen::MatrixXd& M) {
  const Index n = X.rows(), C = num_chunks(n);
  RowBlock out(n, M.cols());
  tbb::parallel_for(Index{0}, C, [&](Index c) {
    const Index r0 = c * kChunk, len = std::min(kChunk, n - r0);
    out.middleRows(r0, len).noalias() = X.middleRows(r0, len) * M;
  });
  X.swap(out);
}

// X <- X - V (V^T X), twice (classical Gram-Schmidt against the locked vectors, re-orthogonalised).
template <typename T>
void project_out(Block<T>& X, const Block<T>& V) {
  if (V.cols() == 0 || X.cols() == 0) return;
  for (int pass = 0; pass < 2; ++pass) {
    const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> C = gram<T>(V, X);
    const Index n = X.rows(), NC = num_chunks(n);
    tbb::parallel_for(Index{0}, NC, [&](Index c) {
      const Index r0 = c * kChunk, len = std::min(kChunk, n - r0);
      X.middleRows(r0, len).noalias() -= V.middleRows(r0, len) * C;
    });
  }
}

// Shifted Cholesky QR 3 (Fukaya et al. 2020): one shifted CholQR makes the block well conditioned,
// then CholQR2 makes it orthonormal to working precision.
void orthonormalize(RowBlock& X) {
  const Index n = X.rows(), p = X.cols();
  for (int pass = 0; pass < 3; ++pass) {
    Eigen::MatrixXd G = gram<double>(X, X);
    G = 0.5 * (G + G.transpose()).eval();
    if (pass == 0) {
      const double shift = 11.0 * static_cast<double>(n * p + p * (p + 1)) * std::numeric_limits<double>::epsilon() * G.trace();
      G.diagonal().array() += shift;
    }
    Eigen::LLT<Eigen::MatrixXd> llt(G);
    if (llt.info() != Eigen::Success) throw std::runtime_error("Chebyshev subspace iteration: block lost rank");
    const Eigen::MatrixXd R = llt.matrixU();
    // X <- X R^-1
    const Eigen::MatrixXd Rinv = R.triangularView<Eigen::Upper>().solve(Eigen::MatrixXd::Identity(p, p));
    right_multiply(X, Rinv);
  }
}

struct Ritz {
  Eigen::VectorXd theta, res;
};

// Rayleigh-Ritz on the orthonormal block X (rotated in place into Ritz vectors).
Ritz rayleigh_ritz(const Csr<double>& L, RowBlock& X, RowBlock& W) {
  W.resize(X.rows(), X.cols());
  cheb_step<double>(L, X, nullptr, W, 1.0, 0.0, 0.0);
  Eigen::MatrixXd H = gram<double>(X, W);
  H = 0.5 * (H + H.transpose()).eval();
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(H);
  right_multiply(X, es.eigenvectors());
  right_multiply(W, es.eigenvectors());
  Ritz r;
  r.theta = es.eigenvalues();
  const Index n = X.rows(), p = X.cols(), C = num_chunks(n);
  std::vector<Eigen::VectorXd> part(static_cast<std::size_t>(C));
  tbb::parallel_for(Index{0}, C, [&](Index c) {
    const Index r0 = c * kChunk, len = std::min(kChunk, n - r0);
    Eigen::VectorXd s = Eigen::VectorXd::Zero(p);
    for (Index i = r0; i < r0 + len; ++i)
      for (Index q = 0; q < p; ++q) {
        const double d = W(i, q) - r.theta[q] * X(i, q);
        s[q] += d * d;
      }
    part[static_cast<std::size_t>(c)] = s;
  });
  r.res = Eigen::VectorXd::Zero(p);
  for (const auto& s : part) r.res += s;
  r.res = r.res.cwiseSqrt();
  return r;
}

// Upper bound of the spectrum: a short Lanczos run, largest Ritz value plus the last residual norm
// (Zhou & Saad's bound), never above the Gershgorin bound.
double upper_bound(const SparseMatrix& L, double gershgorin, std::mt19937_64& rng) {
  const Index n = L.rows(), m = std::min<Index>(n, 24);
  std::normal_distribution<double> g;
  Eigen::VectorXd v(n), v_prev = Eigen::VectorXd::Zero(n), w;
  for (Index i = 0; i < n; ++i) v[i] = g(rng);
  v.normalize();
  Eigen::VectorXd alpha(m), beta(m);
  double b = 0;
  Index steps = 0;
  for (Index j = 0; j < m; ++j) {
    w = L * v;
    alpha[j] = w.dot(v);
    w -= alpha[j] * v + b * v_prev;
    b = w.norm();
    beta[j] = b;
    ++steps;
    if (b < 1e-12) break;
    v_prev = v;
    v = w / b;
  }
  Eigen::MatrixXd T = Eigen::MatrixXd::Zero(steps, steps);
  for (Index j = 0; j < steps; ++j) {
    T(j, j) = alpha[j];
    if (j + 1 < steps) T(j, j + 1) = T(j + 1, j) = beta[j];
  }
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(T, Eigen::EigenvaluesOnly);
  return std::min(gershgorin, es.eigenvalues().maxCoeff() + beta[steps - 1]);
}

// Y <- p_m(L) X, the scaled Chebyshev polynomial of degree m that is small on [a, b] and ~1 at a0
// (Zhou & Saad's three-term recurrence; no overflow). Result left in X; Y is scratch. The locked
// vectors V are projected out of both iterates every 8 steps: they are eigenvectors (to the
// tolerance), so the projector commutes with the recurrence, and it keeps their eigenvalues (the
// most amplified ones) from swamping the block.
template <typename T>
void chebyshev_filter(const Csr<T>& L, Block<T>& X, Block<T>& Y, int m, double a, double b, double a0, double e, double c,
                      const Block<T>& V) {
  (void)a;
  (void)b;
  double sigma = e / (a0 - c);
  const double sigma1 = sigma, gamma = 2.0 / sigma1;
  Y.resize(X.rows(), X.cols());
  cheb_step<T>(L, X, nullptr, Y, sigma1 / e, c, 0.0);  // Y = (L - c) X sigma1 / e
  for (int s = 2; s <= m; ++s) {
    const double sigma_new = 1.0 / (gamma - sigma);
    cheb_step<T>(L, Y, &X, X, 2.0 * sigma_new / e, c, sigma * sigma_new);  // X <- new iterate
    X.swap(Y);  // Y = newest, X = previous
    sigma = sigma_new;
    if (V.cols() > 0 && s % 8 == 0) {
      project_out<T>(Y, V);
      project_out<T>(X, V);
    }
  }
  X.swap(Y);
}

}  // namespace

EigenPairs chebyshev_eigenpairs(const SparseMatrix& Lin, Index k, const EigenOptions& opt) {
  const Index n = Lin.rows();
  if (k <= 0 || k + 2 >= n) throw std::invalid_argument("chebyshev solver needs 0 < k < n - 2");
  SparseMatrix Lc = Lin;
  Lc.makeCompressed();
  // Column j of a symmetric column-major matrix is row j: the CSR of L.
  const Csr<double> L{Lc.outerIndexPtr(), Lc.innerIndexPtr(), Lc.valuePtr(), n};
  // Single-precision copy of the values for the filter's first steps (half the memory traffic).
  std::vector<float> valf(Lc.valuePtr(), Lc.valuePtr() + Lc.nonZeros());
  const Csr<float> Lf{Lc.outerIndexPtr(), Lc.innerIndexPtr(), valf.data(), n};
  double gersh = 0;
  for (Index j = 0; j < n; ++j) {
    double s = 0;
    for (int e = L.ptr[j]; e < L.ptr[j + 1]; ++e) s += std::abs(L.val[e]);
    gersh = std::max(gersh, s);
  }
  const Index p = std::min<Index>({n - 1, kMaxBlock, opt.block > 0 ? static_cast<Index>(opt.block) : std::max<Index>(k + 12, (3 * k) / 2)});
  if (p <= k) throw std::invalid_argument("chebyshev solver: block must exceed k");
  const double tol = opt.residual_tol * gersh;
  std::mt19937_64 rng(0x5EED5EEDull);
  const double b = upper_bound(Lc, gersh, rng) * 1.001 + 1e-12;

  RowBlock X(n, p), W, Y, V(n, 0);
  Block<float> Xf, Yf, Vf(n, 0);
  bool use_float = opt.single_precision_filter && n >= 4096;
  const double float_until = 1e3 * tol;
  std::normal_distribution<double> g;
  for (Index i = 0; i < n; ++i)
    for (Index q = 0; q < p; ++q) X(i, q) = g(rng);
  orthonormalize(X);
  Ritz rr = rayleigh_ritz(L, X, W);
  std::vector<double> locked_values, locked_res;
  // Switch to double precision: provisional locks are released and the whole block re-solved.
  auto unlock = [&] {
    use_float = false;
    if (V.cols() > 0) {
      RowBlock nx(n, V.cols() + X.cols());
      nx.leftCols(V.cols()) = V;
      nx.rightCols(X.cols()) = X;
      X.swap(nx);
      V.resize(n, 0);
      Vf.resize(n, 0);
      locked_values.clear();
      locked_res.clear();
      orthonormalize(X);
    }
    rr = rayleigh_ritz(L, X, W);
  };
  int outer = 0;
  long long total_degree = 0;
  const bool debug = std::getenv("PESUITE_CHEBYSHEV_DEBUG") != nullptr;
  const int max_outer = std::max(opt.max_iter, 1);
  while (true) {
    // Lock the converged prefix.
    const Index nlock = V.cols(), pa = X.cols();
    Index j = 0;
    // (In the single-precision phase the lock is provisional, at float_until: the locked vectors
    // go back into the block when double precision takes over.)
    const double lock_at = use_float ? float_until : tol;
    while (nlock + j < k && j < pa - 1 && rr.res[j] <= lock_at) ++j;
    if (j > 0) {
      RowBlock nv(n, nlock + j);
      nv.leftCols(nlock) = V;
      nv.rightCols(j) = X.leftCols(j);
      V.swap(nv);
      RowBlock nx = X.rightCols(pa - j);
      X.swap(nx);
      for (Index q = 0; q < j; ++q) locked_values.push_back(rr.theta[q]), locked_res.push_back(rr.res[q]);
      rr.theta = rr.theta.tail(pa - j).eval();
      rr.res = rr.res.tail(pa - j).eval();
    }
    if (V.cols() >= k || (use_float && V.cols() + 1 >= k)) {
      if (!use_float) break;
      unlock();
      continue;
    }
    if (++outer > max_outer) throw std::runtime_error("Chebyshev subspace iteration did not converge");
    const Index act = X.cols();
    const Index want = k - V.cols();  // wanted pairs still in the active block (columns 0 .. want-1)
    const double a = rr.theta[act - 1], a0 = rr.theta[0];
    if (!(a < b)) throw std::runtime_error("Chebyshev subspace iteration: block spans the spectrum");
    const double e = (b - a) / 2, c = (b + a) / 2;
    auto xpos = [&](double t) { return std::max(1.0 + 1e-12, (c - t) / e); };
    // Degree: enough to bring the slowest wanted residual to tol (its unwanted part shrinks by about
    // 1 / T_m(x)), within the dynamic-range cap, at least 4 (Rayleigh-Ritz is not free).
    const double need = std::max(2.0, rr.res[want - 1] / (use_float ? float_until : tol));
    int m = static_cast<int>(std::ceil(std::acosh(need) / std::acosh(xpos(rr.theta[want - 1])))) + 2;
    const int cap = static_cast<int>(std::acosh(use_float ? 1e4 : 1e8) / std::acosh(xpos(a0)));
    m = std::clamp(m, 4, std::max(4, std::min(cap, opt.max_degree)));
    total_degree += m;
    if (debug)
      std::fprintf(stderr, "cheb: outer %d %s act %ld locked %ld m %d a %.6f a0 %.6f theta_k %.6f res_k %.2e\n", outer,
                   use_float ? "f32" : "f64", static_cast<long>(act), static_cast<long>(V.cols()), m, a, a0, rr.theta[want - 1],
                   rr.res[want - 1] / gersh);
    if (use_float) {
      Xf = X.cast<float>();
      if (Vf.cols() != V.cols()) Vf = V.cast<float>();
      chebyshev_filter<float>(Lf, Xf, Yf, m, a, b, a0, e, c, Vf);
      X = Xf.cast<double>();
    } else {
      chebyshev_filter<double>(L, X, Y, m, a, b, a0, e, c, V);
    }
    project_out<double>(X, V);
    orthonormalize(X);
    const double before = rr.res[want - 1];
    rr = rayleigh_ritz(L, X, W);
    // Single precision carries the filter until its rounding (~1e-7 of each column) is what is left;
    // double precision finishes (and takes over at once if a single-precision step stalls).
    if (use_float && (rr.res[want - 1] <= float_until || rr.res[want - 1] > 0.5 * before)) unlock();
  }
  EigenPairs out;
  out.solver = "chebyshev";
  out.norm_estimate = gersh;
  out.values.resize(k);
  out.vectors.resize(n, k);
  for (Index q = 0; q < k; ++q) {
    out.values[q] = locked_values[static_cast<std::size_t>(q)];
    out.vectors.col(q) = V.col(q);
  }
  out.iterations = static_cast<int>(total_degree);
  return out;
}

}  // namespace pesuite::graph
