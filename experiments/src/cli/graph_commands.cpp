// `pesuite graph ...`: graph frontend commands. `graph pe` precomputes positional encodings of a
// dataset into one safetensors file (through the on-disk cache of graph_pe_cache.h).
#include <iostream>

#include "cli.h"
#include "pesuite/datasets/graph_pe_cache.h"
#include "pesuite/experiments/build_info.h"
#include "pesuite/heads/error.h"

namespace pesuite::cli {

namespace {
struct PeArgs {
  std::string data, out, cache_dir;
  std::vector<std::string> pes;
  int threads = 0;
  bool no_cache = false;
};

void run_graph_pe(const PeArgs& a) {
  const auto spec = datasets::parse_spec(a.data);
  if (spec.info().kind != datasets::DatasetKind::Graph)
    throw InputError("dataset spec '" + a.data + "': '" + spec.format + "' is not a graph format");
  if (a.threads < 0) throw InputError("--threads must be >= 0");
  const auto ds = datasets::load_graph_dataset(spec);
  datasets::PeCacheOptions o;
  o.cache_dir = a.cache_dir;
  o.use_cache = !a.no_cache;
  o.threads = a.threads;
  o.progress = true;
  auto r = datasets::graph_encodings(ds, a.pes, o);
  auto meta = r.file.metadata;
  meta["dataset"] = a.data;
  meta["pesuite_version"] = experiments::pesuite_version();
  io::save_safetensors(a.out, r.file.tensors, meta);
  std::cout << "wrote " << a.out << ": " << ds.graphs.size() << " graphs, " << r.file.tensors.at("node_ptr")[-1].item<std::int64_t>()
            << " nodes, tensors:";
  for (const auto& [name, t] : r.file.tensors) std::cout << " " << name << t.sizes();
  std::cout << "\n" << (r.from_cache ? "from cache " : "computed in ") << r.seconds << " s";
  for (const auto& [k, v] : meta)
    if (k.find(".solver") != std::string::npos || k.find("residual") != std::string::npos) std::cout << "; " << k << "=" << v;
  std::cout << "\n";
}
}  // namespace

void add_graph_commands(CLI::App& app) {
  auto* cmd = app.add_subcommand("graph", "graph frontend commands");
  cmd->require_subcommand(1);
  static PeArgs args;
  auto* pe = cmd->add_subcommand("pe", "Precompute positional encodings of a graph dataset into a safetensors file");
  pe->add_option("--data", args.data, "Dataset spec, e.g. tu:/data/MUTAG.zip or csl:?seed=0")->required();
  pe->add_option("--pe", args.pes, "Encoding: lap|eig|rwse|rfp[:key=value,...] (repeatable; `pesuite list pes`)")->required();
  pe->add_option("--out", args.out, "Output .safetensors file (node_ptr + one tensor per encoding output)")->required();
  pe->add_option("--threads", args.threads, "Worker threads (0 = all cores)");
  pe->add_option("--cache-dir", args.cache_dir, "Cache folder (default $PESUITE_CACHE or ~/.cache/pesuite)");
  pe->add_flag("--no-cache", args.no_cache, "Neither read nor write the cache");
  pe->callback([]() { run_graph_pe(args); });
}

}  // namespace pesuite::cli
