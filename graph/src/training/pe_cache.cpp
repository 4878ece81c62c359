#include "pesuite/graph/pe_cache.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "pesuite/core/atomic_file.h"
#include "pesuite/core/error.h"
#include "pesuite/core/runtime.h"
#include "pesuite/graph/pe_dataset.h"

namespace pesuite::graph {

namespace {
// Bump when an encoding's numbers change, so stale cache entries are never read.
constexpr const char* kPeCodeVersion = "graph-pe-3";
}  // namespace

std::string pe_cache_key(const datasets::GraphDataset& ds, const std::vector<std::string>& specs) {
  std::uint64_t h = 1469598103934665603ull;
  auto mix_str = [&](const std::string& s) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
  };
  mix_str(kPeCodeVersion);
  for (const auto& s : specs) mix_str(s);
  for (const auto& g : ds.graphs) h = graph::content_hash(g, h);
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

PeCacheResult graph_encodings(const datasets::GraphDataset& ds, const std::vector<std::string>& pe_specs, const PeCacheOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<graph::pe::PeSpec> specs;
  std::vector<std::string> canonical;
  for (const auto& s : pe_specs) {
    // What is computed (and cached) is the spec's computation: spe and signnet specs read eig's.
    specs.push_back(pe::parse_pe_spec(s).computation());
    if (!pe::row(specs.back().name).compute)
      throw core::InputError("graph pe '" + s + "': computes nothing (it is the model's choice of no encoding)");
    canonical.push_back(specs.back().canonical());
  }
  if (specs.empty()) throw core::InputError("no encoding requested (give at least one --pe)");
  PeCacheResult r;
  const bool sharded = o.shards > 1;
  const pe::GraphRange range = pe::shard_range(ds.graphs.size(), o.shard, o.shards);
  const bool use_cache = o.use_cache && !sharded;
  const std::string dir = (o.cache_dir.empty() ? core::cache_dir() : o.cache_dir) + "/graph-pe";
  // Shards never read or write the cache: no pass over every graph for its key.
  if (use_cache) r.cache_path = dir + "/" + pe_cache_key(ds, canonical) + ".safetensors";
  if (use_cache && std::filesystem::exists(r.cache_path)) {
    try {
      r.file = core::load_safetensors(r.cache_path);
      r.from_cache = true;
    } catch (const core::InputError&) {
      // A damaged cache entry is recomputed and replaced, never an error.
    }
  }
  if (!r.from_cache) {
    const bool tty = o.progress && isatty(2);
    auto progress = [&](std::size_t done, std::size_t total) {
      if (!tty) return;
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::fprintf(stderr, "\r  encodings %zu/%zu graphs  %.0f graphs/s ", done, total, s > 0 ? static_cast<double>(done) / s : 0.0);
      if (done == total) std::fprintf(stderr, "\n");
    };
    graph::pe::DatasetPe pe;
    pe = pe::compute_dataset(ds.graphs, specs, o.threads, progress, range);
    const auto G = static_cast<std::int64_t>(ds.graphs.size());
    const auto computed = static_cast<std::int64_t>(range.end - range.begin);
    r.file.tensors["node_ptr"] = torch::from_blob(pe.node_ptr.data(), {computed + 1}, torch::kInt64).clone();
    for (auto& [name, enc] : pe.tensors) {
      const auto rows = enc.dim > 0 ? static_cast<std::int64_t>(enc.values.size()) / enc.dim : pe.node_ptr.back();
      r.file.tensors[name] = torch::from_blob(enc.values.data(), {rows, enc.dim}, torch::kFloat32).clone();
    }
    r.file.metadata = pe.metadata;
    std::string all;
    for (const auto& s : canonical) all += (all.empty() ? "" : ";") + s;
    r.file.metadata["pe_specs"] = all;
    r.file.metadata["pe_code_version"] = kPeCodeVersion;
    r.file.metadata["graphs"] = std::to_string(G);
    r.file.metadata["dataset_name"] = ds.name;
    if (sharded) {
      r.file.metadata["shard"] = std::to_string(o.shard) + "/" + std::to_string(o.shards);
      r.file.metadata["shard.first_graph"] = std::to_string(range.begin);
      r.file.metadata["shard.end_graph"] = std::to_string(range.end);
    }
    if (use_cache) {
      try {
        core::make_dirs(dir);
        core::save_safetensors(r.cache_path, r.file.tensors, r.file.metadata);
      } catch (const std::exception&) {
        // An unwritable cache folder slows the next run down; it is not a reason to fail this one.
      }
    }
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace pesuite::graph
