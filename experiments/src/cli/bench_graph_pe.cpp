// `pesuite bench graph-pe`: graphs per second of LapPE (k=8) and RWSE (T=20) on TU-sized data, the
// time of LapPE on a 300 x 300 grid, optionally 1M-node graphs (--large), and with --reference the
// committed numpy/scipy reference (scripts/reference/graph_pe_reference.py, GraphGPS/PyG style) run
// on the same graphs in the same call: values compared and the speed ratio printed.
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "pesuite/heads/atomic_file.h"
#include "pesuite/datasets/graph_dataset.h"
#include "pesuite/graph/pe_dataset.h"
#include "pesuite/heads/error.h"
#include "pesuite/heads/safetensors.h"

namespace pesuite::cli {

namespace {

struct BenchArgs {
  std::string data_dir, python = "/usr/bin/python3", script = "scripts/reference/graph_pe_reference.py";
  int threads = 0;
  bool large = false, reference = false, regular = false;
};

double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void write_graphs(const std::string& path, const std::vector<graph::Graph>& gs) {
  std::vector<std::int64_t> nptr{0}, eptr{0}, src, dst;
  for (const auto& g : gs) {
    for (graph::Index u = 0; u < g.num_nodes; ++u)
      for (graph::Index e = g.row_begin(u); e < g.row_end(u); ++e) {
        src.push_back(nptr.back() + u);
        dst.push_back(nptr.back() + g.col[static_cast<std::size_t>(e)]);
      }
    nptr.push_back(nptr.back() + g.num_nodes);
    eptr.push_back(static_cast<std::int64_t>(src.size()));
  }
  const auto E = static_cast<std::int64_t>(src.size());
  auto ei = torch::empty({2, E}, torch::kInt64);
  std::copy(src.begin(), src.end(), ei.data_ptr<std::int64_t>());
  std::copy(dst.begin(), dst.end(), ei.data_ptr<std::int64_t>() + E);
  auto t = [](std::vector<std::int64_t>& v) { return torch::from_blob(v.data(), {static_cast<std::int64_t>(v.size())}, torch::kInt64).clone(); };
  io::save_safetensors(path, {{"edge_index", ei}, {"node_ptr", t(nptr)}, {"edge_ptr", t(eptr)}});
}

void write_ours(const std::string& path, const graph::pe::DatasetPe& lap, const graph::pe::DatasetPe* rw) {
  io::TensorMap m;
  auto ptr = lap.node_ptr;
  m["node_ptr"] = torch::from_blob(ptr.data(), {static_cast<std::int64_t>(ptr.size())}, torch::kInt64).clone();
  auto add = [&](const graph::pe::DatasetPe& d) {
    for (const auto& [name, e] : d.tensors) {
      auto v = e.values;
      m[name] = torch::from_blob(v.data(), {static_cast<std::int64_t>(v.size()) / e.dim, e.dim}, torch::kFloat32).clone();
    }
  };
  add(lap);
  if (rw) add(*rw);
  io::save_safetensors(path, m);
}

nlohmann::json run_reference(const BenchArgs& a, const std::vector<graph::Graph>& gs, const graph::pe::DatasetPe& lap,
                             const graph::pe::DatasetPe* rw) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("pesuite-bench-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  write_graphs((dir / "graphs.safetensors").string(), gs);
  write_ours((dir / "ours.safetensors").string(), lap, rw);
  const std::string cmd = a.python + " " + a.script + " --graphs " + (dir / "graphs.safetensors").string() + " --k 8 --steps 20 --compare " +
                          (dir / "ours.safetensors").string() + (rw ? "" : " --skip-rwse");
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[4096];
    while (fgets(buf, sizeof buf, p)) out += buf;
    if (pclose(p) != 0) out.clear();
  }
  remove_tree(dir.string());
  if (out.empty()) throw InputError("reference script failed: " + cmd);
  return nlohmann::json::parse(out.substr(out.rfind('{')));
}

void print_case(const std::string& name, std::size_t graphs, double lap_s, const graph::pe::DatasetPe& lap, double rw_s,
                const nlohmann::json& ref) {
  std::printf("%-14s %6zu graphs  lap k=8: %8.3f s %10.0f graphs/s  [solver %s, max rel residual %s]", name.c_str(), graphs, lap_s,
              static_cast<double>(graphs) / lap_s, lap.metadata.at("lap.solver").c_str(),
              lap.metadata.at("lap.max_rel_residual").c_str());
  if (rw_s > 0) std::printf("  rwse T=20: %8.3f s %10.0f graphs/s", rw_s, static_cast<double>(graphs) / rw_s);
  std::printf("  peak RSS %.0f MiB\n", peak_rss_mib());
  if (!ref.is_null()) {
    const double rl = ref["lap_seconds"].get<double>();
    std::printf("%-14s reference (numpy/scipy, GraphGPS/PyG way): lap %.3f s (ours %.1fx faster)", "", rl, rl / lap_s);
    if (ref.contains("rwse_seconds"))
      std::printf(", rwse %.3f s (ours %.1fx faster)", ref["rwse_seconds"].get<double>(), ref["rwse_seconds"].get<double>() / rw_s);
    const double ev = ref["max_eigval_err"], vec = ref["max_eigvec_err"], rwe = ref["max_rwse_err"];
    std::printf("\n%-14s agreement: eigenvalues %.1e, eigenvectors (subspace) %.1e, rwse %.1e -> %s\n", "", ev, vec, rwe,
                ev <= 1e-6 && vec <= 1e-4 && rwe <= 1e-6 ? "OK" : "MISMATCH");
  }
  std::fflush(stdout);
}

void bench_case(const BenchArgs& a, const std::string& name, const std::vector<graph::Graph>& gs, bool with_rwse, bool with_ref) {
  const auto lap_spec = graph::pe::parse_pe_spec("lap:k=8");
  auto t0 = std::chrono::steady_clock::now();
  const auto lap = graph::pe::compute_dataset(gs, {lap_spec}, a.threads);
  const double lap_s = seconds_since(t0);
  graph::pe::DatasetPe rw;
  double rw_s = 0;
  if (with_rwse) {
    t0 = std::chrono::steady_clock::now();
    rw = graph::pe::compute_dataset(gs, {graph::pe::parse_pe_spec("rwse:steps=20")}, a.threads);
    rw_s = seconds_since(t0);
  }
  nlohmann::json ref;
  if (with_ref) ref = run_reference(a, gs, lap, with_rwse ? &rw : nullptr);
  print_case(name, gs.size(), lap_s, lap, rw_s, ref);
}

void run_bench(const BenchArgs& a) {
  namespace fs = std::filesystem;
  std::string dir = a.data_dir;
  if (dir.empty()) {
    const char* env = std::getenv("PESUITE_TEST_DATA");
    dir = env ? env : "../shared/data";
  }
  std::printf("pesuite bench graph-pe (threads: %s)\n", a.threads > 0 ? std::to_string(a.threads).c_str() : "all");
  for (const char* tu : {"MUTAG", "ENZYMES"}) {
    const fs::path zip = fs::path(dir) / "tu" / (std::string(tu) + ".zip");
    std::string spec = "tu:" + zip.string(), name = tu;
    if (!fs::exists(zip)) {
      spec = std::string("count:?graphs=600&nodes=10-40&seed=") + (name == "MUTAG" ? "1" : "2");
      name += "-like(gen)";
    }
    const auto ds = datasets::load_graph_dataset(datasets::parse_spec(spec));
    bench_case(a, name, ds.graphs, true, a.reference);
  }
  {
    const auto ds = datasets::load_graph_dataset(datasets::parse_spec("grid:?rows=300&cols=300"));
    bench_case(a, "grid300x300", ds.graphs, false, a.reference);
  }
  if (a.large) {
    const auto ds = datasets::load_graph_dataset(datasets::parse_spec("grid:?rows=1000&cols=1000"));
    bench_case(a, "grid1000x1000", ds.graphs, false, false);
  }
  if (a.regular) {
    const auto ds = datasets::load_graph_dataset(datasets::parse_spec("regular:?nodes=1000000&degree=4&seed=0"));
    bench_case(a, "regular4_1M", ds.graphs, false, false);
  }
}

}  // namespace

void add_bench_graph_pe(CLI::App& bench) {
  static BenchArgs args;
  auto* cmd = bench.add_subcommand("graph-pe", "LapPE / RWSE speed: TU datasets, 300x300 grid, optional 1M-node graphs");
  cmd->add_option("--data-dir", args.data_dir, "Folder holding tu/MUTAG.zip, tu/ENZYMES.zip (default $PESUITE_TEST_DATA or ../shared/data)");
  cmd->add_option("--threads", args.threads, "Worker threads (0 = all cores)");
  cmd->add_flag("--large", args.large, "Also the 1000 x 1000 grid (1M nodes)");
  cmd->add_flag("--regular", args.regular, "Also the 1M-node random 4-regular graph (slow: clustered spectrum)");
  cmd->add_flag("--reference", args.reference, "Run scripts/reference/graph_pe_reference.py side by side and compare values");
  cmd->add_option("--python", args.python, "Python for --reference (Debian numpy/scipy)");
  cmd->add_option("--script", args.script, "Path of graph_pe_reference.py");
  cmd->callback([]() { run_bench(args); });
}

}  // namespace pesuite::cli
