#pragma once
// The k smallest eigenpairs of a symmetric sparse matrix (a graph Laplacian), with the solver picked
// by size and the quality of every pair measured:
//  - dense: Eigen::SelfAdjointEigenSolver on the full matrix (n <= dense_max): exact and fastest
//    for molecules and other TU-sized graphs;
//  - shift_invert: Spectra Lanczos on (L - sigma I)^-1 with a sparse LDL^T factorisation
//    (Eigen::SimplicialLDLT, AMD ordering), sigma slightly below 0 so the matrix is positive
//    definite: the smallest eigenvalues become the largest and best separated;
//  - lanczos: Spectra Lanczos on c I - L (no factorisation; for graphs whose factor would fill in,
//    e.g. expanders), slower to converge on clustered spectra.
//
//   auto pairs = pesuite::graph::smallest_eigenpairs(L, 8, {});
//   pairs.values[0]; pairs.vectors.col(0); pairs.solver; pairs.max_residual;
#include <Eigen/Dense>
#include <string>

#include "pesuite/graph/laplacian.h"

namespace pesuite::graph {

enum class SolverKind { Auto, Dense, ShiftInvert, Lanczos };
SolverKind parse_solver_kind(const std::string& name);  // auto|dense|shift_invert|lanczos

struct EigenOptions {
  SolverKind solver = SolverKind::Auto;
  Index dense_max = 600;   // auto: dense up to this many nodes
  double tol = 1e-10;      // Spectra convergence tolerance (relative)
  int max_iter = 3000;
  int ncv = 0;             // Lanczos basis size; 0 = max(2k + 1, k + 40) capped at n
};

struct EigenPairs {
  Eigen::VectorXd values;   // ascending
  Eigen::MatrixXd vectors;  // n x k, orthonormal columns
  std::string solver;       // "dense", "shift_invert" or "lanczos"
  Eigen::VectorXd residuals;  // ||L v - lambda v||_2 per pair (||v|| = 1)
  double max_residual = 0;
  double norm_estimate = 1;   // max row sum of |L| (bounds ||L||_2), for relative residuals
  int iterations = 0;
};

// k is clamped to n. Throws std::runtime_error when Spectra does not converge.
EigenPairs smallest_eigenpairs(const SparseMatrix& L, Index k, const EigenOptions& options);
// The dense solver on a dense symmetric matrix (small graphs; see dense_laplacian).
EigenPairs smallest_eigenpairs_dense(const Eigen::MatrixXd& L, Index k);

}  // namespace pesuite::graph
