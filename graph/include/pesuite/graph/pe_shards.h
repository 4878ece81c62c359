#pragma once
// Encodings of a dataset computed in shares on several machines (`pesuite graph pe --shard i/n`, see
// pe_cache.h) and joined into the file one process would have written: tensors concatenated in
// graph order, node_ptr re-based, each encoding's solver counts summed and residuals maximised.
// Saved with save_safetensors, the result is byte-identical to the single-process file.
//
//   auto joined = pesuite::graph::merge_pe_shards({"pe-0.safetensors", "pe-1.safetensors"});
//   pesuite::core::save_safetensors("pe.safetensors", joined.tensors, joined.metadata);
//
// InputError, naming the file and the metadata key, when the files are not one complete set of
// shards of one computation: another dataset, spec, code version or shard count, a shard missing
// or given twice, graph ranges that do not tile the dataset, tensors that do not line up.
#include <string>
#include <vector>

#include "pesuite/core/safetensors.h"

namespace pesuite::graph {

// A folder in `paths` stands for the *.safetensors files in it.
core::TensorFile merge_pe_shards(const std::vector<std::string>& paths);

}  // namespace pesuite::graph
