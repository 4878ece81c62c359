#include "pesuite/graph/pe_dataset.h"

#include "pesuite/core/parse.h"

#include "pesuite/core/error.h"
#include "pesuite/core/tbb_arena.h"

#include <tbb/global_control.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <stdexcept>

namespace pesuite::graph::pe {

GraphRange shard_range(std::size_t graphs, int shard, int shards) {
  if (shards < 1 || shard < 0 || shard >= shards) throw core::InputError("shard " + std::to_string(shard) + "/" + std::to_string(shards) + ": expected 0 <= i < n");
  const auto n = static_cast<std::size_t>(shards), i = static_cast<std::size_t>(shard);
  const std::size_t base = graphs / n, extra = graphs % n;
  const std::size_t begin = i * base + std::min(i, extra);
  return {begin, begin + base + (i < extra ? 1 : 0)};
}

std::string format_solver_counts(const SolverCounts& counts) {
  std::string text;
  for (const auto& [solver, c] : counts) text += (text.empty() ? "" : ",") + solver + "=" + std::to_string(c);
  return text;
}

std::optional<SolverCounts> parse_solver_counts(const std::string& text) {
  SolverCounts counts;
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t comma = std::min(text.find(',', at), text.size());
    const std::string item = text.substr(at, comma - at);
    const std::size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) return std::nullopt;
    const auto c = core::parse_int(item.substr(eq + 1));
    if (!c || *c < 0) return std::nullopt;
    counts[item.substr(0, eq)] += *c;
    at = comma + 1;
  }
  return counts;
}

std::string format_residual(double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3e", value);
  return buf;
}

DatasetPe compute_dataset(const std::vector<Graph>& all_graphs, const std::vector<PeSpec>& asked, int threads,
                          const std::function<void(std::size_t, std::size_t)>& progress, GraphRange range) {
  // What is computed: each spec's computation (encoder keys dropped, spe / signnet -> eig).
  std::vector<PeSpec> specs;
  for (const auto& s : asked) {
    specs.push_back(s.computation());
    if (!row(specs.back().name).compute)
      throw core::InputError("graph encoding '" + s.name + "' computes nothing (it is the model's choice of no encoding)");
  }
  range.end = std::min(range.end, all_graphs.size());
  range.begin = std::min(range.begin, range.end);
  const Graph* graphs = all_graphs.data() + range.begin;  // graphs[i] is dataset graph range.begin + i
  const std::size_t G = range.end - range.begin, S = specs.size();
  DatasetPe out;
  out.node_ptr.assign(G + 1, 0);
  for (std::size_t i = 0; i < G; ++i) out.node_ptr[i + 1] = out.node_ptr[i] + graphs[i].num_nodes;
  std::vector<GraphPe> results(G * S);
  std::vector<std::string> errors(G);
  std::atomic<std::size_t> done{0};
  tbb::task_arena& arena = core::tbb_arena(threads);
  arena.execute([&] {
    tbb::parallel_for(std::size_t{0}, G, [&](std::size_t i) {
      try {
        for (std::size_t s = 0; s < S; ++s) results[i * S + s] = compute(graphs[i], specs[s], static_cast<Index>(range.begin + i));
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
      const std::size_t d = ++done;
      if (progress && (d % 64 == 0 || d == G)) progress(d, G);
    });
  });
  for (std::size_t i = 0; i < G; ++i)
    if (!errors[i].empty()) throw std::runtime_error("graph " + std::to_string(range.begin + i) + ": " + errors[i]);
  // Concatenation, in parallel: offsets are prefix sums of each graph's tensor sizes (serial, G
  // additions), then every graph copies its rows into place and frees its own buffers there, so
  // neither the copy nor thousands of small frees run on one thread.
  for (std::size_t s = 0; s < S; ++s) {
    SolverCounts solvers;
    double max_res = 0, max_rel = 0;
    std::vector<std::string> names;
    for (std::size_t i = 0; i < G; ++i) {
      const GraphPe& r = results[i * S + s];
      if (!r.solver.empty()) ++solvers[r.solver];
      max_res = std::max(max_res, r.max_residual);
      max_rel = std::max(max_rel, r.max_rel_residual);
      for (const Encoding& e : r.tensors) {
        auto [it, fresh] = out.tensors.try_emplace(e.name);
        if (fresh) {
          it->second.name = e.name;
          it->second.dim = e.dim;
          names.push_back(e.name);
        }
      }
    }
    std::vector<std::vector<std::size_t>> offset(names.size(), std::vector<std::size_t>(G + 1, 0));
    for (std::size_t t = 0; t < names.size(); ++t) {
      for (std::size_t i = 0; i < G; ++i) {
        std::size_t len = 0;
        for (const Encoding& e : results[i * S + s].tensors)
          if (e.name == names[t]) len += e.values.size();
        offset[t][i + 1] = offset[t][i] + len;
      }
      out.tensors[names[t]].values.resize(offset[t][G]);
    }
    std::vector<float*> dst(names.size());
    for (std::size_t t = 0; t < names.size(); ++t) dst[t] = out.tensors[names[t]].values.data();
    arena.execute([&] {
      tbb::parallel_for(tbb::blocked_range<std::size_t>(0, G, 16), [&](const tbb::blocked_range<std::size_t>& range) {
        for (std::size_t i = range.begin(); i < range.end(); ++i) {
          GraphPe& r = results[i * S + s];
          for (std::size_t t = 0; t < names.size(); ++t) {
            std::size_t at = offset[t][i];
            for (const Encoding& e : r.tensors)
              if (e.name == names[t]) {
                std::copy(e.values.begin(), e.values.end(), dst[t] + at);
                at += e.values.size();
              }
          }
          std::vector<Encoding>().swap(r.tensors);
        }
      });
    });
    const std::string& name = specs[s].name;
    out.metadata[name + ".spec"] = specs[s].canonical();
    if (!solvers.empty()) {
      out.metadata[name + ".solver"] = format_solver_counts(solvers);
      out.metadata[name + ".max_residual"] = format_residual(max_res);
      out.metadata[name + ".max_rel_residual"] = format_residual(max_rel);
      char buf[64];
      // One graph (the large cases): every pair's relative residual ||L v - lambda v|| / ||L||.
      if (all_graphs.size() == 1 && G == 1 && !results[s].rel_residuals.empty()) {
        std::string list;
        for (double r : results[s].rel_residuals) {
          std::snprintf(buf, sizeof buf, "%.2e", r);
          list += (list.empty() ? "" : ",") + std::string(buf);
        }
        out.metadata[name + ".rel_residuals"] = list;
      }
    }
  }
  // Graphs with zero nodes contribute no rows; a spec that never produced a tensor still gets one.
  for (std::size_t s = 0; s < S && G == 0; ++s) {
    GraphPe empty = compute(Graph{}, specs[s], 0);
    for (auto& e : empty.tensors) out.tensors[e.name] = e;
  }
  return out;
}

}  // namespace pesuite::graph::pe
