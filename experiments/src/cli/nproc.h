#pragma once
// `pesuite --nproc N`: start N ranks of this program on this machine and wait for them (nproc.cpp).
//
//   auto args = std::vector<std::string>(argv, argv + argc);
//   if (auto n = take_nproc_option(args)) return run_nproc(*n, args);   // args without --nproc
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace pesuite::cli {

class NprocError : public std::runtime_error {  // a malformed --nproc (exit status 2)
 public:
  using std::runtime_error::runtime_error;
};

// Removes a global `--nproc N` (before the command) from args and returns N; nullopt without one.
std::optional<int> take_nproc_option(std::vector<std::string>& args);
// The commands that run as several ranks, as errors name them.
inline constexpr const char* kDataParallelCommands = "`vision train`, `graph train`, `clip train`, `vlm train`, `vlm pin` and `bench vit`";
// Whether the command in args (argv) is one of those.
bool runs_distributed(const std::vector<std::string>& args);
// Starts the ranks, relays rank 0's output, reports the first failed rank; returns the exit status.
int run_nproc(int nproc, const std::vector<std::string>& args);

}  // namespace pesuite::cli
