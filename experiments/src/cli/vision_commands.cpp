#include "cli.h"

namespace pesuite::cli {

void add_vision_commands(CLI::App& app) {
  auto* cmd = app.add_subcommand("vision", "vision frontend commands");
  cmd->require_subcommand(1);
}

}  // namespace pesuite::cli
