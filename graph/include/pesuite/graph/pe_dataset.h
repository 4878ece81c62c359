#pragma once
// Encodings for many graphs at once, in parallel (TBB, one task per graph), concatenated node-wise
// with node_ptr (graph g owns rows node_ptr[g] .. node_ptr[g+1]). Each graph's result depends only
// on the graph, the spec and its index, so the output is identical for any thread count.
//
//   auto specs = {pe::parse_pe_spec("lap:k=8"), pe::parse_pe_spec("rwse:steps=20")};
//   pe::DatasetPe all = pe::compute_dataset(graphs, specs, /*threads=*/0);   // 0 = all cores
//   all.tensors["lap"].values;  all.metadata["lap.solver"];
//   auto part = pe::compute_dataset(graphs, specs, 0, {}, pe::shard_range(graphs.size(), 1, 4));  // graphs of shard 1/4
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pesuite/graph/pe.h"

namespace pesuite::graph::pe {

struct DatasetPe {
  std::vector<std::int64_t> node_ptr;        // graphs + 1
  std::map<std::string, Encoding> tensors;   // "lap", "lap.eigval", "lap.mask", "rwse", ...
  std::map<std::string, std::string> metadata;  // per spec: solver mix, max residuals
};

// Graphs [begin, end) of a dataset: a shard's share. Each graph keeps its dataset index (random
// features are seeded by it), so the shards' results, concatenated in order, are the whole's.
struct GraphRange {
  std::size_t begin = 0, end = SIZE_MAX;  // end is clamped to the dataset's size
};

// Shard i of n: contiguous ranges whose sizes differ by at most one (the first G % n get one more).
GraphRange shard_range(std::size_t graphs, int shard, int shards);

// The per-encoding metadata values that compute_dataset writes and the shard merge (pe_shards.h)
// adds up, written and read in one place so a merged file is byte-identical to a one-process file:
// "<name>.solver" = "dense=20,lanczos=3" (graphs per solver), "<name>.max_residual" = "%.3e".
using SolverCounts = std::map<std::string, long long>;
std::string format_solver_counts(const SolverCounts& counts);
std::optional<SolverCounts> parse_solver_counts(const std::string& text);  // nullopt: not name=count,...
std::string format_residual(double value);

// progress(done, total) is called from worker threads now and then (may be empty). Only the graphs
// of `range` are computed; node_ptr then starts at 0 with the range's first graph.
DatasetPe compute_dataset(const std::vector<Graph>& graphs, const std::vector<PeSpec>& specs, int threads = 0,
                          const std::function<void(std::size_t, std::size_t)>& progress = {}, GraphRange range = {});

}  // namespace pesuite::graph::pe
