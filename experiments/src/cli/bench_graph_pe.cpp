#include "cli.h"
#include "pesuite/heads/error.h"

namespace pesuite::cli {

// Placeholder until the benchmark lands.
void add_bench_graph_pe(CLI::App& bench) {
  auto* cmd = bench.add_subcommand("graph-pe", "(not built yet)");
  cmd->callback([]() { throw InputError("bench graph-pe: not built yet"); });
}

}  // namespace pesuite::cli
