#include <iostream>

#include "cli.h"
#include "pesuite/core/build_info.h"

namespace pesuite::cli {

void add_version_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("version", "Print pesuite version, git sha, torch version and CUDA availability");
  auto* json = cmd->add_flag("--json", "Machine-readable output");
  cmd->callback([json]() {
    const auto info = core::build_info();
    if (*json) {
      std::cout << info.dump(2) << "\n";
      return;
    }
    std::cout << "pesuite " << info["pesuite"].get<std::string>() << " (git " << info["git_sha"].get<std::string>()
              << ")\ntorch " << info["torch"].get<std::string>() << "\ncuda "
              << (info["cuda_available"].get<bool>() ? "available (" + info["cuda_devices"].dump() + " devices)" : "not available")
              << "\nopencv " << (info["opencv"].get<bool>() ? "yes" : "no") << "\n";
  });
}

}  // namespace pesuite::cli
// x
