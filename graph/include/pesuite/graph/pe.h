#pragma once
// Graph positional / structural encodings (pesuite::graph::pe), named as in PyG / GraphGPS:
//   lap   Laplacian eigenvectors     k=10 norm=sym trivial=keep per_component=0 random_sign=0 seed=0 solver=auto
//         (GraphGPS defaults: max_freqs 10, laplacian_norm sym, lambda_0 kept, L2-normalised vectors,
//         eigenvalues clamped >= 0). Graphs with fewer than k usable pairs are padded with 0 and
//         `lap.mask` = 0 there (GraphGPS pads with NaN; a mask keeps arithmetic finite).
//         trivial=drop removes column 0 only, as PyG's AddLaplacianEigenvectorPE does.
//         norm=rw: eigenvectors of I - D^-1 A are D^-1/2 u for the sym ones u, re-normalised to 1.
//   eig   the first k eigenpairs as they are (input of SPE / SignNet): k=37 (SPE ZINC pe_dims) norm=sym
//   rwse  diag((D^-1 A)^t), t = 1..steps (steps=20 as GraphGPS ZINC); isolated nodes return 0.
//   rfp   random feature propagation: X0 random (r = features columns), X_l = N(P X_{l-1}), all steps
//         features=8 steps=8 op=adj|lap|rw norm=l2|qr init=gaussian|uniform|rademacher runs=1 seed=0
//         (no official code exists; these defaults are ours).
//
// Sign convention (lap, eig): each eigenvector is flipped so that sum_i v_i^3 > 0, which does not
// depend on node order; when that sum vanishes (|.| < 1e-8, e.g. symmetric vectors) the first entry
// of largest magnitude is made positive. Eigenvectors of repeated eigenvalues are only defined up to
// a rotation of their eigenspace (any solver's choice is as good as another).
//
// Outputs are node-level, row-major (num_nodes x dim), float32: `lap` (n x k), `lap.eigval` (n x k,
// the graph's eigenvalues repeated per node, as GraphGPS stores EigVals), `lap.mask` (n x k),
// `rwse` (n x steps), `rfp` (n x runs*(steps+1)*features, ordered [run][step][feature]).
//
//   using namespace pesuite::graph;
//   auto spec = pe::parse_pe_spec("lap:k=8,norm=none");
//   pe::GraphPe out = pe::compute(g, spec, /*graph_index=*/0);   // out.tensors[0].name == "lap"
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pesuite/core/params.h"
#include "pesuite/graph/graph.h"

namespace pesuite::graph {
class PeEncoderImpl;  // gnn_encoders.h
}

namespace pesuite::graph::pe {

// A spec resolved against its registry row: every key of the row (computation and encoder keys),
// defaults filled in, values checked.
struct PeSpec {
  std::string name;
  std::map<std::string, std::string> params;
  // "name:k=v,..." over every key in key order.
  std::string canonical() const;
  std::string get(const std::string& key) const;          // InputError for a key the row lacks
  std::int64_t get_int(const std::string& key) const;
  // The computation this spec asks for: the computing row's name and its computation keys only
  // (spe:k=37,phis=8 -> eig:k=37,...; lap:k=8,encoder=linear -> lap:k=8,...). Its canonical() is
  // the cache key, so encodings that read the same computation share one cache file.
  PeSpec computation() const;
};

struct Encoding;
struct GraphPe;

// What an encoder is given besides its spec: the columns of its main tensor (after the model's
// pe_in_dim narrowing) and the channels it must produce.
struct EncoderShape {
  std::int64_t in_dim = 0;
  std::int64_t out_dim = 0;
};
using EncoderFactory = std::function<std::shared_ptr<PeEncoderImpl>(const PeSpec&, const EncoderShape&)>;

// One row of the graph encoding registry: everything about one encoding lives in its row.
struct PeRow {
  std::string name;
  std::string help;
  std::vector<core::ParamInfo> keys;          // what the computation reads (part of the cache key)
  std::vector<core::ParamInfo> encoder_keys;  // what only the model's encoder reads
  // Another row whose computation this one reads ("eig" for spe and signnet), "" = its own.
  std::string computes;
  // The computation (rows with `computes` set use that row's): one graph's tensors. graph_index
  // seeds random encodings so that a dataset's result does not depend on thread count or order.
  std::function<GraphPe(const Graph&, const PeSpec&, Index graph_index)> compute;
  // Of a computing row: the tensors it writes (the main one first; its companions, named
  // "<main>.<what>", have as many columns) and the main tensor's columns for a spec.
  std::vector<std::string> tensors;
  std::function<std::int64_t(const PeSpec&)> in_dim;
  EncoderFactory encoder;                     // the model's learnable side; empty: computation only
  bool dense = false;                         // the encoder needs the batch's dense per-graph layout
};

// The registry: one explicit table (graph/src/pe/registry.cpp), in `pesuite list pes` order.
const std::vector<PeRow>& rows();
const PeRow& row(const std::string& name);  // InputError listing the valid names
// The row that computes `name`'s tensors (itself, or the one named by `computes`).
const PeRow& computing_row(const std::string& name);

// "lap", "lap:k=8,norm=none", "spe:k=37,phis=8" (grammar: core/params.h). InputError naming the
// spec, the key and the valid keys / values.
PeSpec parse_pe_spec(const std::string& text);

struct Encoding {
  std::string name;
  Index dim = 0;
  std::vector<float> values;  // num_nodes x dim, row-major
};

struct GraphPe {
  std::vector<Encoding> tensors;
  std::string solver;          // eigen-based encodings: "dense", "shift_invert", "lanczos", "chebyshev"
  double max_residual = 0;     // max ||L v - lambda v||
  double max_rel_residual = 0; // the same divided by ||L|| (row-sum bound)
  std::vector<double> rel_residuals;  // per pair, in column order (whole-graph solves; empty per component)
};

// One graph's tensors of `spec` (its computation()). InputError for a row that computes nothing.
GraphPe compute(const Graph& g, const PeSpec& spec, Index graph_index = 0);

// The pieces, for callers who want them directly.
struct LapOptions {
  Index k = 10;
  std::string norm = "sym";
  bool keep_trivial = true;
  bool per_component = false;
  bool random_sign = false;
  std::uint64_t seed = 0;
  std::string solver = "auto";
  Index dense_max = 600;
};
GraphPe lap_pe(const Graph& g, const LapOptions& options, Index graph_index = 0, const std::string& name = "lap");
// rwse: n x steps, entry (i, t-1) = (D^-1 A)^t_ii. Exact; walks are propagated from each node
// through the sparse matrix (never dense), in parallel over nodes for large graphs.
std::vector<double> rwse(const Graph& g, Index steps);
struct RfpOptions {
  Index features = 8, steps = 8, runs = 1;
  std::string op = "adj", norm = "l2", init = "gaussian";
  std::uint64_t seed = 0;
};
Encoding rfp(const Graph& g, const RfpOptions& options, Index graph_index = 0);

// Applies the sign convention above to the columns of a column-major n x k array (in place).
void fix_signs(double* vectors, Index n, Index k);

// A seed for graph `index` from a user seed: splitmix64, so nearby seeds give unrelated streams.
std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t index);

}  // namespace pesuite::graph::pe
