#include "cli.h"
#include "pesuite/heads/error.h"

namespace pesuite::cli {

// Placeholder until the benchmark lands.
void add_bench_attention(CLI::App& bench) {
  auto* cmd = bench.add_subcommand("attention", "(not built yet)");
  cmd->callback([]() { throw InputError("bench attention: not built yet"); });
}

}  // namespace pesuite::cli
