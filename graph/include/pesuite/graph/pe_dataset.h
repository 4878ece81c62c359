#pragma once
// Encodings for many graphs at once, in parallel (TBB, one task per graph), concatenated node-wise
// with node_ptr (graph g owns rows node_ptr[g] .. node_ptr[g+1]). Each graph's result depends only
// on the graph, the spec and its index, so the output is identical for any thread count.
//
//   auto specs = {pe::parse_pe_spec("lap:k=8"), pe::parse_pe_spec("rwse:steps=20")};
//   pe::DatasetPe all = pe::compute_dataset(graphs, specs, /*threads=*/0);   // 0 = all cores
//   all.tensors["lap"].values;  all.metadata["lap.solver"];
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "pesuite/graph/pe.h"

namespace pesuite::graph::pe {

struct DatasetPe {
  std::vector<std::int64_t> node_ptr;        // graphs + 1
  std::map<std::string, Encoding> tensors;   // "lap", "lap.eigval", "lap.mask", "rwse", ...
  std::map<std::string, std::string> metadata;  // per spec: solver mix, max residuals
};

// progress(done, total) is called from worker threads now and then (may be empty).
DatasetPe compute_dataset(const std::vector<Graph>& graphs, const std::vector<PeSpec>& specs, int threads = 0,
                          const std::function<void(std::size_t, std::size_t)>& progress = {});

}  // namespace pesuite::graph::pe
