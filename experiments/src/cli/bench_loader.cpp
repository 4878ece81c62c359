#include "cli.h"
#include "pesuite/heads/error.h"

namespace pesuite::cli {

// Placeholder until the benchmark lands.
void add_bench_loader(CLI::App& bench) {
  auto* cmd = bench.add_subcommand("loader", "(not built yet)");
  cmd->callback([]() { throw InputError("bench loader: not built yet"); });
}

}  // namespace pesuite::cli
