// `pesuite graph ...`: graph frontend commands. `graph pe` precomputes positional encodings of a
// dataset into one safetensors file (through the on-disk cache of graph/pe_cache.h), or one share
// of it (--shard i/n, for many machines) and joins the shares (--merge, graph/pe_shards.h); `graph train`
// and `graph eval` drive the graph training pipeline (graph/training.h).
#include <filesystem>
#include <iomanip>
#include <memory>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli.h"
#include "pesuite/core/build_info.h"
#include "pesuite/core/error.h"
#include "pesuite/datasets/formats.h"
#include "pesuite/core/table_units.h"
#include "pesuite/graph/pe_cache.h"
#include "pesuite/graph/pe_shards.h"
#include "pesuite/graph/training.h"

namespace pesuite::cli {

namespace {
struct PeArgs {
  std::string data, out, cache_dir, shard;
  std::vector<std::string> pes, merge;
  int threads = 0;
  bool no_cache = false;
};

void print_written(const std::string& out, const core::TensorFile& f, std::size_t graphs) {
  std::cout << "wrote " << out << ": " << graphs << " graphs, " << f.tensors.at("node_ptr")[-1].item<std::int64_t>() << " nodes, tensors:";
  for (const auto& [name, t] : f.tensors) std::cout << " " << name << t.sizes();
  std::cout << "\n";
}

void merge_graph_pe(const PeArgs& a) {
  if (!a.data.empty() || !a.pes.empty() || !a.shard.empty())
    throw core::InputError("--merge joins the files of `graph pe --shard i/n`: drop --data, --pe and --shard");
  const auto joined = graph::merge_pe_shards(a.merge);
  core::save_safetensors(a.out, joined.tensors, joined.metadata);
  print_written(a.out, joined, static_cast<std::size_t>(joined.tensors.at("node_ptr").size(0) - 1));
  const auto dataset = joined.metadata.find("dataset");
  std::cout << "joined the shards of " << (dataset == joined.metadata.end() ? std::string("(no 'dataset' key)") : dataset->second) << "\n";
}

void run_graph_pe(const PeArgs& a) {
  if (!a.merge.empty()) return merge_graph_pe(a);
  if (a.data.empty() || a.pes.empty()) throw core::InputError("graph pe needs --data and --pe (or --merge SHARD_FILES...)");
  if (a.threads < 0) throw core::InputError("--threads must be >= 0");
  const auto ds = datasets::load_graph_dataset(datasets::parse_spec(a.data));
  graph::PeCacheOptions o;
  o.cache_dir = a.cache_dir;
  o.use_cache = !a.no_cache;
  o.threads = a.threads;
  o.progress = true;
  if (!a.shard.empty()) std::tie(o.shard, o.shards) = core::parse_shard(a.shard);
  auto r = graph::graph_encodings(ds, a.pes, o);
  auto meta = r.file.metadata;
  meta["dataset"] = a.data;
  meta["pesuite_version"] = core::pesuite_version();
  core::save_safetensors(a.out, r.file.tensors, meta);
  if (o.shards > 1)
    std::cout << "shard " << a.shard << ": graphs " << meta["shard.first_graph"] << " .. " << meta["shard.end_graph"] << " of "
              << ds.graphs.size() << " (join the shards with `pesuite graph pe --merge FILES... --out FILE`)\n";
  print_written(a.out, r.file, static_cast<std::size_t>(r.file.tensors.at("node_ptr").size(0) - 1));
  std::cout << (r.from_cache ? "from cache " : "computed in ") << r.seconds << " s";
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
  pe->add_option("--data", args.data, "Dataset spec, e.g. tu:/data/MUTAG.zip or csl:?seed=0 (required unless --merge)");
  pe->add_option("--pe", args.pes, "Encoding: lap|eig|rwse|rfp|spe|signnet[:key=value,...] (repeatable; `pesuite list pes`)");
  pe->add_option("--out", args.out, "Output .safetensors file (node_ptr + one tensor per encoding output)")->required();
  pe->add_option("--shard", args.shard, "Compute share i of n of the graphs (e.g. 0/4; no cache), for separate machines");
  pe->add_option("--merge", args.merge, "Join shard files (or folders of them) into --out, byte-identical to one process's file");
  pe->add_option("--threads", args.threads, "Worker threads (0 = all cores)");
  pe->add_option("--cache-dir", args.cache_dir, "Cache folder (default $PESUITE_CACHE or ~/.cache/pesuite)");
  pe->add_flag("--no-cache", args.no_cache, "Neither read nor write the cache");
  pe->callback([]() { run_graph_pe(args); });

  // ---- train / eval ----
  auto* train = cmd->add_subcommand("train", "Train a GNN / graph transformer from a config (experiments/configs/graph/*.toml)");
  static ConfigOptions config;
  static std::string runs = "runs", resume, device;
  static bool json = false;
  add_config_options(*train, config);
  train->add_option("--resume", resume, "Continue this run folder (its config.toml; --set still applies)");
  train->add_option("--device", device, "auto | cpu | cuda | cuda:N (overrides the config's device)");
  train->add_option("--runs", runs, "Folder of run folders")->capture_default_str();
  train->add_flag("--json", json, "Print the result as JSON");
  train->callback([]() {
    std::vector<std::string> sets = config.sets;
    if (!device.empty()) sets.push_back("device=" + device);
    graph::GraphTrainResult r;
    if (!resume.empty()) {
      if (!config.config_file.empty()) throw core::InputError("--resume takes the run folder's config.toml; drop --config");
      r = graph::resume_graph_training(resume, sets);
    } else {
      auto cfg = graph::graph_training_defaults();
      if (!config.config_file.empty()) cfg.merge_file(config.config_file);
      for (const auto& s : sets) cfg.apply_set(s);
      r = graph::run_graph_training(cfg, runs);
    }
    nlohmann::ordered_json out{{"run", r.run_path}, {"task", r.task}, {"metric", r.metric}, {"folds", r.folds.size()},
                               {"seconds", r.seconds}, {"interrupted", r.interrupted}};
    for (const auto& [k, s] : r.summary) out["test_" + k] = {{"mean", s.mean}, {"std", s.std}, {"n", s.n}};
    if (json) {
      std::cout << out.dump(2) << "\n";
      return;
    }
    std::cout << "run " << r.run_path << "\n";
    if (r.interrupted) {
      std::cout << "stopped before the end (train.stop_at_step); continue with: pesuite graph train --resume " << r.run_path << "\n";
      return;
    }
    for (const auto& f : r.folds)
      if (r.folds.size() > 1)
        std::cout << "fold " << f.fold << ": test " << r.metric << " " << f.test.at(r.metric) << " (best epoch " << f.best_epoch
                  << ", " << std::fixed << std::setprecision(1) << f.seconds << std::defaultfloat << " s)\n";
    for (const auto& [k, s] : r.summary)
      std::cout << "test " << k << ": " << s.mean << " ± " << s.std << " (n=" << s.n << ")\n";
  });

  auto* eval = cmd->add_subcommand("eval", "Evaluate a graph checkpoint on its fold's train / val / test splits");
  static std::string ckpt, eval_config;
  static std::vector<std::string> eval_sets;
  eval->add_option("--ckpt", ckpt, "Checkpoint: <run>/ckpt/[foldK/]best.safetensors or last.safetensors")->required();
  eval->add_option("--config", eval_config, "Config (default: the run folder's config.toml)")->check(CLI::ExistingFile);
  eval->add_option("--set", eval_sets, "Override a config key (repeatable)");
  eval->add_flag("--json", json, "Print the result as JSON");
  eval->callback([]() {
    std::unique_ptr<core::Config> cfg;
    if (!eval_config.empty() || !eval_sets.empty()) {
      cfg = std::make_unique<core::Config>(graph::graph_training_defaults());
      if (!eval_config.empty()) cfg->merge_file(eval_config);
      else if (std::filesystem::exists(std::filesystem::path(ckpt).parent_path() / ".." / "config.toml"))
        cfg->merge_file((std::filesystem::path(ckpt).parent_path() / ".." / "config.toml").string());
      else if (std::filesystem::exists(std::filesystem::path(ckpt).parent_path() / ".." / ".." / "config.toml"))
        cfg->merge_file((std::filesystem::path(ckpt).parent_path() / ".." / ".." / "config.toml").string());
      for (const auto& s : eval_sets) cfg->apply_set(s);
    }
    const auto r = graph::evaluate_graph_checkpoint(ckpt, cfg.get());
    if (json) {
      std::cout << nlohmann::json(r).dump(2) << "\n";
      return;
    }
    for (const auto& [split, m] : r) {
      std::cout << split << ":";
      for (const auto& [k, v] : m) std::cout << " " << k << "=" << v;
      std::cout << "\n";
    }
  });
}

}  // namespace pesuite::cli
