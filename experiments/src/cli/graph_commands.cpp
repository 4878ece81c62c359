#include "cli.h"

namespace pesuite::cli {

void add_graph_commands(CLI::App& app) {
  auto* cmd = app.add_subcommand("graph", "graph frontend commands");
  cmd->require_subcommand(1);
}

}  // namespace pesuite::cli
