#pragma once
// Positional encodings of a whole graph dataset, through an on-disk cache: the key hashes the
// graphs' structure (what encodings depend on), the canonical PE specs and the encoding code
// version, so a second run, or a training job asking for the same encodings, reads one
// safetensors file instead of recomputing. Cache folder: $PESUITE_CACHE, else
// $XDG_CACHE_HOME/pesuite, else ~/.cache/pesuite; files graph-pe/<key>.safetensors.
//
//   auto ds = pesuite::datasets::load_graph_dataset(spec);
//   auto pe = pesuite::graph::graph_encodings(ds, {"lap:k=8", "rwse:steps=20"}, {});
//   pe.file.tensors["lap"];  pe.file.tensors["node_ptr"];  pe.from_cache;
#include <string>
#include <vector>

#include "pesuite/core/safetensors.h"
#include "pesuite/datasets/graph_dataset.h"

namespace pesuite::graph {

struct PeCacheOptions {
  std::string cache_dir;  // "" = default folder above
  bool use_cache = true;  // false: compute, and do not read or write the cache
  int threads = 0;        // 0 = all cores
  bool progress = false;  // one-line progress on stderr when it is a terminal
  // Shard `shard` of `shards` (pe_dataset.h shard_range): only those graphs are computed, and the
  // cache is neither read nor written (a shard is a step towards one file: pe_shards.h merges them).
  int shard = 0, shards = 1;
};

struct PeCacheResult {
  core::TensorFile file;  // node_ptr (int64) + one float32 tensor per encoding output, metadata
  std::string cache_path;  // "" when the cache is not used (use_cache false, or a shard)
  bool from_cache = false;
  double seconds = 0;
};

// pe_specs are graph encoding specs (pe.h; InputError when malformed); what is computed is each
// spec's computation() (spe:k=37 computes and caches eig:k=37).
PeCacheResult graph_encodings(const datasets::GraphDataset& ds, const std::vector<std::string>& pe_specs, const PeCacheOptions& options);

// The cache key: hex of a hash of every graph's structure + canonical specs + code version.
std::string pe_cache_key(const datasets::GraphDataset& ds, const std::vector<std::string>& canonical_specs);

}  // namespace pesuite::graph
