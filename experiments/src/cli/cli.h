#pragma once
// The `pesuite` command line: one function per command group, each adding its subcommands to the
// app. Errors: pesuite::core::InputError -> "error: ..." and exit 2; anything else -> exit 1.
#include <CLI/CLI.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace pesuite::cli {

// Seconds since t0 on the steady clock (the benchmarks' timing).
inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void add_version_command(CLI::App& app);
void add_list_command(CLI::App& app);
void add_data_commands(CLI::App& app);
void add_graph_commands(CLI::App& app);   // graph_commands.cpp
void add_vision_commands(CLI::App& app);  // vision_commands.cpp
void add_vision_headpose_command(CLI::App& vision);  // vision_headpose.cpp
void add_clip_commands(CLI::App& app);    // clip_commands.cpp
void add_vlm_commands(CLI::App& app);     // vlm_commands.cpp
void add_vision_pin_command(CLI::App& vision);  // vlm_commands.cpp
void add_bench_commands(CLI::App& app);   // bench.cpp, one add_bench_* per benchmark
void add_reproduce_command(CLI::App& app);

// Benchmarks, each adding one subcommand to `pesuite bench`.
void add_bench_attention(CLI::App& bench);  // bench_attention.cpp
void add_bench_vit(CLI::App& bench);        // bench_vit.cpp
void add_bench_graph_pe(CLI::App& bench);   // bench_graph_pe.cpp
void add_bench_loader(CLI::App& bench);     // bench_loader.cpp
void add_bench_gnn(CLI::App& bench);        // bench_gnn.cpp
void add_bench_facesynth(CLI::App& bench);  // bench_facesynth.cpp
void add_bench_headpose_views(CLI::App& bench);  // bench_headpose_views.cpp

// What `pesuite list pes|models` prints; each frontend adds its rows in catalogue.cpp.
struct CatalogueEntry {
  std::string name;
  std::string kind;    // e.g. "bias", "rotary", "absolute", "graph", "vit", "gnn"
  std::string params;  // "key=default, ..."
  std::string help;
};
std::vector<CatalogueEntry> pe_catalogue();
std::vector<CatalogueEntry> model_catalogue();

// Options most commands share.
struct ConfigOptions {
  std::string config_file;
  std::vector<std::string> sets;
};
void add_config_options(CLI::App& cmd, ConfigOptions& options);

}  // namespace pesuite::cli
