#pragma once
// Graph operators as Eigen sparse matrices: the Laplacians LapPE uses and the propagation
// operators RFP uses. Conventions follow PyG's get_laplacian: directed input is first made
// undirected (union of arcs, larger weight kept), self loops are removed, parallel edges summed;
// an isolated node has L_ii = 0 (combinatorial) or 1 (symmetric: PyG adds I before D^-1/2 A D^-1/2).
//
//   auto L = pesuite::graph::laplacian(g, pesuite::graph::LaplacianKind::Sym);   // Eigen::SparseMatrix<double>
#include <Eigen/Dense>
#include <Eigen/Sparse>
#include <string>

#include "pesuite/graph/graph.h"

namespace pesuite::graph {

enum class LaplacianKind { Combinatorial, Sym, RandomWalk };
// "none"/"comb" -> Combinatorial (GraphGPS calls D - A "none"), "sym", "rw".
LaplacianKind parse_laplacian_kind(const std::string& name);
std::string laplacian_name(LaplacianKind kind);

using SparseMatrix = Eigen::SparseMatrix<double, Eigen::ColMajor, int>;

// Symmetric adjacency (no self loops) of the undirected view.
SparseMatrix adjacency(const Graph& g);
// D - A, I - D^-1/2 A D^-1/2, or (for RandomWalk) the symmetric one: L_rw = D^-1/2 L_sym D^1/2 has the
// same eigenvalues and eigenvectors D^-1/2 u, which is how lap_pe handles it (a symmetric solver).
SparseMatrix laplacian(const Graph& g, LaplacianKind kind);
// The same Laplacian as a dense matrix, assembled directly from the CSR (small graphs).
Eigen::MatrixXd dense_laplacian(const Graph& g, LaplacianKind kind);
// Degrees of the undirected view without self loops (what `laplacian` used).
Eigen::VectorXd laplacian_degrees(const Graph& g);

}  // namespace pesuite::graph
