#include "cli.h"

namespace pesuite::cli {

void add_config_options(CLI::App& cmd, ConfigOptions& options) {
  cmd.add_option("--config", options.config_file, "TOML config file")->check(CLI::ExistingFile);
  cmd.add_option("--set", options.sets, "Override a config key: --set section.key=value (repeatable)");
}

}  // namespace pesuite::cli
