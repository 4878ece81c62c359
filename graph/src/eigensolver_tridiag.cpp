// The k smallest eigenpairs of a small dense symmetric matrix by a partial solve (the TU / molecule
// case: thousands of graphs of 10..130 nodes; measured on one core against Eigen's full
// SelfAdjointEigenSolver, k = 9, random molecule-like graphs: n = 18 6.5 us vs 15, n = 33 18 vs 60,
// n = 126 0.33 ms vs 1.6 ms; Eigen's values-only solve alone takes 11 / 40 / 650 us there):
//  1. Householder tridiagonalisation A = Q T Q^T, unblocked: on the full matrix with rows padded to
//     a multiple of 4 up to n = 64, on the lower triangle above; reflectors kept in A's columns;
//  2. T split where an off-diagonal is below the tridiagonalisation's own backward error (graphs with
//     exactly repeated eigenvalues -- disconnected graphs, symmetric molecules -- split here), and
//     the k smallest eigenvalues of each block by Sturm-count bisection and bracketed Newton steps,
//     up to 16 in lock step, to 1e-10 ||T|| (full precision in blocks holding a cluster);
//  3. for those values only, inverse iteration on their block (LU with partial pivoting of
//     T - lambda I, as LAPACK dstein): isolated values up to 8 at a time in vector lanes, then their
//     Rayleigh quotient as the value; clusters (gap < 1e-3 ||T||) one by one with Gram-Schmidt against
//     the cluster's earlier vectors, so that nearly equal eigenvalues get orthonormal vectors;
//  4. back-transformation of those k vectors only (k n^2 flops).
// (Implicit QL for all values, the usual step 2, took 7.5 us at n = 18 and 90 us at n = 60 against
// 4.4 / 13 us for plain vectorised bisection: its rotations are one long chain of square roots and
// divisions, while the counts at different shifts are independent.)
// Every result is verified before it is returned: residuals ||A v - lambda v|| <= 1e-12 ||A||_inf
// (against the original A) and |V^T V - I| <= 1e-11; otherwise the caller falls back to the full
// solver, so this path can only be faster, never less exact.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "pesuite/graph/eigensolver.h"

// 32-byte vectors in inline helpers only (never across a call boundary): the ABI note is moot.
#pragma GCC diagnostic ignored "-Wpsabi"

// The hot loops are also compiled for AVX2 + FMA and picked at load time (the build targets plain
// x86-64); results differ only in rounding.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define PESUITE_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define PESUITE_VECTOR_CLONES
#endif

namespace pesuite::graph {

namespace {

constexpr double kEps = std::numeric_limits<double>::epsilon();

typedef double v4d __attribute__((vector_size(32)));
typedef long long v4l __attribute__((vector_size(32)));
typedef unsigned long long v4u __attribute__((vector_size(32)));
// The same with 8-byte alignment, for arrays in std::vector storage (16-byte aligned at best).
typedef double v4d_u __attribute__((vector_size(32), aligned(8)));
typedef long long v4l_u __attribute__((vector_size(32), aligned(8)));

// Without -ffast-math the compiler vectorises no floating-point reduction: dot products and the
// fused symmetric matrix-vector pass are written with explicit 4-wide accumulators (GCC vector
// extensions: AVX2 in the x86-64-v3 clones, two SSE2 halves otherwise). Deterministic for a build.
inline __attribute__((always_inline)) v4d load4(const double* p) {
  v4d v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline __attribute__((always_inline)) void store4(double* p, v4d v) { std::memcpy(p, &v, sizeof v); }
inline __attribute__((always_inline)) double hsum(v4d v) { return (v[0] + v[2]) + (v[1] + v[3]); }

inline __attribute__((always_inline)) double dot(const double* a, const double* b, Index n) {
  v4d s0 = {0, 0, 0, 0}, s1 = s0;
  Index i = 0;
  for (; i + 8 <= n; i += 8) {
    s0 += load4(a + i) * load4(b + i);
    s1 += load4(a + i + 4) * load4(b + i + 4);
  }
  if (i + 4 <= n) s0 += load4(a + i) * load4(b + i), i += 4;
  double s = hsum(s0 + s1);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}
// y -= s x
inline __attribute__((always_inline)) void axpy_neg(double* y, double s, const double* x, Index n) {
  Index i = 0;
  for (; i + 4 <= n; i += 4) store4(y + i, load4(y + i) - s * load4(x + i));
  for (; i < n; ++i) y[i] -= s * x[i];
}


// A double array whose data() is 32-byte aligned (std::vector's is 16 at best): 4-wide stores to an
// address that is not, split a cache line half the time, and a split store is not forwarded to the
// load that follows it (measured: the residual loop ran several times slower).
struct AlignedBuf {
  std::vector<double> v;
  double* p = nullptr;
  double* assign(std::size_t n, double value) {
    v.assign(n + 4, value);
    const auto addr = reinterpret_cast<std::uintptr_t>(v.data());
    p = v.data() + ((32 - addr % 32) % 32) / sizeof(double);
    return p;
  }
  double* data() { return p; }
};

struct Work {
  std::vector<double> a, beta, d, e, bd, be, vals, dl, dd, du, du2, x;
  std::vector<int> block_of, order, piv;
  std::vector<Index> bstart, voff;
  std::vector<double> final_val, kbest;
  AlignedBuf ap, apw, vpad, zp, xbuf, lane_buf;
  std::vector<double> lane;  // 4-lane arrays, used through v4d_u / v4l_u views
  std::vector<long long> lane_piv;
};

// Householder reflector for one column below the diagonal: x (m entries) becomes v in place, with
// v_0 = 1; beta and e receive its scale and T's off-diagonal entry. False (beta = 0, e = x_0) when
// the column is already tridiagonal.
inline __attribute__((always_inline)) bool make_reflector(double* x, Index m, double& beta, double& e) {
  const double sigma = m > 1 ? dot(x + 1, x + 1, m - 1) : 0.0;
  const double alpha = x[0];
  if (sigma == 0) {
    beta = 0;
    e = alpha;
    return false;
  }
  const double mu = std::sqrt(alpha * alpha + sigma);
  const double v0 = alpha <= 0 ? alpha - mu : -sigma / (alpha + mu);
  const double inv = 1.0 / v0;
  for (Index r = 1; r < m; ++r) x[r] *= inv;
  x[0] = 1.0;
  beta = 2 * v0 * v0 / (sigma + v0 * v0);
  e = mu;
  return true;
}

// In place on column-major n x n `a` (symmetric; only the lower triangle is read and updated): on return d / e hold T's diagonal and
// off-diagonal, column i rows i+2.. hold reflector i's vector (v_0 = 1 implicit), beta[i] its scale.
PESUITE_VECTOR_CLONES
void tridiagonalise(double* a, Index n, double* d, double* e, double* beta, double* p) {
  for (Index i = 0; i + 2 < n; ++i) {
    double* x = a + i * n + i + 1;  // column i, rows i+1..n-1
    const Index m = n - i - 1;
    d[i] = a[i * n + i];
    if (!make_reflector(x, m, beta[i], e[i])) continue;
    const double b = beta[i];
    // A22 -= v w^T + w v^T with p = b A22 v, w = p - (b/2)(p.v) v, on the lower triangle only: one
    // pass per column gives both its dot product (row c of A22 v) and its axpy (the rows below).
    double* a22 = a + (i + 1) * n + i + 1;
    std::fill(p, p + m, 0.0);
    for (Index c = 0; c < m; ++c) {
      const double vc = x[c];
      const double* col = a22 + c * n;
      v4d acc = {0, 0, 0, 0};
      Index r = c + 1;
      for (; r + 4 <= m; r += 4) {
        const v4d cr = load4(col + r);
        acc += cr * load4(x + r);
        store4(p + r, load4(p + r) + cr * vc);
      }
      double dt = col[c] * vc + hsum(acc);
      for (; r < m; ++r) {
        dt += col[r] * x[r];
        p[r] += col[r] * vc;
      }
      p[c] += dt;
    }
    const double kk = 0.5 * b * b * dot(p, x, m);
    for (Index r = 0; r < m; ++r) p[r] = b * p[r] - kk * x[r];
    for (Index c = 0; c < m; ++c) {
      const double vc = x[c], wc = p[c];
      double* col = a22 + c * n;
      Index r = c;
      for (; r + 4 <= m; r += 4) store4(col + r, load4(col + r) - (load4(x + r) * wc + load4(p + r) * vc));
      for (; r < m; ++r) col[r] -= x[r] * wc + p[r] * vc;
    }
  }
  if (n >= 2) {
    d[n - 2] = a[(n - 2) * n + n - 2];
    e[n - 2] = a[(n - 2) * n + n - 1];  // lower triangle
  }
  if (n >= 1) d[n - 1] = a[(n - 1) * n + n - 1];
}


// The same for small n on the full symmetric matrix stored with its leading dimension ld padded to a
// multiple of 4 (padding rows zero): twice the flops of the lower-triangle code, but every inner loop
// runs whole 4-wide steps from an aligned row, with no scalar tails (below n ~ 64 the tails and loop
// overheads cost more than the flops). Reflector i is kept in column i, rows i+1..n-1, and in column
// i of vpad (n x ld, zero elsewhere) for the padded back-transformation.
PESUITE_VECTOR_CLONES
void tridiagonalise_padded(double* a, Index n, Index ld, double* d, double* e, double* beta, double* p, double* vb,
                           double* vpad) {
  for (Index i = 0; i + 2 < n; ++i) {
    double* x = a + i * ld + i + 1;
    const Index m = n - i - 1;
    d[i] = a[i * ld + i];
    if (!make_reflector(x, m, beta[i], e[i])) continue;
    const double b = beta[i];
    const Index r0 = (i + 1) & ~Index{3};
    for (Index r = r0; r < ld; ++r) vb[r] = 0;
    for (Index r = 0; r < m; ++r) vb[i + 1 + r] = x[r];
    std::copy(vb + r0, vb + ld, vpad + i * ld + r0);  // reflector i, zero above row i + 1
    const v4d zero = {0, 0, 0, 0};
    // p = A22 v as dot products with the (symmetric) columns: no accumulation through memory.
    for (Index r = r0; r < ld; r += 4) store4(p + r, zero);
    for (Index c = i + 1; c < n; ++c) {
      const double* col = a + c * ld;
      v4d acc = zero;
      for (Index r = r0; r < ld; r += 4) acc += load4(col + r) * load4(vb + r);
      p[c] = hsum(acc);
    }
    v4d acc = zero;
    for (Index r = r0; r < ld; r += 4) acc += load4(p + r) * load4(vb + r);
    const double kk = 0.5 * b * b * hsum(acc);
    for (Index r = r0; r < ld; r += 4) store4(p + r, b * load4(p + r) - kk * load4(vb + r));
    for (Index c = i + 1; c < n; ++c) {
      const double vc = vb[c], wc = p[c];
      double* col = a + c * ld;
      for (Index r = r0; r < ld; r += 4) store4(col + r, load4(col + r) - (load4(vb + r) * wc + load4(p + r) * vc));
    }
  }
  if (n >= 2) {
    d[n - 2] = a[(n - 2) * ld + n - 2];
    e[n - 2] = a[(n - 2) * ld + n - 1];
  }
  if (n >= 1) d[n - 1] = a[(n - 1) * ld + n - 1];
}

// Sturm counts (number of eigenvalues < x) of the tridiagonal (d, e2 = squared off-diagonals) for
// 4 G shifts at once, by the determinant recurrence p_i = (d_i - x) p_{i-1} - e2_{i-1} p_{i-2}
// (the sign changes of p_0..p_n count the eigenvalues below x): no division, so the 4 G independent
// chains run at the FMA units' throughput. Every 8 rows p_{i-1}, p_i are rescaled by the same power
// of two (exact), which keeps them far from overflow and underflow (|p_i / p_{i-1}| <= ~4 ||T||). A p_i that is exactly 0 counts as
// positive: the interlacing of the leading minors makes the total count correct all the same.
template <int G>
inline __attribute__((always_inline)) void sturm_counts(const double* d, const double* e2, Index n, const v4d* x, v4l* cnt) {
  v4d p0[G], p1[G];
  v4l s1[G];
  const v4d one = {1, 1, 1, 1};
  for (int g = 0; g < G; ++g) {
    p0[g] = one;
    p1[g] = d[0] - x[g];
    s1[g] = p1[g] < 0;
    cnt[g] = -s1[g];
  }
  const v4u abs_mask = {~0ull >> 1, ~0ull >> 1, ~0ull >> 1, ~0ull >> 1};
  for (Index i = 1; i < n; ++i) {
    const double di = d[i], ei = e2[i - 1];
    for (int g = 0; g < G; ++g) {
      const v4d t = (di - x[g]) * p1[g] - ei * p0[g];
      const v4l st = t < 0;
      cnt[g] -= st ^ s1[g];
      s1[g] = st;
      p0[g] = p1[g];
      p1[g] = t;
    }
    if ((i & 7) == 0)
      for (int g = 0; g < G; ++g) {
        const v4d a0 = reinterpret_cast<v4d>(reinterpret_cast<v4u>(p0[g]) & abs_mask);
        const v4d a1 = reinterpret_cast<v4d>(reinterpret_cast<v4u>(p1[g]) & abs_mask);
        const v4u ex = reinterpret_cast<v4u>(a0 > a1 ? a0 : a1) >> 52;  // biased exponent of the larger
        const v4d sc = reinterpret_cast<v4d>((2046 - ex) << 52);  // 2^(1023 - ex): brings it to ~1
        p0[g] *= sc;
        p1[g] *= sc;
      }
  }
}

// Number of eigenvalues < x of the tridiagonal (d, e2) (LAPACK's q recurrence, tiny pivots
// replaced by -pivmin).
Index sturm_count(const double* d, const double* e2, Index n, double x) {
  const double pivmin = std::numeric_limits<double>::min();
  Index c = 0;
  double q = 1;
  for (Index i = 0; i < n; ++i) {
    q = (d[i] - x) - (i > 0 ? e2[i - 1] / q : 0.0);
    if (std::abs(q) < pivmin) q = -pivmin;
    c += q < 0;
  }
  return c;
}

// The same counts plus the Newton step p_n / p_n' for each shift (p_i' = (d_i - x) p_{i-1}' - p_{i-1}
// - e2_{i-1} p_{i-2}', rescaled with p).
template <int G>
inline __attribute__((always_inline)) void sturm_newton(const double* d, const double* e2, Index n, const v4d* x, v4l* cnt,
                                                        v4d* step) {
  v4d p0[G], p1[G], q0[G], q1[G];
  v4l s1[G];
  const v4d one = {1, 1, 1, 1}, zero = {0, 0, 0, 0};
  for (int g = 0; g < G; ++g) {
    p0[g] = one;
    p1[g] = d[0] - x[g];
    q0[g] = zero;
    q1[g] = zero - one;
    s1[g] = p1[g] < 0;
    cnt[g] = -s1[g];
  }
  const v4u abs_mask = {~0ull >> 1, ~0ull >> 1, ~0ull >> 1, ~0ull >> 1};
  for (Index i = 1; i < n; ++i) {
    const double di = d[i], ei = e2[i - 1];
    for (int g = 0; g < G; ++g) {
      const v4d dx = di - x[g];
      const v4d t = dx * p1[g] - ei * p0[g];
      const v4d u = dx * q1[g] - p1[g] - ei * q0[g];
      const v4l st = t < 0;
      cnt[g] -= st ^ s1[g];
      s1[g] = st;
      p0[g] = p1[g];
      p1[g] = t;
      q0[g] = q1[g];
      q1[g] = u;
    }
    if ((i & 7) == 0)
      for (int g = 0; g < G; ++g) {
        v4d m = reinterpret_cast<v4d>(reinterpret_cast<v4u>(p0[g]) & abs_mask);
        const v4d a1 = reinterpret_cast<v4d>(reinterpret_cast<v4u>(p1[g]) & abs_mask);
        const v4d b0 = reinterpret_cast<v4d>(reinterpret_cast<v4u>(q0[g]) & abs_mask);
        const v4d b1 = reinterpret_cast<v4d>(reinterpret_cast<v4u>(q1[g]) & abs_mask);
        m = m > a1 ? m : a1;
        m = m > b0 ? m : b0;
        m = m > b1 ? m : b1;
        const v4d sc = reinterpret_cast<v4d>((2046 - (reinterpret_cast<v4u>(m) >> 52)) << 52);
        p0[g] *= sc;
        p1[g] *= sc;
        q0[g] *= sc;
        q1[g] *= sc;
      }
  }
  for (int g = 0; g < G; ++g) step[g] = p1[g] / q1[g];
}

// The m smallest eigenvalues of the symmetric tridiagonal block (d, e2) of size n, ascending, up to
// 16 in lock step: bisection on Sturm counts until a value is isolated in its interval (the counts
// at both ends differ by one), then Newton steps on det(T - x I) kept inside that interval (a step
// leaving it is replaced by the midpoint), which converge quadratically where bisection gains one
// bit per pass (see the note at the top on implicit QL). A lane stops when its interval is
// <= tol (the tridiagonalisation's own absolute error is ~eps ||T||).
template <int G>
inline __attribute__((always_inline)) void bisect_lanes(const double* d, const double* e2, Index n, Index j0, Index w,
                                                         double lo0, double hi0, Index clo0, double tol, double* out) {
  constexpr int W = 4 * G;
  double lo[W], hi[W], val[W];
  Index clo[W], chi[W];
  bool done[W];
  v4d x[G] = {}, step[G] = {};
  v4l cnt[G];
  for (int l = 0; l < W; ++l) lo[l] = lo0, hi[l] = hi0, clo[l] = clo0, chi[l] = n, done[l] = l >= w, val[l] = 0;
  // First pass: all W points spread evenly over [lo0, hi0] (multisection), each eigenvalue keeps the
  // gap between the two points whose counts straddle its index: ~log2(W + 1) halvings in one pass.
  for (int l = 0; l < W; ++l) x[l / 4][l % 4] = lo0 + (hi0 - lo0) * (l + 1) / (W + 1);
  sturm_counts<G>(d, e2, n, x, cnt);
  for (int a = 0; a < W; ++a) {
    const double xa = x[a / 4][a % 4];
    const Index ca = cnt[a / 4][a % 4];
    for (int l = 0; l < W; ++l) {
      if (ca > j0 + l) {
        if (xa < hi[l]) hi[l] = xa, chi[l] = ca;
      } else if (xa > lo[l]) {
        lo[l] = xa, clo[l] = ca;
      }
    }
  }
  bool newton = false;
  for (int it = 0; it < 200; ++it) {
    bool all = true;
    for (int l = 0; l < W; ++l) {
      if (!done[l] && hi[l] - lo[l] <= tol) done[l] = true, val[l] = 0.5 * (lo[l] + hi[l]);
      all = all && done[l];
    }
    if (all) break;
    for (int l = 0; l < W; ++l) {
      double xl = 0.5 * (lo[l] + hi[l]);
      if (newton && chi[l] - clo[l] == 1) {  // isolated: Newton from the last point, if it stays inside
        // Aim a little past the Newton target (tol / 4 further along the step): when the target is
        // that good, the count flips and the interval closes from the other side too, so every
        // stop is by interval width, i.e. proven by counts. (Stopping on a small Newton step is not
        // safe: the last point is an end of the interval, and a root just outside it -- a cluster
        // next door -- also gives a small step.)
        const double sl = step[l / 4][l % 4];
        const double xn = x[l / 4][l % 4] - sl - (sl >= 0 ? 0.25 : -0.25) * tol;
        if (xn > lo[l] && xn < hi[l]) xl = xn;
      }
      x[l / 4][l % 4] = done[l] ? val[l] : xl;
    }
    bool any_isolated = false;
    for (int l = 0; l < W; ++l) any_isolated = any_isolated || (!done[l] && chi[l] - clo[l] == 1);
    newton = any_isolated;
    if (newton) sturm_newton<G>(d, e2, n, x, cnt, step);
    else sturm_counts<G>(d, e2, n, x, cnt);
    for (int l = 0; l < W; ++l) {
      if (done[l]) continue;
      const double xl = x[l / 4][l % 4];
      const Index cl = cnt[l / 4][l % 4];
      if (cl > j0 + l) hi[l] = xl, chi[l] = cl;
      else lo[l] = xl, clo[l] = cl;
    }
  }
  for (Index l = 0; l < w; ++l) out[j0 + l] = done[l] ? val[l] : 0.5 * (lo[l] + hi[l]);
}

PESUITE_VECTOR_CLONES
void smallest_values_bisect(const double* d, const double* e2, Index n, Index m, double tol, double* out) {
  double glo = d[0], ghi = d[0];
  for (Index i = 0; i < n; ++i) {
    const double r = (i > 0 ? std::sqrt(e2[i - 1]) : 0.0) + (i + 1 < n ? std::sqrt(e2[i]) : 0.0);
    glo = std::min(glo, d[i] - r);
    ghi = std::max(ghi, d[i] + r);
  }
  const double pad = 2 * tol;
  glo -= pad;
  ghi += pad;
  for (Index j0 = 0; j0 < m; j0 += 16) {
    const Index w = std::min<Index>(16, m - j0);
    // Eigenvalues below j0 are known: the intervals start at the last of them.
    // (count at lo unknown there: -1 keeps those lanes bisecting until a count below is seen)
    const double lo = j0 > 0 ? out[j0 - 1] - pad : glo;
    const Index clo = j0 > 0 ? -1 : 0;
    switch ((w + 3) / 4) {
      case 1: bisect_lanes<1>(d, e2, n, j0, w, lo, ghi, clo, tol, out); break;
      case 2: bisect_lanes<2>(d, e2, n, j0, w, lo, ghi, clo, tol, out); break;
      case 3: bisect_lanes<3>(d, e2, n, j0, w, lo, ghi, clo, tol, out); break;
      default: bisect_lanes<4>(d, e2, n, j0, w, lo, ghi, clo, tol, out); break;
    }
  }
}

// Inverse iteration for eigenvalue lam of the unreduced block (d, e) of size n: writes the unit
// vector into x, orthogonal to the `prev` unit vectors (same block, same cluster).
void inverse_iteration(const double* d, const double* e, Index n, double lam, double tiny,
                       const std::vector<const double*>& prev, std::uint64_t& rng, Work& w, double* x) {
  if (n == 1) {
    x[0] = 1;
    return;
  }
  w.dl.resize(static_cast<std::size_t>(n));
  w.dd.resize(static_cast<std::size_t>(n));
  w.du.resize(static_cast<std::size_t>(n));
  w.du2.resize(static_cast<std::size_t>(n));
  w.piv.resize(static_cast<std::size_t>(n));
  double *dl = w.dl.data(), *dd = w.dd.data(), *du = w.du.data(), *du2 = w.du2.data();
  int* piv = w.piv.data();
  // LU with partial pivoting of T - lam I (LAPACK dgttrf): U has two superdiagonals.
  for (Index i = 0; i < n; ++i) dd[i] = d[i] - lam;
  for (Index i = 0; i + 1 < n; ++i) dl[i] = du[i] = e[i];
  for (Index i = 0; i + 1 < n; ++i) {
    du2[i] = 0;
    if (std::abs(dd[i]) >= std::abs(dl[i])) {
      piv[i] = 0;
      const double di = std::abs(dd[i]) < tiny ? (dd[i] < 0 ? -tiny : tiny) : dd[i];
      dd[i] = di;
      const double f = dl[i] / di;
      dl[i] = f;
      dd[i + 1] -= f * du[i];
    } else {
      piv[i] = 1;
      const double f = dd[i] / dl[i];
      dd[i] = dl[i];
      dl[i] = f;
      const double t = du[i];
      du[i] = dd[i + 1];
      dd[i + 1] = t - f * dd[i + 1];
      if (i + 2 < n) {
        du2[i] = du[i + 1];
        du[i + 1] = -f * du[i + 1];
      }
    }
  }
  if (std::abs(dd[n - 1]) < tiny) dd[n - 1] = dd[n - 1] < 0 ? -tiny : tiny;
  for (Index i = 0; i < n; ++i) dd[i] = 1.0 / dd[i];  // the solves multiply (independent divisions)
  // Deterministic start in (-1, 1) (xorshift), so results never depend on threads or order.
  for (Index i = 0; i < n; ++i) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    x[i] = static_cast<double>(rng >> 11) * (2.0 / 9007199254740992.0) - 1.0;
  }
  auto orthonormalise = [&] {
    for (int pass = 0; pass < 2 && !prev.empty(); ++pass)
      for (const double* q : prev) {
        double s = 0;
        for (Index i = 0; i < n; ++i) s += q[i] * x[i];
        for (Index i = 0; i < n; ++i) x[i] -= s * q[i];
      }
    double nrm = 0;
    for (Index i = 0; i < n; ++i) nrm += x[i] * x[i];
    nrm = std::sqrt(nrm);
    const double inv = nrm > 0 ? 1.0 / nrm : 0.0;
    for (Index i = 0; i < n; ++i) x[i] *= inv;
    return nrm;
  };
  orthonormalise();
  // lam is exact to ~eps ||T||: each solve amplifies the wanted component by ~1/eps, so two solves
  // converge from any start; a third (and Gram-Schmidt after each) settles clusters.
  const int iters = prev.empty() ? 2 : 3;
  for (int it = 0; it < iters; ++it) {
    for (Index i = 0; i + 1 < n; ++i) {
      if (piv[i]) std::swap(x[i], x[i + 1]);
      x[i + 1] -= dl[i] * x[i];
    }
    x[n - 1] *= dd[n - 1];
    x[n - 2] = (x[n - 2] - du[n - 2] * x[n - 1]) * dd[n - 2];
    for (Index i = n - 2; i-- > 0;) x[i] = (x[i] - du[i] * x[i + 1] - du2[i] * x[i + 2]) * dd[i];
    if (orthonormalise() == 0) x[static_cast<std::size_t>(it) % static_cast<std::size_t>(n)] = 1;  // cannot happen in exact use
  }
}

// Inverse iteration for up to 4 G isolated eigenvalues of one block at once, one per vector lane:
// the LU factorisations with partial pivoting of T - lam I (pivot choices made per lane by selects)
// and the solves are long dependency chains (a division per row in the factorisation, a multiply-add
// per row in the solves), which the lanes share; G = 2 runs two such chains side by side. Two solves
// from a pseudo-random start (an isolated eigenvalue needs no Gram-Schmidt); unit vectors to xs.
template <int G>
inline __attribute__((always_inline)) void inverse_iteration_lanes_g(const double* d, const double* e, Index n, const double* lam_in,
                                                                     int lanes, double tiny, std::uint64_t& rng, Work& w,
                                                                     double* const* xs) {
  const auto N = static_cast<std::size_t>(n);
  w.lane.resize(4 * G * 5 * N);
  v4d_u* ud = reinterpret_cast<v4d_u*>(w.lane.data());  // U diagonal (then its reciprocal), G per row
  v4d_u* uu = ud + G * N;                                // U first superdiagonal
  v4d_u* uu2 = uu + G * N;                               // U second superdiagonal
  v4d_u* lf = uu2 + G * N;                               // L multipliers
  v4d_u* x = lf + G * N;                                 // the iterate
  w.lane_piv.resize(4 * G * N);
  v4l_u* piv = reinterpret_cast<v4l_u*>(w.lane_piv.data());
  v4d lam[G];
  for (int l = 0; l < 4 * G; ++l) lam[l / 4][l % 4] = lam_in[l < lanes ? l : 0];
  const v4d vtiny = {tiny, tiny, tiny, tiny}, zero = {0, 0, 0, 0}, one = {1, 1, 1, 1};
  auto safe = [&](v4d v) { return (v < 0 ? -v : v) < vtiny ? (v < 0 ? -vtiny : vtiny) : v; };
  v4d cur_d[G], cur_u[G];
  for (int g = 0; g < G; ++g) cur_d[g] = d[0] - lam[g], cur_u[g] = zero + e[0];
  for (Index i = 0; i + 1 < n; ++i) {
    const double en = i + 2 < n ? e[i + 1] : 0.0;
    const v4d sub = zero + e[i], abs_s = sub < 0 ? -sub : sub;
    for (int g = 0; g < G; ++g) {
      const v4d next_d = d[i + 1] - lam[g];
      const v4d abs_d = cur_d[g] < 0 ? -cur_d[g] : cur_d[g];
      const v4l p = abs_d < abs_s;  // partial pivoting: swap rows i and i + 1
      const v4d den = safe(p ? sub : cur_d[g]);
      const v4d f = (p ? cur_d[g] : sub) / den;
      piv[i * G + g] = p;
      lf[i * G + g] = f;
      ud[i * G + g] = den;
      uu[i * G + g] = p ? next_d : cur_u[g];
      uu2[i * G + g] = p ? zero + en : zero;
      const v4d nd = p ? cur_u[g] - f * next_d : next_d - f * cur_u[g];
      cur_u[g] = p ? -f * en : zero + en;
      cur_d[g] = nd;
    }
  }
  for (int g = 0; g < G; ++g) ud[(n - 1) * G + g] = safe(cur_d[g]);
  for (Index i = 0; i < G * n; ++i) ud[i] = one / ud[i];
  // Start: uniform in (-1/2, 1/2) from 4 G xorshift streams seeded from rng (the mantissa bits of a
  // double in [1, 2), integer operations only).
  typedef unsigned long long v4u_ __attribute__((vector_size(32)));
  v4u_ st[G];
  for (int g = 0; g < G; ++g)
    for (int l = 0; l < 4; ++l) {
      rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
      st[g][l] = rng | 1;
    }
  for (Index i = 0; i < n; ++i)
    for (int g = 0; g < G; ++g) {
      st[g] ^= st[g] << 13, st[g] ^= st[g] >> 7, st[g] ^= st[g] << 17;
      x[i * G + g] = reinterpret_cast<v4d>((st[g] >> 12) | 0x3FF0000000000000ull) - 1.5;
    }
  for (int it = 0; it < 2; ++it) {
    v4d a[G];
    for (int g = 0; g < G; ++g) a[g] = x[g];
    for (Index i = 0; i + 1 < n; ++i)
      for (int g = 0; g < G; ++g) {
        const v4l p = piv[i * G + g];
        const v4d b = x[(i + 1) * G + g];
        const v4d xi = p ? b : a[g];
        x[i * G + g] = xi;
        a[g] = (p ? a[g] : b) - lf[i * G + g] * xi;
      }
    v4d x1[G], x2[G];
    for (int g = 0; g < G; ++g) {
      x1[g] = a[g] * ud[(n - 1) * G + g];
      x[(n - 1) * G + g] = x1[g];
      x2[g] = zero;
    }
    v4d nrm[G];
    for (int g = 0; g < G; ++g) nrm[g] = x1[g] * x1[g];
    for (Index i = n - 1; i-- > 0;)
      for (int g = 0; g < G; ++g) {
        const v4d xi = (x[i * G + g] - uu[i * G + g] * x1[g] - uu2[i * G + g] * x2[g]) * ud[i * G + g];
        x[i * G + g] = xi;
        nrm[g] += xi * xi;
        x2[g] = x1[g];
        x1[g] = xi;
      }
    for (int g = 0; g < G; ++g) {
      v4d inv;
      for (int l = 0; l < 4; ++l) inv[l] = nrm[g][l] > 0 ? 1.0 / std::sqrt(nrm[g][l]) : 0.0;
      for (Index i = 0; i < n; ++i) x[i * G + g] *= inv;
    }
  }
  for (int l = 0; l < lanes; ++l)
    for (Index i = 0; i < n; ++i) xs[l][i] = x[i * G + l / 4][l % 4];
}

PESUITE_VECTOR_CLONES
void inverse_iteration_lanes(const double* d, const double* e, Index n, const double* lam, int lanes, double tiny,
                             std::uint64_t& rng, Work& w, double* const* xs) {
  if (lanes > 4) inverse_iteration_lanes_g<2>(d, e, n, lam, lanes, tiny, rng, w, xs);
  else inverse_iteration_lanes_g<1>(d, e, n, lam, lanes, tiny, rng, w, xs);
}

// z^T T z for the tridiagonal (d, e) and a unit vector z.
double rayleigh_quotient(const double* d, const double* e, Index n, const double* z) {
  double r = 0;
  for (Index i = 0; i < n; ++i) r += d[i] * z[i] * z[i];
  for (Index i = 0; i + 1 < n; ++i) r += 2 * e[i] * z[i] * z[i + 1];
  return r;
}

// V = H_0 H_1 ... H_{n-3} Z for the k columns of Z (column-major n x k), reflectors as left by
// tridiagonalise.
PESUITE_VECTOR_CLONES
void back_transform(const double* a, Index ld, const double* beta, Index n, double* Z, Index k) {
  for (Index i = n - 2; i-- > 0;) {
    const double b = beta[i];
    if (b == 0) continue;
    const double* v = a + i * ld + i + 1;  // v[0] = 1
    const Index m = n - i - 1;
    for (Index j = 0; j < k; ++j) {
      double* z = Z + j * n + i + 1;
      axpy_neg(z, b * dot(v, z, m), v, m);
    }
  }
}

// Residuals ||A z_j - lam_j z_j|| into res, and max |Z^T Z - I| returned (plain loops: Eigen's GEMM
// packing costs more than the products at these sizes).
PESUITE_VECTOR_CLONES
double verify(const double* A, Index n, const double* Z, const double* lam, Index k, double* res) {
  thread_local std::vector<double> r;
  r.resize(static_cast<std::size_t>(n));
  double orth = 0;
  for (Index j = 0; j < k; ++j) {
    const double* z = Z + j * n;
    for (Index i = 0; i < n; ++i) r[i] = -lam[j] * z[i];
    for (Index c = 0; c < n; ++c) axpy_neg(r.data(), -z[c], A + c * n, n);
    res[j] = std::sqrt(dot(r.data(), r.data(), n));
    for (Index q = 0; q <= j; ++q) {
      const double g = dot(Z + q * n, z, n);
      orth = std::max(orth, std::abs(q == j ? g - 1.0 : g));
    }
  }
  return orth;
}

// The padded counterparts (n <= 64): reflectors in vpad, Z and A with leading dimension ld (zero
// padding rows), so every loop is whole 4-wide steps from an aligned row.
PESUITE_VECTOR_CLONES
void back_transform_padded(const double* vpad, Index ld, const double* beta, Index n, double* Z, Index k) {
  for (Index i = n - 2; i-- > 0;) {
    const double b = beta[i];
    if (b == 0) continue;
    const Index r0 = (i + 1) & ~Index{3};
    const double* v = vpad + i * ld;
    for (Index j = 0; j < k; ++j) {
      double* z = Z + j * ld;
      v4d acc = {0, 0, 0, 0};
      for (Index r = r0; r < ld; r += 4) acc += load4(v + r) * load4(z + r);
      const double sc = b * hsum(acc);
      for (Index r = r0; r < ld; r += 4) store4(z + r, load4(z + r) - sc * load4(v + r));
    }
  }
}

// r = A z - lam z held in C 4-wide registers (n <= 4 C <= 64): A z as a sum of A's columns scaled by
// z's entries, so nothing goes through memory and only the final norm needs a horizontal sum.
template <int C>
inline __attribute__((always_inline)) double residual_norm(const double* Ap, Index ld, Index n, const double* z, double lam) {
  v4d r[C];
  for (int c = 0; c < C; ++c) r[c] = -lam * load4(z + 4 * c);
  for (Index q = 0; q < n; ++q) {
    const double zq = z[q];
    const double* col = Ap + q * ld;
    for (int c = 0; c < C; ++c) r[c] += zq * load4(col + 4 * c);
  }
  v4d acc = {0, 0, 0, 0};
  for (int c = 0; c < C; ++c) acc += r[c] * r[c];
  return std::sqrt(hsum(acc));
}

PESUITE_VECTOR_CLONES
double verify_padded(const double* Ap, Index ld, Index n, const double* Z, const double* lam, Index k, double* res) {
  double orth = 0;
  for (Index j = 0; j < k; ++j) {
    const double* z = Z + j * ld;
    switch (ld / 4) {
#define PESUITE_RESIDUAL_CASE(C) \
  case C: res[j] = residual_norm<C>(Ap, ld, n, z, lam[j]); break;
      PESUITE_RESIDUAL_CASE(1) PESUITE_RESIDUAL_CASE(2) PESUITE_RESIDUAL_CASE(3) PESUITE_RESIDUAL_CASE(4)
      PESUITE_RESIDUAL_CASE(5) PESUITE_RESIDUAL_CASE(6) PESUITE_RESIDUAL_CASE(7) PESUITE_RESIDUAL_CASE(8)
      PESUITE_RESIDUAL_CASE(9) PESUITE_RESIDUAL_CASE(10) PESUITE_RESIDUAL_CASE(11) PESUITE_RESIDUAL_CASE(12)
      PESUITE_RESIDUAL_CASE(13) PESUITE_RESIDUAL_CASE(14) PESUITE_RESIDUAL_CASE(15) PESUITE_RESIDUAL_CASE(16)
#undef PESUITE_RESIDUAL_CASE
      default: res[j] = std::numeric_limits<double>::infinity();  // not reached: ld <= 64 here
    }
    for (Index q = 0; q <= j; ++q) {
      const double* y = Z + q * ld;
      v4d g4 = {0, 0, 0, 0};
      for (Index i = 0; i < ld; i += 4) g4 += load4(y + i) * load4(z + i);
      const double g = hsum(g4);
      orth = std::max(orth, std::abs(q == j ? g - 1.0 : g));
    }
  }
  return orth;
}

// Householder reduction of A to tridiagonal T (w.d, w.e), the reflectors kept for the back
// transform; small matrices (n <= 64) go through the 4-wide padded kernels with leading dimension ld.
void reduce_to_tridiagonal(const Eigen::MatrixXd& A, bool padded, Index ld, Work& w) {
  const Index n = A.rows();
  const auto N = static_cast<std::size_t>(n);
  w.beta.assign(N, 0.0);
  w.d.resize(N);
  w.e.assign(N, 0.0);
  double* xb = w.xbuf.assign(static_cast<std::size_t>(2 * ld), 0.0);
  if (padded) {
    double* ap = w.ap.assign(static_cast<std::size_t>(n * ld), 0.0);
    for (Index c = 0; c < n; ++c) std::copy(A.data() + c * n, A.data() + (c + 1) * n, ap + c * ld);
    double* aw = w.apw.assign(static_cast<std::size_t>(n * ld), 0.0);
    std::copy(ap, ap + n * ld, aw);
    w.vpad.assign(static_cast<std::size_t>(n * ld), 0.0);
    tridiagonalise_padded(aw, n, ld, w.d.data(), w.e.data(), w.beta.data(), xb, xb + ld, w.vpad.data());
  } else {
    w.a.assign(A.data(), A.data() + n * n);
    tridiagonalise(w.a.data(), n, w.d.data(), w.e.data(), w.beta.data(), xb);
  }
}

// Splits T into unreduced blocks (w.bstart) where |e_i| is within Householder's backward error (a
// perturbation of that size is already in T) or negligible next to its diagonal neighbours.
// Returns ||T|| (row-sum bound).
double split_blocks(Index n, Work& w) {
  double tnorm = 0;
  for (Index i = 0; i < n; ++i)
    tnorm = std::max(tnorm, std::abs(w.d[i]) + (i > 0 ? std::abs(w.e[i - 1]) : 0.0) + (i + 1 < n ? std::abs(w.e[i]) : 0.0));
  const double split_tol = 4 * kEps * std::max(tnorm, std::numeric_limits<double>::min());
  w.bstart.assign(1, 0);
  for (Index i = 0; i + 1 < n; ++i)
    if (std::abs(w.e[i]) <= split_tol || std::abs(w.e[i]) <= kEps * (std::abs(w.d[i]) + std::abs(w.d[i + 1]))) {
      w.e[i] = 0;
      w.bstart.push_back(i + 1);
    }
  w.bstart.push_back(n);
  return tnorm;
}

// The min(k, len) smallest eigenvalues of every block (w.vals, w.block_of, w.voff), to `coarse_tol`;
// then w.order: the k smallest of all, ascending, equal values ordered by block (deterministic).
void candidate_values(Index n, Index k, double coarse_tol, Work& w) {
  w.vals.clear();
  w.block_of.clear();
  w.be.resize(static_cast<std::size_t>(n));
  for (Index i = 0; i + 1 < n; ++i) w.be[static_cast<std::size_t>(i)] = w.e[static_cast<std::size_t>(i)] * w.e[static_cast<std::size_t>(i)];
  w.voff.assign(w.bstart.size(), 0);
  // Once k candidates are known, a later block only needs its values below the current k-th smallest
  // (one Sturm count says how many): graphs with symmetries split T into several blocks, and
  // computing k values in each would bisect about twice as many values as are kept.
  w.kbest.clear();
  for (std::size_t b = 0; b + 1 < w.bstart.size(); ++b) {
    const Index s = w.bstart[b], len = w.bstart[b + 1] - s;
    Index want = std::min(k, len);
    if (static_cast<Index>(w.kbest.size()) == k) want = std::min(want, sturm_count(w.d.data() + s, w.be.data() + s, len, w.kbest.back()));
    w.voff[b] = static_cast<Index>(w.vals.size());
    w.bd.resize(static_cast<std::size_t>(want));
    if (want == 0) continue;
    if (len == 1) w.bd[0] = w.d[static_cast<std::size_t>(s)];
    else smallest_values_bisect(w.d.data() + s, w.be.data() + s, len, want, coarse_tol, w.bd.data());
    for (Index j = 0; j < want; ++j) {
      const double v = w.bd[static_cast<std::size_t>(j)];
      w.vals.push_back(v);
      w.block_of.push_back(static_cast<int>(b));
      // The k smallest so far, ascending (k is small: insertion).
      if (static_cast<Index>(w.kbest.size()) < k) w.kbest.push_back(v);
      else if (v < w.kbest.back()) w.kbest.back() = v;
      else continue;
      for (std::size_t q = w.kbest.size() - 1; q > 0 && w.kbest[q] < w.kbest[q - 1]; --q) std::swap(w.kbest[q], w.kbest[q - 1]);
    }
  }
  const Index cand = static_cast<Index>(w.vals.size());
  w.order.resize(static_cast<std::size_t>(cand));
  for (Index i = 0; i < cand; ++i) w.order[static_cast<std::size_t>(i)] = static_cast<int>(i);
  auto less = [&](int p, int q) { return w.vals[p] < w.vals[q] || (w.vals[p] == w.vals[q] && p < q); };
  std::partial_sort(w.order.begin(), w.order.begin() + k, w.order.end(), less);
}

// Eigenvectors of T for the k chosen values, block by block, into Z (column-major, leading
// dimension zl), and their final values into w.final_val. Within a block, values are taken in
// ascending order; a value within 1e-3 ||T|| of the previous one joins its cluster
// (reorthogonalised against it); nearly equal values are nudged apart by 10 eps ||T|| as dstein
// does. Blocks holding a cluster get their values again to full precision first.
void eigenvectors_of_tridiagonal(Index k, double tnorm, double fine_tol, double* Z, Index zl, Work& w) {
  const double tiny = kEps * std::max(tnorm, std::numeric_limits<double>::min());
  const double cluster_gap = 1e-3 * tnorm, nudge = 10 * kEps * tnorm;
  std::vector<const double*> prev;
  std::uint64_t rng = 0x9E3779B97F4A7C15ull;
  std::vector<Index> in_block;
  w.final_val.assign(static_cast<std::size_t>(k), 0.0);
  for (std::size_t b = 0; b + 1 < w.bstart.size(); ++b) {
    const Index s = w.bstart[b], len = w.bstart[b + 1] - s;
    in_block.clear();
    for (Index j = 0; j < k; ++j)
      if (w.block_of[static_cast<std::size_t>(w.order[static_cast<std::size_t>(j)])] == static_cast<int>(b)) in_block.push_back(j);
    auto value = [&](std::size_t q) { return w.vals[static_cast<std::size_t>(w.order[static_cast<std::size_t>(in_block[q])])]; };
    bool clustered = false;
    for (std::size_t q = 1; q < in_block.size(); ++q) clustered = clustered || value(q) - value(q - 1) <= cluster_gap;
    if (clustered && len > 1) {  // full precision for this block's values (see candidate_values' caller)
      const Index want = (b + 2 < w.bstart.size() ? w.voff[b + 1] : static_cast<Index>(w.vals.size())) - w.voff[b];
      smallest_values_bisect(w.d.data() + s, w.be.data() + s, len, want, fine_tol, w.vals.data() + w.voff[b]);
    }
    // Isolated values (gap > 1e-3 ||T|| to both chosen neighbours in the block) go up to 8 at a time
    // through the vectorised iteration; clusters through the sequential one with Gram-Schmidt.
    Index lane_j[8];
    double lane_lam[8];
    int lanes = 0;
    auto flush = [&] {
      if (lanes == 0) return;
      double* xs[8];
      for (int l = 0; l < lanes; ++l) xs[l] = Z + lane_j[l] * zl + s;
      inverse_iteration_lanes(w.d.data() + s, w.e.data() + s, len, lane_lam, lanes, tiny, rng, w, xs);
      for (int l = 0; l < lanes; ++l) w.final_val[static_cast<std::size_t>(lane_j[l])] = rayleigh_quotient(w.d.data() + s, w.e.data() + s, len, xs[l]);
      lanes = 0;
    };
    prev.clear();
    double last = 0;
    for (std::size_t q = 0; q < in_block.size(); ++q) {
      const Index j = in_block[q];
      double lam = value(q);
      const bool gap_below = q == 0 || lam - value(q - 1) > cluster_gap;
      const bool gap_above = q + 1 == in_block.size() || value(q + 1) - lam > cluster_gap;
      if (len > 1 && gap_below && gap_above) {
        lane_j[lanes] = j;
        lane_lam[lanes++] = lam;
        if (lanes == 8) flush();
        continue;
      }
      w.final_val[static_cast<std::size_t>(j)] = lam;
      if (gap_below) prev.clear();
      else if (lam - last < nudge) lam = last + nudge;
      last = lam;
      if (len == 1) {
        Z[j * zl + s] = 1;
        continue;
      }
      double* x = Z + j * zl + s;
      inverse_iteration(w.d.data() + s, w.e.data() + s, len, lam, tiny, prev, rng, w, x);
      prev.push_back(x);
    }
    flush();
  }
}

}  // namespace

bool smallest_eigenpairs_tridiag(const Eigen::MatrixXd& A, Index k_in, EigenPairs& out) {
  const Index n = A.rows(), k = std::min(k_in, n);
  out.solver = "dense";
  out.norm_estimate = n ? A.cwiseAbs().rowwise().sum().maxCoeff() : 0.0;
  out.values.resize(std::max<Index>(k, 0));
  out.vectors.resize(n, std::max<Index>(k, 0));
  if (k <= 0) {
    out.residuals.resize(0);
    out.max_residual = 0;
    return true;
  }
  thread_local Work w;
  const bool padded = n <= 64;
  const Index ld = padded ? (n + 3) / 4 * 4 : n;
  reduce_to_tridiagonal(A, padded, ld, w);
  const double tnorm = split_blocks(n, w);
  // Values are first found to 1e-10 ||T|| only: an isolated value's inverse iteration converges all
  // the same (the error shrinks like (1e-10 / gap)^2 per two solves, gap > 1e-3 ||T||) and its
  // Rayleigh quotient on T is then exact; blocks holding a cluster are solved again to full
  // precision before their inverse iteration.
  const double fine_tol = 4 * kEps * std::max(tnorm, std::numeric_limits<double>::min());
  const double coarse_tol = std::max(fine_tol, 1e-10 * tnorm);
  candidate_values(n, k, coarse_tol, w);

  // Z: the k eigenvectors of T (then of A), column-major with leading dimension zl (padded path: a
  // buffer with ld rows, copied to out.vectors at the end).
  const Index zl = padded ? ld : n;
  double* Z;
  if (padded) {
    Z = w.zp.assign(static_cast<std::size_t>(zl * k), 0.0);
  } else {
    out.vectors.setZero();
    Z = out.vectors.data();
  }
  eigenvectors_of_tridiagonal(k, tnorm, fine_tol, Z, zl, w);
  // The values: Rayleigh quotients (isolated) or full-precision bisection (clusters). Refinement can
  // swap two nearly equal values of different blocks: keep the pairs in ascending order.
  for (Index j = 0; j < k; ++j) out.values[j] = w.final_val[static_cast<std::size_t>(j)];
  for (Index j = 1; j < k; ++j)
    for (Index q = j; q > 0 && out.values[q] < out.values[q - 1]; --q) {
      std::swap(out.values[q], out.values[q - 1]);
      std::swap_ranges(Z + q * zl, Z + (q + 1) * zl, Z + (q - 1) * zl);
    }

  if (padded) back_transform_padded(w.vpad.data(), ld, w.beta.data(), n, Z, k);
  else back_transform(w.a.data(), ld, w.beta.data(), n, Z, k);
  // Verify against the original matrix.
  out.residuals.resize(k);
  const double orth = padded ? verify_padded(w.ap.data(), ld, n, Z, out.values.data(), k, out.residuals.data())
                             : verify(A.data(), n, Z, out.values.data(), k, out.residuals.data());
  if (padded)
    for (Index j = 0; j < k; ++j) std::copy(Z + j * zl, Z + j * zl + n, out.vectors.col(j).data());
  out.max_residual = out.residuals.maxCoeff();
  const double scale = std::max(out.norm_estimate, 1.0);
  return out.max_residual <= 1e-12 * scale && orth <= 1e-11;
}

}  // namespace pesuite::graph
