#include "pesuite/graph/pe_shards.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>

#include "pesuite/core/error.h"
#include "pesuite/core/parse.h"
#include "pesuite/core/table_units.h"
#include "pesuite/graph/pe_dataset.h"

namespace pesuite::graph {

namespace {
namespace fs = std::filesystem;

struct Shard {
  std::string path;
  core::TensorFile file;
  int index = 0, count = 1;
  std::int64_t first = 0, end = 0;
};

using core::ends_with;

// Keys that differ between shards by nature; everything else must agree.
bool per_shard_key(const std::string& key) {
  return key == "shard" || key == "shard.first_graph" || key == "shard.end_graph" || ends_with(key, ".solver") ||
         ends_with(key, ".max_residual") || ends_with(key, ".max_rel_residual") || ends_with(key, ".rel_residuals");
}

const std::string& meta(const Shard& s, const std::string& key) {
  const auto it = s.file.metadata.find(key);
  if (it == s.file.metadata.end())
    throw core::InputError(core::where(s.path) + ": metadata key '" + key + "' is missing (not a file of `graph pe --shard i/n`)");
  return it->second;
}

std::int64_t meta_int(const Shard& s, const std::string& key) {
  const std::string& text = meta(s, key);
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || v < 0) throw core::InputError(core::where(s.path) + ": metadata '" + key + "' = '" + text + "' is not a count");
  return v;
}

Shard load_shard(const std::string& path) {
  Shard s{path, core::load_safetensors(path)};
  try {
    std::tie(s.index, s.count) = core::parse_shard(meta(s, "shard"));
  } catch (const core::InputError& e) {
    if (s.file.metadata.count("shard") == 0) throw;
    throw core::InputError(core::where(path) + ": metadata 'shard' = '" + s.file.metadata["shard"] + "': expected i/n");
  }
  s.first = meta_int(s, "shard.first_graph");
  s.end = meta_int(s, "shard.end_graph");
  const auto ptr = s.file.tensors.find("node_ptr");
  if (ptr == s.file.tensors.end() || ptr->second.dim() != 1 || ptr->second.scalar_type() != torch::kInt64 ||
      ptr->second.size(0) != s.end - s.first + 1)
    throw core::InputError(core::where(path) + ": tensor 'node_ptr' must be int64 of " + std::to_string(s.end - s.first + 1) +
                           " entries (graphs " + std::to_string(s.first) + ".." + std::to_string(s.end) + " plus one)");
  return s;
}

std::vector<std::string> expand(const std::vector<std::string>& paths) {
  std::vector<std::string> files;
  for (const auto& p : paths) {
    if (!fs::is_directory(p)) {
      files.push_back(p);
      continue;
    }
    std::vector<std::string> in;
    for (const auto& e : fs::directory_iterator(p))
      if (e.is_regular_file() && e.path().extension() == ".safetensors") in.push_back(e.path().string());
    if (in.empty()) throw core::InputError(core::where(p) + ": folder holds no .safetensors shard");
    std::sort(in.begin(), in.end());
    files.insert(files.end(), in.begin(), in.end());
  }
  if (files.empty()) throw core::InputError("no shard files to merge");
  return files;
}

// Per-encoding metadata of the whole: solver counts summed, residuals maximised (written by
// pe_dataset.h's functions, as compute_dataset writes them); rel_residuals exist only for
// one-graph datasets, so one shard holds them.
void merge_per_shard_keys(const std::vector<Shard>& shards, core::Metadata& out) {
  std::map<std::string, pe::SolverCounts> solvers;
  std::map<std::string, double> maxima;
  for (const auto& s : shards)
    for (const auto& [key, value] : s.file.metadata) {
      if (ends_with(key, ".solver")) {
        const auto counts = pe::parse_solver_counts(value);
        if (!counts) throw core::InputError(core::where(s.path) + ": metadata '" + key + "' = '" + value + "': expected solver=count,...");
        for (const auto& [solver, c] : *counts) solvers[key][solver] += c;
      } else if (ends_with(key, ".max_residual") || ends_with(key, ".max_rel_residual")) {
        const auto v = core::parse_double(value);
        if (!v) throw core::InputError(core::where(s.path) + ": metadata '" + key + "' = '" + value + "' is not a number");
        auto [it, fresh] = maxima.emplace(key, *v);
        if (!fresh) it->second = std::max(it->second, *v);
      } else if (ends_with(key, ".rel_residuals")) {
        out[key] = value;
      }
    }
  for (const auto& [key, counts] : solvers) out[key] = pe::format_solver_counts(counts);
  for (const auto& [key, v] : maxima) out[key] = pe::format_residual(v);
}

}  // namespace

core::TensorFile merge_pe_shards(const std::vector<std::string>& paths) {
  std::vector<Shard> shards;
  for (const auto& p : expand(paths)) shards.push_back(load_shard(p));
  const Shard& ref = shards.front();  // after the sort below: shard 0 (the checks make every shard agree)

  // One computation: every key that is not per shard agrees, in both directions.
  core::Metadata common;
  for (const auto& [k, v] : ref.file.metadata)
    if (!per_shard_key(k)) common[k] = v;
  for (const auto& s : shards) {
    core::Metadata mine;
    for (const auto& [k, v] : s.file.metadata)
      if (!per_shard_key(k)) mine[k] = v;
    if (mine != common) {  // name the first key that differs, from either side
      for (const auto& [k, v] : mine) {
        const auto it = common.find(k);
        if (it == common.end())
          throw core::InputError(core::where(s.path) + ": metadata '" + k + "' is not in " + ref.path + " (shards of different runs?)");
        if (it->second != v)
          throw core::InputError(core::where(s.path) + ": metadata '" + k + "' = '" + v + "', but " + ref.path + " has '" + it->second +
                                 "' (shards of different runs?)");
      }
      for (const auto& [k, v] : common)
        if (!mine.count(k)) throw core::InputError(core::where(s.path) + ": metadata '" + k + "' is missing (" + ref.path + " has it)");
    }
    if (s.count != ref.count)
      throw core::InputError(core::where(s.path) + ": shard " + meta(s, "shard") + ", but " + ref.path + " is shard " + meta(ref, "shard"));
  }

  // Every shard once, and their graph ranges tile 0 .. graphs.
  std::sort(shards.begin(), shards.end(), [](const Shard& a, const Shard& b) { return a.index < b.index; });
  for (std::size_t i = 1; i < shards.size(); ++i)
    if (shards[i].index == shards[i - 1].index)
      throw core::InputError(core::where(shards[i].path) + ": shard " + meta(shards[i], "shard") + " is given twice (also " + shards[i - 1].path + ")");
  for (int i = 0; i < ref.count; ++i)
    if (static_cast<std::size_t>(i) >= shards.size() || shards[static_cast<std::size_t>(i)].index != i)
      throw core::InputError("shard " + std::to_string(i) + "/" + std::to_string(ref.count) + " of " + ref.path + "'s set is missing");
  const std::int64_t graphs = meta_int(ref, "graphs");
  std::int64_t next = 0;
  for (const auto& s : shards) {
    if (s.first != next)
      throw core::InputError(core::where(s.path) + ": shard " + meta(s, "shard") + " starts at graph " + std::to_string(s.first) + ", expected " +
                             std::to_string(next));
    next = s.end;
  }
  if (next != graphs)
    throw core::InputError(core::where(shards.back().path) + ": the shards end at graph " + std::to_string(next) + " of " + std::to_string(graphs));

  core::TensorFile out;
  out.metadata = common;
  merge_per_shard_keys(shards, out.metadata);

  // node_ptr re-based; every other tensor concatenated row-wise in shard order.
  std::vector<torch::Tensor> ptrs{torch::zeros({1}, torch::kInt64)};
  std::int64_t nodes = 0;
  for (const auto& s : shards) {
    const auto& p = s.file.tensors.at("node_ptr");
    if (p[0].item<std::int64_t>() != 0) throw core::InputError(core::where(s.path) + ": tensor 'node_ptr' does not start at 0");
    ptrs.push_back(p.slice(0, 1) + nodes);
    nodes += p[-1].item<std::int64_t>();
  }
  out.tensors["node_ptr"] = torch::cat(ptrs);
  for (const auto& [name, t] : ref.file.tensors) {
    if (name == "node_ptr") continue;
    std::vector<torch::Tensor> parts;
    for (const auto& s : shards) {
      const auto it = s.file.tensors.find(name);
      if (it == s.file.tensors.end()) throw core::InputError(core::where(s.path) + ": tensor '" + name + "' is missing (" + ref.path + " has it)");
      if (it->second.dim() != t.dim() || it->second.scalar_type() != t.scalar_type() || (t.dim() > 1 && it->second.size(1) != t.size(1)))
        throw core::InputError(core::where(s.path) + ": tensor '" + name + "' does not line up with " + ref.path + "'s (dtype or columns)");
      parts.push_back(it->second);
    }
    out.tensors[name] = torch::cat(parts);
  }
  for (const auto& s : shards)
    if (s.file.tensors.size() != ref.file.tensors.size())
      throw core::InputError(core::where(s.path) + ": holds " + std::to_string(s.file.tensors.size()) + " tensors, " + ref.path + " " +
                             std::to_string(ref.file.tensors.size()));
  return out;
}

}  // namespace pesuite::graph
