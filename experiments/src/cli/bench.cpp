#include "cli.h"

namespace pesuite::cli {

void add_bench_commands(CLI::App& app) {
  auto* bench = app.add_subcommand("bench", "Benchmarks that print figures (speed, memory)");
  bench->require_subcommand(1);
  add_bench_attention(*bench);
  add_bench_vit(*bench);
  add_bench_graph_pe(*bench);
  add_bench_loader(*bench);
  add_bench_gnn(*bench);
  add_bench_facesynth(*bench);
  add_bench_headpose_views(*bench);
}

}  // namespace pesuite::cli
