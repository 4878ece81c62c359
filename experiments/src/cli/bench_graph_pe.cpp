// `pesuite bench graph-pe`: graphs per second of LapPE (k=8) and RWSE (T=20) on TU-sized data, the
// time of LapPE on a 300 x 300 grid, optionally 1M-node graphs (--case grid1000 / regular1m), and with
// --reference the committed reference (scripts/reference/graph_pe_reference.py: PyG's own transforms
// when torch_geometric is installed and asked for, else the same computation in numpy/scipy) run on
// the same graphs in the same call: values compared and the speed ratio printed.
//
// Timing is like for like: both sides start from graphs already in memory (ours: the loaded CSR;
// the reference: per-graph edge_index arrays / Data objects, as a PyG dataset holds them), neither
// counts process start, imports or file IO, and each side reports the best of --repeat runs. Ours
// runs once untimed first (TBB starts its worker threads; the reference's imports are likewise
// outside its clock). Peak memory per case is the process's VmHWM, reset before the case.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "pesuite/datasets/formats.h"
#include "pesuite/core/atomic_file.h"
#include "pesuite/datasets/graph_dataset.h"
#include "pesuite/graph/pe_dataset.h"
#include "pesuite/core/error.h"
#include "pesuite/core/safetensors.h"

namespace pesuite::cli {

namespace {

struct GraphPeBenchArgs {
  std::string data_dir, python = "/usr/bin/python3", script = "scripts/reference/graph_pe_reference.py", ref_impl = "numpy";
  std::vector<std::string> cases;
  int threads = 0, repeat = 3;
  bool large = false, reference = false, regular = false;
};

// Peak resident memory since the last reset_peak_rss() (VmHWM; getrusage's maximum when /proc is
// not writable, which then covers the whole process).
void reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  if (f) f << "5";
}
double peak_rss_mib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
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
  core::save_safetensors(path, {{"edge_index", ei}, {"node_ptr", t(nptr)}, {"edge_ptr", t(eptr)}});
}

void write_ours(const std::string& path, const graph::pe::DatasetPe& lap, const graph::pe::DatasetPe* rw) {
  core::TensorMap m;
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
  core::save_safetensors(path, m);
}

nlohmann::json run_reference(const GraphPeBenchArgs& a, const std::vector<graph::Graph>& gs, const graph::pe::DatasetPe& lap,
                             const graph::pe::DatasetPe* rw) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("pesuite-bench-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  write_graphs((dir / "graphs.safetensors").string(), gs);
  write_ours((dir / "ours.safetensors").string(), lap, rw);
  const std::string cmd = a.python + " " + a.script + " --graphs " + (dir / "graphs.safetensors").string() + " --k 8 --steps 20 --compare " +
                          (dir / "ours.safetensors").string() + (rw ? "" : " --skip-rwse") + " --impl " + a.ref_impl +
                          " --repeat " + std::to_string(a.repeat);
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[4096];
    while (fgets(buf, sizeof buf, p)) out += buf;
    if (pclose(p) != 0) out.clear();
  }
  core::remove_tree(dir.string());
  if (out.empty()) throw core::InputError("reference script failed: " + cmd);
  // The result is the script's last line (one JSON object, which may hold nested objects).
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  const auto line = out.rfind('\n');
  const std::string last = line == std::string::npos ? out : out.substr(line + 1);
  const auto parsed = nlohmann::json::parse(last, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object())
    throw core::InputError("reference script: its last output line is not a JSON object: " + last.substr(0, 200));
  return parsed;
}

void print_case(const std::string& name, std::size_t graphs, double lap_s, const graph::pe::DatasetPe& lap, double rw_s,
                const nlohmann::json& ref, double peak_mib) {
  std::printf("%-14s %6zu graphs  lap k=8: %8.4f s %10.0f graphs/s  [solver %s, max rel residual %s]", name.c_str(), graphs, lap_s,
              static_cast<double>(graphs) / lap_s, lap.metadata.at("lap.solver").c_str(),
              lap.metadata.at("lap.max_rel_residual").c_str());
  if (rw_s > 0) std::printf("  rwse T=20: %8.4f s %10.0f graphs/s", rw_s, static_cast<double>(graphs) / rw_s);
  std::printf("  peak RSS %.0f MiB\n", peak_mib);
  if (lap.metadata.count("lap.rel_residuals"))
    std::printf("%-14s per-pair rel residual ||Lv - lambda v|| / ||L||_inf: %s\n", "", lap.metadata.at("lap.rel_residuals").c_str());
  if (!ref.is_null()) {
    const double rl = ref["lap_seconds"].get<double>();
    const std::string impl = ref.value("impl", std::string("numpy"));
    std::printf("%-14s reference (%s, per graph, PyG way): lap %.4f s %.0f graphs/s (ours %.1fx)", "",
                impl == "pyg" ? ("PyG " + ref.value("pyg_version", std::string("?"))).c_str() : "numpy/scipy", rl,
                static_cast<double>(graphs) / rl, rl / lap_s);
    if (ref.contains("rwse_seconds"))
      std::printf(", rwse %.4f s %.0f graphs/s (ours %.1fx)", ref["rwse_seconds"].get<double>(),
                  static_cast<double>(graphs) / ref["rwse_seconds"].get<double>(), ref["rwse_seconds"].get<double>() / rw_s);
    const double ev = ref["max_eigval_err"], vec = ref["max_eigvec_err"], rwe = ref["max_rwse_err"];
    const double tev = ref.value("tol_eigval", 1e-6), tvec = ref.value("tol_eigvec", 1e-4), trw = ref.value("tol_rwse", 1e-6);
    std::printf("\n%-14s agreement: eigenvalues %.1e, eigenvectors (subspace) %.1e, rwse %.1e -> %s\n", "", ev, vec, rwe,
                ev <= tev && vec <= tvec && rwe <= trw ? "OK" : "MISMATCH");
    // PyG's own answer is checked first (graph_pe_reference.py explains: ARPACK on float32 can return
    // wrong vectors for highly degenerate graphs); graphs where it is wrong are compared with the
    // float64 spectrum instead, and named here.
    if (ref.contains("pyg_excluded") && !ref["pyg_excluded"].empty()) {
      std::printf("%-14s PyG's answer was not a valid eigenpair set for %zu graph(s), checked against float64 eigh instead:", "",
                  ref["pyg_excluded"].size());
      for (const auto& x : ref["pyg_excluded"])
        std::printf(" graph %d (%d nodes: PyG column %d has Rayleigh quotient %.4g, eigenvalue %.4g);", x["graph"].get<int>(),
                    x["nodes"].get<int>(), x["column"].get<int>(), x["pyg_rayleigh_quotient"].get<double>(), x["eigenvalue"].get<double>());
      std::printf("\n");
    }
  }
  std::fflush(stdout);
}

void bench_case(const GraphPeBenchArgs& a, const std::string& name, const std::vector<graph::Graph>& gs, bool with_rwse, bool with_ref) {
  const auto lap_spec = graph::pe::parse_pe_spec("lap:k=8");
  const auto rw_spec = graph::pe::parse_pe_spec("rwse:steps=20");
  const bool small = gs.size() > 1;  // TU-sized: cheap enough to repeat; a large graph runs once
  const int reps = small ? std::max(1, a.repeat) : 1;
  if (small) {  // untimed warm-up (TBB worker threads, first-touch of the allocator)
    graph::pe::compute_dataset(gs, {lap_spec}, a.threads);
    if (with_rwse) graph::pe::compute_dataset(gs, {rw_spec}, a.threads);
  }
  graph::pe::DatasetPe lap, rw;
  double lap_s = 1e300, rw_s = 0;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    lap = graph::pe::compute_dataset(gs, {lap_spec}, a.threads);
    lap_s = std::min(lap_s, seconds_since(t0));
  }
  if (with_rwse) {
    rw_s = 1e300;
    for (int r = 0; r < reps; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      rw = graph::pe::compute_dataset(gs, {rw_spec}, a.threads);
      rw_s = std::min(rw_s, seconds_since(t0));
    }
  }
  const double peak = peak_rss_mib();
  nlohmann::json ref;
  if (with_ref) ref = run_reference(a, gs, lap, with_rwse ? &rw : nullptr);
  print_case(name, gs.size(), lap_s, lap, rw_s, ref, peak);
}

void run_bench(const GraphPeBenchArgs& a) {
  namespace fs = std::filesystem;
  std::string dir = a.data_dir;
  if (dir.empty()) {
    const char* env = std::getenv("PESUITE_TEST_DATA");
    dir = env ? env : "../shared/data";
  }
  std::vector<std::string> cases = a.cases;
  if (cases.empty()) cases = {"mutag", "enzymes", "grid300"};
  if (a.large && std::find(cases.begin(), cases.end(), "grid1000") == cases.end()) cases.push_back("grid1000");
  if (a.regular && std::find(cases.begin(), cases.end(), "regular1m") == cases.end()) cases.push_back("regular1m");
  std::printf("pesuite bench graph-pe (threads: %s)\n", a.threads > 0 ? std::to_string(a.threads).c_str() : "all");
  for (const std::string& c : cases) {
    reset_peak_rss();
    if (c == "mutag" || c == "enzymes") {
      const std::string tu = c == "mutag" ? "MUTAG" : "ENZYMES";
      const fs::path zip = fs::path(dir) / "tu" / (tu + ".zip");
      std::string spec = "tu:" + zip.string(), name = tu;
      if (!fs::exists(zip)) {
        spec = std::string("count:?graphs=600&nodes=10-40&seed=") + (c == "mutag" ? "1" : "2");
        name += "-like(gen)";
      }
      const auto ds = datasets::load_graph_dataset(datasets::parse_spec(spec));
      bench_case(a, name, ds.graphs, true, a.reference);
    } else if (c == "grid300" || c == "grid1000") {
      const std::string side = c == "grid300" ? "300" : "1000";
      const auto ds = datasets::load_graph_dataset(datasets::parse_spec("grid:?rows=" + side + "&cols=" + side));
      bench_case(a, "grid" + side + "x" + side, ds.graphs, false, a.reference && c == "grid300");
    } else if (c == "regular1m") {
      const auto t0 = std::chrono::steady_clock::now();
      const auto ds = datasets::load_graph_dataset(datasets::parse_spec("regular:?nodes=1000000&degree=4&seed=0"));
      std::printf("regular4_1M    generated in %.1f s (not counted below)\n", seconds_since(t0));
      reset_peak_rss();
      bench_case(a, "regular4_1M", ds.graphs, false, false);
    } else {
      throw core::InputError("--case '" + c + "' is unknown (valid: mutag, enzymes, grid300, grid1000, regular1m)");
    }
  }
}

}  // namespace

void add_bench_graph_pe(CLI::App& bench) {
  static GraphPeBenchArgs args;
  auto* cmd = bench.add_subcommand("graph-pe", "LapPE / RWSE speed: TU datasets, 300x300 grid, optional 1M-node graphs");
  cmd->add_option("--data-dir", args.data_dir, "Folder holding tu/MUTAG.zip, tu/ENZYMES.zip (default $PESUITE_TEST_DATA or ../shared/data)");
  cmd->add_option("--threads", args.threads, "Worker threads (0 = all cores)");
  cmd->add_option("--case", args.cases, "Cases to run: mutag, enzymes, grid300, grid1000, regular1m (repeatable; default the first three)");
  cmd->add_flag("--large", args.large, "Also the 1000 x 1000 grid (1M nodes); same as --case grid1000");
  cmd->add_flag("--regular", args.regular, "Also the 1M-node random 4-regular graph; same as --case regular1m");
  cmd->add_flag("--reference", args.reference, "Run scripts/reference/graph_pe_reference.py side by side and compare values");
  cmd->add_option("--reference-impl", args.ref_impl, "Reference implementation: pyg (torch_geometric transforms) | numpy | auto")
      ->check(CLI::IsMember({"pyg", "numpy", "auto"}))->capture_default_str();
  cmd->add_option("--repeat", args.repeat, "Timed runs per TU case, best kept (both sides)")->capture_default_str();
  cmd->add_option("--python", args.python, "Python for --reference (Debian numpy/scipy, or one with torch_geometric)");
  cmd->add_option("--script", args.script, "Path of graph_pe_reference.py");
  cmd->callback([]() { run_bench(args); });
}

}  // namespace pesuite::cli
