// pesuite-engine, the program behind the `pesuite` launcher (src/launcher/launcher.cpp, which sets
// OMP_WAIT_POLICY before this process loads LibTorch): see cli.h for the command groups.
#include <torch/torch.h>

#include <iostream>

#include "cli.h"
#include "pesuite/core/error.h"
#include "pesuite/core/runtime.h"

int main(int argc, char** argv) {
  CLI::App app{"pesuite: attention heads and positional encodings for images and graphs"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Print help for every command");
  int threads = 0;
  app.add_option("--threads", threads, "CPU threads for torch (0 = all cores)")->check(CLI::NonNegativeNumber);
  app.parse_complete_callback([&]() { pesuite::core::set_threads(threads); });

  using namespace pesuite::cli;
  add_version_command(app);
  add_list_command(app);
  add_data_commands(app);
  add_graph_commands(app);
  add_vision_commands(app);
  add_clip_commands(app);
  add_bench_commands(app);
  add_reproduce_command(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "error: " << e.what() << " (see pesuite --help)\n";
    return 2;
  } catch (const pesuite::core::InputError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::string what = e.what();
    if (auto nl = what.find('\n'); nl != std::string::npos) what = what.substr(0, nl);  // c10 adds backtraces
    std::cerr << "error: internal failure: " << what << "\n";
    return 1;
  }
  return 0;
}
