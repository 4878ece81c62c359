// pesuite-engine, the program behind the `pesuite` launcher (src/launcher/launcher.cpp, which sets
// OMP_WAIT_POLICY before this process loads LibTorch): see cli.h for the command groups.
#include <torch/torch.h>

#include <iostream>

#include "cli.h"
#include "nproc.h"
#include "pesuite/core/distributed.h"
#include "pesuite/core/error.h"
#include "pesuite/core/malloc_policy.h"
#include "pesuite/core/runtime.h"

int main(int argc, char** argv) {
  // Data-parallel runs: `--nproc N` starts N ranks of this program (nproc.h); a rank (torchrun /
  // Slurm variables) may only run a command that trains data-parallel.
  std::vector<std::string> args(argv, argv + argc);
  try {
    pesuite::core::keep_freed_memory();  // freed buffers stay in the heap (malloc_policy.h says why)
    if (auto n = pesuite::cli::take_nproc_option(args)) {
      if (!pesuite::cli::runs_distributed(args)) throw pesuite::cli::NprocError(std::string("--nproc: only ") + pesuite::cli::kDataParallelCommands + " run as several processes");
      return pesuite::cli::run_nproc(*n, args);
    }
    const auto launch = pesuite::core::dist::launch_from_environment();
    if (launch.world_size > 1 && !pesuite::cli::runs_distributed(args))
      throw pesuite::cli::NprocError("world size " + std::to_string(launch.world_size) + " (" + launch.source +
                                     "): only " + pesuite::cli::kDataParallelCommands + " run as several processes");
  } catch (const std::exception& e) {  // NprocError, InputError from a malformed variable
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
  // A rank: the rendezvous now, before a model picks its GPU (LOCAL_RANK's) or any file is read.
  try {
    if (pesuite::cli::runs_distributed(args)) pesuite::core::dist::World::get();
  } catch (const pesuite::core::InputError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }

  CLI::App app{"pesuite: attention heads and positional encodings for images and graphs"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Print help for every command");
  int threads = 0;
  app.add_option("--threads", threads, "CPU threads for torch (0 = all cores)")->check(CLI::NonNegativeNumber);
  int nproc = 0;  // taken off argv above; listed here for --help
  app.add_option("--nproc", nproc, "Train as N processes on this machine (vision train, graph train, clip train, vlm train, vlm pin, bench vit; c10d: Gloo, NCCL)");
  app.parse_complete_callback([&]() { pesuite::core::set_threads(threads); });

  using namespace pesuite::cli;
  add_version_command(app);
  add_list_command(app);
  add_data_commands(app);
  add_graph_commands(app);
  add_vision_commands(app);
  add_clip_commands(app);
  add_vlm_commands(app);
  add_bench_commands(app);
  add_reproduce_command(app);

  try {
    app.parse(argc, argv);
    pesuite::core::dist::World::get().shutdown();
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
  } catch (const pesuite::core::dist::DistributedError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::string what = e.what();
    if (auto nl = what.find('\n'); nl != std::string::npos) what = what.substr(0, nl);  // c10 adds backtraces
    std::cerr << "error: internal failure: " << what << "\n";
    return 1;
  }
  return 0;
}
